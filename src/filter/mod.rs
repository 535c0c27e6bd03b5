//! Filter directives: which callsites are enabled, at which level.
//!
//! This module owns the directive language of SPEC section 3 (`DYN_LOG`,
//! the file's `log_filters`), the assembly of several sources into one
//! filter (SPEC section 2) and the questions the subscriber asks while
//! running. It promises that every filter prints (`Display`) to a canonical
//! string that parses back to an equal filter, that a bad directive is
//! reported with its byte offset and never hides the others, and that the
//! per-event question (`level_in_scope`) neither allocates nor locks.
//!
//! Files: `directive.rs` holds the parsed form and its printing,
//! `parse.rs` the grammar and [`ParseError`], `matching.rs` the
//! specificity order and the matching.
//!
//! Beyond the table of SPEC section 3, the language accepts double-quoted
//! targets, span names and field names (`"my crate"=debug`), so that any
//! target given to [`Filter::add_target`] prints back; a quoted word is
//! always a target, never a level. A repeated directive (same target and
//! span part) replaces the earlier one, as in `tracing-subscriber`.

mod directive;
mod matching;
mod parse;

use std::collections::HashSet;
use std::fmt;
use std::str::FromStr;

use tracing_core::{Level, LevelFilter, Metadata};

use directive::{level_name, Directive, SpanMatch};
pub(crate) use matching::CallsiteVerdict;
use matching::Compiled;
pub use matching::{FieldValue, SpanInfo};
pub use parse::ParseError;
use parse::MAX_SPAN_DIRECTIVES;

/// A parsed set of filter directives.
///
/// Build one with [`Filter::parse`] or [`Filter::parse_lossy`] from a
/// `DYN_LOG`-style string, or with [`Filter::new`], [`Filter::add_target`]
/// and [`Filter::with_default_level`]; combine sources with
/// [`Filter::extend`]. Two filters are equal when they hold the same
/// directives in the same order and the same default level.
///
/// # Examples
///
/// ```
/// use dynlog::filter::Filter;
/// use tracing_core::Level;
///
/// let filter: Filter = "info,h2=error,my_crate[req{user=\"42\"}]=debug".parse().unwrap();
/// assert!(filter.enabled("my_crate::db", Level::INFO, &[]));
/// assert!(!filter.enabled("h2::proto", Level::WARN, &[]));
/// assert_eq!(filter.to_string(), "info,h2=error,my_crate[req{user=\"42\"}]=debug");
/// ```
#[derive(Clone, Debug)]
pub struct Filter {
    /// In input order, with no two sharing a target and span part.
    directives: Vec<Directive>,
    default_level: Option<LevelFilter>,
    used_colon: bool,
    /// Derived from the two fields above; rebuilt by every constructor.
    compiled: Compiled,
}

impl Filter {
    /// An empty filter: no directives and no default level, so it enables
    /// nothing.
    pub fn new() -> Filter {
        Filter::from_parts(Vec::new(), None, false)
    }

    /// Parses a comma-separated list of directives.
    ///
    /// # Errors
    ///
    /// Fails on the first directive that is not valid (and on the 65th
    /// distinct span directive), with its byte offset in `input`.
    ///
    /// # Examples
    ///
    /// ```
    /// use dynlog::filter::Filter;
    ///
    /// let error = Filter::parse("info,my_crate[span").unwrap_err();
    /// assert_eq!(
    ///     error.to_string(),
    ///     "invalid directive at byte 18: expected ']' to close the span name, found end of input"
    /// );
    /// ```
    pub fn parse(input: &str) -> Result<Filter, ParseError> {
        let (parsed, mut errors) = parse::parse(input, true);
        if !errors.is_empty() {
            return Err(errors.swap_remove(0));
        }
        Ok(Filter::from_parts(
            parsed.directives,
            parsed.default_level,
            parsed.used_colon,
        ))
    }

    /// Parses like [`Filter::parse`] but keeps every valid directive,
    /// returning one error per directive left out (offsets into `input`).
    pub fn parse_lossy(input: &str) -> (Filter, Vec<ParseError>) {
        let (parsed, errors) = parse::parse(input, false);
        let filter = Filter::from_parts(parsed.directives, parsed.default_level, parsed.used_colon);
        (filter, errors)
    }

    /// True when some directive was written `TARGET:LEVEL` (accepted as
    /// `TARGET=LEVEL`; the caller may suggest `=` once).
    pub fn used_colon_spelling(&self) -> bool {
        self.used_colon
    }

    /// The default level: the last bare level of the input, if any.
    pub fn default_level(&self) -> Option<LevelFilter> {
        self.default_level
    }

