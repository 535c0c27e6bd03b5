//! When another `log` logger is already set, `dynlog::init()` still
//! installs itself for `tracing` and says once, as a `WARN` line from
//! target `dynlog` in the configured format, that `log` records do not go
//! through it (SPEC 12: in JSON mode every line stays JSON). The test runs
//! itself again as a child process, which sets its own logger first.

use std::process::Command;

const CHILD: &str = "DYNLOG_TEST_LOG_LOGGER_CHILD";

struct Other;

impl log::Log for Other {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        false
    }
    fn log(&self, _: &log::Record<'_>) {}
    fn flush(&self) {}
}

static OTHER: Other = Other;

#[test]
fn the_notice_is_one_json_line_from_dynlog() {
    if std::env::var_os(CHILD).is_some() {
        log::set_logger(&OTHER).unwrap();
        let guard = dynlog::init();
        tracing::info!("after init");
        guard.flush();
        return;
    }
    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "the_notice_is_one_json_line_from_dynlog",
            "--nocapture",
        ])
        .env_clear()
        .env(CHILD, "1")
        .env("DYN_LOGGING_JSONL", "1")
        .output()
        .unwrap();
    assert!(output.status.success(), "child failed: {output:?}");
    let stderr = String::from_utf8(output.stderr).unwrap();
    // The test harness prints plain lines around the child's test; every
    // line dynlog writes is JSON.
    let lines: Vec<serde_json::Value> = stderr
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let messages: Vec<&str> = lines
        .iter()
        .map(|v| v["message"].as_str().unwrap())
        .collect();
    assert_eq!(
        messages,
        [
            "another `log` logger is already set; `log` records do not go through dynlog",
            "after init"
        ],
        "{stderr}"
    );
    let notices: Vec<&serde_json::Value> =
        lines.iter().filter(|v| v["target"] == "dynlog").collect();
    assert_eq!(notices.len(), 1, "{stderr}");
    assert_eq!(notices[0]["level"], "WARN");
    assert!(notices[0].get("file").is_none());
}
