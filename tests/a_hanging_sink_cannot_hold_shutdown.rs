//! A sink that hangs cannot hold shutdown: dropping the guard returns after
//! the shutdown timeout, the lines not written by then are counted as
//! abandoned and reported once on stderr, and later lines are counted as
//! abandoned without waiting again. The same holds at process exit.
//!
//! Each case runs this binary again as a child (`--child MODE`, own `main`
//! with `harness = false`), because the report goes to the process's
//! stderr and a hung writer thread stays behind until the process ends.

mod common;

use std::io::{self, Write};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{child_mode, run_child};

const TIMEOUT_MS: u64 = 200;

fn main() {
    if let Some(mode) = child_mode() {
        child(&mode);
        return;
    }
    a_sink_that_never_returns_costs_the_timeout_and_no_more();
    println!("ok: a sink that never returns costs the shutdown timeout and no more");
    a_sink_that_returns_late_writes_nothing_more();
    println!("ok: a sink that returns after the timeout writes nothing more");
    a_hung_sink_cannot_hold_exit();
    println!("ok: a hung sink cannot hold the process exit");
}

fn a_sink_that_never_returns_costs_the_timeout_and_no_more() {
    let out = run_child("never-returns", &[]);
    assert_eq!(out.status.code(), Some(0), "stderr:\n{}", out.stderr);

    // The first line is stuck in the sink, ten more are queued: eleven at
    // shutdown, then five logged after the guard is gone.
    assert_eq!(
        out.stderr.lines().collect::<Vec<_>>(),
        ["dynlog: the sink hung for 200 ms at shutdown; 11 lines abandoned, and later lines are counted as abandoned"]
    );
    let stdout: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(
        stdout[0],
        "stats written=0 dropped=0 lost=0 abandoned=16 sink_errors=0"
    );
    let drop_ms: u64 = stdout[1]
        .strip_prefix("drop_ms=")
        .and_then(|ms| ms.parse().ok())
        .expect("the child prints how long the drop took");
    assert!(
        drop_ms >= TIMEOUT_MS,
        "the drop waited {drop_ms} ms, less than the timeout"
    );
    println!("measured: dropping the guard took {drop_ms} ms with a {TIMEOUT_MS} ms timeout");
}

fn a_sink_that_returns_late_writes_nothing_more() {
    let out = run_child("returns-late", &[]);
    assert_eq!(out.status.code(), Some(0), "stderr:\n{}", out.stderr);
    assert_eq!(
        out.stderr.lines().collect::<Vec<_>>(),
        ["dynlog: the sink hung for 200 ms at shutdown; 11 lines abandoned, and later lines are counted as abandoned"]
    );

    // The stuck line reached the sink after the timeout but was already
    // counted as abandoned; the queued ten were never written.
    assert_eq!(
        out.stdout.lines().collect::<Vec<_>>(),
        [
            "stats written=0 dropped=0 lost=0 abandoned=13 sink_errors=0",
            "sink_lines=1 seqs=[0]"
        ]
    );
}

fn a_hung_sink_cannot_hold_exit() {
    let out = run_child("hangs-at-exit", &[]);
    assert_eq!(out.status.code(), Some(7), "stderr:\n{}", out.stderr);
    assert_eq!(
        out.stderr.lines().collect::<Vec<_>>(),
        ["dynlog: the sink hung for 200 ms at exit; 11 lines abandoned, and later lines are counted as abandoned"]
    );
}

/// A sink whose first write signals `started` and then sleeps for `hold`
/// (`None`: forever); it keeps what it is given.
struct StuckSink {
    started: mpsc::Sender<()>,
    hold: Option<Duration>,
    first: bool,
    kept: Arc<Mutex<Vec<u8>>>,
}

impl Write for StuckSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if std::mem::take(&mut self.first) {
            let _ = self.started.send(());
            match self.hold {
                Some(hold) => std::thread::sleep(hold),
                None => loop {
                    std::thread::sleep(Duration::from_secs(3600));
                },
            }
        }
        self.kept.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn stats_line(s: dynlog::Stats) -> String {
    format!(
        "stats written={} dropped={} lost={} abandoned={} sink_errors={}",
        s.lines_written, s.dropped, s.lines_lost, s.abandoned, s.sink_errors
    )
}

/// Logs one line, waits until the sink is stuck on it, then queues ten.
fn get_the_sink_stuck(started: &mpsc::Receiver<()>) {
    tracing::info!(seq = 0, "the line the sink is stuck on");
    started
        .recv_timeout(Duration::from_secs(10))
        .expect("the writer reaches the sink");
    for seq in 1..=10 {
        tracing::info!(seq, "a queued line");
    }
}

fn child(mode: &str) {
    let (started_tx, started) = mpsc::channel();
    let kept = Arc::new(Mutex::new(Vec::new()));
    let sink = StuckSink {
        started: started_tx,
        hold: (mode == "returns-late").then_some(Duration::from_millis(600)),
        first: true,
        kept: kept.clone(),
    };
    let builder = dynlog::Builder::new()
        .json(true)
        .writer(sink)
        .shutdown_timeout(Duration::from_millis(TIMEOUT_MS));

    if mode == "hangs-at-exit" {
        let guard = builder.install().expect("install dynlog");
        std::mem::forget(guard);
        get_the_sink_stuck(&started);
        std::process::exit(7);
    }

    let (subscriber, guard) = builder.build().expect("build dynlog");
    let dispatch = tracing::Dispatch::new(subscriber);
    let _default = tracing::dispatcher::set_default(&dispatch);
    let stats = || {
        dispatch
            .downcast_ref::<dynlog::DynlogSubscriber>()
            .expect("dynlog's subscriber")
            .stats()
    };
    get_the_sink_stuck(&started);
    let begin = Instant::now();
    drop(guard);
    let drop_ms = begin.elapsed().as_millis();
    match mode {
        "never-returns" => {
            for seq in 11..=15 {
                tracing::info!(seq, "a line after shutdown");
            }
            println!("{}", stats_line(stats()));
            println!("drop_ms={drop_ms}");
        }
        "returns-late" => {
            // Let the sink come back, then log two more lines.
            std::thread::sleep(Duration::from_millis(800));
            for seq in 11..=12 {
                tracing::info!(seq, "a line after shutdown");
            }
            println!("{}", stats_line(stats()));
            let text = String::from_utf8(kept.lock().unwrap().clone()).expect("UTF-8 lines");
            let seqs: Vec<u64> = text
                .lines()
                .map(|line| {
                    let value: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
                    value["seq"].as_u64().expect("a seq field")
                })
                .collect();
            println!("sink_lines={} seqs={seqs:?}", seqs.len());
        }
        other => panic!("unknown child mode {other:?}"),
    }
    std::process::exit(0);
}