    /// Returns the filter with its default level set to `level`.
    pub fn with_default_level(self, level: LevelFilter) -> Filter {
        Filter::from_parts(self.directives, Some(level), self.used_colon)
    }

    /// Returns the filter with `target=level` appended; it replaces an
    /// earlier directive for the same target. Any string is accepted as a
    /// target (it prints quoted when it needs to be).
    pub fn add_target(mut self, target: &str, level: LevelFilter) -> Filter {
        self.directives.push(Directive {
            target: target.into(),
            span: None,
            level,
        });
        Filter::from_parts(self.directives, self.default_level, self.used_colon)
    }

    /// Returns the filter with the directives of a higher-priority source
    /// appended after its own, so for equal specificity `higher` wins; the
    /// default level of `higher` replaces ours only if it has one.
    ///
    /// When the two together hold more than 64 distinct span directives,
    /// the earliest ones (ours first) are left out.
    pub fn extend(mut self, higher: Filter) -> Filter {
        self.directives.extend(higher.directives);
        let default_level = higher.default_level.or(self.default_level);
        let used_colon = self.used_colon || higher.used_colon;
        Filter::from_parts(self.directives, default_level, used_colon)
    }

    /// The number of directives, counting a default level as one.
    pub fn len(&self) -> usize {
        self.directives.len() + usize::from(self.default_level.is_some())
    }

    /// True when there is no directive and no default level.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Highest level any directive (or the default) can enable: for
    /// `max_level_hint`.
    pub fn max_level_hint(&self) -> LevelFilter {
        self.compiled.max_level()
    }

    /// True when there is at least one span directive.
    pub fn has_span_directives(&self) -> bool {
        self.compiled.n_span() > 0
    }

    /// True when an event or span with `target` and `level`, inside `spans`
    /// (outermost first), is enabled. A `{FIELD}` matcher without a value
    /// matches when `FIELD` is among a span's `fields`.
    pub fn enabled(&self, target: &str, level: Level, spans: &[SpanInfo<'_>]) -> bool {
        let mut scope_bits = 0;
        if self.has_span_directives() {
            for span in spans {
                let has_field = |name: &str| span.fields.iter().any(|field| field.name == name);
                scope_bits |= self.compiled.span_bits(span.name, has_field, span.fields);
            }
        }
        level <= self.compiled.level_in_scope(target, scope_bits)
    }

    /// Static verdict for a callsite (event or span) at registration.
    pub(crate) fn callsite(&self, meta: &Metadata<'_>) -> CallsiteVerdict {
        let span_name = meta.is_span().then(|| meta.name());
        let has_field = |name: &str| meta.fields().field(name).is_some();
        self.compiled.callsite(meta.target(), span_name, has_field)
    }

    /// Bitmask of span directives (bit i = i-th span directive in the
    /// sorted order, at most 64) whose span part matches a span with this
    /// metadata and these current field values. Values a span does not have
    /// yet (declared `Empty`) are simply absent from `values`.
    pub(crate) fn span_bits(&self, meta: &Metadata<'_>, values: &[FieldValue<'_>]) -> u64 {
        if !self.has_span_directives() {
            return 0;
        }
        let has_field = |name: &str| meta.fields().field(name).is_some();
        self.compiled.span_bits(meta.name(), has_field, values)
    }

    /// The level the most specific matching directive gives to a callsite
    /// with this target, inside a scope whose spans matched `scope_bits`
    /// (OR of their `span_bits`). OFF when nothing matches and no default.
    pub(crate) fn level_in_scope(&self, target: &str, scope_bits: u64) -> LevelFilter {
        self.compiled.level_in_scope(target, scope_bits)
    }

    /// Builds a filter from directives in input order: drops each one that
    /// a later one with the same target and span part replaces, keeps the
    /// last 64 span directives, and sorts for matching.
    fn from_parts(
        directives: Vec<Directive>,
        default_level: Option<LevelFilter>,
        used_colon: bool,
    ) -> Filter {
        // Mark, from the end, the last directive of each target and span part.
        let mut is_kept = vec![false; directives.len()];
        let mut seen: HashSet<(&str, Option<&SpanMatch>)> = HashSet::new();
        let mut n_span = 0;
        for (idx, directive) in directives.iter().enumerate().rev() {
            if !seen.insert((&directive.target, directive.span.as_ref())) {
                continue;
            }
            if directive.span.is_some() {
                if n_span == MAX_SPAN_DIRECTIVES {
                    continue;
                }
                n_span += 1;
            }
            is_kept[idx] = true;
        }

        // Keep them in input order.
        let directives: Vec<Directive> = directives
            .into_iter()
            .zip(is_kept)
            .filter_map(|(directive, is_kept)| is_kept.then_some(directive))
            .collect();
        let compiled = Compiled::new(&directives, default_level);
        Filter {
            directives,
            default_level,
            used_colon,
            compiled,
        }
    }
}

