//! SPEC 1 and 12, installing: `init` never panics and reports each bad
//! setting once as a `WARN` line from target `dynlog` in the configured
//! format; `try_init` returns the bad setting; a second `init` installs
//! nothing; another global subscriber is an error or a notice; the guard
//! flushes, and lines survive dropping it, `process::exit` and returning
//! without dropping it.
//!
//! Globals are involved, so each case runs in a child process (this test
//! binary again, with `DYNLOG_CONFORM_CHILD` naming the case) and the
//! parent reads what the child wrote to stderr and stdout.

#[path = "conformance/mod.rs"]
mod support;

use support::{child_case, mask_json, mask_text, run_child, ChildOutput, SharedBuf, TempFile};

const EXPECTED_BOOL: &str = "expected a boolean (1, true, on, yes, 0, false, off, no)";

/// What each child case does. Lines go to stderr through dynlog; anything
/// the parent needs besides goes to stdout.
fn child_main(case: &str) {
    match case {
        "init-and-log" => {
            let guard = dynlog::init();
            tracing::info!(k = 1, "after init");
            tracing::debug!("debug is off by default");
            drop(guard);
        }
        "init-twice" => {
            let first = dynlog::init();
            tracing::info!("one");
            // A second call installs nothing, whatever the environment says
            // now, and its guard only flushes.
            std::env::set_var("DYN_LOGGING_JSONL", "1");
            let second = dynlog::init();
            tracing::info!("two");
            drop(second);
            tracing::info!("three");
            drop(first);
        }
        "try-init" => match dynlog::try_init() {
            Ok(_guard) => println!("installed"),
            Err(e) => println!("error ({:?}): {e}", e.kind()),
        },
        "foreign-subscriber" => {
            let foreign = tracing_subscriber::fmt()
                .with_writer(std::io::sink)
                .finish();
            tracing::subscriber::set_global_default(foreign).unwrap();
            match dynlog::try_init() {
                Ok(_) => println!("try_init installed"),
                Err(e) => println!("try_init error ({:?}): {e}", e.kind()),
            }
            let guard = dynlog::init();
            tracing::info!("goes to the foreign subscriber");
            guard.flush();
            println!("stats {:?}", dynlog::stats());
            drop(guard);
        }
        "stats" => {
            println!("before {:?}", dynlog::stats());
            let guard = dynlog::init();
            for i in 0..3 {
                tracing::info!(i, "counted");
            }
            let span = tracing::info_span!("s", trace_id = "bad");
            span.in_scope(|| {});
            guard.flush();
            let global = dynlog::stats();
            assert_eq!(global, guard.stats());
            println!(
                "after written={} invalid_ids={} dropped={}",
                global.lines_written, global.invalid_ids, global.dropped
            );
        }
        "exit-without-drop" => {
            let guard = dynlog::init();
            for i in 0..1000 {
                tracing::info!(i, "before exit");
            }
            std::mem::forget(guard);
            std::process::exit(0);
        }
        "return-without-drop" => {
            static GUARD: std::sync::OnceLock<dynlog::Guard> = std::sync::OnceLock::new();
            GUARD.get_or_init(dynlog::init);
            for i in 0..1000 {
                tracing::info!(i, "before return");
            }
        }
        "after-drop" => {
            let guard = dynlog::init();
            tracing::info!("before drop");
            drop(guard);
            tracing::info!("after drop");
            tracing::info!("still after drop");
        }
        other => panic!("unknown child case {other}"),
    }
}

#[test]
fn child_process_entry() {
    if let Some(case) = child_case() {
        child_main(&case);
    }
}

fn child(case: &str, vars: &[(&str, &str)]) -> ChildOutput {
    let out = run_child("child_process_entry", case, vars);
    assert!(
        out.success,
        "child {case} failed: {}{}",
        out.stdout, out.stderr
    );
    out
}

/// The child's stdout without the test harness's own lines.
fn stdout_lines(out: &ChildOutput) -> Vec<String> {
    out.stdout
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with("running ") && !l.starts_with("test result"))
        .filter(|l| !l.starts_with("test child_process_entry"))
        .map(|l| {
            l.trim_end_matches("test child_process_entry ... ok")
                .to_owned()
        })
        .filter(|l| !l.is_empty() && *l != ".")
        .collect()
}

const TARGET: &str = module_path!();

