//! A sink slower than the producers: in block mode (the default) producers
//! wait and no line is lost, with memory bounded by the rings and one
//! batch; in drop mode (from code, the environment or the TOML file)
//! producers never wait, and once the sink catches up a `lines dropped`
//! notice in the configured format says how many lines were lost, so that
//! the lines written plus those dropped are the lines emitted.
//!
//! The tests run one at a time (they measure the process's memory and one
//! sets an environment variable).

mod common;

use std::collections::HashMap;
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use common::{normalize, rss_bytes};
use dynlog::{Builder, Overflow};

const TARGET: &str = "a_slow_sink_blocks_or_drops_as_configured";

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// What a sink saw: application lines checked for order per thread as they
/// arrive (without keeping them), and dynlog's notices kept whole.
#[derive(Default)]
struct Seen {
    next_seq: HashMap<u64, u64>,
    app_lines: u64,
    notices: Vec<String>,
    writes: u64,
    max_write: usize,
    out_of_order: Vec<String>,
}

impl Seen {
    fn take(&mut self, buf: &[u8]) {
        self.writes += 1;
        self.max_write = self.max_write.max(buf.len());
        for line in String::from_utf8_lossy(buf).lines() {
            if line.contains(TARGET) {
                let (thread, seq) = thread_and_seq(line);
                let next = self.next_seq.entry(thread).or_insert(0);
                if seq < *next {
                    self.out_of_order.push(line.to_owned());
                }
                *next = seq + 1;
                self.app_lines += 1;
            } else {
                self.notices.push(normalize(line));
            }
        }
    }
}

