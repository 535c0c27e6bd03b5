//! W3C Trace Context in request headers: parsing `traceparent` and
//! `tracestate`, reading the context a request came with ([`extract`]) and
//! writing the current span's into an outgoing request ([`inject`]).
//!
//! Parsing follows W3C Trace Context level 2 to the byte, never panics, and
//! rejects rather than repairs: a bad header is dropped whole and counted,
//! and its error says which part was wrong, at which byte. Request ids are
//! kept only if they cannot break a log line.

use core::fmt;
use std::sync::Arc;

use crate::context::ids::{self, ascii_str, write_hex_bytes};
use crate::context::{SpanId, TraceFlags, TraceId};

/// The length of a version `00` `traceparent` value.
pub(crate) const TRACEPARENT_LEN: usize = 55;

/// The longest request id kept, in bytes; longer ones are cut at the last
/// character boundary at or before it.
pub const MAX_REQUEST_ID_LEN: usize = 256;

/// The most bytes of a bad value an error quotes.
const SNIPPET_CAP: usize = 40;

/// A parsed `traceparent` header: which trace a request belongs to and
/// which span sent it.
///
/// # Examples
///
/// ```
/// use dynlog::propagation::TraceParent;
///
/// let tp = TraceParent::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")?;
/// assert_eq!(tp.trace_id().to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
/// assert_eq!(tp.parent_id().to_string(), "00f067aa0ba902b7");
/// assert!(tp.is_sampled());
/// # Ok::<(), dynlog::propagation::TraceParentError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceParent {
    version: u8,
    trace_id: TraceId,
    parent_id: SpanId,
    flags: TraceFlags,
}

impl TraceParent {
    /// A version `00` traceparent from its parts.
    pub fn new(trace_id: TraceId, parent_id: SpanId, flags: TraceFlags) -> TraceParent {
        TraceParent {
            version: 0,
            trace_id,
            parent_id,
            flags,
        }
    }

    /// Parses a `traceparent` header value, strictly (W3C Trace Context
    /// level 2).
    ///
    /// Spaces and tabs around the value are ignored. The version is two
    /// lowercase hex digits other than `ff`; the trace id (32), parent id
    /// (16) and flags (2) are lowercase hex, separated by `-`, and neither
    /// id may be all zero. Version `00` ends after the flags; a higher
    /// version may go on after another `-`, and that rest is ignored.
    /// Flag bits other than `sampled` and `random-trace-id` are dropped.
    ///
    /// A header map that joins repeated headers with `,` makes the value
    /// invalid, which is what W3C asks for two `traceparent` headers.
    ///
    /// # Errors
    ///
    /// [`TraceParentError`] names the wrong part and its byte offset in
    /// `input`, e.g. `invalid traceparent: trace id at byte 3: expected 32
    /// lowercase hex digits, found "4BF92F3577B34DA6A3CE929D0E0E4736"`.
    ///
    /// # Examples
    ///
    /// ```
    /// use dynlog::propagation::TraceParent;
    ///
    /// let future = "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-more";
    /// let tp = TraceParent::parse(future).unwrap();
    /// assert_eq!(tp.version(), 0xcc);
    /// assert_eq!(tp.to_string(), "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
    ///
    /// let err = TraceParent::parse("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
    ///     .unwrap_err();
    /// assert_eq!(
    ///     err.to_string(),
    ///     r#"invalid traceparent: version at byte 0: expected a version other than ff, found "ff""#
    /// );
    /// ```
    pub fn parse(input: &str) -> Result<TraceParent, TraceParentError> {
        let mut fields = Fields::new(input);

        let (at, text) = fields.next_field();
        if text.len() != 2 || !ids::is_lower_hex(text) {
            return Err(fields.error(TraceParentPart::Version, at, "2 lowercase hex digits"));
        }
        if text == b"ff" {
            return Err(fields.error(TraceParentPart::Version, at, "a version other than ff"));
        }
        let version = hex_byte(text);

        fields.separator("\"-\" before the trace id")?;
        let (at, text) = fields.next_field();
        if text.len() != 32 || !ids::is_lower_hex(text) {
            return Err(fields.error(TraceParentPart::TraceId, at, "32 lowercase hex digits"));
        }
        let Some(trace_id) = TraceId::from_hex(ascii_str(text)) else {
            return Err(fields.error(
                TraceParentPart::TraceId,
                at,
                "a trace id that is not all zero",
            ));
        };

        fields.separator("\"-\" before the parent id")?;
        let (at, text) = fields.next_field();
        if text.len() != 16 || !ids::is_lower_hex(text) {
            return Err(fields.error(TraceParentPart::ParentId, at, "16 lowercase hex digits"));
        }
        let Some(parent_id) = SpanId::from_hex(ascii_str(text)) else {
            return Err(fields.error(
                TraceParentPart::ParentId,
                at,
                "a parent id that is not all zero",
            ));
        };

        fields.separator("\"-\" before the flags")?;
        let (at, text) = fields.next_field();
        if text.len() != 2 || !ids::is_lower_hex(text) {
            return Err(fields.error(TraceParentPart::Flags, at, "2 lowercase hex digits"));
        }
        let flags = TraceFlags::from_bits(hex_byte(text));

        // Only a `-` can follow the flags here; it starts fields of a
        // later version, which version 00 does not have.
        if version == 0 && !fields.is_at_end() {
            let at = fields.pos;
            fields.pos = fields.end;
            return Err(fields.error(
                TraceParentPart::TrailingData,
                at,
                "end of input after the flags of version 00",
            ));
        }

        Ok(TraceParent {
            version,
            trace_id,
            parent_id,
            flags,
        })
    }

    /// The version the header had; [`Display`](fmt::Display) always
    /// writes `00`.
    pub fn version(&self) -> u8 {
        self.version
    }

    /// The trace the request belongs to.
    pub fn trace_id(&self) -> TraceId {
        self.trace_id
    }

    /// The caller's span: the remote parent of the span serving the
    /// request.
    pub fn parent_id(&self) -> SpanId {
        self.parent_id
    }

    /// The flags, with unknown bits cleared.
    pub fn flags(&self) -> TraceFlags {
        self.flags
    }

