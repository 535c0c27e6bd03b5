//! The three fuzzed properties, as plain functions of the input bytes.
//!
//! The fuzz targets in `fuzz/fuzz_targets/` call these with what libFuzzer
//! generates; `tests/fuzz_regressions_still_pass.rs` includes this file and
//! calls them with every saved input under `fuzz/regressions/<target>/` and
//! with a bounded randomized run, on stable. One definition of each
//! property serves both, so a saved crash input is checked exactly as the
//! fuzzer checked it. Each function returns when the property holds and
//! panics, naming the broken rule and the input, when it does not.
//!
//! - [`directive`]: arbitrary text through `Filter::parse` and
//!   `Filter::parse_lossy`; whatever parses prints back to a canonical
//!   string that parses to an equal filter and prints the same again; the
//!   strict error is the lossy parse's first error; error offsets are
//!   character boundaries inside the input.
//! - [`traceparent`]: arbitrary header values through
//!   `TraceParent::parse`, `extract` and, for an accepted value, a span
//!   that joins the trace and `inject`; an accepted value prints as its
//!   canonical `00-` form, which parses to an equal value.
//! - [`json_line`]: arbitrary strings, numbers and nesting as the message,
//!   the event's fields and the fields of the spans around it; the output
//!   is exactly one line, a strict JSON parser accepts it, no key appears
//!   twice, and every string, number and boolean comes back exactly.

use std::fmt;
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use dynlog::filter::Filter;
use dynlog::propagation::{extract, inject, TraceParent, TraceState};
use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;
use tracing::field::Empty;
use tracing::Level;

// ----- directive -----------------------------------------------------------

/// Filter directives: the round trip and the error positions.
pub fn directive(data: &[u8]) {
    let input = String::from_utf8_lossy(data);
    let input = input.as_ref();

    // The strict parse: a round trip, or an error that points into the input.
    let strict = Filter::parse(input);
    match &strict {
        Ok(filter) => assert_filter_round_trip(input, filter),
        Err(error) => {
            let offset = error.offset();
            assert!(
                offset <= input.len() && input.is_char_boundary(offset),
                "directive {input:?}: error offset {offset} is not a character boundary: {error}"
            );
            let prefix = format!("invalid directive at byte {offset}: expected ");
            assert!(
                error.to_string().starts_with(&prefix),
                "directive {input:?}: error {error} does not start with {prefix:?}"
            );
        }
    }

    // The lossy parse keeps what it can, and what it keeps round-trips too.
    let (lossy, errors) = Filter::parse_lossy(input);
    assert_filter_round_trip(input, &lossy);
    match strict {
        Ok(filter) => {
            assert_eq!(
                errors,
                vec![],
                "directive {input:?}: lossy errors, strict none"
            );
            assert_eq!(
                lossy, filter,
                "directive {input:?}: strict and lossy differ"
            );
        }
        Err(error) => assert_eq!(
            errors.first(),
            Some(&error),
            "directive {input:?}: the strict error is not the first lossy one"
        ),
    }
    for error in &errors {
        let offset = error.offset();
        assert!(
            offset <= input.len() && input.is_char_boundary(offset),
            "directive {input:?}: lossy error offset {offset}: {error}"
        );
    }
}

fn assert_filter_round_trip(input: &str, filter: &Filter) {
    let printed = filter.to_string();
    let reparsed = match Filter::parse(&printed) {
        Ok(reparsed) => reparsed,
        Err(error) => panic!("directive {input:?} prints as {printed:?}, which fails: {error}"),
    };
    assert_eq!(
        &reparsed, filter,
        "directive {input:?} prints as {printed:?}, which parses to another filter"
    );
    assert_eq!(
        reparsed.to_string(),
        printed,
        "directive {input:?}: the canonical form is not stable"
    );
    assert!(
        !reparsed.used_colon_spelling(),
        "directive {input:?}: the canonical form {printed:?} uses `target:level`"
    );
}

// ----- traceparent ---------------------------------------------------------

