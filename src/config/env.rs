//! Reads the environment variables into one checked layer of settings.
//!
//! Each variable is looked up once. The layer remembers which variable gave
//! each setting, so that [`Source::Env`](super::Source::Env) can name it. A
//! bad value is reported once as a [`Problem`] and counts as unset; the one
//! exception is `<PREFIX>_LOGGING_CONSOLE_FORMAT`, whose bad value gives
//! readable text (SPEC 2).

use std::path::PathBuf;

use super::values::{self, is_blank, Mismatch};
use super::{Format, Layer, Origin, Problem, Settings};
use super::{
    BASE_ENDPOINT, DISABLE_ANSI, ENABLED, ENDPOINT, EXPORT_TIMEOUT, FILTER, FORMAT, HEADERS,
    LOCAL_TZ, MAX_EXPORT_BATCH_SIZE, MAX_QUEUE_SIZE, OVERFLOW, PROTOCOL, SAMPLER, SAMPLER_ARG,
    SAMPLE_RATIO, SCHEDULED_DELAY, SERVICE_NAME, SPAN_EVENTS, TIMEOUT,
};

/// What the environment says: its layer, and the file named by
/// `<PREFIX>_LOGGING_CONFIG_PATH` with that variable's name.
pub(super) struct Reading {
    pub(super) layer: Layer,
    pub(super) config_path: Option<(PathBuf, String)>,
}

/// Reads every variable dynlog knows, with `prefix` on the `DYN_` ones.
pub(super) fn read(
    prefix: &str,
    env: &dyn Fn(&str) -> Option<String>,
    problems: &mut Vec<Problem>,
) -> Reading {
    let mut reader = Reader {
        env,
        problems,
        vars: Vec::new(),
    };
    let mut settings = Settings::default();
    let var = |name: &str| format!("{prefix}_{name}");

    // The two format variables are one setting; a set, non-blank
    // CONSOLE_FORMAT decides and a bad one gives readable text.
    let console_format = var("LOGGING_CONSOLE_FORMAT");
    settings.format = match reader.non_blank(&console_format) {
        Some(raw) => {
            reader.note(FORMAT, &console_format);
            Some(values::parse_format(&raw).unwrap_or_else(|mismatch| {
                reader.report(&console_format, &mismatch);
                Format::Readable
            }))
        }
        None => reader.bool(FORMAT, &var("LOGGING_JSONL")).map(|is_jsonl| {
            if is_jsonl {
                Format::Jsonl
            } else {
                Format::Readable
            }
        }),
    };
    settings.span_events = reader.bool(SPAN_EVENTS, &var("LOGGING_SPAN_EVENTS"));
    settings.local_tz = reader.bool(LOCAL_TZ, &var("LOG_USE_LOCAL_TZ"));
    settings.overflow = reader.word(
        OVERFLOW,
        &[&var("LOGGING_OVERFLOW")],
        values::parse_overflow,
    );

    // Colour: either variable can turn it off.
    let no_colour = reader.raw("NO_COLOR").is_some_and(|v| !v.is_empty());
    settings.disable_ansi = match reader.bool(DISABLE_ANSI, &var("SDK_DISABLE_ANSI_LOGGING")) {
        Some(true) => Some(true),
        _ if no_colour => {
            reader.note(DISABLE_ANSI, "NO_COLOR");
            Some(true)
        }
        other => other,
    };

    let log = var("LOG");
    settings.filter = reader.non_blank(&log);
    if settings.filter.is_some() {
        reader.note(FILTER, &log);
    }
    let config_var = var("LOGGING_CONFIG_PATH");
    let config_path = reader
        .non_blank(&config_var)
        .map(|raw| (PathBuf::from(raw), config_var));

    // OTLP: signal variables before generic ones.
    let otlp = &mut settings.otlp;
    otlp.enabled = reader.bool(ENABLED, "OTEL_EXPORT_ENABLED");
    otlp.endpoint = reader.word(ENDPOINT, &["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"], |raw| {
        values::check_endpoint(raw).map(str::to_owned)
    });
    let base_endpoint = match otlp.endpoint {
        Some(_) => None,
        None => reader.word(BASE_ENDPOINT, &["OTEL_EXPORTER_OTLP_ENDPOINT"], |raw| {
            values::check_endpoint(raw).map(str::to_owned)
        }),
    };
    otlp.protocol = reader.word(
        PROTOCOL,
        &[
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
            "OTEL_EXPORTER_OTLP_PROTOCOL",
        ],
        values::parse_protocol,
    );
    otlp.headers = reader.headers(&[
        "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
        "OTEL_EXPORTER_OTLP_HEADERS",
    ]);
    otlp.timeout = reader.word(
        TIMEOUT,
        &[
            "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
            "OTEL_EXPORTER_OTLP_TIMEOUT",
        ],
        values::parse_millis,
    );
    otlp.service_name = reader.word(SERVICE_NAME, &["OTEL_SERVICE_NAME"], |raw| {
        Ok(raw.to_owned())
    });
    otlp.sample_ratio = reader.word(
        SAMPLE_RATIO,
        &["OTEL_TRACES_SAMPLE_RATIO"],
        values::parse_ratio,
    );
    otlp.sampler = reader.word(SAMPLER, &["OTEL_TRACES_SAMPLER"], |raw| {
        values::parse_sampler(raw).map(str::to_owned)
    });
    otlp.sampler_arg = reader.word(SAMPLER_ARG, &["OTEL_TRACES_SAMPLER_ARG"], |raw| {
        Ok(raw.to_owned())
    });
    otlp.max_queue_size = reader.word(
        MAX_QUEUE_SIZE,
        &["OTEL_BSP_MAX_QUEUE_SIZE"],
        values::parse_size,
    );
    otlp.scheduled_delay = reader.word(
        SCHEDULED_DELAY,
        &["OTEL_BSP_SCHEDULE_DELAY"],
        values::parse_millis,
    );
    otlp.max_export_batch_size = reader.word(
        MAX_EXPORT_BATCH_SIZE,
        &["OTEL_BSP_MAX_EXPORT_BATCH_SIZE"],
        values::parse_size,
    );
    otlp.export_timeout = reader.word(
        EXPORT_TIMEOUT,
        &["OTEL_BSP_EXPORT_TIMEOUT"],
        values::parse_millis,
    );

    let mut layer = Layer::new(settings, Origin::Env(reader.vars));
    layer.base_endpoint = base_endpoint;
    Reading { layer, config_path }
}

