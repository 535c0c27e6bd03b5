//! The `OTEL_*` variables of SPEC section 2, end to end: each case sets the
//! environment, builds with `Builder::from_env()`, logs five spans and
//! checks where they arrived (path, headers, batches, `service.name`), or
//! the exact error a bad value gives.
//!
//! The environment is process-wide, so this file holds one test that runs
//! the cases one after the other.

mod receivers;

use std::collections::BTreeMap;

use receivers::{resources, Answer, GrpcReceiver, HttpReceiver, Inbox};

/// Every variable a case may set; all are cleared before each case.
const VARIABLES: [&str; 20] = [
    "OTEL_EXPORT_ENABLED",
    "OTEL_SERVICE_NAME",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_PROTOCOL",
    "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
    "OTEL_EXPORTER_OTLP_HEADERS",
    "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
    "OTEL_EXPORTER_OTLP_TIMEOUT",
    "OTEL_TRACES_SAMPLE_RATIO",
    "OTEL_TRACES_SAMPLER",
    "OTEL_TRACES_SAMPLER_ARG",
    "OTEL_BSP_MAX_QUEUE_SIZE",
    "OTEL_BSP_SCHEDULE_DELAY",
    "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
    "OTEL_BSP_EXPORT_TIMEOUT",
    "DYN_LOG",
    "DYN_LOGGING_JSONL",
    "DYN_LOGGING_CONFIG_PATH",
    "DYN_LOGGING_CONSOLE_FORMAT",
];

/// What a case expects.
enum Want {
    /// Spans arrive at the HTTP receiver.
    Http {
        path: &'static str,
        headers: &'static [(&'static str, &'static str)],
        batches: &'static [usize],
        service: &'static str,
    },
    /// Spans arrive at the gRPC receiver.
    Grpc {
        headers: &'static [(&'static str, &'static str)],
        batches: &'static [usize],
    },
    /// The strict build fails with this message.
    Error(&'static str),
}

struct Case {
    /// Values may name `{http}` and `{grpc}`, the receivers' addresses.
    env: &'static [(&'static str, &'static str)],
    want: Want,
}

const ON: (&str, &str) = ("OTEL_EXPORT_ENABLED", "true");
const HTTP: (&str, &str) = ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf");

fn cases() -> Vec<Case> {
    let http = |path, headers, batches| Want::Http {
        path,
        headers,
        batches,
        service: "dynamo",
    };
    vec![
        // Endpoints: the generic one gets /v1/traces for HTTP, trailing
        // slash or not; the signal one is used as given; blank is unset.
        Case {
            env: &[ON, HTTP, ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://{http}/base/")],
            want: http("/base/v1/traces", &[], &[5]),
        },
        Case {
            env: &[ON, HTTP, ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://{http}")],
            want: http("/v1/traces", &[], &[5]),
        },
        Case {
            env: &[
                ON,
                HTTP,
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://{http}/base"),
                ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://{http}/custom/path"),
            ],
            want: http("/custom/path", &[], &[5]),
        },
        Case {
            env: &[
                ON,
                HTTP,
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://{http}"),
                ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "  "),
            ],
            want: http("/v1/traces", &[], &[5]),
        },
        Case {
            env: &[ON, ("OTEL_EXPORTER_OTLP_ENDPOINT", "ftp://{http}")],
            want: Want::Error("OTEL_EXPORTER_OTLP_ENDPOINT: expected an http:// or https:// URL with a host, found \"ftp://{http}\""),
        },
        Case {
            env: &[ON, ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "https://{grpc}")],
            want: Want::Error(
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: expected an http:// URL (this build has no TLS), found \"https://{grpc}\"",
            ),
        },
        // Protocols: gRPC by default; the signal variable wins; blank is
        // unset; http/json is not offered.
        Case {
            env: &[ON, ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://{grpc}")],
            want: Want::Grpc {
                headers: &[],
                batches: &[5],
            },
        },
        Case {
            env: &[
                ON,
                HTTP,
                ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "GRPC"),
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://{grpc}"),
            ],
            want: Want::Grpc {
                headers: &[],
                batches: &[5],
            },
        },
        Case {
            env: &[
                ON,
                HTTP,
                ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", " "),
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://{http}"),
            ],
            want: http("/v1/traces", &[], &[5]),
        },
        Case {
            env: &[ON, ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")],
            want: Want::Error("OTEL_EXPORTER_OTLP_PROTOCOL: expected \"grpc\" or \"http/protobuf\", found \"http/json\""),
        },
        // Headers: percent-decoded; the signal variable replaces the
        // generic one; a bad member is an error.
        Case {
            env: &[
                ON,
                HTTP,
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://{http}"),
                ("OTEL_EXPORTER_OTLP_HEADERS", "x-a=1, x-b=two%20words"),
            ],
            want: http("/v1/traces", &[("x-a", "1"), ("x-b", "two words")], &[5]),
        },
        Case {
            env: &[
                ON,
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://{grpc}"),
                ("OTEL_EXPORTER_OTLP_HEADERS", "x-a=1"),
                ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "x-c=3"),
            ],
            want: Want::Grpc {
                headers: &[("x-a", "-"), ("x-c", "3")],
                batches: &[5],
            },
        },
        Case {
            env: &[ON, ("OTEL_EXPORTER_OTLP_HEADERS", "x-a=1,novalue")],
            want: Want::Error("OTEL_EXPORTER_OTLP_HEADERS: expected a header as key=value, found \"novalue\""),
        },
        Case {
            env: &[
                ON,
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://{grpc}"),
                ("OTEL_EXPORTER_OTLP_HEADERS", "x-name=caf%C3%A9"),
            ],
            want: Want::Error(
                "OTEL_EXPORTER_OTLP_HEADERS: expected a gRPC header of visible ASCII not named *-bin, found \"x-name=caf\u{e9}\"",
            ),
        },
        // The service name, batch size and samplers.
        Case {
            env: &[
                ON,
                HTTP,
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://{http}"),
                ("OTEL_SERVICE_NAME", "checkout"),
                ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "2"),
            ],
            want: Want::Http {
                path: "/v1/traces",
                headers: &[],
                batches: &[2, 2, 1],
                service: "checkout",
            },
        },
        Case {
            env: &[
                ON,
                HTTP,
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://{http}"),
                ("OTEL_TRACES_SAMPLER", "always_off"),
            ],
            want: http("/v1/traces", &[], &[]),
        },
        Case {
            env: &[
                ON,
                HTTP,
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://{http}"),
                ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
                ("OTEL_TRACES_SAMPLER_ARG", "0"),
            ],
            want: http("/v1/traces", &[], &[]),
        },
        Case {
            env: &[
                ON,
                HTTP,
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://{http}"),
                ("OTEL_TRACES_SAMPLER", "always_off"),
                ("OTEL_TRACES_SAMPLE_RATIO", "1.0"),
            ],
            want: http("/v1/traces", &[], &[5]),
        },
        Case {
            env: &[ON, ("OTEL_TRACES_SAMPLE_RATIO", "2")],
            want: Want::Error("OTEL_TRACES_SAMPLE_RATIO: expected a number from 0.0 to 1.0, found \"2\""),
        },
    ]
}