/// W3C headers: `traceparent`, `tracestate`, `x-request-id` and
/// `request-id` are the input's parts between `0xff` bytes (which UTF-8
/// never holds), read lossily.
pub fn traceparent(data: &[u8]) {
    let mut parts = data
        .split(|&byte| byte == 0xff)
        .map(String::from_utf8_lossy);
    let header = parts.next().unwrap_or_default();
    let state = parts.next().unwrap_or_default();
    let x_request_id = parts.next().unwrap_or_default();
    let request_id = parts.next().unwrap_or_default();

    // Parsing: an accepted value prints canonically and parses back.
    let parsed = TraceParent::parse(&header);
    match &parsed {
        Ok(tp) => check_canonical_traceparent(&header, tp),
        Err(error) => {
            assert!(
                error.offset() <= header.len(),
                "traceparent {header:?}: error offset past the end: {error}"
            );
            assert!(
                error.to_string().starts_with("invalid traceparent: "),
                "traceparent {header:?}: error {error}"
            );
        }
    }

    // Extracting: the same answer as parsing, and only clean values kept.
    let headers = [
        ("traceparent", header.as_ref()),
        ("tracestate", state.as_ref()),
        ("x-request-id", x_request_id.as_ref()),
        ("request-id", request_id.as_ref()),
    ];
    let incoming = extract(|name| {
        headers
            .iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| *value)
    });
    let is_blank = |value: &str| value.bytes().all(|byte| byte == b' ' || byte == b'\t');
    let want = if is_blank(&header) { None } else { parsed.ok() };
    assert_eq!(
        incoming.traceparent, want,
        "extract, traceparent {header:?}"
    );
    if incoming.traceparent.is_none() {
        assert_eq!(
            incoming.tracestate, None,
            "tracestate {state:?} without traceparent"
        );
    }
    if let Some(ts) = &incoming.tracestate {
        assert!(
            !ts.is_empty() && ts.len() <= TraceState::MAX_MEMBERS,
            "tracestate {state:?} kept with {} members",
            ts.len()
        );
        assert_eq!(
            TraceState::parse(ts.as_str()).as_ref(),
            Ok(ts),
            "tracestate {state:?}: its canonical form does not parse back"
        );
        assert_eq!(ts.to_string(), ts.as_str());
    }
    for (name, sent, kept) in [
        ("x-request-id", &x_request_id, &incoming.x_request_id),
        ("request-id", &request_id, &incoming.request_id),
    ] {
        let want = expected_request_id(sent);
        assert_eq!(kept.as_deref(), want.as_deref(), "{name}: sent {sent:?}");
    }
    assert!(
        incoming.invalid <= 4,
        "{} headers invalid of 4",
        incoming.invalid
    );

    // Joining: a span given the header's ids carries them to `inject`.
    if let Some(tp) = incoming.traceparent {
        check_span_joins_trace(&tp);
    }
}

/// A request id as `extract` must keep it: spaces and tabs trimmed, cut to
/// 256 bytes at a character boundary; none when blank or when it holds a
/// control character anywhere.
fn expected_request_id(sent: &str) -> Option<String> {
    let trimmed = sent.trim_matches([' ', '\t']);
    if trimmed.is_empty() || trimmed.chars().any(char::is_control) {
        return None;
    }
    let mut end = trimmed.len().min(dynlog::propagation::MAX_REQUEST_ID_LEN);
    while !trimmed.is_char_boundary(end) {
        end -= 1;
    }
    Some(trimmed[..end].to_owned())
}

