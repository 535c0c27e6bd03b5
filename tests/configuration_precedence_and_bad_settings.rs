//! SPEC 2, configuration: every variable and TOML key, the precedence
//! (code, then environment, then the named file, then the default file,
//! then the built-in default), and bad values with their exact messages.
//!
//! Where the effect is on the resolved settings, `dynlog::config::resolve`
//! runs with an injected environment. Where it is visible in the output
//! (format, span events, local time offset, filter), this test binary runs
//! itself as a child process with the variables set and
//! `Builder::from_env()` writing to stderr.

#[path = "conformance/mod.rs"]
mod support;

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use dynlog::config::{resolve, Config, Format, OtlpSettings, Overflow, Settings, Source};
use dynlog::config::{Protocol, Sampler};
use support::{child_case, is_timestamp, run_child, str_of, TempFile};

const EXPECTED_BOOL: &str = "expected a boolean (1, true, on, yes, 0, false, off, no)";

/// Resolves `code` with exactly the variables `vars` set and `default_file`
/// as the default file.
fn resolve_with(code: &Settings, vars: &[(&str, &str)], default_file: &Path) -> Config {
    let map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let env = move |name: &str| map.get(name).cloned();
    resolve(code, "DYN", &env, default_file)
}

/// Resolves with only `vars` set and no file.
fn resolve_env(vars: &[(&str, &str)]) -> Config {
    resolve_with(
        &Settings::default(),
        vars,
        &TempFile::absent("no-default.toml"),
    )
}

fn problems(config: &Config) -> Vec<String> {
    config.problems.iter().map(ToString::to_string).collect()
}

fn env(var: &str) -> Option<Source> {
    Some(Source::Env(var.to_owned()))
}

// ----- environment variables ---------------------------------------------

/// A boolean setting: its variable and how to read it from a config.
type BoolSetting = (&'static str, fn(&Config) -> bool);

const BOOLEANS: [BoolSetting; 5] = [
    ("DYN_LOGGING_JSONL", |c| c.format == Format::Jsonl),
    ("DYN_LOGGING_SPAN_EVENTS", |c| c.span_events),
    ("DYN_LOG_USE_LOCAL_TZ", |c| c.local_tz),
    ("DYN_SDK_DISABLE_ANSI_LOGGING", |c| !c.ansi_allowed),
    ("OTEL_EXPORT_ENABLED", |c| c.otlp.enabled),
];

#[test]
fn booleans_take_the_spec_words_in_any_case_with_whitespace() {
    let truthy = ["1", "true", "on", "yes", "TRUE", "On", " yes ", "\tYES\n"];
    let falsy = ["0", "false", "off", "no", "", "   ", "FALSE", " Off\t"];
    for (var, get) in BOOLEANS {
        for raw in truthy {
            let config = resolve_env(&[(var, raw)]);
            assert!(get(&config), "{var}={raw:?} is true");
            assert_eq!(problems(&config), Vec::<String>::new());
        }
        for raw in falsy {
            let config = resolve_env(&[(var, raw)]);
            assert!(!get(&config), "{var}={raw:?} is false");
            assert_eq!(problems(&config), Vec::<String>::new());
        }
    }
}

#[test]
fn other_boolean_words_are_bad_settings_and_the_default_is_used() {
    for (var, get) in BOOLEANS {
        for raw in ["maybe", "y", "t", "2", "enabled", "truee", "yes please"] {
            let config = resolve_env(&[(var, raw)]);
            assert!(!get(&config), "{var}={raw:?} gives the default, false");
            assert_eq!(
                problems(&config),
                [format!("{var}: {EXPECTED_BOOL}, found {raw:?}")]
            );
        }
    }
}

#[test]
fn the_two_format_variables_are_one_setting() {
    // (DYN_LOGGING_CONSOLE_FORMAT, DYN_LOGGING_JSONL, format, source, problems)
    type Case = (
        Option<&'static str>,
        Option<&'static str>,
        Format,
        Option<Source>,
        &'static [&'static str],
    );
    let cases: [Case; 10] = [
        (None, None, Format::Readable, Some(Source::Default), &[]),
        (
            None,
            Some("true"),
            Format::Jsonl,
            env("DYN_LOGGING_JSONL"),
            &[],
        ),
        (
            Some(""),
            Some("1"),
            Format::Jsonl,
            env("DYN_LOGGING_JSONL"),
            &[],
        ),
        (
            Some("  "),
            Some("yes"),
            Format::Jsonl,
            env("DYN_LOGGING_JSONL"),
            &[],
        ),
        (
            Some(" jsonl "),
            Some("false"),
            Format::Jsonl,
            env("DYN_LOGGING_CONSOLE_FORMAT"),
            &[],
        ),
        (
            Some("JSONL"),
            None,
            Format::Jsonl,
            env("DYN_LOGGING_CONSOLE_FORMAT"),
            &[],
        ),
        (
            Some("readable"),
            Some("true"),
            Format::Readable,
            env("DYN_LOGGING_CONSOLE_FORMAT"),
            &[],
        ),
        (
            Some("Readable"),
            Some("maybe"),
            Format::Readable,
            env("DYN_LOGGING_CONSOLE_FORMAT"),
            &[],
        ),
        (
            Some("xml"),
            Some("true"),
            Format::Readable,
            env("DYN_LOGGING_CONSOLE_FORMAT"),
            &["DYN_LOGGING_CONSOLE_FORMAT: expected \"readable\" or \"jsonl\", found \"xml\""],
        ),
        (
            None,
            Some("sure"),
            Format::Readable,
            Some(Source::Default),
            &[
                "DYN_LOGGING_JSONL: expected a boolean (1, true, on, yes, 0, false, off, no), \
                 found \"sure\"",
            ],
        ),
    ];
    for (console, jsonl, format, source, expected) in cases {
        let mut vars = Vec::new();
        if let Some(v) = console {
            vars.push(("DYN_LOGGING_CONSOLE_FORMAT", v));
        }
        if let Some(v) = jsonl {
            vars.push(("DYN_LOGGING_JSONL", v));
        }
        let config = resolve_env(&vars);
        assert_eq!(config.format, format, "{vars:?}");
        assert_eq!(config.source("format").cloned(), source, "{vars:?}");
        assert_eq!(problems(&config), expected, "{vars:?}");
    }
}

