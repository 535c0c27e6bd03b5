//! Input of every bad shape has a defined outcome, and logging goes on
//! afterwards: huge values are cut with a visible marker (or written whole
//! under a larger cap), a span may have a thousand fields or ten thousand
//! ancestors, names and targets by the hundred thousand leave nothing
//! behind, Debug impls that panic, fail or write megabytes are contained,
//! ids of closed spans resolve to nothing, malformed ids and headers are
//! ignored and counted, and a config file that is a directory, binary
//! garbage or 100 MB is refused with a clear message.
//!
//! The tests run one at a time: two of them measure the process's memory,
//! which the others' megabyte values would disturb.

mod common;

use std::fmt;
use std::io::{self, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use common::{normalize, rss_bytes, SharedBuf};
use dynlog::{Builder, DynlogSubscriber, Stats};
use tracing::field::{Field, FieldSet, Value};
use tracing::{Dispatch, Level, Metadata};
use tracing_core::callsite::Callsite;
use tracing_core::{identify_callsite, Interest, Kind};

const FILE: &str = "tests/bad_input_has_a_defined_outcome.rs";
const TARGET: &str = "bad_input_has_a_defined_outcome";

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

struct Captured {
    lines: Vec<String>,
    stats: Stats,
    /// Spans open, and slots the registry holds, after the run.
    spans: (usize, usize),
}

/// Runs `f` under a subscriber built from `builder` writing to memory.
fn run(builder: Builder, f: impl FnOnce()) -> Captured {
    let buf = SharedBuf::default();
    let (subscriber, guard) = builder.writer(buf.clone()).build().unwrap();
    let dispatch = Dispatch::new(subscriber);
    tracing::dispatcher::with_default(&dispatch, f);
    guard.flush();
    let subscriber = dispatch.downcast_ref::<DynlogSubscriber>().unwrap();
    Captured {
        lines: buf.lines(),
        stats: subscriber.stats(),
        spans: subscriber.span_counts(),
    }
}

fn json() -> Builder {
    Builder::new().json(true).filter("trace")
}

/// The start of a JSON event line of this file, up to the message.
fn head(line: u32, level: &str) -> String {
    format!(
        r#"{{"time":"<T>","level":"{level}","file":"{FILE}","line":{line},"target":"{TARGET}","message":"#
    )
}

fn parse(line: &str) -> serde_json::Value {
    serde_json::from_str(line).unwrap_or_else(|e| panic!("not one JSON object ({e}): {line:.200}"))
}

fn cut(value: &str, limit: usize) -> String {
    format!(
        "{}...[truncated {} bytes]",
        &value[..limit],
        value.len() - limit
    )
}

// ----- huge values ------------------------------------------------------------

#[test]
fn a_10_mb_value_is_cut_at_1_mib_with_a_marker() {
    let _serial = serial();
    let big = "x".repeat(10 << 20);
    let expected = cut(&big, 1 << 20);
    let out = run(json(), || {
        tracing::info!(big = big.as_str(), "a big field");
        tracing::info!("{big}");
        tracing::info!(big = ?big, "a big Debug field");
        tracing::info_span!("holder", big = big.as_str()).in_scope(|| tracing::info!("inside"));
        tracing::info!("still logging");
    });
    assert_eq!(out.lines.len(), 5);
    let values: Vec<serde_json::Value> = out.lines.iter().map(|l| parse(l)).collect();
    assert_eq!(values[0]["big"], expected.as_str());
    assert_eq!(values[1]["message"], expected.as_str());
    // Debug of a string is quoted: the quote is the first byte of 1 MiB.
    let debug = format!("{big:?}");
    assert_eq!(values[2]["big"], cut(&debug, 1 << 20).as_str());
    assert_eq!(values[3]["big"], expected.as_str());
    assert_eq!(values[4]["message"], "still logging");
    assert_eq!(out.stats.lines_written, 5);
}

#[test]
fn max_value_bytes_changes_the_cap() {
    let _serial = serial();
    let big = "x".repeat(10 << 20);
    let out = run(json().max_value_bytes(16 << 20), || {
        tracing::info!(big = big.as_str())
    });
    assert_eq!(parse(&out.lines[0])["big"], big.as_str());

    // A cut never splits a character: 100 bytes of "é" at a cap of 101.
    let accents = "é".repeat(100);
    let out = run(json().max_value_bytes(101), || {
        tracing::info!(accents = accents.as_str())
    });
    assert_eq!(
        parse(&out.lines[0])["accents"],
        format!("{}...[truncated 100 bytes]", "é".repeat(50))
    );
}

// ----- wide and deep spans --------------------------------------------------------

struct WideCallsite;

static WIDE: WideCallsite = WideCallsite;

impl Callsite for WideCallsite {
    fn set_interest(&self, _: Interest) {}

    fn metadata(&self) -> &Metadata<'_> {
        wide_meta()
    }
}

