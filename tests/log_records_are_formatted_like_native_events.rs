//! Records of the `log` crate go through the same filter by their real
//! target and come out like native events: real file and line, the
//! current span's data, no `log.*` keys. `log`'s max level follows the
//! filter, so a disabled `log` call never formats its arguments. Records
//! from foreign runtimes (`dynlog::log_external`) take level names.
//! Distinct targets leave nothing behind: a million of them leave memory
//! flat.
//!
//! dynlog is installed once for the whole binary (the `log` logger is
//! global); each test reads back only the lines of its own targets.

mod common;

use std::fmt;
use std::io::{self, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use common::{normalize, rss_bytes};

const FILE: &str = "tests/log_records_are_formatted_like_native_events.rs";

/// Keeps every line except those of the `many.*` targets, which it only
/// counts.
struct Collector {
    kept: Arc<Mutex<Vec<u8>>>,
    many: Arc<AtomicU64>,
}

impl Write for Collector {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut kept = self.kept.lock().unwrap();
        for line in buf.split_inclusive(|&b| b == b'\n') {
            let needle = b"\"target\":\"many.";
            if line.windows(needle.len()).any(|w| w == needle) {
                self.many.fetch_add(1, Ordering::Relaxed);
            } else {
                kept.extend_from_slice(line);
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

struct Installed {
    kept: Arc<Mutex<Vec<u8>>>,
    many: Arc<AtomicU64>,
    _guard: dynlog::Guard,
}

fn installed() -> &'static Installed {
    static INSTALLED: OnceLock<Installed> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let kept = Arc::new(Mutex::new(Vec::new()));
        let many = Arc::new(AtomicU64::new(0));
        let collector = Collector {
            kept: kept.clone(),
            many: many.clone(),
        };
        let guard = dynlog::Builder::new()
            .json(true)
            .filter("info,bridge::verbose=debug,quiet=off")
            .writer(collector)
            .install()
            .expect("install dynlog");
        Installed {
            kept,
            many,
            _guard: guard,
        }
    })
}

/// Flushes through `log` and returns the lines of exactly `target`,
/// normalised.
fn lines_of(target: &str) -> Vec<String> {
    log::logger().flush();
    let needle = format!("\"target\":\"{target}\"");
    let kept = installed().kept.lock().unwrap();
    String::from_utf8_lossy(&kept)
        .lines()
        .filter(|line| line.contains(&needle))
        .map(normalize)
        .collect()
}

fn event(level: &str, file: &str, line: u32, target: &str, message: &str) -> String {
    format!(
        r#"{{"time":"<T>","level":"{level}","file":"{file}","line":{line},"target":"{target}","message":"{message}"}}"#
    )
}

#[test]
fn a_log_record_keeps_its_target_file_and_line() {
    installed();
    let line = line!() + 1;
    log::info!(target: "bridge::plain", "hello {}", 42);
    assert_eq!(
        lines_of("bridge::plain"),
        [event("INFO", FILE, line, "bridge::plain", "hello 42")]
    );

    // Without a target, `log` uses the module path, as `tracing` does.
    let line = line!() + 1;
    log::warn!("no target given");
    let target = "log_records_are_formatted_like_native_events";
    assert_eq!(
        lines_of(target),
        [event("WARN", FILE, line, target, "no target given")]
    );
}

#[test]
fn a_log_record_in_a_span_reads_like_a_native_event() {
    installed();
    let span = tracing::info_span!(target: "bridge::span", "request", user = 7, route = "/chat");
    let _entered = span.enter();
    let log_line = line!() + 1;
    log::warn!(target: "bridge::span", "inside {}", "a span");
    let native_line = line!() + 1;
    tracing::warn!(target: "bridge::span", "inside {}", "a span");
    let expected = |line: u32| {
        format!(
            r#"{{"time":"<T>","level":"WARN","file":"{FILE}","line":{line},"target":"bridge::span","message":"inside a span","span_name":"request","span_id":"<ID>","trace_id":"<ID>","user":7,"route":"/chat"}}"#
        )
    };
    assert_eq!(
        lines_of("bridge::span"),
        [expected(log_line), expected(native_line)]
    );

    // Both carry the same span.
    let raw: Vec<serde_json::Value> = {
        let kept = installed().kept.lock().unwrap();
        String::from_utf8_lossy(&kept)
            .lines()
            .filter(|l| l.contains("\"target\":\"bridge::span\""))
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    assert_eq!(raw[0]["span_id"], raw[1]["span_id"]);
    assert_eq!(raw[0]["trace_id"], raw[1]["trace_id"]);
}

/// Counts how often it is formatted.
struct Counted<'a>(&'a AtomicU64);

impl fmt::Display for Counted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fetch_add(1, Ordering::SeqCst);
        f.write_str("formatted")
    }
}

