//! TEMPORARY stand-in for the dynlog core, used by the examples of this
//! worktree until the core lands. It copies the public API the examples call
//! (`init`, `Guard`, `stats`, `current_context`, `propagation`) and writes
//! lines of the shapes of SPEC sections 4, 6 and 7 through
//! `tracing-subscriber`, synchronously, one `write_all` per line, so that
//! the end-to-end tests can be run before the core exists.
//!
//! It is deliberately simple and slow: keys of span fields are sorted, span
//! busy time is not exact across threads, and only the settings the tests
//! use are read (`DYN_LOGGING_JSONL`, `DYN_LOGGING_SPAN_EVENTS`, `DYN_LOG`).
//! On merge this folder is deleted and each example says `dynlog::` where
//! it says `standin::`.

use std::cell::Cell;
use std::collections::hash_map::RandomState;
use std::fmt::{self, Write as _};
use std::hash::{BuildHasher, Hasher};
use std::io::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::{LookupSpan, Registry, SpanRef};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

/// Lines written since start; read by [`stats`].
static LINES_WRITTEN: AtomicU64 = AtomicU64::new(0);

/// Keeps the pipeline alive; the stand-in writes synchronously, so there is
/// nothing to stop.
pub struct Guard {
    _private: (),
}

impl Guard {
    /// Flushes stderr.
    pub fn flush(&self) {
        let _ = std::io::stderr().flush();
    }
}

/// The counters of [`stats`].
pub struct Stats {
    /// Lines written to the sink.
    pub lines_written: u64,
}

/// Reads the counters.
pub fn stats() -> Stats {
    Stats {
        lines_written: LINES_WRITTEN.load(Ordering::Relaxed),
    }
}

/// Installs the stand-in as the global subscriber.
pub fn init() -> Guard {
    let directives = std::env::var("DYN_LOG")
        .ok()
        .filter(|value| !value.trim().is_empty())
        .unwrap_or_else(|| "info".to_owned());
    let defaults = "h2=error,tower=error,hyper_util=error,axum=error,request_span=trace";
    let filter = EnvFilter::builder().parse_lossy(format!("{defaults},{directives}"));
    let layer = StandinLayer {
        is_json: env_flag("DYN_LOGGING_JSONL"),
        has_span_events: env_flag("DYN_LOGGING_SPAN_EVENTS"),
    };
    let _ = tracing_subscriber::registry()
        .with(layer)
        .with(filter)
        .try_init();
    Guard { _private: () }
}

fn env_flag(name: &str) -> bool {
    let value = std::env::var(name).unwrap_or_default();
    matches!(
        value.trim().to_ascii_lowercase().as_str(),
        "1" | "true" | "on" | "yes"
    )
}

/// A 128-bit trace id; `Display` writes 32 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct TraceId(u128);

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

/// A 64-bit span id; `Display` writes 16 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SpanId(u64);

impl fmt::Display for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// The context of the current span.
#[derive(Clone)]
pub struct TraceContext {
    trace_id: TraceId,
    span_id: SpanId,
    parent_id: Option<SpanId>,
    flags: u8,
    tracestate: Option<String>,
    x_request_id: Option<String>,
    request_id: Option<String>,
}

impl TraceContext {
    /// The trace id.
    pub fn trace_id(&self) -> TraceId {
        self.trace_id
    }

    /// The span's own id.
    pub fn span_id(&self) -> SpanId {
        self.span_id
    }

    /// The parent's span id, local or remote.
    pub fn parent_id(&self) -> Option<SpanId> {
        self.parent_id
    }

    /// The `x-request-id` carried by the span.
    pub fn x_request_id(&self) -> Option<&str> {
        self.x_request_id.as_deref()
    }

    /// The W3C `traceparent` header value naming this span as the parent.
    pub fn traceparent(&self) -> String {
        format!("00-{}-{}-{:02x}", self.trace_id, self.span_id, self.flags)
    }
}

