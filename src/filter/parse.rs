//! The directive parser and its error type.
//!
//! This file owns the grammar of SPEC section 3. It splits the input into
//! directives at commas that are outside quotes and braces, trims each one,
//! skips empty ones, and parses each on its own, so a bad directive never
//! hides the ones after it. Every error carries the byte offset into the
//! whole input, what was expected and what was found there; what was found
//! is `end of input`, a character in single quotes (`'x'`) or, for a word
//! that is not a level, the word in double quotes (`"warnx"`), written with
//! Rust's escapes.
//!
//! Whitespace is allowed between any two tokens of a directive (`h2 = debug`
//! and `[req { user = 42 }]` are fine) but never inside a bare name.

use std::fmt;

use tracing_core::LevelFilter;

use super::directive::{
    bare_target_len, is_bare_value_char, is_name_char, is_span_name_char, level_from_word,
    Directive, FieldMatch, SpanMatch, ValueMatch,
};

/// The most span directives one filter holds: a span's matches are a `u64`
/// bitmask.
pub(crate) const MAX_SPAN_DIRECTIVES: usize = 64;

/// Longest word quoted back in an error, in characters.
const MAX_FOUND_CHARS: usize = 32;

const EXPECTED_LEVEL: &str = "a level (off, error, warn, info, debug, trace or 0 to 5)";

/// A directive that could not be parsed.
///
/// `Display` prints one lowercase line, for example
/// `invalid directive at byte 14: expected ']' to close the span name, found end of input`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    offset: usize,
    expected: &'static str,
    found: Box<str>,
}

impl ParseError {
    /// The byte offset into the whole input where the problem is.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// What the parser expected at [`offset`](Self::offset), in words.
    pub fn expected(&self) -> &str {
        self.expected
    }

    /// What the parser found instead: `end of input`, a character in single
    /// quotes or a word in double quotes.
    pub fn found(&self) -> &str {
        &self.found
    }

    /// An error about whatever is at `offset` in `input`.
    fn at(input: &str, offset: usize, expected: &'static str) -> ParseError {
        let found = match input[offset..].chars().next() {
            None => "end of input".into(),
            Some(c) => format!("{c:?}").into_boxed_str(),
        };
        ParseError {
            offset,
            expected,
            found,
        }
    }

    /// An error about a whole word starting at `offset`.
    fn word(offset: usize, expected: &'static str, word: &str) -> ParseError {
        let found = match word.char_indices().nth(MAX_FOUND_CHARS) {
            None => format!("{word:?}"),
            Some((cut, _)) => format!("{:?}...", &word[..cut]),
        };
        ParseError {
            offset,
            expected,
            found: found.into_boxed_str(),
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid directive at byte {}: expected {}, found {}",
            self.offset, self.expected, self.found
        )
    }
}

impl std::error::Error for ParseError {}

/// Everything the parser kept, in input order.
#[derive(Debug, Default)]
pub(crate) struct Parsed {
    pub(crate) directives: Vec<Directive>,
    pub(crate) default_level: Option<LevelFilter>,
    pub(crate) used_colon: bool,
}

/// Parses `input`. With `stop_at_error` the first error ends the parse;
/// otherwise every valid directive is kept and every bad one gives one
/// error.
pub(crate) fn parse(input: &str, stop_at_error: bool) -> (Parsed, Vec<ParseError>) {
    let mut parsed = Parsed::default();
    let mut errors = Vec::new();

    // Distinct span parts seen so far (with their targets); a repeat
    // replaces the earlier directive and so does not count twice.
    let mut span_keys: Vec<(Box<str>, SpanMatch)> = Vec::new();

    for (start, stop) in Segments::new(input) {
        let (start, end) = trim(input, start, stop);
        if start == end {
            continue;
        }

        let mut cursor = Cursor {
            input,
            pos: start,
            end,
            stop,
        };
        let result = parse_directive(&mut cursor).and_then(|item| match &item {
            Item::Directive(directive, _) => {
                let Some(span) = &directive.span else {
                    return Ok(item);
                };
                let is_new = !span_keys
                    .iter()
                    .any(|(target, known)| *target == directive.target && known == span);
                if is_new && span_keys.len() == MAX_SPAN_DIRECTIVES {
                    let expected = "at most 64 span directives";
                    return Err(ParseError::word(start, expected, &input[start..end]));
                }
                if is_new {
                    span_keys.push((directive.target.clone(), span.clone()));
                }
                Ok(item)
            }
            Item::Level(_) => Ok(item),
        });

        match result {
            Ok(Item::Level(level)) => parsed.default_level = Some(level),
            Ok(Item::Directive(directive, used_colon)) => {
                parsed.used_colon |= used_colon;
                parsed.directives.push(directive);
            }
            Err(error) => {
                errors.push(error);
                if stop_at_error {
                    break;
                }
            }
        }
    }
    (parsed, errors)
}

