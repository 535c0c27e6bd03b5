//! dynlog against tracing-subscriber's `fmt().json()` (with
//! tracing-appender's lossless non-blocking writer where a file is
//! written), in one process, on the same call sites, interleaved.
//!
//! For each scenario both subscribers are built up front and stay alive
//! (so tracing's cached callsite interest is the same for both), then
//! rounds alternate A B, B A, ... and the median of the rounds is
//! reported with the min-max, the ratio of the medians, bytes per line (a
//! shorter line earns nothing: compare ns per byte too) and heap
//! allocations per operation (a counting global allocator sees every
//! thread).
//!
//! Run: `cargo bench --bench compare` (add `-- --quick` for a smoke run,
//! `-- --cpu` to time per-operation scenarios by thread CPU time,
//! `-- --lines` to print one line of each candidate per scenario, `-- S2,S5`
//! to run only those scenarios).
//! Scenario ids follow the plan in `benches/README.md`.

mod support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::fs::File;
use std::io::{self, BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use tracing::Dispatch;

use support::*;

// ----- counting allocator ----------------------------------------------------

struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);
static ALLOC_BYTES: AtomicU64 = AtomicU64::new(0);
static FREED_BYTES: AtomicU64 = AtomicU64::new(0);

// SAFETY: every call is forwarded to `System` unchanged; the counters are
// atomics and allocate nothing.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        ALLOC_BYTES.fetch_add(layout.size() as u64, Ordering::Relaxed);
        // SAFETY: the caller's contract for `alloc` is passed on as is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        FREED_BYTES.fetch_add(layout.size() as u64, Ordering::Relaxed);
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        ALLOC_BYTES.fetch_add(new_size as u64, Ordering::Relaxed);
        FREED_BYTES.fetch_add(layout.size() as u64, Ordering::Relaxed);
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

// ----- measurement -------------------------------------------------------------

/// One timed run: operations, elapsed time, allocations during it.
#[derive(Clone, Copy)]
struct Sample {
    ops: u64,
    elapsed: Duration,
    allocs: u64,
}

impl Sample {
    fn ns_per_op(&self) -> f64 {
        self.elapsed.as_nanos() as f64 / self.ops as f64
    }
}

/// With `--cpu`, per-operation scenarios are timed by the calling
/// thread's CPU clock instead of the wall clock: steadier on a loaded
/// machine, blind to time spent waiting.
static CPU_CLOCK: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn thread_cpu_time() -> Duration {
    // SAFETY: `clock_gettime` fills the zeroed struct it is given.
    let t = unsafe {
        let mut t: libc::timespec = std::mem::zeroed();
        libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t);
        t
    };
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

/// Runs `body(i)` for `i` in `0..n` and times it.
fn timed(n: u64, mut body: impl FnMut(u64)) -> Sample {
    let allocs = ALLOCS.load(Ordering::Relaxed);
    let cpu = CPU_CLOCK.load(Ordering::Relaxed);
    let start = Instant::now();
    let cpu_start = if cpu {
        thread_cpu_time()
    } else {
        Duration::ZERO
    };
    for i in 0..n {
        body(i);
    }
    let elapsed = if cpu {
        thread_cpu_time() - cpu_start
    } else {
        start.elapsed()
    };
    Sample {
        ops: n,
        elapsed,
        allocs: ALLOCS.load(Ordering::Relaxed) - allocs,
    }
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

/// The summary of one candidate in one scenario.
#[derive(Default, Clone)]
struct Summary {
    median: f64,
    min: f64,
    max: f64,
    allocs_per_op: f64,
    bytes_per_line: f64,
    extra: String,
}

fn summarize(samples: &[Sample]) -> Summary {
    let mut ns: Vec<f64> = samples.iter().map(Sample::ns_per_op).collect();
    let allocs: u64 = samples.iter().map(|s| s.allocs).sum();
    let ops: u64 = samples.iter().map(|s| s.ops).sum();
    let median = median(&mut ns);
    Summary {
        median,
        min: ns[0],
        max: ns[ns.len() - 1],
        allocs_per_op: allocs as f64 / ops as f64,
        ..Summary::default()
    }
}

struct Row {
    id: &'static str,
    what: &'static str,
    unit: &'static str,
    dynlog: Summary,
    fmt: Summary,
}

struct Options {
    quick: bool,
    lines: bool,
    filter: Option<String>,
}

impl Options {
    fn rounds(&self) -> usize {
        if self.quick {
            2
        } else {
            7
        }
    }

    fn scale(&self, n: u64) -> u64 {
        if self.quick {
            (n / 20).max(10)
        } else {
            n
        }
    }

    fn wants(&self, id: &str) -> bool {
        self.filter
            .as_deref()
            .is_none_or(|f| f.split(',').any(|want| want == id))
    }
}

// ----- per-operation scenarios ------------------------------------------------------

/// A candidate of a per-operation scenario: its dispatcher, the counter of
/// bytes its sink saw, and (dynlog) the guard to flush.
struct Candidate {
    dispatch: Dispatch,
    bytes: &'static AtomicU64,
    guard: Option<dynlog::Guard>,
}

impl Candidate {
    fn flush(&self) {
        if let Some(g) = &self.guard {
            g.flush();
        }
    }
}

fn counter() -> &'static AtomicU64 {
    Box::leak(Box::new(AtomicU64::new(0)))
}