/// The context of the current span, if any.
pub fn current_context() -> Option<TraceContext> {
    tracing::dispatcher::get_default(|dispatch| {
        let registry = dispatch.downcast_ref::<Registry>()?;
        let current = dispatch.current_span();
        let span = registry.span(current.id()?)?;
        let mut extensions = span.extensions_mut();
        let data = extensions.get_mut::<SpanData>()?;
        data.is_fixed = true;
        Some(data.context.clone())
    })
}

/// W3C trace context headers in and out.
pub mod propagation {
    use std::fmt;

    use super::{SpanId, TraceId};

    /// The context found in a request's headers.
    pub struct Incoming {
        /// A valid `traceparent`.
        pub traceparent: Option<TraceParent>,
        /// `tracestate`, kept only with a valid `traceparent`.
        pub tracestate: Option<TraceState>,
        /// `x-request-id`.
        pub x_request_id: Option<String>,
        /// `request-id`.
        pub request_id: Option<String>,
        /// How many headers were present but invalid.
        pub invalid: u32,
    }

    /// A parsed `traceparent` header.
    pub struct TraceParent {
        trace_id: TraceId,
        parent_id: SpanId,
        flags: TraceFlags,
    }

    impl TraceParent {
        /// Parses version `00` only; the real parser is stricter and says
        /// which part is wrong.
        pub fn parse(text: &str) -> Option<TraceParent> {
            let mut parts = text.trim_matches([' ', '\t']).split('-');
            let (version, trace, parent, flags) =
                (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
            let is_hex = |s: &str, n: usize| {
                s.len() == n && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
            };
            if version != "00" || parts.next().is_some() {
                return None;
            }
            if !is_hex(trace, 32) || !is_hex(parent, 16) || !is_hex(flags, 2) {
                return None;
            }
            let trace_id = u128::from_str_radix(trace, 16).ok()?;
            let parent_id = u64::from_str_radix(parent, 16).ok()?;
            let flags = u8::from_str_radix(flags, 16).ok()?;
            if trace_id == 0 || parent_id == 0 {
                return None;
            }
            Some(TraceParent {
                trace_id: TraceId(trace_id),
                parent_id: SpanId(parent_id),
                flags: TraceFlags(flags),
            })
        }

        /// The trace id.
        pub fn trace_id(&self) -> TraceId {
            self.trace_id
        }

        /// The remote parent's span id.
        pub fn parent_id(&self) -> SpanId {
            self.parent_id
        }

        /// The trace flags.
        pub fn flags(&self) -> TraceFlags {
            self.flags
        }
    }

    impl fmt::Display for TraceParent {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(
                f,
                "00-{}-{}-{:02x}",
                self.trace_id, self.parent_id, self.flags.0
            )
        }
    }

    /// W3C trace flags.
    #[derive(Clone, Copy)]
    pub struct TraceFlags(u8);

    impl TraceFlags {
        /// Whether the sampled bit is set.
        pub fn is_sampled(self) -> bool {
            self.0 & 1 == 1
        }
    }

    /// A `tracestate` header value.
    pub struct TraceState(String);

    impl TraceState {
        /// The header value.
        pub fn as_str(&self) -> &str {
            &self.0
        }
    }

    /// Reads the incoming context through a lowercase header lookup.
    pub fn extract<'a>(get: impl Fn(&str) -> Option<&'a str>) -> Incoming {
        let mut invalid = 0;
        let traceparent = get("traceparent").and_then(|value| {
            let parsed = TraceParent::parse(value);
            invalid += u32::from(parsed.is_none());
            parsed
        });
        let tracestate = match traceparent {
            Some(_) => get("tracestate").map(|value| TraceState(value.trim().to_owned())),
            None => None,
        };
        Incoming {
            traceparent,
            tracestate,
            x_request_id: get("x-request-id").map(str::to_owned),
            request_id: get("request-id").map(str::to_owned),
            invalid,
        }
    }

    /// Hands the current span's context to `set` as outgoing headers.
    pub fn inject(mut set: impl FnMut(&str, &str)) {
        let Some(context) = super::current_context() else {
            return;
        };
        set("traceparent", &context.traceparent());
        if let Some(value) = &context.tracestate {
            set("tracestate", value);
        }
        if let Some(value) = &context.x_request_id {
            set("x-request-id", value);
        }
        if let Some(value) = &context.request_id {
            set("request-id", value);
        }
    }
}