    /// Whether the caller sampled the trace.
    pub fn is_sampled(&self) -> bool {
        self.flags.is_sampled()
    }
}

impl fmt::Display for TraceParent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = [0u8; TRACEPARENT_LEN];
        f.pad(write_traceparent(
            self.trace_id,
            self.parent_id,
            self.flags,
            &mut out,
        ))
    }
}

/// Writes `00-{trace_id}-{span_id}-{flags:02x}` into `out` and returns it
/// as text. Does not allocate.
pub(crate) fn write_traceparent(
    trace_id: TraceId,
    span_id: SpanId,
    flags: TraceFlags,
    out: &mut [u8; TRACEPARENT_LEN],
) -> &str {
    out[0..3].copy_from_slice(b"00-");
    write_hex_bytes(&trace_id.to_bytes(), &mut out[3..35]);
    out[35] = b'-';
    write_hex_bytes(&span_id.to_bytes(), &mut out[36..52]);
    out[52] = b'-';
    write_hex_bytes(&[flags.bits()], &mut out[53..55]);
    ascii_str(out)
}

/// The part of a `traceparent` value that was wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TraceParentPart {
    /// The two-digit version, or `ff`.
    Version,
    /// The 32-digit trace id.
    TraceId,
    /// The 16-digit parent id.
    ParentId,
    /// The two-digit flags.
    Flags,
    /// A `-` between two parts, missing because the value ended.
    Separator,
    /// Anything after the flags of version `00`.
    TrailingData,
}

impl fmt::Display for TraceParentPart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TraceParentPart::Version => "version",
            TraceParentPart::TraceId => "trace id",
            TraceParentPart::ParentId => "parent id",
            TraceParentPart::Flags => "flags",
            TraceParentPart::Separator => "separator",
            TraceParentPart::TrailingData => "trailing data",
        })
    }
}

/// Why a `traceparent` value was rejected: the part, its byte offset in
/// the input, what was expected there and what was found (quoted, cut
/// after 40 bytes).
///
/// Displays as one lowercase line, e.g. `invalid traceparent: separator at
/// byte 35: expected "-" before the parent id, found end of input`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceParentError {
    part: TraceParentPart,
    offset: usize,
    expected: &'static str,
    found: Found,
}

impl TraceParentError {
    /// The part that was wrong.
    pub fn part(&self) -> TraceParentPart {
        self.part
    }

    /// Where the wrong part starts, in bytes from the start of the input
    /// (before trimming).
    pub fn offset(&self) -> usize {
        self.offset
    }
}

impl fmt::Display for TraceParentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid traceparent: {} at byte {}: expected {}, found {}",
            self.part, self.offset, self.expected, self.found
        )
    }
}

impl std::error::Error for TraceParentError {}

/// A validated W3C `tracestate`: vendor key/value pairs, at most 32.
///
/// Cloning it does not allocate.
///
/// # Examples
///
/// ```
/// use dynlog::propagation::TraceState;
///
/// let state = TraceState::parse("congo=t61rcWkgMzE ,, rojo=00f067aa0ba902b7")?;
/// assert_eq!(state.as_str(), "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7");
/// assert_eq!(state.len(), 2);
/// # Ok::<(), dynlog::propagation::TraceStateError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceState {
    /// The members joined by `,`, without spaces.
    text: Arc<str>,
    n_members: usize,
}

impl TraceState {
    /// The most list members a tracestate may have.
    pub const MAX_MEMBERS: usize = 32;

    /// Parses a `tracestate` header value (W3C Trace Context level 2).
    ///
    /// Members are separated by `,`; spaces and tabs around them and empty
    /// members are ignored. A member is `key=value`: the key is 1 to 256 of
    /// `a-z 0-9 _ - * / @`, starting with a letter or digit; the value is 1
    /// to 256 printable ASCII characters other than `,` and `=`, not ending
    /// in a space. Several `tracestate` headers must be joined with `,`
    /// before parsing, in the order they came.
    ///
    /// # Errors
    ///
    /// [`TraceStateError`] for a malformed member, key or value, a key
    /// used twice or more than 32 members: the whole tracestate is invalid.
    ///
    /// # Examples
    ///
    /// ```
    /// use dynlog::propagation::TraceState;
    ///
    /// let err = TraceState::parse("foo=1,FOO=2").unwrap_err();
    /// assert_eq!(err.offset(), 6);
    /// assert!(TraceState::parse("").unwrap().is_empty());
    /// ```
    pub fn parse(input: &str) -> Result<TraceState, TraceStateError> {
        let bytes = input.as_bytes();

        // Find, check and remember each member as (start, `=`, end).
        let mut members = [(0usize, 0usize, 0usize); TraceState::MAX_MEMBERS];
        let mut n_members = 0;
        let mut from = 0;
        loop {
            let comma = bytes[from..]
                .iter()
                .position(|&byte| byte == b',')
                .map_or(bytes.len(), |idx| from + idx);
            let (start, end) = trim_ows(bytes, from, comma);
            if start < end {
                if n_members == TraceState::MAX_MEMBERS {
                    return Err(TraceStateError {
                        part: "member",
                        offset: start,
                        expected: "at most 32 list members",
                        found: Found::MemberNumber(n_members + 1),
                    });
                }

                let member = parse_member(input, start, end)?;
                let (_, eq, _) = member;
                let key = &bytes[start..eq];
                let is_repeat = members[..n_members]
                    .iter()
                    .any(|&(other_start, other_eq, _)| &bytes[other_start..other_eq] == key);
                if is_repeat {
                    return Err(TraceStateError {
                        part: "key",
                        offset: start,
                        expected: "a key not used before",
                        found: Found::text(input, start, eq),
                    });
                }

                members[n_members] = member;
                n_members += 1;
            }
            if comma == bytes.len() {
                break;
            }
            from = comma + 1;
        }

        // Join them, canonically.
        let members = &members[..n_members];
        let n_bytes = members
            .iter()
            .map(|&(start, _, end)| end - start)
            .sum::<usize>()
            + n_members.saturating_sub(1);
        let mut text = String::with_capacity(n_bytes);
        for (idx, &(start, _, end)) in members.iter().enumerate() {
            if idx > 0 {
                text.push(',');
            }
            text.push_str(input.get(start..end).unwrap_or(""));
        }
        Ok(TraceState {
            text: Arc::from(text),
            n_members,
        })
    }