#[test]
fn a_bad_setting_is_one_warn_line_in_json_mode() {
    let out = child(
        "init-and-log",
        &[
            ("DYN_LOGGING_JSONL", "1"),
            ("DYN_LOGGING_SPAN_EVENTS", "maybe"),
        ],
    );
    let lines: Vec<String> = out.stderr.lines().map(mask_json).collect();
    assert_eq!(lines.len(), 2, "{}", out.stderr);
    assert_eq!(
        lines[0],
        format!(
            r#"{{"time":"<TIME>","level":"WARN","target":"dynlog","message":"DYN_LOGGING_SPAN_EVENTS: {EXPECTED_BOOL}, found \"maybe\""}}"#
        )
    );
    assert!(
        lines[1].ends_with(&format!(
            r#""target":"{TARGET}","message":"after init","k":1}}"#
        )),
        "{}",
        lines[1]
    );
}

#[test]
fn a_bad_setting_is_one_warn_line_in_readable_mode() {
    let out = child(
        "init-and-log",
        &[
            ("DYN_LOGGING_CONSOLE_FORMAT", "xml"),
            ("DYN_LOG_USE_LOCAL_TZ", "sometimes"),
        ],
    );
    let lines: Vec<String> = out.stderr.lines().map(mask_text).collect();
    assert_eq!(
        lines,
        [
            "<TIME>  WARN dynlog: DYN_LOGGING_CONSOLE_FORMAT: expected \"readable\" or \"jsonl\", \
             found \"xml\""
                .to_owned(),
            format!(
                "<TIME>  WARN dynlog: DYN_LOG_USE_LOCAL_TZ: {EXPECTED_BOOL}, found \"sometimes\""
            ),
            format!("<TIME>  INFO {TARGET}: after init k=1"),
        ]
    );
}