fn check_canonical_traceparent(header: &str, tp: &TraceParent) {
    let canonical = tp.to_string();
    assert_eq!(
        canonical.len(),
        55,
        "traceparent {header:?} prints {canonical:?}"
    );
    assert!(
        canonical.starts_with("00-"),
        "traceparent {header:?} prints {canonical:?}"
    );
    let reparsed = TraceParent::parse(&canonical);
    let want = TraceParent::new(tp.trace_id(), tp.parent_id(), tp.flags());
    assert_eq!(
        reparsed,
        Ok(want),
        "traceparent {header:?} prints {canonical:?}, which parses to another value"
    );

    // Version 00 is its own canonical form but for the unknown flag bits.
    let trimmed = header.trim_matches([' ', '\t']);
    if tp.version() == 0 {
        assert_eq!(
            canonical[..53],
            trimmed[..53],
            "traceparent {header:?}: ids changed in printing"
        );
    }
}

fn check_span_joins_trace(tp: &TraceParent) {
    let pipe = pipe(Mode::Json);
    let flags = format!("{:02x}", tp.flags().bits());
    let mut sent = Vec::new();
    let _busy = pipe.lock();
    let context = tracing::dispatcher::with_default(&pipe.dispatch, || {
        let span = tracing::info_span!(
            "joined",
            trace_id = %tp.trace_id(),
            parent_id = %tp.parent_id(),
            trace_flags = flags.as_str(),
        );
        let _entered = span.enter();
        inject(|name, value| sent.push((name.to_owned(), value.to_owned())));
        dynlog::current_context()
    });
    pipe.take();

    let Some(context) = context else {
        panic!("traceparent {tp}: no current context inside the span");
    };
    assert_eq!(
        context.trace_id(),
        tp.trace_id(),
        "traceparent {tp}: trace id"
    );
    assert_eq!(
        context.parent_id(),
        Some(tp.parent_id()),
        "traceparent {tp}: parent"
    );
    assert_eq!(context.flags(), tp.flags(), "traceparent {tp}: flags");
    let want = format!("00-{}-{}-{flags}", tp.trace_id(), context.span_id());
    assert_eq!(
        sent,
        vec![("traceparent".to_owned(), want)],
        "traceparent {tp}: injected headers"
    );
}

// ----- json_line -----------------------------------------------------------

/// Which pipeline a [`json_line`] input goes through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// JSON lines, values up to 1 MiB.
    Json,
    /// JSON lines, values cut after [`SMALL_LIMIT`] bytes.
    JsonSmall,
    /// Readable text.
    Text,
}

/// The value limit of [`Mode::JsonSmall`]: small enough that fuzzed values
/// cross it, so the cut and its marker are fuzzed too.
const SMALL_LIMIT: usize = 24;

/// A subscriber built once per mode, writing into a buffer.
///
/// Tests run on several threads; whoever logs through a pipe holds `busy`
/// until it has taken its output, so no one reads another's lines.
struct Pipe {
    dispatch: tracing::Dispatch,
    guard: dynlog::Guard,
    out: Arc<Mutex<Vec<u8>>>,
    busy: Mutex<()>,
}

impl Pipe {
    fn lock(&self) -> std::sync::MutexGuard<'_, ()> {
        self.busy.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Flushes and returns what was written since the last call.
    fn take(&self) -> Vec<u8> {
        self.guard.flush();
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        std::mem::take(&mut *out)
    }
}

struct Shared(Arc<Mutex<Vec<u8>>>);

impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut out = self.0.lock().unwrap_or_else(|e| e.into_inner());
        out.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn pipe(mode: Mode) -> &'static Pipe {
    static PIPES: OnceLock<[Pipe; 3]> = OnceLock::new();
    let pipes = PIPES.get_or_init(|| [Mode::Json, Mode::JsonSmall, Mode::Text].map(new_pipe));
    match mode {
        Mode::Json => &pipes[0],
        Mode::JsonSmall => &pipes[1],
        Mode::Text => &pipes[2],
    }
}

fn new_pipe(mode: Mode) -> Pipe {
    let out = Arc::new(Mutex::new(Vec::new()));
    let mut builder = dynlog::Builder::new()
        .json(mode != Mode::Text)
        .filter("trace")
        .writer(Shared(out.clone()));
    if mode == Mode::JsonSmall {
        builder = builder.max_value_bytes(SMALL_LIMIT);
    }
    let (subscriber, guard) = match builder.build() {
        Ok(built) => built,
        Err(error) => panic!("fuzz: cannot build the subscriber: {error}"),
    };
    Pipe {
        dispatch: tracing::Dispatch::new(subscriber),
        guard,
        out,
        busy: Mutex::new(()),
    }
}