impl Default for Filter {
    fn default() -> Filter {
        Filter::new()
    }
}

impl PartialEq for Filter {
    fn eq(&self, other: &Filter) -> bool {
        self.default_level == other.default_level && self.directives == other.directives
    }
}

impl Eq for Filter {}

impl FromStr for Filter {
    type Err = ParseError;

    fn from_str(input: &str) -> Result<Filter, ParseError> {
        Filter::parse(input)
    }
}

/// Prints the canonical form: the default level first, then every
/// directive in order, each as `target[span{fields}]=level`.
impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut is_first = true;
        if let Some(level) = self.default_level {
            f.write_str(level_name(level))?;
            is_first = false;
        }
        for directive in &self.directives {
            if !is_first {
                f.write_str(",")?;
            }
            write!(f, "{directive}")?;
            is_first = false;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use tracing_core::callsite::Callsite;
    use tracing_core::metadata::Kind;
    use tracing_core::subscriber::Interest;

    use super::*;

    fn filter(input: &str) -> Filter {
        match Filter::parse(input) {
            Ok(filter) => filter,
            Err(error) => panic!("dynlog: test filter {input:?} does not parse: {error}"),
        }
    }

    fn string(name: &'static str, text: &'static str) -> FieldValue<'static> {
        FieldValue {
            name,
            text,
            is_string: true,
        }
    }

    fn other(name: &'static str, text: &'static str) -> FieldValue<'static> {
        FieldValue {
            name,
            text,
            is_string: false,
        }
    }

    fn span(name: &'static str, fields: &'static [FieldValue<'static>]) -> SpanInfo<'static> {
        SpanInfo {
            name,
            target: "app",
            fields,
        }
    }

    #[test]
    fn enabled_follows_the_most_specific_directive() {
        const REQ_42: &[FieldValue<'static>] = &[FieldValue {
            name: "user",
            text: "42",
            is_string: false,
        }];
        let req_42_string = [string("user", "42")];
        let req_43 = [other("user", "43")];
        let ok_true = [other("ok", "true")];
        let ok_true_string = [string("ok", "true")];
        let a_1 = [other("a", "1")];
        let leak = |fields: &[FieldValue<'static>]| -> &'static [FieldValue<'static>] {
            Box::leak(fields.to_vec().into_boxed_slice())
        };

        // One case per line reads as a table; rustfmt would split them.
        #[rustfmt::skip]
        let cases: Vec<(&str, &str, Level, Vec<SpanInfo<'static>>, bool)> = vec![
            // Default level, and OFF when there is none.
            ("info", "x", Level::INFO, vec![], true),
            ("info", "x", Level::DEBUG, vec![], false),
            ("", "x", Level::ERROR, vec![], false),
            ("my_crate=debug", "my_crate::db", Level::DEBUG, vec![], true),
            ("my_crate=debug", "other", Level::ERROR, vec![], false),
            ("0", "x", Level::ERROR, vec![], false),
            ("5", "x", Level::TRACE, vec![], true),
            // Targets sharing a prefix.
            ("tokio=debug", "tokio_util", Level::DEBUG, vec![], true),
            ("tokio=warn,tokio_util=debug", "tokio_util::x", Level::DEBUG, vec![], true),
            ("tokio=warn,tokio_util=debug", "tokio::net", Level::INFO, vec![], false),
            ("tokio_util=debug,tokio=warn", "tokio_util", Level::DEBUG, vec![], true),
            ("info,a::=off", "a", Level::ERROR, vec![], false),
            ("info,a::=off", "a::b", Level::ERROR, vec![], false),
            ("info,a::=off", "ab", Level::INFO, vec![], true),
            ("a:debug", "a", Level::DEBUG, vec![], true),
            // Duplicate targets: the later wins.
            ("h2=error,h2=debug", "h2", Level::DEBUG, vec![], true),
            ("h2=debug,h2=error", "h2", Level::DEBUG, vec![], false),
            // A span directive lower than the default.
            ("info,[health]=off", "x", Level::ERROR, vec![span("health", &[])], false),
            ("info,[health]=off", "x", Level::INFO, vec![span("healthy", &[])], true),
            ("info,[health]=off", "x", Level::INFO, vec![], true),
            // Only the middle span matches.
            (
                "warn,[req]=debug",
                "x",
                Level::DEBUG,
                vec![span("outer", &[]), span("req", &[]), span("inner", &[])],
                true,
            ),
            (
                "warn,[req]=debug",
                "x",
                Level::DEBUG,
                vec![span("outer", &[]), span("inner", &[])],
                false,
            ),
            (
                "info,[mid]=off",
                "x",
                Level::ERROR,
                vec![span("top", &[]), span("mid", &[]), span("leaf", &[])],
                false,
            ),
            // Typed field values.
            ("warn,[req{user=42}]=debug", "x", Level::DEBUG, vec![span("req", REQ_42)], true),
            (
                "warn,[req{user=42}]=debug",
                "x",
                Level::DEBUG,
                vec![span("req", leak(&req_42_string))],
                true,
            ),
            (
                "warn,[req{user=42}]=debug",
                "x",
                Level::DEBUG,
                vec![span("req", leak(&req_43))],
                false,
            ),
            ("warn,[req{user=42}]=debug", "x", Level::DEBUG, vec![span("req", &[])], false),
            (
                "warn,[req{user=\"42\"}]=debug",
                "x",
                Level::DEBUG,
                vec![span("req", leak(&req_42_string))],
                true,
            ),
            ("warn,[req{user=\"42\"}]=debug", "x", Level::DEBUG, vec![span("req", REQ_42)], false),
            ("[{ok=true}]=trace", "x", Level::TRACE, vec![span("s", leak(&ok_true))], true),
            (
                "[{ok=true}]=trace",
                "x",
                Level::TRACE,
                vec![span("s", leak(&ok_true_string))],
                true,
            ),
            ("[{ok=\"true\"}]=trace", "x", Level::TRACE, vec![span("s", leak(&ok_true))], false),
            ("[req{user}]=debug", "x", Level::DEBUG, vec![span("req", REQ_42)], true),
            ("[req{user}]=debug", "x", Level::DEBUG, vec![span("req", leak(&a_1))], false),
            ("[req{user}]=debug", "x", Level::DEBUG, vec![span("other", REQ_42)], false),
            // The directive's target applies to the event.
            ("info,my_crate[req]=debug", "my_crate::a", Level::DEBUG, vec![span("req", &[])], true),
            ("info,my_crate[req]=debug", "other", Level::DEBUG, vec![span("req", &[])], false),
            ("info,my_crate[req]=debug", "other", Level::INFO, vec![span("req", &[])], true),
            // Specificity: span part, then field count, then target, then position.
            ("a=trace,[req]=warn", "a", Level::DEBUG, vec![span("req", &[])], false),
            ("[req]=warn,a=trace", "a", Level::DEBUG, vec![span("req", &[])], false),
            ("[req{a=1}]=error,[req]=debug", "x", Level::WARN, vec![span("req", leak(&a_1))], false),
            ("[req]=debug,[req{a=1}]=error", "x", Level::WARN, vec![span("req", leak(&a_1))], false),
            ("[req]=debug,[req{a=1}]=error", "x", Level::DEBUG, vec![span("req", &[])], true),
            ("a[req]=trace,[req]=warn", "a", Level::TRACE, vec![span("req", &[])], true),
            ("[req]=warn,a[req]=trace", "ab", Level::TRACE, vec![span("req", &[])], true),
            ("[a]=debug,[b]=error", "x", Level::DEBUG, vec![span("a", &[]), span("b", &[])], false),
            ("[b]=error,[a]=debug", "x", Level::DEBUG, vec![span("a", &[]), span("b", &[])], true),
        ];
        for (input, target, level, spans, want) in cases {
            assert_eq!(
                filter(input).enabled(target, level, &spans),
                want,
                "filter {input:?}, target {target:?}, level {level}, spans {spans:?}"
            );
        }
    }

    /// Filter, target, span name (`None` for an event), declared fields,
    /// then the expected static level, dynamic and tracked.
    type VerdictCase = (
        &'static str,
        &'static str,
        Option<&'static str>,
        &'static [&'static str],
        LevelFilter,
        bool,
        bool,
    );

    #[test]
    fn callsite_verdicts() {
        // One case per line reads as a table; rustfmt would split them.
        #[rustfmt::skip]
        let cases: &[VerdictCase] = &[
            ("info", "x", None, &[], LevelFilter::INFO, false, false),
            ("info", "x", Some("req"), &[], LevelFilter::INFO, false, false),
            ("", "x", None, &[], LevelFilter::OFF, false, false),
            ("info,h2=error", "h2::proto", None, &[], LevelFilter::ERROR, false, false),
            ("info,[req]=debug", "x", None, &[], LevelFilter::INFO, true, false),
            ("info,[req]=debug", "x", Some("req"), &[], LevelFilter::INFO, true, true),
            ("info,[req]=debug", "x", Some("other"), &[], LevelFilter::INFO, true, false),
            ("warn,my_crate[req]=debug", "other", Some("req"), &[], LevelFilter::WARN, false, true),
            ("warn,my_crate[req]=debug", "my_crate", None, &[], LevelFilter::WARN, true, false),
            ("[req{user=1}]=debug", "x", Some("req"), &["user"], LevelFilter::OFF, true, true),
            ("[req{user=1}]=debug", "x", Some("req"), &["id"], LevelFilter::OFF, true, false),
            ("[{user}]=debug", "x", Some("any"), &["id", "user"], LevelFilter::OFF, true, true),
            ("[{user}]=debug", "x", Some("any"), &["id"], LevelFilter::OFF, true, false),
            ("[{user}]=debug", "x", None, &["user"], LevelFilter::OFF, true, false),
        ];
        for &(input, target, span_name, fields, static_level, dynamic, tracked) in cases {
            let has_field = |name: &str| fields.contains(&name);
            let got = filter(input)
                .compiled
                .callsite(target, span_name, has_field);
            let want = CallsiteVerdict {
                static_level,
                dynamic,
                tracked,
            };
            assert_eq!(
                got, want,
                "filter {input:?}, target {target:?}, span {span_name:?}"
            );
        }
    }

    #[test]
    fn span_bits_follow_the_sorted_order() {
        // Sorted: [b{x}] (one field), c[d] (longer target), [a], then h2.
        let filter = filter("[a]=info,h2=warn,[b{x}]=debug,c[d]=warn");
        let has_x = |name: &str| name == "x";
        let has_none = |_: &str| false;
        let bits = |name: &str, has_field: &dyn Fn(&str) -> bool| {
            filter.compiled.span_bits(name, has_field, &[])
        };
        assert_eq!(bits("a", &has_none), 0b100);
        assert_eq!(bits("b", &has_x), 0b001);
        assert_eq!(bits("b", &has_none), 0);
        assert_eq!(bits("d", &has_none), 0b010);
        assert_eq!(bits("e", &has_x), 0);

        assert_eq!(filter.level_in_scope("c::x", 0b110), LevelFilter::WARN);
        assert_eq!(filter.level_in_scope("z", 0b110), LevelFilter::INFO);
        assert_eq!(filter.level_in_scope("z", 0b111), LevelFilter::DEBUG);
        assert_eq!(filter.level_in_scope("h2", 0), LevelFilter::WARN);
        assert_eq!(filter.level_in_scope("z", 0), LevelFilter::OFF);
        assert_eq!(filter.level_in_scope("z", u64::MAX << 3), LevelFilter::OFF);
    }

    struct ReqCallsite;
    static REQ_CALLSITE: ReqCallsite = ReqCallsite;
    static REQ_META: Metadata<'static> = tracing_core::metadata! {
        name: "req",
        target: "my_crate::http",
        level: Level::DEBUG,
        fields: &["user", "id"],
        callsite: &REQ_CALLSITE,
        kind: Kind::SPAN,
    };
    impl Callsite for ReqCallsite {
        fn set_interest(&self, _: Interest) {}
        fn metadata(&self) -> &Metadata<'_> {
            &REQ_META
        }
    }

    struct EventCallsite;
    static EVENT_CALLSITE: EventCallsite = EventCallsite;
    static EVENT_META: Metadata<'static> = tracing_core::metadata! {
        name: "event src/http.rs:10",
        target: "my_crate::http",
        level: Level::DEBUG,
        fields: &["message"],
        callsite: &EVENT_CALLSITE,
        kind: Kind::EVENT,
    };
    impl Callsite for EventCallsite {
        fn set_interest(&self, _: Interest) {}
        fn metadata(&self) -> &Metadata<'_> {
            &EVENT_META
        }
    }

    #[test]
    fn metadata_wrappers() {
        let filter = filter("info,[req{user}]=debug,[req{user=\"7\"}]=trace,[other]=off");
        assert_eq!(
            filter.callsite(&REQ_META),
            CallsiteVerdict {
                static_level: LevelFilter::INFO,
                dynamic: true,
                tracked: true,
            }
        );
        assert_eq!(
            filter.callsite(&EVENT_META),
            CallsiteVerdict {
                static_level: LevelFilter::INFO,
                dynamic: true,
                tracked: false,
            }
        );

        // Sorted: [req{user="7"}], [req{user}], [other].
        assert_eq!(filter.span_bits(&REQ_META, &[]), 0b010);
        assert_eq!(filter.span_bits(&REQ_META, &[string("user", "7")]), 0b011);
        assert_eq!(filter.span_bits(&REQ_META, &[other("user", "7")]), 0b010);
        assert_eq!(
            filter.level_in_scope("my_crate::http", 0b011),
            LevelFilter::TRACE
        );
        assert_eq!(
            filter.level_in_scope("my_crate::http", 0b100),
            LevelFilter::OFF
        );

        let plain = Filter::parse("info").unwrap_or_default();
        assert_eq!(plain.span_bits(&REQ_META, &[]), 0);
    }

    #[test]
    fn display_is_canonical() {
        let cases: &[(&str, &str)] = &[
            ("", ""),
            (" , ,", ""),
            (
                "INFO, h2 = ERROR ,my_crate[req{user=\"42\"}]=debug",
                "info,h2=error,my_crate[req{user=\"42\"}]=debug",
            ),
            ("warn,info", "info"),
            ("h2=error,x,h2=debug", "x=trace,h2=debug"),
            ("a:1", "a=error"),
            ("[req]", "[req]=trace"),
            ("a::,3", "info,a::=trace"),
            ("[{b=2,a=\"x,y\"}]=5", "[{a=\"x,y\",b=2}]=trace"),
            ("[s{a}]=info,[s{a}]=warn", "[s{a}]=warn"),
            ("x[s]=info,[s]=warn", "x[s]=info,[s]=warn"),
            ("\"my crate\"=OFF", "\"my crate\"=off"),
            ("\"plain\"=warning", "plain=warn"),
            ("\"a:b\"", "\"a:b\"=trace"),
            (
                "[\"x]y\"{\"k k\"=\"v\\\"\\\\\"}]=debug",
                "[\"x]y\"{\"k k\"=\"v\\\"\\\\\"}]=debug",
            ),
            ("\n\tinfo\n,\n\ttower=error\n", "info,tower=error"),
        ];
        for &(input, want) in cases {
            assert_eq!(filter(input).to_string(), want, "input {input:?}");
        }
    }

    #[test]
    fn colon_spelling_is_reported() {
        let cases: &[(&str, bool)] = &[
            ("a=info", false),
            ("a:info", true),
            ("info,a::b:debug", true),
            ("[s]:warn", true),
            ("a::=info", false),
        ];
        for &(input, want) in cases {
            assert_eq!(filter(input).used_colon_spelling(), want, "input {input:?}");
        }
        let (lossy, errors) = Filter::parse_lossy("a:bad,b=info");
        assert!(!lossy.used_colon_spelling());
        assert_eq!(errors.len(), 1);
        let both = filter("a=info").extend(filter("b:info"));
        assert!(both.used_colon_spelling());
    }

    #[test]
    fn strict_and_lossy_parse() {
        let input = "info,a=bad,h2=error";
        let error = Filter::parse(input).unwrap_err();
        assert_eq!(error.offset(), 7);
        let (lossy, errors) = Filter::parse_lossy(input);
        assert_eq!(lossy.to_string(), "info,h2=error");
        assert_eq!(errors, vec![error]);
        let parsed: Result<Filter, ParseError> = "h2=".parse();
        assert_eq!(
            parsed.map_err(|error| error.to_string()),
            Err(
                "invalid directive at byte 3: expected a level after '=', found end of input"
                    .into()
            )
        );
    }

    #[test]
    fn assembly_from_three_sources() {
        let built_in = ["h2", "tower", "hyper_util"]
            .iter()
            .fold(Filter::new(), |filter, target| {
                filter.add_target(target, LevelFilter::ERROR)
            })
            .add_target("request_span", LevelFilter::TRACE);
        let file = Filter::new()
            .add_target("my_service::router", LevelFilter::DEBUG)
            .with_default_level(LevelFilter::INFO);
        let env = filter("h2=debug");

        let all = built_in.clone().extend(file.clone()).extend(env);
        assert_eq!(
            all.to_string(),
            "info,tower=error,hyper_util=error,request_span=trace,my_service::router=debug,h2=debug"
        );
        assert!(all.enabled("h2::proto", Level::DEBUG, &[]));
        assert!(!all.enabled("tower", Level::WARN, &[]));
        assert!(all.enabled("anything", Level::INFO, &[]));
        assert_eq!(all.default_level(), Some(LevelFilter::INFO));

        // A default level in the higher source replaces ours.
        let all = built_in.extend(file).extend(filter("warn,my_crate=debug"));
        assert_eq!(all.default_level(), Some(LevelFilter::WARN));
        assert!(!all.enabled("anything", Level::INFO, &[]));
        assert!(all.enabled("h2", Level::ERROR, &[]));
        assert!(!all.enabled("h2", Level::WARN, &[]));

        // Extending with an empty filter changes nothing.
        let one = filter("info,h2=error");
        assert_eq!(one.clone().extend(Filter::new()), one);
    }

    #[test]
    fn extend_keeps_the_last_64_span_directives() {
        let ours: Vec<String> = (0..64).map(|idx| format!("[a{idx}]=info")).collect();
        let ours = filter(&ours.join(","));
        let all = ours.extend(filter("[b]=debug,h2=warn"));
        assert_eq!(all.len(), 65);
        assert!(!all.to_string().contains("[a0]"));
        assert!(all.to_string().starts_with("[a1]=info,[a2]=info,"));
        assert!(all.to_string().ends_with(",[a63]=info,[b]=debug,h2=warn"));
        assert!(all.enabled("x", Level::DEBUG, &[span("b", &[])]));
        assert!(!all.enabled("x", Level::INFO, &[span("a0", &[])]));
        assert!(all.enabled("x", Level::INFO, &[span("a63", &[])]));
    }

    #[test]
    fn lengths_and_emptiness() {
        let cases: &[(&str, usize)] = &[
            ("", 0),
            (",,", 0),
            ("info", 1),
            ("info,warn", 1),
            ("h2=error", 1),
            ("info,h2=error,h2=warn", 2),
            ("info,h2=error,h2[s]=warn,[s]", 4),
        ];
        for &(input, want) in cases {
            let filter = filter(input);
            assert_eq!(filter.len(), want, "input {input:?}");
            assert_eq!(filter.is_empty(), want == 0, "input {input:?}");
        }
        assert!(Filter::new().is_empty());
        assert_eq!(Filter::new(), Filter::default());
        assert_eq!(Filter::new().default_level(), None);
        assert_eq!(Filter::new().with_default_level(LevelFilter::WARN).len(), 1);
    }

    #[test]
    fn max_level_hints() {
        let cases: &[(&str, LevelFilter)] = &[
            ("", LevelFilter::OFF),
            ("off", LevelFilter::OFF),
            ("info", LevelFilter::INFO),
            ("warn,[x]=trace", LevelFilter::TRACE),
            ("off,h2=error", LevelFilter::ERROR),
            ("debug,a=off", LevelFilter::DEBUG),
            ("info,[health]=off", LevelFilter::INFO),
            ("h2", LevelFilter::TRACE),
        ];
        for &(input, want) in cases {
            assert_eq!(filter(input).max_level_hint(), want, "input {input:?}");
        }
        let raised = filter("info").extend(Filter::new().add_target("x", LevelFilter::TRACE));
        assert_eq!(raised.max_level_hint(), LevelFilter::TRACE);
        assert!(filter("[x]=info").has_span_directives());
        assert!(!filter("info,x=debug").has_span_directives());
    }

    #[test]
    fn any_target_added_in_code_prints_back() {
        let targets = [
            "my crate", "", "a:b", "info", "5", "a,b", "q\"\\", "a::", "日本",
        ];
        let built = targets.iter().fold(Filter::new(), |filter, target| {
            filter.add_target(target, LevelFilter::DEBUG)
        });
        let printed = built.to_string();
        assert_eq!(
            printed,
            "\"my crate\"=debug,\"\"=debug,\"a:b\"=debug,info=debug,5=debug,\"a,b\"=debug,\
             \"q\\\"\\\\\"=debug,a::=debug,日本=debug"
        );
        assert_eq!(filter(&printed), built);
    }

    #[test]
    fn large_inputs_stay_linear() {
        // 40 000 directives, half of them repeats: a quadratic step would
        // make this test take minutes.
        let input: Vec<String> = (0..40_000)
            .map(|idx| format!("t{}=debug", idx % 20_000))
            .collect();
        let (filter, errors) = Filter::parse_lossy(&input.join(","));
        assert_eq!(errors, vec![]);
        assert_eq!(filter.len(), 20_000);
        assert!(filter.enabled("t19999", Level::DEBUG, &[]));
        assert!(!filter.enabled("u", Level::ERROR, &[]));
    }

    /// A small xorshift64* generator, so the randomized test is repeatable.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }

        fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
            items[self.below(items.len())]
        }
    }

    const ODD_CHARS: &[&str] = &[
        ",", "]", "[", "}", "{", "=", "\"", "\\", " ", "\n", "\t", "é", "日", ":", "a", "Z", "0",
        "-", ".", "_",
    ];

    fn gen_quoted(rng: &mut Rng, out: &mut String) {
        out.push('"');
        for _ in 0..rng.below(5) {
            match rng.pick(ODD_CHARS) {
                "\"" => out.push_str("\\\""),
                "\\" => out.push_str("\\\\"),
                c => out.push_str(c),
            }
        }
        out.push('"');
    }

    fn gen_ws(rng: &mut Rng, out: &mut String) {
        out.push_str(rng.pick(&["", "", "", " ", "\t", "\n "]));
    }

    fn gen_level(rng: &mut Rng, out: &mut String) {
        let word = rng.pick(&[
            "off", "ERROR", "Warn", "warning", "info", "DEBUG", "trace", "0", "1", "2", "3", "4",
            "5",
        ]);
        out.push_str(word);
    }

    fn gen_target(rng: &mut Rng, out: &mut String) {
        if rng.below(4) == 0 {
            gen_quoted(rng, out);
            return;
        }
        let pieces = ["a", "tokio", "h2", "my-crate", "x.y", "_", "é", "9", "info"];
        for idx in 0..=rng.below(3) {
            if idx > 0 {
                out.push_str("::");
            }
            out.push_str(rng.pick(&pieces));
        }
        if rng.below(4) == 0 {
            out.push_str("::");
        }
    }

    fn gen_span(rng: &mut Rng, out: &mut String) {
        out.push('[');
        gen_ws(rng, out);
        let has_name = rng.below(3) > 0;
        if has_name {
            if rng.below(3) == 0 {
                gen_quoted(rng, out);
            } else {
                out.push_str(rng.pick(&["req", "http-request", "a::b", "engine.generate", "x:y"]));
            }
        }
        if !has_name || rng.below(2) == 0 {
            out.push('{');
            for idx in 0..=rng.below(3) {
                if idx > 0 {
                    out.push(',');
                }
                gen_ws(rng, out);
                if rng.below(5) == 0 {
                    gen_quoted(rng, out);
                } else {
                    out.push_str(rng.pick(&["user", "id", "http.method", "ok"]));
                }
                if rng.below(4) > 0 {
                    out.push('=');
                    gen_ws(rng, out);
                    if rng.below(2) == 0 {
                        gen_quoted(rng, out);
                    } else {
                        out.push_str(rng.pick(&["42", "-1.5", "true", "Some(3)", "a:b", "é"]));
                    }
                }
                gen_ws(rng, out);
            }
            out.push('}');
        }
        gen_ws(rng, out);
        out.push(']');
    }

    fn gen_directive(rng: &mut Rng, out: &mut String) {
        gen_ws(rng, out);
        match rng.below(10) {
            0 | 1 => gen_level(rng, out),
            2..=4 => gen_target(rng, out),
            5 | 6 => gen_span(rng, out),
            7 | 8 => {
                gen_target(rng, out);
                gen_span(rng, out);
            }
            _ => {
                for _ in 0..rng.below(8) {
                    out.push_str(rng.pick(ODD_CHARS));
                }
            }
        }
        if !out.ends_with(|c: char| c.is_whitespace()) || rng.below(2) == 0 {
            match rng.below(4) {
                0 => {}
                1 => {
                    out.push(':');
                    gen_level(rng, out);
                }
                _ => {
                    out.push('=');
                    gen_ws(rng, out);
                    gen_level(rng, out);
                }
            }
        }
        gen_ws(rng, out);
    }

    fn assert_round_trip(input: &str, filter: &Filter) {
        let printed = filter.to_string();
        let reparsed = match Filter::parse(&printed) {
            Ok(reparsed) => reparsed,
            Err(error) => panic!("dynlog: {printed:?} (from {input:?}) does not parse: {error}"),
        };
        assert_eq!(&reparsed, filter, "input {input:?}, printed {printed:?}");
        assert_eq!(reparsed.to_string(), printed, "input {input:?}");
    }

    #[test]
    fn randomized_round_trip() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let mut n_strict = 0;
        let mut n_errors = 0;
        for _ in 0..4000 {
            let mut input = String::new();
            for idx in 0..rng.below(5) {
                if idx > 0 {
                    input.push(',');
                }
                gen_directive(&mut rng, &mut input);
            }

            if let Ok(filter) = Filter::parse(&input) {
                assert_round_trip(&input, &filter);
                n_strict += 1;
            }
            let (filter, errors) = Filter::parse_lossy(&input);
            assert_round_trip(&input, &filter);
            for error in &errors {
                assert!(error.offset() <= input.len(), "input {input:?}: {error}");
                assert!(
                    input.is_char_boundary(error.offset()),
                    "input {input:?}: {error}"
                );
            }
            n_errors += errors.len();
        }
        // Both paths must be exercised by the fixed seed.
        assert!(n_strict > 1500, "only {n_strict} inputs parsed");
        assert!(n_errors > 500, "only {n_errors} errors");
    }
}
