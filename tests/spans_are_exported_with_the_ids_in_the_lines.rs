//! SPEC section 8 end to end: a run of spans (nested, with a remote parent,
//! fields of every type, events, an error, `otel.*` fields, links to an
//! open and to a closed span, a sampled-out trace) is exported to a gRPC and
//! to an HTTP/protobuf receiver on 127.0.0.1; the decoded spans are compared
//! whole, and every log line's `trace_id`, `span_id` and `parent_id` are
//! those of an exported span.

mod receivers;

use std::collections::BTreeMap;

use dynlog::config::{OtlpSettings, Protocol};
use receivers::{describe, hex, resources, Answer, GrpcReceiver, HttpReceiver, Inbox, SharedBuf};
use serde_json::Value;

const REMOTE_TRACE: &str = "0af7651916cd43dd8448eb211c80319c";
const REMOTE_PARENT: &str = "b7ad6b7169203331";
const UNSAMPLED_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const FILE: &str = "tests/spans_are_exported_with_the_ids_in_the_lines.rs";
const MODULE: &str = "spans_are_exported_with_the_ids_in_the_lines";

/// Source lines of the spans' callsites, for `code.line.number`.
#[derive(Default)]
struct Lines {
    request: u32,
    step: u32,
    ok_step: u32,
    described: u32,
    first: u32,
    second: u32,
    open: u32,
    /// The `traceparent` injected inside the sampled-out trace.
    unsampled_traceparent: String,
}

fn scenario() -> Lines {
    let mut at = Lines {
        request: line!() + 3,
        ..Lines::default()
    };
    let root = tracing::info_span!(
        "request",
        trace_id = REMOTE_TRACE,
        parent_id = REMOTE_PARENT,
        trace_flags = "01",
        tracestate = "vendor=a",
        x_request_id = "req-1",
        otel.name = "POST /chat",
        otel.kind = "server",
        text = "hello",
        count = 42u64,
        big = u64::MAX,
        neg = -7i64,
        wide = u128::MAX,
        small128 = -3i128,
        ratio = 0.5f64,
        flag = true,
        debug = ?vec![1, 2],
        r#type = "kind",
    );
    root.in_scope(|| {
        tracing::info!(answer = 42u64, "inside root");

        at.step = line!() + 1;
        let step = tracing::debug_span!("step", step = 1i64);
        step.in_scope(|| {
            tracing::warn!(attempt = 2i64, "slow");
            tracing::error!(code = 500u64, "step failed");
        });
        drop(step);

        at.ok_step = line!() + 1;
        let ok = tracing::info_span!(
            "ok_step",
            otel.status_code = "ok",
            otel.status_description = "ignored"
        );
        drop(ok);

        at.described = line!() + 1;
        let described = tracing::info_span!(
            "described",
            otel.status_description = "bad input",
            otel.kind = "client"
        );
        drop(described);
    });
    drop(root);

    // A link to a span that has closed, and one to a span still open.
    at.first = line!() + 1;
    let first = tracing::info_span!("first");
    let first_id = first.id().unwrap();
    drop(first);
    at.open = line!() + 1;
    let open = tracing::info_span!("open");
    at.second = line!() + 1;
    let second = tracing::info_span!("second");
    second.follows_from(first_id);
    second.follows_from(&open);
    second.in_scope(|| tracing::info!("linked"));
    drop(second);
    drop(open);

    // A trace the caller did not sample: ids in the lines, flags 00
    // propagated, nothing exported.
    let unsampled = tracing::info_span!(
        "unsampled",
        trace_id = UNSAMPLED_TRACE,
        parent_id = "00f067aa0ba902b7",
        trace_flags = "00"
    );
    unsampled.in_scope(|| {
        tracing::info!("not exported");
        let child = tracing::info_span!("unsampled_child");
        child.in_scope(|| {
            dynlog::propagation::inject(|name, value| {
                if name == "traceparent" {
                    at.unsampled_traceparent = value.to_owned();
                }
            });
            tracing::error!("still not exported");
        });
    });
    at
}