/// A span callsite with 1,000 fields, `f0` to `f999`.
fn wide_meta() -> &'static Metadata<'static> {
    static META: OnceLock<&'static Metadata<'static>> = OnceLock::new();
    META.get_or_init(|| {
        let names: Vec<&'static str> = (0..1000)
            .map(|i| &*Box::leak(format!("f{i}").into_boxed_str()))
            .collect();
        let names: &'static [&'static str] = Box::leak(names.into_boxed_slice());
        Box::leak(Box::new(Metadata::new(
            "wide",
            TARGET,
            Level::INFO,
            Some(FILE),
            Some(1),
            Some(TARGET),
            FieldSet::new(names, identify_callsite!(&WIDE)),
            Kind::SPAN,
        )))
    })
}

#[test]
fn a_span_with_a_thousand_fields_keeps_them_all_in_order() {
    let _serial = serial();
    let meta = wide_meta();
    let fields: Vec<Field> = meta.fields().iter().collect();
    let values: Vec<u64> = (0..1000).collect();
    let mut line = 0;
    let out = run(json(), || {
        let pairs: [(&Field, Option<&dyn Value>); 1000] =
            std::array::from_fn(|i| (&fields[i], Some(&values[i] as &dyn Value)));
        let span = tracing::Span::new(meta, &meta.fields().value_set(&pairs));
        line = line!() + 1;
        span.in_scope(|| tracing::info!("inside a wide span"));
    });
    let fields: String = (0..1000).map(|i| format!(r#","f{i}":{i}"#)).collect();
    let expected = format!(
        r#"{}"inside a wide span","span_name":"wide","span_id":"<ID>","trace_id":"<ID>"{fields}}}"#,
        head(line, "INFO")
    );
    assert_eq!(
        out.lines.iter().map(|l| normalize(l)).collect::<Vec<_>>(),
        [expected]
    );
}

#[test]
fn ten_thousand_nested_spans_log_and_close() {
    let _serial = serial();
    let mut line = 0;
    let out = run(json(), || {
        let mut spans = Vec::with_capacity(10_000);
        for depth in 0..10_000u32 {
            spans.push(tracing::info_span!("level", depth).entered());
        }
        line = line!() + 1;
        tracing::info!("deep");
        // Outermost first: each parent stays open for its child, and the
        // last drop closes all ten thousand, one after the other.
        drop(spans);
        tracing::info!("after");
    });
    assert_eq!(
        out.lines.iter().map(|l| normalize(l)).collect::<Vec<_>>(),
        [
            format!(
                r#"{}"deep","span_name":"level","span_id":"<ID>","trace_id":"<ID>","parent_id":"<ID>","depth":9999}}"#,
                head(line, "INFO")
            ),
            format!(r#"{}"after"}}"#, head(line + 4, "INFO")),
        ]
    );
    assert_eq!(out.spans.0, 0, "every span closed");

    // In readable text the line names every span from the root.
    let out = run(Builder::new().json(false).filter("trace"), || {
        let mut spans = Vec::with_capacity(10_000);
        for depth in 0..10_000u32 {
            spans.push(tracing::info_span!("level", depth).entered());
        }
        tracing::info!("deep");
    });
    let expected = format!(
        "<T>  INFO {} {TARGET}: deep depth=9999",
        "level:".repeat(10_000)
    );
    let got: Vec<String> = out.lines.iter().map(|l| normalize(l)).collect();
    // Compared without printing 60 KB lines on failure.
    assert!(
        got == [expected.clone()],
        "got {:.200}... ({} lines)",
        got.concat(),
        got.len()
    );
    assert_eq!(out.spans.0, 0);
}

// ----- many names, targets and values ---------------------------------------------

struct LeakedCallsite;

static LEAKED: LeakedCallsite = LeakedCallsite;

impl Callsite for LeakedCallsite {
    fn set_interest(&self, _: Interest) {}

    fn metadata(&self) -> &Metadata<'_> {
        wide_meta()
    }
}

/// Counts lines and keeps none.
#[derive(Clone, Default)]
struct CountingSink(Arc<AtomicU64>);

impl Write for CountingSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let lines = buf.iter().filter(|&&b| b == b'\n').count() as u64;
        self.0.fetch_add(lines, Ordering::Relaxed);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_hundred_thousand_span_names_and_targets_leave_nothing_behind() {
    let _serial = serial();
    // Every span callsite has a distinct name and target. Callsites must
    // be 'static, so the test leaks them: 100,000 rather than a million.
    let sink = CountingSink::default();
    let (subscriber, guard) = json().writer(sink.clone()).build().unwrap();
    let dispatch = Dispatch::new(subscriber);
    let subscriber = dispatch.downcast_ref::<DynlogSubscriber>().unwrap();
    let mut slots_early = 0;
    tracing::dispatcher::with_default(&dispatch, || {
        for i in 0..100_000 {
            let name: &'static str = Box::leak(format!("span.{i}").into_boxed_str());
            let target: &'static str = Box::leak(format!("target.{i}").into_boxed_str());
            let meta: &'static Metadata<'static> = Box::leak(Box::new(Metadata::new(
                name,
                target,
                Level::INFO,
                None,
                None,
                None,
                FieldSet::new(&[], identify_callsite!(&LEAKED)),
                Kind::SPAN,
            )));
            let no_values: [(&Field, Option<&dyn Value>); 0] = [];
            let span = tracing::Span::new(meta, &meta.fields().value_set(&no_values));
            span.in_scope(|| tracing::info!("inside"));
            if i == 1000 {
                slots_early = subscriber.span_counts().1;
            }
        }
    });
    guard.flush();
    assert_eq!(sink.0.load(Ordering::Relaxed), 100_000);
    assert_eq!(subscriber.span_counts(), (0, slots_early));
}

#[test]
fn a_million_spans_with_distinct_values_leave_memory_flat() {
    let _serial = serial();
    let sink = CountingSink::default();
    let (subscriber, guard) = json().writer(sink.clone()).build().unwrap();
    let dispatch = Dispatch::new(subscriber);
    let subscriber = dispatch.downcast_ref::<DynlogSubscriber>().unwrap();
    let spans = |from: u64, to: u64| {
        tracing::dispatcher::with_default(&dispatch, || {
            for i in from..to {
                let span = tracing::info_span!("request", id = i, name = %format_args!("name-{i}"));
                if i % 1000 == 0 {
                    span.in_scope(|| tracing::info!("one in a thousand"));
                }
            }
        });
        guard.flush();
    };
    spans(0, 10_000);
    let before = rss_bytes();
    spans(10_000, 1_010_000);
    let after = rss_bytes();
    assert_eq!(sink.0.load(Ordering::Relaxed), 1_010);
    assert_eq!(subscriber.span_counts().0, 0);
    let growth = after.saturating_sub(before);
    println!(
        "measured: a million spans with distinct values grew resident memory by {} KiB",
        growth / 1024
    );
    assert!(growth < 4 << 20, "resident memory grew by {growth} bytes");
}

// ----- Debug impls ----------------------------------------------------------------

struct Panics;

impl fmt::Debug for Panics {
    fn fmt(&self, _: &mut fmt::Formatter<'_>) -> fmt::Result {
        panic!("a Debug impl that panics (on purpose)")
    }
}

struct Fails;

impl fmt::Debug for Fails {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("partial")?;
        Err(fmt::Error)
    }
}

/// Writes 64 MiB of `y` in 64 KiB pieces.
struct Huge;

impl fmt::Debug for Huge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let piece = "y".repeat(64 << 10);
        for _ in 0..1024 {
            f.write_str(&piece)?;
        }
        Ok(())
    }
}