/// A fresh non-zero random number from a per-thread splitmix64 generator.
fn random_u64() -> u64 {
    thread_local! {
        static STATE: Cell<u64> = Cell::new(RandomState::new().build_hasher().finish());
    }
    STATE.with(|state| loop {
        let next = state.get().wrapping_add(0x9e37_79b9_7f4a_7c15);
        state.set(next);
        let mut z = next;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        if z != 0 {
            return z;
        }
    })
}

/// Context fields a span set itself, as recorded.
#[derive(Default)]
struct Explicit {
    trace_id: Option<u128>,
    parent_id: Option<u64>,
    span_id: Option<u64>,
    flags: Option<u8>,
    tracestate: Option<String>,
    x_request_id: Option<String>,
    request_id: Option<String>,
}

/// What the layer keeps per span in the registry's extensions.
struct SpanData {
    explicit: Explicit,
    inherited: Option<TraceContext>,
    fresh_trace_id: u128,
    fresh_span_id: u64,
    context: TraceContext,
    is_fixed: bool,
    fields: Map<String, Value>,
    is_entered: bool,
    created: Instant,
    entered_at: Option<Instant>,
    depth: u32,
    busy_us: u64,
}

impl SpanData {
    /// Recomputes the context from the explicit fields and the parent's.
    fn resolve(&mut self) {
        let explicit = &self.explicit;
        let span_id = SpanId(explicit.span_id.unwrap_or(self.fresh_span_id));
        let inherited = self.inherited.as_ref();
        let (trace_id, parent_id, flags) = match (explicit.trace_id, inherited) {
            (Some(trace_id), _) => (
                TraceId(trace_id),
                explicit.parent_id.map(SpanId),
                explicit.flags.unwrap_or(1),
            ),
            (None, Some(parent)) => (parent.trace_id, Some(parent.span_id), parent.flags),
            (None, None) => (TraceId(self.fresh_trace_id), None, 1),
        };
        let pick = |own: &Option<String>, theirs: Option<&Option<String>>| {
            own.clone().or_else(|| theirs.and_then(Clone::clone))
        };
        self.context = TraceContext {
            trace_id,
            span_id,
            parent_id,
            flags,
            tracestate: pick(&explicit.tracestate, inherited.map(|c| &c.tracestate)),
            x_request_id: pick(&explicit.x_request_id, inherited.map(|c| &c.x_request_id)),
            request_id: pick(&explicit.request_id, inherited.map(|c| &c.request_id)),
        };
    }
}

/// Collects field values as JSON, splitting off context fields.
struct Collect<'a> {
    fields: &'a mut Map<String, Value>,
    explicit: Option<&'a mut Explicit>,
}

impl Collect<'_> {
    fn put(&mut self, field: &Field, value: Value) {
        let name = field.name().strip_prefix("r#").unwrap_or(field.name());
        if let Some(explicit) = self.explicit.as_deref_mut() {
            let text = value.as_str().map(str::to_ascii_lowercase);
            let hex = |n: usize| {
                let text = text.as_deref()?;
                let is_hex = text.len() == n && text.bytes().all(|b| b.is_ascii_hexdigit());
                is_hex.then_some(text)
            };
            match name {
                "trace_id" => {
                    let id = hex(32).and_then(|t| u128::from_str_radix(t, 16).ok());
                    explicit.trace_id = id.filter(|id| *id != 0);
                    return;
                }
                "parent_id" | "span_id" => {
                    let id = hex(16).and_then(|t| u64::from_str_radix(t, 16).ok());
                    let id = id.filter(|id| *id != 0);
                    match name {
                        "parent_id" => explicit.parent_id = id,
                        _ => explicit.span_id = id,
                    }
                    return;
                }
                "trace_flags" => {
                    explicit.flags = hex(2).and_then(|t| u8::from_str_radix(t, 16).ok());
                    return;
                }
                "tracestate" | "x_request_id" | "request_id" => {
                    let text = value.as_str().map(str::to_owned);
                    match name {
                        "tracestate" => explicit.tracestate = text,
                        "x_request_id" => explicit.x_request_id = text,
                        _ => explicit.request_id = text,
                    }
                    return;
                }
                _ => {}
            }
        }
        self.fields.insert(name.to_owned(), value);
    }
}