/// The `thread` and `seq` fields of a JSON or text line.
fn thread_and_seq(line: &str) -> (u64, u64) {
    let field = |name: &str| -> u64 {
        let json = format!("\"{name}\":");
        let text = format!(" {name}=");
        let start = line
            .find(&json)
            .map(|p| p + json.len())
            .or_else(|| line.find(&text).map(|p| p + text.len()))
            .unwrap_or_else(|| panic!("no {name} in {line}"));
        let digits: String = line[start..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        digits.parse().expect("digits")
    };
    (field("thread"), field("seq"))
}

/// A sink that takes `delay` per write. With `gate`, its first write waits
/// until the gate opens.
#[derive(Clone)]
struct SlowSink {
    delay: Duration,
    gate: Option<Arc<(Mutex<bool>, Condvar)>>,
    seen: Arc<Mutex<Seen>>,
}

impl Write for SlowSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let Some(gate) = &self.gate {
            let (open, cv) = &**gate;
            let mut open = open.lock().unwrap();
            while !*open {
                let (guard, timeout) = cv.wait_timeout(open, Duration::from_secs(60)).unwrap();
                open = guard;
                assert!(!timeout.timed_out(), "the gate never opened");
            }
        }
        std::thread::sleep(self.delay);
        self.seen.lock().unwrap().take(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn open_gate(gate: &Arc<(Mutex<bool>, Condvar)>) {
    *gate.0.lock().unwrap() = true;
    gate.1.notify_all();
}

/// Runs `n_threads` threads that each log `per_thread` lines as fast as
/// they can, and waits (at most a minute) until all have returned.
fn log_from_threads(dispatch: &tracing::Dispatch, n_threads: u64, per_thread: u64) {
    let (done_tx, done_rx) = mpsc::channel();
    for thread in 0..n_threads {
        let dispatch = dispatch.clone();
        let done_tx = done_tx.clone();
        std::thread::spawn(move || {
            tracing::dispatcher::with_default(&dispatch, || {
                for seq in 0..per_thread {
                    tracing::info!(thread, seq, "a line from a busy producer");
                }
            });
            let _ = done_tx.send(thread);
        });
    }
    for _ in 0..n_threads {
        done_rx
            .recv_timeout(Duration::from_secs(60))
            .expect("every producer returns");
    }
}

#[test]
fn block_mode_loses_nothing_and_keeps_memory_bounded() {
    let _serial = serial();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let sink = SlowSink {
        delay: Duration::from_millis(10),
        gate: None,
        seen: seen.clone(),
    };
    let rss_before = rss_bytes();
    let (subscriber, guard) = Builder::new().json(true).writer(sink).build().unwrap();
    let dispatch = tracing::Dispatch::new(subscriber);

    // Sample the resident memory while four producers outrun the sink.
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = {
        let sampling = sampling.clone();
        std::thread::spawn(move || {
            let mut peak = 0;
            while sampling.load(Ordering::Relaxed) {
                peak = peak.max(rss_bytes());
                std::thread::sleep(Duration::from_millis(5));
            }
            peak
        })
    };
    log_from_threads(&dispatch, 4, 25_000);
    guard.flush();
    sampling.store(false, Ordering::Relaxed);
    let rss_peak = sampler.join().unwrap();

    let stats = guard.stats();
    let seen = seen.lock().unwrap();
    assert_eq!(seen.out_of_order, Vec::<String>::new());
    assert_eq!(seen.app_lines, 100_000);
    assert_eq!(
        seen.next_seq,
        (0..4).map(|t| (t, 25_000)).collect::<HashMap<_, _>>()
    );
    assert_eq!(seen.notices, Vec::<String>::new());
    assert_eq!(
        (
            stats.lines_written,
            stats.dropped,
            stats.lines_lost,
            stats.abandoned
        ),
        (100_000, 0, 0, 0)
    );

    // One write holds at most a batch (256 KiB) plus one ring (256 KiB).
    assert!(
        seen.max_write <= 512 * 1024,
        "a write of {} bytes",
        seen.max_write
    );

    // Four rings of 256 KiB and one batch: a generous bound of 16 MiB on
    // the growth, against the 18 MB the producers emitted.
    let growth = rss_peak.saturating_sub(rss_before);
    println!(
        "measured: block mode, 4 threads x 25000 lines into a 10 ms/write sink: {} writes, \
         largest {} KiB, resident memory grew by {} KiB at its peak",
        seen.writes,
        seen.max_write / 1024,
        growth / 1024
    );
    assert!(growth < 16 << 20, "resident memory grew by {growth} bytes");
}

/// Drop mode with the sink stuck on its first write until every producer
/// has returned: they cannot have waited for it.
fn drop_scenario(builder: Builder, json: bool) -> Vec<String> {
    let gate = Arc::new((Mutex::new(false), Condvar::new()));
    let seen = Arc::new(Mutex::new(Seen::default()));
    let sink = SlowSink {
        delay: Duration::from_millis(10),
        gate: Some(gate.clone()),
        seen: seen.clone(),
    };
    let (subscriber, guard) = builder
        .json(json)
        .buffer_size(16 * 1024)
        .writer(sink)
        .build()
        .unwrap();
    let dispatch = tracing::Dispatch::new(subscriber);
    log_from_threads(&dispatch, 4, 5_000);
    open_gate(&gate);
    guard.flush();

    let stats = guard.stats();
    let seen = seen.lock().unwrap();
    assert_eq!(seen.out_of_order, Vec::<String>::new());
    assert!(stats.dropped > 0, "nothing was dropped");
    assert_eq!(
        seen.app_lines + stats.dropped,
        20_000,
        "written + dropped = emitted"
    );
    assert_eq!(
        stats.lines_written,
        seen.app_lines + seen.notices.len() as u64
    );
    assert_eq!((stats.lines_lost, stats.abandoned), (0, 0));

    // The notices' counts add up to the counter; each has the exact shape.
    let mut reported = 0;
    for notice in &seen.notices {
        let n: u64 = notice
            .rsplit(|c: char| !c.is_ascii_digit())
            .find(|s| !s.is_empty())
            .and_then(|digits| digits.parse().ok())
            .expect("a count");
        let expected = if json {
            format!(
                r#"{{"time":"<T>","level":"WARN","target":"dynlog","message":"lines dropped","dropped":{n}}}"#
            )
        } else {
            format!("<T>  WARN dynlog: lines dropped dropped={n}")
        };
        assert_eq!(notice, &expected);
        reported += n;
    }
    assert_eq!(reported, stats.dropped);
    println!(
        "measured: drop mode, 4 threads x 5000 lines, 16 KiB rings, sink stuck: \
         {} written, {} dropped, {} notices",
        seen.app_lines,
        stats.dropped,
        seen.notices.len()
    );
    seen.notices.clone()
}

fn nowhere() -> std::path::PathBuf {
    std::env::temp_dir().join("dynlog-faults-no-such-file.toml")
}

#[test]
fn drop_mode_from_code_never_waits_and_reports_drops_in_json() {
    let _serial = serial();
    drop_scenario(Builder::new().overflow(Overflow::Drop), true);
}

#[test]
fn drop_mode_reports_drops_in_readable_text_too() {
    let _serial = serial();
    drop_scenario(Builder::new().overflow(Overflow::Drop), false);
}

#[test]
fn drop_mode_from_the_environment() {
    let _serial = serial();
    std::env::set_var("FAULTSDROP_LOGGING_OVERFLOW", "drop");
    let builder = Builder::new()
        .env_prefix("FAULTSDROP")
        .default_config_file(nowhere());
    drop_scenario(builder, true);
    std::env::remove_var("FAULTSDROP_LOGGING_OVERFLOW");
}

#[test]
fn drop_mode_from_the_toml_file() {
    let _serial = serial();
    let path = std::env::temp_dir().join(format!(
        "dynlog-faults-overflow-{}.toml",
        std::process::id()
    ));
    std::fs::write(&path, "overflow = \"drop\"\n").unwrap();
    let builder = Builder::new()
        .env_prefix("FAULTSTOML")
        .default_config_file(&path);
    drop_scenario(builder, true);
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn block_mode_is_the_default_and_waits_for_a_stuck_sink() {
    let _serial = serial();

    // Producers in block mode wait while the sink is stuck, then finish
    // once it moves: nothing is dropped.
    let gate = Arc::new((Mutex::new(false), Condvar::new()));
    let seen = Arc::new(Mutex::new(Seen::default()));
    let sink = SlowSink {
        delay: Duration::ZERO,
        gate: Some(gate.clone()),
        seen: seen.clone(),
    };
    let (subscriber, guard) = Builder::new()
        .json(true)
        .buffer_size(16 * 1024)
        .writer(sink)
        .build()
        .unwrap();
    let dispatch = tracing::Dispatch::new(subscriber);
    let producer = {
        let dispatch = dispatch.clone();
        std::thread::spawn(move || log_from_threads(&dispatch, 2, 5_000))
    };

    // The producers fill their rings (16 KiB, about 90 lines each) and
    // wait: 10,000 lines cannot get past a sink stuck on its first write.
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        !producer.is_finished(),
        "the producers did not wait for the stuck sink"
    );
    assert_eq!(guard.stats().dropped, 0);
    open_gate(&gate);
    producer.join().unwrap();
    guard.flush();
    let stats = guard.stats();
    assert_eq!(seen.lock().unwrap().app_lines, 10_000);
    assert_eq!((stats.lines_written, stats.dropped), (10_000, 0));
}