#[test]
fn debug_impls_that_panic_fail_or_write_megabytes_are_contained() {
    let _serial = serial();
    let out = run(json(), || {
        tracing::info!(bad = ?Panics, "a field");
        tracing::info!("{:?}", Panics);
        tracing::info!(bad = ?Fails, "fails");
        tracing::info!(huge = ?Huge, "huge");
        tracing::info_span!("holder", bad = ?Panics, huge = ?Huge)
            .in_scope(|| tracing::info!("inside"));
        tracing::info!("still logging");
    });
    let values: Vec<serde_json::Value> = out.lines.iter().map(|l| parse(l)).collect();
    assert_eq!(values.len(), 6);
    assert_eq!(values[0]["bad"], "<Debug panicked>");
    assert_eq!(values[1]["message"], "<Debug panicked>");
    assert_eq!(values[2]["bad"], "partial<Debug failed>");
    let huge = "y".repeat(64 << 20);
    assert_eq!(values[3]["huge"], cut(&huge, 1 << 20).as_str());
    assert_eq!(values[4]["bad"], "<Debug panicked>");
    assert_eq!(values[4]["huge"], cut(&huge, 1 << 20).as_str());
    assert_eq!(values[5]["message"], "still logging");
}

// ----- closed spans ---------------------------------------------------------------