impl Visit for Collect<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        let value = serde_json::Number::from_f64(value)
            .map(Value::Number)
            .unwrap_or_else(|| Value::String(value.to_string()));
        self.put(field, value);
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, Value::from(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, Value::from(value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, Value::from(value));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, Value::from(value));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.put(field, Value::from(format!("{value:?}")));
    }
}

/// The layer that writes the lines.
struct StandinLayer {
    is_json: bool,
    has_span_events: bool,
}

impl StandinLayer {
    /// Writes one line: the callsite, the message, `own` fields, then the
    /// span data of `scope` (innermost first).
    fn write<'a, S>(
        &self,
        meta: &Metadata<'_>,
        message: &str,
        own: &Map<String, Value>,
        scope: impl Iterator<Item = SpanRef<'a, S>>,
    ) where
        S: Subscriber + for<'l> LookupSpan<'l>,
    {
        let mut keys: Vec<(String, Value)> = vec![
            (
                "time".into(),
                Value::from(format!("{:.6}", jiff::Timestamp::now())),
            ),
            ("level".into(), Value::from(meta.level().as_str())),
        ];
        if let Some(file) = meta.file() {
            keys.push(("file".into(), Value::from(file)));
        }
        if let Some(line) = meta.line() {
            keys.push(("line".into(), Value::from(line)));
        }
        keys.push(("target".into(), Value::from(meta.target())));
        keys.push(("message".into(), Value::from(message)));
        keys.extend(own.iter().map(|(k, v)| (k.clone(), v.clone())));

        // Span data of the innermost span, then every span's fields.
        let mut names = Vec::new();
        let mut innermost = true;
        for span in scope {
            names.push(span.name());
            let mut extensions = span.extensions_mut();
            let Some(data) = extensions.get_mut::<SpanData>() else {
                continue;
            };
            data.is_fixed = true;
            if innermost {
                let c = &data.context;
                keys.push(("span_name".into(), Value::from(span.name())));
                keys.push(("span_id".into(), Value::from(c.span_id.to_string())));
                keys.push(("trace_id".into(), Value::from(c.trace_id.to_string())));
                if let Some(parent_id) = c.parent_id {
                    keys.push(("parent_id".into(), Value::from(parent_id.to_string())));
                }
                let optional = [
                    ("x_request_id", &c.x_request_id),
                    ("request_id", &c.request_id),
                    ("tracestate", &c.tracestate),
                ];
                for (key, value) in optional {
                    if let Some(value) = value {
                        keys.push((key.into(), Value::from(value.as_str())));
                    }
                }
                innermost = false;
            }
            keys.extend(data.fields.iter().map(|(k, v)| (k.clone(), v.clone())));
        }

        // Drop repeated keys, keeping the first.
        let mut seen: Vec<String> = Vec::new();
        keys.retain(|(key, _)| {
            let is_new = !seen.contains(key);
            if is_new {
                seen.push(key.clone());
            }
            is_new
        });

        // Print as JSON, or as readable text without ids.
        let mut line = String::new();
        if self.is_json {
            for (key, value) in &keys {
                line.push(if line.is_empty() { '{' } else { ',' });
                let _ = write!(line, "{}:{}", Value::from(key.as_str()), value);
            }
            line.push_str("}\n");
        } else {
            let time = keys[0].1.as_str().unwrap_or("");
            let _ = write!(line, "{time} {:>5} ", meta.level());
            for name in names.iter().rev() {
                let _ = write!(line, "{name}:");
            }
            let space = if names.is_empty() { "" } else { " " };
            let _ = write!(line, "{space}{}: {message}", meta.target());
            for (key, value) in &keys[..] {
                let is_hidden = matches!(
                    key.as_str(),
                    "time"
                        | "level"
                        | "file"
                        | "line"
                        | "target"
                        | "message"
                        | "span_name"
                        | "span_id"
                        | "trace_id"
                        | "parent_id"
                        | "tracestate"
                );
                if !is_hidden {
                    let _ = write!(line, " {key}={value}");
                }
            }
            line.push('\n');
        }
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
        LINES_WRITTEN.fetch_add(1, Ordering::Relaxed);
    }
}

