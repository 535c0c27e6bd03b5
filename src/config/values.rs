//! Parsers for single setting values, shared by the environment, the TOML
//! files and the settings made in code.
//!
//! Each parser takes the raw text of one value and returns the typed value
//! or a [`Mismatch`] saying what was expected and what was found. Nothing
//! here knows where a value came from: the callers turn a mismatch into a
//! one-line [`Problem`](super::Problem) that names the variable, the file
//! position or the code setting. Nothing here panics, whatever the input.

use std::time::Duration;

use super::{Format, Overflow, Protocol};

/// Longest piece of a bad value quoted in a message, in characters; longer
/// values are cut and marked with `...` so that every message stays short.
const QUOTE_LIMIT: usize = 64;

/// Largest queue or batch size accepted; a bigger one would let a setting
/// reserve unbounded memory.
pub(crate) const MAX_SIZE: usize = 1 << 20;

/// What a value parser wanted and what it got instead.
///
/// `found` is already written for a message: a quoted value (see [`quote`])
/// or a description such as `a string`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Mismatch {
    pub(crate) expected: &'static str,
    pub(crate) found: String,
}

impl Mismatch {
    /// A mismatch whose found part is the quoted raw value.
    pub(crate) fn value(expected: &'static str, raw: &str) -> Mismatch {
        Mismatch {
            expected,
            found: quote(raw),
        }
    }
}

pub(crate) const EXPECTED_BOOL: &str = "a boolean (1, true, on, yes, 0, false, off, no)";
pub(crate) const EXPECTED_FORMAT: &str = "\"readable\" or \"jsonl\"";
pub(crate) const EXPECTED_OVERFLOW: &str = "\"block\" or \"drop\"";
pub(crate) const EXPECTED_PROTOCOL: &str = "\"grpc\" or \"http/protobuf\"";
pub(crate) const EXPECTED_URL: &str = "an http:// or https:// URL with a host";
pub(crate) const EXPECTED_RATIO: &str = "a number from 0.0 to 1.0";
pub(crate) const EXPECTED_MILLIS: &str = "a positive integer number of milliseconds";
pub(crate) const EXPECTED_SIZE: &str = "an integer from 1 to 1048576";
pub(crate) const EXPECTED_SAMPLER: &str = "one of always_on, always_off, traceidratio, \
     parentbased_always_on, parentbased_always_off, parentbased_traceidratio";
pub(crate) const EXPECTED_HEADER: &str = "a header as key=value";
pub(crate) const EXPECTED_HEADER_NAME: &str =
    "a header name of letters, digits and !#$%&'*+-.^_`|~";
pub(crate) const EXPECTED_HEADER_VALUE: &str = "a header value without control characters";
pub(crate) const EXPECTED_HEADER_UTF8: &str = "percent-encoded UTF-8 in a header value";

/// The sampler names of the OpenTelemetry SDK specification that dynlog
/// implements, in their canonical spelling.
pub(crate) const SAMPLERS: [&str; 6] = [
    "always_on",
    "always_off",
    "traceidratio",
    "parentbased_always_on",
    "parentbased_always_off",
    "parentbased_traceidratio",
];

/// Writes `raw` as a one-line, double-quoted string with escapes, cut after
/// [`QUOTE_LIMIT`] characters.
pub(crate) fn quote(raw: &str) -> String {
    match raw.char_indices().nth(QUOTE_LIMIT) {
        Some((cut, _)) => format!("{:?}...", &raw[..cut]),
        None => format!("{raw:?}"),
    }
}

/// Whether `raw` is empty or only whitespace.
pub(crate) fn is_blank(raw: &str) -> bool {
    raw.trim().is_empty()
}

/// Parses a boolean as SPEC 2 defines it: `1 true on yes` and `0 false off
/// no` and the empty string, any case, surrounding whitespace ignored.
pub(crate) fn parse_bool(raw: &str) -> Result<bool, Mismatch> {
    let word = raw.trim();
    for yes in ["1", "true", "on", "yes"] {
        if word.eq_ignore_ascii_case(yes) {
            return Ok(true);
        }
    }
    for no in ["", "0", "false", "off", "no"] {
        if word.eq_ignore_ascii_case(no) {
            return Ok(false);
        }
    }
    Err(Mismatch::value(EXPECTED_BOOL, raw))
}

