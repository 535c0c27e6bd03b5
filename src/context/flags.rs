//! Trace flags: the bit field at the end of a `traceparent` header.
//!
//! Only the two bits W3C Trace Context level 2 defines are kept: `sampled`
//! (bit 0) and `random-trace-id` (bit 1). Every constructor clears the
//! others, as the spec asks of anyone who sends the flags on, so a value of
//! this type always prints as `00` to `03`.

use core::fmt;

/// The bits this crate keeps; see the module docs.
const KNOWN_BITS: u8 = 0x03;

/// W3C trace flags: whether the trace is sampled, and whether its trace id
/// is random.
///
/// `{:02x}` prints the header form. The default is no flag set.
///
/// # Examples
///
/// ```
/// use dynlog::context::TraceFlags;
///
/// let flags = TraceFlags::from_hex("FF").unwrap();
/// assert!(flags.is_sampled());
/// assert_eq!(format!("{flags:02x}"), "03");
/// assert_eq!(TraceFlags::from_hex("1"), None);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct TraceFlags(u8);

impl TraceFlags {
    /// No flag set: not sampled.
    pub const NONE: TraceFlags = TraceFlags(0x00);

    /// The `sampled` flag (bit 0): the caller may have recorded the trace.
    pub const SAMPLED: TraceFlags = TraceFlags(0x01);

    /// The `random-trace-id` flag (bit 1, level 2): at least the right-most
    /// 7 bytes of the trace id are random. Kept when it comes in; dynlog
    /// does not set it by itself.
    pub const RANDOM_TRACE_ID: TraceFlags = TraceFlags(0x02);

    /// Keeps the known bits of `bits` and clears the rest.
    pub const fn from_bits(bits: u8) -> TraceFlags {
        TraceFlags(bits & KNOWN_BITS)
    }

    /// Parses exactly two hex digits, either case, and clears unknown bits.
    ///
    /// This is the check for flags set as a span field; a `traceparent`
    /// header only accepts lowercase.
    ///
    /// # Examples
    ///
    /// ```
    /// use dynlog::context::TraceFlags;
    ///
    /// assert_eq!(TraceFlags::from_hex("01"), Some(TraceFlags::SAMPLED));
    /// assert_eq!(TraceFlags::from_hex("0x1"), None);
    /// ```
    pub fn from_hex(text: &str) -> Option<TraceFlags> {
        let [high, low] = text.as_bytes() else {
            return None;
        };
        let high = hex_digit(*high)?;
        let low = hex_digit(*low)?;
        Some(TraceFlags::from_bits((high << 4) | low))
    }

    /// The flags as a byte.
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// Whether the `sampled` flag is set.
    pub const fn is_sampled(self) -> bool {
        self.0 & TraceFlags::SAMPLED.0 != 0
    }

    /// Whether the `random-trace-id` flag is set.
    pub const fn is_random_trace_id(self) -> bool {
        self.0 & TraceFlags::RANDOM_TRACE_ID.0 != 0
    }

    /// These flags with `sampled` set or cleared; other flags unchanged.
    pub const fn with_sampled(self, sampled: bool) -> TraceFlags {
        if sampled {
            TraceFlags(self.0 | TraceFlags::SAMPLED.0)
        } else {
            TraceFlags(self.0 & !TraceFlags::SAMPLED.0)
        }
    }
}

impl fmt::LowerHex for TraceFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::LowerHex::fmt(&self.0, f)
    }
}

/// The value of one hex digit, either case.
fn hex_digit(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_hex_table() {
        let cases: &[(&str, Option<u8>)] = &[
            ("00", Some(0x00)),
            ("01", Some(0x01)),
            ("02", Some(0x02)),
            ("03", Some(0x03)),
            ("ff", Some(0x03)),
            ("FF", Some(0x03)),
            ("fE", Some(0x02)),
            ("09", Some(0x01)),
            ("1", None),
            ("001", None),
            ("", None),
            ("0g", None),
            (" 1", None),
            ("+1", None),
        ];
        for &(text, expected) in cases {
            assert_eq!(
                TraceFlags::from_hex(text).map(TraceFlags::bits),
                expected,
                "{text:?}"
            );
        }
    }

    #[test]
    fn bits_and_predicates() {
        assert_eq!(TraceFlags::from_bits(0xff).bits(), 0x03);
        assert_eq!(TraceFlags::default(), TraceFlags::NONE);
        assert!(TraceFlags::SAMPLED.is_sampled());
        assert!(!TraceFlags::SAMPLED.is_random_trace_id());
        assert!(TraceFlags::RANDOM_TRACE_ID.is_random_trace_id());
        assert!(!TraceFlags::NONE.is_sampled());
        assert_eq!(TraceFlags::NONE.with_sampled(true), TraceFlags::SAMPLED);
        assert_eq!(
            TraceFlags::from_bits(3).with_sampled(false),
            TraceFlags::RANDOM_TRACE_ID
        );
        assert_eq!(format!("{:02x}", TraceFlags::from_bits(3)), "03");
        assert_eq!(format!("{:02x}", TraceFlags::NONE), "00");
    }
}
