//! `dynlog check` run as a process: a cleared environment plus the
//! variables under test, temporary TOML files, and the exact stdout and
//! exit status. `--default-file` always points at a path the test controls,
//! so a `/opt/dynamo/etc/logging.toml` on the machine cannot change the
//! output.

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

/// What one run printed and how it exited.
#[derive(Debug, PartialEq, Eq)]
struct Run {
    stdout: String,
    stderr: String,
    status: i32,
}

fn run(args: &[&str], env: &[(&str, &str)]) -> Run {
    let output = Command::new(env!("CARGO_BIN_EXE_dynlog"))
        .args(args)
        .env_clear()
        .envs(env.iter().copied())
        .output()
        .expect("dynlog: the check binary did not start");
    Run {
        stdout: String::from_utf8(output.stdout).expect("dynlog: stdout is not UTF-8"),
        stderr: String::from_utf8(output.stderr).expect("dynlog: stderr is not UTF-8"),
        status: output.status.code().unwrap_or(-1),
    }
}

/// A TOML file that is removed when dropped.
struct TempFile(PathBuf);

impl TempFile {
    fn new(text: &str) -> TempFile {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "dynlog-check-{}-{}.toml",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let path = std::env::temp_dir().join(name);
        std::fs::write(&path, text).expect("dynlog: cannot write a temporary file");
        TempFile(path)
    }

