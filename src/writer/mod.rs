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
//!   stops the pipeline.

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
    batch: Vec<u8>,

    /// This drainer's copy of the ring list, refreshed when `rings_gen`
    /// moves (threads come and go), so a drain allocates nothing.
    rings: Vec<Arc<Ring>>,
    rings_gen: u64,

    /// Kinds of sink errors already reported (one message per kind).
    reported: Vec<io::ErrorKind>,

    /// Drops seen in rings and not yet reported in a notice.
    unreported_drops: u64,

    /// True while the last write failed; cleared (with a notice) on recovery.
    failing: bool,

    /// Lines in `batch`.
    batch_lines: u64,

    /// Per-ring read positions of the current drain (reused).
    cursors: Vec<Cursor>,
}

/// How far a drain has read one ring.
struct Cursor {
    idx: usize,
    pos: usize,
    len: usize,
}

struct RingList {
    live: Vec<Arc<Ring>>,
    pool: Vec<Arc<Ring>>,
    /// The producer thread of each live ring, to wake it in block mode.
    threads: Vec<Thread>,
}

/// One delivery pipeline: created by `Builder::build`, shared by the
/// subscriber, the writer thread and the guard.
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
    /// once instead of waiting again.
    hung: AtomicBool,
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
                rings: Vec::new(),
                rings_gen: u64::MAX,
                reported: Vec::new(),
                unreported_drops: 0,
                failing: false,
                batch_lines: 0,
                cursors: Vec::new(),
            }),
            notice,
            writer: Mutex::new(None),
            writer_sleeping: AtomicBool::new(false),
            stop_requested: AtomicBool::new(false),
            stopped: AtomicBool::new(true),
            hung: AtomicBool::new(false),
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
    /// written synchronously, after everything queued before it.
    pub(crate) fn submit(&self, ring: &Ring, line: &[u8]) {
        if self.stopped.load(Ordering::Acquire) || line.len() + HEADER > ring.capacity() / 2 {
            self.write_direct(line);
            return;
        }

        // Relaxed: the number only orders lines; a line published before
        // another is emitted took its number first on this thread, or
        // happens-before it through whatever made the other thread log.
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
    #[cold]
    pub(crate) fn write_direct(&self, line: &[u8]) {
        let lines = count_lines(line);
        if self.hung.load(Ordering::Acquire) {
            self.counters.abandoned.fetch_add(lines, Ordering::Relaxed);
            return;
        }
        let Some(mut d) = self.drainer.try_lock_for(Duration::from_secs(1)) else {
            self.hung.store(true, Ordering::Release);
            self.counters.abandoned.fetch_add(lines, Ordering::Relaxed);
            return;
        };
        d.drain(self);
        d.batch.extend_from_slice(line);
        d.batch_lines += lines;
        d.write_batch(self);
        d.flush_sink(self);
    }

    /// Writes everything accepted so far and flushes the sink. With a
    /// timeout, gives up (returning `false`) if the drain lock is not free
    /// by then, e.g. because the sink hangs.
    pub(crate) fn flush(&self, timeout: Option<Duration>) -> bool {
        let d = match timeout {
            Some(t) => self.drainer.try_lock_for(t),
            None => Some(self.drainer.lock()),
        };
        let Some(mut d) = d else {
            return false;
        };
        d.drain(self);
        d.flush_sink(self);
        true
    }

    /// Writes everything accepted so far, then runs `f` while still holding
    /// the drain lock, so nothing of ours is written while `f` runs (the
    /// panic hook prints the panic message this way, whole and after our
    /// lines). Runs `f` anyway if the lock is not free within `timeout`.
    pub(crate) fn flush_then(&self, timeout: Duration, f: impl FnOnce()) {
        match self.drainer.try_lock_for(timeout) {
            Some(mut d) => {
                d.drain(self);
                d.flush_sink(self);
                f();
            }
            None => f(),
        }
    }

    /// Stops the writer thread, waiting at most `timeout` for it to write
    /// what is queued. Lines it could not write in time are counted as
    /// abandoned (and reported on stderr). Later lines are written
    /// synchronously.
    pub(crate) fn stop(&self, timeout: Duration) {
        if self.stop_requested.swap(true, Ordering::AcqRel) {
            return;
        }
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
            // The sink hangs: count what is still queued and stop waiting.
            self.hung.store(true, Ordering::Release);
            let queued = self.count_queued();
            self.counters.abandoned.fetch_add(queued, Ordering::Relaxed);
            crate::notice::stderr_once(
                "writer-hung",
                &format!(
                    "dynlog: the sink did not accept lines within {} ms at shutdown; {} queued lines abandoned",
                    timeout.as_millis(),
                    queued
                ),
            );
        }
        self.stopped.store(true, Ordering::Release);
    }

    /// Switches to synchronous writes at process exit, after a last drain.
    pub(crate) fn exit_flush(&self, timeout: Duration) {
        self.stopped.store(true, Ordering::Release);
        if !self.flush(Some(timeout)) {
            let queued = self.count_queued();
            self.counters.abandoned.fetch_add(queued, Ordering::Relaxed);
        }
    }

    /// Lines published in rings and not yet taken: read without consuming.
    fn count_queued(&self) -> u64 {
        let list = self.rings.lock();
        list.live
            .iter()
            .map(|r| r.readable(ring::count_records).1)
            .sum()
    }

    fn run_writer(self: Arc<Self>) {
        IS_DYNLOG_THREAD.with(|c| c.set(true));
        let mut sleep = BUSY_SLEEP;
        loop {
            let drained = self.drainer.lock().drain(&self);
            if self.stop_requested.load(Ordering::Acquire) {
                let mut d = self.drainer.lock();
                d.drain(&self);
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

impl Drainer {
    /// Moves everything published in every ring into the sink. Returns the
    /// number of bytes taken.
    fn drain(&mut self, p: &Pipeline) -> usize {
        self.refresh_rings(p);

        // Snapshot what every ring has published; rings keep filling behind
        // the snapshot, which the next drain takes.
        self.cursors.clear();
        let mut any_closed = false;
        for (idx, ring) in self.rings.iter().enumerate() {
            let drops = ring.dropped.swap(0, Ordering::Relaxed);
            if drops > 0 {
                self.unreported_drops += drops;
                p.counters.dropped.fetch_add(drops, Ordering::Relaxed);
            }
            let len = ring.len();
            if len > 0 {
                self.cursors.push(Cursor { idx, pos: 0, len });
            }
            if ring.closed.load(Ordering::Acquire) && len == 0 {
                any_closed = true;
            }
        }

        // Merge the rings by sequence number into the batch.
        let rings = std::mem::take(&mut self.rings);
        let mut total = 0;
        loop {
            let mut best: Option<(usize, u64, usize)> = None;
            for (c, cur) in self.cursors.iter().enumerate() {
                if cur.pos >= cur.len {
                    continue;
                }
                let (a, b) = rings[cur.idx].published(cur.len);
                let (seq, len) = ring::header_at(a, b, cur.pos);
                if best.is_none_or(|(_, s, _)| seq < s) {
                    best = Some((c, seq, len));
                }
            }
            let Some((c, _, len)) = best else {
                break;
            };
            if self.batch.len() + len > BATCH_TARGET && !self.batch.is_empty() {
                self.write_batch(p);
            }
            let cur = &mut self.cursors[c];
            let (a, b) = rings[cur.idx].published(cur.len);
            ring::extend_out(a, b, cur.pos + HEADER, len, &mut self.batch);
            self.batch_lines += 1;
            cur.pos += HEADER + len;
        }

        // Free what was taken and wake producers waiting for room.
        for cur in &self.cursors {
            let ring = &rings[cur.idx];
            ring.consume(cur.len);
            total += cur.len;
            if ring.waiting.swap(false, Ordering::AcqRel) {
                p.wake_producer(ring);
            }
        }
        self.rings = rings;
        if !self.batch.is_empty() {
            self.write_batch(p);
        }
        if self.unreported_drops > 0 && !self.failing {
            let n = std::mem::take(&mut self.unreported_drops);
            (p.notice)(&mut self.batch, "lines dropped", &[("dropped", n)]);
            self.batch_lines += 1;
            self.write_batch(p);
        }
        if any_closed {
            p.recycle_closed();
        }
        total
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

    /// Writes the batch, counting lines written or lost; clears it either way.
    fn write_batch(&mut self, p: &Pipeline) {
        if self.batch.is_empty() {
            return;
        }
        let lines = std::mem::take(&mut self.batch_lines);
        match write_all(&mut self.sink, &self.batch) {
            Ok(()) => {
                p.counters.lines_written.fetch_add(lines, Ordering::Relaxed);
                if self.failing {
                    self.failing = false;
                }
            }
            Err(e) => {
                self.failing = true;
                p.counters.sink_errors.fetch_add(1, Ordering::Relaxed);
                p.counters.lines_lost.fetch_add(lines, Ordering::Relaxed);
                self.report(&e);
            }
        }
        self.batch.clear();
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
            "dynlog: writing log lines failed: {e}; lines are counted as lost until the sink recovers"
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