    /// The members joined by `,`, without spaces: the form to send on.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The number of list members.
    pub fn len(&self) -> usize {
        self.n_members
    }

    /// Whether there are no list members.
    pub fn is_empty(&self) -> bool {
        self.n_members == 0
    }
}

impl fmt::Display for TraceState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&self.text)
    }
}

/// Checks one trimmed, non-empty member `input[start..end]` and returns
/// (start, position of `=`, end).
fn parse_member(
    input: &str,
    start: usize,
    end: usize,
) -> Result<(usize, usize, usize), TraceStateError> {
    let bytes = input.as_bytes();
    let Some(eq) = bytes[start..end]
        .iter()
        .position(|&byte| byte == b'=')
        .map(|idx| start + idx)
    else {
        return Err(TraceStateError {
            part: "member",
            offset: start,
            expected: "key=value",
            found: Found::text(input, start, end),
        });
    };

    if !is_tracestate_key(&bytes[start..eq]) {
        return Err(TraceStateError {
            part: "key",
            offset: start,
            expected: "1 to 256 of a-z 0-9 _ - * / @, starting with a letter or digit",
            found: Found::text(input, start, eq),
        });
    }
    if !is_tracestate_value(&bytes[eq + 1..end]) {
        return Err(TraceStateError {
            part: "value",
            offset: eq + 1,
            expected: "1 to 256 printable ascii characters other than \",\" and \"=\", \
                       not ending in a space",
            found: Found::text(input, eq + 1, end),
        });
    }
    Ok((start, eq, end))
}

/// Whether `key` is a tracestate key (level 2 grammar).
fn is_tracestate_key(key: &[u8]) -> bool {
    let Some((&first, rest)) = key.split_first() else {
        return false;
    };
    key.len() <= 256
        && matches!(first, b'a'..=b'z' | b'0'..=b'9')
        && rest.iter().all(
            |byte| matches!(byte, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-' | b'*' | b'/' | b'@'),
        )
}

/// Whether `value` is a tracestate value.
fn is_tracestate_value(value: &[u8]) -> bool {
    let Some(&last) = value.last() else {
        return false;
    };
    value.len() <= 256
        && last != b' '
        && value
            .iter()
            .all(|&byte| matches!(byte, b' '..=b'~') && byte != b',' && byte != b'=')
}

/// Why a `tracestate` value was rejected: the member, key or value that
/// was wrong, its byte offset in the input, what was expected and what was
/// found.
///
/// Displays as one lowercase line, e.g. `invalid tracestate: key at byte
/// 6: expected a key not used before, found "foo"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceStateError {
    part: &'static str,
    offset: usize,
    expected: &'static str,
    found: Found,
}

impl TraceStateError {
    /// Where the wrong member, key or value starts, in bytes from the start
    /// of the input.
    pub fn offset(&self) -> usize {
        self.offset
    }
}

impl fmt::Display for TraceStateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid tracestate: {} at byte {}: expected {}, found {}",
            self.part, self.offset, self.expected, self.found
        )
    }
}

impl std::error::Error for TraceStateError {}

/// The trace context a request came with, as [`extract`] read it.
///
/// Every header that was present, not blank and not kept adds one to
/// `invalid`, so the caller can count bad headers.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Incoming {
    /// The caller's trace and span, if it sent a valid `traceparent`.
    pub traceparent: Option<TraceParent>,
    /// The vendor state, kept only with a valid `traceparent` and only if
    /// it is valid and has members.
    pub tracestate: Option<TraceState>,
    /// The `x-request-id` header, trimmed and cut to
    /// [`MAX_REQUEST_ID_LEN`] bytes.
    pub x_request_id: Option<String>,
    /// The `request-id` header, trimmed and cut to [`MAX_REQUEST_ID_LEN`]
    /// bytes.
    pub request_id: Option<String>,
    /// How many headers were present but rejected.
    pub invalid: u32,
}

impl Incoming {
    /// Whether nothing was kept (the `invalid` count aside).
    pub fn is_empty(&self) -> bool {
        self.traceparent.is_none()
            && self.tracestate.is_none()
            && self.x_request_id.is_none()
            && self.request_id.is_none()
    }
}

/// Reads the incoming trace context from request headers.
///
/// `get` looks a header up by its lowercase name (`traceparent`,
/// `tracestate`, `x-request-id`, `request-id`) and gives its value; join
/// repeated `tracestate` headers with `,` first. A blank value counts as
/// absent. A `tracestate` is read only after a valid `traceparent`.
/// Request ids are trimmed of spaces and tabs and cut to
/// [`MAX_REQUEST_ID_LEN`] bytes; one holding a control character (such as
/// a newline) is rejected, so a header cannot forge a log line.
///
/// With `http::HeaderMap`, pass
/// `|name| headers.get(name).and_then(|value| value.to_str().ok())`.
///
/// # Examples
///
/// ```
/// use std::collections::HashMap;
/// use dynlog::propagation::extract;
///
/// let headers = HashMap::from([
///     ("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
///     ("x-request-id", " abc-123 "),
///     ("request-id", "bad\nline"),
/// ]);
/// let incoming = extract(|name| headers.get(name).copied());
/// assert_eq!(
///     incoming.traceparent.unwrap().trace_id().to_string(),
///     "4bf92f3577b34da6a3ce929d0e0e4736"
/// );
/// assert_eq!(incoming.x_request_id.as_deref(), Some("abc-123"));
/// assert_eq!(incoming.request_id, None);
/// assert_eq!(incoming.invalid, 1);
/// ```
pub fn extract<'a>(get: impl Fn(&str) -> Option<&'a str>) -> Incoming {
    let mut incoming = Incoming::default();
    let present = |name: &str| get(name).filter(|value| !is_blank(value));

    if let Some(value) = present("traceparent") {
        match TraceParent::parse(value) {
            Ok(traceparent) => incoming.traceparent = Some(traceparent),
            Err(_) => incoming.invalid += 1,
        }
    }

    if let Some(value) = present("tracestate") {
        let parsed = match incoming.traceparent {
            Some(_) => TraceState::parse(value).ok(),
            None => None,
        };
        match parsed {
            Some(tracestate) if !tracestate.is_empty() => incoming.tracestate = Some(tracestate),
            Some(_) => {}
            None => incoming.invalid += 1,
        }
    }

    for (name, slot) in [
        ("x-request-id", &mut incoming.x_request_id),
        ("request-id", &mut incoming.request_id),
    ] {
        match check_request_id(get(name).unwrap_or("")) {
            RequestId::Absent => {}
            RequestId::Valid(value) => *slot = Some(value.to_owned()),
            RequestId::Invalid => incoming.invalid += 1,
        }
    }

    incoming
}

