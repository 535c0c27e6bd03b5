//! A single-producer, single-consumer byte ring: one per (thread, pipeline).
//!
//! The producing thread appends whole lines and publishes them with one
//! `Release` store of `tail`; the writer (the only consumer, serialised by the
//! pipeline's drain lock) reads everything up to `tail` and frees it with one
//! `Release` store of `head`. Neither side ever waits for the other inside
//! these functions: a full ring is reported to the caller, who decides to
//! wait or drop. Lines are never split between two publications, so a
//! consumer that takes everything it sees never writes half a line.
//!
//! Positions are monotonic byte counters (they wrap at `usize::MAX`, which
//! the arithmetic tolerates); the index into the buffer is `pos % cap`.
//!
//! Each record is a 12-byte header (`seq: u64`, `len: u32`, little-endian)
//! and the line. The sequence number comes from one counter per pipeline,
//! so the writer can merge the rings back into the order in which lines
//! were emitted: a line logged after another (on any thread, once the first
//! was published) is written after it. The producer counts pushes and the
//! consumer counts the records it frees; the difference is the number of
//! lines queued, known without reading the buffer.

use crate::sync::{AtomicBool, AtomicU64, AtomicUsize, Ordering, UnsafeCell};

/// Bytes before each line: sequence number and length.
pub(crate) const HEADER: usize = 12;

/// Reads the record header at `pos` of the two-slice region `(a, b)`.
pub(crate) fn header_at(a: &[u8], b: &[u8], pos: usize) -> (u64, usize) {
    let mut h = [0u8; HEADER];
    copy_out(a, b, pos, &mut h);
    let seq = u64::from_le_bytes([h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7]]);
    let len = u32::from_le_bytes([h[8], h[9], h[10], h[11]]) as usize;
    (seq, len)
}

/// Copies `out.len()` bytes starting at `pos` of the region `(a, b)`.
fn copy_out(a: &[u8], b: &[u8], pos: usize, out: &mut [u8]) {
    let n = out.len();
    if pos + n <= a.len() {
        out.copy_from_slice(&a[pos..pos + n]);
    } else if pos >= a.len() {
        let p = pos - a.len();
        out.copy_from_slice(&b[p..p + n]);
    } else {
        let first = a.len() - pos;
        out[..first].copy_from_slice(&a[pos..]);
        out[first..].copy_from_slice(&b[..n - first]);
    }
}

/// Appends `n` bytes starting at `pos` of the region `(a, b)` to `out`.
pub(crate) fn extend_out(a: &[u8], b: &[u8], pos: usize, n: usize, out: &mut Vec<u8>) {
    if pos + n <= a.len() {
        out.extend_from_slice(&a[pos..pos + n]);
    } else if pos >= a.len() {
        let p = pos - a.len();
        out.extend_from_slice(&b[p..p + n]);
    } else {
        out.extend_from_slice(&a[pos..]);
        out.extend_from_slice(&b[..n - (a.len() - pos)]);
    }
}

/// A byte ring with one producer and one consumer at a time.
pub(crate) struct Ring {
    /// The storage; bytes in `[head, tail)` belong to the consumer, the rest
    /// to the producer.
    buf: Box<[UnsafeCell<u8>]>,

    /// Next byte the consumer reads. Written only by the consumer.
    head: CachePadded<AtomicUsize>,

    /// Next byte the producer writes. Written only by the producer.
    tail: CachePadded<AtomicUsize>,

    /// Lines pushed so far. Written only by the producer, on its own cache
    /// line; read by whoever counts queued lines.
    pushed: CachePadded<AtomicU64>,

    /// Lines freed by the consumer so far. Written only by the consumer.
    taken: AtomicU64,

    /// Set when the producing thread has exited: once empty, the ring can be
    /// handed to another thread.
    pub(crate) closed: AtomicBool,

    /// Set by a producer that waits for room (block mode); the writer wakes
    /// it after draining.
    pub(crate) waiting: AtomicBool,

    /// Lines the producer dropped because the ring was full (drop mode).
    pub(crate) dropped: AtomicU64,
}

/// Keeps the two positions on separate cache lines, so the producer's
/// stores do not invalidate the consumer's line on every event.
#[repr(align(128))]
pub(crate) struct CachePadded<T>(pub(crate) T);

impl<T> std::ops::Deref for CachePadded<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

// SAFETY: the buffer is shared between exactly one producer and one consumer
// that touch disjoint byte ranges, delimited by `head` and `tail` with
// Release/Acquire pairs (see `push` and `readable`); everything else is atomic.
unsafe impl Sync for Ring {}
// SAFETY: as for `Sync`; the ring owns its buffer.
unsafe impl Send for Ring {}