fn dynlog_null(filter: &str, span_events: bool) -> Candidate {
    let bytes = counter();
    let (dispatch, guard) = dynlog_json(CountingSink(bytes), filter, span_events);
    Candidate {
        dispatch,
        bytes,
        guard: Some(guard),
    }
}

fn fmt_null(filter: Option<&str>, span_events: bool) -> Candidate {
    let bytes = counter();
    let dispatch = fmt_json(move || CountingSink(bytes), filter, span_events);
    Candidate {
        dispatch,
        bytes,
        guard: None,
    }
}

/// A sink that keeps what it is given, to show one line per candidate.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Capture {
    fn last_line(&self) -> String {
        let text = String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned();
        text.lines().last().unwrap_or("").to_owned()
    }
}

/// Runs a per-operation scenario: `run(n)` is called under each
/// candidate's dispatcher and returns its timed sample (it may prepare
/// spans before timing). `lines_per_op` is how many lines one operation
/// writes, for bytes per line.
#[allow(
    clippy::too_many_arguments,
    reason = "one call per scenario, read as a table"
)]
fn per_op(
    opts: &Options,
    rows: &mut Vec<Row>,
    id: &'static str,
    what: &'static str,
    n: u64,
    lines_per_op: u64,
    dynlog: Candidate,
    fmt: Candidate,
    run: impl Fn(u64) -> Sample,
) {
    if !opts.wants(id) {
        return;
    }
    let n = opts.scale(n);
    let cands = [&dynlog, &fmt];

    // Warm-up: buffers, rings, callsite interest, page faults.
    for c in cands {
        tracing::dispatcher::with_default(&c.dispatch, || run(n / 10 + 1));
        c.flush();
    }

    let mut samples: [Vec<Sample>; 2] = [Vec::new(), Vec::new()];
    for round in 0..opts.rounds() {
        for k in 0..2 {
            let which = (k + round) % 2;
            let c = cands[which];
            samples[which].push(tracing::dispatcher::with_default(&c.dispatch, || run(n)));
            c.flush();
        }
    }

    // Bytes per line from a separate short run of each.
    let mut per_line = [0.0; 2];
    if lines_per_op > 0 {
        for (k, c) in cands.iter().enumerate() {
            let before = c.bytes.load(Ordering::Relaxed);
            let m = 1000;
            tracing::dispatcher::with_default(&c.dispatch, || run(m));
            c.flush();
            per_line[k] =
                (c.bytes.load(Ordering::Relaxed) - before) as f64 / (m * lines_per_op) as f64;
        }
    }
    let mut d = summarize(&samples[0]);
    let mut f = summarize(&samples[1]);
    d.bytes_per_line = per_line[0];
    f.bytes_per_line = per_line[1];
    rows.push(Row {
        id,
        what,
        unit: "ns/op",
        dynlog: d,
        fmt: f,
    });
    eprintln!("{id}: done");
}

/// Prints one line of each candidate for a scenario (with `--lines`).
fn show_lines(
    opts: &Options,
    id: &str,
    filter: &str,
    env_filter: Option<&str>,
    span_events: bool,
    run: impl Fn(u64) -> Sample,
) {
    if !opts.lines || !opts.wants(id) {
        return;
    }
    let dyn_capture = Capture::default();
    let (d, guard) = dynlog_json(dyn_capture.clone(), filter, span_events);
    tracing::dispatcher::with_default(&d, || run(1));
    guard.flush();
    let fmt_capture = Capture::default();
    let cap = fmt_capture.clone();
    let f = fmt_json(move || cap.clone(), env_filter, span_events);
    tracing::dispatcher::with_default(&f, || run(1));
    println!("{id} dynlog: {}", dyn_capture.last_line());
    println!("{id} tracing-subscriber: {}", fmt_capture.last_line());
}