/// Builds a subscriber exporting to `endpoint` and runs the scenario with
/// it on a thread named `scenario` (inside a tokio runtime when
/// `in_runtime`); returns the log lines and the source lines.
fn run(protocol: Protocol, endpoint: String, in_runtime: bool) -> (Vec<Value>, Lines) {
    let buf = SharedBuf::default();
    let sink = buf.clone();
    let body = move || {
        let (subscriber, guard) = dynlog::Builder::new()
            .json(true)
            .filter("trace")
            .span_events(true)
            .otlp(OtlpSettings {
                enabled: Some(true),
                endpoint: Some(endpoint),
                protocol: Some(protocol),
                service_name: Some("test-svc".to_owned()),
                headers: Some(vec![("x-tenant".to_owned(), "acme".to_owned())]),
                ..OtlpSettings::default()
            })
            .writer(sink)
            .shutdown_timeout(std::time::Duration::from_secs(20))
            .build()
            .unwrap();
        let at = tracing::subscriber::with_default(subscriber, scenario);
        guard.flush();
        let stats = guard.stats();
        assert_eq!(
            (
                stats.spans_exported,
                stats.export_dropped,
                stats.export_failures
            ),
            (7, 0, 0)
        );
        at
    };
    let at = std::thread::Builder::new()
        .name("scenario".into())
        .spawn(move || {
            if in_runtime {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                runtime.block_on(async move { body() })
            } else {
                body()
            }
        })
        .unwrap()
        .join()
        .unwrap();
    (buf.lines(), at)
}

/// Ids seen in the lines, by span name: (span id, trace id).
fn ids_by_name(lines: &[Value]) -> BTreeMap<String, (String, String)> {
    let mut ids = BTreeMap::new();
    for line in lines {
        if let (Some(name), Some(span), Some(trace)) = (
            line["span_name"].as_str(),
            line["span_id"].as_str(),
            line["trace_id"].as_str(),
        ) {
            ids.insert(name.to_owned(), (span.to_owned(), trace.to_owned()));
        }
    }
    ids
}

fn expected(at: &Lines) -> Vec<Vec<String>> {
    let tail = |line: u32| {
        vec![
            format!("attr code.file.path=str:{FILE}"),
            format!("attr code.line.number=int:{line}"),
            format!("attr code.module.name=str:{MODULE}"),
            "attr thread.id=*".to_owned(),
            "attr thread.name=str:scenario".to_owned(),
            "attr busy_ns=*".to_owned(),
            "attr idle_ns=*".to_owned(),
        ]
    };
    let span = |head: &[&str], attrs: &[&str], line: u32, rest: &[String]| {
        let mut out: Vec<String> = head.iter().map(|s| s.to_string()).collect();
        out.extend(attrs.iter().map(|s| format!("attr {s}")));
        out.extend(tail(line));
        out.extend(rest.iter().cloned());
        out
    };
    let event = |name: &str, level: &str, attrs: &str| {
        format!("event {name:?} [level=str:{level}, target=str:{MODULE}{attrs}]")
    };
    vec![
        span(
            &[
                "name=POST /chat",
                "trace=<remote-trace> span=<request> parent=<remote-parent> flags=0x301 kind=2 tracestate=\"vendor=a\"",
                "status=0 \"\"",
            ],
            &[
                "text=str:hello",
                "count=int:42",
                "big=str:18446744073709551615",
                "neg=int:-7",
                "wide=str:340282366920938463463374607431768211455",
                "small128=int:-3",
                "ratio=double:0.5",
                "flag=bool:true",
                "debug=str:[1, 2]",
                "type=str:kind",
                "x_request_id=str:req-1",
            ],
            at.request,
            &[event("inside root", "INFO", ", answer=int:42")],
        ),
        span(
            &[
                "name=described",
                "trace=<remote-trace> span=<described> parent=<request> flags=0x101 kind=3 tracestate=\"vendor=a\"",
                "status=2 \"bad input\"",
            ],
            &["x_request_id=str:req-1"],
            at.described,
            &[],
        ),
        span(
            &[
                "name=first",
                "trace=<trace-first> span=<first> parent=- flags=0x101 kind=1 tracestate=\"\"",
                "status=0 \"\"",
            ],
            &[],
            at.first,
            &[],
        ),
        span(
            &[
                "name=ok_step",
                "trace=<remote-trace> span=<ok_step> parent=<request> flags=0x101 kind=1 tracestate=\"vendor=a\"",
                "status=1 \"\"",
            ],
            &["x_request_id=str:req-1"],
            at.ok_step,
            &[],
        ),
        span(
            &[
                "name=open",
                "trace=<trace-open> span=<open> parent=- flags=0x101 kind=1 tracestate=\"\"",
                "status=0 \"\"",
            ],
            &[],
            at.open,
            &[],
        ),
        span(
            &[
                "name=second",
                "trace=<trace-second> span=<second> parent=- flags=0x101 kind=1 tracestate=\"\"",
                "status=0 \"\"",
            ],
            &[],
            at.second,
            &[
                event("linked", "INFO", ""),
                "link trace=<trace-first> span=<first> flags=0x100".to_owned(),
                "link trace=<trace-open> span=<open> flags=0x100".to_owned(),
            ],
        ),
        span(
            &[
                "name=step",
                "trace=<remote-trace> span=<step> parent=<request> flags=0x101 kind=1 tracestate=\"vendor=a\"",
                "status=2 \"\"",
            ],
            &["step=int:1", "x_request_id=str:req-1"],
            at.step,
            &[
                event("slow", "WARN", ", attempt=int:2"),
                event("step failed", "ERROR", ", code=int:500"),
            ],
        ),
    ]
}