#[test]
fn overflow_is_block_or_drop() {
    let cases = [
        (None, Overflow::Block, Vec::<String>::new()),
        (Some("drop"), Overflow::Drop, vec![]),
        (Some(" DROP "), Overflow::Drop, vec![]),
        (Some("Block"), Overflow::Block, vec![]),
        (Some(""), Overflow::Block, vec![]),
        (
            Some("sometimes"),
            Overflow::Block,
            vec![
                "DYN_LOGGING_OVERFLOW: expected \"block\" or \"drop\", found \"sometimes\""
                    .to_owned(),
            ],
        ),
    ];
    for (raw, overflow, expected) in cases {
        let vars: Vec<(&str, &str)> = raw
            .map(|r| ("DYN_LOGGING_OVERFLOW", r))
            .into_iter()
            .collect();
        let config = resolve_env(&vars);
        assert_eq!(config.overflow, overflow, "{raw:?}");
        assert_eq!(problems(&config), expected, "{raw:?}");
    }
}

#[test]
fn either_colour_variable_turns_colour_off() {
    // (variables, colour allowed, source)
    type Case = (
        &'static [(&'static str, &'static str)],
        bool,
        Option<Source>,
    );
    let cases: [Case; 6] = [
        (&[], true, Some(Source::Default)),
        (&[("NO_COLOR", "1")], false, env("NO_COLOR")),
        (&[("NO_COLOR", "anything")], false, env("NO_COLOR")),
        (&[("NO_COLOR", "")], true, Some(Source::Default)),
        (
            &[("DYN_SDK_DISABLE_ANSI_LOGGING", "on")],
            false,
            env("DYN_SDK_DISABLE_ANSI_LOGGING"),
        ),
        (
            &[("DYN_SDK_DISABLE_ANSI_LOGGING", "0"), ("NO_COLOR", "1")],
            false,
            env("NO_COLOR"),
        ),
    ];
    for (vars, allowed, source) in cases {
        let config = resolve_env(vars);
        assert_eq!(config.ansi_allowed, allowed, "{vars:?}");
        assert_eq!(config.source("disable_ansi").cloned(), source, "{vars:?}");
    }
}

#[test]
fn dyn_log_is_kept_as_text_and_blank_counts_as_unset() {
    let config = resolve_env(&[("DYN_LOG", " warn, my_crate=debug ")]);
    assert_eq!(
        config.filter.directives.as_deref(),
        Some(" warn, my_crate=debug ")
    );
    assert_eq!(
        config.filter.directives_source,
        Source::Env("DYN_LOG".into())
    );
    for blank in ["", "   ", "\t"] {
        let config = resolve_env(&[("DYN_LOG", blank)]);
        assert_eq!(config.filter.directives, None, "{blank:?}");
        assert_eq!(config.source("filter"), Some(&Source::Default));
    }
    // RUST_LOG is not read.
    let config = resolve_env(&[("RUST_LOG", "trace")]);
    assert_eq!(config.filter.directives, None);
}

#[test]
fn another_prefix_reads_its_own_variables_only() {
    let map: HashMap<&str, &str> = HashMap::from([
        ("MYAPP_LOG", "debug"),
        ("MYAPP_LOGGING_JSONL", "1"),
        ("MYAPP_LOGGING_SPAN_EVENTS", "1"),
        ("DYN_LOG", "error"),
        ("DYN_LOG_USE_LOCAL_TZ", "1"),
        ("NO_COLOR", "1"),
        ("OTEL_SERVICE_NAME", "svc"),
    ]);
    let lookup = |name: &str| map.get(name).map(|v| (*v).to_owned());
    let config = resolve(
        &Settings::default(),
        "MYAPP",
        &lookup,
        &TempFile::absent("myapp.toml"),
    );
    assert_eq!(config.filter.directives.as_deref(), Some("debug"));
    assert_eq!(config.format, Format::Jsonl);
    assert!(config.span_events);
    assert!(!config.local_tz, "DYN_* is not read with another prefix");
    assert!(!config.ansi_allowed, "NO_COLOR is never prefixed");
    assert_eq!(config.otlp.service_name, "svc", "OTEL_* is never prefixed");
    assert_eq!(config.source("format").cloned(), env("MYAPP_LOGGING_JSONL"));
}

