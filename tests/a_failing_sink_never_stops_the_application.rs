//! A sink that fails never stops the application: a closed pipe (stdout or
//! stderr read by a process that went away), a full disk, an I/O error,
//! each reported once on stderr, counted in `dynlog::stats()`, and followed
//! by a `lines lost` notice as soon as the sink works again. `SIGPIPE`
//! does not kill the process, even when it was at its default before
//! dynlog was installed.
//!
//! Each case runs this binary again as a child (`--child MODE`, own `main`
//! with `harness = false`): the reports go to the process's stderr, and the
//! closed pipe needs a real pipe.

mod common;

use std::io::{self, BufRead, BufReader, Read, Write};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use common::{child_mode, normalize, run_child, spawn_child, wait_child};

fn main() {
    if let Some(mode) = child_mode() {
        child(&mode);
        return;
    }
    a_closed_stdout_is_counted_and_sigpipe_does_not_kill();
    println!("ok: a closed stdout pipe is counted and SIGPIPE does not kill");
    a_closed_stderr_is_counted();
    println!("ok: a closed stderr pipe is counted");
    a_full_disk_and_an_io_error_are_reported_once_each_and_recovered_from();
    println!("ok: a full disk and an I/O error are reported once each and recovered from");
}

/// Starts `mode`, reads the first line from the child's `stdout` (or
/// `stderr`), closes that pipe, tells the child to go on, and waits.
fn run_with_closed_pipe(mode: &str, close_stderr: bool) -> common::ChildOutput {
    let mut child = spawn_child(mode, &[("DYN_LOGGING_JSONL", "1")]);
    let pipe: Box<dyn Read + Send> = if close_stderr {
        Box::new(child.stderr.take().expect("piped stderr"))
    } else {
        Box::new(child.stdout.take().expect("piped stdout"))
    };
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut first = String::new();
        {
            let mut reader = BufReader::new(pipe);
            let _ = reader.read_line(&mut first);
            // The reader, and with it our end of the pipe, is dropped here.
        }
        let _ = tx.send(first);
    });
    let first = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the child's first line");
    assert_eq!(
        normalize(first.trim_end()),
        r#"{"time":"<T>","level":"INFO","file":"tests/a_failing_sink_never_stops_the_application.rs","line":LINE,"target":"a_failing_sink_never_stops_the_application","message":"before the pipe closes","seq":0}"#
            .replace("LINE", &log_first_line().to_string())
    );
    let mut stdin = child.stdin.take().expect("piped stdin");
    stdin.write_all(b"go\n").expect("tell the child to go on");
    drop(stdin);
    wait_child(child, Duration::from_secs(60))
}

fn a_closed_stdout_is_counted_and_sigpipe_does_not_kill() {
    let out = run_with_closed_pipe("closed-stdout", false);
    assert_eq!(out.status.code(), Some(0), "stderr:\n{}", out.stderr);
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(
        lines[..3],
        [
            "dynlog: writing log lines failed: broken pipe; lines are counted as lost until the sink recovers",
            "sigpipe ignored=true",
            "stats written=1 dropped=0 lost=100 abandoned=0",
        ]
    );
    assert_sink_errors(lines[3], 1, 100);
}

fn a_closed_stderr_is_counted() {
    let out = run_with_closed_pipe("closed-stderr", true);
    assert_eq!(out.status.code(), Some(0), "stdout:\n{}", out.stdout);

    // The report went to the closed stderr; the counters say it all.
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(
        lines[..1],
        ["stats written=1 dropped=0 lost=100 abandoned=0"]
    );
    assert_sink_errors(lines[1], 1, 100);
}

fn a_full_disk_and_an_io_error_are_reported_once_each_and_recovered_from() {
    let out = run_child("flaky", &[]);
    assert_eq!(out.status.code(), Some(0), "stderr:\n{}", out.stderr);
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(
        lines[..3],
        [
            "dynlog: writing log lines failed: no space left on device; lines are counted as lost until the sink recovers",
            "dynlog: writing log lines failed: input/output error; lines are counted as lost until the sink recovers",
            "stats written=9 dropped=0 lost=17 abandoned=0",
        ]
    );
    assert_sink_errors(lines[3], 2, 17);

    // Each `lines lost` notice stands where its gap is.
    let event = |seq: u64| {
        format!(
            r#"{{"time":"<T>","level":"INFO","file":"tests/a_failing_sink_never_stops_the_application.rs","line":{},"target":"a_failing_sink_never_stops_the_application","message":"a line","seq":{seq}}}"#,
            log_flaky(0)
        )
    };
    let lost = |n: u64| {
        format!(
            r#"{{"time":"<T>","level":"WARN","target":"dynlog","message":"lines lost","lost":{n}}}"#
        )
    };
    let mut expected = vec![event(0), lost(15)];
    expected.extend((16..=20).map(event));
    expected.push(lost(2));
    expected.push(event(23));
    let got: Vec<String> = out.stdout.lines().map(normalize).collect();
    assert_eq!(got, expected);
}

