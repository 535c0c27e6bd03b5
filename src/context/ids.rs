//! Trace ids and span ids: the 16-byte and 8-byte identifiers of W3C Trace
//! Context, their lowercase hex form, and the functions that make new ones.
//!
//! An id is never zero (the types hold `NonZero` integers), parsing never
//! panics, and writing hex or drawing a new id never allocates.

use core::fmt;
use core::num::{NonZeroU128, NonZeroU64};

use super::rng;

/// The sixteen lowercase hex digits, indexed by value.
const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

/// A W3C trace id: 16 bytes, never all zero.
///
/// It prints as 32 lowercase hex digits, in `Display` and `Debug` alike.
///
/// # Examples
///
/// ```
/// use dynlog::context::TraceId;
///
/// let id = TraceId::from_hex("4BF92F3577B34DA6A3CE929D0E0E4736").unwrap();
/// assert_eq!(id.to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
/// assert_eq!(TraceId::from_hex(&"0".repeat(32)), None);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TraceId(NonZeroU128);

/// A W3C span id (called parent id in a `traceparent` header): 8 bytes,
/// never all zero.
///
/// It prints as 16 lowercase hex digits, in `Display` and `Debug` alike.
///
/// # Examples
///
/// ```
/// use dynlog::context::SpanId;
///
/// let id = SpanId::from_hex("00f067aa0ba902b7").unwrap();
/// assert_eq!(id.to_u64(), 0x00f0_67aa_0ba9_02b7);
/// assert_eq!(id.to_string(), "00f067aa0ba902b7");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SpanId(NonZeroU64);

impl TraceId {
    /// Parses exactly 32 hex digits, either case.
    ///
    /// Returns `None` for any other length, any other character (no sign,
    /// no `0x`, no spaces) and for the all-zero id. This is the check for
    /// ids set as span fields; a `traceparent` header is stricter (see
    /// [`TraceParent::parse`](crate::propagation::TraceParent::parse)).
    ///
    /// # Examples
    ///
    /// ```
    /// use dynlog::context::TraceId;
    ///
    /// assert!(TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").is_some());
    /// assert!(TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e473").is_none());
    /// ```
    pub fn from_hex(text: &str) -> Option<TraceId> {
        if text.len() != 32 {
            return None;
        }
        TraceId::from_u128(parse_hex(text.as_bytes())?)
    }

    /// Wraps a number; `None` for zero.
    pub const fn from_u128(value: u128) -> Option<TraceId> {
        match NonZeroU128::new(value) {
            Some(value) => Some(TraceId(value)),
            None => None,
        }
    }

    /// Reads the id from its 16 big-endian bytes; `None` if all are zero.
    pub const fn from_bytes(bytes: [u8; 16]) -> Option<TraceId> {
        TraceId::from_u128(u128::from_be_bytes(bytes))
    }

    /// The id as a number.
    pub const fn to_u128(self) -> u128 {
        self.0.get()
    }

    /// The id as 16 big-endian bytes, the order OTLP and the hex form use.
    pub const fn to_bytes(self) -> [u8; 16] {
        self.0.get().to_be_bytes()
    }

    /// Writes the 32 lowercase hex digits into `out`, without allocating.
    ///
    /// # Examples
    ///
    /// ```
    /// use dynlog::context::TraceId;
    ///
    /// let id = TraceId::from_u128(0xab).unwrap();
    /// let mut out = [0u8; 32];
    /// id.write_hex(&mut out);
    /// assert_eq!(&out, b"000000000000000000000000000000ab");
    /// ```
    pub fn write_hex(&self, out: &mut [u8; 32]) {
        write_hex_bytes(&self.to_bytes(), out);
    }
}

impl SpanId {
    /// Parses exactly 16 hex digits, either case.
    ///
    /// Returns `None` for any other length, any other character and for
    /// the all-zero id, like [`TraceId::from_hex`].
    ///
    /// # Examples
    ///
    /// ```
    /// use dynlog::context::SpanId;
    ///
    /// assert!(SpanId::from_hex("00F067AA0BA902B7").is_some());
    /// assert!(SpanId::from_hex("0000000000000000").is_none());
    /// ```
    pub fn from_hex(text: &str) -> Option<SpanId> {
        if text.len() != 16 {
            return None;
        }

        // Sixteen digits always fit in 64 bits, so the cast loses nothing.
        SpanId::from_u64(parse_hex(text.as_bytes())? as u64)
    }

    /// Wraps a number; `None` for zero.
    pub const fn from_u64(value: u64) -> Option<SpanId> {
        match NonZeroU64::new(value) {
            Some(value) => Some(SpanId(value)),
            None => None,
        }
    }

