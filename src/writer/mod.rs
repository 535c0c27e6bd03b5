//! The delivery pipeline: per-thread rings, one background writer thread,
//! and the sink.
//!
//! ```text
//!  thread A ──format──▶ [ring A] ─┐
//!  thread B ──format──▶ [ring B] ─┼─▶ writer thread ──batch──▶ sink (stderr, file, ...)
//!  thread C ──format──▶ [ring C] ─┘        (drain lock)
//! ```
//!
//! Promises:
//! - a producer that finds room in its ring takes no lock, makes no system
//!   call and allocates nothing (`Pipeline::submit`);
//! - the writer drains every ring without the producers' help, at the
//!   latest every [`IDLE_SLEEP_MAX`], so a line reaches the sink within
//!   100 ms while the sink keeps up;
//! - all draining happens under one lock (`drainer`), so lines are written
//!   whole and in per-thread order, whoever drains (the writer thread, a
//!   `flush`, the exit hook, or a producer writing synchronously);
//! - in block mode a full ring makes its producer wait; in drop mode the line
//!   is counted and a `lines dropped` notice is written once the backlog
//!   clears;
//! - a failing sink is counted and reported once per kind of error, and never
//!   stops the pipeline; once it works again, a `lines lost` notice says how
//!   many lines it lost;
//! - a sink that hangs cannot hold shutdown: `stop` and the exit hook wait
//!   at most the shutdown timeout, then count what is still queued (and the
//!   batch stuck in the sink) as abandoned and report it once on stderr;
//! - memory is bounded: each thread's ring (`buffer_size`, 256 KiB by
//!   default) plus one batch of at most `BATCH_TARGET` plus one ring.

pub(crate) mod ring;

use std::io::{self, Write};
use std::sync::Arc;
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::config::Overflow;
use crate::sync::{AtomicBool, AtomicU64, Ordering};
use ring::{Ring, HEADER};

/// Longest the writer sleeps when it finds nothing to do.
pub(crate) const IDLE_SLEEP_MAX: Duration = Duration::from_millis(40);

/// Shortest sleep between drains while lines keep coming in small numbers.
const BUSY_SLEEP: Duration = Duration::from_micros(500);

/// Batches are written to the sink once they reach this size.
const BATCH_TARGET: usize = 256 * 1024;

/// Default ring size per (thread, pipeline).
pub(crate) const DEFAULT_RING_BYTES: usize = 256 * 1024;

/// Counters of one pipeline, readable at any time through
/// [`crate::stats`].
#[derive(Default, Debug)]
pub(crate) struct Counters {
    pub(crate) lines_written: AtomicU64,
    pub(crate) dropped: AtomicU64,
    pub(crate) abandoned: AtomicU64,
    pub(crate) sink_errors: AtomicU64,
    pub(crate) lines_lost: AtomicU64,
    pub(crate) invalid_ids: AtomicU64,
    pub(crate) spans_exported: AtomicU64,
    pub(crate) export_dropped: AtomicU64,
    pub(crate) export_failures: AtomicU64,
    pub(crate) context_late: AtomicU64,
}

/// A snapshot of dynlog's counters.
///
/// Every counter starts at zero when the pipeline is built and only grows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Lines written to the sink.
    pub lines_written: u64,
    /// Lines dropped because a ring was full in drop mode.
    pub dropped: u64,
    /// Lines not written because the sink hung past the shutdown timeout.
    pub abandoned: u64,
    /// Failed writes to the sink.
    pub sink_errors: u64,
    /// Lines lost in failed writes to the sink.
    pub lines_lost: u64,
    /// Trace context ids (span fields or headers) ignored as invalid.
    pub invalid_ids: u64,
    /// Context fields recorded after the span's context was fixed, ignored.
    pub context_late: u64,
    /// Spans handed to the OTLP exporter and exported.
    pub spans_exported: u64,
    /// Spans dropped because the export queue was full.
    pub export_dropped: u64,
    /// Failed export calls.
    pub export_failures: u64,
}

impl Counters {
    pub(crate) fn snapshot(&self) -> Stats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Stats {
            lines_written: get(&self.lines_written),
            dropped: get(&self.dropped),
            abandoned: get(&self.abandoned),
            sink_errors: get(&self.sink_errors),
            lines_lost: get(&self.lines_lost),
            invalid_ids: get(&self.invalid_ids),
            context_late: get(&self.context_late),
            spans_exported: get(&self.spans_exported),
            export_dropped: get(&self.export_dropped),
            export_failures: get(&self.export_failures),
        }
    }
}