#[test]
fn otel_variables_resolve_as_the_spec_says() {
    let config = resolve_env(&[]);
    assert!(!config.otlp.enabled);
    assert_eq!(config.otlp.protocol, Protocol::Grpc);
    assert_eq!(config.otlp.endpoint, "http://localhost:4317");
    assert_eq!(config.otlp.headers, Vec::<(String, String)>::new());
    assert_eq!(config.otlp.timeout, Duration::from_millis(10_000));
    assert_eq!(config.otlp.service_name, "dynamo");
    assert_eq!(config.otlp.sampler, Sampler::ParentBasedAlwaysOn);

    let config = resolve_env(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")]);
    assert_eq!(config.otlp.endpoint, "http://localhost:4318/v1/traces");

    // The generic endpoint gets /v1/traces for HTTP; the signal one is
    // used as given and wins.
    let config = resolve_env(&[
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "HTTP/PROTOBUF"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/"),
    ]);
    assert_eq!(config.otlp.protocol, Protocol::HttpProtobuf);
    assert_eq!(config.otlp.endpoint, "http://collector:4318/v1/traces");
    let config = resolve_env(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://generic:4317"),
        (
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "http://signal:9999/custom",
        ),
    ]);
    assert_eq!(config.otlp.endpoint, "http://signal:9999/custom");

    // The signal headers replace the generic ones whole.
    let config = resolve_env(&[
        (
            "OTEL_EXPORTER_OTLP_HEADERS",
            "generic=1,authorization=Bearer abc==",
        ),
        ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "specific=2"),
    ]);
    assert_eq!(
        config.otlp.headers,
        [("specific".to_owned(), "2".to_owned())]
    );
    let config = resolve_env(&[("OTEL_EXPORTER_OTLP_HEADERS", "authorization=Bearer abc==")]);
    assert_eq!(
        config.otlp.headers,
        [("authorization".to_owned(), "Bearer abc==".to_owned())]
    );

    let config = resolve_env(&[
        ("OTEL_EXPORT_ENABLED", "yes"),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "2500"),
        ("OTEL_SERVICE_NAME", "router"),
        ("OTEL_TRACES_SAMPLE_RATIO", "0.25"),
    ]);
    assert!(config.otlp.enabled);
    assert_eq!(config.otlp.timeout, Duration::from_millis(2500));
    assert_eq!(config.otlp.service_name, "router");
    assert_eq!(config.otlp.sampler, Sampler::ParentBasedTraceIdRatio(0.25));
    assert_eq!(problems(&config), Vec::<String>::new());
}

#[test]
fn bad_otel_values_are_reported_and_their_defaults_used() {
    let config = resolve_env(&[
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "soon"),
        ("OTEL_TRACES_SAMPLE_RATIO", "1.5"),
        ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "localhost:4317"),
    ]);
    assert_eq!(config.otlp.protocol, Protocol::Grpc);
    assert_eq!(config.otlp.endpoint, "http://localhost:4317");
    assert_eq!(config.otlp.timeout, Duration::from_secs(10));
    assert_eq!(config.otlp.sampler, Sampler::ParentBasedAlwaysOn);
    let mut got = problems(&config);
    got.sort();
    assert_eq!(
        got,
        [
            "OTEL_EXPORTER_OTLP_PROTOCOL: expected \"grpc\" or \"http/protobuf\", found \"http/json\"",
            "OTEL_EXPORTER_OTLP_TIMEOUT: expected a positive integer number of milliseconds, \
             found \"soon\"",
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: expected an http:// or https:// URL with a host, \
             found \"localhost:4317\"",
            "OTEL_TRACES_SAMPLE_RATIO: expected a number from 0.0 to 1.0, found \"1.5\"",
        ]
    );
}

// ----- files and precedence ----------------------------------------------

const EVERY_KEY: &str = r#"
console_format = "jsonl"
span_events = true
use_local_tz = true
disable_ansi = true
overflow = "drop"
log_level = "debug"

[log_filters]
"my_service::router" = "trace"
h2 = "warn"

[otlp]
enabled = true
endpoint = "http://collector:4317"
protocol = "grpc"
headers = { authorization = "Bearer t" }
timeout_ms = 1500
service_name = "from-file"
sample_ratio = 0.5
"#;

