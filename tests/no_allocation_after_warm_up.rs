//! After a warm-up, dynlog makes no heap allocation and frees nothing, on
//! the calling threads or on the writer thread (SPEC 11), for events with
//! every kind of field inside nested spans, spans created and closed,
//! fields recorded on spans, and spans and events that cross threads.
//!
//! A counting global allocator sees every thread of this binary (there is
//! one test in this file, because the allocator is per binary). The OTLP
//! export thread is off. The workload runs twice per configuration: once to
//! warm up (thread rings, registry pages, buffers, callsite interest), once
//! counted; then the lines are checked exactly.

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tracing::{info, info_span, Span};

struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCS: AtomicU64 = AtomicU64::new(0);
static FREES: AtomicU64 = AtomicU64::new(0);
static BYTES: AtomicU64 = AtomicU64::new(0);

// SAFETY: every call is forwarded to `System` unchanged; the counters are
// atomics and allocate nothing.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
            BYTES.fetch_add(layout.size() as u64, Ordering::Relaxed);
        }
        // SAFETY: the caller's contract for `alloc` is passed on as is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if COUNTING.load(Ordering::Relaxed) {
            FREES.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
            BYTES.fetch_add(new_size as u64, Ordering::Relaxed);
        }
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// A sink that appends into memory reserved up front, so the writer
/// thread's writes allocate nothing while there is room.
#[derive(Clone)]
struct Reserved(Arc<Mutex<Vec<u8>>>);