#[test]
fn ids_of_closed_spans_resolve_to_nothing() {
    let _serial = serial();
    let mut lines = (0, 0);
    let out = run(json(), || {
        let old = tracing::info_span!("old", v = tracing::field::Empty);
        let meta = old.metadata().unwrap();
        let stale = old.id().unwrap();
        drop(old);

        // The new span takes the old one's slot; the stale id must not
        // reach it.
        let new = tracing::info_span!("new", v = tracing::field::Empty);
        let field = meta.fields().field("v").unwrap();
        let values = [(&field, Some(&5u64 as &dyn Value))];
        tracing::dispatcher::get_default(|d| {
            d.record(
                &stale,
                &tracing::span::Record::new(&meta.fields().value_set(&values)),
            );
            d.enter(&stale);
            d.exit(&stale);
            let cloned = d.clone_span(&stale);
            assert!(!d.try_close(cloned));
            assert!(!d.try_close(stale.clone()));
        });
        lines.0 = line!() + 1;
        new.in_scope(|| tracing::info!("in the new span"));
        lines.1 = line!() + 1;
        tracing::info!(parent: stale.clone(), "an explicit parent that is gone");
        tracing::info_span!(parent: stale, "orphan").in_scope(|| tracing::info!("in an orphan"));
    });
    let got: Vec<String> = out.lines.iter().map(|l| normalize(l)).collect();
    assert_eq!(
        got,
        [
            format!(
                r#"{}"in the new span","span_name":"new","span_id":"<ID>","trace_id":"<ID>"}}"#,
                head(lines.0, "INFO")
            ),
            format!(
                r#"{}"an explicit parent that is gone"}}"#,
                head(lines.1, "INFO")
            ),
            format!(
                r#"{}"in an orphan","span_name":"orphan","span_id":"<ID>","trace_id":"<ID>"}}"#,
                head(lines.1 + 1, "INFO")
            ),
        ]
    );
    assert_eq!(out.spans.0, 0);
}