#[test]
fn every_toml_key_is_read() {
    let file = TempFile::new("every.toml", EVERY_KEY);
    let config = resolve_with(
        &Settings::default(),
        &[("DYN_LOGGING_CONFIG_PATH", &file.text())],
        &TempFile::absent("default.toml"),
    );
    assert_eq!(problems(&config), Vec::<String>::new());
    assert_eq!(config.format, Format::Jsonl);
    assert!(config.span_events);
    assert!(config.local_tz);
    assert!(!config.ansi_allowed);
    assert_eq!(config.overflow, Overflow::Drop);
    assert_eq!(
        config.filter.log_level,
        Some(("debug".to_owned(), file.path.clone()))
    );
    let filters: Vec<(String, String)> = config
        .filter
        .log_filters
        .iter()
        .map(|f| (f.target.clone(), f.level.clone()))
        .collect();
    assert_eq!(
        filters,
        [
            ("my_service::router".to_owned(), "trace".to_owned()),
            ("h2".to_owned(), "warn".to_owned())
        ]
    );
    let otlp = &config.otlp;
    assert!(otlp.enabled);
    assert_eq!(otlp.endpoint, "http://collector:4317");
    assert_eq!(otlp.protocol, Protocol::Grpc);
    assert_eq!(
        otlp.headers,
        [("authorization".to_owned(), "Bearer t".to_owned())]
    );
    assert_eq!(otlp.timeout, Duration::from_millis(1500));
    assert_eq!(otlp.service_name, "from-file");
    assert_eq!(otlp.sampler, Sampler::ParentBasedTraceIdRatio(0.5));
    for setting in [
        "format",
        "span_events",
        "local_tz",
        "disable_ansi",
        "overflow",
    ] {
        assert_eq!(
            config.source(setting),
            Some(&Source::File(file.path.clone())),
            "{setting}"
        );
    }
    // `jsonl` is the other spelling of the format.
    let file = TempFile::new("jsonl.toml", "jsonl = true\n");
    let config = resolve_with(
        &Settings::default(),
        &[("DYN_LOGGING_CONFIG_PATH", &file.text())],
        &TempFile::absent("default.toml"),
    );
    assert_eq!(config.format, Format::Jsonl);
}

#[test]
fn each_setting_comes_from_the_highest_source() {
    let default_file = TempFile::new(
        "default.toml",
        "console_format = \"readable\"\nspan_events = false\nuse_local_tz = false\n\
         disable_ansi = false\noverflow = \"block\"\nlog_level = \"error\"\n\
         [log_filters]\na = \"error\"\nb = \"error\"\n",
    );
    let named = TempFile::new(
        "named.toml",
        "console_format = \"jsonl\"\nspan_events = true\nuse_local_tz = true\n\
         disable_ansi = true\noverflow = \"drop\"\nlog_level = \"warn\"\n\
         [log_filters]\nb = \"warn\"\nc = \"warn\"\n",
    );
    let code = Settings {
        format: Some(Format::Readable),
        span_events: Some(false),
        local_tz: Some(false),
        disable_ansi: Some(false),
        overflow: Some(Overflow::Block),
        filter: Some("trace".to_owned()),
        otlp: OtlpSettings::default(),
    };
    let vars = [
        ("DYN_LOGGING_CONSOLE_FORMAT", "jsonl"),
        ("DYN_LOGGING_SPAN_EVENTS", "1"),
        ("DYN_LOG_USE_LOCAL_TZ", "1"),
        ("DYN_SDK_DISABLE_ANSI_LOGGING", "1"),
        ("DYN_LOGGING_OVERFLOW", "drop"),
        ("DYN_LOG", "debug"),
    ];
    let named_var = [("DYN_LOGGING_CONFIG_PATH", named.text())];
    let named_var: Vec<(&str, &str)> = named_var.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let with_named: Vec<(&str, &str)> = vars.iter().copied().chain(named_var.clone()).collect();

    // Code beats everything.
    let config = resolve_with(&code, &with_named, &default_file.path);
    assert_eq!(
        (config.format, config.span_events, config.local_tz),
        (Format::Readable, false, false)
    );
    assert_eq!(
        (config.ansi_allowed, config.overflow),
        (true, Overflow::Block)
    );
    assert_eq!(config.filter.directives.as_deref(), Some("trace"));
    for setting in [
        "format",
        "span_events",
        "local_tz",
        "disable_ansi",
        "overflow",
        "filter",
    ] {
        assert_eq!(config.source(setting), Some(&Source::Code), "{setting}");
    }

    // Then the environment.
    let config = resolve_with(&Settings::default(), &with_named, &default_file.path);
    assert_eq!(
        (config.format, config.span_events, config.local_tz),
        (Format::Jsonl, true, true)
    );
    assert_eq!(
        (config.ansi_allowed, config.overflow),
        (false, Overflow::Drop)
    );
    assert_eq!(config.filter.directives.as_deref(), Some("debug"));
    assert_eq!(
        config.source("format").cloned(),
        env("DYN_LOGGING_CONSOLE_FORMAT")
    );
    assert_eq!(config.source("filter").cloned(), env("DYN_LOG"));

    // Then the named file.
    let config = resolve_with(&Settings::default(), &named_var, &default_file.path);
    assert_eq!(
        (config.format, config.span_events, config.local_tz),
        (Format::Jsonl, true, true)
    );
    assert_eq!(
        (config.ansi_allowed, config.overflow),
        (false, Overflow::Drop)
    );
    assert_eq!(config.filter.directives, None);
    assert_eq!(
        config.filter.log_level,
        Some(("warn".to_owned(), named.path.clone()))
    );
    for setting in [
        "format",
        "span_events",
        "local_tz",
        "disable_ansi",
        "overflow",
        "filter",
    ] {
        assert_eq!(
            config.source(setting),
            Some(&Source::File(named.path.clone())),
            "{setting}"
        );
    }
    // log_filters merge per target: the named file wins `b`, `a` stays.
    let filters: Vec<(String, String, bool)> = config
        .filter
        .log_filters
        .iter()
        .map(|f| (f.target.clone(), f.level.clone(), f.file == named.path))
        .collect();
    assert_eq!(
        filters,
        [
            ("a".to_owned(), "error".to_owned(), false),
            ("b".to_owned(), "warn".to_owned(), true),
            ("c".to_owned(), "warn".to_owned(), true),
        ]
    );

    // Then the default file.
    let config = resolve_with(&Settings::default(), &[], &default_file.path);
    assert_eq!(config.format, Format::Readable);
    assert_eq!(
        config.filter.log_level,
        Some(("error".to_owned(), default_file.path.clone()))
    );
    assert_eq!(
        config.source("format"),
        Some(&Source::File(default_file.path.clone()))
    );

    // Then the built-in defaults.
    let config = resolve_with(&Settings::default(), &[], &TempFile::absent("none.toml"));
    assert_eq!(
        (config.format, config.span_events, config.local_tz),
        (Format::Readable, false, false)
    );
    assert_eq!(
        (config.ansi_allowed, config.overflow),
        (true, Overflow::Block)
    );
    assert_eq!(config.filter.log_level, None);
    assert_eq!(config.source("format"), Some(&Source::Default));
    assert_eq!(
        config.filter.builtin,
        [
            ("h2", "error"),
            ("tower", "error"),
            ("hyper_util", "error"),
            ("neli", "error"),
            ("async_nats", "error"),
            ("rustls", "error"),
            ("tokenizers", "error"),
            ("axum", "error"),
            ("tonic", "error"),
            ("hf_hub", "error"),
            ("opentelemetry", "error"),
            ("opentelemetry_otlp", "error"),
            ("opentelemetry_sdk", "error"),
            ("request_span", "trace"),
        ]
    );
}

