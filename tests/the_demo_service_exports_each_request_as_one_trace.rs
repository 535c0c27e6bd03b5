//! The demo service with `OTEL_EXPORT_ENABLED`, driven by its built-in
//! client against a gRPC receiver on 127.0.0.1: every span of every request
//! arrives, with the ids of its log lines, one trace per request; a request
//! that came with a `traceparent` continues the client's trace under a
//! remote parent, and every span of a request carries its request ids.

#![cfg(unix)]

mod receivers;
mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::time::Duration;

use receivers::{hex, resources, Answer, GrpcReceiver, Span};
use serde_json::Value;

const TIMEOUT: Duration = Duration::from_secs(120);
const REQUESTS: usize = 50;

/// A span as its lines show it.
struct Logged {
    name: String,
    trace_id: String,
    parent_id: String,
}

fn attribute(span: &Span, key: &str) -> Option<String> {
    let kv = span.attributes.iter().find(|kv| kv.key == key)?;
    Some(receivers::value(kv.value.as_ref()))
}

#[test]
fn every_span_of_every_request_arrives() {
    let receiver = GrpcReceiver::start(Answer::Accept);
    let mut command = Command::new(support::example_binary("service"));
    support::clean_env(&mut command);
    command
        .args(["--requests", &REQUESTS.to_string(), "--concurrency", "8"])
        .env("DYN_LOGGING_JSONL", "1")
        .env("DYN_LOGGING_SPAN_EVENTS", "1")
        .env("OTEL_EXPORT_ENABLED", "1")
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint())
        .env("OTEL_SERVICE_NAME", "demo-service");
    let output = support::run_to_end(command, TIMEOUT);
    assert_eq!(output.status.code(), Some(0), "stderr:\n{}", output.stderr);

    // Every span the lines show (each has a SPAN_CLOSED line), by id.
    let mut logged: BTreeMap<String, Logged> = BTreeMap::new();
    for line in output.stderr.lines() {
        let line: Value = serde_json::from_str(line).unwrap();
        if let (Some(span_id), Some(trace_id)) =
            (line["span_id"].as_str(), line["trace_id"].as_str())
        {
            logged.insert(
                span_id.to_owned(),
                Logged {
                    name: line["span_name"].as_str().unwrap_or("").to_owned(),
                    trace_id: trace_id.to_owned(),
                    parent_id: line["parent_id"].as_str().unwrap_or("").to_owned(),
                },
            );
        }
    }

    // The process has exited: its exit flush has sent everything.
    let spans = receiver.inbox.spans();
    let exported: BTreeMap<String, &Span> = spans.iter().map(|s| (hex(&s.span_id), s)).collect();
    assert_eq!(exported.len(), spans.len(), "no span is sent twice");
    assert_eq!(
        exported.keys().collect::<Vec<_>>(),
        logged.keys().collect::<Vec<_>>(),
        "the exported spans are the logged spans"
    );
    assert_eq!(
        resources(&receiver.inbox.calls()),
        ["resource [service.name=str:demo-service] scope dynlog 0.1.0"]
    );

    // Same name, trace and parent as in the lines.
    for (span_id, span) in &exported {
        let line = &logged[span_id];
        assert_eq!(
            (
                span.name.as_str(),
                hex(&span.trace_id),
                hex(&span.parent_span_id)
            ),
            (
                line.name.as_str(),
                line.trace_id.clone(),
                line.parent_id.clone()
            ),
            "span {span_id}"
        );
    }

    // One trace per request. Within a trace, one span has a parent outside
    // it: the request's own `http-request`, remote when the client sent a
    // traceparent (then also an x-request-id, on every span of the trace).
    let mut traces: BTreeMap<String, Vec<&Span>> = BTreeMap::new();
    for span in &spans {
        traces.entry(hex(&span.trace_id)).or_default().push(span);
    }
    assert_eq!(traces.len(), REQUESTS);
    let mut continued = 0;
    let mut x_request_ids = BTreeSet::new();
    for (trace_id, spans) in &traces {
        let ids: BTreeSet<String> = spans.iter().map(|s| hex(&s.span_id)).collect();
        let roots: Vec<&&Span> = spans
            .iter()
            .filter(|s| !ids.contains(&hex(&s.parent_span_id)))
            .collect();
        assert_eq!(roots.len(), 1, "trace {trace_id}");
        let root = roots[0];
        assert_eq!(root.name, "http-request", "trace {trace_id}");

        let has_remote_parent = !root.parent_span_id.is_empty();
        assert_eq!(
            root.flags & 0x300 == 0x300,
            has_remote_parent,
            "trace {trace_id}"
        );
        assert!(attribute(root, "request_id").is_some(), "trace {trace_id}");
        let x_request_id = attribute(root, "x_request_id");
        assert_eq!(
            x_request_id.is_some(),
            has_remote_parent,
            "trace {trace_id}"
        );
        for span in spans {
            assert_eq!(
                attribute(span, "x_request_id"),
                x_request_id,
                "trace {trace_id} {}",
                span.name
            );
            assert_eq!(
                attribute(span, "request_id"),
                attribute(root, "request_id"),
                "trace {trace_id} {}",
                span.name
            );
        }
        if let Some(x) = x_request_id {
            continued += 1;
            x_request_ids.insert(x);
        }
    }
    assert_eq!(continued, REQUESTS / 2);
    let expected: BTreeSet<String> = (0..REQUESTS)
        .step_by(2)
        .map(|n| format!("str:demo-{n:06}"))
        .collect();
    assert_eq!(x_request_ids, expected);
}
