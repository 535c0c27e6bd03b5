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
        write_finite(out, value);
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
        write_finite(out, value);
    } else {
        out.extend_from_slice(non_finite_name(value));
    }
}

/// Appends a finite `value` as ryu writes it: short decimals (the usual
/// `12.5` or `0.25`) directly, everything else through ryu.
#[inline]
fn write_finite(out: &mut Vec<u8>, value: f64) {
    if !write_short_decimal(out, value) {
        out.extend_from_slice(ryu::Buffer::new().format_finite(value).as_bytes());
    }
}

/// Powers of ten that an `f64` holds exactly, one per decimal place tried.
const POW10: [f64; 5] = [1.0, 10.0, 100.0, 1000.0, 10000.0];

/// Writes `value` and returns true when it has at most four decimals and
/// `0.001 <= |value| < 1e9`; else writes nothing and returns false.
///
/// The text is the one ryu writes: in that range ryu uses plain decimal
/// notation, and the fewest decimals `k` for which `n / 10^k` parses back
/// to `value` (with `n` the nearest integer to `|value| * 10^k`, exact
/// below 2^53) give the shortest such text. A trailing zero can only come
/// from a rounding corner; such values go to ryu.
#[inline]
fn write_short_decimal(out: &mut Vec<u8>, value: f64) -> bool {
    let abs = value.abs();
    if !(1e-3..1e9).contains(&abs) {
        return false;
    }
    for (k, &pow) in POW10.iter().enumerate() {
        let scaled = abs * pow;
        let n = scaled as u64;
        if n as f64 != scaled || n as f64 / pow != abs {
            continue;
        }
        if k > 0 && n % 10 == 0 {
            return false;
        }
        let pow = 10u64.pow(k as u32);
        if value < 0.0 {
            out.push(b'-');
        }
        write_u64(out, n / pow);
        out.push(b'.');
        if k == 0 {
            out.push(b'0');
            return true;
        }
        let frac = n % pow;
        let mut digits = [b'0'; 4];
        let mut rest = frac;
        for d in digits[..k].iter_mut().rev() {
            *d = b'0' + (rest % 10) as u8;
            rest /= 10;
        }
        out.extend_from_slice(&digits[..k]);
        return true;
    }
    false
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

    /// The short-decimal path writes exactly what ryu writes, for values it
    /// takes and for values around them.
    #[test]
    fn short_decimals_match_ryu() {
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut checked = 0;
        let mut check = |value: f64| {
            let mut ours = Vec::new();
            write_f64(&mut ours, value);
            let theirs = ryu::Buffer::new().format_finite(value).to_owned();
            assert_eq!(String::from_utf8(ours).unwrap(), theirs, "{value:e}");
            checked += 1;
        };
        for _ in 0..200_000 {
            let r = next();
            let k = (r % 7) as i32;
            let n = (next() % 2_000_000_000) as f64;
            let v = n / 10f64.powi(k);
            check(v);
            check(-v);
            check(f64::from_bits(v.to_bits() + 1));
            // Any bit pattern from about 5e-4 to 2e9, sign included.
            let (lo, hi) = (0x3F40_0000_0000_0000u64, 0x41E0_0000_0000_0000u64);
            let bits = lo + next() % (hi - lo);
            check(f64::from_bits(bits) * if r & 1 == 0 { 1.0 } else { -1.0 });
        }
        for v in [
            0.001,
            0.1,
            0.2,
            0.3,
            0.25,
            1.5,
            12.5,
            100.0,
            999999999.9999,
            1e9 - 1.0,
        ] {
            check(v);
        }
        assert_eq!(checked, 800_010);
    }

    #[test]
    fn booleans() {
        assert_eq!(run(|o| write_bool(o, true)), "x=true");
        assert_eq!(run(|o| write_bool(o, false)), "x=false");
    }
}