#[test]
fn the_file_format_keys_are_used_only_when_neither_variable_is_set() {
    let file = TempFile::new("format.toml", "console_format = \"jsonl\"\n");
    let path_var = ("DYN_LOGGING_CONFIG_PATH", file.text());
    let path_var = (path_var.0, path_var.1.as_str());
    let absent = TempFile::absent("default.toml");
    let cases = [
        (vec![path_var], Format::Jsonl),
        (vec![path_var, ("DYN_LOGGING_JSONL", "0")], Format::Readable),
        (
            vec![path_var, ("DYN_LOGGING_CONSOLE_FORMAT", "readable")],
            Format::Readable,
        ),
        (
            vec![path_var, ("DYN_LOGGING_CONSOLE_FORMAT", " ")],
            Format::Jsonl,
        ),
    ];
    for (vars, format) in cases {
        let config = resolve_with(&Settings::default(), &vars, &absent);
        assert_eq!(config.format, format, "{vars:?}");
    }
}

#[test]
fn bad_values_in_a_file_are_reported_at_their_line_and_column() {
    let file = TempFile::new(
        "bad.toml",
        "console_format = \"xml\"\nspan_events = \"yes\"\noverflow = \"later\"\n\
         colour = true\n[otlp]\ntimeout_ms = -5\nsample_ratio = 2.0\nprotocol = 7\n",
    );
    let config = resolve_with(
        &Settings::default(),
        &[("DYN_LOGGING_CONFIG_PATH", &file.text())],
        &TempFile::absent("default.toml"),
    );
    let p = file.text();
    assert_eq!(
        problems(&config),
        [
            format!("{p}:1:18: expected \"readable\" or \"jsonl\" for key \"console_format\", found \"xml\""),
            format!("{p}:2:15: expected a boolean for key \"span_events\", found a string"),
            format!("{p}:3:12: expected \"block\" or \"drop\" for key \"overflow\", found \"later\""),
            format!("{p}:4:1: unknown key \"colour\", ignored"),
            format!(
                "{p}:6:14: expected a positive integer number of milliseconds for key \
                 \"otlp.timeout_ms\", found -5"
            ),
            format!("{p}:7:16: expected a number from 0.0 to 1.0 for key \"otlp.sample_ratio\", found 2.0"),
            format!(
                "{p}:8:12: expected \"grpc\" or \"http/protobuf\" for key \"otlp.protocol\", \
                 found an integer"
            ),
        ]
    );
    // A bad console_format gives readable text; the rest keep defaults.
    assert_eq!(config.format, Format::Readable);
    assert!(!config.span_events);
    assert_eq!(config.overflow, Overflow::Block);
}