/// Shrinks `start..end` to leave out whitespace at both ends.
fn trim(input: &str, start: usize, end: usize) -> (usize, usize) {
    let text = &input[start..end];
    let trimmed_start = text.trim_start();
    let new_start = start + (text.len() - trimmed_start.len());
    let new_end = new_start + trimmed_start.trim_end().len();
    (new_start, new_end)
}

/// Byte ranges of the directives of an input, without their commas.
///
/// A comma ends a directive unless it is inside double quotes or braces; a
/// `]` also closes braces, so a missing `}` does not swallow the directives
/// after the span part.
struct Segments<'a> {
    bytes: &'a [u8],
    pos: usize,
    is_done: bool,
}

impl<'a> Segments<'a> {
    fn new(input: &'a str) -> Segments<'a> {
        Segments {
            bytes: input.as_bytes(),
            pos: 0,
            is_done: false,
        }
    }
}

impl Iterator for Segments<'_> {
    type Item = (usize, usize);

    fn next(&mut self) -> Option<(usize, usize)> {
        if self.is_done {
            return None;
        }
        let start = self.pos;
        let mut idx = start;
        let mut in_quotes = false;
        let mut in_braces = false;

        // Every byte tested here is ASCII, so stepping by bytes never stops
        // inside a multi-byte character except after a backslash, and the
        // clamp below keeps that step inside the input.
        while idx < self.bytes.len() {
            let byte = self.bytes[idx];
            if in_quotes {
                match byte {
                    b'\\' => idx += 1,
                    b'"' => in_quotes = false,
                    _ => {}
                }
            } else {
                match byte {
                    b'"' => in_quotes = true,
                    b'{' => in_braces = true,
                    b'}' | b']' => in_braces = false,
                    b',' if !in_braces => break,
                    _ => {}
                }
            }
            idx += 1;
        }

        let end = idx.min(self.bytes.len());
        if end == self.bytes.len() {
            self.is_done = true;
        } else {
            self.pos = end + 1;
        }
        Some((start, end))
    }
}

/// One parsed directive: a bare level, or a directive and whether it used
/// the `TARGET:LEVEL` spelling.
enum Item {
    Level(LevelFilter),
    Directive(Directive, bool),
}

/// A position inside one directive.
struct Cursor<'a> {
    input: &'a str,
    pos: usize,
    /// Where the trimmed directive stops.
    end: usize,
    /// Where the untrimmed directive stops: its comma or the end of input.
    stop: usize,
}

