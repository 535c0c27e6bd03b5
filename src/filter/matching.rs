//! Deciding levels: the compiled, specificity-sorted form of a filter.
//!
//! This file owns the order of SPEC section 3 (a span part beats none, more
//! field matchers beat fewer, a longer target beats a shorter one, a later
//! directive beats an earlier one) and the answers the subscriber asks for.
//! Directives are sorted once when a filter is built, so every question is
//! "the first directive that matches decides". Span directives sort first,
//! so span directive `i` in that order is bit `i` of a span's match mask.
//! Nothing on the matching paths allocates.

use tracing_core::LevelFilter;

use super::directive::{Directive, SpanMatch, ValueMatch};

/// A field value as the filter sees it: the text written as in JSON output
/// without quotes (numbers in decimal, `true`/`false`, Debug or Display text
/// for `?`/`%` values, the raw string for strings).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FieldValue<'a> {
    /// The field's name.
    pub name: &'a str,
    /// The field's value as text.
    pub text: &'a str,
    /// True when the value was recorded as a string (only these match a
    /// quoted directive value).
    pub is_string: bool,
}

/// One span in scope, outermost first, as the public query sees it.
///
/// `target` is carried for callers' convenience; a directive's target is
/// compared with the target of the callsite being asked about, never with
/// the targets of the spans around it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpanInfo<'a> {
    /// The span's name.
    pub name: &'a str,
    /// The span's target.
    pub target: &'a str,
    /// The span's current field values; a field declared but not yet
    /// recorded is absent.
    pub fields: &'a [FieldValue<'a>],
}

/// The filter's static answer for one callsite, given at registration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct CallsiteVerdict {
    /// The level from target-only directives and the default.
    pub static_level: LevelFilter,
    /// True when some span directive could apply to this callsite's target,
    /// so the answer depends on the scope and `level_in_scope` must be asked.
    pub dynamic: bool,
    /// True when this callsite is a span that some span directive could
    /// name (its name matches, or a name-less directive's fields are all
    /// declared by this callsite): such spans must be tracked even if their
    /// own level is filtered.
    pub tracked: bool,
}

/// A filter's directives in decision order.
///
/// Invariant: `sorted[..n_span]` are exactly the span directives (at most
/// 64 of them) and `sorted[n_span..]` the target-only ones, each group most
/// specific first; the span masks handed out by `span_bits` rely on it.
#[derive(Clone, Debug)]
pub(crate) struct Compiled {
    sorted: Box<[Directive]>,
    n_span: usize,
    default_level: LevelFilter,
    max_level: LevelFilter,
}

impl Compiled {
    /// Sorts `directives` (given in input order) by specificity.
    pub(crate) fn new(directives: &[Directive], default_level: Option<LevelFilter>) -> Compiled {
        let mut order: Vec<(usize, &Directive)> = directives.iter().enumerate().collect();
        order.sort_by_key(|&(position, directive)| {
            let n_fields = directive.span.as_ref().map_or(0, |span| span.fields.len());
            std::cmp::Reverse((
                directive.span.is_some(),
                n_fields,
                directive.target.len(),
                position,
            ))
        });
        let sorted: Box<[Directive]> = order.into_iter().map(|(_, d)| d.clone()).collect();
        let n_span = sorted.iter().take_while(|d| d.span.is_some()).count();
        debug_assert!(
            n_span <= 64,
            "dynlog: a filter holds at most 64 span directives"
        );

        let default_level = default_level.unwrap_or(LevelFilter::OFF);
        let max_level = sorted
            .iter()
            .map(|d| d.level)
            .fold(default_level, std::cmp::max);
        Compiled {
            sorted,
            n_span,
            default_level,
            max_level,
        }
    }

    /// Highest level any directive or the default can enable.
    pub(crate) fn max_level(&self) -> LevelFilter {
        self.max_level
    }

    /// Number of span directives (and of meaningful bits in a span mask).
    pub(crate) fn n_span(&self) -> usize {
        self.n_span
    }

    /// The level for a callsite with `target` inside spans whose masks OR
    /// to `scope_bits`.
    pub(crate) fn level_in_scope(&self, target: &str, scope_bits: u64) -> LevelFilter {
        // Span directives first, most specific (lowest bit) first.
        let mut bits = scope_bits & span_mask(self.n_span);
        while bits != 0 {
            let idx = bits.trailing_zeros() as usize;
            let directive = &self.sorted[idx];
            if target_matches(&directive.target, target) {
                return directive.level;
            }
            bits &= bits - 1;
        }

        self.static_level(target)
    }

    /// The level from target-only directives and the default.
    fn static_level(&self, target: &str) -> LevelFilter {
        self.sorted[self.n_span..]
            .iter()
            .find(|d| target_matches(&d.target, target))
            .map_or(self.default_level, |d| d.level)
    }

