//! Writing an event's fields as they are visited.
//!
//! The message goes to its own buffer (it is written before the other
//! fields, wherever the callsite declared it); every other field is appended
//! to `fields` as `,"name":value` or ` name=value`, and its name is
//! remembered so that span fields of the same name can be left out.

use std::fmt;

use tracing_core::field::{Field, Visit};

use super::{escape, name_bit, number, write_debug_value, write_key, write_str_value, CtxKeys};

pub(crate) struct EventVisitor<'a> {
    pub(crate) json: bool,
    pub(crate) limit: usize,
    pub(crate) cx: CtxKeys,
    pub(crate) message: &'a mut Vec<u8>,
    pub(crate) fields: &'a mut Vec<u8>,
    pub(crate) names: &'a mut Vec<&'static str>,
    pub(crate) names_mask: u64,
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
        self.names.push(super::field_name(name));
        self.names_mask |= name_bit(super::field_name(name));
        write_key(self.fields, self.json, name, self.cx);
    }
}

impl Visit for EventVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.clear();
            if self.json {
                escape::json_str_limited(self.message, value, self.limit);
            } else {
                escape::text_bare_limited(self.message, value, self.limit);
            }
            return;
        }
        self.key(field);
        write_str_value(self.fields, value, self.limit);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            self.message.clear();
            write_debug_value(self.message, self.json, value, self.limit);
            return;
        }
        self.key(field);
        write_debug_value(self.fields, self.json, value, self.limit);
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.record_debug(field, &DisplayAsDebug(value));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        if self.other_message(field, |out| number::write_i64(out, value)) {
            return;
        }
        self.key(field);
        number::write_i64(self.fields, value);
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        if self.other_message(field, |out| number::write_u64(out, value)) {
            return;
        }
        self.key(field);
        number::write_u64(self.fields, value);
    }

    fn record_i128(&mut self, field: &Field, value: i128) {
        if self.other_message(field, |out| number::write_i128(out, value)) {
            return;
        }
        self.key(field);
        number::write_i128(self.fields, value);
    }

    fn record_u128(&mut self, field: &Field, value: u128) {
        if self.other_message(field, |out| number::write_u128(out, value)) {
            return;
        }
        self.key(field);
        number::write_u128(self.fields, value);
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        if self.other_message(field, |out| number::write_f64_text(out, value)) {
            return;
        }
        self.key(field);
        if self.json {
            number::write_f64(self.fields, value);
        } else {
            number::write_f64_text(self.fields, value);
        }
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        if self.other_message(field, |out| number::write_bool(out, value)) {
            return;
        }
        self.key(field);
        number::write_bool(self.fields, value);
    }
}

/// Shows a value's Display text through Debug.
pub(crate) struct DisplayAsDebug<'a, T: ?Sized>(pub(crate) &'a T);

impl<T: fmt::Display + ?Sized> fmt::Debug for DisplayAsDebug<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.0, f)
    }
}