    /// Reads the id from its 8 big-endian bytes; `None` if all are zero.
    pub const fn from_bytes(bytes: [u8; 8]) -> Option<SpanId> {
        SpanId::from_u64(u64::from_be_bytes(bytes))
    }

    /// The id as a number.
    pub const fn to_u64(self) -> u64 {
        self.0.get()
    }

    /// The id as 8 big-endian bytes, the order OTLP and the hex form use.
    pub const fn to_bytes(self) -> [u8; 8] {
        self.0.get().to_be_bytes()
    }

    /// Writes the 16 lowercase hex digits into `out`, without allocating.
    ///
    /// # Examples
    ///
    /// ```
    /// use dynlog::context::SpanId;
    ///
    /// let id = SpanId::from_u64(0xab).unwrap();
    /// let mut out = [0u8; 16];
    /// id.write_hex(&mut out);
    /// assert_eq!(&out, b"00000000000000ab");
    /// ```
    pub fn write_hex(&self, out: &mut [u8; 16]) {
        write_hex_bytes(&self.to_bytes(), out);
    }
}

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = [0u8; 32];
        self.write_hex(&mut out);
        f.pad(ascii_str(&out))
    }
}

impl fmt::Debug for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceId({self})")
    }
}

impl fmt::Display for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = [0u8; 16];
        self.write_hex(&mut out);
        f.pad(ascii_str(&out))
    }
}

impl fmt::Debug for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SpanId({self})")
    }
}

/// A fresh random trace id for a root span.
///
/// Uses the calling thread's generator: no lock, no allocation, never zero.
pub(crate) fn random_trace_id() -> TraceId {
    loop {
        let [high, low] = rng::next_u64s::<2>();
        if let Some(id) = TraceId::from_u128((u128::from(high) << 64) | u128::from(low)) {
            return id;
        }
    }
}

/// A fresh random span id.
///
/// Uses the calling thread's generator: no lock, no allocation, never zero.
pub(crate) fn random_span_id() -> SpanId {
    loop {
        let [value] = rng::next_u64s::<1>();
        if let Some(id) = SpanId::from_u64(value) {
            return id;
        }
    }
}

/// Whether every byte is a lowercase hex digit (`0-9`, `a-f`).
pub(crate) fn is_lower_hex(bytes: &[u8]) -> bool {
    bytes
        .iter()
        .all(|byte| matches!(byte, b'0'..=b'9' | b'a'..=b'f'))
}

/// The value of up to 32 hex digits of either case; `None` on any other
/// byte. The caller checks the length.
fn parse_hex(bytes: &[u8]) -> Option<u128> {
    let mut value = 0u128;
    for &byte in bytes {
        let digit = match byte {
            b'0'..=b'9' => byte - b'0',
            b'a'..=b'f' => byte - b'a' + 10,
            b'A'..=b'F' => byte - b'A' + 10,
            _ => return None,
        };
        value = (value << 4) | u128::from(digit);
    }
    Some(value)
}

/// Writes two lowercase hex digits per byte of `bytes` into `out`, which is
/// twice as long.
pub(crate) fn write_hex_bytes(bytes: &[u8], out: &mut [u8]) {
    for (pair, &byte) in out.chunks_exact_mut(2).zip(bytes) {
        pair[0] = HEX_DIGITS[usize::from(byte >> 4)];
        pair[1] = HEX_DIGITS[usize::from(byte & 0x0f)];
    }
}

