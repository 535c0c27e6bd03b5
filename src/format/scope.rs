//! The span part of a line, rendered once per scope and copied per event.
//!
//! A `Scope` holds, for one innermost span: the context keys (JSON:
//! `span_name`, `span_id`, `trace_id`, `parent_id`, `x_request_id`,
//! `request_id`, `tracestate`; text: the request ids), the span names from
//! the root (text), and the fields of every span in scope, innermost first,
//! each name once. Rebuilding keeps every buffer's capacity.

use tracing_core::Metadata;

use super::{escape, name_bit, write_key, write_stored, CtxKeys, BOLD, RESET};
use crate::registry::values::{Values, KEY_REQUEST_ID, KEY_TRACESTATE, KEY_X_REQUEST_ID};
use crate::registry::SpanContext;

#[derive(Default)]
pub(crate) struct Scope {
    /// The innermost span's raw id; 0 when the scope is empty.
    pub(crate) leaf: u64,

    /// (slot index, generation, version) of each span, innermost first: the
    /// scope is current while all three still match.
    pub(crate) chain: Vec<(u32, u32, u32)>,
    pub(crate) ctx: Vec<u8>,
    pub(crate) names: Vec<u8>,
    pub(crate) fields: Vec<u8>,

    /// Each written span field: name and byte range in `fields`.
    pub(crate) segments: Vec<(&'static str, u32, u32)>,
    pub(crate) mask: u64,
    pub(crate) cx: CtxKeys,

    /// OR of the spans' filter bits.
    pub(crate) bits: u64,
    span_names: Vec<&'static str>,
}

impl Scope {
    pub(crate) fn clear(&mut self) {
        self.leaf = 0;
        self.chain.clear();
        self.ctx.clear();
        self.names.clear();
        self.fields.clear();
        self.segments.clear();
        self.mask = 0;
        self.cx = CtxKeys::default();
        self.bits = 0;
        self.span_names.clear();
    }

    /// Writes the context keys of the innermost span.
    pub(crate) fn set_leaf(&mut self, json: bool, name: &str, cx: &SpanContext, values: &Values) {
        let xreq = values.get(KEY_X_REQUEST_ID);
        let req = values.get(KEY_REQUEST_ID);
        let ts = values.get(KEY_TRACESTATE);
        self.cx = CtxKeys {
            x_request_id: xreq.is_some(),
            request_id: req.is_some(),
            tracestate: json && ts.is_some(),
        };
        let out = &mut self.ctx;
        if json {
            out.extend_from_slice(b",\"span_name\":");
            escape::json_str(out, name);
            out.extend_from_slice(b",\"span_id\":\"");
            write_hex(out, cx.span_id as u128, 16);
            out.extend_from_slice(b"\",\"trace_id\":\"");
            write_hex(out, cx.trace_id, 32);
            out.push(b'"');
            if cx.parent_id != 0 {
                out.extend_from_slice(b",\"parent_id\":\"");
                write_hex(out, cx.parent_id as u128, 16);
                out.push(b'"');
            }
        }
        for (key, v) in [("x_request_id", xreq), ("request_id", req)] {
            if let Some(v) = v {
                write_key(out, json, key, CtxKeys::default());
                escape::json_str(out, v.text());
            }
        }
        if json {
            if let Some(v) = ts {
                out.extend_from_slice(b",\"tracestate\":");
                escape::json_str(out, v.text());
            }
        }
    }

    /// Appends one span's fields (call innermost first), skipping names an
    /// inner span already wrote.
    pub(crate) fn add_span(
        &mut self,
        json: bool,
        meta: &'static Metadata<'static>,
        values: &Values,
    ) {
        self.span_names.push(meta.name());
        let fields = meta.fields();

        // Declaration order: walk the declared fields and find each value.
        for (idx, field) in fields.iter().enumerate() {
            let Some(v) = values.get(idx as u16) else {
                continue;
            };
            let name = super::field_name(field.name());
            if self.segments.iter().any(|(n, _, _)| *n == name) {
                continue;
            }
            let start = self.fields.len() as u32;
            write_key(&mut self.fields, json, field.name(), self.cx);
            write_stored(&mut self.fields, json, &v);
            self.segments.push((name, start, self.fields.len() as u32));
            self.mask |= name_bit(name);
        }
    }

    /// Writes the span names from the root, for readable text.
    pub(crate) fn finish_names(&mut self, ansi: bool) {
        for name in self.span_names.iter().rev() {
            if ansi {
                self.names.extend_from_slice(BOLD);
            }
            escape::text_bare(&mut self.names, name);
            if ansi {
                self.names.extend_from_slice(RESET);
            }
            self.names.push(b':');
        }
        if !self.span_names.is_empty() {
            self.names.push(b' ');
        }
    }

    /// Appends the span fields, leaving out names in `taken` (the event's
    /// own fields, which win).
    pub(crate) fn write_fields(&self, out: &mut Vec<u8>, taken: &[&'static str], taken_mask: u64) {
        if self.mask & taken_mask == 0 {
            out.extend_from_slice(&self.fields);
            return;
        }
        for (name, start, end) in &self.segments {
            if !taken.contains(name) {
                out.extend_from_slice(&self.fields[*start as usize..*end as usize]);
            }
        }
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Appends the low `digits` (at most 32) hex digits of `v`, lowercase,
/// zero-padded. The digits are built on the stack and copied once, not
/// pushed one by one (a scope rebuild writes 64 of them).
pub(crate) fn write_hex(out: &mut Vec<u8>, v: u128, digits: u32) {
    let digits = digits.min(32) as usize;
    let mut text = [0u8; 32];
    let mut rest = v;
    for d in text[..digits].iter_mut().rev() {
        *d = HEX[(rest & 0xF) as usize];
        rest >>= 4;
    }
    out.extend_from_slice(&text[..digits]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_is_lowercase_and_zero_padded() {
        let cases: [(u128, u32, &str); 4] = [
            (0xAB, 16, "00000000000000ab"),
            (u64::MAX as u128, 16, "ffffffffffffffff"),
            (u128::MAX, 32, "ffffffffffffffffffffffffffffffff"),
            (
                0x0123_4567_89ab_cdef_0011_2233_4455_6677,
                32,
                "0123456789abcdef0011223344556677",
            ),
        ];
        for (value, digits, want) in cases {
            let mut out = b"x".to_vec();
            write_hex(&mut out, value, digits);
            assert_eq!(String::from_utf8(out).unwrap(), format!("x{want}"));
        }
    }
}
