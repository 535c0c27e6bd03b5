//! Turning events and spans into lines: JSON (SPEC 4) or readable text
//! (SPEC 5).
//!
//! Everything here writes into caller-owned `Vec<u8>` buffers and allocates
//! nothing once they have grown. `visit` writes an event's fields as they
//! are visited; `scope` renders the spans around an event once per change
//! and is then copied per event; `json` and `text` assemble the line.

pub(crate) mod escape;
pub(crate) mod number;
pub(crate) mod scope;
pub(crate) mod time;
pub(crate) mod visit;

use std::fmt;

use tracing_core::Level;

use crate::registry::values::{Kind, Value};

/// How lines look; fixed when the subscriber is built.
pub(crate) struct Style {
    pub(crate) json: bool,
    /// ANSI colours (readable text on a terminal only).
    pub(crate) ansi: bool,
    pub(crate) clock: time::Clock,
    /// Longest value written whole, in bytes; longer ones are cut.
    pub(crate) value_limit: usize,
}

/// Keys that an event or span field may not take: such a field is written
/// as `fields.NAME`.
pub(crate) fn is_reserved(name: &str) -> bool {
    matches!(
        name,
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
    )
}

/// The context keys that a line may carry from its span; a field of that
/// name is renamed only when the line does carry it.
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub(crate) struct CtxKeys {
    pub(crate) x_request_id: bool,
    pub(crate) request_id: bool,
    pub(crate) tracestate: bool,
}

impl CtxKeys {
    pub(crate) fn clashes(&self, name: &str) -> bool {
        match name {
            "x_request_id" => self.x_request_id,
            "request_id" => self.request_id,
            "tracestate" => self.tracestate,
            _ => false,
        }
    }
}

/// The name as written: `r#type` becomes `type`.
pub(crate) fn field_name(name: &str) -> &str {
    name.strip_prefix("r#").unwrap_or(name)
}

/// A bit for `name` in a 64-bit set of names, to rule out clashes between an
/// event's fields and its spans' fields with one AND.
pub(crate) fn name_bit(name: &str) -> u64 {
    let b = name.as_bytes();
    let (first, last) = match b {
        [] => (0, 0),
        [f, .., l] => (*f as u32, *l as u32),
        [f] => (*f as u32, *f as u32),
    };
    1u64 << (((b.len() as u32).wrapping_mul(7) + first + last.wrapping_mul(3)) % 64)
}

/// Appends `,"NAME":` (JSON) or ` NAME=` (text), renaming reserved names.
pub(crate) fn write_key(out: &mut Vec<u8>, json: bool, name: &str, cx: CtxKeys) {
    let name = field_name(name);
    let renamed = is_reserved(name) || cx.clashes(name);
    if json {
        out.extend_from_slice(b",\"");
        if renamed {
            out.extend_from_slice(b"fields.");
        }
        escape::json_str_content(out, name);
        out.extend_from_slice(b"\":");
    } else {
        out.push(b' ');
        if renamed {
            out.extend_from_slice(b"fields.");
        }
        escape::text_bare(out, name);
        out.push(b'=');
    }
}

/// Appends a string value: a JSON string in both formats (readable text
/// quotes strings too).
pub(crate) fn write_str_value(out: &mut Vec<u8>, s: &str, limit: usize) {
    escape::json_str_limited(out, s, limit);
}

/// Appends Debug text: a JSON string, or bare (controls escaped) in text.
pub(crate) fn write_debug_value(
    out: &mut Vec<u8>,
    json: bool,
    value: &dyn fmt::Debug,
    limit: usize,
) {
    if json {
        out.push(b'"');
        let mut w = escape::JsonEscaper::with_limit(out, limit);
        write_guarded(&mut w, value);
        w.finish();
        out.push(b'"');
    } else {
        let mut w = escape::TextEscaper::with_limit(out, limit);
        write_guarded(&mut w, value);
        w.finish();
    }
}

/// Writes `value` with its Debug impl; a Debug impl that panics or fails
/// leaves a marker instead of unwinding through the subscriber.
fn write_guarded(w: &mut dyn fmt::Write, value: &dyn fmt::Debug) {
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| write!(w, "{value:?}")));
    match result {
        Ok(Ok(())) => {}
        Ok(Err(_)) => {
            let _ = w.write_str("<Debug failed>");
        }
        Err(_) => {
            let _ = w.write_str("<Debug panicked>");
        }
    }
}

/// Appends a stored span value.
pub(crate) fn write_stored(out: &mut Vec<u8>, json: bool, v: &Value<'_>) {
    let b = v.bytes;
    match v.kind {
        Kind::Str => escape::json_str(out, v.text()),
        Kind::Debug => {
            if json {
                escape::json_str(out, v.text());
            } else {
                escape::text_bare(out, v.text());
            }
        }
        Kind::I64 => number::write_i64(out, i64::from_le_bytes(arr8(b))),
        Kind::U64 => number::write_u64(out, u64::from_le_bytes(arr8(b))),
        Kind::I128 => number::write_i128(out, i128::from_le_bytes(arr16(b))),
        Kind::U128 => number::write_u128(out, u128::from_le_bytes(arr16(b))),
        Kind::F64 => {
            let f = f64::from_bits(u64::from_le_bytes(arr8(b)));
            if json {
                number::write_f64(out, f);
            } else {
                number::write_f64_text(out, f);
            }
        }
        Kind::Bool => number::write_bool(out, b.first() == Some(&1)),
    }
}