impl Ring {
    /// A ring holding `cap` bytes.
    pub(crate) fn new(cap: usize) -> Ring {
        let buf = (0..cap).map(|_| UnsafeCell::new(0u8)).collect();
        Ring {
            buf,
            head: CachePadded(AtomicUsize::new(0)),
            tail: CachePadded(AtomicUsize::new(0)),
            pushed: CachePadded(AtomicU64::new(0)),
            taken: AtomicU64::new(0),
            closed: AtomicBool::new(false),
            waiting: AtomicBool::new(false),
            dropped: AtomicU64::new(0),
        }
    }

    /// Capacity in bytes.
    pub(crate) fn capacity(&self) -> usize {
        self.buf.len()
    }

    /// Bytes published and not yet consumed.
    pub(crate) fn len(&self) -> usize {
        // Acquire pairs with the producer's Release in `push`; the consumer's
        // own head is read with Acquire too, since `len` runs on any thread.
        let tail = self.tail.load(Ordering::Acquire);
        let head = self.head.load(Ordering::Acquire);
        tail.wrapping_sub(head)
    }

    /// Appends a record of `line` with sequence number `seq` and publishes
    /// it, or returns `false` (and changes nothing) when it does not fit.
    /// Producer only.
    pub(crate) fn push(&self, seq: u64, line: &[u8]) -> bool {
        let cap = self.buf.len();
        let need = HEADER + line.len();

        // Our own position needs no ordering: only this thread writes it.
        let tail = self.tail.load(Ordering::Relaxed);

        // Acquire pairs with the consumer's Release in `consume`: the bytes it
        // freed are no longer being read once we see the new head.
        let head = self.head.load(Ordering::Acquire);
        let used = tail.wrapping_sub(head);
        if cap - used < need {
            return false;
        }

        // Copy header and line into the free region, in two pieces where
        // it wraps.
        let mut header = [0u8; HEADER];
        header[..8].copy_from_slice(&seq.to_le_bytes());
        header[8..].copy_from_slice(&(line.len() as u32).to_le_bytes());
        let mut pos = tail;
        for part in [&header[..], line] {
            let start = pos % cap;
            let first = part.len().min(cap - start);
            self.write_at(start, &part[..first]);
            self.write_at(0, &part[first..]);
            pos = pos.wrapping_add(part.len());
        }

        // Count the line before publishing it, so that `queued_lines` never
        // sees a freed line that was not counted as pushed (Relaxed: the
        // Release below orders it before the tail).
        let pushed = self.pushed.load(Ordering::Relaxed);
        self.pushed.store(pushed.wrapping_add(1), Ordering::Relaxed);

        // Release pairs with the consumer's Acquire in `readable`: the bytes
        // written above are visible before the new tail is.
        self.tail.store(pos, Ordering::Release);
        true
    }

    /// Under loom the cells cannot lend out slices, so this copies the bytes
    /// (through loom's checked reads) and leaks the copy: the crate only
    /// builds, never runs, the drain under `cfg(dynlog_loom)`; the loom tests
    /// exercise `push`, `readable` and `consume`.
    #[cfg(dynlog_loom)]
    pub(crate) fn published(&self, len: usize) -> (&[u8], &[u8]) {
        let (_, bytes) = self.readable(|a, b| [a, b].concat());
        let n = len.min(bytes.len());
        (
            Box::leak(bytes.into_boxed_slice()).get(..n).unwrap_or(&[]),
            &[],
        )
    }

    /// The first `len` published bytes, in order, as one or two slices
    /// (`len` at most what `len()` reported to the consumer). Consumer
    /// only; the bytes stay valid until `consume` frees them.
    #[cfg(not(dynlog_loom))]
    pub(crate) fn published(&self, len: usize) -> (&[u8], &[u8]) {
        let cap = self.buf.len();
        let head = self.head.load(Ordering::Relaxed);
        let start = head % cap;
        let first = len.min(cap - start);
        let base = self.buf.as_ptr() as *const u8;
        // SAFETY: `UnsafeCell<u8>` is `repr(transparent)` over `u8`, so the
        // buffer is `cap` contiguous bytes and both ranges lie inside it.
        // They are published (the caller took `len` from `len()`, whose
        // Acquire load of `tail` pairs with the producer's Release), and the
        // producer does not write them until `consume` moves `head` past
        // them; the one consumer calls `consume` only after it is done with
        // the slices.
        unsafe {
            (
                std::slice::from_raw_parts(base.add(start), first),
                std::slice::from_raw_parts(base, len - first),
            )
        }
    }