/// Reads values from the fuzzer's bytes; past the end every read gives
/// zeros or empty strings, so every input means something.
struct Reader<'a> {
    data: &'a [u8],
}

impl Reader<'_> {
    fn byte(&mut self) -> u8 {
        let Some((&first, rest)) = self.data.split_first() else {
            return 0;
        };
        self.data = rest;
        first
    }

    fn array<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0; N];
        let n = N.min(self.data.len());
        out[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        out
    }

    /// A length byte, then that many bytes read as UTF-8 (lossily).
    fn string(&mut self) -> String {
        let len = usize::from(self.byte()).min(self.data.len());
        let (head, rest) = self.data.split_at(len);
        self.data = rest;
        String::from_utf8_lossy(head).into_owned()
    }
}

/// Everything one [`json_line`] input logs.
#[derive(Debug)]
struct Line {
    mode: Mode,
    /// Message recorded as `&str` (true) or as `format_args!` (false).
    is_str_message: bool,
    message: String,
    text: String,
    debug: String,
    display: String,
    reserved: String,
    int: i64,
    uint: u64,
    float: f64,
    flag: bool,
    big: i128,
    ubig: u128,
    spans: Vec<SpanValues>,
}

/// The values of one span around the event, outermost first.
#[derive(Debug)]
struct SpanValues {
    text: String,
    int: i64,
    shared: String,
    /// Recorded after creation with `Span::record`, when given.
    later: Option<String>,
}

/// The most spans around the event (each depth has its own callsite, so
/// each span's fields have their own names).
const MAX_DEPTH: usize = 4;

impl Line {
    fn read(data: &[u8]) -> Line {
        let mut reader = Reader { data };
        let flags = reader.byte();
        let mode = match flags & 3 {
            0 | 1 => Mode::Json,
            2 => Mode::JsonSmall,
            _ => Mode::Text,
        };
        let depth = usize::from(flags >> 3) % (MAX_DEPTH + 1);
        let mut line = Line {
            mode,
            is_str_message: flags & 4 != 0,
            message: reader.string(),
            text: reader.string(),
            debug: reader.string(),
            display: reader.string(),
            reserved: reader.string(),
            int: i64::from_le_bytes(reader.array()),
            uint: u64::from_le_bytes(reader.array()),
            float: f64::from_le_bytes(reader.array()),
            flag: reader.byte() & 1 == 1,
            big: i128::from_le_bytes(reader.array()),
            ubig: u128::from_le_bytes(reader.array()),
            spans: Vec::new(),
        };
        for _ in 0..depth {
            let text = reader.string();
            let int = i64::from_le_bytes(reader.array());
            let shared = reader.string();
            let later = (reader.byte() & 1 == 1).then(|| reader.string());
            line.spans.push(SpanValues {
                text,
                int,
                shared,
                later,
            });
        }
        line
    }

    /// Logs the event inside its spans.
    fn emit(&self) {
        self.emit_from(0);
    }

    fn emit_from(&self, depth: usize) {
        let Some(values) = self.spans.get(depth) else {
            self.emit_event();
            return;
        };
        let (text, int, shared) = (values.text.as_str(), values.int, values.shared.as_str());
        let span = match depth {
            0 => {
                tracing::info_span!("outer", s0 = text, q0 = ?text, n0 = int, shared, e0 = Empty, s = text)
            }
            1 => tracing::info_span!("middle", s1 = text, q1 = ?text, n1 = int, shared, e1 = Empty),
            2 => tracing::info_span!("inner", s2 = text, q2 = ?text, n2 = int, shared, e2 = Empty),
            _ => tracing::info_span!("leaf", s3 = text, q3 = ?text, n3 = int, shared, e3 = Empty),
        };
        if let Some(later) = &values.later {
            span.record(format!("e{depth}").as_str(), later.as_str());
        }
        span.in_scope(|| self.emit_from(depth + 1));
    }