#[test]
fn a_missing_or_malformed_named_file_is_a_bad_setting() {
    let absent = TempFile::absent("missing.toml");
    let config = resolve_with(
        &Settings::default(),
        &[("DYN_LOGGING_CONFIG_PATH", &absent.display().to_string())],
        &TempFile::absent("default.toml"),
    );
    assert_eq!(
        problems(&config),
        [format!(
            "{}: cannot read the file named by DYN_LOGGING_CONFIG_PATH: no such file or directory",
            absent.display()
        )]
    );

    let file = TempFile::new("malformed.toml", "jsonl = true\nspan_events = \n");
    let config = resolve_with(
        &Settings::default(),
        &[("DYN_LOGGING_CONFIG_PATH", &file.text())],
        &TempFile::absent("default.toml"),
    );
    assert_eq!(
        problems(&config),
        [format!(
            "{}:2:15: string values must be quoted, expected literal string",
            file.text()
        )]
    );
    // A malformed file is ignored whole.
    assert_eq!(config.format, Format::Readable);

    // An absent default file is skipped silently.
    let config = resolve_with(&Settings::default(), &[], &TempFile::absent("default.toml"));
    assert_eq!(problems(&config), Vec::<String>::new());
}

// ----- visible effects, in a child process --------------------------------

/// What a child does: builds from the environment (with `case` choosing a
/// variant), logs a fixed scenario to stderr and flushes. A build error is
/// printed as `build error: ...`.
fn child_main(case: &str) {
    let builder = match case {
        "myapp" => dynlog::Builder::from_env().env_prefix("MYAPP"),
        "code-wins" => dynlog::Builder::from_env().json(false).filter("warn"),
        "default-file" => dynlog::Builder::from_env().default_config_file(
            std::env::var("CONFORM_DEFAULT_FILE").expect("the test sets CONFORM_DEFAULT_FILE"),
        ),
        _ => dynlog::Builder::from_env(),
    };
    let (subscriber, guard) = match builder.build() {
        Ok(built) => built,
        Err(e) => {
            eprintln!("build error: {e}");
            return;
        }
    };
    tracing::subscriber::with_default(subscriber, || {
        let span = tracing::info_span!(target: "my_service::api", "work", k = 1);
        span.in_scope(|| {
            tracing::info!(target: "my_service::api", "info api");
            tracing::debug!(target: "my_service::api", "debug api");
            tracing::debug!(target: "my_service::router", "debug router");
            tracing::trace!(target: "my_service::router", "trace router");
            tracing::warn!(target: "h2", "warn h2");
            tracing::error!(target: "h2", "error h2");
            tracing::debug!(target: "h2::codec", "debug h2");
        });
        let request = tracing::trace_span!(target: "request_span", "http-request");
        request.in_scope(|| tracing::info!(target: "other", "info other"));
    });
    guard.flush();
}

#[test]
fn child_process_entry() {
    if let Some(case) = child_case() {
        child_main(&case);
    }
}

/// Runs the child scenario with `vars` and returns its stderr lines.
fn child_lines(case: &str, vars: &[(&str, &str)]) -> Vec<String> {
    let out = run_child("child_process_entry", case, vars);
    assert!(out.success, "child failed: {}{}", out.stdout, out.stderr);
    out.stderr.lines().map(str::to_owned).collect()
}

/// The messages of JSON lines, in order.
fn json_messages(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .map(|l| {
            let v: serde_json::Value =
                serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"));
            str_of(&v, "message").to_owned()
        })
        .collect()
}

/// The text after the target in readable lines, in order.
fn text_messages(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .map(|l| {
            assert!(is_timestamp(&l[..27], false), "not readable text: {l}");
            let (_, rest) = l.split_once(": ").unwrap();
            let rest = match rest.split_once(": ") {
                Some((_, after)) => after,
                None => rest,
            };
            rest.to_owned()
        })
        .collect()
}

#[test]
fn with_nothing_set_lines_are_readable_at_info() {
    let lines = child_lines("default", &[("RUST_LOG", "trace")]);
    assert_eq!(
        text_messages(&lines),
        ["info api k=1", "error h2 k=1", "info other"]
    );
    assert!(lines[0].ends_with(" INFO work: my_service::api: info api k=1"));
}

#[test]
fn the_format_variables_choose_json_lines() {
    for vars in [
        &[("DYN_LOGGING_JSONL", "1")][..],
        &[("DYN_LOGGING_CONSOLE_FORMAT", " JSONL ")],
        &[
            ("DYN_LOGGING_CONSOLE_FORMAT", "jsonl"),
            ("DYN_LOGGING_JSONL", "0"),
        ],
    ] {
        let lines = child_lines("default", vars);
        assert_eq!(
            json_messages(&lines),
            ["info api", "error h2", "info other"],
            "{vars:?}"
        );
    }
    let lines = child_lines(
        "default",
        &[
            ("DYN_LOGGING_CONSOLE_FORMAT", "readable"),
            ("DYN_LOGGING_JSONL", "1"),
        ],
    );
    assert_eq!(
        text_messages(&lines),
        ["info api k=1", "error h2 k=1", "info other"]
    );
}

#[test]
fn span_events_appear_when_asked_for() {
    let lines = child_lines(
        "default",
        &[
            ("DYN_LOGGING_SPAN_EVENTS", "on"),
            ("DYN_LOGGING_JSONL", "true"),
        ],
    );
    assert_eq!(
        json_messages(&lines),
        [
            "SPAN_FIRST_ENTRY",
            "info api",
            "error h2",
            "SPAN_FIRST_ENTRY",
            "info other",
            "SPAN_CLOSED",
            "SPAN_CLOSED"
        ]
    );
}