#[test]
fn init_keeps_the_valid_directives_and_reports_each_dropped_one() {
    let out = child(
        "init-and-log",
        &[
            ("DYN_LOGGING_JSONL", "1"),
            (
                "DYN_LOG",
                "warn,[unclosed,install_and_guard_behave=info,=debug",
            ),
        ],
    );
    let lines: Vec<String> = out.stderr.lines().map(mask_json).collect();
    assert_eq!(lines.len(), 3, "{}", out.stderr);
    assert_eq!(
        lines[0],
        r#"{"time":"<TIME>","level":"WARN","target":"dynlog","message":"DYN_LOG: invalid directive at byte 14: expected ']' to close the span name, found ','"}"#
    );
    assert_eq!(
        lines[1],
        r#"{"time":"<TIME>","level":"WARN","target":"dynlog","message":"DYN_LOG: invalid directive at byte 45: expected a level, a target or '[', found '='"}"#
    );
    assert!(
        lines[2].contains(r#""message":"after init""#),
        "{}",
        lines[2]
    );
}

#[test]
fn dyn_log_without_a_valid_directive_counts_as_unset() {
    let out = child(
        "init-and-log",
        &[("DYN_LOGGING_JSONL", "1"), ("DYN_LOG", "[broken")],
    );
    let lines: Vec<String> = out.stderr.lines().map(mask_json).collect();
    assert_eq!(lines.len(), 2, "{}", out.stderr);
    assert!(lines[0].contains(r#""target":"dynlog""#), "{}", lines[0]);
    // The default level, info, applies.
    assert!(
        lines[1].contains(r#""message":"after init""#),
        "{}",
        lines[1]
    );
}

#[test]
fn the_colon_spelling_notice_is_a_line_in_the_configured_format() {
    let out = child(
        "init-and-log",
        &[
            ("DYN_LOGGING_JSONL", "1"),
            ("DYN_LOG", "warn,install_and_guard_behave:info"),
        ],
    );
    let lines: Vec<String> = out.stderr.lines().map(mask_json).collect();
    assert_eq!(
        lines[0],
        r#"{"time":"<TIME>","level":"WARN","target":"dynlog","message":"DYN_LOG: read `target:level` as `target=level`; write `=` to silence this notice"}"#
    );
    assert!(
        lines[1].contains(r#""message":"after init""#),
        "{}",
        lines[1]
    );
    assert_eq!(lines.len(), 2, "{}", out.stderr);
}

#[test]
fn a_second_init_installs_nothing() {
    let out = child("init-twice", &[]);
    let lines: Vec<String> = out.stderr.lines().map(mask_text).collect();
    assert_eq!(
        lines,
        [
            format!("<TIME>  INFO {TARGET}: one"),
            format!("<TIME>  INFO {TARGET}: two"),
            format!("<TIME>  INFO {TARGET}: three"),
        ]
    );
}

#[test]
fn try_init_returns_the_first_bad_setting() {
    let out = child("try-init", &[("DYN_LOGGING_OVERFLOW", "sometimes")]);
    assert_eq!(
        stdout_lines(&out),
        ["error (BadSetting): DYN_LOGGING_OVERFLOW: expected \"block\" or \"drop\", found \"sometimes\""]
    );
    assert_eq!(out.stderr, "");
    let out = child("try-init", &[]);
    assert_eq!(stdout_lines(&out), ["installed"]);
}

#[test]
fn another_global_subscriber_is_an_error_or_a_notice() {
    let out = child("foreign-subscriber", &[("DYN_LOGGING_JSONL", "1")]);
    assert_eq!(
        stdout_lines(&out),
        [
            "try_init error (AlreadyInstalled): a global subscriber is already installed",
            "stats Stats { lines_written: 0, dropped: 0, abandoned: 0, sink_errors: 0, \
             lines_lost: 0, invalid_ids: 0, context_late: 0, spans_exported: 0, \
             export_dropped: 0, export_failures: 0 }",
        ]
    );
    assert_eq!(
        out.stderr,
        "dynlog: a global subscriber is already installed; logging through dynlog is off\n"
    );
}

#[test]
fn stats_are_zero_before_install_and_count_after() {
    let out = child("stats", &[]);
    assert_eq!(
        stdout_lines(&out),
        [
            "before Stats { lines_written: 0, dropped: 0, abandoned: 0, sink_errors: 0, \
             lines_lost: 0, invalid_ids: 0, context_late: 0, spans_exported: 0, \
             export_dropped: 0, export_failures: 0 }",
            "after written=3 invalid_ids=1 dropped=0",
        ]
    );
    assert_eq!(out.stderr.lines().count(), 3);
}

#[test]
fn lines_survive_process_exit_without_a_guard_drop() {
    for case in ["exit-without-drop", "return-without-drop"] {
        let out = child(case, &[("DYN_LOGGING_JSONL", "1")]);
        let lines: Vec<serde_json::Value> = out
            .stderr
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 1000, "{case}");
        for (i, v) in lines.iter().enumerate() {
            assert_eq!(v["i"], serde_json::json!(i), "{case}");
        }
    }
}

#[test]
fn lines_after_the_guard_is_dropped_are_written_synchronously() {
    let out = child("after-drop", &[]);
    let lines: Vec<String> = out.stderr.lines().map(mask_text).collect();
    assert_eq!(
        lines,
        [
            format!("<TIME>  INFO {TARGET}: before drop"),
            format!("<TIME>  INFO {TARGET}: after drop"),
            format!("<TIME>  INFO {TARGET}: still after drop"),
        ]
    );
}

#[test]
fn flush_returns_once_accepted_lines_are_in_the_sink() {
    let file = TempFile::new("flush.log", "");
    let (subscriber, guard) = support::json_to_file(&file);
    tracing::subscriber::with_default(subscriber, || {
        for round in 1..=3u64 {
            for i in 0..100 {
                tracing::info!(round, i, "flushed");
            }
            guard.flush();
            let written = std::fs::read_to_string(&file.path).unwrap();
            assert_eq!(written.lines().count() as u64, round * 100);
        }
    });
    assert_eq!(guard.stats().lines_written, 300);
}

#[test]
fn the_guard_is_send_and_sync_and_flushes_from_another_thread() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<dynlog::Guard>();

    let buf = SharedBuf::default();
    let (subscriber, guard) = dynlog::Builder::new()
        .json(false)
        .writer(buf.clone())
        .build()
        .unwrap();
    tracing::subscriber::with_default(subscriber, || tracing::info!("from the owner"));
    let guard = std::sync::Arc::new(guard);
    let other = guard.clone();
    std::thread::spawn(move || other.flush()).join().unwrap();
    assert_eq!(
        buf.text().lines().map(mask_text).collect::<Vec<_>>(),
        [format!("<TIME>  INFO {TARGET}: from the owner")]
    );
}

#[test]
fn dyn_log_without_a_valid_directive_leaves_the_files_level() {
    let file = TempFile::new("level.toml", "log_level = \"warn\"\n");
    let out = child(
        "init-and-log",
        &[
            ("DYN_LOGGING_JSONL", "1"),
            ("DYN_LOG", "[broken"),
            ("DYN_LOGGING_CONFIG_PATH", &file.text()),
        ],
    );
    let lines: Vec<String> = out.stderr.lines().map(mask_json).collect();
    assert_eq!(
        lines,
        [
            r#"{"time":"<TIME>","level":"WARN","target":"dynlog","message":"DYN_LOG: invalid directive at byte 7: expected ']' to close the span name, found end of input"}"#
        ]
    );
}