    fn path(&self) -> &str {
        self.0
            .to_str()
            .expect("dynlog: the temporary path is not UTF-8")
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A default file that does not exist.
fn no_default_file() -> String {
    let path = std::env::temp_dir().join("dynlog-check-no-such-default-file.toml");
    path.to_str()
        .expect("dynlog: temp dir is not UTF-8")
        .to_owned()
}

/// The built-in per-target levels as the canonical filter prints them.
const BUILTIN: &str = "h2=error,tower=error,hyper_util=error,neli=error,async_nats=error,\
rustls=error,tokenizers=error,axum=error,tonic=error,hf_hub=error,opentelemetry=error,\
opentelemetry_otlp=error,opentelemetry_sdk=error,request_span=trace";

/// The OTLP rows when nothing sets them.
const OTLP_DEFAULTS: &str = "  otlp.enabled                false  (default)
  otlp.endpoint               http://localhost:4317  (default)
  otlp.protocol               grpc  (default)
  otlp.headers                none  (default)
  otlp.timeout                10000ms  (default)
  otlp.service_name           dynamo  (default)
  otlp.sampler                parentbased_always_on  (default)
  otlp.max_queue_size         2048  (default)
  otlp.scheduled_delay        5000ms  (default)
  otlp.max_export_batch_size  512  (default)
  otlp.export_timeout         30000ms  (default)
";

#[test]
fn an_empty_environment_gives_the_defaults() {
    let default_file = no_default_file();
    let got = run(&["check", "--default-file", &default_file], &[]);
    let stdout = format!(
        "settings:
  format                      readable  (default)
  span_events                 false  (default)
  local_tz                    false  (default)
  disable_ansi                false  (default)
  overflow                    block  (default)
  filter                      info  (default)
{OTLP_DEFAULTS}files read: none
effective filter:
  info,{BUILTIN}
problems: none
"
    );
    let want = Run {
        stdout,
        stderr: String::new(),
        status: 0,
    };
    assert_eq!(got, want);
}

#[test]
fn each_value_names_its_variable_or_file() {
    let named = TempFile::new(
        "log_level = \"warn\"\n\
         span_events = true\n\
         overflow = \"drop\"\n\
         [log_filters]\n\
         \"my_service::router\" = \"debug\"\n\
         h2 = \"info\"\n\
         [otlp]\n\
         timeout_ms = 2500\n",
    );
    let default = TempFile::new("use_local_tz = true\nspan_events = false\n");
    let env = [
        ("DYN_LOGGING_CONFIG_PATH", named.path()),
        ("DYN_LOGGING_JSONL", "YES"),
        ("DYN_SDK_DISABLE_ANSI_LOGGING", "1"),
        ("OTEL_SERVICE_NAME", "checkout"),
        ("OTEL_EXPORTER_OTLP_HEADERS", "api-key=secret,tenant=7"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"),
    ];
    let got = run(&["check", "--default-file", default.path()], &env);
    let (n, d) = (named.path(), default.path());
    let stdout = format!(
        "settings:
  format                      jsonl  (env DYN_LOGGING_JSONL)
  span_events                 true  (file {n})
  local_tz                    true  (file {d})
  disable_ansi                true  (env DYN_SDK_DISABLE_ANSI_LOGGING)
  overflow                    drop  (file {n})
  filter                      warn  (file {n})
  log_filters                 my_service::router=debug  (file {n})
  log_filters                 h2=info  (file {n})
  otlp.enabled                false  (default)
  otlp.endpoint               http://collector:4318/v1/traces  (env OTEL_EXPORTER_OTLP_ENDPOINT)
  otlp.protocol               http/protobuf  (env OTEL_EXPORTER_OTLP_PROTOCOL)
  otlp.headers                api-key=***,tenant=***  (env OTEL_EXPORTER_OTLP_HEADERS)
  otlp.timeout                2500ms  (file {n})
  otlp.service_name           checkout  (env OTEL_SERVICE_NAME)
  otlp.sampler                parentbased_always_on  (default)
  otlp.max_queue_size         2048  (default)
  otlp.scheduled_delay        5000ms  (default)
  otlp.max_export_batch_size  512  (default)
  otlp.export_timeout         30000ms  (default)
files read:
  {n}
  {d}
effective filter:
  warn,tower=error,hyper_util=error,neli=error,async_nats=error,rustls=error,\
tokenizers=error,axum=error,tonic=error,hf_hub=error,opentelemetry=error,\
opentelemetry_otlp=error,opentelemetry_sdk=error,request_span=trace,\
my_service::router=debug,h2=info
problems: none
"
    );
    let want = Run {
        stdout,
        stderr: String::new(),
        status: 0,
    };
    assert_eq!(got, want);
}

#[test]
fn dyn_log_beats_the_file_and_decides_the_default_level() {
    let named =
        TempFile::new("log_level = \"debug\"\n[log_filters]\nh2 = \"warn\"\na = \"trace\"\n");
    let env = [
        ("DYN_LOGGING_CONFIG_PATH", named.path()),
        ("DYN_LOG", " h2=debug , my_crate = TRACE "),
    ];
    let default_file = no_default_file();
    let got = run(&["check", "--default-file", &default_file], &env);
    assert_eq!(got.status, 0, "{got:?}");
    let lines: Vec<&str> = got.stdout.lines().collect();
    // The row shows the variable as it is; the filter below is canonical.
    let filter_row = "  filter                       h2=debug , my_crate = TRACE   (env DYN_LOG)";
    assert_eq!(lines[6], filter_row, "{got:?}");

    // No default level in DYN_LOG: everything else is off, as with RUST_LOG.
    let effective = "  off,tower=error,hyper_util=error,neli=error,async_nats=error,rustls=error,\
                     tokenizers=error,axum=error,tonic=error,hf_hub=error,opentelemetry=error,\
                     opentelemetry_otlp=error,opentelemetry_sdk=error,request_span=trace,a=trace,\
                     h2=debug,my_crate=trace";
    let at = lines.iter().position(|line| *line == "effective filter:");
    assert_eq!(at.map(|idx| lines[idx + 1]), Some(effective), "{got:?}");
}

#[test]
fn bad_settings_are_listed_and_the_status_is_one() {
    let named =
        TempFile::new("jsonl = \"sometimes\"\ncolour = true\n[log_filters]\nh2 = \"loud\"\n");
    let env = [
        ("DYN_LOGGING_CONFIG_PATH", named.path()),
        ("DYN_LOGGING_SPAN_EVENTS", "maybe"),
        ("DYN_LOGGING_OVERFLOW", "spill"),
        ("DYN_LOG", "info,my_crate:debug,a=bad,[span=warn"),
    ];
    let default_file = no_default_file();
    let got = run(&["check", "--default-file", &default_file], &env);
    let n = named.path();
    let tail = format!(
        "effective filter:
  info,{BUILTIN},my_crate=debug
note: env DYN_LOG: read `target:level` as `target=level`; write `=` instead
problems: 7
  DYN_LOGGING_SPAN_EVENTS: expected a boolean (1, true, on, yes, 0, false, off, no), found \"maybe\"
  DYN_LOGGING_OVERFLOW: expected \"block\" or \"drop\", found \"spill\"
  {n}:1:9: expected a boolean for key \"jsonl\", found a string
  {n}:2:1: unknown key \"colour\", ignored
  {n}: expected a level (off, error, warn, info, debug, trace) for log_filters.\"h2\", found \"loud\"
  DYN_LOG: invalid directive at byte 22: expected a level (off, error, warn, info, debug, trace or 0 to 5), found \"bad\"
  DYN_LOG: invalid directive at byte 31: expected ']' to close the span name, found '='
"
    );
    assert_eq!(got.status, 1, "{got:?}");
    assert_eq!(got.stderr, "");
    assert!(
        got.stdout.ends_with(&tail),
        "stdout:\n{}\nwanted it to end with:\n{tail}",
        got.stdout
    );
}

#[test]
fn a_missing_named_file_is_bad_and_a_missing_default_file_is_not() {
    let missing = std::env::temp_dir().join("dynlog-check-missing-named.toml");
    let missing = missing.to_str().expect("dynlog: temp dir is not UTF-8");
    let default_file = no_default_file();

    let got = run(
        &["check", "--default-file", &default_file],
        &[("DYN_LOGGING_CONFIG_PATH", missing)],
    );
    assert_eq!(got.status, 1, "{got:?}");
    let tail = format!(
        "files read: none
effective filter:
  info,{BUILTIN}
problems: 1
  {missing}: cannot read the file named by DYN_LOGGING_CONFIG_PATH: no such file or directory
"
    );
    assert!(
        got.stdout.ends_with(&tail),
        "stdout:\n{}\nwanted it to end with:\n{tail}",
        got.stdout
    );

    let got = run(&["check", "--default-file", &default_file], &[]);
    assert_eq!(got.status, 0, "{got:?}");
    assert!(got.stdout.ends_with("problems: none\n"), "{got:?}");
}

#[test]
fn another_prefix_reads_its_own_variables() {
    let default_file = no_default_file();
    let env = [
        ("MYAPP_LOG", "debug"),
        ("DYN_LOG", "error"),
        ("MYAPP_LOGGING_JSONL", "on"),
    ];
    let got = run(
        &[
            "check",
            "--prefix",
            "MYAPP",
            "--default-file",
            &default_file,
        ],
        &env,
    );
    assert_eq!(got.status, 0, "{got:?}");
    let lines: Vec<&str> = got.stdout.lines().collect();
    assert_eq!(
        lines[1],
        "  format                      jsonl  (env MYAPP_LOGGING_JSONL)"
    );
    assert_eq!(
        lines[6],
        "  filter                      debug  (env MYAPP_LOG)"
    );
    let effective = format!("  debug,{BUILTIN}");
    assert_eq!(lines[lines.len() - 2], effective);
}

#[test]
fn a_valid_directive_string_prints_its_canonical_form() {
    let cases: &[(&str, &str)] = &[
        ("INFO, h2 = debug", "canonical: info,h2=debug\n"),
        (
            "warning,my_crate[req{user=\"42\", id}]=5",
            "canonical: warn,my_crate[req{id,user=\"42\"}]=trace\n",
        ),
        ("", "canonical: \n"),
        (
            "tokio:debug",
            "canonical: tokio=debug\n\
             note: read `target:level` as `target=level`; write `=` instead\n",
        ),
    ];
    for &(directives, stdout) in cases {
        let got = run(&["check", "--filter", directives], &[]);
        let want = Run {
            stdout: stdout.to_owned(),
            stderr: String::new(),
            status: 0,
        };
        assert_eq!(got, want, "directives {directives:?}");
    }
}

#[test]
fn a_bad_directive_string_gets_a_caret_under_its_first_error() {
    let level_error = "expected a level (off, error, warn, info, debug, trace or 0 to 5)";
    let cases: Vec<(&str, String)> = vec![
        (
            "info,my_crate[span",
            "  info,my_crate[span\n\
             \x20                   ^\n\
             error: invalid directive at byte 18: expected ']' to close the span name, found end of input\n\
             init keeps: info\n"
                .to_owned(),
        ),
        (
            "info,a=bad,b=worse",
            format!(
                "  info,a=bad,b=worse\n\
                 \x20        ^\n\
                 error: invalid directive at byte 7: {level_error}, found \"bad\"\n\
                 1 more invalid directives\n\
                 init keeps: info\n"
            ),
        ),
        (
            "日本=loud",
            format!(
                "  日本=loud\n\
                 \x20      ^\n\
                 error: invalid directive at byte 7: {level_error}, found \"loud\"\n\
                 init keeps: \n"
            ),
        ),
        (
            "info,\n\th2=debug,\n\t[req{user=}]=debug",
            "line 3:\n\
             \x20  [req{user=}]=debug\n\
             \x20            ^\n\
             error: invalid directive at byte 28: expected a value after '=', found '}'\n\
             init keeps: info,h2=debug\n"
                .to_owned(),
        ),
    ];
    for (directives, stdout) in cases {
        let got = run(&["check", "--filter", directives], &[]);
        let want = Run {
            stdout,
            stderr: String::new(),
            status: 1,
        };
        assert_eq!(got, want, "directives {directives:?}");
    }
}

#[test]
fn usage_errors_exit_with_two() {
    let got = run(&["chek"], &[]);
    assert_eq!(got.status, 2, "{got:?}");
    assert_eq!(got.stdout, "");
    assert!(
        got.stderr
            .starts_with("dynlog: expected a command (check), found \"chek\"\nusage: dynlog check"),
        "{got:?}"
    );

    let got = run(&["check", "--help"], &[]);
    assert_eq!(got.status, 0, "{got:?}");
    assert!(
        got.stdout
            .starts_with("usage: dynlog check [--prefix PREFIX]"),
        "{got:?}"
    );
}