    /// Calls `f` with the published bytes (one or two slices, in order) and
    /// returns how many there were; does not free them. Consumer only.
    #[cfg(any(test, dynlog_loom))]
    pub(crate) fn readable<R>(&self, f: impl FnOnce(&[u8], &[u8]) -> R) -> (usize, R) {
        let cap = self.buf.len();

        // Acquire pairs with the producer's Release in `push`.
        let tail = self.tail.load(Ordering::Acquire);

        // Only the consumer writes head; the drain lock orders consumers.
        let head = self.head.load(Ordering::Relaxed);
        let len = tail.wrapping_sub(head);
        let start = head % cap;
        let first = len.min(cap - start);
        let r = self.read_at(start, first, |a| self.read_at(0, len - first, |b| f(a, b)));
        (len, r)
    }

    /// Frees `n` bytes that `readable` reported, holding `lines` lines.
    /// Consumer only.
    pub(crate) fn consume(&self, n: usize, lines: u64) {
        let head = self.head.load(Ordering::Relaxed);
        let taken = self.taken.load(Ordering::Relaxed);
        self.taken
            .store(taken.wrapping_add(lines), Ordering::Relaxed);

        // Release pairs with the producer's Acquire in `push`: our reads of
        // the freed bytes happen before the producer may overwrite them.
        self.head.store(head.wrapping_add(n), Ordering::Release);
    }

    /// Lines published and not yet freed. Exact while neither side is in
    /// the middle of a push or a consume; reads no buffer bytes, so any
    /// thread may call it, even while a consumer is stuck in a write.
    pub(crate) fn queued_lines(&self) -> u64 {
        // Acquire pairs with the consumer's Release of `head` in `consume`,
        // which comes after its store of `taken`.
        let _ = self.head.load(Ordering::Acquire);
        let taken = self.taken.load(Ordering::Relaxed);
        // Acquire pairs with the producer's Release of `tail` in `push`,
        // which comes after its store of `pushed`.
        let _ = self.tail.load(Ordering::Acquire);
        let pushed = self.pushed.load(Ordering::Relaxed);
        pushed.saturating_sub(taken)
    }

    /// Forgets everything unread and clears the flags, for reuse by another
    /// thread. Only when no producer holds the ring.
    pub(crate) fn reset(&self) {
        let tail = self.tail.load(Ordering::Acquire);
        self.head.store(tail, Ordering::Release);
        let pushed = self.pushed.load(Ordering::Acquire);
        self.taken.store(pushed, Ordering::Release);
        self.closed.store(false, Ordering::Release);
        self.waiting.store(false, Ordering::Relaxed);
        self.dropped.store(0, Ordering::Relaxed);
    }

    #[cfg(not(dynlog_loom))]
    fn write_at(&self, start: usize, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        self.buf[start].with_mut(|dst| {
            // SAFETY: `UnsafeCell<u8>` is `repr(transparent)` over `u8`, so the
            // boxed slice is `cap` contiguous bytes and `dst` points into it;
            // the caller (`push`) checked that `[start, start + len)` lies in
            // the buffer and in the producer's free region, which the
            // consumer does not read until `tail` is published.
            unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), dst, bytes.len()) }
        });
    }

    #[cfg(all(test, not(dynlog_loom)))]
    fn read_at<R>(&self, start: usize, len: usize, f: impl FnOnce(&[u8]) -> R) -> R {
        if len == 0 {
            return f(&[]);
        }
        self.buf[start].with(|src| {
            // SAFETY: as in `write_at`, the bytes are contiguous; the caller
            // (`readable`) bounds `[start, start + len)` inside the published
            // region, which the producer does not touch until `head` moves
            // past it in `consume`, after `f` has returned.
            let bytes = unsafe { std::slice::from_raw_parts(src, len) };
            f(bytes)
        })
    }

    #[cfg(dynlog_loom)]
    fn write_at(&self, start: usize, bytes: &[u8]) {
        for (i, b) in bytes.iter().enumerate() {
            // SAFETY: loom checks that no other thread accesses this cell now.
            self.buf[start + i].with_mut(|p| unsafe { *p = *b });
        }
    }

    #[cfg(dynlog_loom)]
    fn read_at<R>(&self, start: usize, len: usize, f: impl FnOnce(&[u8]) -> R) -> R {
        let mut copy = Vec::with_capacity(len);
        for i in 0..len {
            // SAFETY: loom checks that no other thread accesses this cell now.
            copy.push(self.buf[start + i].with(|p| unsafe { *p }));
        }
        f(&copy)
    }
}

#[cfg(all(test, not(dynlog_loom)))]
mod tests {
    use super::*;