fn per_op_scenarios(opts: &Options, rows: &mut Vec<Row>) {
    let text_4k = text_4k();
    let text_escapes = text_escapes();

    per_op(
        opts,
        rows,
        "S1",
        "disabled event (debug!, 5 fields, max level INFO)",
        20_000_000,
        0,
        dynlog_null("info", false),
        fmt_null(None, false),
        |n| timed(n, disabled_event),
    );
    per_op(
        opts,
        rows,
        "S1b",
        "disabled span (debug_span!, entered)",
        20_000_000,
        0,
        dynlog_null("info", false),
        fmt_null(None, false),
        |n| timed(n, disabled_span),
    );
    show_lines(opts, "S2", "info", None, false, |n| {
        timed(n, event_5_fields)
    });
    per_op(
        opts,
        rows,
        "S2",
        "event, 5 fields + message, null sink",
        300_000,
        1,
        dynlog_null("info", false),
        fmt_null(None, false),
        |n| timed(n, event_5_fields),
    );
    let in_three = |n| {
        let spans = three_spans();
        let _a = spans[0].enter();
        let _b = spans[1].enter();
        let _c = spans[2].enter();
        timed(n, event_5_fields)
    };
    show_lines(opts, "S5", "info", None, false, in_three);
    per_op(
        opts,
        rows,
        "S5",
        "event inside 3 entered spans (2+2+1 fields)",
        100_000,
        1,
        dynlog_null("info", false),
        fmt_null(None, false),
        in_three,
    );
    per_op(
        opts,
        rows,
        "S5b",
        "3 spans created, entered, event, closed",
        100_000,
        1,
        dynlog_null("info", false),
        fmt_null(None, false),
        |n| timed(n, spans_per_iteration),
    );
    per_op(
        opts,
        rows,
        "S6",
        "span new+enter+exit+close, 2 fields, span events off",
        500_000,
        0,
        dynlog_null("info", false),
        fmt_null(None, false),
        |n| timed(n, span_lifecycle),
    );
    show_lines(opts, "S6e", "info", None, true, |n| {
        timed(n, span_lifecycle)
    });
    per_op(
        opts,
        rows,
        "S6e",
        "the same with span events on (2 lines per span)",
        200_000,
        2,
        dynlog_null("info", true),
        fmt_null(None, true),
        |n| timed(n, span_lifecycle),
    );
    per_op(
        opts,
        rows,
        "S6r",
        "span with a field recorded, enter, exit, close",
        500_000,
        0,
        dynlog_null("info", false),
        fmt_null(None, false),
        |n| timed(n, span_with_record),
    );
    let targets = "info,my_service::db=debug,h2=error,tower=error,hyper_util=error";
    show_lines(opts, "S11", targets, Some(targets), false, |n| {
        timed(n, filtered_by_target)
    });
    per_op(
        opts,
        rows,
        "S11",
        "event enabled by a target directive (5 directives)",
        300_000,
        1,
        dynlog_null(targets, false),
        fmt_null(Some(targets), false),
        |n| timed(n, filtered_by_target),
    );
    let by_span = "info,[conn{id=7}]=debug";
    let in_conn = |n| {
        let conn = conn_span(7);
        let _c = conn.enter();
        timed(n, debug_event)
    };
    show_lines(opts, "S11s", by_span, Some(by_span), false, in_conn);
    per_op(
        opts,
        rows,
        "S11s",
        "debug event inside a span a span directive enables",
        200_000,
        1,
        dynlog_null(by_span, false),
        fmt_null(Some(by_span), false),
        in_conn,
    );
    let spans_by_span = |n| {
        timed(n, |_| {
            let conn = conn_span(7);
            let _c = conn.enter();
            debug_event(1);
        })
    };
    per_op(
        opts,
        rows,
        "S11t",
        "span matched by a span directive, entered, event, closed",
        100_000,
        1,
        dynlog_null(by_span, false),
        fmt_null(Some(by_span), false),
        spans_by_span,
    );
    let big = |n| timed(n, |_| large_string(&text_4k));
    per_op(
        opts,
        rows,
        "S14a",
        "4 KiB string field",
        100_000,
        1,
        dynlog_null("info", false),
        fmt_null(None, false),
        big,
    );
    let esc = |n| timed(n, |_| escaped_string(&text_escapes));
    show_lines(opts, "S14b", "info", None, false, |n| {
        timed(n, |_| escaped_string("a\"b\\c\nd\u{1}"))
    });
    per_op(
        opts,
        rows,
        "S14b",
        "1 KiB string, every 4th byte escaped",
        100_000,
        1,
        dynlog_null("info", false),
        fmt_null(None, false),
        esc,
    );
    show_lines(opts, "S14c", "info", None, false, |n| {
        timed(n, debug_struct)
    });
    per_op(
        opts,
        rows,
        "S14c",
        "Debug struct + Display value",
        200_000,
        1,
        dynlog_null("info", false),
        fmt_null(None, false),
        |n| timed(n, debug_struct),
    );
}

