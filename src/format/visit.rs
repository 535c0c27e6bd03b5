//! Writing an event's fields as they are visited.
//!
//! The visitor appends to the line itself, right after its header: the
//! message first (`tracing` visits it first), then every other field as
//! `,"name":value` or ` name=value`, remembering each name so that span
//! fields of the same name can be left out. A message visited after a field,
//! or no message at all, is put in place by `finish`, which moves the fields
//! up; the common case copies nothing twice.

use std::fmt;

use tracing_core::field::{Field, FieldSet, Visit};

use super::{escape, name_bit, number, write_debug_value, write_key, write_str_value, CtxKeys};

pub(crate) struct EventVisitor<'a> {
    pub(crate) json: bool,
    pub(crate) limit: usize,
    pub(crate) cx: CtxKeys,
    /// The line, which ends with its header when visiting starts.
    pub(crate) out: &'a mut Vec<u8>,
    /// Where the message belongs in `out`: the end of the header.
    pub(crate) message_at: usize,
    /// A message visited after some field waits here for `finish`.
    pub(crate) message: &'a mut Vec<u8>,
    /// The message is already in `out` at `message_at`.
    pub(crate) message_in_place: bool,
    pub(crate) names: &'a mut Vec<&'static str>,
    pub(crate) names_mask: u64,
    /// The callsite's keys, rendered once, when the caller has them.
    pub(crate) keys: Option<&'a FieldKeys>,
}

/// The keys of one callsite's fields (`,"name":` or ` name=`, reserved
/// names already renamed) and their bits for `names_mask`, rendered once
/// and copied per event.
#[derive(Default)]
pub(crate) struct FieldKeys {
    bytes: Vec<u8>,
    /// Where each field's key ends in `bytes`, by field index.
    ends: Vec<usize>,
    bits: Vec<u64>,
}

impl FieldKeys {
    /// Renders the keys of `fields`, reusing this value's buffers.
    pub(crate) fn render(&mut self, json: bool, fields: &FieldSet) {
        self.bytes.clear();
        self.ends.clear();
        self.bits.clear();
        for field in fields {
            write_key(&mut self.bytes, json, field.name(), CtxKeys::default());
            self.ends.push(self.bytes.len());
            self.bits.push(name_bit(super::field_name(field.name())));
        }
    }
}

impl EventVisitor<'_> {
    /// A number or boolean recorded as `message` (`info!(message = 42)`) is
    /// the message, written as text; returns false for other fields.
    fn other_message(&mut self, field: &Field, write: impl FnOnce(&mut Vec<u8>)) -> bool {
        if field.name() != "message" {
            return false;
        }
        self.message.clear();
        if self.json {
            self.message.push(b'"');
            write(self.message);
            self.message.push(b'"');
        } else {
            write(self.message);
        }
        true
    }

    fn key(&mut self, field: &Field) {
        let name = field.name();
        if let Some(keys) = self.keys {
            let idx = field.index();
            // A name that clashes with the line's context keys is renamed
            // only on such lines: the rendered key does not apply then.
            if idx < keys.ends.len() && !self.cx.clashes(super::field_name(name)) {
                let start = if idx == 0 { 0 } else { keys.ends[idx - 1] };
                self.out
                    .extend_from_slice(&keys.bytes[start..keys.ends[idx]]);
                self.names.push(super::field_name(name));
                self.names_mask |= keys.bits[idx];
                return;
            }
        }
        self.names.push(super::field_name(name));
        self.names_mask |= name_bit(super::field_name(name));
        write_key(self.out, self.json, name, self.cx);
    }

    /// Writes the message with `write` (which escapes it): straight into
    /// the line when nothing follows the header yet, else aside.
    pub(crate) fn write_message(&mut self, write: impl FnOnce(&mut Vec<u8>)) {
        if self.message_in_place {
            // A second message field cannot come from `tracing`; keep the
            // first.
            return;
        }
        if self.out.len() != self.message_at {
            self.message.clear();
            write(self.message);
            return;
        }
        if self.json {
            write(self.out);
        } else {
            self.out.push(b' ');
            write(self.out);
            if self.out.len() == self.message_at + 1 {
                self.out.pop();
            }
        }
        self.message_in_place = true;
    }

    /// Puts a message that was written aside (or `""` when there was none,
    /// in JSON) in its place before the fields.
    pub(crate) fn finish(self) {
        if self.message_in_place {
            return;
        }
        let moved = self.out.len() - self.message_at;
        if self.json {
            if self.message.is_empty() {
                self.out.extend_from_slice(b"\"\"");
            } else {
                self.out.extend_from_slice(self.message);
            }
        } else if !self.message.is_empty() {
            self.out.push(b' ');
            self.out.extend_from_slice(self.message);
        }
        let added = self.out.len() - self.message_at - moved;
        self.out[self.message_at..].rotate_right(added);
    }
}