#[test]
fn local_time_carries_the_numeric_offset() {
    for (tz, offset) in [("Asia/Kolkata", "+05:30"), ("UTC", "+00:00")] {
        let lines = child_lines(
            "default",
            &[
                ("DYN_LOG_USE_LOCAL_TZ", "1"),
                ("DYN_LOGGING_JSONL", "1"),
                ("TZ", tz),
            ],
        );
        for line in &lines {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            let time = str_of(&v, "time");
            assert!(is_timestamp(time, true), "{time}");
            assert!(time.ends_with(offset), "{time} in {tz}");
        }
        assert_eq!(lines.len(), 3);
    }
    // Readable text too, and UTC with `Z` when the variable is off.
    let lines = child_lines(
        "default",
        &[("DYN_LOG_USE_LOCAL_TZ", "yes"), ("TZ", "Asia/Kolkata")],
    );
    assert!(lines[0][..32].ends_with("+05:30"), "{}", lines[0]);
    assert!(is_timestamp(&lines[0][..32], true));
    let lines = child_lines(
        "default",
        &[("DYN_LOG_USE_LOCAL_TZ", "0"), ("TZ", "Asia/Kolkata")],
    );
    assert!(is_timestamp(&lines[0][..27], false), "{}", lines[0]);
}

#[test]
fn dyn_log_decides_the_default_level_and_beats_builtin_targets() {
    let json = ("DYN_LOGGING_JSONL", "1");
    let cases: [(&str, &[&str]); 6] = [
        (
            "debug",
            &[
                "info api",
                "debug api",
                "debug router",
                "error h2",
                "info other",
            ],
        ),
        // A target alone turns every other target off; built-in targets and
        // request spans keep their levels.
        ("my_service::router=debug", &["debug router", "error h2"]),
        // The environment beats the built-in `h2=error`, for h2's children too.
        (
            "info,h2=debug",
            &["info api", "warn h2", "error h2", "debug h2", "info other"],
        ),
        (
            " warn , my_service::api = debug ",
            &["info api", "debug api", "error h2"],
        ),
        ("warning,h2=warn", &["warn h2", "error h2"]),
        ("off", &["error h2"]),
    ];
    for (directives, expected) in cases {
        let lines = child_lines("default", &[json, ("DYN_LOG", directives)]);
        assert_eq!(json_messages(&lines), expected, "DYN_LOG={directives:?}");
    }
}

#[test]
fn the_named_file_sets_level_filters_and_format() {
    let file = TempFile::new(
        "child.toml",
        "jsonl = true\nlog_level = \"warn\"\n[log_filters]\n\"my_service::router\" = \"trace\"\n\
         h2 = \"off\"\n",
    );
    let path = file.text();
    let lines = child_lines("default", &[("DYN_LOGGING_CONFIG_PATH", &path)]);
    assert_eq!(json_messages(&lines), ["debug router", "trace router"]);

    // DYN_LOG replaces the file's level, not its per-target entries; the
    // environment's format beats the file's.
    let lines = child_lines(
        "default",
        &[
            ("DYN_LOGGING_CONFIG_PATH", &path),
            ("DYN_LOG", "info"),
            ("DYN_LOGGING_JSONL", "false"),
        ],
    );
    assert_eq!(
        text_messages(&lines),
        [
            "info api k=1",
            "debug router k=1",
            "trace router k=1",
            "info other"
        ]
    );
}

#[test]
fn settings_in_code_beat_the_environment() {
    let lines = child_lines(
        "code-wins",
        &[("DYN_LOGGING_JSONL", "1"), ("DYN_LOG", "trace")],
    );
    // The `work` span is below `warn`, so it is not tracked: no span data.
    assert_eq!(text_messages(&lines), ["error h2"]);
}

#[test]
fn another_prefix_reads_its_variables_in_a_real_process() {
    let lines = child_lines(
        "myapp",
        &[
            ("MYAPP_LOGGING_JSONL", "1"),
            ("MYAPP_LOG", "error"),
            ("DYN_LOG", "trace"),
            ("DYN_LOGGING_JSONL", "0"),
        ],
    );
    assert_eq!(json_messages(&lines), ["error h2"]);
}

#[test]
fn the_default_file_set_in_code_is_read() {
    let file = TempFile::new(
        "default-child.toml",
        "jsonl = true\nlog_level = \"error\"\n",
    );
    let lines = child_lines("default-file", &[("CONFORM_DEFAULT_FILE", &file.text())]);
    assert_eq!(json_messages(&lines), ["error h2"]);
}