// ----- files, end to end ----------------------------------------------------------------------

/// Counts lines a non-blocking worker wrote to a file: it writes one line
/// per `write` call, so a call ending in `\n` is one line.
struct LineCountingFile {
    file: File,
    lines: Arc<AtomicU64>,
}

impl Write for LineCountingFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        if n == buf.len() && buf.last() == Some(&b'\n') {
            self.lines.fetch_add(1, Ordering::Release);
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

fn out_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("dynlog-compare");
    std::fs::create_dir_all(&dir).expect("a writable target directory");
    dir
}

fn cpu_seconds() -> f64 {
    // SAFETY: `getrusage` fills the zeroed struct it is given.
    let usage = unsafe {
        let mut u: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut u);
        u
    };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// Lines in `path`; with `parse`, every line must be a JSON object.
fn check_file(path: &Path, parse: bool) -> u64 {
    let reader = io::BufReader::with_capacity(1 << 20, File::open(path).unwrap());
    let mut n = 0;
    for line in reader.lines() {
        let line = line.unwrap();
        if parse {
            let v: serde_json::Value = serde_json::from_str(&line).unwrap();
            assert!(v.is_object(), "not a JSON object: {line}");
        }
        n += 1;
    }
    n
}

/// One end-to-end run: `threads` threads log `n` events in total to a
/// fresh file; the clock stops when every line is in the file.
/// Returns (seconds, CPU seconds, caller ns/event, bytes per line).
fn file_run(dynlog: bool, n: u64, threads: u64, round: usize) -> (f64, f64, f64, f64) {
    let path = out_dir().join(format!(
        "{}-{threads}t-{round}.jsonl",
        if dynlog { "dynlog" } else { "fmt" }
    ));
    let file = File::create(&path).unwrap();
    let lines = Arc::new(AtomicU64::new(0));
    let (dispatch, dyn_guard, fmt_guard) = if dynlog {
        let (d, g) = dynlog_json(file, "info", false);
        (d, Some(g), None)
    } else {
        let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
            .lossy(false)
            .finish(LineCountingFile {
                file,
                lines: lines.clone(),
            });
        (fmt_json(writer, None, false), None, Some(guard))
    };
    let barrier = Barrier::new(threads as usize + 1);
    let per_thread = n / threads;
    let cpu0 = cpu_seconds();
    let (elapsed, caller) = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let dispatch = &dispatch;
                let barrier = &barrier;
                s.spawn(move || {
                    tracing::dispatcher::with_default(dispatch, || {
                        barrier.wait();
                        let start = Instant::now();
                        for i in 0..per_thread {
                            event_5_fields(i);
                        }
                        start.elapsed()
                    })
                })
            })
            .collect();
        barrier.wait();
        let start = Instant::now();
        let caller: Duration = handles.into_iter().map(|h| h.join().unwrap()).sum();
        if let Some(g) = &dyn_guard {
            g.flush();
        } else {
            while lines.load(Ordering::Acquire) < per_thread * threads {
                std::thread::sleep(Duration::from_micros(200));
            }
        }
        (start.elapsed(), caller)
    });
    let cpu = cpu_seconds() - cpu0;
    drop(fmt_guard);
    drop(dyn_guard);
    drop(dispatch);
    let written = check_file(&path, round == 0);
    assert_eq!(written, per_thread * threads, "lines in {}", path.display());
    let bytes = std::fs::metadata(&path).unwrap().len() as f64 / written as f64;
    std::fs::remove_file(&path).unwrap();
    let caller_ns = caller.as_nanos() as f64 / (per_thread * threads) as f64;
    (elapsed.as_secs_f64(), cpu, caller_ns, bytes)
}