/// Logs five root spans and flushes; returns the lines written.
fn log_five(http: &str, grpc: &str, case: &Case) -> Result<usize, String> {
    for var in VARIABLES {
        std::env::remove_var(var);
    }
    for (var, value) in case.env {
        std::env::set_var(var, value.replace("{http}", http).replace("{grpc}", grpc));
    }
    let (subscriber, guard) = dynlog::Builder::from_env()
        .default_config_file("/nonexistent/dynlog-otlp-test.toml")
        .writer(std::io::sink())
        .shutdown_timeout(std::time::Duration::from_secs(20))
        .build()
        .map_err(|e| e.to_string())?;
    tracing::subscriber::with_default(subscriber, || {
        for i in 0..5 {
            tracing::info_span!("probe", i).in_scope(|| tracing::info!("inside"));
        }
    });
    guard.flush();
    Ok(guard.stats().lines_written as usize)
}

fn batches(inbox: &Inbox) -> Vec<usize> {
    inbox
        .calls()
        .iter()
        .map(|c| {
            c.request
                .resource_spans
                .iter()
                .flat_map(|r| &r.scope_spans)
                .map(|s| s.spans.len())
                .sum()
        })
        .collect()
}

/// The given headers of every call; `-` for a header that was not sent.
fn headers(inbox: &Inbox, names: &[(&str, &str)]) -> Vec<BTreeMap<String, String>> {
    inbox
        .calls()
        .iter()
        .map(|c| {
            names
                .iter()
                .map(|(name, _)| {
                    (
                        name.to_string(),
                        c.headers.get(*name).cloned().unwrap_or_else(|| "-".into()),
                    )
                })
                .collect()
        })
        .collect()
}

fn expected_headers(names: &[(&str, &str)], calls: usize) -> Vec<BTreeMap<String, String>> {
    let one: BTreeMap<String, String> = names
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    vec![one; calls]
}

#[test]
fn each_variable_case() {
    for (n, case) in cases().iter().enumerate() {
        let http = HttpReceiver::start(Answer::Accept);
        let grpc = GrpcReceiver::start(Answer::Accept);
        let (http_addr, grpc_addr) = (http.addr.to_string(), grpc.addr.to_string());
        let fill = |text: &str| {
            text.replace("{http}", &http_addr)
                .replace("{grpc}", &grpc_addr)
        };
        let got = log_five(&http_addr, &grpc_addr, case);
        match &case.want {
            Want::Error(message) => assert_eq!(got, Err(fill(message)), "case {n}"),
            Want::Http {
                path,
                headers: want_headers,
                batches: want_batches,
                service,
            } => {
                assert_eq!(got, Ok(5), "case {n}");
                assert_eq!(batches(&http.inbox), *want_batches, "case {n}");
                assert!(
                    http.inbox.calls().iter().all(|c| c.path == *path),
                    "case {n}: {:?}",
                    http.inbox.calls()
                );
                assert_eq!(
                    headers(&http.inbox, want_headers),
                    expected_headers(want_headers, want_batches.len()),
                    "case {n}"
                );
                if !want_batches.is_empty() {
                    assert_eq!(
                        resources(&http.inbox.calls()),
                        [format!(
                            "resource [service.name=str:{service}] scope dynlog 0.1.0"
                        )],
                        "case {n}"
                    );
                }
                assert_eq!(batches(&grpc.inbox), Vec::<usize>::new(), "case {n}");
            }
            Want::Grpc {
                headers: want_headers,
                batches: want_batches,
            } => {
                assert_eq!(got, Ok(5), "case {n}");
                assert_eq!(batches(&grpc.inbox), *want_batches, "case {n}");
                assert_eq!(
                    headers(&grpc.inbox, want_headers),
                    expected_headers(want_headers, want_batches.len()),
                    "case {n}"
                );
                assert_eq!(batches(&http.inbox), Vec::<usize>::new(), "case {n}");
            }
        }
    }
}