/// Formats dynlog's own notices (target `dynlog`, level `WARN`) in the
/// pipeline's format.
pub(crate) type NoticeFormat = dyn Fn(&mut Vec<u8>, &str, &[(&str, u64)]) + Send + Sync;

/// Everything one drain needs, behind the drain lock.
struct Drainer {
    sink: Box<dyn Write + Send>,

    /// Lines taken from the rings and not yet written. Holds at most
    /// `BATCH_TARGET` plus one ring's capacity; its memory is kept.
    batch: Vec<u8>,

    /// How many lines `batch` holds.
    batch_lines: u64,

    /// Where a notice is formatted before it is written.
    notice_buf: Vec<u8>,

    /// This drainer's copy of the ring list, refreshed when `rings_gen`
    /// moves (threads come and go), so a drain allocates nothing.
    rings: Vec<Arc<Ring>>,
    rings_gen: u64,

    /// Kinds of sink errors already reported (one message per kind).
    reported: Vec<io::ErrorKind>,

    /// Drops seen in rings and not yet reported in a notice.
    unreported_drops: u64,

    /// Lines lost in failed writes and not yet reported in a notice.
    unreported_lost: u64,

    /// True while the last write failed; cleared on the next write that
    /// works. The `lines lost` notice goes out before the first batch after
    /// a failure, so it stands where the gap is.
    failing: bool,

    /// Per-ring read positions of the current drain (reused).
    cursors: Vec<Cursor>,
}

/// How much of one ring's snapshot a drain has still to take.
struct Cursor {
    idx: usize,
    left: usize,
}

struct RingList {
    live: Vec<Arc<Ring>>,
    pool: Vec<Arc<Ring>>,
    /// The producer thread of each live ring, to wake it in block mode.
    threads: Vec<Thread>,
}

/// One delivery pipeline: created by `Builder::build`, shared by the
/// subscriber, the writer thread and the guard.
///
/// Accounting: every line handed to `submit` or `write_direct` ends up in
/// exactly one of `lines_written`, `dropped`, `lines_lost` and `abandoned`,
/// except a line pushed in the instant a hung sink is given up on (see
/// [`Pipeline::stop`]).
pub(crate) struct Pipeline {
    pub(crate) id: u64,

    /// Sequence numbers of lines, across threads, so the writer can write
    /// them in the order they were emitted.
    seq: ring::CachePadded<AtomicU64>,
    pub(crate) counters: Counters,
    overflow: Overflow,
    ring_bytes: usize,
    rings: Mutex<RingList>,
    rings_gen: AtomicU64,
    drainer: Mutex<Drainer>,
    notice: Box<NoticeFormat>,

    /// The writer thread, for unparking, once started.
    writer: Mutex<Option<Thread>>,
    writer_sleeping: AtomicBool,
    stop_requested: AtomicBool,

    /// Set once the writer has stopped (or was never started): producers
    /// then write synchronously.
    stopped: AtomicBool,

    /// Set when the sink hung past a timeout: synchronous writes give up at
    /// once instead of waiting again, and a writer that comes back from the
    /// sink writes nothing more.
    hung: AtomicBool,

    /// Lines in the batch being written right now. A hung sink's batch is
    /// claimed (swapped to zero) by whoever gives up on it and counted as
    /// abandoned; the writer, back from the sink, counts only what it can
    /// still claim.
    in_flight: AtomicU64,

    /// How long a synchronous write waits for the drain lock once the
    /// writer has stopped, in milliseconds (the shutdown timeout).
    direct_timeout_ms: AtomicU64,
    writer_done: Mutex<bool>,
    writer_done_cv: Condvar,
}

static NEXT_PIPELINE_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