impl Visit for EventVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            let (json, limit) = (self.json, self.limit);
            self.write_message(|out| {
                if json {
                    escape::json_str_limited(out, value, limit);
                } else {
                    escape::text_bare_limited(out, value, limit);
                }
            });
            return;
        }
        self.key(field);
        write_str_value(self.out, value, self.limit);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            let (json, limit) = (self.json, self.limit);
            self.write_message(|out| write_debug_value(out, json, value, limit));
            return;
        }
        self.key(field);
        write_debug_value(self.out, self.json, value, self.limit);
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.record_debug(field, &DisplayAsDebug(value));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        if self.other_message(field, |out| number::write_i64(out, value)) {
            return;
        }
        self.key(field);
        number::write_i64(self.out, value);
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        if self.other_message(field, |out| number::write_u64(out, value)) {
            return;
        }
        self.key(field);
        number::write_u64(self.out, value);
    }

    fn record_i128(&mut self, field: &Field, value: i128) {
        if self.other_message(field, |out| number::write_i128(out, value)) {
            return;
        }
        self.key(field);
        number::write_i128(self.out, value);
    }

    fn record_u128(&mut self, field: &Field, value: u128) {
        if self.other_message(field, |out| number::write_u128(out, value)) {
            return;
        }
        self.key(field);
        number::write_u128(self.out, value);
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        if self.other_message(field, |out| number::write_f64_text(out, value)) {
            return;
        }
        self.key(field);
        if self.json {
            number::write_f64(self.out, value);
        } else {
            number::write_f64_text(self.out, value);
        }
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        if self.other_message(field, |out| number::write_bool(out, value)) {
            return;
        }
        self.key(field);
        number::write_bool(self.out, value);
    }
}

/// Shows a value's Display text through Debug.
pub(crate) struct DisplayAsDebug<'a, T: ?Sized>(pub(crate) &'a T);

impl<T: fmt::Display + ?Sized> fmt::Debug for DisplayAsDebug<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.0, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs a visitor over `line` (the header) with `visit`, then `finish`.
    fn visit(json: bool, header: &str, visit: impl FnOnce(&mut EventVisitor<'_>)) -> String {
        let mut out = header.as_bytes().to_vec();
        let mut message = Vec::new();
        let mut names = Vec::new();
        let mut v = EventVisitor {
            json,
            limit: 1 << 20,
            cx: CtxKeys::default(),
            message_at: out.len(),
            out: &mut out,
            message: &mut message,
            message_in_place: false,
            names: &mut names,
            names_mask: 0,
            keys: None,
        };
        visit(&mut v);
        v.finish();
        String::from_utf8(out).unwrap()
    }

    fn message(v: &mut EventVisitor<'_>, text: &str) {
        let json = v.json;
        v.write_message(|out| {
            if json {
                escape::json_str(out, text)
            } else {
                escape::text_bare(out, text)
            }
        });
    }

    fn field(v: &mut EventVisitor<'_>, text: &str) {
        v.out.extend_from_slice(text.as_bytes());
    }

    #[test]
    fn the_message_lands_before_the_fields_whenever_it_is_visited() {
        let cases: [(bool, &[&str], &str); 8] = [
            (true, &["m:hi", "f:,\"a\":1"], r#"H:"hi","a":1"#),
            (true, &["f:,\"a\":1", "m:hi"], r#"H:"hi","a":1"#),
            (true, &["f:,\"a\":1"], r#"H:"","a":1"#),
            (true, &[], r#"H:"""#),
            (false, &["m:hi", "f: a=1"], "H: hi a=1"),
            (false, &["f: a=1", "m:hi"], "H: hi a=1"),
            (false, &["m:", "f: a=1"], "H: a=1"),
            (false, &["f: a=1"], "H: a=1"),
        ];
        for (json, steps, want) in cases {
            let got = visit(json, "H:", |v| {
                for step in steps {
                    match step.split_at(2) {
                        ("m:", text) => message(v, text),
                        (_, text) => field(v, text),
                    }
                }
            });
            assert_eq!(got, want, "json={json} steps={steps:?}");
        }
    }
}