fn file_scenarios(opts: &Options, rows: &mut Vec<Row>) {
    for (id, what, threads) in [
        ("S7", "1M events to a file, flushed, 1 thread (s per 1M)", 1),
        (
            "S7b",
            "1M events to a file, flushed, 2 threads x 500k (s per 1M)",
            2,
        ),
    ] {
        if !opts.wants(id) {
            continue;
        }
        let n = opts.scale(1_000_000);
        let rounds = if opts.quick { 2 } else { 5 };
        let mut results: [Vec<(f64, f64, f64, f64)>; 2] = [Vec::new(), Vec::new()];
        for round in 0..rounds {
            for k in 0..2 {
                let which = (k + round) % 2;
                results[which].push(file_run(which == 0, n, threads, round));
            }
        }
        let summary = |rs: &Vec<(f64, f64, f64, f64)>| {
            let scale = 1_000_000.0 / n as f64;
            let mut secs: Vec<f64> = rs.iter().map(|r| r.0 * scale).collect();
            let mut cpu: Vec<f64> = rs.iter().map(|r| r.1 * scale).collect();
            let mut caller: Vec<f64> = rs.iter().map(|r| r.2).collect();
            let m = median(&mut secs);
            Summary {
                median: m,
                min: secs[0],
                max: secs[secs.len() - 1],
                allocs_per_op: f64::NAN,
                bytes_per_line: rs[0].3,
                extra: format!(
                    "CPU {:.2} s, caller {:.0} ns/event",
                    median(&mut cpu),
                    median(&mut caller)
                ),
            }
        };
        rows.push(Row {
            id,
            what,
            unit: "s",
            dynlog: summary(&results[0]),
            fmt: summary(&results[1]),
        });
        eprintln!("{id}: done");
    }
}

// ----- intermittent logging -----------------------------------------------------------

/// S10: bursts of 20 events, then a 1 ms sleep; the time of each burst
/// divided by 20, as percentiles. Both write to a file through their
/// background writer.
fn intermittent(opts: &Options, rows: &mut Vec<Row>) {
    if !opts.wants("S10") {
        return;
    }
    let bursts = if opts.quick { 50 } else { 1000 };
    let mut per_event: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
    let rounds = if opts.quick { 1 } else { 3 };
    for round in 0..rounds {
        for k in 0..2 {
            let which = (k + round) % 2;
            let path = out_dir().join(format!("intermittent-{which}.jsonl"));
            let file = File::create(&path).unwrap();
            let (dispatch, dyn_guard, fmt_guard) = if which == 0 {
                let (d, g) = dynlog_json(file, "info", false);
                (d, Some(g), None)
            } else {
                let (w, g) = tracing_appender::non_blocking::NonBlockingBuilder::default()
                    .lossy(false)
                    .finish(file);
                (fmt_json(w, None, false), None, Some(g))
            };
            tracing::dispatcher::with_default(&dispatch, || {
                for b in 0..bursts {
                    let start = Instant::now();
                    for i in 0..20 {
                        event_5_fields(b * 20 + i);
                    }
                    per_event[which].push(start.elapsed().as_nanos() as f64 / 20.0);
                    std::thread::sleep(Duration::from_millis(1));
                }
            });
            drop(fmt_guard);
            drop(dyn_guard);
            std::fs::remove_file(&path).unwrap();
        }
    }
    let pct = |v: &mut Vec<f64>, p: f64| {
        v.sort_by(f64::total_cmp);
        v[((v.len() as f64 - 1.0) * p) as usize]
    };
    let summary = |v: &mut Vec<f64>| Summary {
        median: pct(v, 0.5),
        min: v[0],
        max: v[v.len() - 1],
        allocs_per_op: f64::NAN,
        bytes_per_line: f64::NAN,
        extra: format!("p99 {:.0} ns, p99.9 {:.0} ns", pct(v, 0.99), pct(v, 0.999)),
    };
    let [mut d, mut f] = per_event;
    rows.push(Row {
        id: "S10",
        what: "bursts of 20 events then 1 ms sleep, to a file (p50 ns/event)",
        unit: "ns/op",
        dynlog: summary(&mut d),
        fmt: summary(&mut f),
    });
    eprintln!("S10: done");
}

// ----- memory per live span ------------------------------------------------------------

