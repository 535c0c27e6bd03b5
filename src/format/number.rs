//! Numbers and booleans written straight into a byte buffer, with no `fmt`
//! machinery and no allocation beyond growing the caller's `Vec<u8>`.
//!
//! Promise: integers of every width are exact; a finite `f64` is written as
//! the shortest JSON number that parses back to the same value (`1.0`,
//! `0.1`, `1e300`, `-0.0`); non-finite values are the JSON strings `"NaN"`,
//! `"Infinity"` and `"-Infinity"`, or the same words bare for readable text.

/// Appends `value` in decimal.
#[inline]
pub(crate) fn write_u64(out: &mut Vec<u8>, value: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
}

/// Appends `value` in decimal, with a leading `-` when negative.
#[inline]
pub(crate) fn write_i64(out: &mut Vec<u8>, value: i64) {
    out.extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
}

/// Appends `value` in decimal.
#[inline]
pub(crate) fn write_u128(out: &mut Vec<u8>, value: u128) {
    out.extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
}

/// Appends `value` in decimal, with a leading `-` when negative.
#[inline]
pub(crate) fn write_i128(out: &mut Vec<u8>, value: i128) {
    out.extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
}

/// Appends `value` as a JSON value: a number when finite, else one of the
/// strings `"NaN"`, `"Infinity"`, `"-Infinity"`.
#[inline]
pub(crate) fn write_f64(out: &mut Vec<u8>, value: f64) {
    if value.is_finite() {
        out.extend_from_slice(ryu::Buffer::new().format_finite(value).as_bytes());
    } else {
        out.push(b'"');
        out.extend_from_slice(non_finite_name(value));
        out.push(b'"');
    }
}

/// Appends `value` for readable text: like [`write_f64`], but `NaN`,
/// `Infinity` and `-Infinity` are written bare.
#[inline]
pub(crate) fn write_f64_text(out: &mut Vec<u8>, value: f64) {
    if value.is_finite() {
        out.extend_from_slice(ryu::Buffer::new().format_finite(value).as_bytes());
    } else {
        out.extend_from_slice(non_finite_name(value));
    }
}

/// Appends `true` or `false`.
#[inline]
pub(crate) fn write_bool(out: &mut Vec<u8>, value: bool) {
    out.extend_from_slice(if value { b"true" } else { b"false" });
}

/// The name of a non-finite value, without quotes.
#[cold]
fn non_finite_name(value: f64) -> &'static [u8] {
    if value.is_nan() {
        b"NaN"
    } else if value > 0.0 {
        b"Infinity"
    } else {
        b"-Infinity"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(write: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut out = b"x=".to_vec();
        write(&mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn integers_at_their_limits() {
        assert_eq!(run(|o| write_u64(o, 0)), "x=0");
        assert_eq!(run(|o| write_u64(o, u64::MAX)), "x=18446744073709551615");
        assert_eq!(run(|o| write_i64(o, -1)), "x=-1");
        assert_eq!(run(|o| write_i64(o, i64::MIN)), "x=-9223372036854775808");
        assert_eq!(run(|o| write_i64(o, i64::MAX)), "x=9223372036854775807");
        assert_eq!(
            run(|o| write_u128(o, u128::MAX)),
            "x=340282366920938463463374607431768211455"
        );
        assert_eq!(
            run(|o| write_i128(o, i128::MIN)),
            "x=-170141183460469231731687303715884105728"
        );
        assert_eq!(run(|o| write_i128(o, 0)), "x=0");
    }

    #[test]
    fn floats_as_json() {
        let cases: [(f64, &str); 14] = [
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (1.0, "1.0"),
            (0.1, "0.1"),
            (-2.5, "-2.5"),
            (12.595, "12.595"),
            (1e16, "1e16"),
            (1e300, "1e300"),
            (1e-7, "1e-7"),
            (f64::MAX, "1.7976931348623157e308"),
            (f64::MIN_POSITIVE, "2.2250738585072014e-308"),
            (f64::NAN, "\"NaN\""),
            (f64::INFINITY, "\"Infinity\""),
            (f64::NEG_INFINITY, "\"-Infinity\""),
        ];
        for (value, expected) in cases {
            assert_eq!(run(|o| write_f64(o, value)), format!("x={expected}"));
        }
    }

    #[test]
    fn floats_as_text() {
        assert_eq!(run(|o| write_f64_text(o, 0.1)), "x=0.1");
        assert_eq!(run(|o| write_f64_text(o, -0.0)), "x=-0.0");
        assert_eq!(run(|o| write_f64_text(o, f64::NAN)), "x=NaN");
        assert_eq!(run(|o| write_f64_text(o, -f64::NAN)), "x=NaN");
        assert_eq!(run(|o| write_f64_text(o, f64::INFINITY)), "x=Infinity");
        assert_eq!(run(|o| write_f64_text(o, f64::NEG_INFINITY)), "x=-Infinity");
    }

    #[test]
    #[cfg(not(dynlog_loom))] // serde_json is a dev-dependency
    fn finite_floats_round_trip_through_json() {
        let values = [0.1, 1.0 / 3.0, 1e300, -1e-300, 5e-324, 123456789.123, -0.0];
        for value in values {
            let mut out = Vec::new();
            write_f64(&mut out, value);
            let parsed: f64 = serde_json::from_slice(&out).unwrap();
            assert_eq!(parsed.to_bits(), value.to_bits(), "{value}");
        }
    }

    #[test]
    fn booleans() {
        assert_eq!(run(|o| write_bool(o, true)), "x=true");
        assert_eq!(run(|o| write_bool(o, false)), "x=false");
    }
}