// ----- ids and headers ------------------------------------------------------------

const GOOD_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const GOOD_SPAN: &str = "00f067aa0ba902b7";

/// The `trace_id`, `span_id` and `parent_id` of the one line `f` logs, and
/// how many ids it counted as invalid.
fn context_of(f: impl FnOnce()) -> (serde_json::Value, u64) {
    let out = run(json(), f);
    assert_eq!(out.lines.len(), 1, "{:?}", out.lines);
    (parse(&out.lines[0]), out.stats.invalid_ids)
}

#[test]
fn malformed_trace_ids_are_ignored_and_counted() {
    let _serial = serial();
    let bad = [
        "xyz",
        "00000000000000000000000000000000",
        "4bf92f3577b34da6a3ce929d0e0e473",
        "4bf92f3577b34da6a3ce929d0e0e47360",
        "4bf92f3577b34da6a3ce929d0e0e473g",
        "éééééééééééééééé",
        "4bf92f35-77b3-4da6-a3ce-929d0e0e4736",
        "0x4bf92f3577b34da6a3ce929d0e0e47",
    ];
    for text in bad {
        let (line, invalid) = context_of(|| {
            tracing::info_span!("s", trace_id = text).in_scope(|| tracing::info!("x"));
        });
        assert_eq!(invalid, 1, "{text:?}");
        let printed = line["trace_id"].as_str().unwrap();
        assert_eq!(printed.len(), 32, "{text:?}: a fresh trace id");
        assert!(printed
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        assert!(!line.to_string().contains(text), "{text:?} printed");
    }

    // Blank is absent (not counted); case and spaces are forgiven.
    let (line, invalid) =
        context_of(|| tracing::info_span!("s", trace_id = "  ").in_scope(|| tracing::info!("x")));
    assert_eq!((invalid, line["trace_id"].as_str().unwrap().len()), (0, 32));
    for text in [
        " 4BF92F3577B34DA6A3CE929D0E0E4736 ",
        "\t4bf92f3577b34da6a3ce929d0e0e4736",
    ] {
        let (line, invalid) = context_of(|| {
            tracing::info_span!("s", trace_id = text).in_scope(|| tracing::info!("x"))
        });
        assert_eq!(
            (invalid, line["trace_id"].as_str()),
            (0, Some(GOOD_TRACE)),
            "{text:?}"
        );
    }

    // A number or a Debug value that is not an id.
    let (_, invalid) =
        context_of(|| tracing::info_span!("s", trace_id = 42u64).in_scope(|| tracing::info!("x")));
    assert_eq!(invalid, 1);
    let (_, invalid) = context_of(|| {
        tracing::info_span!("s", trace_id = ?[1, 2]).in_scope(|| tracing::info!("x"))
    });
    assert_eq!(invalid, 1);
}

#[test]
fn malformed_span_parent_and_flag_fields_are_ignored_and_counted() {
    let _serial = serial();
    // A bad span id: a fresh one is used.
    let (line, invalid) = context_of(|| {
        tracing::info_span!("s", span_id = "0000000000000000").in_scope(|| tracing::info!("x"))
    });
    assert_eq!(invalid, 1);
    assert_ne!(line["span_id"], "0000000000000000");

    // A bad parent id under a good trace id: the span is a root of that trace.
    let (line, invalid) = context_of(|| {
        tracing::info_span!("s", trace_id = GOOD_TRACE, parent_id = "zz")
            .in_scope(|| tracing::info!("x"))
    });
    assert_eq!((invalid, line["trace_id"].as_str()), (1, Some(GOOD_TRACE)));
    assert_eq!(line.get("parent_id"), None);

    // A good parent id without a trace id means nothing (not counted).
    let (line, invalid) = context_of(|| {
        tracing::info_span!("s", parent_id = GOOD_SPAN).in_scope(|| tracing::info!("x"))
    });
    assert_eq!((invalid, line.get("parent_id")), (0, None));

    for flags in ["zz", "1", "100", "-1"] {
        let (_, invalid) = context_of(|| {
            tracing::info_span!("s", trace_flags = flags).in_scope(|| tracing::info!("x"))
        });
        assert_eq!(invalid, 1, "{flags:?}");
    }

    // Request ids with control characters would forge lines: refused.
    for id in ["abc\ndef", "abc\u{7f}", "\u{1b}[2J"] {
        let (line, invalid) = context_of(|| {
            tracing::info_span!("s", x_request_id = id, request_id = id)
                .in_scope(|| tracing::info!("x"))
        });
        assert_eq!(
            (invalid, line.get("x_request_id"), line.get("request_id")),
            (2, None, None),
            "{id:?}"
        );
    }

    // A huge request id is cut to 256 bytes.
    let long = "r".repeat(100_000);
    let (line, invalid) = context_of(|| {
        tracing::info_span!("s", x_request_id = long.as_str()).in_scope(|| tracing::info!("x"))
    });
    assert_eq!(
        (invalid, line["x_request_id"].as_str()),
        (0, Some(&long[..256]))
    );
}

#[test]
fn malformed_headers_are_ignored_and_counted() {
    let _serial = serial();
    use dynlog::propagation::{extract, TraceParent};

    let garbage = "\u{0}\u{ff}".repeat(5_000);
    let cases: [(&str, &str); 12] = [
        ("", "version at byte 0: expected 2 lowercase hex digits, found end of input"),
        ("00", "separator at byte 2: expected \"-\" before the trace id, found end of input"),
        ("00-", "trace id at byte 3: expected 32 lowercase hex digits, found end of input"),
        (
            "zz-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "version at byte 0: expected 2 lowercase hex digits, found \"zz\"",
        ),
        (
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "version at byte 0: expected a version other than ff, found \"ff\"",
        ),
        (
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "trace id at byte 3: expected 32 lowercase hex digits, found \"4bf92f3577b34da6a3ce929d0e0e473\"",
        ),
        (
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "trace id at byte 3: expected a trace id that is not all zero, found \"00000000000000000000000000000000\"",
        ),
        (
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "trace id at byte 3: expected 32 lowercase hex digits, found \"4BF92F3577B34DA6A3CE929D0E0E4736\"",
        ),
        (
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "parent id at byte 36: expected a parent id that is not all zero, found \"0000000000000000\"",
        ),
        (
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g",
            "flags at byte 53: expected 2 lowercase hex digits, found \"0g\"",
        ),
        (
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "trailing data at byte 55: expected end of input after the flags of version 00, found \"-extra\"",
        ),
        (
            "00-é4bf92f3577b34da6a3ce929d0e0e47-00f067aa0ba902b7-01",
            "trace id at byte 3: expected 32 lowercase hex digits, found \"é4bf92f3577b34da6a3ce929d0e0e47\"",
        ),
    ];
    for (header, message) in cases {
        let err = TraceParent::parse(header).unwrap_err().to_string();
        assert_eq!(err, format!("invalid traceparent: {message}"), "{header:?}");
        let incoming = extract(|name| (name == "traceparent").then_some(header));
        assert_eq!(incoming.traceparent, None, "{header:?}");
        assert_eq!(
            incoming.invalid,
            u32::from(!header.is_empty()),
            "{header:?}"
        );
    }
    assert_eq!(
        TraceParent::parse(&garbage).unwrap_err().to_string(),
        format!(
            "invalid traceparent: version at byte 0: expected 2 lowercase hex digits, found \"{}\"... (15000 bytes)",
            "\\0ÿ".repeat(13) + "\\0"
        )
    );

    // A tracestate with 33 members, or a bad key, is dropped whole.
    let tracestate_33: String = (0..33)
        .map(|i| format!("k{i}=v"))
        .collect::<Vec<_>>()
        .join(",");
    for tracestate in [tracestate_33.as_str(), "UPPER=1", "k=v,k=w", "k=", &garbage] {
        let traceparent = format!("00-{GOOD_TRACE}-{GOOD_SPAN}-01");
        let incoming = extract(|name| match name {
            "traceparent" => Some(traceparent.as_str()),
            "tracestate" => Some(tracestate),
            _ => None,
        });
        assert!(incoming.traceparent.is_some());
        assert_eq!(
            (incoming.tracestate, incoming.invalid),
            (None, 1),
            "{tracestate:.40}"
        );
    }

    // Request-id headers with control characters are refused; long ones cut.
    let long = "q".repeat(10_000);
    let incoming = extract(|name| match name {
        "x-request-id" => Some("abc\r\nX-Forged: 1"),
        "request-id" => Some(long.as_str()),
        _ => None,
    });
    assert_eq!(incoming.x_request_id, None);
    assert_eq!(incoming.request_id.as_deref(), Some(&long[..256]));
    assert_eq!(incoming.invalid, 1);
}

// ----- config files ---------------------------------------------------------------

#[test]
fn config_files_that_are_not_config_files_are_refused_clearly() {
    let _serial = serial();
    let dir = std::env::temp_dir().join(format!("dynlog-faults-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let garbage = dir.join("garbage.toml");
    std::fs::write(
        &garbage,
        (0..=255u8).cycle().take(4096).collect::<Vec<u8>>(),
    )
    .unwrap();
    let huge = dir.join("huge.toml");
    std::fs::File::create(&huge)
        .unwrap()
        .set_len(100 << 20)
        .unwrap();
    let directory = dir.join("a-directory.toml");
    std::fs::create_dir_all(&directory).unwrap();

    let cases = [
        (
            &directory,
            "expected a TOML file, found a directory".to_owned(),
        ),
        (&garbage, "expected UTF-8 text, found byte 0x80".to_owned()),
        (
            &huge,
            "expected a file of at most 1 MiB, found a larger file".to_owned(),
        ),
    ];
    for (path, problem) in cases {
        // The garbage's first invalid byte is at line 2 (after 0x0a),
        // column 118.
        let position = if path == &garbage { ":2:118" } else { "" };
        let expected = format!("{}{position}: {problem}", path.display());
        // Strict: the build fails with the reason.
        let err = Builder::new()
            .env_prefix("DYNLOG_FAULTS_UNSET")
            .default_config_file(path)
            .writer(io::sink())
            .build()
            .err()
            .expect("a bad config file is an error");
        assert_eq!(err.to_string(), expected);

        // Lossy (as `init` does): one problem, the defaults, and logging goes on.
        let named = path.display().to_string();
        let env = |name: &str| (name == "DYN_LOGGING_CONFIG_PATH").then(|| named.clone());
        let config = dynlog::config::resolve(
            &dynlog::config::Settings::default(),
            "DYN",
            &env,
            Path::new("/nonexistent/dynlog-faults.toml"),
        );
        let problems: Vec<String> = config.problems.iter().map(ToString::to_string).collect();
        assert_eq!(problems, [expected]);
        assert_eq!(config.format, dynlog::Format::Readable);
    }
    let line = line!() + 1;
    let out = run(json(), || tracing::info!("still logging"));
    let got: Vec<String> = out.lines.iter().map(|l| normalize(l)).collect();
    assert_eq!(got, [format!(r#"{}"still logging"}}"#, head(line, "INFO"))]);
    std::fs::remove_dir_all(&dir).unwrap();
}