/// Looks variables up, reports bad values and notes which variable gave
/// each setting.
struct Reader<'a> {
    env: &'a dyn Fn(&str) -> Option<String>,
    problems: &'a mut Vec<Problem>,
    vars: Vec<(&'static str, String)>,
}

impl Reader<'_> {
    fn raw(&self, var: &str) -> Option<String> {
        (self.env)(var)
    }

    fn non_blank(&self, var: &str) -> Option<String> {
        self.raw(var).filter(|raw| !is_blank(raw))
    }

    /// Notes that `var` gave `setting`, replacing an earlier note.
    fn note(&mut self, setting: &'static str, var: &str) {
        self.vars.retain(|(known, _)| *known != setting);
        self.vars.push((setting, var.to_owned()));
    }

    fn report(&mut self, var: &str, mismatch: &Mismatch) {
        self.problems.push(Problem {
            source: var.to_owned(),
            message: format!("expected {}, found {}", mismatch.expected, mismatch.found),
        });
    }

    /// A boolean: any set value counts, the empty string being false.
    fn bool(&mut self, setting: &'static str, var: &str) -> Option<bool> {
        let raw = self.raw(var)?;
        match values::parse_bool(&raw) {
            Ok(value) => {
                self.note(setting, var);
                Some(value)
            }
            Err(mismatch) => {
                self.report(var, &mismatch);
                None
            }
        }
    }

    /// The first of `vars` that is set, non-blank and good. A bad one is
    /// reported and the next is tried.
    fn word<T>(
        &mut self,
        setting: &'static str,
        vars: &[&str],
        parse: impl Fn(&str) -> Result<T, Mismatch>,
    ) -> Option<T> {
        for var in vars {
            let Some(raw) = self.non_blank(var) else {
                continue;
            };
            match parse(&raw) {
                Ok(value) => {
                    self.note(setting, var);
                    return Some(value);
                }
                Err(mismatch) => self.report(var, &mismatch),
            }
        }
        None
    }

    /// The first of `vars` that is set and non-blank replaces the others
    /// whole; its bad members are reported and left out.
    fn headers(&mut self, vars: &[&str]) -> Option<Vec<(String, String)>> {
        let (var, raw) = vars
            .iter()
            .find_map(|var| Some((*var, self.non_blank(var)?)))?;
        let (headers, mismatches) = values::parse_headers(&raw);
        for mismatch in &mismatches {
            self.report(var, mismatch);
        }
        self.note(HEADERS, var);
        Some(headers)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::time::Duration;

    use super::*;
    use crate::config::{Overflow, Protocol, Source};

    fn read_map(prefix: &str, pairs: &[(&str, &str)]) -> (Reading, Vec<Problem>) {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let env = move |name: &str| map.get(name).cloned();
        let mut problems = Vec::new();
        let reading = read(prefix, &env, &mut problems);
        (reading, problems)
    }

    fn lines(problems: &[Problem]) -> Vec<String> {
        problems.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn nothing_set_gives_an_empty_layer() {
        let (reading, problems) = read_map("DYN", &[]);
        let settings = &reading.layer.settings;
        assert_eq!(settings.format, None);
        assert_eq!(settings.span_events, None);
        assert_eq!(settings.disable_ansi, None);
        assert_eq!(settings.filter, None);
        assert_eq!(settings.otlp.enabled, None);
        assert_eq!(settings.otlp.headers, None);
        assert_eq!(reading.layer.base_endpoint, None);
        assert!(reading.config_path.is_none());
        assert!(problems.is_empty());
    }

    #[test]
    fn format_variables_are_one_setting() {
        // (CONSOLE_FORMAT, JSONL, format, variable that decided, problems)
        type Case = (
            Option<&'static str>,
            Option<&'static str>,
            Option<Format>,
            Option<&'static str>,
            &'static [&'static str],
        );
        let cases: &[Case] = &[
            (None, None, None, None, &[]),
            (None, Some("true"), Some(Format::Jsonl), Some("DYN_LOGGING_JSONL"), &[]),
            (None, Some(""), Some(Format::Readable), Some("DYN_LOGGING_JSONL"), &[]),
            (Some(""), Some("true"), Some(Format::Jsonl), Some("DYN_LOGGING_JSONL"), &[]),
            (Some("   "), Some("true"), Some(Format::Jsonl), Some("DYN_LOGGING_JSONL"), &[]),
            (
                Some(" jsonl "),
                Some("false"),
                Some(Format::Jsonl),
                Some("DYN_LOGGING_CONSOLE_FORMAT"),
                &[],
            ),
            (
                Some("readable"),
                Some("true"),
                Some(Format::Readable),
                Some("DYN_LOGGING_CONSOLE_FORMAT"),
                &[],
            ),
            (
                Some("JSONL"),
                None,
                Some(Format::Jsonl),
                Some("DYN_LOGGING_CONSOLE_FORMAT"),
                &[],
            ),
            (
                Some("unsupported"),
                Some("true"),
                Some(Format::Readable),
                Some("DYN_LOGGING_CONSOLE_FORMAT"),
                &["DYN_LOGGING_CONSOLE_FORMAT: expected \"readable\" or \"jsonl\", found \"unsupported\""],
            ),
            (
                Some("jsonl"),
                Some("maybe"),
                Some(Format::Jsonl),
                Some("DYN_LOGGING_CONSOLE_FORMAT"),
                &[],
            ),
            (
                None,
                Some("maybe"),
                None,
                None,
                &["DYN_LOGGING_JSONL: expected a boolean (1, true, on, yes, 0, false, off, no), found \"maybe\""],
            ),
        ];
        for (console, jsonl, want, want_var, want_problems) in cases {
            let mut pairs = Vec::new();
            if let Some(v) = console {
                pairs.push(("DYN_LOGGING_CONSOLE_FORMAT", *v));
            }
            if let Some(v) = jsonl {
                pairs.push(("DYN_LOGGING_JSONL", *v));
            }
            let (reading, problems) = read_map("DYN", &pairs);
            let case = format!("{console:?} {jsonl:?}");
            assert_eq!(reading.layer.settings.format, *want, "{case}");
            let source = want_var.map(|v| Source::Env(v.to_owned()));
            if let Some(source) = source {
                assert_eq!(reading.layer.source(FORMAT), source, "{case}");
            }
            assert_eq!(lines(&problems), *want_problems, "{case}");
        }
    }

    #[test]
    fn booleans_from_every_variable() {
        let (reading, problems) = read_map(
            "DYN",
            &[
                ("DYN_LOGGING_SPAN_EVENTS", " ON "),
                ("DYN_LOG_USE_LOCAL_TZ", "0"),
                ("DYN_SDK_DISABLE_ANSI_LOGGING", "Yes"),
                ("OTEL_EXPORT_ENABLED", ""),
            ],
        );
        let settings = &reading.layer.settings;
        assert_eq!(settings.span_events, Some(true));
        assert_eq!(settings.local_tz, Some(false));
        assert_eq!(settings.disable_ansi, Some(true));
        assert_eq!(settings.otlp.enabled, Some(false));
        assert_eq!(
            reading.layer.source(DISABLE_ANSI),
            Source::Env("DYN_SDK_DISABLE_ANSI_LOGGING".into())
        );
        assert!(problems.is_empty());

        let (reading, problems) = read_map(
            "DYN",
            &[
                ("DYN_LOGGING_SPAN_EVENTS", "2"),
                ("OTEL_EXPORT_ENABLED", "enabled"),
            ],
        );
        assert_eq!(reading.layer.settings.span_events, None);
        assert_eq!(reading.layer.settings.otlp.enabled, None);
        assert_eq!(
            lines(&problems),
            [
                "DYN_LOGGING_SPAN_EVENTS: expected a boolean (1, true, on, yes, 0, false, off, no), found \"2\"",
                "OTEL_EXPORT_ENABLED: expected a boolean (1, true, on, yes, 0, false, off, no), found \"enabled\"",
            ]
        );
    }

    #[test]
    fn colour_variables() {
        // (DYN_SDK_DISABLE_ANSI_LOGGING, NO_COLOR, disable, source)
        type Case = (
            Option<&'static str>,
            Option<&'static str>,
            Option<bool>,
            Option<&'static str>,
        );
        let cases: &[Case] = &[
            (None, None, None, None),
            (None, Some(""), None, None),
            (None, Some("1"), Some(true), Some("NO_COLOR")),
            (None, Some("anything"), Some(true), Some("NO_COLOR")),
            (
                Some("false"),
                None,
                Some(false),
                Some("DYN_SDK_DISABLE_ANSI_LOGGING"),
            ),
            (Some("false"), Some("x"), Some(true), Some("NO_COLOR")),
            (
                Some("true"),
                Some("x"),
                Some(true),
                Some("DYN_SDK_DISABLE_ANSI_LOGGING"),
            ),
            (Some("bad"), Some("x"), Some(true), Some("NO_COLOR")),
        ];
        for (dyn_var, no_color, want, want_var) in cases {
            let mut pairs = Vec::new();
            if let Some(v) = dyn_var {
                pairs.push(("DYN_SDK_DISABLE_ANSI_LOGGING", *v));
            }
            if let Some(v) = no_color {
                pairs.push(("NO_COLOR", *v));
            }
            let (reading, _) = read_map("DYN", &pairs);
            let case = format!("{dyn_var:?} {no_color:?}");
            assert_eq!(reading.layer.settings.disable_ansi, *want, "{case}");
            if let Some(var) = want_var {
                assert_eq!(
                    reading.layer.source(DISABLE_ANSI),
                    Source::Env((*var).into()),
                    "{case}"
                );
            }
        }
    }

    #[test]
    fn prefix_applies_to_dyn_variables_only() {
        let (reading, problems) = read_map(
            "MYAPP",
            &[
                ("MYAPP_LOG", "debug"),
                ("MYAPP_LOGGING_JSONL", "1"),
                ("MYAPP_LOGGING_CONFIG_PATH", "/etc/myapp.toml"),
                ("MYAPP_LOG_USE_LOCAL_TZ", "1"),
                ("MYAPP_SDK_DISABLE_ANSI_LOGGING", "1"),
                ("MYAPP_LOGGING_SPAN_EVENTS", "1"),
                ("MYAPP_LOGGING_OVERFLOW", "drop"),
                ("DYN_LOG", "trace"),
                ("DYN_LOGGING_CONSOLE_FORMAT", "readable"),
                ("OTEL_SERVICE_NAME", "svc"),
            ],
        );
        let settings = &reading.layer.settings;
        assert_eq!(settings.filter.as_deref(), Some("debug"));
        assert_eq!(
            reading.layer.source(FILTER),
            Source::Env("MYAPP_LOG".into())
        );
        assert_eq!(settings.format, Some(Format::Jsonl));
        assert_eq!(settings.local_tz, Some(true));
        assert_eq!(settings.disable_ansi, Some(true));
        assert_eq!(settings.span_events, Some(true));
        assert_eq!(settings.overflow, Some(Overflow::Drop));
        assert_eq!(settings.otlp.service_name.as_deref(), Some("svc"));
        let (path, var) = reading.config_path.unwrap();
        assert_eq!(path, PathBuf::from("/etc/myapp.toml"));
        assert_eq!(var, "MYAPP_LOGGING_CONFIG_PATH");
        assert!(problems.is_empty());
    }

    #[test]
    fn log_and_config_path_blank_is_unset() {
        let (reading, problems) = read_map(
            "DYN",
            &[
                ("DYN_LOG", "  "),
                ("DYN_LOGGING_CONFIG_PATH", ""),
                ("DYN_LOGGING_OVERFLOW", " "),
            ],
        );
        assert_eq!(reading.layer.settings.filter, None);
        assert_eq!(reading.layer.settings.overflow, None);
        assert!(reading.config_path.is_none());
        assert!(problems.is_empty());

        // Raw text is kept, whitespace and all, for the filter to parse.
        let (reading, _) = read_map("DYN", &[("DYN_LOG", " info, h2=debug ")]);
        assert_eq!(
            reading.layer.settings.filter.as_deref(),
            Some(" info, h2=debug ")
        );

        let (_, problems) = read_map("DYN", &[("DYN_LOGGING_OVERFLOW", "wait")]);
        assert_eq!(
            lines(&problems),
            ["DYN_LOGGING_OVERFLOW: expected \"block\" or \"drop\", found \"wait\""]
        );
    }

    #[test]
    fn endpoints() {
        // (TRACES_ENDPOINT, ENDPOINT, endpoint, base, problems)
        type Case = (
            Option<&'static str>,
            Option<&'static str>,
            Option<&'static str>,
            Option<&'static str>,
            &'static [&'static str],
        );
        let cases: &[Case] = &[
            (None, None, None, None, &[]),
            (Some("http://t:1/x"), Some("http://g:2"), Some("http://t:1/x"), None, &[]),
            (None, Some("http://g:2"), None, Some("http://g:2"), &[]),
            (Some(" "), Some("http://g:2"), None, Some("http://g:2"), &[]),
            (
                Some("t:1"),
                Some("http://g:2"),
                None,
                Some("http://g:2"),
                &["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: expected an http:// or https:// URL with a host, found \"t:1\""],
            ),
            (
                None,
                Some("ftp://g"),
                None,
                None,
                &["OTEL_EXPORTER_OTLP_ENDPOINT: expected an http:// or https:// URL with a host, found \"ftp://g\""],
            ),
        ];
        for (signal, generic, want, want_base, want_problems) in cases {
            let mut pairs = Vec::new();
            if let Some(v) = signal {
                pairs.push(("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", *v));
            }
            if let Some(v) = generic {
                pairs.push(("OTEL_EXPORTER_OTLP_ENDPOINT", *v));
            }
            let (reading, problems) = read_map("DYN", &pairs);
            let case = format!("{signal:?} {generic:?}");
            assert_eq!(
                reading.layer.settings.otlp.endpoint.as_deref(),
                *want,
                "{case}"
            );
            assert_eq!(reading.layer.base_endpoint.as_deref(), *want_base, "{case}");
            assert_eq!(lines(&problems), *want_problems, "{case}");
        }
    }

    #[test]
    fn protocols() {
        // (TRACES_PROTOCOL, PROTOCOL, protocol, source, problems)
        type Case = (
            Option<&'static str>,
            Option<&'static str>,
            Option<Protocol>,
            Option<&'static str>,
            &'static [&'static str],
        );
        let cases: &[Case] = &[
            (None, None, None, None, &[]),
            (None, Some(" HTTP/protobuf "), Some(Protocol::HttpProtobuf), Some("OTEL_EXPORTER_OTLP_PROTOCOL"), &[]),
            (Some("grpc"), Some("http/protobuf"), Some(Protocol::Grpc), Some("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"), &[]),
            (Some(""), Some("http/protobuf"), Some(Protocol::HttpProtobuf), Some("OTEL_EXPORTER_OTLP_PROTOCOL"), &[]),
            (None, Some("  "), None, None, &[]),
            (
                Some("http/json"),
                Some("http/protobuf"),
                Some(Protocol::HttpProtobuf),
                Some("OTEL_EXPORTER_OTLP_PROTOCOL"),
                &["OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: expected \"grpc\" or \"http/protobuf\", found \"http/json\""],
            ),
            (
                None,
                Some("http"),
                None,
                None,
                &["OTEL_EXPORTER_OTLP_PROTOCOL: expected \"grpc\" or \"http/protobuf\", found \"http\""],
            ),
        ];
        for (signal, generic, want, want_var, want_problems) in cases {
            let mut pairs = Vec::new();
            if let Some(v) = signal {
                pairs.push(("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", *v));
            }
            if let Some(v) = generic {
                pairs.push(("OTEL_EXPORTER_OTLP_PROTOCOL", *v));
            }
            let (reading, problems) = read_map("DYN", &pairs);
            let case = format!("{signal:?} {generic:?}");
            assert_eq!(reading.layer.settings.otlp.protocol, *want, "{case}");
            if let Some(var) = want_var {
                assert_eq!(
                    reading.layer.source(PROTOCOL),
                    Source::Env((*var).into()),
                    "{case}"
                );
            }
            assert_eq!(lines(&problems), *want_problems, "{case}");
        }
    }

    #[test]
    fn headers() {
        // (TRACES_HEADERS, HEADERS, headers, problems)
        type Case = (
            Option<&'static str>,
            Option<&'static str>,
            Option<&'static [(&'static str, &'static str)]>,
            &'static [&'static str],
        );
        let cases: &[Case] = &[
            (None, None, None, &[]),
            (None, Some("a=1,b=2"), Some(&[("a", "1"), ("b", "2")]), &[]),
            (Some("c=3"), Some("a=1,b=2"), Some(&[("c", "3")]), &[]),
            (Some(""), Some("a=1"), Some(&[("a", "1")]), &[]),
            (Some(" "), None, None, &[]),
            (
                Some("bad,c=3"),
                Some("a=1"),
                Some(&[("c", "3")]),
                &["OTEL_EXPORTER_OTLP_TRACES_HEADERS: expected a header as key=value, found \"bad\""],
            ),
            (
                None,
                Some("=x, =y"),
                Some(&[]),
                &[
                    "OTEL_EXPORTER_OTLP_HEADERS: expected a header name of letters, digits and !#$%&'*+-.^_`|~, found \"=x\"",
                    "OTEL_EXPORTER_OTLP_HEADERS: expected a header name of letters, digits and !#$%&'*+-.^_`|~, found \"=y\"",
                ],
            ),
            (None, Some("k=a%20b"), Some(&[("k", "a b")]), &[]),
        ];
        for (signal, generic, want, want_problems) in cases {
            let mut pairs = Vec::new();
            if let Some(v) = signal {
                pairs.push(("OTEL_EXPORTER_OTLP_TRACES_HEADERS", *v));
            }
            if let Some(v) = generic {
                pairs.push(("OTEL_EXPORTER_OTLP_HEADERS", *v));
            }
            let (reading, problems) = read_map("DYN", &pairs);
            let case = format!("{signal:?} {generic:?}");
            let got = reading.layer.settings.otlp.headers.map(|headers| {
                headers
                    .into_iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
            });
            let want = want.map(|w| {
                w.iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
            });
            assert_eq!(got, want, "{case}");
            assert_eq!(lines(&problems), *want_problems, "{case}");
        }
    }

    #[test]
    fn sdk_variables() {
        let (reading, problems) = read_map(
            "DYN",
            &[
                ("OTEL_EXPORTER_OTLP_TIMEOUT", "2500"),
                ("OTEL_SERVICE_NAME", " my svc "),
                ("OTEL_TRACES_SAMPLE_RATIO", "0.5"),
                ("OTEL_TRACES_SAMPLER", "ParentBased_TraceIdRatio"),
                ("OTEL_TRACES_SAMPLER_ARG", "0.1"),
                ("OTEL_BSP_MAX_QUEUE_SIZE", "100"),
                ("OTEL_BSP_SCHEDULE_DELAY", "100"),
                ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "10"),
                ("OTEL_BSP_EXPORT_TIMEOUT", "1000"),
            ],
        );
        let otlp = &reading.layer.settings.otlp;
        assert_eq!(otlp.timeout, Some(Duration::from_millis(2500)));
        assert_eq!(otlp.service_name.as_deref(), Some(" my svc "));
        assert_eq!(otlp.sample_ratio, Some(0.5));
        assert_eq!(otlp.sampler.as_deref(), Some("parentbased_traceidratio"));
        assert_eq!(otlp.sampler_arg.as_deref(), Some("0.1"));
        assert_eq!(otlp.max_queue_size, Some(100));
        assert_eq!(otlp.scheduled_delay, Some(Duration::from_millis(100)));
        assert_eq!(otlp.max_export_batch_size, Some(10));
        assert_eq!(otlp.export_timeout, Some(Duration::from_millis(1000)));
        assert!(problems.is_empty());

        let (reading, problems) = read_map(
            "DYN",
            &[
                ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "soon"),
                ("OTEL_EXPORTER_OTLP_TIMEOUT", "700"),
                ("OTEL_SERVICE_NAME", ""),
                ("OTEL_TRACES_SAMPLE_RATIO", "1.5"),
                ("OTEL_TRACES_SAMPLER", "xray"),
                ("OTEL_BSP_MAX_QUEUE_SIZE", "0"),
                ("OTEL_BSP_SCHEDULE_DELAY", "-1"),
            ],
        );
        let otlp = &reading.layer.settings.otlp;
        assert_eq!(otlp.timeout, Some(Duration::from_millis(700)));
        assert_eq!(
            reading.layer.source(TIMEOUT),
            Source::Env("OTEL_EXPORTER_OTLP_TIMEOUT".into())
        );
        assert_eq!(otlp.service_name, None);
        assert_eq!(otlp.sample_ratio, None);
        assert_eq!(otlp.sampler, None);
        assert_eq!(otlp.max_queue_size, None);
        assert_eq!(otlp.scheduled_delay, None);
        assert_eq!(
            lines(&problems),
            [
                "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT: expected a positive integer number of milliseconds, found \"soon\"",
                "OTEL_TRACES_SAMPLE_RATIO: expected a number from 0.0 to 1.0, found \"1.5\"",
                "OTEL_TRACES_SAMPLER: expected one of always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off, parentbased_traceidratio, found \"xray\"",
                "OTEL_BSP_MAX_QUEUE_SIZE: expected an integer from 1 to 1048576, found \"0\"",
                "OTEL_BSP_SCHEDULE_DELAY: expected a positive integer number of milliseconds, found \"-1\"",
            ]
        );
    }
}