#[test]
fn a_strict_build_names_the_first_bad_setting() {
    let absent = TempFile::absent("strict.toml");
    let malformed = TempFile::new("strict-malformed.toml", "[otlp\n");
    let bad_level = TempFile::new("strict-level.toml", "log_level = \"loud\"\n");
    let cases: Vec<(Vec<(&str, String)>, String)> = vec![
        (
            vec![("DYN_LOGGING_JSONL", "maybe".to_owned())],
            format!("DYN_LOGGING_JSONL: {EXPECTED_BOOL}, found \"maybe\""),
        ),
        (
            vec![("DYN_LOGGING_CONSOLE_FORMAT", "xml".to_owned())],
            "DYN_LOGGING_CONSOLE_FORMAT: expected \"readable\" or \"jsonl\", found \"xml\"".to_owned(),
        ),
        (
            vec![("DYN_LOG", "info,[unclosed".to_owned())],
            "DYN_LOG: invalid directive at byte 14: expected ']' to close the span name, found end \
             of input"
                .to_owned(),
        ),
        (
            vec![("DYN_LOGGING_CONFIG_PATH", absent.display().to_string())],
            format!(
                "{}: cannot read the file named by DYN_LOGGING_CONFIG_PATH: no such file or directory",
                absent.display()
            ),
        ),
        (
            vec![("DYN_LOGGING_CONFIG_PATH", malformed.text())],
            format!("{}:1:6: unclosed table, expected `]`", malformed.text()),
        ),
        (
            vec![("DYN_LOGGING_CONFIG_PATH", bad_level.text())],
            format!(
                "{}: expected a level (off, error, warn, info, debug, trace) for log_level, \
                 found \"loud\"",
                bad_level.text()
            ),
        ),
        (
            vec![("OTEL_TRACES_SAMPLE_RATIO", "nan".to_owned())],
            "OTEL_TRACES_SAMPLE_RATIO: expected a number from 0.0 to 1.0, found \"nan\"".to_owned(),
        ),
    ];
    for (vars, message) in cases {
        let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let lines = child_lines("default", &vars);
        assert_eq!(lines, [format!("build error: {message}")], "{vars:?}");
    }
}

#[test]
fn a_variable_that_is_not_utf8_is_a_bad_setting() {
    let out = support::run_child_raw(
        "child_process_entry",
        "default",
        &[("DYN_LOGGING_JSONL", b"\xff\xfe"), ("DYN_LOG", b"info")],
    );
    assert!(out.success, "child failed: {}", out.stderr);
    assert_eq!(
        out.stderr,
        "build error: DYN_LOGGING_JSONL: expected UTF-8 text, found other bytes\n"
    );
}

#[test]
fn otlp_settings_follow_the_same_precedence() {
    let file = TempFile::new(
        "otlp.toml",
        "[otlp]\nenabled = true\nprotocol = \"http/protobuf\"\nendpoint = \"http://file:4318/v1/traces\"\n\
         headers = \"a=1,b=2\"\ntimeout_ms = 700\nservice_name = \"file-svc\"\nsample_ratio = 0.5\n",
    );
    let path = file.text();
    let absent = TempFile::absent("default.toml");

    // The file alone.
    let config = resolve_with(
        &Settings::default(),
        &[("DYN_LOGGING_CONFIG_PATH", &path)],
        &absent,
    );
    let otlp = &config.otlp;
    assert!(otlp.enabled);
    assert_eq!(otlp.protocol, Protocol::HttpProtobuf);
    assert_eq!(otlp.endpoint, "http://file:4318/v1/traces");
    assert_eq!(
        otlp.headers,
        [
            ("a".to_owned(), "1".to_owned()),
            ("b".to_owned(), "2".to_owned())
        ]
    );
    assert_eq!(otlp.timeout, Duration::from_millis(700));
    assert_eq!(otlp.service_name, "file-svc");
    assert_eq!(otlp.sampler, Sampler::ParentBasedTraceIdRatio(0.5));

    // The environment beats it, setting by setting.
    let config = resolve_with(
        &Settings::default(),
        &[
            ("DYN_LOGGING_CONFIG_PATH", &path),
            ("OTEL_EXPORT_ENABLED", "0"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://env:4318"),
            ("OTEL_SERVICE_NAME", "env-svc"),
            ("OTEL_TRACES_SAMPLE_RATIO", "0.125"),
        ],
        &absent,
    );
    let otlp = &config.otlp;
    assert!(!otlp.enabled);
    assert_eq!(otlp.protocol, Protocol::HttpProtobuf, "from the file");
    assert_eq!(otlp.endpoint, "http://env:4318/v1/traces");
    assert_eq!(otlp.timeout, Duration::from_millis(700), "from the file");
    assert_eq!(otlp.service_name, "env-svc");
    assert_eq!(otlp.sampler, Sampler::ParentBasedTraceIdRatio(0.125));
    assert_eq!(
        config.source("otlp.enabled").cloned(),
        env("OTEL_EXPORT_ENABLED")
    );
    assert_eq!(
        config.source("otlp.timeout"),
        Some(&Source::File(file.path.clone()))
    );

    // Code beats both.
    let code = Settings {
        otlp: OtlpSettings {
            service_name: Some("code-svc".to_owned()),
            ..OtlpSettings::default()
        },
        ..Settings::default()
    };
    let config = resolve_with(
        &code,
        &[
            ("DYN_LOGGING_CONFIG_PATH", &path),
            ("OTEL_SERVICE_NAME", "env-svc"),
        ],
        &absent,
    );
    assert_eq!(config.otlp.service_name, "code-svc");
    assert_eq!(config.source("otlp.service_name"), Some(&Source::Code));
}