    fn emit_event(&self) {
        let (text, debug_text, display_text) = (&self.text, &self.debug, &self.display);
        if self.is_str_message {
            tracing::event!(
                Level::INFO,
                message = self.message.as_str(),
                s = text.as_str(),
                d = ?debug_text,
                p = %display_text,
                target = self.reserved.as_str(),
                i = self.int,
                u = self.uint,
                f = self.float,
                b = self.flag,
                big = self.big,
                ubig = self.ubig,
            );
        } else {
            tracing::event!(
                Level::INFO,
                s = text.as_str(),
                d = ?debug_text,
                p = %display_text,
                target = self.reserved.as_str(),
                i = self.int,
                u = self.uint,
                f = self.float,
                b = self.flag,
                big = self.big,
                ubig = self.ubig,
                "{}",
                self.message
            );
        }
    }

    /// The value limit of the pipeline this line goes through.
    fn limit(&self) -> usize {
        match self.mode {
            Mode::JsonSmall => SMALL_LIMIT,
            Mode::Json | Mode::Text => 1 << 20,
        }
    }

    /// Every key the JSON line must carry with its value, in no order.
    fn expected(&self) -> Vec<(String, Want)> {
        let cut = |text: &str| Want::Str(cut_value(text, self.limit()));
        let raw = |value: &dyn fmt::Display| Want::Raw(value.to_string());
        let mut want = vec![
            ("level".to_owned(), Want::Str("INFO".to_owned())),
            ("message".to_owned(), cut(&self.message)),
            ("s".to_owned(), cut(&self.text)),
            ("d".to_owned(), cut(&format!("{:?}", self.debug))),
            ("p".to_owned(), cut(&self.display)),
            ("fields.target".to_owned(), cut(&self.reserved)),
            ("i".to_owned(), raw(&self.int)),
            ("u".to_owned(), raw(&self.uint)),
            ("f".to_owned(), Want::Float(self.float)),
            ("b".to_owned(), raw(&self.flag)),
            ("big".to_owned(), raw(&self.big)),
            ("ubig".to_owned(), raw(&self.ubig)),
        ];
        let names = ["outer", "middle", "inner", "leaf"];
        for (depth, values) in self.spans.iter().enumerate() {
            want.push((format!("s{depth}"), cut(&values.text)));
            want.push((format!("q{depth}"), cut(&format!("{:?}", values.text))));
            want.push((format!("n{depth}"), raw(&values.int)));
            if let Some(later) = &values.later {
                want.push((format!("e{depth}"), cut(later)));
            }
        }
        if let Some(innermost) = self.spans.last() {
            want.push(("shared".to_owned(), cut(&innermost.shared)));
            let name = names[self.spans.len() - 1];
            want.push(("span_name".to_owned(), Want::Str(name.to_owned())));
        }
        want
    }

    /// Keys that must not appear.
    fn absent(&self) -> Vec<String> {
        let mut absent = Vec::new();
        for (depth, values) in self.spans.iter().enumerate() {
            if values.later.is_none() {
                absent.push(format!("e{depth}"));
            }
        }
        if self.spans.is_empty() {
            absent.extend(["span_name", "span_id", "trace_id", "shared"].map(String::from));
        }
        absent
    }
}

/// What a key's value must be.
#[derive(Debug)]
enum Want {
    /// A JSON string with this content.
    Str(String),
    /// Exactly this JSON text (numbers, booleans).
    Raw(String),
    /// A float: a number that parses to the same bits when finite, else
    /// the string `NaN`, `Infinity` or `-Infinity`.
    Float(f64),
}

/// `text` as a line shows it under a value limit: cut after `limit` bytes
/// at a character boundary, with the marker.
fn cut_value(text: &str, limit: usize) -> String {
    if text.len() <= limit {
        return text.to_owned();
    }
    let mut end = limit;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...[truncated {} bytes]", &text[..end], text.len() - end)
}