impl<S> Layer<S> for StandinLayer
where
    S: Subscriber + for<'l> LookupSpan<'l>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else {
            return;
        };
        let inherited = span.parent().and_then(|parent| {
            let mut extensions = parent.extensions_mut();
            let data = extensions.get_mut::<SpanData>()?;
            data.is_fixed = true;
            Some(data.context.clone())
        });
        let mut fields = Map::new();
        let mut explicit = Explicit::default();
        attrs.record(&mut Collect {
            fields: &mut fields,
            explicit: Some(&mut explicit),
        });
        let fresh_span_id = random_u64();
        let mut data = SpanData {
            explicit,
            inherited,
            fresh_trace_id: u128::from(random_u64()) << 64 | u128::from(random_u64()),
            fresh_span_id,
            context: TraceContext {
                trace_id: TraceId(1),
                span_id: SpanId(fresh_span_id),
                parent_id: None,
                flags: 1,
                tracestate: None,
                x_request_id: None,
                request_id: None,
            },
            is_fixed: false,
            fields,
            is_entered: false,
            created: Instant::now(),
            entered_at: None,
            depth: 0,
            busy_us: 0,
        };
        data.resolve();
        span.extensions_mut().insert(data);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else {
            return;
        };
        let mut extensions = span.extensions_mut();
        let Some(data) = extensions.get_mut::<SpanData>() else {
            return;
        };
        let mut ignored = Explicit::default();
        let explicit = if data.is_fixed {
            &mut ignored
        } else {
            &mut data.explicit
        };
        values.record(&mut Collect {
            fields: &mut data.fields,
            explicit: Some(explicit),
        });
        if !data.is_fixed {
            data.resolve();
        }
    }

    fn on_enter(&self, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else {
            return;
        };
        let is_first = {
            let mut extensions = span.extensions_mut();
            let Some(data) = extensions.get_mut::<SpanData>() else {
                return;
            };
            data.is_fixed = true;
            if data.depth == 0 {
                data.entered_at = Some(Instant::now());
            }
            data.depth += 1;
            !std::mem::replace(&mut data.is_entered, true)
        };
        if is_first && self.has_span_events {
            self.write(
                span.metadata(),
                "SPAN_FIRST_ENTRY",
                &Map::new(),
                span.scope(),
            );
        }
    }

    fn on_exit(&self, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else {
            return;
        };
        let mut extensions = span.extensions_mut();
        let Some(data) = extensions.get_mut::<SpanData>() else {
            return;
        };
        data.depth = data.depth.saturating_sub(1);
        if data.depth == 0 {
            if let Some(at) = data.entered_at.take() {
                data.busy_us += at.elapsed().as_micros() as u64;
            }
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        if !self.has_span_events {
            return;
        }
        let Some(span) = ctx.span(&id) else {
            return;
        };
        let timings = {
            let extensions = span.extensions();
            let Some(data) = extensions.get::<SpanData>() else {
                return;
            };
            let duration_us = data.created.elapsed().as_micros() as u64;
            let mut timings = Map::new();
            timings.insert("time.busy_us".into(), Value::from(data.busy_us));
            let idle_us = duration_us.saturating_sub(data.busy_us);
            timings.insert("time.idle_us".into(), Value::from(idle_us));
            timings.insert("time.duration_us".into(), Value::from(duration_us));
            timings
        };
        self.write(span.metadata(), "SPAN_CLOSED", &timings, span.scope());
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut fields = Map::new();
        event.record(&mut Collect {
            fields: &mut fields,
            explicit: None,
        });
        let message = match fields.remove("message") {
            Some(Value::String(text)) => text,
            Some(other) => other.to_string(),
            None => String::new(),
        };
        let scope = ctx.event_scope(event).into_iter().flatten();
        self.write(event.metadata(), &message, &fields, scope);
    }
}