fn check(inbox: &Inbox, lines: &[Value], at: &Lines) {
    let spans = inbox.wait_for_spans(7);
    assert_eq!(spans.len(), 7);

    // Name every id the lines show, then compare the spans whole.
    let by_name = ids_by_name(lines);
    let mut ids = vec![
        ("remote-trace", REMOTE_TRACE.to_owned()),
        ("remote-parent", REMOTE_PARENT.to_owned()),
    ];
    for name in [
        "request",
        "step",
        "ok_step",
        "described",
        "first",
        "second",
        "open",
    ] {
        let (span_id, trace_id) = by_name[name].clone();
        ids.push((name, span_id));
        if ["first", "second", "open"].contains(&name) {
            let trace_name = match name {
                "first" => "trace-first",
                "second" => "trace-second",
                _ => "trace-open",
            };
            ids.push((trace_name, trace_id));
        }
    }
    let mut got: Vec<Vec<String>> = spans.iter().map(|s| describe(s, &ids)).collect();
    got.sort();
    assert_eq!(got, expected(at));

    // Times: each span ends after it starts, busy and idle time add up to
    // its duration, its events fall inside it; one thread made them all.
    let int = |s: &receivers::Span, key: &str| {
        let kv = s.attributes.iter().find(|kv| kv.key == key).unwrap();
        receivers::value(kv.value.as_ref())
            .strip_prefix("int:")
            .unwrap()
            .parse::<u64>()
            .unwrap()
    };
    for s in &spans {
        assert!(
            s.start_time_unix_nano > 0 && s.start_time_unix_nano <= s.end_time_unix_nano,
            "{}",
            s.name
        );
        let duration = s.end_time_unix_nano - s.start_time_unix_nano;
        assert_eq!(
            int(s, "busy_ns") + int(s, "idle_ns"),
            duration,
            "{}",
            s.name
        );
        for e in &s.events {
            assert!(
                (s.start_time_unix_nano..=s.end_time_unix_nano).contains(&e.time_unix_nano),
                "{}",
                s.name
            );
        }
        assert_eq!(int(s, "thread.id"), int(&spans[0], "thread.id"));
    }

    assert_eq!(
        resources(&inbox.calls()),
        ["resource [service.name=str:test-svc] scope dynlog 0.1.0"]
    );
    for call in inbox.calls() {
        assert_eq!(
            call.headers.get("x-tenant").map(String::as_str),
            Some("acme")
        );
    }

    // Every line of a sampled span names an exported span, with the same
    // trace and parent; lines of the unsampled trace name none.
    let exported: BTreeMap<String, (String, String)> = spans
        .iter()
        .map(|s| (hex(&s.span_id), (hex(&s.trace_id), hex(&s.parent_span_id))))
        .collect();
    let mut checked = 0;
    for line in lines {
        let Some(span_id) = line["span_id"].as_str() else {
            continue;
        };
        let trace_id = line["trace_id"].as_str().unwrap();
        let parent_id = line["parent_id"].as_str().unwrap_or("");
        if trace_id == UNSAMPLED_TRACE {
            assert!(!exported.contains_key(span_id), "{line}");
            continue;
        }
        let (t, p) = &exported[span_id];
        assert_eq!((t.as_str(), p.as_str()), (trace_id, parent_id), "{line}");
        checked += 1;
    }
    // 7 closes, 3 first entries (4 spans are never entered), 4 events.
    assert_eq!(checked, 7 + 3 + 4);

    let child = &by_name["unsampled_child"];
    assert_eq!(child.1, UNSAMPLED_TRACE);
    assert_eq!(
        at.unsampled_traceparent,
        format!("00-{UNSAMPLED_TRACE}-{}-00", child.0)
    );
}