/// Arbitrary values in an event inside spans: one valid JSON line that
/// gives every value back.
pub fn json_line(data: &[u8]) {
    let line = Line::read(data);
    let pipe = pipe(line.mode);
    let busy = pipe.lock();
    tracing::dispatcher::with_default(&pipe.dispatch, || line.emit());
    let out = pipe.take();
    drop(busy);

    // Exactly one line, and no raw control character anywhere in it.
    let Ok(text) = std::str::from_utf8(&out) else {
        panic!("json_line {line:?}: output is not UTF-8: {out:?}");
    };
    assert!(
        text.ends_with('\n') && text.matches('\n').count() == 1,
        "json_line {line:?}: not exactly one line: {text:?}"
    );
    let body = &text[..text.len() - 1];
    let bad = body
        .chars()
        .find(|&c| c < ' ' || ('\u{7f}'..='\u{9f}').contains(&c));
    assert_eq!(
        bad, None,
        "json_line {line:?}: raw control character in {text:?}"
    );
    if line.mode == Mode::Text {
        return;
    }

    // A strict parser accepts it, and no key appears twice.
    let object = match parse_object(body) {
        Ok(object) => object,
        Err(error) => panic!("json_line {line:?}: {error}: {body}"),
    };
    for (idx, (key, _)) in object.iter().enumerate() {
        let again = object[idx + 1..].iter().any(|(other, _)| other == key);
        assert!(!again, "json_line {line:?}: key {key:?} twice in {body}");
    }
    let keys: Vec<&str> = object.iter().take(6).map(|(key, _)| key.as_str()).collect();
    assert_eq!(
        keys,
        ["time", "level", "file", "line", "target", "message"],
        "json_line {line:?}: {body}"
    );

    // Every value comes back.
    let get = |key: &str| object.iter().find(|(k, _)| k == key).map(|(_, v)| v.get());
    for (key, want) in line.expected() {
        let Some(got) = get(&key) else {
            panic!("json_line {line:?}: key {key:?} missing from {body}");
        };
        check_value(&key, want, got, body);
    }
    for key in line.absent() {
        assert_eq!(get(&key), None, "json_line {line:?}: key {key:?} in {body}");
    }
}

fn check_value(key: &str, want: Want, got: &str, body: &str) {
    match want {
        Want::Str(want) => {
            let got: Result<String, _> = serde_json::from_str(got);
            assert_eq!(got.ok(), Some(want), "key {key:?} in {body}");
        }
        Want::Raw(want) => assert_eq!(got, want, "key {key:?} in {body}"),
        Want::Float(want) if want.is_finite() => {
            let got: Result<f64, _> = serde_json::from_str(got);
            let got = got.ok().map(f64::to_bits);
            assert_eq!(
                got,
                Some(want.to_bits()),
                "key {key:?} = {want:?} in {body}"
            );
        }
        Want::Float(want) => {
            let name = if want.is_nan() {
                "\"NaN\""
            } else if want > 0.0 {
                "\"Infinity\""
            } else {
                "\"-Infinity\""
            };
            assert_eq!(got, name, "key {key:?} in {body}");
        }
    }
}

/// A JSON object's members in order, values as their raw JSON text, so
/// repeated keys and big integers survive parsing.
type Object = Vec<(String, Box<RawValue>)>;

fn parse_object(text: &str) -> Result<Object, serde_json::Error> {
    struct Members;

    impl<'de> Visitor<'de> for Members {
        type Value = Object;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a JSON object")
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Object, A::Error> {
            let mut members = Vec::new();
            while let Some(member) = map.next_entry::<String, Box<RawValue>>()? {
                members.push(member);
            }
            Ok(members)
        }
    }

    let mut deserializer = serde_json::Deserializer::from_str(text);
    let object = (&mut deserializer).deserialize_map(Members)?;
    deserializer.end()?;
    Ok(object)
}