    /// The registration answer for a callsite; `span_name` is `None` for
    /// events, `has_field` says whether the callsite declares a field.
    pub(crate) fn callsite(
        &self,
        target: &str,
        span_name: Option<&str>,
        has_field: impl Fn(&str) -> bool,
    ) -> CallsiteVerdict {
        let span_directives = &self.sorted[..self.n_span];
        let dynamic = span_directives
            .iter()
            .any(|d| target_matches(&d.target, target));
        let tracked = span_name.is_some_and(|name| {
            span_directives.iter().any(|d| {
                let Some(span) = &d.span else {
                    return false;
                };
                span.name.as_deref().is_none_or(|want| want == name)
                    && span.fields.iter().all(|field| has_field(&field.name))
            })
        });
        CallsiteVerdict {
            static_level: self.static_level(target),
            dynamic,
            tracked,
        }
    }

    /// The mask of span directives whose span part matches a span with
    /// `name`, declared fields `has_field` and current `values`.
    pub(crate) fn span_bits(
        &self,
        name: &str,
        has_field: impl Fn(&str) -> bool,
        values: &[FieldValue<'_>],
    ) -> u64 {
        let mut bits = 0;
        for (idx, directive) in self.sorted[..self.n_span].iter().enumerate() {
            let Some(span) = &directive.span else {
                continue;
            };
            if span_matches(span, name, &has_field, values) {
                bits |= 1 << idx;
            }
        }
        bits
    }
}

/// A mask with the low `n` bits set (`n` at most 64).
fn span_mask(n: usize) -> u64 {
    if n >= 64 {
        u64::MAX
    } else {
        (1 << n) - 1
    }
}

/// True when a directive target selects a callsite target: by prefix, or,
/// for a target ending in `::`, the module itself and its children only.
pub(crate) fn target_matches(directive: &str, target: &str) -> bool {
    match directive.strip_suffix("::") {
        Some(module) => target == module || target.starts_with(directive),
        None => target.starts_with(directive),
    }
}

/// True when every part of a span matcher holds for one span.
fn span_matches(
    span: &SpanMatch,
    name: &str,
    has_field: &impl Fn(&str) -> bool,
    values: &[FieldValue<'_>],
) -> bool {
    if span.name.as_deref().is_some_and(|want| want != name) {
        return false;
    }
    span.fields.iter().all(|field| match &field.value {
        None => has_field(&field.name),
        Some(want) => values
            .iter()
            .any(|value| *value.name == *field.name && value_matches(want, value)),
    })
}

/// True when a directive value matches a field value: a bare value by text
/// alone, a quoted one only for string fields.
fn value_matches(want: &ValueMatch, value: &FieldValue<'_>) -> bool {
    match want {
        ValueMatch::Bare(text) => **text == *value.text,
        ValueMatch::Quoted(text) => value.is_string && **text == *value.text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_match_by_prefix_or_as_modules() {
        let cases: &[(&str, &str, bool)] = &[
            ("tokio", "tokio", true),
            ("tokio", "tokio_util", true),
            ("tokio", "tokio::net", true),
            ("tokio_util", "tokio", false),
            ("a::", "a", true),
            ("a::", "a::b", true),
            ("a::", "a::b::c", true),
            ("a::", "ab", false),
            ("a::", "b::a", false),
            ("a::b", "a::b", true),
            ("a::b", "a::bc", true),
            ("a::b", "a", false),
            ("", "anything", true),
            ("", "", true),
        ];
        for &(directive, target, want) in cases {
            assert_eq!(
                target_matches(directive, target),
                want,
                "directive {directive:?} target {target:?}"
            );
        }
    }

    #[test]
    fn values_match_by_text_and_quotes_need_strings() {
        let value = |text: &'static str, is_string| FieldValue {
            name: "f",
            text,
            is_string,
        };
        let bare = |text: &str| ValueMatch::Bare(text.into());
        let quoted = |text: &str| ValueMatch::Quoted(text.into());
        let cases: Vec<(ValueMatch, FieldValue<'_>, bool)> = vec![
            (bare("42"), value("42", false), true),
            (bare("42"), value("42", true), true),
            (bare("42"), value("42.0", false), false),
            (bare("true"), value("true", false), true),
            (quoted("42"), value("42", false), false),
            (quoted("42"), value("42", true), true),
            (quoted(""), value("", true), true),
            (quoted("a,b"), value("a,b", true), true),
        ];
        for (want, value, is_match) in cases {
            assert_eq!(
                value_matches(&want, &value),
                is_match,
                "{want:?} vs {value:?}"
            );
        }
    }

    #[test]
    fn span_masks() {
        assert_eq!(span_mask(0), 0);
        assert_eq!(span_mask(3), 0b111);
        assert_eq!(span_mask(64), u64::MAX);
    }
}