/// Calls `set(name, value)` with the current span's context, for an
/// outgoing request: `traceparent`, then `tracestate`, `x-request-id` and
/// `request-id` when the span has them. Names are lowercase. Does nothing
/// outside a span.
///
/// # Examples
///
/// ```
/// let mut headers = Vec::new();
/// dynlog::propagation::inject(|name, value| {
///     headers.push((name.to_owned(), value.to_owned()));
/// });
/// ```
pub fn inject(set: impl FnMut(&str, &str)) {
    if let Some(cx) = crate::current_context() {
        cx.inject_into(set)
    }
}

/// What [`check_request_id`] made of a request id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RequestId<'a> {
    /// Blank: treat as not given.
    Absent,
    /// Trimmed, cut to [`MAX_REQUEST_ID_LEN`] bytes and free of control
    /// characters.
    Valid(&'a str),
    /// Holds a control character: ignore it and count it.
    Invalid,
}

/// Checks a request id from a header or a span field: trims spaces and
/// tabs, rejects any control character (checked over the whole value, not
/// only the part kept), and cuts it to [`MAX_REQUEST_ID_LEN`] bytes at a
/// character boundary. Does not allocate.
pub(crate) fn check_request_id(value: &str) -> RequestId<'_> {
    let value = value.trim_matches([' ', '\t']);
    if value.is_empty() {
        return RequestId::Absent;
    }
    if value.chars().any(char::is_control) {
        return RequestId::Invalid;
    }
    RequestId::Valid(cut_at_char_boundary(value, MAX_REQUEST_ID_LEN))
}

/// The longest prefix of `text` of at most `max` bytes that ends on a
/// character boundary.
fn cut_at_char_boundary(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut len = max;
    while !text.is_char_boundary(len) {
        len -= 1;
    }
    text.get(..len).unwrap_or("")
}

/// Whether `byte` is optional whitespace (a space or a tab).
fn is_ows(byte: u8) -> bool {
    byte == b' ' || byte == b'\t'
}

/// Whether `value` is empty or only spaces and tabs.
fn is_blank(value: &str) -> bool {
    value.bytes().all(is_ows)
}

/// `bytes[from..to]` without spaces and tabs at either end, as a range.
fn trim_ows(bytes: &[u8], from: usize, to: usize) -> (usize, usize) {
    let mut start = from;
    let mut end = to;
    while start < end && is_ows(bytes[start]) {
        start += 1;
    }
    while end > start && is_ows(bytes[end - 1]) {
        end -= 1;
    }
    (start, end)
}

/// The value of two lowercase hex digits, already checked.
fn hex_byte(text: &[u8]) -> u8 {
    text.iter().fold(0, |value, &byte| {
        let digit = match byte {
            b'0'..=b'9' => byte - b'0',
            _ => byte.wrapping_sub(b'a').wrapping_add(10),
        };
        (value << 4) | (digit & 0x0f)
    })
}

/// A cursor over the `-`-separated fields of a trimmed `traceparent`.
///
/// Positions are byte offsets into the untrimmed input; `pos <= end`
/// always holds, and both are on character boundaries because fields end
/// at a `-` or at the trimmed end.
struct Fields<'a> {
    input: &'a str,
    pos: usize,
    end: usize,
}

impl<'a> Fields<'a> {
    /// A cursor over `input` without its surrounding spaces and tabs.
    fn new(input: &'a str) -> Fields<'a> {
        let (pos, end) = trim_ows(input.as_bytes(), 0, input.len());
        Fields { input, pos, end }
    }

    /// The next field: its offset and its bytes, up to the next `-` or the
    /// end. Leaves the cursor on that `-` or at the end.
    fn next_field(&mut self) -> (usize, &'a [u8]) {
        let start = self.pos;
        let rest = &self.input.as_bytes()[start..self.end];
        let len = rest
            .iter()
            .position(|&byte| byte == b'-')
            .unwrap_or(rest.len());
        self.pos = start + len;
        (start, &rest[..len])
    }

    /// Steps over the `-` the cursor is on, or fails at the end.
    fn separator(&mut self, expected: &'static str) -> Result<(), TraceParentError> {
        if self.is_at_end() {
            return Err(TraceParentError {
                part: TraceParentPart::Separator,
                offset: self.pos,
                expected,
                found: Found::End,
            });
        }
        self.pos += 1;
        Ok(())
    }

    fn is_at_end(&self) -> bool {
        self.pos >= self.end
    }

    /// An error for the field from `at` to the cursor.
    fn error(&self, part: TraceParentPart, at: usize, expected: &'static str) -> TraceParentError {
        let found = if at >= self.end {
            Found::End
        } else {
            Found::text(self.input, at, self.pos)
        };
        TraceParentError {
            part,
            offset: at,
            expected,
            found,
        }
    }
}

/// What a parser found where it expected something else.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Found {
    /// The input ended.
    End,
    /// This text (quoted when displayed).
    Text(Snippet),
    /// One list member too many.
    MemberNumber(usize),
}

impl Found {
    /// `input[start..end]`, quoted; the range must be on char boundaries.
    fn text(input: &str, start: usize, end: usize) -> Found {
        Found::Text(Snippet::new(input.get(start..end).unwrap_or("")))
    }
}

impl fmt::Display for Found {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Found::End => f.write_str("end of input"),
            Found::Text(snippet) => snippet.fmt(f),
            Found::MemberNumber(n) => write!(f, "member {n}"),
        }
    }
}