/// Checks a `sink_errors=N` line: one failed write at least, at most one
/// per line (how lines are batched depends on when the writer wakes).
fn assert_sink_errors(line: &str, min: u64, max: u64) {
    let n: u64 = line
        .strip_prefix("sink_errors=")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("expected sink_errors=N, found {line:?}"));
    assert!(
        (min..=max).contains(&n),
        "sink_errors={n}, expected {min} to {max}"
    );
}

fn stats_lines(s: dynlog::Stats) -> String {
    format!(
        "stats written={} dropped={} lost={} abandoned={}\nsink_errors={}",
        s.lines_written, s.dropped, s.lines_lost, s.abandoned, s.sink_errors
    )
}

/// Logs the child's first line; returns the event's line number (the
/// parent, with no subscriber, calls it only for that).
fn log_first_line() -> u32 {
    tracing::info!(seq = 0, "before the pipe closes");
    line!() - 1
}

fn wait_for_the_parent() {
    let mut go = String::new();
    let _ = io::stdin().read_line(&mut go);
}

fn sigpipe_is_ignored() -> bool {
    // SAFETY: a zeroed `sigaction` is a valid out-parameter; a null new
    // action only queries the current one.
    unsafe {
        let mut old: libc::sigaction = std::mem::zeroed();
        libc::sigaction(libc::SIGPIPE, std::ptr::null(), &mut old) == 0
            && old.sa_sigaction == libc::SIG_IGN
    }
}

/// A sink that works, fails with "no space left" or fails with an I/O
/// error, as the test says; it keeps what it accepts.
struct FlakySink {
    state: Arc<AtomicU8>,
    kept: Arc<Mutex<Vec<u8>>>,
}

const WORKS: u8 = 0;
const DISK_FULL: u8 = 1;
const IO_ERROR: u8 = 2;

impl Write for FlakySink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self.state.load(Ordering::SeqCst) {
            DISK_FULL => Err(io::Error::from_raw_os_error(libc::ENOSPC)),
            IO_ERROR => Err(io::Error::from_raw_os_error(libc::EIO)),
            _ => {
                self.kept.lock().unwrap().extend_from_slice(buf);
                Ok(buf.len())
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Logs one line of the flaky case; returns the event's line number.
fn log_flaky(seq: u64) -> u32 {
    tracing::info!(seq, "a line");
    line!() - 1
}

fn child(mode: &str) {
    match mode {
        "closed-stdout" | "closed-stderr" => {
            // As in a host that keeps SIGPIPE at its default: dynlog must
            // turn it off, or the first write to the closed pipe kills us.
            // SAFETY: setting a signal's disposition to its default has no
            // memory effects.
            unsafe {
                libc::signal(libc::SIGPIPE, libc::SIG_DFL);
            }
            let guard = if mode == "closed-stdout" {
                dynlog::Builder::from_env()
                    .stdout()
                    .install()
                    .expect("install dynlog")
            } else {
                dynlog::init()
            };
            log_first_line();
            guard.flush();
            wait_for_the_parent();
            for seq in 1..=100 {
                tracing::info!(seq, "after the pipe closed");
            }
            guard.flush();
            if mode == "closed-stdout" {
                eprintln!("sigpipe ignored={}", sigpipe_is_ignored());
                eprintln!("{}", stats_lines(dynlog::stats()));
            } else {
                println!("{}", stats_lines(dynlog::stats()));
            }
        }
        "flaky" => {
            let state = Arc::new(AtomicU8::new(WORKS));
            let kept = Arc::new(Mutex::new(Vec::new()));
            let sink = FlakySink {
                state: state.clone(),
                kept: kept.clone(),
            };
            let guard = dynlog::Builder::new()
                .json(true)
                .writer(sink)
                .install()
                .expect("install dynlog");
            let steps: &[(u8, std::ops::RangeInclusive<u64>)] = &[
                (WORKS, 0..=0),
                (DISK_FULL, 1..=10),
                (DISK_FULL, 11..=15),
                (WORKS, 16..=20),
                (IO_ERROR, 21..=22),
                (WORKS, 23..=23),
            ];
            for (how, seqs) in steps {
                state.store(*how, Ordering::SeqCst);
                for seq in seqs.clone() {
                    log_flaky(seq);
                }
                guard.flush();
            }
            eprintln!("{}", stats_lines(dynlog::stats()));
            print!(
                "{}",
                String::from_utf8(kept.lock().unwrap().clone()).expect("UTF-8 lines")
            );
        }
        other => panic!("unknown child mode {other:?}"),
    }
}