/// Views hex digits as text. They are ASCII, so the fallback never shows.
pub(crate) fn ascii_str(bytes: &[u8]) -> &str {
    core::str::from_utf8(bytes).unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_id_from_hex_table() {
        let cases: &[(&str, Option<u128>)] = &[
            (
                "4bf92f3577b34da6a3ce929d0e0e4736",
                Some(0x4bf92f3577b34da6a3ce929d0e0e4736),
            ),
            (
                "4BF92F3577B34DA6A3CE929D0E0E4736",
                Some(0x4bf92f3577b34da6a3ce929d0e0e4736),
            ),
            ("00000000000000000000000000000001", Some(1)),
            ("ffffffffffffffffffffffffffffffff", Some(u128::MAX)),
            ("00000000000000000000000000000000", None),
            ("4bf92f3577b34da6a3ce929d0e0e473", None),
            ("4bf92f3577b34da6a3ce929d0e0e47360", None),
            ("4bf92f3577b34da6a3ce929d0e0e473g", None),
            ("+bf92f3577b34da6a3ce929d0e0e4736", None),
            (" 4bf92f3577b34da6a3ce929d0e0e473", None),
            ("0x4bf92f3577b34da6a3ce929d0e0e47", None),
            ("4bf92f3577b34da6a3ce929d0e0e47é", None),
            ("", None),
        ];
        for &(text, expected) in cases {
            assert_eq!(
                TraceId::from_hex(text).map(TraceId::to_u128),
                expected,
                "{text:?}"
            );
        }
    }

    #[test]
    fn span_id_from_hex_table() {
        let cases: &[(&str, Option<u64>)] = &[
            ("00f067aa0ba902b7", Some(0x00f067aa0ba902b7)),
            ("00F067AA0BA902B7", Some(0x00f067aa0ba902b7)),
            ("ffffffffffffffff", Some(u64::MAX)),
            ("0000000000000001", Some(1)),
            ("0000000000000000", None),
            ("00f067aa0ba902b", None),
            ("00f067aa0ba902b70", None),
            ("00f067aa0ba902bz", None),
            ("-0f067aa0ba902b7", None),
            ("", None),
        ];
        for &(text, expected) in cases {
            assert_eq!(
                SpanId::from_hex(text).map(SpanId::to_u64),
                expected,
                "{text:?}"
            );
        }
    }

    #[test]
    fn hex_round_trips() {
        for text in [
            "4bf92f3577b34da6a3ce929d0e0e4736",
            "00000000000000000000000000000001",
            "ffffffffffffffffffffffffffffffff",
            "80000000000000000000000000000000",
        ] {
            let id = TraceId::from_hex(text).unwrap();
            assert_eq!(id.to_string(), text);
            assert_eq!(TraceId::from_hex(&id.to_string()), Some(id));
            assert_eq!(TraceId::from_bytes(id.to_bytes()), Some(id));
        }
        for text in ["00f067aa0ba902b7", "0000000000000001", "ffffffffffffffff"] {
            let id = SpanId::from_hex(text).unwrap();
            assert_eq!(id.to_string(), text);
            assert_eq!(SpanId::from_hex(&id.to_string()), Some(id));
            assert_eq!(SpanId::from_bytes(id.to_bytes()), Some(id));
        }
    }

    #[test]
    fn numbers_bytes_and_formatting() {
        let trace_id = TraceId::from_u128(0x0102030405060708090a0b0c0d0e0f10).unwrap();
        assert_eq!(
            trace_id.to_bytes(),
            [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]
        );
        assert_eq!(
            format!("{trace_id:?}"),
            "TraceId(0102030405060708090a0b0c0d0e0f10)"
        );
        assert_eq!(
            format!("[{trace_id:>34}]"),
            "[  0102030405060708090a0b0c0d0e0f10]"
        );

        let span_id = SpanId::from_u64(0x0102030405060708).unwrap();
        assert_eq!(span_id.to_bytes(), [1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(format!("{span_id:?}"), "SpanId(0102030405060708)");

        assert_eq!(TraceId::from_u128(0), None);
        assert_eq!(SpanId::from_u64(0), None);
        assert_eq!(TraceId::from_bytes([0; 16]), None);
        assert_eq!(SpanId::from_bytes([0; 8]), None);
    }

    #[test]
    fn is_lower_hex_table() {
        let cases: &[(&[u8], bool)] = &[
            (b"0123456789abcdef", true),
            (b"", true),
            (b"A", false),
            (b"g", false),
            (b"-", false),
        ];
        for &(bytes, expected) in cases {
            assert_eq!(is_lower_hex(bytes), expected, "{bytes:?}");
        }
    }

    #[test]
    fn a_million_random_ids_are_distinct_and_non_zero() {
        let mut trace_ids: Vec<u128> = (0..1_000_000)
            .map(|_| random_trace_id().to_u128())
            .collect();
        trace_ids.sort_unstable();
        trace_ids.dedup();
        assert_eq!(trace_ids.len(), 1_000_000);
        assert_ne!(trace_ids[0], 0);

        let mut span_ids: Vec<u64> = (0..1_000_000).map(|_| random_span_id().to_u64()).collect();
        span_ids.sort_unstable();
        span_ids.dedup();
        assert_eq!(span_ids.len(), 1_000_000);
        assert_ne!(span_ids[0], 0);
    }

    #[test]
    fn random_trace_ids_use_all_bits() {
        let mut seen_or = 0u128;
        let mut seen_and = u128::MAX;
        for _ in 0..1000 {
            let value = random_trace_id().to_u128();
            seen_or |= value;
            seen_and &= value;
        }
        assert_eq!(seen_or, u128::MAX);
        assert_eq!(seen_and, 0);
    }
}