/// Parses `readable` or `jsonl`, any case, trimmed.
pub(crate) fn parse_format(raw: &str) -> Result<Format, Mismatch> {
    let word = raw.trim();
    if word.eq_ignore_ascii_case("readable") {
        Ok(Format::Readable)
    } else if word.eq_ignore_ascii_case("jsonl") {
        Ok(Format::Jsonl)
    } else {
        Err(Mismatch::value(EXPECTED_FORMAT, raw))
    }
}

/// Parses `block` or `drop`, any case, trimmed.
pub(crate) fn parse_overflow(raw: &str) -> Result<Overflow, Mismatch> {
    let word = raw.trim();
    if word.eq_ignore_ascii_case("block") {
        Ok(Overflow::Block)
    } else if word.eq_ignore_ascii_case("drop") {
        Ok(Overflow::Drop)
    } else {
        Err(Mismatch::value(EXPECTED_OVERFLOW, raw))
    }
}

/// Parses `grpc` or `http/protobuf`, any case, trimmed.
pub(crate) fn parse_protocol(raw: &str) -> Result<Protocol, Mismatch> {
    let word = raw.trim();
    if word.eq_ignore_ascii_case("grpc") {
        Ok(Protocol::Grpc)
    } else if word.eq_ignore_ascii_case("http/protobuf") {
        Ok(Protocol::HttpProtobuf)
    } else {
        Err(Mismatch::value(EXPECTED_PROTOCOL, raw))
    }
}

/// Checks that `raw` is an `http://` or `https://` URL with a host and
/// returns it unchanged.
///
/// The scheme is matched in any case. The host is the text after the
/// scheme up to the first `/`, `?` or `#`, without user information; a port,
/// when present, must be 1 to 65535. Whitespace or control characters
/// anywhere make the URL invalid.
pub(crate) fn check_endpoint(raw: &str) -> Result<&str, Mismatch> {
    let bad = || Mismatch::value(EXPECTED_URL, raw);
    if raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad());
    }

    let rest = strip_prefix_ignore_case(raw, "http://")
        .or_else(|| strip_prefix_ignore_case(raw, "https://"))
        .ok_or_else(bad)?;
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let host_port = match authority.rfind('@') {
        Some(at) => &authority[at + 1..],
        None => authority,
    };

    let (host, port) = if let Some(bracketed) = host_port.strip_prefix('[') {
        let close = bracketed.find(']').ok_or_else(bad)?;
        let after = &bracketed[close + 1..];
        let port = match after.strip_prefix(':') {
            Some(port) => Some(port),
            None if after.is_empty() => None,
            None => return Err(bad()),
        };
        (&bracketed[..close], port)
    } else {
        match host_port.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (host_port, None),
        }
    };

    if host.is_empty() {
        return Err(bad());
    }
    if let Some(port) = port {
        let is_digits = !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit());
        match port.parse::<u16>() {
            Ok(n) if is_digits && n > 0 => {}
            _ => return Err(bad()),
        }
    }
    Ok(raw)
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    if head.eq_ignore_ascii_case(prefix) {
        Some(&text[prefix.len()..])
    } else {
        None
    }
}

/// Derives the traces endpoint from the generic base URL
/// (`OTEL_EXPORTER_OTLP_ENDPOINT`): as given for gRPC, with trailing
/// slashes removed and `/v1/traces` appended for HTTP.
pub(crate) fn endpoint_from_base(base: &str, protocol: Protocol) -> String {
    match protocol {
        Protocol::Grpc => base.to_owned(),
        Protocol::HttpProtobuf => {
            let mut url = base.trim_end_matches('/').to_owned();
            url.push_str("/v1/traces");
            url
        }
    }
}

/// Parses a sampling ratio: a finite number from 0.0 to 1.0, trimmed.
pub(crate) fn parse_ratio(raw: &str) -> Result<f64, Mismatch> {
    match raw.trim().parse::<f64>() {
        Ok(ratio) => check_ratio(ratio).map_err(|_| Mismatch::value(EXPECTED_RATIO, raw)),
        Err(_) => Err(Mismatch::value(EXPECTED_RATIO, raw)),
    }
}

