//! The parsed form of one directive and its canonical spelling.
//!
//! This file owns the data a directive holds (target, optional span part,
//! level), the character classes that decide what may be written bare, and
//! the `Display` code that prints a directive so that it parses back to the
//! same value. Nothing here parses; `parse.rs` builds these values.
//!
//! Bare spellings (anything else must be double-quoted):
//!
//! - a target is one or more runs of name characters (Unicode letters and
//!   digits, `_`, `-`, `.`) joined by `::`, and may end in `::`;
//! - a span name is a run of name characters and `:`;
//! - a field name is a run of name characters;
//! - a field value is a run of any characters except whitespace, control
//!   characters and `,` `[` `]` `{` `}` `=` `"` `\`.

use std::fmt;

use tracing_core::LevelFilter;

/// One `TARGET[SPAN{FIELDS}]=LEVEL` directive (bare levels are not
/// directives: the filter keeps them as its default level).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Directive {
    /// The target prefix; empty when the directive names no target.
    pub(crate) target: Box<str>,
    /// The span part, when the directive has brackets.
    pub(crate) span: Option<SpanMatch>,
    /// The level the directive gives.
    pub(crate) level: LevelFilter,
}

/// The `[NAME{FIELDS}]` part of a directive.
///
/// Invariant: `name` is set or `fields` is non-empty (the parser rejects
/// `[]`), and `fields` is sorted with no two equal entries, so two span parts
/// that match the same spans compare equal.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct SpanMatch {
    /// The span name to match exactly; `None` matches any name.
    pub(crate) name: Option<Box<str>>,
    /// Every matcher must hold for the span part to match.
    pub(crate) fields: Box<[FieldMatch]>,
}

/// One `FIELD` or `FIELD=VALUE` inside braces.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct FieldMatch {
    /// The field name to look for.
    pub(crate) name: Box<str>,
    /// The value to compare with; `None` only asks that the field exists.
    pub(crate) value: Option<ValueMatch>,
}

/// A field value as written in a directive.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum ValueMatch {
    /// Written bare: matches any field whose text is equal. Invariant: the
    /// text is non-empty and made of bare value characters only, so it
    /// prints back bare.
    Bare(Box<str>),
    /// Written in quotes: matches string fields whose text is equal.
    Quoted(Box<str>),
}

impl SpanMatch {
    /// Builds a span part, putting the field matchers in canonical order.
    pub(crate) fn new(name: Option<Box<str>>, mut fields: Vec<FieldMatch>) -> SpanMatch {
        fields.sort();
        fields.dedup();
        SpanMatch {
            name,
            fields: fields.into_boxed_slice(),
        }
    }
}

/// True for the characters a bare target, span name or field name is made
/// of (a target also allows `::`, a span name also allows `:`).
pub(crate) fn is_name_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '-' | '.')
}

/// True for the characters of a bare span name.
pub(crate) fn is_span_name_char(c: char) -> bool {
    is_name_char(c) || c == ':'
}

/// True for the characters of a bare field value or level word.
pub(crate) fn is_bare_value_char(c: char) -> bool {
    !c.is_whitespace()
        && !c.is_control()
        && !matches!(c, ',' | '[' | ']' | '{' | '}' | '=' | '"' | '\\')
}

/// Returns the byte length of the bare target at the start of `s`: a name
/// character, then name characters and `::` pairs, stopping before a lone
/// `:` or anything else.
pub(crate) fn bare_target_len(s: &str) -> usize {
    let bytes = s.as_bytes();
    let mut len = 0;
    while let Some(c) = s[len..].chars().next() {
        if is_name_char(c) {
            len += c.len_utf8();
        } else if len > 0 && c == ':' && bytes.get(len + 1) == Some(&b':') {
            len += 2;
        } else {
            break;
        }
    }
    len
}

/// Parses a level word: `off error warn warning info debug trace` in any
/// case, or a digit from `0` (off) to `5` (trace).
pub(crate) fn level_from_word(word: &str) -> Option<LevelFilter> {
    const WORDS: [(&str, LevelFilter); 12] = [
        ("off", LevelFilter::OFF),
        ("error", LevelFilter::ERROR),
        ("warn", LevelFilter::WARN),
        ("warning", LevelFilter::WARN),
        ("info", LevelFilter::INFO),
        ("debug", LevelFilter::DEBUG),
        ("trace", LevelFilter::TRACE),
        ("0", LevelFilter::OFF),
        ("1", LevelFilter::ERROR),
        ("2", LevelFilter::WARN),
        ("3", LevelFilter::INFO),
        ("4", LevelFilter::DEBUG),
    ];
    if word == "5" {
        return Some(LevelFilter::TRACE);
    }
    WORDS
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(word))
        .map(|&(_, level)| level)
}

/// The canonical (lowercase) name of a level.
pub(crate) fn level_name(level: LevelFilter) -> &'static str {
    match level {
        LevelFilter::OFF => "off",
        LevelFilter::ERROR => "error",
        LevelFilter::WARN => "warn",
        LevelFilter::INFO => "info",
        LevelFilter::DEBUG => "debug",
        _ => "trace",
    }
}

/// Writes `text` in double quotes, escaping `"` and `\`.
fn write_quoted(f: &mut fmt::Formatter<'_>, text: &str) -> fmt::Result {
    f.write_str("\"")?;
    let mut rest = text;
    while let Some(idx) = rest.find(['"', '\\']) {
        f.write_str(&rest[..idx])?;
        f.write_str("\\")?;
        f.write_str(&rest[idx..idx + 1])?;
        rest = &rest[idx + 1..];
    }
    f.write_str(rest)?;
    f.write_str("\"")
}