impl Cursor<'_> {
    /// The next character of the directive, if any.
    fn peek(&self) -> Option<char> {
        self.input[self.pos..self.end].chars().next()
    }

    /// Steps over one character already seen with `peek`.
    fn bump(&mut self, c: char) {
        self.pos += c.len_utf8();
    }

    fn skip_whitespace(&mut self) {
        let rest = &self.input[self.pos..self.end];
        self.pos += rest.len() - rest.trim_start().len();
    }

    /// Takes the longest run of characters matching `pred`.
    fn take_while(&mut self, pred: impl Fn(char) -> bool) -> &str {
        let start = self.pos;
        let rest = &self.input[start..self.end];
        let len = rest.find(|c: char| !pred(c)).unwrap_or(rest.len());
        self.pos += len;
        &self.input[start..start + len]
    }

    /// An error about the character at the current position; at the end
    /// of the directive, about the comma or the end of input after it.
    fn error(&self, expected: &'static str) -> ParseError {
        let offset = if self.pos < self.end {
            self.pos
        } else {
            self.stop
        };
        ParseError::at(self.input, offset, expected)
    }

    /// Reads a double-quoted string; the cursor is on the opening quote.
    fn quoted(&mut self) -> Result<Box<str>, ParseError> {
        self.pos += 1;
        let mut text = String::new();
        loop {
            let Some(c) = self.peek() else {
                return Err(self.error("'\"' to close the quoted string"));
            };
            match c {
                '"' => {
                    self.bump(c);
                    return Ok(text.into_boxed_str());
                }
                '\\' => {
                    self.bump(c);
                    match self.peek() {
                        Some(escaped @ ('"' | '\\')) => {
                            text.push(escaped);
                            self.bump(escaped);
                        }
                        _ => return Err(self.error("'\"' or '\\' after '\\'")),
                    }
                }
                _ => {
                    text.push(c);
                    self.bump(c);
                }
            }
        }
    }

    /// Reads a level after `=` or `:` and checks that the directive ends.
    fn level(&mut self, expected_if_missing: &'static str) -> Result<LevelFilter, ParseError> {
        self.skip_whitespace();
        let start = self.pos;
        let word = self.take_while(is_bare_value_char);
        if word.is_empty() {
            return Err(self.error(expected_if_missing));
        }
        let Some(level) = level_from_word(word) else {
            return Err(ParseError::word(start, EXPECTED_LEVEL, word));
        };

        self.skip_whitespace();
        if self.peek().is_some() {
            return Err(self.error("',' after the level"));
        }
        Ok(level)
    }
}

/// Parses one trimmed, non-empty directive.
fn parse_directive(cursor: &mut Cursor<'_>) -> Result<Item, ParseError> {
    // The target, or a bare level.
    let target: Box<str> = match cursor.peek() {
        Some('"') => cursor.quoted()?,
        Some('[') => "".into(),
        Some(c) if is_name_char(c) => {
            let len = bare_target_len(&cursor.input[cursor.pos..cursor.end]);
            let word = &cursor.input[cursor.pos..cursor.pos + len];
            cursor.pos += len;
            cursor.skip_whitespace();
            if cursor.peek().is_none() {
                if let Some(level) = level_from_word(word) {
                    return Ok(Item::Level(level));
                }
            }
            word.into()
        }
        _ => return Err(cursor.error("a level, a target or '['")),
    };
    cursor.skip_whitespace();

    // The span part.
    let span = if cursor.peek() == Some('[') {
        cursor.pos += 1;
        Some(parse_span(cursor)?)
    } else {
        None
    };
    cursor.skip_whitespace();

    // The level; a directive without one means trace.
    let (level, used_colon) = match cursor.peek() {
        None => (LevelFilter::TRACE, false),
        Some('=') => {
            cursor.pos += 1;
            (cursor.level("a level after '='")?, false)
        }
        Some(':') => {
            cursor.pos += 1;
            (cursor.level("a level after ':'")?, true)
        }
        Some(_) if span.is_some() => return Err(cursor.error("'=' or ',' after the span part")),
        Some(_) => return Err(cursor.error("'[', '=' or ',' after the target")),
    };

    let directive = Directive {
        target,
        span,
        level,
    };
    Ok(Item::Directive(directive, used_colon))
}