/// Checks that `ratio` is finite and from 0.0 to 1.0.
pub(crate) fn check_ratio(ratio: f64) -> Result<f64, Mismatch> {
    if ratio.is_finite() && (0.0..=1.0).contains(&ratio) {
        Ok(ratio)
    } else {
        Err(Mismatch {
            expected: EXPECTED_RATIO,
            found: ratio.to_string(),
        })
    }
}

/// Parses a positive whole number of milliseconds, trimmed.
pub(crate) fn parse_millis(raw: &str) -> Result<Duration, Mismatch> {
    match raw.trim().parse::<u64>() {
        Ok(ms) if ms > 0 => Ok(Duration::from_millis(ms)),
        _ => Err(Mismatch::value(EXPECTED_MILLIS, raw)),
    }
}

/// Checks that a duration set in code is not zero.
pub(crate) fn check_duration(duration: Duration) -> Result<Duration, Mismatch> {
    if duration.is_zero() {
        Err(Mismatch {
            expected: "a positive duration",
            found: "zero".to_owned(),
        })
    } else {
        Ok(duration)
    }
}

/// Parses a queue or batch size from 1 to [`MAX_SIZE`], trimmed.
pub(crate) fn parse_size(raw: &str) -> Result<usize, Mismatch> {
    match raw.trim().parse::<usize>() {
        Ok(n) => check_size(n).map_err(|_| Mismatch::value(EXPECTED_SIZE, raw)),
        Err(_) => Err(Mismatch::value(EXPECTED_SIZE, raw)),
    }
}

/// Checks that a queue or batch size is from 1 to [`MAX_SIZE`].
pub(crate) fn check_size(n: usize) -> Result<usize, Mismatch> {
    if (1..=MAX_SIZE).contains(&n) {
        Ok(n)
    } else {
        Err(Mismatch {
            expected: EXPECTED_SIZE,
            found: n.to_string(),
        })
    }
}

/// Parses an SDK sampler name, any case, trimmed, into its canonical
/// spelling.
pub(crate) fn parse_sampler(raw: &str) -> Result<&'static str, Mismatch> {
    let word = raw.trim();
    SAMPLERS
        .into_iter()
        .find(|name| word.eq_ignore_ascii_case(name))
        .ok_or_else(|| Mismatch::value(EXPECTED_SAMPLER, raw))
}

/// Parses a header list `k=v,k=v` as the OpenTelemetry SDK specification
/// writes it.
///
/// Members are split at commas and each at its first `=`; keys and values
/// are trimmed and values are percent-decoded (`%2C` is a comma; a `%` not
/// followed by two hex digits stays as it is). Empty members are skipped.
/// A bad member is left out and reported; the others are kept.
pub(crate) fn parse_headers(raw: &str) -> (Vec<(String, String)>, Vec<Mismatch>) {
    let mut headers = Vec::new();
    let mut mismatches = Vec::new();
    for member in raw.split(',') {
        if is_blank(member) {
            continue;
        }

        let Some((key, value)) = member.split_once('=') else {
            mismatches.push(Mismatch::value(EXPECTED_HEADER, member.trim()));
            continue;
        };
        let Some(value) = percent_decode(value.trim()) else {
            mismatches.push(Mismatch::value(EXPECTED_HEADER_UTF8, member.trim()));
            continue;
        };
        match check_header(key.trim(), &value) {
            Ok(()) => headers.push((key.trim().to_owned(), value)),
            Err(expected) => mismatches.push(Mismatch::value(expected, member.trim())),
        }
    }
    (headers, mismatches)
}

/// Checks one header: the name is a non-empty HTTP token, the value has no
/// control characters other than tab. Returns what was expected when not.
pub(crate) fn check_header(key: &str, value: &str) -> Result<(), &'static str> {
    let is_token_byte = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    if key.is_empty() || !key.bytes().all(is_token_byte) {
        return Err(EXPECTED_HEADER_NAME);
    }
    if value.chars().any(|c| c.is_control() && c != '\t') {
        return Err(EXPECTED_HEADER_VALUE);
    }
    Ok(())
}

