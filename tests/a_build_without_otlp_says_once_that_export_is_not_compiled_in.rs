//! Built without the `otlp` cargo feature, dynlog still reads
//! `OTEL_EXPORT_ENABLED` and says once, on stderr, that export is not
//! compiled in; building keeps working.
//!
//! Run with `cargo test --no-default-features --features log --test
//! a_build_without_otlp_says_once_that_export_is_not_compiled_in`; with the
//! feature on, this file holds no test. The test runs itself again as a
//! child process with the variable set, to read the child's stderr.

#![cfg(not(feature = "otlp"))]

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const CHILD: &str = "DYNLOG_TEST_NO_OTLP_CHILD";

#[test]
fn the_notice_is_printed_once() {
    if std::env::var_os(CHILD).is_some() {
        for _ in 0..3 {
            let (subscriber, guard) = dynlog::Builder::from_env()
                .default_config_file("/nonexistent/dynlog-otlp-test.toml")
                .writer(std::io::sink())
                .build()
                .unwrap();
            tracing::subscriber::with_default(subscriber, || {
                tracing::info_span!("work").in_scope(|| {})
            });
            drop(guard);
        }
        return;
    }

    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "the_notice_is_printed_once",
            "--test-threads",
            "1",
            "--nocapture",
        ])
        .env(CHILD, "1")
        .env("OTEL_EXPORT_ENABLED", "yes")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the child did not finish within 60 s");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(status.success(), "{stderr}");
    let notices: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("OTEL_EXPORT_ENABLED"))
        .collect();
    assert_eq!(
        notices,
        ["dynlog: OTEL_EXPORT_ENABLED is set but this build has no OTLP export (cargo feature `otlp`)"]
    );
}