    /// The lines, without their headers.
    fn drain(ring: &Ring) -> Vec<u8> {
        let (n, (bytes, lines)) = ring.readable(records);
        ring.consume(n, lines);
        bytes
    }

    fn records(a: &[u8], b: &[u8]) -> (Vec<u8>, u64) {
        let mut out = Vec::new();
        let mut pos = 0;
        let mut lines = 0;
        while pos < a.len() + b.len() {
            let (_, len) = header_at(a, b, pos);
            extend_out(a, b, pos + HEADER, len, &mut out);
            pos += HEADER + len;
            lines += 1;
        }
        (out, lines)
    }

    #[test]
    fn push_then_read_returns_the_same_bytes() {
        let ring = Ring::new(40);
        assert!(ring.push(1, b"hello\n"));
        assert!(ring.push(2, b"world\n"));
        assert_eq!(
            ring.readable(|a, b| (header_at(a, b, 0), header_at(a, b, 18)))
                .1,
            ((1, 6), (2, 6))
        );
        assert_eq!(ring.len(), 36);
        assert_eq!(drain(&ring), b"hello\nworld\n");
        assert_eq!(ring.len(), 0);
    }

    #[test]
    fn a_line_that_does_not_fit_is_refused_whole() {
        let ring = Ring::new(20);
        assert!(ring.push(0, b"12345\n"));
        assert!(!ring.push(1, b"abc\n"));
        assert_eq!(drain(&ring), b"12345\n");
        assert!(ring.push(1, b"abc\n"));
        assert_eq!(drain(&ring), b"abc\n");
    }

    #[test]
    fn wrapping_keeps_the_byte_order() {
        let ring = Ring::new(37);
        for round in 0..50u8 {
            let line = [b'a' + round % 26, b'b', b'c', b'\n'];
            assert!(ring.push(round as u64, &line));
            assert!(ring.push(round as u64, &line[..2]));
            let mut want = line.to_vec();
            want.extend_from_slice(&line[..2]);
            assert_eq!(drain(&ring), want, "round {round}");
        }
    }

    #[test]
    fn queued_lines_counts_pushes_not_yet_freed() {
        let ring = Ring::new(64);
        assert_eq!(ring.queued_lines(), 0);
        assert!(ring.push(0, b"one\n"));
        assert!(ring.push(1, b"two\n"));
        assert!(ring.push(2, b"three\n"));
        assert_eq!(ring.queued_lines(), 3);
        let (n, (bytes, _)) = ring.readable(records);
        assert_eq!(bytes, b"one\ntwo\nthree\n");
        ring.consume(n, 3);
        assert_eq!(ring.queued_lines(), 0);
        assert!(ring.push(3, b"four\n"));
        ring.reset();
        assert_eq!(ring.queued_lines(), 0);
        assert_eq!(ring.len(), 0);
    }
}

#[cfg(all(test, dynlog_loom))]
mod loom_tests {
    use super::*;
    use loom::sync::Arc;

    /// The lines of whole records; a torn record fails the model.
    fn loom_records(a: &[u8], b: &[u8]) -> (Vec<u8>, u64) {
        let mut out = Vec::new();
        let mut pos = 0;
        let mut lines = 0;
        while pos < a.len() + b.len() {
            let (_, len) = header_at(a, b, pos);
            assert_eq!(len, 3, "a torn record");
            extend_out(a, b, pos + HEADER, len, &mut out);
            pos += HEADER + len;
            lines += 1;
        }
        (out, lines)
    }

    /// The consumer sees whole pushes in order and never a byte that the
    /// producer has not published, under every interleaving loom explores.
    #[test]
    fn consumer_sees_whole_lines_in_order() {
        loom::model(|| {
            let ring = Arc::new(Ring::new(2 * (HEADER + 3)));
            let producer = {
                let ring = ring.clone();
                loom::thread::spawn(move || {
                    let mut sent = 0;
                    for line in [&b"ab\n"[..], b"cd\n", b"ef\n"] {
                        if ring.push(0, line) {
                            sent += 1;
                        }
                    }
                    sent
                })
            };
            let mut seen = Vec::new();
            for _ in 0..2 {
                let (n, (bytes, lines)) = ring.readable(loom_records);
                seen.extend_from_slice(&bytes);
                ring.consume(n, lines);
            }
            let sent = producer.join().unwrap();
            let (n, (bytes, lines)) = ring.readable(loom_records);
            seen.extend_from_slice(&bytes);
            ring.consume(n, lines);
            let all = b"ab\ncd\nef\n";
            assert_eq!(seen.len() / 3, sent);
            assert_eq!(&seen[..], &all[..seen.len()]);
        });
    }
}
