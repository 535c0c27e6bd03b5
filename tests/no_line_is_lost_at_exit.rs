//! A process that never drops its logging guard still writes every line it
//! logged (SPEC 1): the `exit_modes` example logs 10,000 numbered lines as
//! JSON to stderr with the guard in a static, then returns from `main`,
//! calls `std::process::exit`, or panics; each of the 10,000 lines must come
//! out exactly once and whole, as one JSON object.
//!
//! Each way out runs twice: with the main thread logging alone, and with
//! four threads (the main one and three joined before the exit), so that
//! lines left behind by threads that have ended are covered too.

mod support;

use std::process::Command;
use std::time::Duration;

const LINES: usize = 10_000;

/// Runs `exit_modes MODE --threads THREADS` and checks its stderr: every
/// numbered line exactly once; no other line except, after a panic, the
/// panic report.
fn check_mode(mode: &str, threads: u32, expected_status: i32) {
    let mut command = Command::new(support::example_binary("exit_modes"));
    support::clean_env(&mut command);
    command
        .env("DYN_LOGGING_JSONL", "1")
        .args([mode, "--threads", &threads.to_string()]);
    let output = support::run_to_end(command, Duration::from_secs(120));
    let context = format!("exit_modes {mode} --threads {threads}");
    assert_eq!(output.status.code(), Some(expected_status), "{context}");

    // Count each number; anything else must be the panic report.
    let mut seen = vec![0_u32; LINES];
    let mut others = Vec::new();
    for line in output.stderr.lines() {
        let parsed = serde_json::from_str::<serde_json::Value>(line).ok();
        let numbered = parsed
            .as_ref()
            .filter(|object| object["message"] == "numbered line")
            .and_then(|object| object["n"].as_u64());
        match numbered {
            Some(n) if (n as usize) < LINES => seen[n as usize] += 1,
            _ => others.push(line),
        }
    }
    let missing: Vec<usize> = (0..LINES).filter(|&n| seen[n] == 0).collect();
    let repeated: Vec<usize> = (0..LINES).filter(|&n| seen[n] > 1).collect();
    let first_missing = &missing[..missing.len().min(10)];
    assert!(
        missing.is_empty(),
        "{context}: {} lines missing, first {first_missing:?}",
        missing.len()
    );
    assert_eq!(
        repeated,
        Vec::<usize>::new(),
        "{context}: lines written twice"
    );

    // After a panic, the default report (a blank line, the `thread 'main'`
    // line, the message, the backtrace note) or a JSON line carrying the
    // message may appear; nothing else may, in any mode.
    let is_panic_report = |line: &&str| {
        line.is_empty()
            || line.starts_with("thread 'main'")
            || line.starts_with("exit_modes: panicking on purpose after 10000 lines")
            || line.starts_with("note: run with `RUST_BACKTRACE=1`")
            || serde_json::from_str::<serde_json::Value>(line)
                .is_ok_and(|object| object.to_string().contains("panicking on purpose"))
    };
    let unexpected: Vec<&&str> = match mode {
        "panic" => others
            .iter()
            .filter(|line| !is_panic_report(line))
            .collect(),
        _ => others.iter().collect(),
    };
    assert_eq!(
        unexpected,
        Vec::<&&str>::new(),
        "{context}: unexpected lines"
    );
    if mode == "panic" {
        let has_report = others
            .iter()
            .any(|line| line.contains("panicking on purpose"));
        assert!(
            has_report,
            "{context}: the panic message is missing from stderr"
        );
    }
}

#[test]
fn returning_from_main_with_the_guard_in_a_static_loses_no_line() {
    check_mode("return", 1, 0);
    check_mode("return", 4, 0);
}

#[test]
fn calling_process_exit_loses_no_line() {
    check_mode("exit", 1, 0);
    check_mode("exit", 4, 0);
}

#[test]
fn panicking_on_the_main_thread_loses_no_line() {
    check_mode("panic", 1, 101);
    check_mode("panic", 4, 101);
}
