//! SPEC 7, trace context: ids from a `traceparent` through span fields and
//! three span levels, back out through `propagation::inject` with exact
//! headers; inheritance through explicit parents and across threads; bad
//! ids ignored, counted and never printed; late records ignored and
//! counted; flags from the parent or the sampler.

#[path = "conformance/mod.rs"]
mod support;

use std::collections::HashMap;

use dynlog::config::OtlpSettings;
use dynlog::propagation::{extract, inject, TraceParent};
use support::{is_hex_id, json_run, mask_json, run_with, str_of, Run};
use tracing::field::Empty;

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const REMOTE_PARENT: &str = "00f067aa0ba902b7";

/// The headers `inject` gives for the current span, in call order.
fn injected() -> Vec<(String, String)> {
    let mut headers = Vec::new();
    inject(|name, value| headers.push((name.to_owned(), value.to_owned())));
    headers
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// Messages with their `span_id`, `trace_id` and `parent_id` (empty when
/// absent).
fn ids(run: &Run) -> Vec<(String, String, String, String)> {
    run.json()
        .iter()
        .map(|v| {
            let get = |k: &str| v.get(k).and_then(|x| x.as_str()).unwrap_or("").to_owned();
            (
                get("message"),
                get("span_id"),
                get("trace_id"),
                get("parent_id"),
            )
        })
        .collect()
}

#[test]
fn a_traceparent_flows_through_three_spans_and_back_out() {
    let headers = HashMap::from([
        (
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00",
        ),
        ("tracestate", "vendor=a, other=b"),
        ("x-request-id", " req-7 "),
        ("request-id", "rid-9"),
    ]);
    let incoming = extract(|name| headers.get(name).copied());
    assert_eq!(incoming.invalid, 0);
    let tp = incoming.traceparent.expect("a valid traceparent");
    assert_eq!(tp.trace_id().to_string(), TRACE);
    assert_eq!(tp.parent_id().to_string(), REMOTE_PARENT);
    assert!(!tp.is_sampled());
    assert_eq!(
        incoming.tracestate.as_ref().map(|t| t.as_str()),
        Some("vendor=a,other=b")
    );
    assert_eq!(incoming.x_request_id.as_deref(), Some("req-7"));
    assert_eq!(incoming.request_id.as_deref(), Some("rid-9"));

    let mut out = Vec::new();
    let mut contexts = Vec::new();
    let mut at = [0; 3];
    let run = json_run(|| {
        let request = tracing::info_span!(
            "request",
            trace_id = %tp.trace_id(),
            parent_id = %tp.parent_id(),
            trace_flags = format!("{:02x}", tp.flags()).as_str(),
            tracestate = incoming.tracestate.as_ref().map(|t| t.as_str()),
            x_request_id = incoming.x_request_id.as_deref(),
            request_id = incoming.request_id.as_deref(),
            method = "POST",
        );
        let _r = request.enter();
        at[0] = here!(tracing::info!("in request")).1;
        let middle = tracing::info_span!("middle", step = 1);
        let _m = middle.enter();
        at[1] = here!(tracing::info!("in middle")).1;
        let inner = tracing::info_span!("inner", step = 2);
        let _i = inner.enter();
        at[2] = here!(tracing::info!("in inner")).1;
        out = injected();
        contexts.push(dynlog::current_context().unwrap());
    });

    let lines: Vec<String> = run.lines().iter().map(|l| mask_json(l)).collect();
    let ctx = r#""x_request_id":"req-7","request_id":"rid-9","tracestate":"vendor=a,other=b""#;
    let tail = |name: &str, fields: &str| {
        format!(
            r#""span_name":"{name}","span_id":"<SPAN_ID>","trace_id":"<TRACE_ID>","parent_id":"<PARENT_ID>",{ctx}{fields}}}"#
        )
    };
    assert_eq!(
        lines,
        [
            json_head!("INFO", at[0])
                + r#""in request","#
                + &tail("request", r#","method":"POST""#),
            json_head!("INFO", at[1])
                + r#""in middle","#
                + &tail("middle", r#","step":1,"method":"POST""#),
            json_head!("INFO", at[2])
                + r#""in inner","#
                + &tail("inner", r#","step":2,"method":"POST""#),
        ]
    );

    // One trace; each span's parent is the span around it, the outermost's
    // is the remote caller.
    let ids = ids(&run);
    for (_, span_id, trace_id, _) in &ids {
        assert_eq!(trace_id, TRACE);
        assert!(is_hex_id(span_id, 16));
    }
    assert_eq!(ids[0].3, REMOTE_PARENT);
    assert_eq!(ids[1].3, ids[0].1);
    assert_eq!(ids[2].3, ids[1].1);
    assert_ne!(ids[0].1, ids[1].1);
    assert_ne!(ids[1].1, ids[2].1);

    // Out through inject: the innermost span is the callee's parent; the
    // unsampled flag and the strings travel on.
    assert_eq!(
        out,
        pairs(&[
            ("traceparent", &format!("00-{TRACE}-{}-00", ids[2].1)),
            ("tracestate", "vendor=a,other=b"),
            ("x-request-id", "req-7"),
            ("request-id", "rid-9"),
        ])
    );
    let cx = &contexts[0];
    assert_eq!(cx.span_id().to_string(), ids[2].1);
    assert_eq!(
        cx.parent_id().map(|p| p.to_string()),
        Some(ids[1].1.clone())
    );
    assert_eq!(cx.tracestate(), Some("vendor=a,other=b"));
    assert_eq!(run.stats.invalid_ids, 0);
    assert_eq!(run.stats.context_late, 0);
}

#[test]
fn root_spans_get_fresh_ids_and_children_inherit_them() {
    let mut out = Vec::new();
    let run = json_run(|| {
        let a = tracing::info_span!("a");
        let b = tracing::info_span!("b");
        a.in_scope(|| tracing::info!("in a"));
        b.in_scope(|| tracing::info!("in b"));
        a.in_scope(|| {
            let child = tracing::info_span!("child");
            child.in_scope(|| {
                tracing::info!("in child");
                out = injected();
            });
        });
        // An explicit parent wins over the current span.
        b.in_scope(|| {
            let adopted = tracing::info_span!(parent: &a, "adopted");
            adopted.in_scope(|| tracing::info!("in adopted"));
        });
        assert_eq!(injected(), Vec::new(), "nothing to inject outside spans");
        assert_eq!(dynlog::current_context(), None);
    });
    let ids = ids(&run);
    let [a, b, child, adopted] = [&ids[0], &ids[1], &ids[2], &ids[3]];
    assert_eq!(
        [&a.0, &b.0, &child.0, &adopted.0],
        ["in a", "in b", "in child", "in adopted"]
    );
    assert!(is_hex_id(&a.2, 32) && is_hex_id(&b.2, 32));
    assert_ne!(a.2, b.2, "two roots, two traces");
    assert_eq!(
        (a.3.as_str(), b.3.as_str()),
        ("", ""),
        "roots have no parent"
    );
    assert_eq!((&child.2, &child.3), (&a.2, &a.1));
    assert_eq!((&adopted.2, &adopted.3), (&a.2, &a.1));
    assert_eq!(
        out,
        pairs(&[("traceparent", &format!("00-{}-{}-01", a.2, child.1))])
    );
}

#[test]
fn a_child_on_another_thread_joins_its_parents_trace() {
    let buf = support::SharedBuf::default();
    let (subscriber, guard) = dynlog::Builder::new()
        .json(true)
        .filter("trace")
        .writer(buf.clone())
        .build()
        .unwrap();
    let dispatch = tracing::Dispatch::new(subscriber);
    let parent = tracing::dispatcher::with_default(&dispatch, || {
        let parent = tracing::info_span!("parent", x_request_id = "abc");
        parent.in_scope(|| tracing::info!("here"));
        parent
    });
    let d2 = dispatch.clone();
    let parent2 = parent.clone();
    std::thread::spawn(move || {
        tracing::dispatcher::with_default(&d2, || {
            let child = tracing::info_span!(parent: &parent2, "child");
            child.in_scope(|| tracing::info!("there"));
        })
    })
    .join()
    .unwrap();
    drop(parent);
    guard.flush();
    let run = Run {
        bytes: buf.bytes(),
        stats: guard.stats(),
    };
    let ids = ids(&run);
    assert_eq!((ids[0].0.as_str(), ids[1].0.as_str()), ("here", "there"));
    assert_eq!(ids[1].2, ids[0].2);
    assert_eq!(ids[1].3, ids[0].1);
    assert_eq!(str_of(&run.json()[1], "x_request_id"), "abc");
}

#[test]
fn span_fields_may_set_every_id_and_uppercase_is_lowercased() {
    let mut out = Vec::new();
    let run = json_run(|| {
        let span = tracing::info_span!(
            "own ids",
            trace_id = "4BF92F3577B34DA6A3CE929D0E0E4736",
            span_id = "A1B2C3D4E5F60718",
            parent_id = "00F067AA0BA902B7",
            trace_flags = "01",
        );
        span.in_scope(|| {
            tracing::info!("m");
            out = injected();
        });
    });
    for upper in ["4BF9", "A1B2", "00F0"] {
        assert!(!run.lines()[0].contains(upper), "{upper} printed");
    }
    let v = &run.json()[0];
    assert_eq!(str_of(v, "trace_id"), TRACE);
    assert_eq!(str_of(v, "span_id"), "a1b2c3d4e5f60718");
    assert_eq!(str_of(v, "parent_id"), REMOTE_PARENT);
    // Fields that set the context are not repeated among the span's fields.
    assert_eq!(
        mask_json(&run.lines()[0])
            .split_once(r#""message":"#)
            .unwrap()
            .1,
        r#""m","span_name":"own ids","span_id":"<SPAN_ID>","trace_id":"<TRACE_ID>","parent_id":"<PARENT_ID>"}"#
    );
    assert_eq!(
        out,
        pairs(&[("traceparent", &format!("00-{TRACE}-a1b2c3d4e5f60718-01"))])
    );
    assert_eq!(run.stats.invalid_ids, 0);
}

#[test]
fn a_trace_id_field_starts_or_joins_that_trace() {
    let run = json_run(|| {
        let outer = tracing::info_span!("outer", x_request_id = "xr", tracestate = "k=v");
        let _o = outer.enter();
        tracing::info!("outer");
        // A valid trace id without a parent id: a root of that trace,
        // keeping the request id it inherits.
        let joined = tracing::info_span!("joined", trace_id = TRACE);
        joined.in_scope(|| tracing::info!("joined"));
        // A parent id without a trace id is ignored: an ordinary child.
        let orphan_parent = tracing::info_span!("child", parent_id = REMOTE_PARENT);
        orphan_parent.in_scope(|| tracing::info!("child"));
    });
    let v = run.json();
    let outer_trace = str_of(&v[0], "trace_id");
    assert_ne!(outer_trace, TRACE);
    assert_eq!(str_of(&v[1], "trace_id"), TRACE);
    assert_eq!(v[1].get("parent_id"), None);
    assert_eq!(str_of(&v[1], "x_request_id"), "xr");
    assert_eq!(
        v[1].get("tracestate"),
        None,
        "a joined trace drops tracestate"
    );
    assert_eq!(str_of(&v[2], "trace_id"), outer_trace);
    assert_eq!(str_of(&v[2], "parent_id"), str_of(&v[0], "span_id"));
    assert_eq!(str_of(&v[2], "tracestate"), "k=v");
    assert_eq!(run.stats.invalid_ids, 0);
}

#[test]
fn invalid_ids_are_ignored_counted_and_never_printed() {
    let run = json_run(|| {
        let span = tracing::info_span!(
            "bad",
            trace_id = "not-a-trace-id",
            span_id = "0000000000000000",
            parent_id = "00f067aa0ba902b",
            trace_flags = "0x",
            x_request_id = "two\nlines",
            request_id = "tab\tinside",
            tracestate = "=novalue",
            keep = 1,
        );
        span.in_scope(|| tracing::info!("still logged"));
        let numeric = tracing::info_span!("numeric", trace_id = 5u64, span_id = true);
        numeric.in_scope(|| tracing::info!("numbers are not ids"));
    });
    let lines = run.lines();
    let masked: Vec<String> = lines.iter().map(|l| mask_json(l)).collect();
    assert!(masked[0].ends_with(
        r#""message":"still logged","span_name":"bad","span_id":"<SPAN_ID>","trace_id":"<TRACE_ID>","keep":1}"#
    ));
    assert!(masked[1].ends_with(
        r#""message":"numbers are not ids","span_name":"numeric","span_id":"<SPAN_ID>","trace_id":"<TRACE_ID>"}"#
    ));
    for bad in ["not-a-trace", "00f067aa0ba902b\"", "two", "tab", "novalue"] {
        assert!(
            !run.bytes.windows(bad.len()).any(|w| w == bad.as_bytes()),
            "{bad} printed"
        );
    }
    assert_eq!(run.stats.invalid_ids, 9);
}

#[test]
fn context_records_after_the_context_is_fixed_are_ignored_and_counted() {
    let run = json_run(|| {
        // Before the first entry, a record still sets the context.
        let early = tracing::info_span!("early", trace_id = Empty, x_request_id = Empty);
        early.record("trace_id", TRACE);
        early.record("x_request_id", "r1");
        early.in_scope(|| tracing::info!("early"));

        // After it, records of context fields change nothing.
        early.record("trace_id", "0af7651916cd43dd8448eb211c80319c");
        early.record("x_request_id", "r2");
        early.in_scope(|| tracing::info!("late"));

        // A child created inside fixes the parent's context too.
        let parent = tracing::info_span!("parent", trace_id = Empty);
        let _child = parent.in_scope(|| tracing::info_span!("child"));
        parent.record("trace_id", TRACE);
        parent.in_scope(|| tracing::info!("parent"));
    });
    let v = run.json();
    assert_eq!(str_of(&v[0], "trace_id"), TRACE);
    assert_eq!(str_of(&v[0], "x_request_id"), "r1");
    assert_eq!(str_of(&v[1], "trace_id"), TRACE);
    assert_eq!(str_of(&v[1], "x_request_id"), "r1");
    assert_eq!(str_of(&v[1], "span_id"), str_of(&v[0], "span_id"));
    assert_ne!(str_of(&v[2], "trace_id"), TRACE);
    assert_eq!(run.stats.context_late, 3);
    assert_eq!(run.stats.invalid_ids, 0);
}

#[test]
fn flags_come_from_the_parent_else_from_the_sampler() {
    let never = OtlpSettings {
        sample_ratio: Some(0.0),
        ..OtlpSettings::default()
    };
    let builder = dynlog::Builder::new().json(true).otlp(never);
    let mut out = Vec::new();
    run_with(builder, || {
        // A root: the sampler says no.
        let root = tracing::info_span!("root");
        root.in_scope(|| out.push(injected()[0].1.clone()));
        // A remote parent that sampled: its children are sampled.
        let remote = tracing::info_span!(
            "remote",
            trace_id = TRACE,
            parent_id = REMOTE_PARENT,
            trace_flags = "01",
        );
        remote.in_scope(|| {
            let child = tracing::info_span!("child");
            child.in_scope(|| out.push(injected()[0].1.clone()));
        });
    });
    assert!(out[0].ends_with("-00"), "{}", out[0]);
    assert!(out[1].starts_with(&format!("00-{TRACE}-")), "{}", out[1]);
    assert!(out[1].ends_with("-01"), "{}", out[1]);
}

#[test]
fn extract_keeps_what_is_valid_and_counts_the_rest() {
    let valid = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    // (headers, traceparent kept, tracestate, x-request-id, request-id, invalid)
    type Case<'a> = (
        Vec<(&'a str, &'a str)>,
        Option<&'a str>,
        Option<&'a str>,
        Option<&'a str>,
        Option<&'a str>,
        u32,
    );
    let cases: Vec<Case> = vec![
        (vec![], None, None, None, None, 0),
        (
            vec![(
                "traceparent",
                " \t00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01 ",
            )],
            Some(valid),
            None,
            None,
            None,
            0,
        ),
        (
            vec![(
                "traceparent",
                "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-09-extra",
            )],
            Some(valid),
            None,
            None,
            None,
            0,
        ),
        (
            vec![
                (
                    "traceparent",
                    "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
                ),
                ("tracestate", "k=v"),
            ],
            None,
            None,
            None,
            None,
            2,
        ),
        (
            vec![(
                "traceparent",
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            )],
            None,
            None,
            None,
            None,
            1,
        ),
        (
            vec![("traceparent", valid), ("tracestate", "ok=1,=bad")],
            Some(valid),
            None,
            None,
            None,
            1,
        ),
        (
            vec![("x-request-id", "a\nb"), ("request-id", "  ")],
            None,
            None,
            None,
            None,
            1,
        ),
        (
            vec![
                ("x-request-id", "anything goes"),
                ("request-id", "\u{e9}t\u{e9}"),
            ],
            None,
            None,
            Some("anything goes"),
            Some("\u{e9}t\u{e9}"),
            0,
        ),
    ];
    for (headers, traceparent, tracestate, xreq, req, invalid) in cases {
        let map: HashMap<&str, &str> = headers.iter().copied().collect();
        let incoming = extract(|name| map.get(name).copied());
        assert_eq!(
            incoming.traceparent.map(|t| t.to_string()).as_deref(),
            traceparent,
            "{headers:?}"
        );
        assert_eq!(
            incoming.tracestate.as_ref().map(|t| t.as_str()),
            tracestate,
            "{headers:?}"
        );
        assert_eq!(incoming.x_request_id.as_deref(), xreq, "{headers:?}");
        assert_eq!(incoming.request_id.as_deref(), req, "{headers:?}");
        assert_eq!(incoming.invalid, invalid, "{headers:?}");
    }
}

#[test]
fn traceparent_errors_name_the_wrong_part() {
    let cases = [
        (
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "invalid traceparent: separator at byte 52: expected \"-\" before the flags, found end of input",
        ),
        (
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "invalid traceparent: trace id at byte 3: expected a trace id that is not all zero, found \"00000000000000000000000000000000\"",
        ),
        (
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "invalid traceparent: parent id at byte 36: expected a parent id that is not all zero, found \"0000000000000000\"",
        ),
        (
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0x",
            "invalid traceparent: flags at byte 53: expected 2 lowercase hex digits, found \"0x\"",
        ),
    ];
    for (input, message) in cases {
        let err = TraceParent::parse(input).unwrap_err();
        assert_eq!(err.to_string(), message, "{input}");
    }
}

#[test]
fn another_subscriber_has_no_dynlog_context() {
    let foreign = tracing_subscriber::fmt()
        .with_writer(std::io::sink)
        .finish();
    tracing::subscriber::with_default(foreign, || {
        let span = tracing::info_span!("elsewhere", trace_id = TRACE);
        span.in_scope(|| {
            assert_eq!(dynlog::current_context(), None);
            assert_eq!(injected(), Vec::new());
        });
    });
}