/// The first bytes of a bad value (at most [`SNIPPET_CAP`], cut at a
/// character boundary) and its full length, so an error can quote it
/// without borrowing or allocating.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Snippet {
    bytes: [u8; SNIPPET_CAP],
    len: usize,
    full_len: usize,
}

impl Snippet {
    fn new(text: &str) -> Snippet {
        let kept = cut_at_char_boundary(text, SNIPPET_CAP);
        let mut bytes = [0u8; SNIPPET_CAP];
        bytes[..kept.len()].copy_from_slice(kept.as_bytes());
        Snippet {
            bytes,
            len: kept.len(),
            full_len: text.len(),
        }
    }
}

impl fmt::Display for Snippet {
    /// Quotes the text with Rust's escapes, so control characters show as
    /// `\n` or `\u{1}`, then says how long the whole value was if it was
    /// cut: `"abc"... (300 bytes)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = core::str::from_utf8(&self.bytes[..self.len]).unwrap_or("");
        write!(f, "{text:?}")?;
        if self.full_len > self.len {
            write!(f, "... ({} bytes)", self.full_len)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
    const PARENT: &str = "00f067aa0ba902b7";
    const VALID: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    /// `VALID` with `from` replaced by `to`.
    fn valid_with(from: &str, to: &str) -> String {
        VALID.replacen(from, to, 1)
    }

    #[test]
    fn traceparent_table() {
        let zero_trace = "0".repeat(32);
        let zero_parent = "0".repeat(16);
        let upper_trace = TRACE.to_uppercase();
        let upper_parent = PARENT.to_uppercase();
        let canonical = |flags: &str| format!("00-{TRACE}-{PARENT}-{flags}");

        let cases: Vec<(String, Result<String, &str>)> = vec![
            // Valid values, with the canonical form they print as.
            (VALID.to_owned(), Ok(canonical("01"))),
            (valid_with("-01", "-00"), Ok(canonical("00"))),
            (valid_with("-01", "-ff"), Ok(canonical("03"))),
            (valid_with("-01", "-02"), Ok(canonical("02"))),
            (valid_with("-01", "-09"), Ok(canonical("01"))),
            (format!(" \t{VALID}\t "), Ok(canonical("01"))),
            (format!("01-{TRACE}-{PARENT}-01-extra"), Ok(canonical("01"))),
            (format!("cc-{TRACE}-{PARENT}-01"), Ok(canonical("01"))),
            (
                format!("cc-{TRACE}-{PARENT}-01-what-the-future-will-be-like"),
                Ok(canonical("01")),
            ),
            (format!("fe-{TRACE}-{PARENT}-00-"), Ok(canonical("00"))),
            // Version.
            (
                valid_with("00-", "ff-"),
                Err(r#"invalid traceparent: version at byte 0: expected a version other than ff, found "ff""#),
            ),
            (
                valid_with("00-", "0-"),
                Err(r#"invalid traceparent: version at byte 0: expected 2 lowercase hex digits, found "0""#),
            ),
            (
                valid_with("00-", "000-"),
                Err(r#"invalid traceparent: version at byte 0: expected 2 lowercase hex digits, found "000""#),
            ),
            (
                valid_with("00-", "0000-"),
                Err(r#"invalid traceparent: version at byte 0: expected 2 lowercase hex digits, found "0000""#),
            ),
            (
                valid_with("00-", "A0-"),
                Err(r#"invalid traceparent: version at byte 0: expected 2 lowercase hex digits, found "A0""#),
            ),
            (
                valid_with("00-", "0\u{1}-"),
                Err(r#"invalid traceparent: version at byte 0: expected 2 lowercase hex digits, found "0\u{1}""#),
            ),
            (
                VALID.replace('-', "_"),
                Err(r#"invalid traceparent: version at byte 0: expected 2 lowercase hex digits, found "00_4bf92f3577b34da6a3ce929d0e0e4736_00f0"... (55 bytes)"#),
            ),
            (
                String::new(),
                Err("invalid traceparent: version at byte 0: expected 2 lowercase hex digits, found end of input"),
            ),
            (
                " \t ".to_owned(),
                Err("invalid traceparent: version at byte 3: expected 2 lowercase hex digits, found end of input"),
            ),
            // Trace id.
            (
                valid_with(TRACE, &upper_trace),
                Err(r#"invalid traceparent: trace id at byte 3: expected 32 lowercase hex digits, found "4BF92F3577B34DA6A3CE929D0E0E4736""#),
            ),
            (
                format!("  {}", valid_with(TRACE, &upper_trace)),
                Err(r#"invalid traceparent: trace id at byte 5: expected 32 lowercase hex digits, found "4BF92F3577B34DA6A3CE929D0E0E4736""#),
            ),
            (
                valid_with(TRACE, &zero_trace),
                Err(r#"invalid traceparent: trace id at byte 3: expected a trace id that is not all zero, found "00000000000000000000000000000000""#),
            ),
            (
                valid_with(TRACE, &TRACE[1..]),
                Err(r#"invalid traceparent: trace id at byte 3: expected 32 lowercase hex digits, found "bf92f3577b34da6a3ce929d0e0e4736""#),
            ),
            (
                valid_with(TRACE, &format!("{TRACE}0")),
                Err(r#"invalid traceparent: trace id at byte 3: expected 32 lowercase hex digits, found "4bf92f3577b34da6a3ce929d0e0e47360""#),
            ),
            (
                valid_with(TRACE, "4bf92f3577b34da6a3ce929d0e0e47.6"),
                Err(r#"invalid traceparent: trace id at byte 3: expected 32 lowercase hex digits, found "4bf92f3577b34da6a3ce929d0e0e47.6""#),
            ),
            (
                valid_with(TRACE, ""),
                Err(r#"invalid traceparent: trace id at byte 3: expected 32 lowercase hex digits, found """#),
            ),
            // Parent id.
            (
                valid_with(PARENT, &upper_parent),
                Err(r#"invalid traceparent: parent id at byte 36: expected 16 lowercase hex digits, found "00F067AA0BA902B7""#),
            ),
            (
                valid_with(PARENT, &zero_parent),
                Err(r#"invalid traceparent: parent id at byte 36: expected a parent id that is not all zero, found "0000000000000000""#),
            ),
            (
                valid_with(PARENT, &PARENT[1..]),
                Err(r#"invalid traceparent: parent id at byte 36: expected 16 lowercase hex digits, found "0f067aa0ba902b7""#),
            ),
            (
                valid_with(PARENT, &format!("{PARENT}0")),
                Err(r#"invalid traceparent: parent id at byte 36: expected 16 lowercase hex digits, found "00f067aa0ba902b70""#),
            ),
            (
                valid_with(PARENT, "00f067aa0ba902g7"),
                Err(r#"invalid traceparent: parent id at byte 36: expected 16 lowercase hex digits, found "00f067aa0ba902g7""#),
            ),
            // Flags.
            (
                valid_with("-01", "-1"),
                Err(r#"invalid traceparent: flags at byte 53: expected 2 lowercase hex digits, found "1""#),
            ),
            (
                valid_with("-01", "-001"),
                Err(r#"invalid traceparent: flags at byte 53: expected 2 lowercase hex digits, found "001""#),
            ),
            (
                valid_with("-01", "-0A"),
                Err(r#"invalid traceparent: flags at byte 53: expected 2 lowercase hex digits, found "0A""#),
            ),
            (
                format!("{VALID}."),
                Err(r#"invalid traceparent: flags at byte 53: expected 2 lowercase hex digits, found "01.""#),
            ),
            (
                format!("{VALID} x"),
                Err(r#"invalid traceparent: flags at byte 53: expected 2 lowercase hex digits, found "01 x""#),
            ),
            (
                format!("cc-{TRACE}-{PARENT}-01.what-the-future-will-be-like"),
                Err(r#"invalid traceparent: flags at byte 53: expected 2 lowercase hex digits, found "01.what""#),
            ),
            (
                format!("{VALID},{VALID}"),
                Err(r#"invalid traceparent: flags at byte 53: expected 2 lowercase hex digits, found "01,00""#),
            ),
            // Separators and missing parts.
            (
                "00".to_owned(),
                Err(r#"invalid traceparent: separator at byte 2: expected "-" before the trace id, found end of input"#),
            ),
            (
                format!("00-{TRACE}"),
                Err(r#"invalid traceparent: separator at byte 35: expected "-" before the parent id, found end of input"#),
            ),
            (
                format!("00-{TRACE}-{PARENT}"),
                Err(r#"invalid traceparent: separator at byte 52: expected "-" before the flags, found end of input"#),
            ),
            (
                format!("00-{TRACE}-{PARENT}-"),
                Err("invalid traceparent: flags at byte 53: expected 2 lowercase hex digits, found end of input"),
            ),
            // Version 00 ends after the flags.
            (
                format!("{VALID}-extra"),
                Err(r#"invalid traceparent: trailing data at byte 55: expected end of input after the flags of version 00, found "-extra""#),
            ),
            (
                format!("{VALID}-"),
                Err(r#"invalid traceparent: trailing data at byte 55: expected end of input after the flags of version 00, found "-""#),
            ),
        ];

        for (input, expected) in cases {
            let got = TraceParent::parse(&input)
                .map(|tp| tp.to_string())
                .map_err(|err| err.to_string());
            assert_eq!(got, expected.map_err(str::to_owned), "input {input:?}");
        }
    }

    #[test]
    fn traceparent_accessors_and_round_trip() {
        let tp = TraceParent::parse(&format!("cc-{TRACE}-{PARENT}-03-x")).unwrap();
        assert_eq!(tp.version(), 0xcc);
        assert_eq!(tp.trace_id().to_string(), TRACE);
        assert_eq!(tp.parent_id().to_string(), PARENT);
        assert_eq!(tp.flags().bits(), 0x03);
        assert!(tp.is_sampled());

        let again = TraceParent::parse(&tp.to_string()).unwrap();
        assert_eq!(again.version(), 0);
        assert_eq!(again.to_string(), tp.to_string());
        assert_eq!(
            again,
            TraceParent::new(tp.trace_id(), tp.parent_id(), tp.flags())
        );

        let unsampled = TraceParent::parse(&valid_with("-01", "-00")).unwrap();
        assert!(!unsampled.is_sampled());
        assert_eq!(format!("{unsampled}").len(), TRACEPARENT_LEN);
    }

    #[test]
    fn traceparent_error_parts_and_offsets() {
        let cases: Vec<(String, TraceParentPart, usize)> = vec![
            (valid_with("00-", "ff-"), TraceParentPart::Version, 0),
            (
                format!(" {}", valid_with(TRACE, "x")),
                TraceParentPart::TraceId,
                4,
            ),
            (valid_with(PARENT, "x"), TraceParentPart::ParentId, 36),
            (valid_with("-01", "-x"), TraceParentPart::Flags, 53),
            ("00".to_owned(), TraceParentPart::Separator, 2),
            (format!("{VALID}-x"), TraceParentPart::TrailingData, 55),
        ];
        for (input, part, offset) in cases {
            let err = TraceParent::parse(&input).unwrap_err();
            assert_eq!(
                (err.part(), err.offset()),
                (part, offset),
                "input {input:?}"
            );
        }
    }

    #[test]
    fn long_bad_values_are_quoted_in_part() {
        let input = format!("00-{}-{PARENT}-01", "é".repeat(100));
        assert_eq!(
            TraceParent::parse(&input).unwrap_err().to_string(),
            r#"invalid traceparent: trace id at byte 3: expected 32 lowercase hex digits, found "éééééééééééééééééééé"... (200 bytes)"#
        );

        let input = format!("00-{}a-{PARENT}-01", "é".repeat(100));
        assert_eq!(
            TraceParent::parse(&input).unwrap_err().to_string(),
            r#"invalid traceparent: trace id at byte 3: expected 32 lowercase hex digits, found "éééééééééééééééééééé"... (201 bytes)"#
        );
    }

    #[test]
    fn tracestate_table() {
        let thirty_two = (0..32)
            .map(|idx| format!("k{idx}=v"))
            .collect::<Vec<_>>()
            .join(",");
        let thirty_three = format!("{thirty_two},k32=v");
        let long_key = format!("{}=v", "k".repeat(256));
        let too_long_key = format!("{}=v", "k".repeat(257));
        let long_value = format!("k={}", "v".repeat(256));
        let too_long_value = format!("k={}", "v".repeat(257));
        let all_value_chars: String = (b' '..=b'~')
            .filter(|&byte| byte != b',' && byte != b'=')
            .map(char::from)
            .collect();
        let all_chars = format!("abc_-*/@z09={all_value_chars}");

        // The canonical text and member count, or the error message.
        type Outcome<'a> = Result<(&'a str, usize), &'a str>;
        let cases: Vec<(String, Outcome<'_>)> = vec![
            ("".to_owned(), Ok(("", 0))),
            (" \t ".to_owned(), Ok(("", 0))),
            (",,  , ,".to_owned(), Ok(("", 0))),
            ("foo=1".to_owned(), Ok(("foo=1", 1))),
            (" foo=1 ,\tbar=2\t".to_owned(), Ok(("foo=1,bar=2", 2))),
            (",foo=1,,bar=2,".to_owned(), Ok(("foo=1,bar=2", 2))),
            ("foo= 1".to_owned(), Ok(("foo= 1", 1))),
            ("a@b=1,tenant@system=2".to_owned(), Ok(("a@b=1,tenant@system=2", 2))),
            ("foo@@bar=1,a@b@c=2".to_owned(), Ok(("foo@@bar=1,a@b@c=2", 2))),
            ("0abc=1".to_owned(), Ok(("0abc=1", 1))),
            (
                "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE".to_owned(),
                Ok(("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE", 2)),
            ),
            (all_chars.clone(), Ok((all_chars.as_str(), 1))),
            (long_key.clone(), Ok((long_key.as_str(), 1))),
            (long_value.clone(), Ok((long_value.as_str(), 1))),
            (thirty_two.clone(), Ok((thirty_two.as_str(), 32))),
            (format!("{thirty_two}, ,"), Ok((thirty_two.as_str(), 32))),
            (
                thirty_three.clone(),
                Err("invalid tracestate: member at byte 182: expected at most 32 list members, found member 33"),
            ),
            (
                "foo".to_owned(),
                Err(r#"invalid tracestate: member at byte 0: expected key=value, found "foo""#),
            ),
            (
                "foo=1, bar".to_owned(),
                Err(r#"invalid tracestate: member at byte 7: expected key=value, found "bar""#),
            ),
            (
                "FOO=1".to_owned(),
                Err(r#"invalid tracestate: key at byte 0: expected 1 to 256 of a-z 0-9 _ - * / @, starting with a letter or digit, found "FOO""#),
            ),
            (
                "foo =1".to_owned(),
                Err(r#"invalid tracestate: key at byte 0: expected 1 to 256 of a-z 0-9 _ - * / @, starting with a letter or digit, found "foo ""#),
            ),
            (
                "foo.bar=1".to_owned(),
                Err(r#"invalid tracestate: key at byte 0: expected 1 to 256 of a-z 0-9 _ - * / @, starting with a letter or digit, found "foo.bar""#),
            ),
            (
                "@foo=1".to_owned(),
                Err(r#"invalid tracestate: key at byte 0: expected 1 to 256 of a-z 0-9 _ - * / @, starting with a letter or digit, found "@foo""#),
            ),
            (
                "_foo=1".to_owned(),
                Err(r#"invalid tracestate: key at byte 0: expected 1 to 256 of a-z 0-9 _ - * / @, starting with a letter or digit, found "_foo""#),
            ),
            (
                "=1".to_owned(),
                Err(r#"invalid tracestate: key at byte 0: expected 1 to 256 of a-z 0-9 _ - * / @, starting with a letter or digit, found """#),
            ),
            (
                too_long_key,
                Err(r#"invalid tracestate: key at byte 0: expected 1 to 256 of a-z 0-9 _ - * / @, starting with a letter or digit, found "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk"... (257 bytes)"#),
            ),
            (
                "foo=".to_owned(),
                Err(r#"invalid tracestate: value at byte 4: expected 1 to 256 printable ascii characters other than "," and "=", not ending in a space, found """#),
            ),
            (
                "foo=1=2".to_owned(),
                Err(r#"invalid tracestate: value at byte 4: expected 1 to 256 printable ascii characters other than "," and "=", not ending in a space, found "1=2""#),
            ),
            (
                "foo=\t1".to_owned(),
                Err(r#"invalid tracestate: value at byte 4: expected 1 to 256 printable ascii characters other than "," and "=", not ending in a space, found "\t1""#),
            ),
            (
                "foo=é".to_owned(),
                Err(r#"invalid tracestate: value at byte 4: expected 1 to 256 printable ascii characters other than "," and "=", not ending in a space, found "é""#),
            ),
            (
                "foo=a\u{7f}".to_owned(),
                Err(r#"invalid tracestate: value at byte 4: expected 1 to 256 printable ascii characters other than "," and "=", not ending in a space, found "a\u{7f}""#),
            ),
            (
                too_long_value,
                Err(r#"invalid tracestate: value at byte 2: expected 1 to 256 printable ascii characters other than "," and "=", not ending in a space, found "vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv"... (257 bytes)"#),
            ),
            (
                "foo=1,bar=2,foo=3".to_owned(),
                Err(r#"invalid tracestate: key at byte 12: expected a key not used before, found "foo""#),
            ),
        ];

        for (input, expected) in cases {
            let got = TraceState::parse(&input)
                .map(|state| (state.as_str().to_owned(), state.len()))
                .map_err(|err| err.to_string());
            let expected = expected
                .map(|(text, len)| (text.to_owned(), len))
                .map_err(str::to_owned);
            assert_eq!(got, expected, "input {input:?}");
        }
    }

    #[test]
    fn tracestate_display_and_empty() {
        let state = TraceState::parse("a=1 , b=2").unwrap();
        assert_eq!(state.to_string(), "a=1,b=2");
        assert!(!state.is_empty());
        assert!(TraceState::parse(" , ").unwrap().is_empty());
        assert_eq!(TraceState::parse("a=1,a=2").unwrap_err().offset(), 4);
    }

    /// Runs `extract` over a list of headers.
    fn extract_from(headers: &[(&str, &str)]) -> Incoming {
        extract(|name| {
            headers
                .iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| *value)
        })
    }

    #[test]
    fn extract_table() {
        let traceparent = TraceParent::parse(VALID).ok();
        let tracestate = TraceState::parse("foo=1,bar=2").ok();
        let bad_traceparent = valid_with(TRACE, &TRACE.to_uppercase());
        let long_id = "é".repeat(200);
        let cut_id = "é".repeat(128);
        let long_odd_id = format!("a{}", "é".repeat(200));
        let cut_odd_id = format!("a{}", "é".repeat(127));

        let cases: Vec<(Vec<(&str, &str)>, Incoming)> = vec![
            (vec![], Incoming::default()),
            (
                vec![("traceparent", VALID)],
                Incoming {
                    traceparent,
                    ..Incoming::default()
                },
            ),
            (
                vec![("traceparent", VALID), ("tracestate", "foo=1, bar=2")],
                Incoming {
                    traceparent,
                    tracestate: tracestate.clone(),
                    ..Incoming::default()
                },
            ),
            (
                vec![("traceparent", VALID), ("tracestate", "foo=1,FOO=2")],
                Incoming {
                    traceparent,
                    invalid: 1,
                    ..Incoming::default()
                },
            ),
            (
                vec![("traceparent", VALID), ("tracestate", " , ")],
                Incoming {
                    traceparent,
                    ..Incoming::default()
                },
            ),
            (
                vec![("traceparent", VALID), ("tracestate", "")],
                Incoming {
                    traceparent,
                    ..Incoming::default()
                },
            ),
            (
                vec![("tracestate", "foo=1")],
                Incoming {
                    invalid: 1,
                    ..Incoming::default()
                },
            ),
            (
                vec![("traceparent", &bad_traceparent), ("tracestate", "foo=1")],
                Incoming {
                    invalid: 2,
                    ..Incoming::default()
                },
            ),
            (
                vec![("traceparent", &bad_traceparent)],
                Incoming {
                    invalid: 1,
                    ..Incoming::default()
                },
            ),
            (
                vec![("traceparent", " \t"), ("tracestate", "")],
                Incoming::default(),
            ),
            (
                vec![("x-request-id", " abc-123\t"), ("request-id", "req-9")],
                Incoming {
                    x_request_id: Some("abc-123".to_owned()),
                    request_id: Some("req-9".to_owned()),
                    ..Incoming::default()
                },
            ),
            (
                vec![("x-request-id", "  "), ("request-id", "")],
                Incoming::default(),
            ),
            (
                vec![
                    ("x-request-id", "abc\n{\"level\":\"ERROR\"}"),
                    ("request-id", "a\rb"),
                ],
                Incoming {
                    invalid: 2,
                    ..Incoming::default()
                },
            ),
            (
                vec![
                    ("x-request-id", "tab\tinside"),
                    ("request-id", "esc\u{1b}[31m"),
                ],
                Incoming {
                    invalid: 2,
                    ..Incoming::default()
                },
            ),
            (
                vec![("x-request-id", &long_id), ("request-id", &long_odd_id)],
                Incoming {
                    x_request_id: Some(cut_id),
                    request_id: Some(cut_odd_id),
                    ..Incoming::default()
                },
            ),
            (
                vec![
                    ("traceparent", VALID),
                    ("tracestate", "foo=1,bar=2"),
                    ("x-request-id", "x1"),
                    ("request-id", "r1"),
                ],
                Incoming {
                    traceparent,
                    tracestate,
                    x_request_id: Some("x1".to_owned()),
                    request_id: Some("r1".to_owned()),
                    invalid: 0,
                },
            ),
            (
                vec![("Traceparent", VALID), ("trace-parent", VALID)],
                Incoming::default(),
            ),
        ];

        for (headers, expected) in cases {
            assert_eq!(extract_from(&headers), expected, "headers {headers:?}");
        }
    }

    #[test]
    fn incoming_is_empty() {
        assert!(Incoming::default().is_empty());
        assert!(Incoming {
            invalid: 3,
            ..Incoming::default()
        }
        .is_empty());
        assert!(!extract_from(&[("request-id", "r")]).is_empty());
        assert!(!extract_from(&[("traceparent", VALID)]).is_empty());
    }

    #[test]
    fn check_request_id_table() {
        let exactly_max = "a".repeat(MAX_REQUEST_ID_LEN);
        let over_max = "a".repeat(MAX_REQUEST_ID_LEN + 1);
        let control_after_cut = format!("{over_max}\n");
        let cases: Vec<(&str, RequestId<'_>)> = vec![
            ("abc", RequestId::Valid("abc")),
            ("  abc  ", RequestId::Valid("abc")),
            ("\ta b\t", RequestId::Valid("a b")),
            ("ünï-cödé", RequestId::Valid("ünï-cödé")),
            ("", RequestId::Absent),
            (" \t ", RequestId::Absent),
            ("a\nb", RequestId::Invalid),
            ("a\u{0}", RequestId::Invalid),
            ("a\u{85}", RequestId::Invalid),
            ("abc\n", RequestId::Invalid),
            (&control_after_cut, RequestId::Invalid),
            (&exactly_max, RequestId::Valid(&exactly_max)),
            (&over_max, RequestId::Valid(&exactly_max)),
        ];
        for (input, expected) in cases {
            assert_eq!(check_request_id(input), expected, "input {input:?}");
        }
    }

    #[test]
    fn inject_does_nothing_outside_a_span() {
        let mut headers = Vec::new();
        inject(|name, value| headers.push((name.to_owned(), value.to_owned())));
        assert_eq!(headers, Vec::<(String, String)>::new());
    }

    #[test]
    fn write_traceparent_is_canonical() {
        let mut out = [0u8; TRACEPARENT_LEN];
        let text = write_traceparent(
            TraceId::from_u128(1).unwrap(),
            SpanId::from_u64(u64::MAX).unwrap(),
            TraceFlags::from_bits(0x03),
            &mut out,
        );
        assert_eq!(
            text,
            "00-00000000000000000000000000000001-ffffffffffffffff-03"
        );
    }
}
