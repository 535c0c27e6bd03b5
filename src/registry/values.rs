//! A span's field values, kept raw in one reusable byte buffer.
//!
//! Each entry is `[key: u16][kind: u8][len: u32][bytes]`, little-endian.
//! `key` is the field's index in its callsite's field set (declaration
//! order) or one of the context keys below. Replacing a value removes the
//! old entry and appends the new one; clearing keeps the buffer's capacity,
//! and zero allocation after warm-up depends on that.

/// The kind of a stored value, which decides how it is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Kind {
    /// UTF-8 text from `record_str`: a JSON string.
    Str = 0,
    /// Debug or Display text: a JSON string, bare in readable text.
    Debug = 1,
    /// 8 bytes little-endian.
    I64 = 2,
    /// 8 bytes little-endian.
    U64 = 3,
    /// 16 bytes little-endian.
    I128 = 4,
    /// 16 bytes little-endian.
    U128 = 5,
    /// 8 bytes little-endian (`f64::to_bits`).
    F64 = 6,
    /// 1 byte, 0 or 1.
    Bool = 7,
}

impl Kind {
    fn from_u8(b: u8) -> Kind {
        match b {
            0 => Kind::Str,
            1 => Kind::Debug,
            2 => Kind::I64,
            3 => Kind::U64,
            4 => Kind::I128,
            5 => Kind::U128,
            6 => Kind::F64,
            _ => Kind::Bool,
        }
    }
}

/// Context values stored beside the fields.
pub(crate) const KEY_TRACESTATE: u16 = 0xFFF0;
pub(crate) const KEY_X_REQUEST_ID: u16 = 0xFFF1;
pub(crate) const KEY_REQUEST_ID: u16 = 0xFFF2;

const HEADER: usize = 7;

/// One stored value, borrowed.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Value<'a> {
    pub(crate) key: u16,
    pub(crate) kind: Kind,
    pub(crate) bytes: &'a [u8],
}

impl Value<'_> {
    /// The text of a `Str` or `Debug` value.
    pub(crate) fn text(&self) -> &str {
        // Str and Debug values are stored from `&str`, so they are UTF-8;
        // anything else yields "".
        std::str::from_utf8(self.bytes).unwrap_or("")
    }
}

/// The raw values of one span.
#[derive(Default)]
pub(crate) struct Values {
    buf: Vec<u8>,
}

impl Values {
    pub(crate) fn clear(&mut self) {
        self.buf.clear();
    }

    /// Stores `bytes` under `key`, replacing an earlier value.
    pub(crate) fn set(&mut self, key: u16, kind: Kind, bytes: &[u8]) {
        self.remove(key);
        // Exactly what is needed: a span's values are usually set once, and
        // doubling would leave up to half the buffer unused per live span.
        self.buf.reserve_exact(HEADER + bytes.len());
        self.buf.extend_from_slice(&key.to_le_bytes());
        self.buf.push(kind as u8);
        self.buf
            .extend_from_slice(&(bytes.len() as u32).to_le_bytes());
        self.buf.extend_from_slice(bytes);
    }

    /// Starts a value whose bytes the caller appends with `push_bytes`
    /// and finishes with `finish`; used to render Debug text in place.
    pub(crate) fn begin(&mut self, key: u16, kind: Kind) -> usize {
        self.remove(key);
        let start = self.buf.len();
        self.buf.extend_from_slice(&key.to_le_bytes());
        self.buf.push(kind as u8);
        self.buf.extend_from_slice(&0u32.to_le_bytes());
        start
    }

    /// The buffer an in-place value is being written to.
    pub(crate) fn raw(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }

    /// Ends the value started at `start`.
    pub(crate) fn finish(&mut self, start: usize) {
        let len = (self.buf.len() - start - HEADER) as u32;
        self.buf[start + 3..start + 7].copy_from_slice(&len.to_le_bytes());
    }

    pub(crate) fn remove(&mut self, key: u16) {
        let mut pos = 0;
        while pos < self.buf.len() {
            let (k, len) = self.entry_at(pos);
            let end = pos + HEADER + len;
            if k == key {
                self.buf.copy_within(end.., pos);
                self.buf.truncate(self.buf.len() - (end - pos));
                return;
            }
            pos = end;
        }
    }

    pub(crate) fn get(&self, key: u16) -> Option<Value<'_>> {
        self.iter().find(|v| v.key == key)
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = Value<'_>> {
        let mut pos = 0;
        std::iter::from_fn(move || {
            if pos >= self.buf.len() {
                return None;
            }
            let (key, len) = self.entry_at(pos);
            let kind = Kind::from_u8(self.buf[pos + 2]);
            let bytes = &self.buf[pos + HEADER..pos + HEADER + len];
            pos += HEADER + len;
            Some(Value { key, kind, bytes })
        })
    }

    fn entry_at(&self, pos: usize) -> (u16, usize) {
        let key = u16::from_le_bytes([self.buf[pos], self.buf[pos + 1]]);
        let len = u32::from_le_bytes([
            self.buf[pos + 3],
            self.buf[pos + 4],
            self.buf[pos + 5],
            self.buf[pos + 6],
        ]) as usize;
        (key, len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_replaces_and_keeps_other_values() {
        let mut v = Values::default();
        v.set(0, Kind::Str, b"a");
        v.set(1, Kind::U64, &7u64.to_le_bytes());
        v.set(0, Kind::Str, b"bcd");
        let all: Vec<_> = v
            .iter()
            .map(|e| (e.key, e.kind, e.bytes.to_vec()))
            .collect();
        assert_eq!(
            all,
            vec![
                (1, Kind::U64, 7u64.to_le_bytes().to_vec()),
                (0, Kind::Str, b"bcd".to_vec())
            ]
        );
        v.remove(1);
        assert_eq!(v.get(1).map(|e| e.key), None);
        assert_eq!(v.get(0).unwrap().text(), "bcd");
    }

    #[test]
    fn values_written_in_place_get_their_length() {
        let mut v = Values::default();
        let start = v.begin(3, Kind::Debug);
        v.raw().extend_from_slice(b"Some(1)");
        v.finish(start);
        assert_eq!(v.get(3).unwrap().text(), "Some(1)");
    }
}