#[test]
fn over_grpc() {
    let receiver = GrpcReceiver::start(Answer::Accept);
    let (lines, at) = run(Protocol::Grpc, receiver.endpoint(), false);
    check(&receiver.inbox, &lines, &at);
    for call in receiver.inbox.calls() {
        assert_eq!(
            call.headers.get("content-type").map(String::as_str),
            Some("application/grpc")
        );
    }
}

#[test]
fn over_http_protobuf() {
    let receiver = HttpReceiver::start(Answer::Accept);
    let (lines, at) = run(
        Protocol::HttpProtobuf,
        format!("{}/v1/traces", receiver.base()),
        false,
    );
    check(&receiver.inbox, &lines, &at);
    for call in receiver.inbox.calls() {
        assert_eq!(call.path, "/v1/traces");
        assert_eq!(
            call.headers.get("content-type").map(String::as_str),
            Some("application/x-protobuf")
        );
    }
}

/// The application runs inside a tokio runtime: export still works, on
/// its own thread and runtime.
#[test]
fn from_inside_a_tokio_runtime() {
    let receiver = GrpcReceiver::start(Answer::Accept);
    let (lines, at) = run(Protocol::Grpc, receiver.endpoint(), true);
    check(&receiver.inbox, &lines, &at);
}

/// A span keeps its first 128 events and counts the others.
#[test]
fn a_span_keeps_128_events_and_counts_the_rest() {
    let receiver = GrpcReceiver::start(Answer::Accept);
    let (subscriber, guard) = dynlog::Builder::new()
        .json(true)
        .filter("info")
        .otlp(OtlpSettings {
            enabled: Some(true),
            endpoint: Some(receiver.endpoint()),
            ..OtlpSettings::default()
        })
        .writer(std::io::sink())
        .shutdown_timeout(std::time::Duration::from_secs(20))
        .build()
        .unwrap();
    tracing::subscriber::with_default(subscriber, || {
        tracing::info_span!("busy").in_scope(|| {
            for i in 0..130u64 {
                tracing::info!(i, "event {i}");
            }
        });
    });
    guard.flush();
    let spans = receiver.inbox.wait_for_spans(1);
    let span = &spans[0];
    let names: Vec<&str> = span.events.iter().map(|e| e.name.as_str()).collect();
    let expected: Vec<String> = (0..128).map(|i| format!("event {i}")).collect();
    assert_eq!(names, expected);
    assert_eq!(span.dropped_events_count, 2);
    assert_eq!(
        receivers::attribute(&span.events[127].attributes[2]),
        "i=int:127"
    );
}