/// The text a filter matches a stored value against (SPEC 3): the value as
/// written in JSON, without quotes, and unescaped.
pub(crate) fn stored_text(out: &mut Vec<u8>, v: &Value<'_>) -> bool {
    match v.kind {
        Kind::Str | Kind::Debug => {
            out.extend_from_slice(v.bytes);
            true
        }
        Kind::F64 => {
            let f = f64::from_bits(u64::from_le_bytes(arr8(v.bytes)));
            number::write_f64_text(out, f);
            false
        }
        _ => {
            write_stored(out, true, v);
            false
        }
    }
}

pub(crate) fn arr8(b: &[u8]) -> [u8; 8] {
    let mut a = [0; 8];
    let n = b.len().min(8);
    a[..n].copy_from_slice(&b[..n]);
    a
}

pub(crate) fn arr16(b: &[u8]) -> [u8; 16] {
    let mut a = [0; 16];
    let n = b.len().min(16);
    a[..n].copy_from_slice(&b[..n]);
    a
}

/// `"LEVEL"` for JSON.
pub(crate) fn level_json(level: &Level) -> &'static [u8] {
    match *level {
        Level::ERROR => b"ERROR",
        Level::WARN => b"WARN",
        Level::INFO => b"INFO",
        Level::DEBUG => b"DEBUG",
        _ => b"TRACE",
    }
}

/// The level right-aligned in five columns, optionally coloured.
pub(crate) fn level_text(level: &Level, ansi: bool) -> &'static [u8] {
    match (*level, ansi) {
        (Level::ERROR, false) => b"ERROR",
        (Level::WARN, false) => b" WARN",
        (Level::INFO, false) => b" INFO",
        (Level::DEBUG, false) => b"DEBUG",
        (_, false) => b"TRACE",
        (Level::ERROR, true) => b"\x1b[31mERROR\x1b[0m",
        (Level::WARN, true) => b"\x1b[33m WARN\x1b[0m",
        (Level::INFO, true) => b"\x1b[32m INFO\x1b[0m",
        (Level::DEBUG, true) => b"\x1b[34mDEBUG\x1b[0m",
        (_, true) => b"\x1b[35mTRACE\x1b[0m",
    }
}

pub(crate) const DIM: &[u8] = b"\x1b[2m";
pub(crate) const BOLD: &[u8] = b"\x1b[1m";
pub(crate) const RESET: &[u8] = b"\x1b[0m";

/// The parts of a line before the fields, for events and span lines alike.
pub(crate) struct Header<'a> {
    pub(crate) level: &'a Level,
    pub(crate) file: Option<&'a str>,
    pub(crate) line: Option<u32>,
    pub(crate) target: &'a str,
}

/// Writes `{"time":...,"target":...,"message":` (JSON) or
/// `TIME LEVEL spans: target:` (text, spans from `scope`).
pub(crate) fn write_header(
    out: &mut Vec<u8>,
    style: &Style,
    cache: &mut time::TimeCache,
    h: &Header<'_>,
    span_names: &[u8],
) {
    let now = std::time::SystemTime::now();
    if style.json {
        write_json_time(out, style, cache, now);
        write_json_header_rest(out, h);
    } else {
        if style.ansi {
            out.extend_from_slice(DIM);
        }
        style.clock.write(cache, now, out);
        if style.ansi {
            out.extend_from_slice(RESET);
        }
        out.push(b' ');
        out.extend_from_slice(level_text(h.level, style.ansi));
        out.push(b' ');
        out.extend_from_slice(span_names);
        if style.ansi {
            out.extend_from_slice(DIM);
        }
        escape::text_bare(out, h.target);
        out.push(b':');
        if style.ansi {
            out.extend_from_slice(RESET);
        }
    }
}

/// Writes `{"time":"TIME` of a JSON line.
pub(crate) fn write_json_time(
    out: &mut Vec<u8>,
    style: &Style,
    cache: &mut time::TimeCache,
    now: std::time::SystemTime,
) {
    out.extend_from_slice(b"{\"time\":\"");
    style.clock.write(cache, now, out);
}

/// Writes the rest of a JSON header after the time, up to and including
/// `,"message":`. It depends only on the callsite, so the event path keeps
/// it per callsite instead of escaping the file and target every time.
pub(crate) fn write_json_header_rest(out: &mut Vec<u8>, h: &Header<'_>) {
    out.extend_from_slice(b"\",\"level\":\"");
    out.extend_from_slice(level_json(h.level));
    out.push(b'"');
    if let Some(file) = h.file {
        out.extend_from_slice(b",\"file\":");
        escape::json_str(out, file);
    }
    if let Some(line) = h.line {
        out.extend_from_slice(b",\"line\":");
        number::write_u64(out, line as u64);
    }
    out.extend_from_slice(b",\"target\":");
    escape::json_str(out, h.target);
    out.extend_from_slice(b",\"message\":");
}

/// Writes one of dynlog's own notices (target `dynlog`, level `WARN`, no
/// file or line) as a complete line.
pub(crate) fn write_notice(
    out: &mut Vec<u8>,
    style: &Style,
    message: &str,
    fields: &[(&str, u64)],
) {
    let mut cache = time::TimeCache::default();
    let h = Header {
        level: &Level::WARN,
        file: None,
        line: None,
        target: "dynlog",
    };
    write_header(out, style, &mut cache, &h, b"");
    if style.json {
        escape::json_str(out, message);
    } else {
        out.push(b' ');
        escape::text_bare(out, message);
    }
    for (name, value) in fields {
        write_key(out, style.json, name, CtxKeys::default());
        number::write_u64(out, *value);
    }
    if style.json {
        out.push(b'}');
    }
    out.push(b'\n');
}