/// Parses a span part; the cursor is just after `[`.
fn parse_span(cursor: &mut Cursor<'_>) -> Result<SpanMatch, ParseError> {
    cursor.skip_whitespace();
    let name: Option<Box<str>> = match cursor.peek() {
        Some('"') => Some(cursor.quoted()?),
        Some('{') => None,
        Some(c) if is_span_name_char(c) => Some(cursor.take_while(is_span_name_char).into()),
        _ => return Err(cursor.error("a span name or '{' after '['")),
    };
    cursor.skip_whitespace();

    let mut fields = Vec::new();
    if cursor.peek() == Some('{') {
        cursor.pos += 1;
        loop {
            fields.push(parse_field(cursor)?);
            cursor.skip_whitespace();
            match cursor.peek() {
                Some(',') => cursor.pos += 1,
                Some('}') => {
                    cursor.pos += 1;
                    break;
                }
                _ if fields.last().is_some_and(|field| field.value.is_some()) => {
                    return Err(cursor.error("',' or '}' after the field value"));
                }
                _ => return Err(cursor.error("'=', ',' or '}' after the field name")),
            }
        }
        cursor.skip_whitespace();
        if cursor.peek() != Some(']') {
            return Err(cursor.error("']' to close the span part"));
        }
    } else if cursor.peek() != Some(']') {
        return Err(cursor.error("']' to close the span name"));
    }
    cursor.pos += 1;
    Ok(SpanMatch::new(name, fields))
}