impl Write for Reserved {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[derive(Debug)]
#[allow(dead_code, reason = "the fields are read through Debug only")]
struct Point {
    x: i32,
    y: i32,
}

/// Spans and events iterations; every `HANDOFF_EVERY`th iteration hands its
/// span to the other thread, which logs inside it and closes it there.
const N: u64 = 100_000;
const HANDOFF_EVERY: u64 = 100;

/// The hand-off between the two threads: a span in a mutex (moving a
/// `Span` allocates nothing) and a step counter both sides spin on.
struct Handoff {
    span: Mutex<Option<Span>>,
    /// Odd: a span is waiting for the worker; even: the worker is done.
    step: AtomicU32,
    stop: AtomicBool,
}

/// The source lines of two events, for the expected lines.
static HANDLED_LINE: AtomicU32 = AtomicU32::new(0);
static HANDED_OVER_LINE: AtomicU32 = AtomicU32::new(0);

/// Parks the calling thread once in `parking_lot`: a thread's first park
/// allocates its parking data, a one-time cost per thread that belongs to
/// the warm-up (dynlog's locks are `parking_lot`'s, and a contended span
/// lock parks).
fn park_once() {
    let lock = parking_lot::Mutex::new(());
    let mut guard = lock.lock();
    let _ = parking_lot::Condvar::new().wait_for(&mut guard, std::time::Duration::ZERO);
}

fn wait_for(step: &AtomicU32, want: u32) {
    while step.load(Ordering::Acquire) != want {
        std::thread::yield_now();
    }
}

/// The worker thread: logs inside each span it is handed, then drops it.
fn worker(handoff: &Handoff) {
    park_once();
    let mut seen = 0u32;
    loop {
        while handoff.step.load(Ordering::Acquire) == seen * 2 {
            if handoff.stop.load(Ordering::Acquire) {
                return;
            }
            std::thread::yield_now();
        }
        let span = handoff.span.lock().unwrap().take();
        if let Some(span) = span {
            info!(parent: &span, thread = "worker", seen, "handed over");
            HANDED_OVER_LINE.store(line!() - 1, Ordering::Relaxed);
            let child = info_span!(parent: &span, "worker_child", depth = 4u64);
            child.in_scope(|| info!(ok = true, "inside the child"));
            drop(child);
            drop(span);
        }
        seen += 1;
        handoff.step.store(seen * 2, Ordering::Release);
    }
}

/// Logs `n` events inside three nested spans, creating and closing one
/// span per event, recording fields on spans, and handing every
/// `HANDOFF_EVERY`th span to the worker.
fn workload(n: u64, handoff: &Handoff) {
    let request = info_span!(
        "request",
        x_request_id = "8372eac7-5f43-4d76-beca-0a94cfb311d0",
        method = "POST",
        uri = tracing::field::Empty
    );
    request.record("uri", "/v1/chat/completions");
    let _request = request.enter();
    let handler = info_span!("handler", route = "chat", attempt = 1u64);
    let _handler = handler.enter();
    let mut handed = handoff.step.load(Ordering::Acquire) / 2;
    for i in 0..n {
        let conn = info_span!(
            "conn",
            peer = "10.0.4.65:41959",
            idx = i,
            state = tracing::field::Empty,
            point = ?Point { x: 1, y: -2 }
        );
        {
            let _conn = conn.enter();
            conn.record("state", "open");
            HANDLED_LINE.store(line!() + 1, Ordering::Relaxed);
            info!(
                user = "alice \"admin\"\n",
                count = i as i64 - 7,
                ratio = i as f64 * 0.25,
                ok = i % 2 == 0,
                point = ?Point { x: 3, y: 4 },
                shown = %"display",
                "request {} handled",
                i
            );
            conn.record("state", 7u64);
            info!(size = 1024u64, "after record");
        }
        if i % HANDOFF_EVERY == 0 {
            *handoff.span.lock().unwrap() = Some(conn);
            handoff.step.store(handed * 2 + 1, Ordering::Release);
            handed += 1;
            wait_for(&handoff.step, handed * 2);
        } else {
            drop(conn);
        }
    }
}

/// Replaces the text of `"KEY":"..."` values by `KEY`, for values that
/// change between runs (time, random ids).
fn mask(line: &str) -> String {
    let mut out = line.to_owned();
    for key in ["time", "span_id", "trace_id", "parent_id"] {
        let pat = format!("\"{key}\":\"");
        let mut from = 0;
        while let Some(at) = out[from..].find(&pat) {
            let start = from + at + pat.len();
            let end = start + out[start..].find('"').expect("a closed string");
            out.replace_range(start..end, key);
            from = start + key.len();
        }
    }
    out
}

fn run(span_events: bool, filter: &str) {
    let buffer = Arc::new(Mutex::new(Vec::with_capacity(512 << 20)));
    let (subscriber, guard) = dynlog::Builder::new()
        .json(true)
        .filter(filter)
        .span_events(span_events)
        .writer(Reserved(buffer.clone()))
        .build()
        .unwrap();
    let dispatch = tracing::Dispatch::new(subscriber);
    let handoff = Handoff {
        span: Mutex::new(None),
        step: AtomicU32::new(0),
        stop: AtomicBool::new(false),
    };

    let (allocs, frees, bytes) = std::thread::scope(|s| {
        let worker_dispatch = dispatch.clone();
        let handoff = &handoff;
        let thread = s
            .spawn(move || tracing::dispatcher::with_default(&worker_dispatch, || worker(handoff)));
        let counted = tracing::dispatcher::with_default(&dispatch, || {
            // Warm-up: the same workload, so every buffer, ring, registry
            // page and callsite exists and has its final size.
            park_once();
            workload(2_000, handoff);
            guard.flush();
            buffer.lock().unwrap().clear();

            COUNTING.store(true, Ordering::SeqCst);
            workload(N, handoff);
            guard.flush();
            COUNTING.store(false, Ordering::SeqCst);
            (
                ALLOCS.swap(0, Ordering::SeqCst),
                FREES.swap(0, Ordering::SeqCst),
                BYTES.swap(0, Ordering::SeqCst),
            )
        });
        handoff.stop.store(true, Ordering::Release);
        thread.join().unwrap();
        counted
    });
    assert_eq!(
        (allocs, frees),
        (0, 0),
        "span_events={span_events} filter={filter}: {allocs} allocations ({bytes} bytes) and {frees} frees after warm-up"
    );

    // The lines of the counted run, checked exactly.
    let text = String::from_utf8(std::mem::take(&mut *buffer.lock().unwrap())).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let handoffs = N / HANDOFF_EVERY;
    let events = 2 * N + 2 * handoffs;
    let span_lines = if span_events {
        2 * (N + handoffs) + 4
    } else {
        0
    };
    assert_eq!(lines.len() as u64, events + span_lines);
    for line in &lines {
        serde_json::from_str::<serde_json::Value>(line).unwrap();
    }
    let first_event = lines
        .iter()
        .find(|l| l.contains("\"request 1 handled\""))
        .unwrap();
    let file = file!();
    let want = format!(
        concat!(
            r#"{{"time":"time","level":"INFO","file":"{file}","line":{line},"target":"no_allocation_after_warm_up","#,
            r#""message":"request 1 handled","user":"alice \"admin\"\n","count":-6,"ratio":0.25,"ok":false,"#,
            r#""point":"Point {{ x: 3, y: 4 }}","shown":"display","span_name":"conn","span_id":"span_id","#,
            r#""trace_id":"trace_id","parent_id":"parent_id","x_request_id":"8372eac7-5f43-4d76-beca-0a94cfb311d0","#,
            r#""peer":"10.0.4.65:41959","idx":1,"state":"open","route":"chat","attempt":1,"#,
            r#""method":"POST","uri":"/v1/chat/completions"}}"#
        ),
        file = file,
        line = HANDLED_LINE.load(Ordering::Relaxed)
    );
    assert_eq!(mask(first_event), want);
    let handed = lines
        .iter()
        .find(|l| l.contains("\"handed over\"") && l.contains("\"idx\":100,"))
        .unwrap();
    let want = format!(
        concat!(
            r#"{{"time":"time","level":"INFO","file":"{file}","line":{line},"target":"no_allocation_after_warm_up","#,
            r#""message":"handed over","thread":"worker","seen":21,"span_name":"conn","span_id":"span_id","#,
            r#""trace_id":"trace_id","parent_id":"parent_id","x_request_id":"8372eac7-5f43-4d76-beca-0a94cfb311d0","#,
            r#""peer":"10.0.4.65:41959","idx":100,"state":7,"point":"Point {{ x: 1, y: -2 }}","route":"chat","#,
            r#""attempt":1,"method":"POST","uri":"/v1/chat/completions"}}"#
        ),
        file = file,
        line = HANDED_OVER_LINE.load(Ordering::Relaxed)
    );
    assert_eq!(mask(handed), want);
    if span_events {
        let closed = lines
            .iter()
            .find(|l| l.contains("\"SPAN_CLOSED\"") && l.contains("\"span_name\":\"worker_child\""))
            .unwrap();
        assert!(
            closed.contains(r#""message":"SPAN_CLOSED","time.busy_us":"#),
            "{closed}"
        );
    }
    assert_eq!(
        guard.stats().lines_written,
        lines.len() as u64 + warm_up_lines(span_events)
    );
    drop(guard);
}

/// Lines written by the warm-up run (the counted run comes after them).
fn warm_up_lines(span_events: bool) -> u64 {
    let n = 2_000;
    let handoffs = n / HANDOFF_EVERY;
    2 * n
        + 2 * handoffs
        + if span_events {
            2 * (n + handoffs) + 4
        } else {
            0
        }
}

#[test]
fn events_spans_and_records_allocate_nothing_after_warm_up() {
    run(false, "info");
    run(true, "info");
    // Span directives match each span's values at creation and on every
    // record.
    run(
        false,
        "info,[conn{state=\"open\"}]=debug,[handler{attempt=1}]=trace",
    );
}
