//! The writer thread neither spins nor sits on lines: a line from an
//! otherwise idle thread reaches the sink without any flush (the writer
//! sleeps at most 40 ms, and a producer whose ring is half full wakes it),
//! and over ten idle seconds the writer uses next to no CPU time.
//!
//! Measured figures are printed (run with `--nocapture`); the assertions
//! are that every line arrives without a flush, and bounds on CPU time and
//! wake-ups that a spinning writer would break by two orders of magnitude.
//! The two tests run one at a time, so each finds its own writer thread.

use std::collections::BTreeSet;
use std::io::{self, Write};
use std::sync::mpsc;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Ids of this process's threads named `dynlog-writer`.
fn writer_tids() -> BTreeSet<u64> {
    std::fs::read_dir("/proc/self/task")
        .expect("read /proc/self/task")
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let comm = std::fs::read_to_string(entry.path().join("comm")).ok()?;
            let tid = entry.file_name().to_str()?.parse().ok()?;
            (comm.trim_end() == "dynlog-writer").then_some(tid)
        })
        .collect()
}

/// Builds a pipeline writing to `sink` and returns its writer thread's id
/// (waiting, at most ten seconds, until the new thread has named itself).
fn build_and_find_writer(
    sink: impl Write + Send + 'static,
) -> (tracing::Dispatch, dynlog::Guard, u64) {
    let before = writer_tids();
    let (subscriber, guard) = dynlog::Builder::new()
        .json(true)
        .writer(sink)
        .build()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let new: Vec<u64> = writer_tids().difference(&before).copied().collect();
        match new[..] {
            [tid] => return (tracing::Dispatch::new(subscriber), guard, tid),
            [] if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(1)),
            _ => panic!("expected one new writer thread, found {new:?}"),
        }
    }
}

/// CPU time (user + system) of thread `tid`, in milliseconds.
fn cpu_ms(tid: u64) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat"))
        .expect("read the thread's stat");
    // Fields after the command name (which may hold spaces) start at field 3.
    let rest = &stat[stat.rfind(')').expect("a command name") + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    // SAFETY: `sysconf` only reads a system constant.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
    ticks * 1000 / per_second
}

/// Voluntary context switches of thread `tid`: how often it went to sleep.
fn sleeps(tid: u64) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/self/task/{tid}/status"))
        .expect("read the thread's status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("voluntary_ctxt_switches:"))
        .and_then(|n| n.trim().parse().ok())
        .expect("a voluntary_ctxt_switches line")
}

/// A sink that reports the time of every write.
struct TimedSink(mpsc::Sender<Instant>);

impl Write for TimedSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        for _ in buf.iter().filter(|&&b| b == b'\n') {
            let _ = self.0.send(Instant::now());
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_single_line_reaches_the_sink_without_a_flush() {
    let _serial = serial();
    let (tx, rx) = mpsc::channel();
    let (dispatch, _guard, _tid) = build_and_find_writer(TimedSink(tx));

    // Half the lines come from this thread, half from threads that log
    // once and then block until the end (they never log again).
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let release_rx = std::sync::Arc::new(Mutex::new(release_rx));
    let mut latencies = Vec::new();
    for i in 0..20u64 {
        std::thread::sleep(Duration::from_millis(37 + (i * 53) % 200));
        let sent = Instant::now();
        if i % 2 == 0 {
            tracing::dispatcher::with_default(&dispatch, || {
                tracing::info!(i, "one line from an idle thread")
            });
        } else {
            let dispatch = dispatch.clone();
            let release_rx = release_rx.clone();
            std::thread::spawn(move || {
                tracing::dispatcher::with_default(&dispatch, || {
                    tracing::info!(i, "one line, then silence")
                });
                let _ = release_rx.lock().unwrap().recv();
            });
        }
        let arrived = rx
            .recv_timeout(Duration::from_secs(5))
            .expect("the line reaches the sink without a flush");
        latencies.push(arrived.saturating_duration_since(sent));
    }
    drop(release_tx);
    latencies.sort();
    println!(
        "measured: latency of a single line from an idle thread over 20 lines: min {:?}, median {:?}, max {:?}",
        latencies[0], latencies[10], latencies[19]
    );
}

#[test]
fn an_idle_writer_uses_next_to_no_cpu() {
    let _serial = serial();
    let (dispatch, guard, tid) = build_and_find_writer(io::sink());
    tracing::dispatcher::with_default(&dispatch, || {
        tracing::info!("one line, then ten idle seconds")
    });
    guard.flush();

    let cpu_before = cpu_ms(tid);
    let sleeps_before = sleeps(tid);
    std::thread::sleep(Duration::from_secs(10));
    let cpu = cpu_ms(tid) - cpu_before;
    let wakeups = sleeps(tid) - sleeps_before;
    println!("measured: idle writer over 10 s: {cpu} ms of CPU time, {wakeups} wake-ups");

    // A spinning writer would use about 10,000 ms and wake millions of
    // times; sleeping 40 ms at a time gives 250 wake-ups.
    assert!(cpu <= 100, "the idle writer used {cpu} ms of CPU in 10 s");
    assert!(
        wakeups <= 500,
        "the idle writer woke {wakeups} times in 10 s"
    );
}
