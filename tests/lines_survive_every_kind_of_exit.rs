//! Every line accepted before the process ends reaches the sink, however it
//! ends: `main` returns (with the guard dropped or leaked), `exit` is called,
//! a panic unwinds or aborts, or the guard is dropped early and logging goes
//! on.
//!
//! Each case runs this binary again as a child (`--child MODE`) that
//! installs dynlog with `dynlog::init()` (JSON lines on stderr), logs from
//! three threads and ends in that way; the parent checks that every line is
//! there once, in order per thread. The panic cases install with
//! `Builder::from_env().stdout()` instead: std prints the panic message
//! with its own unlocked writes to stderr, which can land inside a large
//! batch written to the same pipe.
//!
//! The binary has its own `main` (`harness = false`), so the child's panics
//! and exits are the real ones. `panic = "abort"` cannot be set per test
//! (it is a profile setting and would rebuild every dependency), and
//! `std::panic::always_abort` is unstable; the abort child instead sets a
//! panic hook after `dynlog::init()` that runs the previous hook (dynlog's,
//! which flushes) and then calls `std::process::abort()`, which is what a
//! `panic = "abort"` build does after the hook.

mod common;

use std::collections::BTreeMap;
use std::os::unix::process::ExitStatusExt;

use common::{child_mode, run_child};

const THREADS: u64 = 3;
const LINES_PER_THREAD: u64 = 3000;

fn main() {
    if let Some(mode) = child_mode() {
        child(&mode);
        return;
    }
    let cases: &[(&str, &str, Expected)] = &[
        (
            "main-returns",
            "main returns with the guard in scope",
            Expected::Code(0),
        ),
        (
            "main-returns-guard-leaked",
            "main returns with the guard leaked",
            Expected::Code(0),
        ),
        (
            "process-exit",
            "std::process::exit with the guard alive",
            Expected::Code(3),
        ),
        (
            "panic-unwind",
            "a panic in main that unwinds",
            Expected::Code(101),
        ),
        (
            "panic-unwind-guard-leaked",
            "a panic that unwinds, guard leaked",
            Expected::Code(101),
        ),
        (
            "panic-abort",
            "a panic followed by abort",
            Expected::Signal(libc::SIGABRT),
        ),
        (
            "guard-dropped-early",
            "the guard dropped before logging",
            Expected::Code(0),
        ),
        (
            "guard-dropped-early-then-exit",
            "guard dropped, then exit",
            Expected::Code(4),
        ),
    ];
    for (mode, what, expected) in cases {
        check(mode, expected);
        println!("ok: lines survive {what}");
    }
}

#[derive(Debug, PartialEq)]
enum Expected {
    Code(i32),
    Signal(i32),
}

fn check(mode: &str, expected: &Expected) {
    let out = run_child(mode, &[("DYN_LOGGING_JSONL", "1"), ("DYN_LOG", "info")]);
    let got = match (out.status.code(), out.status.signal()) {
        (Some(code), _) => Expected::Code(code),
        (None, Some(signal)) => Expected::Signal(signal),
        (None, None) => panic!("{mode}: no exit code and no signal"),
    };
    assert_eq!(
        &got, expected,
        "{mode}: exit status; stderr:\n{}",
        out.stderr
    );

    // Every (thread, seq) once, in order per thread.
    let mut next: BTreeMap<u64, u64> = BTreeMap::new();
    let mut json_lines = 0;
    let sink = if mode.starts_with("panic") {
        &out.stdout
    } else {
        &out.stderr
    };
    for line in sink.lines().filter(|l| l.starts_with('{')) {
        json_lines += 1;
        let value: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{mode}: not JSON ({e}): {line}"));
        assert_eq!(
            value["target"], "lines_survive_every_kind_of_exit",
            "{mode}: {line}"
        );
        let thread = value["thread"].as_u64().expect("a thread field");
        let seq = value["seq"].as_u64().expect("a seq field");
        let want = next.entry(thread).or_insert(0);
        assert_eq!(
            seq, *want,
            "{mode}: thread {thread} out of order or missing a line"
        );
        *want += 1;
    }
    let expected_lines: BTreeMap<u64, u64> = (0..THREADS).map(|t| (t, LINES_PER_THREAD)).collect();
    assert_eq!(next, expected_lines, "{mode}: lines per thread");
    assert_eq!(json_lines, THREADS * LINES_PER_THREAD);

    // Nothing from dynlog itself (no abandoned lines, no sink errors).
    let notices: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.starts_with("dynlog:"))
        .collect();
    assert_eq!(notices, Vec::<&str>::new(), "{mode}: dynlog notices");
    if mode.starts_with("panic") {
        assert!(
            out.stderr.contains("panicked at")
                && out.stderr.contains("the child panics on purpose"),
            "{mode}: the panic message; stderr:\n{}",
            out.stderr
        );
    }
}

/// Logs `LINES_PER_THREAD` lines from each of `THREADS` threads (thread 0
/// is the calling thread) and returns once all are accepted.
fn log_from_threads() {
    let workers: Vec<_> = (1..THREADS)
        .map(|t| std::thread::spawn(move || log_lines(t)))
        .collect();
    log_lines(0);
    for worker in workers {
        worker.join().expect("a logging thread");
    }
}

fn log_lines(thread: u64) {
    for seq in 0..LINES_PER_THREAD {
        tracing::info!(thread, seq, "a line that must survive the exit");
    }
}

fn child(mode: &str) {
    let guard = if mode.starts_with("panic") {
        dynlog::Builder::from_env()
            .stdout()
            .install()
            .expect("install dynlog")
    } else {
        dynlog::init()
    };
    match mode {
        "main-returns" => {
            log_from_threads();
            drop(guard);
        }
        "main-returns-guard-leaked" => {
            std::mem::forget(guard);
            log_from_threads();
        }
        "process-exit" => {
            log_from_threads();
            std::process::exit(3);
        }
        "panic-unwind" => {
            log_from_threads();
            panic!("the child panics on purpose");
        }
        "panic-unwind-guard-leaked" => {
            std::mem::forget(guard);
            log_from_threads();
            panic!("the child panics on purpose");
        }
        "panic-abort" => {
            std::mem::forget(guard);
            let previous = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                previous(info);
                std::process::abort();
            }));
            log_from_threads();
            panic!("the child panics on purpose");
        }
        "guard-dropped-early" => {
            drop(guard);
            log_from_threads();
        }
        "guard-dropped-early-then-exit" => {
            drop(guard);
            log_from_threads();
            std::process::exit(4);
        }
        other => panic!("unknown child mode {other:?}"),
    }
}