/// Writes a name bare when every character allows it, quoted otherwise.
fn write_name(f: &mut fmt::Formatter<'_>, name: &str, is_bare: bool) -> fmt::Result {
    if is_bare {
        f.write_str(name)
    } else {
        write_quoted(f, name)
    }
}

impl fmt::Display for Directive {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let target = &*self.target;

        // An empty target is left out before a span part, but alone it must
        // be quoted: `=info` is not a directive.
        if !target.is_empty() || self.span.is_none() {
            let is_bare = !target.is_empty() && bare_target_len(target) == target.len();
            write_name(f, target, is_bare)?;
        }
        if let Some(span) = &self.span {
            write!(f, "{span}")?;
        }
        write!(f, "={}", level_name(self.level))
    }
}

impl fmt::Display for SpanMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        if let Some(name) = &self.name {
            let is_bare = !name.is_empty() && name.chars().all(is_span_name_char);
            write_name(f, name, is_bare)?;
        }
        if !self.fields.is_empty() {
            f.write_str("{")?;
            for (idx, field) in self.fields.iter().enumerate() {
                if idx > 0 {
                    f.write_str(",")?;
                }
                write!(f, "{field}")?;
            }
            f.write_str("}")?;
        }
        f.write_str("]")
    }
}

impl fmt::Display for FieldMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let is_bare = !self.name.is_empty() && self.name.chars().all(is_name_char);
        write_name(f, &self.name, is_bare)?;
        match &self.value {
            None => Ok(()),
            Some(ValueMatch::Bare(text)) => write!(f, "={text}"),
            Some(ValueMatch::Quoted(text)) => {
                f.write_str("=")?;
                write_quoted(f, text)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_words_in_any_case_and_digits() {
        let cases: &[(&str, Option<LevelFilter>)] = &[
            ("off", Some(LevelFilter::OFF)),
            ("OFF", Some(LevelFilter::OFF)),
            ("Error", Some(LevelFilter::ERROR)),
            ("wArN", Some(LevelFilter::WARN)),
            ("WARNING", Some(LevelFilter::WARN)),
            ("info", Some(LevelFilter::INFO)),
            ("DEBUG", Some(LevelFilter::DEBUG)),
            ("Trace", Some(LevelFilter::TRACE)),
            ("0", Some(LevelFilter::OFF)),
            ("1", Some(LevelFilter::ERROR)),
            ("2", Some(LevelFilter::WARN)),
            ("3", Some(LevelFilter::INFO)),
            ("4", Some(LevelFilter::DEBUG)),
            ("5", Some(LevelFilter::TRACE)),
            ("6", None),
            ("05", None),
            ("warnx", None),
            ("", None),
            ("informational", None),
        ];
        for &(word, want) in cases {
            assert_eq!(level_from_word(word), want, "word {word:?}");
        }
    }

    #[test]
    fn bare_target_stops_at_a_lone_colon() {
        let cases: &[(&str, usize)] = &[
            ("tokio", 5),
            ("tokio::net", 10),
            ("a::", 3),
            ("a:info", 1),
            ("a::b:info", 4),
            ("a:::b", 3),
            ("my-crate.x_y=info", 12),
            ("héllo[x]", 6),
            ("a b", 1),
            (":a", 0),
            ("::", 0),
            ("::a", 0),
            ("", 0),
        ];
        for &(text, want) in cases {
            assert_eq!(bare_target_len(text), want, "text {text:?}");
        }
    }

    #[test]
    fn directives_print_bare_or_quoted() {
        let field = |name: &str, value: Option<ValueMatch>| FieldMatch {
            name: name.into(),
            value,
        };
        let cases: Vec<(Directive, &str)> = vec![
            (
                Directive {
                    target: "h2".into(),
                    span: None,
                    level: LevelFilter::ERROR,
                },
                "h2=error",
            ),
            (
                Directive {
                    target: "".into(),
                    span: None,
                    level: LevelFilter::INFO,
                },
                "\"\"=info",
            ),
            (
                Directive {
                    target: "my crate\"\\".into(),
                    span: None,
                    level: LevelFilter::OFF,
                },
                "\"my crate\\\"\\\\\"=off",
            ),
            (
                Directive {
                    target: "::".into(),
                    span: None,
                    level: LevelFilter::WARN,
                },
                "\"::\"=warn",
            ),
            (
                Directive {
                    target: "a:b".into(),
                    span: None,
                    level: LevelFilter::WARN,
                },
                "\"a:b\"=warn",
            ),
            (
                Directive {
                    target: "a::".into(),
                    span: Some(SpanMatch::new(Some("req".into()), vec![])),
                    level: LevelFilter::DEBUG,
                },
                "a::[req]=debug",
            ),
            (
                Directive {
                    target: "".into(),
                    span: Some(SpanMatch::new(
                        None,
                        vec![
                            field("user", Some(ValueMatch::Quoted("4,2]}=".into()))),
                            field("id", Some(ValueMatch::Bare("42".into()))),
                            field("ready", None),
                        ],
                    )),
                    level: LevelFilter::TRACE,
                },
                "[{id=42,ready,user=\"4,2]}=\"}]=trace",
            ),
            (
                Directive {
                    target: "t".into(),
                    span: Some(SpanMatch::new(
                        Some("my span".into()),
                        vec![field("a b", None)],
                    )),
                    level: LevelFilter::INFO,
                },
                "t[\"my span\"{\"a b\"}]=info",
            ),
        ];
        for (directive, want) in cases {
            assert_eq!(directive.to_string(), want);
        }
    }

    #[test]
    fn span_fields_are_sorted_and_deduplicated() {
        let field = |name: &str| FieldMatch {
            name: name.into(),
            value: None,
        };
        let span = SpanMatch::new(None, vec![field("b"), field("a"), field("b")]);
        assert_eq!(span.to_string(), "[{a,b}]");
    }
}