#[test]
fn the_log_max_level_follows_the_filter() {
    installed();
    assert_eq!(log::max_level(), log::LevelFilter::Trace);
    assert!(log::log_enabled!(target: "bridge::verbose", log::Level::Debug));
    assert!(!log::log_enabled!(target: "bridge::verbose", log::Level::Trace));
    assert!(!log::log_enabled!(target: "bridge::other", log::Level::Debug));
    assert!(log::log_enabled!(target: "bridge::other", log::Level::Info));
    assert!(!log::log_enabled!(target: "quiet.x", log::Level::Error));

    // Disabled calls never format their arguments: above the max level,
    // `log` stops them; below it, the filter does before formatting.
    let formatted = AtomicU64::new(0);
    log::trace!(target: "bridge::verbose", "{}", Counted(&formatted));
    log::debug!(target: "bridge::other", "{}", Counted(&formatted));
    log::error!(target: "quiet.x", "{}", Counted(&formatted));
    assert_eq!(formatted.load(Ordering::SeqCst), 0);
    assert_eq!(lines_of("bridge::other"), Vec::<String>::new());
    assert_eq!(lines_of("quiet.x"), Vec::<String>::new());

    let line = line!() + 1;
    log::debug!(target: "bridge::verbose", "{}", Counted(&formatted));
    assert_eq!(formatted.load(Ordering::SeqCst), 1);
    assert_eq!(
        lines_of("bridge::verbose"),
        [event("DEBUG", FILE, line, "bridge::verbose", "formatted")]
    );
}

#[test]
fn records_from_foreign_runtimes_use_level_names() {
    installed();
    let target = "bridge::verbose::py";
    let cases = [
        ("trace", None),
        ("debug", Some("DEBUG")),
        ("DEBUG", Some("DEBUG")),
        ("info", Some("INFO")),
        ("warn", Some("WARN")),
        ("warning", Some("WARN")),
        ("WARNING", Some("WARN")),
        ("error", Some("ERROR")),
        (" Critical ", Some("ERROR")),
        ("fatal", Some("ERROR")),
        ("notice", Some("INFO")),
        ("", Some("INFO")),
    ];
    let mut expected = Vec::new();
    for (name, level) in cases {
        dynlog::log_external(name, target, Some("app/handlers.py"), Some(12), name);
        if let Some(level) = level {
            expected.push(event(level, "app/handlers.py", 12, target, name));
        }
    }
    dynlog::log_external("info", target, None, None, "no file, no line");
    expected.push(format!(
        r#"{{"time":"<T>","level":"INFO","target":"{target}","message":"no file, no line"}}"#
    ));
    assert_eq!(lines_of(target), expected);

    // Filtered by the record's target.
    dynlog::log_external("critical", "quiet.py", None, None, "silenced");
    assert_eq!(lines_of("quiet.py"), Vec::<String>::new());
}

#[test]
fn a_million_distinct_targets_leave_memory_flat() {
    let installed = installed();
    let log_many = |from: u64, to: u64| {
        for i in from..to {
            let target = format!("many.{i}");
            if i % 2 == 0 {
                log::info!(target: &target, "a record with its own target");
            } else {
                dynlog::log_external(
                    "info",
                    &target,
                    None,
                    None,
                    "a foreign record with its own target",
                );
            }
        }
        log::logger().flush();
    };
    log_many(0, 10_000);
    let before = rss_bytes();
    log_many(10_000, 1_010_000);
    let after = rss_bytes();
    assert_eq!(installed.many.load(Ordering::Relaxed), 1_010_000);
    let growth = after.saturating_sub(before);
    println!(
        "measured: a million distinct log targets grew resident memory by {} KiB",
        growth / 1024
    );

    // Even 8 bytes kept per target would be 8 MB.
    assert!(growth < 4 << 20, "resident memory grew by {growth} bytes");
}