thread_local! {
    /// Set on dynlog's own threads (writer, exporter): events they emit are
    /// not formatted, so the crate never logs through itself.
    pub(crate) static IS_DYNLOG_THREAD: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

impl Pipeline {
    pub(crate) fn new(
        sink: Box<dyn Write + Send>,
        overflow: Overflow,
        ring_bytes: usize,
        notice: Box<NoticeFormat>,
    ) -> Arc<Pipeline> {
        Arc::new(Pipeline {
            id: NEXT_PIPELINE_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            seq: ring::CachePadded(AtomicU64::new(0)),
            counters: Counters::default(),
            overflow,
            ring_bytes: ring_bytes.max(1024),
            rings: Mutex::new(RingList {
                live: Vec::new(),
                pool: Vec::new(),
                threads: Vec::new(),
            }),
            rings_gen: AtomicU64::new(0),
            drainer: Mutex::new(Drainer {
                sink,
                batch: Vec::with_capacity(BATCH_TARGET + 64 * 1024),
                batch_lines: 0,
                notice_buf: Vec::with_capacity(256),
                rings: Vec::new(),
                rings_gen: u64::MAX,
                reported: Vec::new(),
                unreported_drops: 0,
                unreported_lost: 0,
                failing: false,
                cursors: Vec::new(),
            }),
            notice,
            writer: Mutex::new(None),
            writer_sleeping: AtomicBool::new(false),
            stop_requested: AtomicBool::new(false),
            stopped: AtomicBool::new(true),
            hung: AtomicBool::new(false),
            in_flight: AtomicU64::new(0),
            direct_timeout_ms: AtomicU64::new(1000),
            writer_done: Mutex::new(false),
            writer_done_cv: Condvar::new(),
        })
    }

    /// Starts the writer thread. Until then (and after `stop`), producers
    /// write synchronously.
    pub(crate) fn start(self: &Arc<Self>) -> io::Result<()> {
        let me = self.clone();
        let handle = thread::Builder::new()
            .name("dynlog-writer".into())
            .spawn(move || me.run_writer())?;
        *self.writer.lock() = Some(handle.thread().clone());
        self.stopped.store(false, Ordering::Release);
        Ok(())
    }

    /// Formats one of dynlog's own notices.
    pub(crate) fn notice_format(&self) -> &NoticeFormat {
        &self.notice
    }

    /// A ring for the calling thread, from the pool when one is free.
    pub(crate) fn register(&self) -> Arc<Ring> {
        let mut list = self.rings.lock();
        let ring = match list.pool.pop() {
            Some(ring) => {
                ring.reset();
                ring
            }
            None => Arc::new(Ring::new(self.ring_bytes)),
        };
        list.live.push(ring.clone());
        list.threads.push(thread::current());
        self.rings_gen.fetch_add(1, Ordering::Release);
        ring
    }

    /// Hands one formatted line (ending in `\n`) to the writer.
    ///
    /// While the ring has room this is one copy and one store. A line too
    /// large for the ring, or any line once the writer has stopped, is
    /// written synchronously, after everything queued before it; in drop
    /// mode a large line is dropped instead when that would mean waiting.
    pub(crate) fn submit(&self, ring: &Ring, line: &[u8]) {
        if self.stopped.load(Ordering::Acquire) {
            self.write_direct(line);
            return;
        }
        if line.len() + HEADER > ring.capacity() / 2 {
            match self.overflow {
                Overflow::Drop => self.try_write_direct(ring, line),
                Overflow::Block => self.write_direct(line),
            }
            return;
        }

        // Relaxed: the number only orders lines. A line that another thread
        // logged because of ours (after ours was published) takes its number
        // after ours, through whatever ordered the two threads.
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        if ring.push(seq, line) {
            if ring.len() > ring.capacity() / 2 {
                self.wake_writer();
            }
            return;
        }
        match self.overflow {
            Overflow::Drop => {
                ring.dropped.fetch_add(1, Ordering::Relaxed);
            }
            Overflow::Block => self.submit_blocking(ring, seq, line),
        }
    }

    /// Waits for room in a full ring (block mode).
    #[cold]
    fn submit_blocking(&self, ring: &Ring, seq: u64, line: &[u8]) {
        let mut spins = 0u32;
        loop {
            // Ask the writer to drain; it clears `waiting` and unparks us.
            ring.waiting.store(true, Ordering::Release);
            self.wake_writer();
            if spins < 16 {
                spins += 1;
                thread::yield_now();
            } else {
                thread::park_timeout(Duration::from_millis(1));
            }
            if ring.push(seq, line) {
                return;
            }
            if self.stopped.load(Ordering::Acquire) {
                self.write_direct(line);
                return;
            }
        }
    }

    fn wake_writer(&self) {
        // Acquire pairs with the writer's Release store before it parks.
        if self.writer_sleeping.load(Ordering::Acquire) {
            self.writer_sleeping.store(false, Ordering::Relaxed);
            if let Some(t) = self.writer.lock().as_ref() {
                t.unpark();
            }
        }
    }

    /// Writes `line` on the calling thread, after draining what is queued.
    ///
    /// While the writer runs this waits for the drain lock as long as it
    /// takes (block mode's promise), unless the sink is declared hung
    /// meanwhile. Once the writer has stopped it waits at most the shutdown
    /// timeout; a sink that holds the lock longer is declared hung, and
    /// this line and every later one are counted as abandoned.
    #[cold]
    pub(crate) fn write_direct(&self, line: &[u8]) {
        let lines = count_lines(line);
        let limit = Duration::from_millis(self.direct_timeout_ms.load(Ordering::Relaxed));
        let started = Instant::now();
        let mut d = loop {
            if self.hung.load(Ordering::Acquire) {
                self.counters.abandoned.fetch_add(lines, Ordering::Relaxed);
                return;
            }
            if let Some(d) = self.drainer.try_lock_for(Duration::from_millis(50)) {
                break d;
            }
            if self.stopped.load(Ordering::Acquire) && started.elapsed() >= limit {
                self.give_up(limit, "in a synchronous write");
                self.counters.abandoned.fetch_add(lines, Ordering::Relaxed);
                return;
            }
        };
        d.drain(self);
        d.push(line);
        d.write_batch(self);
        d.write_notices(self);
        d.flush_sink(self);
    }

    /// A line too large for the ring, in drop mode: written now if the
    /// drain lock is free, else dropped and counted (a producer in drop mode
    /// never waits for the sink).
    #[cold]
    fn try_write_direct(&self, ring: &Ring, line: &[u8]) {
        let Some(mut d) = self.drainer.try_lock() else {
            ring.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        };
        d.drain(self);
        d.push(line);
        d.write_batch(self);
        d.write_notices(self);
    }

    /// Writes everything accepted so far and flushes the sink. With a
    /// timeout, gives up (returning `false`) if the drain lock is not free
    /// by then, e.g. because the sink hangs. Returns at once once the sink
    /// has been declared hung.
    pub(crate) fn flush(&self, timeout: Option<Duration>) -> bool {
        if self.hung.load(Ordering::Acquire) {
            return false;
        }
        let d = match timeout {
            Some(t) => self.drainer.try_lock_for(t),
            None => Some(self.drainer.lock()),
        };
        let Some(mut d) = d else {
            return false;
        };
        d.drain(self);
        d.write_notices(self);
        d.flush_sink(self);
        true
    }

    /// Writes everything accepted so far, then runs `f` while still holding
    /// the drain lock, so nothing of ours is written while `f` runs (the
    /// panic hook prints the panic message this way, whole and after our
    /// lines). Runs `f` anyway if the lock is not free within `timeout`.
    pub(crate) fn flush_then(&self, timeout: Duration, f: impl FnOnce()) {
        if self.hung.load(Ordering::Acquire) {
            f();
            return;
        }
        match self.drainer.try_lock_for(timeout) {
            Some(mut d) => {
                d.drain(self);
                d.write_notices(self);
                d.flush_sink(self);
                f();
            }
            None => f(),
        }
    }

    /// Stops the writer thread, waiting at most `timeout` for it to write
    /// what is queued. If it cannot, the sink is declared hung: the lines
    /// still queued and the batch the sink is stuck on are counted as
    /// abandoned and reported once on stderr. Later lines are written
    /// synchronously (or, with a hung sink, counted as abandoned).
    pub(crate) fn stop(&self, timeout: Duration) {
        if self.stop_requested.swap(true, Ordering::AcqRel) {
            return;
        }
        self.direct_timeout_ms.store(
            timeout.as_millis().min(u64::MAX as u128) as u64,
            Ordering::Relaxed,
        );
        if let Some(t) = self.writer.lock().as_ref() {
            t.unpark();
        } else {
            self.flush(Some(timeout));
            return;
        }
        let deadline = Instant::now() + timeout;
        let mut done = self.writer_done.lock();
        while !*done {
            if self
                .writer_done_cv
                .wait_until(&mut done, deadline)
                .timed_out()
            {
                break;
            }
        }
        let finished = *done;
        drop(done);
        if !finished {
            self.give_up(timeout, "at shutdown");
            return;
        }

        // A producer that saw the writer running just before it stopped
        // may have pushed after its last drain: take that line too.
        self.stopped.store(true, Ordering::Release);
        self.flush(Some(timeout));
    }

    /// Switches to synchronous writes at process exit, after a last drain.
    pub(crate) fn exit_flush(&self, timeout: Duration) {
        self.direct_timeout_ms.store(
            timeout.as_millis().min(u64::MAX as u128) as u64,
            Ordering::Relaxed,
        );
        self.stopped.store(true, Ordering::Release);
        if !self.flush(Some(timeout)) && !self.hung.load(Ordering::Acquire) {
            self.give_up(timeout, "at exit");
        }
    }

    /// Declares the sink hung: from now on nothing more is written. Counts
    /// the lines still queued, the batch the sink is stuck on and the drops
    /// not yet collected, and reports once on stderr.
    ///
    /// `during` completes the message: `at shutdown`, `at exit`, `in a
    /// synchronous write`.
    #[cold]
    fn give_up(&self, waited: Duration, during: &str) {
        // Producers that load `stopped` after this write synchronously, see
        // `hung` and count their line as abandoned. SeqCst pairs with
        // `Drainer::write_batch`: either it sees `hung` after publishing
        // `in_flight`, or the swap below sees its lines.
        self.hung.store(true, Ordering::SeqCst);
        self.stopped.store(true, Ordering::Release);

        // Claim the stuck batch; the writer counts it only if it still can.
        let mut abandoned = self.in_flight.swap(0, Ordering::SeqCst);
        {
            let list = self.rings.lock();
            for ring in &list.live {
                abandoned += ring.queued_lines();
                let drops = ring.dropped.swap(0, Ordering::Relaxed);
                self.counters.dropped.fetch_add(drops, Ordering::Relaxed);
            }
        }
        self.counters
            .abandoned
            .fetch_add(abandoned, Ordering::Relaxed);
        crate::notice::stderr_once(
            "writer-hung",
            &format!(
                "dynlog: the sink hung for {} ms {during}; {abandoned} lines abandoned, and later lines are counted as abandoned",
                waited.as_millis(),
            ),
        );
    }

    fn run_writer(self: Arc<Self>) {
        IS_DYNLOG_THREAD.with(|c| c.set(true));
        park_once();
        let mut sleep = BUSY_SLEEP;
        loop {
            let drained = self.drainer.lock().drain(&self);
            if self.hung.load(Ordering::Acquire) {
                // Back from a sink declared hung: touch it no more.
                *self.writer_done.lock() = true;
                self.writer_done_cv.notify_all();
                return;
            }
            if self.stop_requested.load(Ordering::Acquire) {
                let mut d = self.drainer.lock();
                d.drain(&self);
                d.write_notices(&self);
                d.flush_sink(&self);
                drop(d);
                self.stopped.store(true, Ordering::Release);
                *self.writer_done.lock() = true;
                self.writer_done_cv.notify_all();
                return;
            }
            if drained >= BATCH_TARGET / 2 {
                sleep = BUSY_SLEEP;
                continue;
            }
            if drained > 0 {
                sleep = BUSY_SLEEP;
                self.drainer.lock().flush_sink(&self);
            } else {
                sleep = (sleep * 2).min(IDLE_SLEEP_MAX);
            }

            // Release pairs with the producers' Acquire in `wake_writer`:
            // a producer that sees the flag unparks us; an unpark that comes
            // before the park makes the park return at once.
            self.writer_sleeping.store(true, Ordering::Release);
            thread::park_timeout(sleep);
            self.writer_sleeping.store(false, Ordering::Relaxed);
        }
    }
}

/// Parks the calling thread once in `parking_lot`, with no wait. Its first
/// park allocates the thread's parking data (and may grow the global table
/// of parked threads); doing it now means the writer's first contended
/// lock, hours later, allocates nothing.
pub(crate) fn park_once() {
    let lock = Mutex::new(());
    let mut guard = lock.lock();
    let _ = Condvar::new().wait_for(&mut guard, Duration::ZERO);
}

impl Drainer {
    /// Moves everything published in every ring into the sink, then writes
    /// the notices that are due. Returns the number of bytes taken.
    ///
    /// Bytes are freed in their ring as soon as they are copied into the
    /// batch, before any write, so a ring never holds lines that are also
    /// in the sink's hands. Stops taking lines once the sink is declared
    /// hung.
    fn drain(&mut self, p: &Pipeline) -> usize {
        self.refresh_rings(p);
        let mut total = 0;
        let mut any_closed = false;
        // Snapshot what every ring has published; rings keep filling behind
        // the snapshot, which the next drain takes.
        self.cursors.clear();
        for (idx, ring) in self.rings.iter().enumerate() {
            let drops = ring.dropped.swap(0, Ordering::Relaxed);
            if drops > 0 {
                self.unreported_drops += drops;
                p.counters.dropped.fetch_add(drops, Ordering::Relaxed);
            }
            let left = ring.len();
            if left > 0 {
                self.cursors.push(Cursor { idx, left });
            } else if ring.closed.load(Ordering::Acquire) {
                any_closed = true;
            }
        }

        // Merge the rings by sequence number into the batch, freeing each
        // record in its ring as soon as it is copied, so a ring never holds
        // lines that are also in the sink's hands.
        let rings = std::mem::take(&mut self.rings);
        loop {
            if p.hung.load(Ordering::Acquire) {
                self.abandon_batch(p);
                break;
            }
            let mut best: Option<(usize, u64, usize)> = None;
            for (c, cur) in self.cursors.iter().enumerate() {
                if cur.left == 0 {
                    continue;
                }
                let (a, b) = rings[cur.idx].published(cur.left);
                let (seq, len) = ring::header_at(a, b, 0);
                if best.is_none_or(|(_, s, _)| seq < s) {
                    best = Some((c, seq, len));
                }
            }
            let Some((c, _, len)) = best else {
                break;
            };
            if !self.batch.is_empty() && self.batch.len() + len > BATCH_TARGET {
                self.write_batch(p);
                continue;
            }
            let cur = &mut self.cursors[c];
            let ring = &rings[cur.idx];
            let (a, b) = ring.published(cur.left);
            ring::extend_out(a, b, HEADER, len, &mut self.batch);
            ring.consume(HEADER + len, 1);
            cur.left -= HEADER + len;
            self.batch_lines += 1;
            total += HEADER + len;
        }

        // Wake producers waiting for room.
        for cur in &self.cursors {
            let ring = &rings[cur.idx];
            if ring.waiting.swap(false, Ordering::AcqRel) {
                p.wake_producer(ring);
            }
        }
        self.rings = rings;
        if p.hung.load(Ordering::Acquire) {
            return total;
        }
        self.write_batch(p);
        self.write_notices(p);
        if any_closed {
            p.recycle_closed();
        }
        total
    }

    /// Counts what is batched as abandoned and forgets it (the sink was
    /// declared hung while it was being collected).
    fn abandon_batch(&mut self, p: &Pipeline) {
        let lines = std::mem::take(&mut self.batch_lines);
        p.counters.abandoned.fetch_add(lines, Ordering::Relaxed);
        self.batch.clear();
    }

    /// Appends a line (or lines) written synchronously.
    fn push(&mut self, bytes: &[u8]) {
        self.batch.extend_from_slice(bytes);
        self.batch_lines += count_lines(bytes);
    }

    fn refresh_rings(&mut self, p: &Pipeline) {
        let gen = p.rings_gen.load(Ordering::Acquire);
        if gen == self.rings_gen {
            return;
        }
        let list = p.rings.lock();
        self.rings.clear();
        self.rings.extend(list.live.iter().cloned());
        self.rings_gen = p.rings_gen.load(Ordering::Acquire);
    }

    /// Writes the batch, counting lines written or lost; clears it either
    /// way. If the sink was declared hung while this write was stuck, the
    /// lines were already counted as abandoned and are not counted again.
    fn write_batch(&mut self, p: &Pipeline) {
        if self.batch.is_empty() {
            return;
        }
        let lines = std::mem::take(&mut self.batch_lines);

        // SeqCst pairs with `Pipeline::give_up`: either it claims these
        // lines from `in_flight`, or we see `hung` here and count them.
        p.in_flight.swap(lines, Ordering::SeqCst);
        if p.hung.load(Ordering::SeqCst) {
            let ours = p.in_flight.swap(0, Ordering::SeqCst);
            p.counters.abandoned.fetch_add(ours, Ordering::Relaxed);
            self.batch.clear();
            return;
        }
        if self.unreported_lost > 0 {
            self.write_lost_notice(p);
        }
        let result = write_all(&mut self.sink, &self.batch);
        self.batch.clear();

        // Whoever swaps `in_flight` to zero first counts these lines.
        let ours = p.in_flight.swap(0, Ordering::SeqCst);
        match result {
            Ok(()) => {
                p.counters.lines_written.fetch_add(ours, Ordering::Relaxed);
                self.failing = false;
            }
            Err(e) => {
                self.failing = true;
                self.unreported_lost += ours;
                p.counters.sink_errors.fetch_add(1, Ordering::Relaxed);
                p.counters.lines_lost.fetch_add(ours, Ordering::Relaxed);
                self.report(&e);
            }
        }
    }

    /// Writes the `lines lost` and `lines dropped` notices that are due,
    /// once the sink works (a notice that fails stays due).
    fn write_notices(&mut self, p: &Pipeline) {
        if self.failing || p.hung.load(Ordering::Acquire) {
            return;
        }
        if self.unreported_lost > 0 {
            self.write_lost_notice(p);
        }
        if self.unreported_drops > 0 && !self.failing {
            let n = self.unreported_drops;
            if self.write_notice(p, "lines dropped", "dropped", n) {
                self.unreported_drops -= n;
            }
        }
    }

    /// Says how many lines failed writes lost since the last such notice.
    fn write_lost_notice(&mut self, p: &Pipeline) {
        let n = self.unreported_lost;
        if self.write_notice(p, "lines lost", "lost", n) {
            self.unreported_lost -= n;
        }
    }

    /// Writes one notice line straight to the sink. A failed notice is not
    /// counted as a lost line; it stays due.
    fn write_notice(&mut self, p: &Pipeline, message: &str, field: &str, n: u64) -> bool {
        self.notice_buf.clear();
        (p.notice)(&mut self.notice_buf, message, &[(field, n)]);
        let result = write_all(&mut self.sink, &self.notice_buf);
        match result {
            Ok(()) => {
                p.counters.lines_written.fetch_add(1, Ordering::Relaxed);
                self.failing = false;
                true
            }
            Err(e) => {
                self.failing = true;
                p.counters.sink_errors.fetch_add(1, Ordering::Relaxed);
                self.report(&e);
                false
            }
        }
    }

    fn flush_sink(&mut self, p: &Pipeline) {
        if let Err(e) = self.sink.flush() {
            p.counters.sink_errors.fetch_add(1, Ordering::Relaxed);
            self.report(&e);
        }
    }

    /// One stderr message per kind of sink error.
    fn report(&mut self, e: &io::Error) {
        if self.reported.contains(&e.kind()) {
            return;
        }
        self.reported.push(e.kind());
        crate::notice::stderr_line(&format!(
            "dynlog: writing log lines failed: {}; lines are counted as lost until the sink recovers",
            crate::error::io_text(e)
        ));
    }
}

impl Pipeline {
    fn wake_producer(&self, ring: &Arc<Ring>) {
        let list = self.rings.lock();
        if let Some(pos) = list.live.iter().position(|r| Arc::ptr_eq(r, ring)) {
            list.threads[pos].unpark();
        }
    }

    /// Moves drained rings of exited threads to the pool.
    fn recycle_closed(&self) {
        let mut list = self.rings.lock();
        let mut i = 0;
        while i < list.live.len() {
            let ring = &list.live[i];
            if ring.closed.load(Ordering::Acquire) && ring.len() == 0 {
                let ring = list.live.swap_remove(i);
                list.threads.swap_remove(i);
                list.pool.push(ring);
            } else {
                i += 1;
            }
        }
        drop(list);
        self.rings_gen.fetch_add(1, Ordering::Release);
    }
}

/// Writes the whole batch with the sink's own `write_all`, so a sink that
/// locks per call (stderr, stdout) holds its lock for the whole batch and
/// no other writer of the same stream can cut into a line.
fn write_all(sink: &mut dyn Write, bytes: &[u8]) -> io::Result<()> {
    sink.write_all(bytes)
}

pub(crate) fn count_lines(bytes: &[u8]) -> u64 {
    bytes.iter().filter(|&&b| b == b'\n').count() as u64
}
