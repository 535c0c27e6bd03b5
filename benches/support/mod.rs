//! What the benches share: the call sites every scenario runs (the same
//! ones for dynlog and for tracing-subscriber), the two candidates'
//! subscribers, and sinks that count bytes without keeping them.
//!
//! A scenario is run under `tracing::dispatcher::with_default`, so both
//! candidates pay the same thread-local dispatcher lookup per call; with
//! `set_global_default` absolute figures are a few nanoseconds lower.
#![allow(dead_code, reason = "each bench binary uses a part of this module")]

use std::io::{self, Write};
use std::sync::atomic::{AtomicU64, Ordering};

use tracing::{debug, info, info_span, Dispatch, Level, Span};
use tracing_subscriber::fmt::format::FmtSpan;

/// A sink that counts the bytes written to it and keeps none.
#[derive(Clone, Copy)]
pub struct CountingSink(pub &'static AtomicU64);

impl Write for CountingSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.fetch_add(buf.len() as u64, Ordering::Relaxed);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A `Debug` struct, as services log them.
#[derive(Debug)]
#[allow(dead_code, reason = "the fields are read through Debug only")]
pub struct Request {
    pub id: u64,
    pub model: &'static str,
    pub stream: bool,
    pub tokens: [u32; 4],
}

pub const REQUEST: Request = Request {
    id: 42,
    model: "llama-3-70b",
    stream: true,
    tokens: [128, 256, 512, 1024],
};

// ----- call sites ------------------------------------------------------------

/// S1: a `debug!` with five fields below the INFO level.
#[inline(never)]
pub fn disabled_event(i: u64) {
    debug!(
        user_id = i,
        latency_ms = 12.5,
        bytes = 512u64,
        ok = true,
        method = "POST",
        "not shown"
    );
}

/// S1: a disabled span.
#[inline(never)]
pub fn disabled_span(i: u64) {
    let span = tracing::debug_span!("hidden", id = i);
    let _entered = span.enter();
}

/// S2: an enabled event with five typed fields and a message.
#[inline(never)]
pub fn event_5_fields(i: u64) {
    info!(
        user_id = i,
        latency_ms = 12.5,
        bytes = 512u64,
        ok = true,
        method = "POST",
        "request handled"
    );
}

/// The three spans of S5 (2 + 2 + 1 fields); enter them outside the loop.
pub fn three_spans() -> [Span; 3] {
    let request = info_span!("request", method = "POST", uri = "/v1/chat/completions");
    let handler = request.in_scope(|| info_span!("handler", route = "chat", attempt = 1u64));
    let db = handler.in_scope(|| info_span!("db", table = "users"));
    [request, handler, db]
}

/// S5b: three nested spans created, entered, an event, exited and closed.
#[inline(never)]
pub fn spans_per_iteration(i: u64) {
    let request = info_span!("request", method = "POST", uri = "/v1/chat/completions");
    let _r = request.enter();
    let handler = info_span!("handler", route = "chat", attempt = 1u64);
    let _h = handler.enter();
    let db = info_span!("db", table = "users");
    let _d = db.enter();
    event_5_fields(i);
}

/// S6: a span with two fields: new, enter, exit, close.
#[inline(never)]
pub fn span_lifecycle(i: u64) {
    let span = info_span!("conn", peer = "10.0.4.65:41959", id = i);
    let _entered = span.enter();
}

/// S6 variant: the same with a field recorded after creation.
#[inline(never)]
pub fn span_with_record(i: u64) {
    let span = info_span!("conn", peer = "10.0.4.65:41959", id = tracing::field::Empty);
    span.record("id", i);
    let _entered = span.enter();
}

/// S11: an event from a target that a target directive turns up to debug.
#[inline(never)]
pub fn filtered_by_target(i: u64) {
    debug!(target: "my_service::db", query_id = i, rows = 3u64, "query done");
}

/// S11: a span that a span directive (`[conn{id=7}]`) turns up. A number:
/// tracing-subscriber matches a string field only through its Debug text.
pub fn conn_span(id: u64) -> Span {
    info_span!("conn", id = id)
}

#[inline(never)]
pub fn debug_event(i: u64) {
    debug!(target: "my_service::db", query_id = i, rows = 3u64, "query done");
}

/// S14: a 4 KiB string field.
#[inline(never)]
pub fn large_string(text: &str) {
    info!(body = text, "large value");
}

/// S14: a string full of characters that need escaping.
#[inline(never)]
pub fn escaped_string(text: &str) {
    info!(text = text, "escaped value");
}

/// S14: a `Debug` struct and a `Display` value.
#[inline(never)]
pub fn debug_struct(i: u64) {
    info!(request = ?REQUEST, i, shown = %"display text", "debug value");
}

/// A 4 KiB ASCII string without characters that need escaping.
pub fn text_4k() -> String {
    "lorem ipsum dolor sit amet, ".repeat(147)[..4096].to_owned()
}

/// A 1 KiB string where every fourth byte needs escaping.
pub fn text_escapes() -> String {
    "ab\"c\\de\nf\tgh\u{1}i".repeat(64)
}

// ----- candidates ------------------------------------------------------------

/// dynlog's JSON subscriber on `writer`; the guard must outlive its use.
pub fn dynlog_json(
    writer: impl Write + Send + 'static,
    filter: &str,
    span_events: bool,
) -> (Dispatch, dynlog::Guard) {
    let (subscriber, guard) = dynlog::Builder::new()
        .json(true)
        .filter(filter)
        .span_events(span_events)
        .writer(writer)
        .build()
        .expect("the bench settings are valid");
    (Dispatch::new(subscriber), guard)
}

/// tracing-subscriber's `fmt().json()` with file and line, current span and
/// span list (its defaults), at INFO, writing through `make_writer`.
pub fn fmt_json<W>(make_writer: W, filter: Option<&str>, span_events: bool) -> Dispatch
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    let events = if span_events {
        FmtSpan::ENTER | FmtSpan::CLOSE
    } else {
        FmtSpan::NONE
    };
    let builder = tracing_subscriber::fmt()
        .json()
        .with_file(true)
        .with_line_number(true)
        .with_span_events(events)
        .with_writer(make_writer);
    match filter {
        Some(f) => Dispatch::new(
            builder
                .with_env_filter(tracing_subscriber::EnvFilter::new(f))
                .finish(),
        ),
        None => Dispatch::new(builder.with_max_level(Level::INFO).finish()),
    }
}