/// Decodes `%XY` escapes; returns `None` when the result is not UTF-8.
fn percent_decode(raw: &str) -> Option<String> {
    if !raw.contains('%') {
        return Some(raw.to_owned());
    }

    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut idx = 0;
    while idx < bytes.len() {
        let escaped = match (bytes.get(idx + 1), bytes.get(idx + 2)) {
            (Some(&hi), Some(&lo)) if bytes[idx] == b'%' => hex_value(hi)
                .zip(hex_value(lo))
                .map(|(hi, lo)| hi << 4 | lo),
            _ => None,
        };
        match escaped {
            Some(byte) => {
                out.push(byte);
                idx += 3;
            }
            None => {
                out.push(bytes[idx]);
                idx += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn booleans() {
        let cases: &[(&str, Option<bool>)] = &[
            ("1", Some(true)),
            ("true", Some(true)),
            ("TRUE", Some(true)),
            (" True ", Some(true)),
            ("on", Some(true)),
            ("On", Some(true)),
            ("yes", Some(true)),
            ("\tyes\n", Some(true)),
            ("YES", Some(true)),
            ("0", Some(false)),
            ("false", Some(false)),
            ("FALSE", Some(false)),
            ("off", Some(false)),
            ("OFF", Some(false)),
            ("no", Some(false)),
            ("No", Some(false)),
            ("", Some(false)),
            ("   ", Some(false)),
            ("y", None),
            ("t", None),
            ("2", None),
            ("enabled", None),
            ("maybe", None),
            ("1 0", None),
        ];
        for &(raw, want) in cases {
            assert_eq!(parse_bool(raw).ok(), want, "input {raw:?}");
        }
        assert_eq!(
            parse_bool("maybe"),
            Err(Mismatch {
                expected: EXPECTED_BOOL,
                found: "\"maybe\"".to_owned()
            })
        );
    }

    #[test]
    fn words() {
        assert_eq!(parse_format(" JSONL "), Ok(Format::Jsonl));
        assert_eq!(parse_format("Readable"), Ok(Format::Readable));
        assert_eq!(parse_format("json").unwrap_err().found, "\"json\"");
        assert_eq!(parse_overflow("DROP"), Ok(Overflow::Drop));
        assert_eq!(parse_overflow(" block"), Ok(Overflow::Block));
        assert_eq!(
            parse_overflow("wait").unwrap_err().expected,
            EXPECTED_OVERFLOW
        );
        assert_eq!(parse_protocol("GRPC "), Ok(Protocol::Grpc));
        assert_eq!(parse_protocol("HTTP/Protobuf"), Ok(Protocol::HttpProtobuf));
        assert_eq!(
            parse_protocol("http/json").unwrap_err().found,
            "\"http/json\""
        );
        assert_eq!(parse_sampler(" TraceIdRatio "), Ok("traceidratio"));
        assert_eq!(
            parse_sampler("parentbased_always_off"),
            Ok("parentbased_always_off")
        );
        assert_eq!(
            parse_sampler("jaeger_remote").unwrap_err().expected,
            EXPECTED_SAMPLER
        );
    }

    #[test]
    fn endpoints() {
        let cases: &[(&str, bool)] = &[
            ("http://localhost:4317", true),
            ("https://collector.example/custom/traces", true),
            ("HTTP://Host", true),
            ("http://user:pw@host:1/x?y#z", true),
            ("http://[::1]:4317", true),
            ("http://[::1]", true),
            ("http://host?x", true),
            ("localhost:4317", false),
            ("grpc://host:4317", false),
            ("http://", false),
            ("http:///path", false),
            ("http://:4317", false),
            ("http://host:", false),
            ("http://host:0", false),
            ("http://host:65536", false),
            ("http://host:+1", false),
            ("http://host:12ab", false),
            ("http://[::1", false),
            ("http://[::1]x", false),
            (" http://host", false),
            ("http://ho st", false),
            ("http://host\n", false),
            ("", false),
        ];
        for &(raw, ok) in cases {
            assert_eq!(check_endpoint(raw).is_ok(), ok, "input {raw:?}");
        }
        assert_eq!(
            check_endpoint("x").unwrap_err(),
            Mismatch {
                expected: EXPECTED_URL,
                found: "\"x\"".to_owned()
            }
        );
    }

    #[test]
    fn endpoint_from_base_appends_for_http_only() {
        let cases: &[(&str, Protocol, &str)] = &[
            ("http://c:4317", Protocol::Grpc, "http://c:4317"),
            ("http://c:4317/", Protocol::Grpc, "http://c:4317/"),
            (
                "http://c:4318",
                Protocol::HttpProtobuf,
                "http://c:4318/v1/traces",
            ),
            ("https://h/", Protocol::HttpProtobuf, "https://h/v1/traces"),
            ("https://h//", Protocol::HttpProtobuf, "https://h/v1/traces"),
            (
                "https://h/v1/traces",
                Protocol::HttpProtobuf,
                "https://h/v1/traces/v1/traces",
            ),
        ];
        for &(base, protocol, want) in cases {
            assert_eq!(endpoint_from_base(base, protocol), want, "input {base:?}");
        }
    }

    #[test]
    fn numbers() {
        assert_eq!(parse_ratio("0.25"), Ok(0.25));
        assert_eq!(parse_ratio(" 1e-2 "), Ok(0.01));
        assert_eq!(parse_ratio("0"), Ok(0.0));
        assert_eq!(parse_ratio("1"), Ok(1.0));
        for bad in ["1.5", "-0.1", "nan", "inf", "NaN", "", "half"] {
            assert_eq!(
                parse_ratio(bad),
                Err(Mismatch::value(EXPECTED_RATIO, bad)),
                "input {bad:?}"
            );
        }
        assert_eq!(check_ratio(f64::NAN).unwrap_err().found, "NaN");

        assert_eq!(parse_millis(" 250 "), Ok(Duration::from_millis(250)));
        for bad in ["0", "-5", "1.5", "", "10s", "99999999999999999999"] {
            assert_eq!(
                parse_millis(bad),
                Err(Mismatch::value(EXPECTED_MILLIS, bad)),
                "input {bad:?}"
            );
        }
        assert_eq!(check_duration(Duration::ZERO).unwrap_err().found, "zero");

        assert_eq!(parse_size("2048"), Ok(2048));
        assert_eq!(parse_size("1048576"), Ok(MAX_SIZE));
        for bad in ["0", "1048577", "-1", "many"] {
            assert_eq!(
                parse_size(bad),
                Err(Mismatch::value(EXPECTED_SIZE, bad)),
                "input {bad:?}"
            );
        }
    }

    #[test]
    fn headers() {
        type Case = (
            &'static str,
            &'static [(&'static str, &'static str)],
            &'static [(&'static str, &'static str)],
        );
        let cases: &[Case] = &[
            ("", &[], &[]),
            ("a=1", &[("a", "1")], &[]),
            (" a = 1 , b=2,", &[("a", "1"), ("b", "2")], &[]),
            ("a=1,,b=2", &[("a", "1"), ("b", "2")], &[]),
            (
                "authorization=Bearer abc==",
                &[("authorization", "Bearer abc==")],
                &[],
            ),
            ("k=a%2Cb%3d", &[("k", "a,b=")], &[]),
            ("k=100%", &[("k", "100%")], &[]),
            ("k=%zz", &[("k", "%zz")], &[]),
            ("k=%C3%A9", &[("k", "é")], &[]),
            ("k=", &[("k", "")], &[]),
            ("abc,b=2", &[("b", "2")], &[(EXPECTED_HEADER, "\"abc\"")]),
            ("=v", &[], &[(EXPECTED_HEADER_NAME, "\"=v\"")]),
            ("a b=v", &[], &[(EXPECTED_HEADER_NAME, "\"a b=v\"")]),
            ("k=%ff", &[], &[(EXPECTED_HEADER_UTF8, "\"k=%ff\"")]),
            ("k=a%0Ab", &[], &[(EXPECTED_HEADER_VALUE, "\"k=a%0Ab\"")]),
        ];
        for &(raw, want, want_bad) in cases {
            let (got, bad) = parse_headers(raw);
            let got: Vec<(&str, &str)> =
                got.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            assert_eq!(got, want, "input {raw:?}");
            let bad: Vec<(&str, &str)> =
                bad.iter().map(|m| (m.expected, m.found.as_str())).collect();
            assert_eq!(bad, want_bad, "input {raw:?}");
        }
    }

    #[test]
    fn quoting_keeps_one_short_line() {
        assert_eq!(quote("a\"b\nc"), "\"a\\\"b\\nc\"");
        let long = "x".repeat(100);
        assert_eq!(quote(&long), format!("\"{}\"...", "x".repeat(64)));
        let long_wide = "é".repeat(65);
        assert_eq!(quote(&long_wide), format!("\"{}\"...", "é".repeat(64)));
    }
}