/// S8: net heap bytes retained per live span (2 fields) while 100,000
/// are open, registry pages included.
fn memory_per_span(opts: &Options, rows: &mut Vec<Row>) {
    if !opts.wants("S8") {
        return;
    }
    let n = opts.scale(100_000);
    let measure = |dispatch: &Dispatch| {
        tracing::dispatcher::with_default(dispatch, || {
            let mut spans = Vec::with_capacity(n as usize);
            let before = ALLOC_BYTES.load(Ordering::SeqCst) as i64
                - FREED_BYTES.load(Ordering::SeqCst) as i64;
            for i in 0..n {
                spans.push(tracing::info_span!(
                    "conn",
                    peer = "10.0.4.65:41959",
                    id = i
                ));
            }
            let after = ALLOC_BYTES.load(Ordering::SeqCst) as i64
                - FREED_BYTES.load(Ordering::SeqCst) as i64;
            drop(spans);
            (after - before) as f64 / n as f64
        })
    };
    let d = dynlog_null("info", false);
    let f = fmt_null(None, false);
    let dyn_bytes = measure(&d.dispatch);
    let fmt_bytes = measure(&f.dispatch);
    let one = |b: f64| Summary {
        median: b,
        min: b,
        max: b,
        allocs_per_op: f64::NAN,
        bytes_per_line: f64::NAN,
        extra: String::new(),
    };
    rows.push(Row {
        id: "S8",
        what: "heap retained per live span, 2 fields, 100k open",
        unit: "B/span",
        dynlog: one(dyn_bytes),
        fmt: one(fmt_bytes),
    });
    eprintln!("S8: done");
}

// ----- report ------------------------------------------------------------------------

fn command(cmd: &str, args: &[&str]) -> String {
    std::process::Command::new(cmd)
        .args(args)
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

fn environment() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let clock =
        std::fs::read_to_string("/sys/devices/system/clocksource/clocksource0/current_clocksource")
            .unwrap_or_default();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    format!(
        "{cpu}, {cores} vCPUs, kernel {}, clocksource {}, {}, commit {}, load average {}",
        kernel.trim(),
        clock.trim(),
        command("rustc", &["--version"]),
        command(
            "git",
            &[
                "-C",
                env!("CARGO_MANIFEST_DIR"),
                "rev-parse",
                "--short",
                "HEAD"
            ]
        ),
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" "),
    )
}

fn fmt_num(v: f64) -> String {
    if v.is_nan() {
        "-".to_owned()
    } else if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn report(rows: &[Row]) {
    println!();
    println!("{}", environment());
    println!();
    println!("| id | scenario | unit | dynlog median (min-max) | tracing-subscriber median (min-max) | ratio | B/line dynlog / ts | allocs/op dynlog / ts | notes |");
    println!("|---|---|---|---|---|---|---|---|---|");
    for r in rows {
        let ratio = r.fmt.median / r.dynlog.median;
        let notes = match (r.dynlog.extra.is_empty(), r.fmt.extra.is_empty()) {
            (true, true) => String::new(),
            _ => format!("dynlog: {}; ts: {}", r.dynlog.extra, r.fmt.extra),
        };
        println!(
            "| {} | {} | {} | {} ({}-{}) | {} ({}-{}) | {:.1}x | {} / {} | {} / {} | {} |",
            r.id,
            r.what,
            r.unit,
            fmt_num(r.dynlog.median),
            fmt_num(r.dynlog.min),
            fmt_num(r.dynlog.max),
            fmt_num(r.fmt.median),
            fmt_num(r.fmt.min),
            fmt_num(r.fmt.max),
            ratio,
            fmt_num(r.dynlog.bytes_per_line),
            fmt_num(r.fmt.bytes_per_line),
            fmt_num(r.dynlog.allocs_per_op),
            fmt_num(r.fmt.allocs_per_op),
            notes,
        );
    }
    println!();
    println!("ratio = tracing-subscriber / dynlog (above 1: dynlog is faster or smaller).");
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let opts = Options {
        quick: args.iter().any(|a| a == "--quick"),
        lines: args.iter().any(|a| a == "--lines"),
        filter: args.iter().find(|a| !a.starts_with("--")).cloned(),
    };
    if args.iter().any(|a| a == "--cpu") {
        CPU_CLOCK.store(true, Ordering::Relaxed);
    }
    let mut rows = Vec::new();
    per_op_scenarios(&opts, &mut rows);
    memory_per_span(&opts, &mut rows);
    intermittent(&opts, &mut rows);
    file_scenarios(&opts, &mut rows);
    report(&rows);
}