/// Parses `FIELD` or `FIELD=VALUE` inside braces.
fn parse_field(cursor: &mut Cursor<'_>) -> Result<FieldMatch, ParseError> {
    cursor.skip_whitespace();
    let name: Box<str> = match cursor.peek() {
        Some('"') => cursor.quoted()?,
        Some(c) if is_name_char(c) => cursor.take_while(is_name_char).into(),
        _ => return Err(cursor.error("a field name")),
    };
    cursor.skip_whitespace();
    if cursor.peek() != Some('=') {
        return Ok(FieldMatch { name, value: None });
    }

    cursor.pos += 1;
    cursor.skip_whitespace();
    let value = match cursor.peek() {
        Some('"') => ValueMatch::Quoted(cursor.quoted()?),
        Some(c) if is_bare_value_char(c) => {
            ValueMatch::Bare(cursor.take_while(is_bare_value_char).into())
        }
        _ => return Err(cursor.error("a value after '='")),
    };
    Ok(FieldMatch {
        name,
        value: Some(value),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strict(input: &str) -> Result<String, String> {
        let (parsed, errors) = parse(input, true);
        match errors.first() {
            Some(error) => Err(error.to_string()),
            None => {
                let mut out: Vec<String> = Vec::new();
                if let Some(level) = parsed.default_level {
                    out.push(format!("default={level}"));
                }
                for directive in &parsed.directives {
                    out.push(directive.to_string());
                }
                if parsed.used_colon {
                    out.push("(colon)".into());
                }
                Ok(out.join(" "))
            }
        }
    }

    #[test]
    fn segments_split_outside_quotes_and_braces() {
        let cases: &[(&str, &[&str])] = &[
            ("", &[""]),
            ("a", &["a"]),
            ("a,b", &["a", "b"]),
            (",,", &["", "", ""]),
            ("a,", &["a", ""]),
            ("[s{a=1,b=2}]=info,x", &["[s{a=1,b=2}]=info", "x"]),
            ("[s{a=\"1,]}\",b}]=info,x", &["[s{a=\"1,]}\",b}]=info", "x"]),
            ("[s{a=1]=info,x", &["[s{a=1]=info", "x"]),
            ("[s{a=\"x\\\",y\"}],z", &["[s{a=\"x\\\",y\"}]", "z"]),
            ("\"unclosed,x", &["\"unclosed,x"]),
            ("\"ends in backslash\\", &["\"ends in backslash\\"]),
            ("[s,x]", &["[s", "x]"]),
        ];
        for &(input, want) in cases {
            let got: Vec<&str> = Segments::new(input).map(|(s, e)| &input[s..e]).collect();
            assert_eq!(got, want, "input {input:?}");
        }
    }

    #[test]
    fn every_form_parses() {
        let cases: &[(&str, &str)] = &[
            ("info", "default=info"),
            ("  \tInfo\n", "default=info"),
            ("3", "default=info"),
            ("warn,error", "default=error"),
            ("warning", "default=warn"),
            ("h2=error", "h2=error"),
            ("h2", "h2=trace"),
            ("h2 = Debug", "h2=debug"),
            ("tokio::net=4", "tokio::net=debug"),
            ("a::=info", "a::=info"),
            ("a::", "a::=trace"),
            ("a:info", "a=info (colon)"),
            ("a::b:WARN", "a::b=warn (colon)"),
            (
                "dynamo_runtime::system_status_server:trace",
                "dynamo_runtime::system_status_server=trace (colon)",
            ),
            ("info=debug", "info=debug"),
            ("\"info\"", "info=trace"),
            ("\"my crate\"=off", "\"my crate\"=off"),
            ("\"\"=warn", "\"\"=warn"),
            ("[req]=debug", "[req]=debug"),
            ("[req]", "[req]=trace"),
            ("[ req ] = 1", "[req]=error"),
            ("my_crate[req]=debug", "my_crate[req]=debug"),
            ("my_crate [req]:debug", "my_crate[req]=debug (colon)"),
            ("[http-request]=info", "[http-request]=info"),
            ("[engine.generate]=info", "[engine.generate]=info"),
            ("[\"my span\"]=info", "[\"my span\"]=info"),
            ("[req{user}]=debug", "[req{user}]=debug"),
            ("[req{user=42}]=debug", "[req{user=42}]=debug"),
            ("[req{b=2,a=1}]=debug", "[req{a=1,b=2}]=debug"),
            ("[req{ a = 1 , b }]=debug", "[req{a=1,b}]=debug"),
            ("[{user=\"42\"}]=debug", "[{user=\"42\"}]=debug"),
            ("[{v=\"a,b]c}d=e\"}]=info", "[{v=\"a,b]c}d=e\"}]=info"),
            ("[{v=\"q\\\"b\\\\\"}]=info", "[{v=\"q\\\"b\\\\\"}]=info"),
            ("[{v=\"\"}]=info", "[{v=\"\"}]=info"),
            ("[{v=-1.5e3}]=info", "[{v=-1.5e3}]=info"),
            ("[{v=Some(3)}]=info", "[{v=Some(3)}]=info"),
            ("[{\"odd name\"=x}]=info", "[{\"odd name\"=x}]=info"),
            ("info,, ,\n,h2=error", "default=info h2=error"),
            (
                "info,h2=error,my_crate[req{user=\"42\"}]=debug",
                "default=info h2=error my_crate[req{user=\"42\"}]=debug",
            ),
            ("", ""),
            (" , ", ""),
        ];
        for &(input, want) in cases {
            assert_eq!(strict(input), Ok(want.to_string()), "input {input:?}");
        }
    }

    #[test]
    fn errors_name_offset_expected_and_found() {
        let cases: &[(&str, &str)] = &[
            (
                "warn,my_crate[",
                "invalid directive at byte 14: expected a span name or '{' after '[', found end of input",
            ),
            (
                "info,my_crate[x",
                "invalid directive at byte 15: expected ']' to close the span name, found end of input",
            ),
            (
                "info,[x,debug",
                "invalid directive at byte 7: expected ']' to close the span name, found ','",
            ),
            (
                "[x y]=info",
                "invalid directive at byte 3: expected ']' to close the span name, found 'y'",
            ),
            (
                "a=",
                "invalid directive at byte 2: expected a level after '=', found end of input",
            ),
            (
                "a= ,b",
                "invalid directive at byte 3: expected a level after '=', found ','",
            ),
            (
                "a:",
                "invalid directive at byte 2: expected a level after ':', found end of input",
            ),
            (
                "info,a=warnx",
                "invalid directive at byte 7: expected a level (off, error, warn, info, debug, trace or 0 to 5), found \"warnx\"",
            ),
            (
                "a:b",
                "invalid directive at byte 2: expected a level (off, error, warn, info, debug, trace or 0 to 5), found \"b\"",
            ),
            (
                "a=info x",
                "invalid directive at byte 7: expected ',' after the level, found 'x'",
            ),
            (
                "a=info]",
                "invalid directive at byte 6: expected ',' after the level, found ']'",
            ),
            (
                "=info",
                "invalid directive at byte 0: expected a level, a target or '[', found '='",
            ),
            (
                "]",
                "invalid directive at byte 0: expected a level, a target or '[', found ']'",
            ),
            (
                "::a=info",
                "invalid directive at byte 0: expected a level, a target or '[', found ':'",
            ),
            (
                "my crate=info",
                "invalid directive at byte 3: expected '[', '=' or ',' after the target, found 'c'",
            ),
            (
                "[x]y",
                "invalid directive at byte 3: expected '=' or ',' after the span part, found 'y'",
            ),
            (
                "[]=info",
                "invalid directive at byte 1: expected a span name or '{' after '[', found ']'",
            ),
            (
                "[{}]=info",
                "invalid directive at byte 2: expected a field name, found '}'",
            ),
            (
                "[x{a=}]=info",
                "invalid directive at byte 5: expected a value after '=', found '}'",
            ),
            (
                "[x{a=1 b}]",
                "invalid directive at byte 7: expected ',' or '}' after the field value, found 'b'",
            ),
            (
                "[x{a b}]",
                "invalid directive at byte 5: expected '=', ',' or '}' after the field name, found 'b'",
            ),
            (
                "[x{a=1]=info,h2",
                "invalid directive at byte 6: expected ',' or '}' after the field value, found ']'",
            ),
            (
                "[x{a}y]",
                "invalid directive at byte 5: expected ']' to close the span part, found 'y'",
            ),
            (
                "[x{a=\"1}]=info",
                "invalid directive at byte 14: expected '\"' to close the quoted string, found end of input",
            ),
            (
                "[x{a=\"\\n\"}]",
                "invalid directive at byte 7: expected '\"' or '\\' after '\\', found 'n'",
            ),
            (
                "a=infö",
                "invalid directive at byte 2: expected a level (off, error, warn, info, debug, trace or 0 to 5), found \"infö\"",
            ),
            (
                "\"a\"b",
                "invalid directive at byte 3: expected '[', '=' or ',' after the target, found 'b'",
            ),
            (
                "a\tb",
                "invalid directive at byte 2: expected '[', '=' or ',' after the target, found 'b'",
            ),
            (
                "a=\u{7}",
                "invalid directive at byte 2: expected a level after '=', found '\\u{7}'",
            ),
            (
                "a=abcdefghijklmnopqrstuvwxyz0123456789",
                "invalid directive at byte 2: expected a level (off, error, warn, info, debug, trace or 0 to 5), found \"abcdefghijklmnopqrstuvwxyz012345\"...",
            ),
        ];
        for &(input, want) in cases {
            assert_eq!(strict(input), Err(want.to_string()), "input {input:?}");
        }
    }

    #[test]
    fn error_accessors() {
        let (_, errors) = parse("info,my_crate[x", true);
        let error = &errors[0];
        assert_eq!(error.offset(), 15);
        assert_eq!(error.expected(), "']' to close the span name");
        assert_eq!(error.found(), "end of input");
    }

    #[test]
    fn lossy_parse_keeps_the_good_directives() {
        let input = "info,a=bad,[x{y=1]=debug,h2=error,[q,z=warn";
        let (parsed, errors) = parse(input, false);
        let kept: Vec<String> = parsed.directives.iter().map(|d| d.to_string()).collect();
        assert_eq!(kept, ["h2=error", "z=warn"]);
        assert_eq!(parsed.default_level, Some(LevelFilter::INFO));
        let messages: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        assert_eq!(
            messages,
            [
                "invalid directive at byte 7: expected a level (off, error, warn, info, debug, trace or 0 to 5), found \"bad\"",
                "invalid directive at byte 17: expected ',' or '}' after the field value, found ']'",
                "invalid directive at byte 36: expected ']' to close the span name, found ','",
            ]
        );
    }

    #[test]
    fn at_most_64_span_directives() {
        let mut input: Vec<String> = (0..66).map(|idx| format!("[s{idx}]=info")).collect();
        input.push("[s3]=debug".into());
        let input = input.join(",");
        let (parsed, errors) = parse(&input, false);
        assert_eq!(parsed.directives.len(), 65);
        let messages: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        assert_eq!(
            messages,
            [
                "invalid directive at byte 694: expected at most 64 span directives, found \"[s64]=info\"",
                "invalid directive at byte 705: expected at most 64 span directives, found \"[s65]=info\"",
            ]
        );

        let (_, errors) = parse(&input, true);
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].offset(), 694);
    }
}
