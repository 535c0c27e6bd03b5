//! Escaping of string values for JSON lines and for readable text, and the
//! byte budget that cuts an oversized value at a character boundary.
//!
//! Promise: whatever `&str` goes in, the bytes written contain no raw byte
//! below 0x20, no 0x7F and no C1 control character (U+0080 to U+009F). JSON
//! output also escapes `"` and `\`; readable text leaves them as they are so
//! Debug and Display text stays readable. `\n`, `\r` and `\t` are written as
//! those two-character escapes, every other control as `\u00xx` with
//! lowercase hex digits. Nothing here allocates except by growing the
//! caller's `Vec<u8>`. Input is checked eight bytes at a time, a suspect
//! word goes through a 256-entry table, and clean runs are copied in bulk.

use core::fmt;

/// The value cap SPEC section 4 names as the default: 1 MiB of input bytes.
pub(crate) const DEFAULT_MAX_VALUE_BYTES: usize = 1 << 20;

/// Table entry for a byte copied as it is.
const CLEAN: u8 = 0;

/// Table entry for a byte written as `\u00xx`.
const UNICODE: u8 = b'u';

/// Table entry for 0xC2, the UTF-8 lead byte of U+0080 to U+00BF: a C1
/// control when the next byte is 0x80 to 0x9F, a printable character else.
const C1_LEAD: u8 = 0xC2;

/// Lowercase hex digits for `\u00xx`.
const HEX: &[u8; 16] = b"0123456789abcdef";

/// Builds a 256-entry table: `CLEAN`, `UNICODE`, `C1_LEAD`, or the letter
/// that follows the backslash of a two-character escape.
const fn build_table(is_json: bool) -> [u8; 256] {
    let mut table = [CLEAN; 256];
    let mut idx = 0;
    while idx < 0x20 {
        table[idx] = UNICODE;
        idx += 1;
    }
    table[b'\n' as usize] = b'n';
    table[b'\r' as usize] = b'r';
    table[b'\t' as usize] = b't';
    table[0x7F] = UNICODE;
    table[0xC2] = C1_LEAD;
    if is_json {
        table[b'"' as usize] = b'"';
        table[b'\\' as usize] = b'\\';
    }
    table
}

/// What JSON strings escape.
static JSON_TABLE: [u8; 256] = build_table(true);

/// What readable text escapes: the JSON set minus `"` and `\`.
static TEXT_TABLE: [u8; 256] = build_table(false);

/// Repeats a byte in all eight lanes of a word.
const fn splat(byte: u8) -> u64 {
    u64::from_ne_bytes([byte; 8])
}

/// Whether some byte of `word` is below 0x20, 0x7F, 0xC2 (the lead byte of
/// C1 controls), or for JSON `"` or `\`.
///
/// Exact about whether such a byte exists, which is all the caller needs:
/// `(x - splat(0x20)) & !x` sets the high bit of every lane below 0x20, and
/// since a borrow can only start at such a lane, any lane it flags wrongly
/// lies above a real one. The same test on `x ^ splat(c)` with
/// `splat(0x01)` finds a byte equal to `c`. Other non-ASCII bytes pass, so
/// most UTF-8 text stays on the fast path.
#[inline]
fn needs_lookup<const IS_JSON: bool>(word: u64) -> bool {
    let has_equal = |byte: u8| {
        let diff = word ^ splat(byte);
        diff.wrapping_sub(splat(0x01)) & !diff
    };
    let mut hits = word.wrapping_sub(splat(0x20)) & !word;
    hits |= has_equal(0x7F) | has_equal(0xC2);
    if IS_JSON {
        hits |= has_equal(b'"') | has_equal(b'\\');
    }
    hits & splat(0x80) != 0
}

/// Returns the first index at or after `idx` where an 8-byte word is not
/// all clean (or fewer than 8 bytes are left).
#[inline]
fn skip_clean_words<const IS_JSON: bool>(bytes: &[u8], mut idx: usize) -> usize {
    while let Some(chunk) = bytes.get(idx..idx + 8) {
        let mut word = [0; 8];
        word.copy_from_slice(chunk);
        if needs_lookup::<IS_JSON>(u64::from_le_bytes(word)) {
            break;
        }
        idx += 8;
    }
    idx
}

/// Appends `s` to `out`, escaping what JSON (or readable text) must not
/// carry raw. Clean words are skipped eight bytes at a time; the bytes of a
/// word that may need escaping go through the 256-entry table; clean runs
/// are copied with one `extend_from_slice` each.
#[inline]
fn escape_into<const IS_JSON: bool>(out: &mut Vec<u8>, s: &str) {
    let table = if IS_JSON { &JSON_TABLE } else { &TEXT_TABLE };
    let bytes = s.as_bytes();
    out.reserve(bytes.len());
    let mut start = 0;
    let mut idx = 0;

    while idx < bytes.len() {
        idx = skip_clean_words::<IS_JSON>(bytes, idx);

        // Look up the next word's bytes one at a time; an escape may step
        // past `end`, which is fine.
        let end = bytes.len().min(idx + 8);
        while idx < end {
            let kind = table[usize::from(bytes[idx])];
            if kind == CLEAN {
                idx += 1;
                continue;
            }

            // A 0xC2 lead byte starts a control only before 0x80..=0x9F;
            // the input is valid UTF-8, so a continuation byte follows it.
            let (code, width) = if kind == C1_LEAD {
                match bytes.get(idx + 1) {
                    Some(&next) if (0x80..=0x9F).contains(&next) => (next, 2),
                    _ => {
                        idx += 1;
                        continue;
                    }
                }
            } else {
                (bytes[idx], 1)
            };

            out.extend_from_slice(&bytes[start..idx]);
            write_escape(out, kind, code);
            idx += width;
            start = idx;
        }
    }

    out.extend_from_slice(&bytes[start..]);
}

/// Writes the escape of one control character or quote.
#[inline]
fn write_escape(out: &mut Vec<u8>, kind: u8, code: u8) {
    if kind == UNICODE || kind == C1_LEAD {
        let hi = HEX[usize::from(code >> 4)];
        let lo = HEX[usize::from(code & 0x0F)];
        out.extend_from_slice(&[b'\\', b'u', b'0', b'0', hi, lo]);
    } else {
        out.extend_from_slice(&[b'\\', kind]);
    }
}

/// Appends `s` as a JSON string: a quote, the escaped content, a quote.
#[inline]
pub(crate) fn json_str(out: &mut Vec<u8>, s: &str) {
    out.reserve(s.len() + 2);
    out.push(b'"');
    escape_into::<true>(out, s);
    out.push(b'"');
}

/// Appends the escaped content of `s` as JSON, without the quotes.
#[inline]
pub(crate) fn json_str_content(out: &mut Vec<u8>, s: &str) {
    escape_into::<true>(out, s);
}

/// Appends `s` as a JSON string cut after `limit` input bytes, at a
/// character boundary, with `...[truncated N bytes]` before the closing
/// quote when anything was cut. Returns the number of bytes cut.
#[inline]
pub(crate) fn json_str_limited(out: &mut Vec<u8>, s: &str, limit: usize) -> usize {
    let (head, cut) = truncate_at_char_boundary(s, limit);
    out.reserve(head.len() + 2);
    out.push(b'"');
    escape_into::<true>(out, head);
    if cut > 0 {
        write_truncation_marker(out, cut);
    }
    out.push(b'"');
    cut
}

/// Appends `s` for readable text, bare: controls, 0x7F and C1 escaped as in
/// JSON, quotes and backslashes left as they are.
#[inline]
pub(crate) fn text_bare(out: &mut Vec<u8>, s: &str) {
    escape_into::<false>(out, s);
}

/// Like [`text_bare`], cut after `limit` input bytes at a character boundary
/// and followed by `...[truncated N bytes]` when anything was cut. Returns
/// the number of bytes cut.
#[inline]
pub(crate) fn text_bare_limited(out: &mut Vec<u8>, s: &str, limit: usize) -> usize {
    let (head, cut) = truncate_at_char_boundary(s, limit);
    escape_into::<false>(out, head);
    if cut > 0 {
        write_truncation_marker(out, cut);
    }
    cut
}

/// Splits off the longest prefix of `s` that is at most `max` bytes and ends
/// on a character boundary. Returns the prefix and how many bytes were cut.
#[inline]
pub(crate) fn truncate_at_char_boundary(s: &str, max: usize) -> (&str, usize) {
    if s.len() <= max {
        return (s, 0);
    }

    // A UTF-8 character is at most 4 bytes, so this steps back at most 3.
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    let head = s.get(..end).unwrap_or("");
    (head, s.len() - head.len())
}

/// Appends `...[truncated N bytes]`, the marker that ends a cut value. The
/// marker is plain ASCII and needs no escaping in JSON or text.
#[cold]
pub(crate) fn write_truncation_marker(out: &mut Vec<u8>, cut: usize) {
    out.extend_from_slice(b"...[truncated ");
    out.extend_from_slice(itoa::Buffer::new().format(cut).as_bytes());
    out.extend_from_slice(b" bytes]");
}

/// How many input bytes an escaper may still copy, and how many it has cut.
///
/// Invariant: once a write does not fit, `remaining` is 0, so no later
/// piece can slip in after a gap; the output is always a prefix of the input.
#[derive(Debug)]
struct Budget {
    remaining: usize,
    cut: usize,
}

impl Budget {
    /// Returns the part of `s` that fits and counts the rest as cut.
    #[inline]
    fn take<'s>(&mut self, s: &'s str) -> &'s str {
        if s.len() <= self.remaining {
            self.remaining -= s.len();
            return s;
        }

        let (head, cut) = truncate_at_char_boundary(s, self.remaining);
        self.remaining = 0;
        self.cut = self.cut.saturating_add(cut);
        head
    }
}

/// A `fmt::Write` sink that escapes Debug and Display text as it is
/// written, optionally cut after a number of input bytes: for the inside of
/// a JSON string (`JSON = true`; the caller writes the quotes), or for
/// readable text the way [`text_bare`] does.
///
/// Without a limit the budget check is one comparison per `write_str`.
#[derive(Debug)]
pub(crate) struct Escaper<'a, const JSON: bool> {
    out: &'a mut Vec<u8>,
    budget: Budget,
}

/// Escapes for the inside of a JSON string.
pub(crate) type JsonEscaper<'a> = Escaper<'a, true>;

/// Escapes for readable text.
pub(crate) type TextEscaper<'a> = Escaper<'a, false>;

impl<'a, const JSON: bool> Escaper<'a, JSON> {
    /// An escaper that copies everything.
    #[inline]
    #[cfg(test)]
    pub(crate) fn new(out: &'a mut Vec<u8>) -> Self {
        Self::with_limit(out, usize::MAX)
    }

    /// An escaper that copies at most `limit` input bytes, cut at a
    /// character boundary, and counts the rest.
    #[inline]
    pub(crate) fn with_limit(out: &'a mut Vec<u8>, limit: usize) -> Self {
        Escaper {
            out,
            budget: Budget {
                remaining: limit,
                cut: 0,
            },
        }
    }

    /// Input bytes cut so far.
    #[inline]
    #[cfg(test)]
    pub(crate) fn cut(&self) -> usize {
        self.budget.cut
    }

    /// Appends `...[truncated N bytes]` if anything was cut and returns N.
    #[inline]
    pub(crate) fn finish(self) -> usize {
        if self.budget.cut > 0 {
            write_truncation_marker(self.out, self.budget.cut);
        }
        self.budget.cut
    }
}

impl<const JSON: bool> fmt::Write for Escaper<'_, JSON> {
    #[inline]
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let head = self.budget.take(s);
        escape_into::<JSON>(self.out, head);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::fmt::Write as _;

    fn json(s: &str) -> String {
        let mut out = Vec::new();
        json_str(&mut out, s);
        String::from_utf8(out).unwrap()
    }

    fn text(s: &str) -> String {
        let mut out = Vec::new();
        text_bare(&mut out, s);
        String::from_utf8(out).unwrap()
    }

    /// The escape of each byte 0x00..=0x1F, in order.
    const CONTROL_ESCAPES: [&str; 32] = [
        r"\u0000", r"\u0001", r"\u0002", r"\u0003", r"\u0004", r"\u0005", r"\u0006", r"\u0007",
        r"\u0008", r"\t", r"\n", r"\u000b", r"\u000c", r"\r", r"\u000e", r"\u000f", r"\u0010",
        r"\u0011", r"\u0012", r"\u0013", r"\u0014", r"\u0015", r"\u0016", r"\u0017", r"\u0018",
        r"\u0019", r"\u001a", r"\u001b", r"\u001c", r"\u001d", r"\u001e", r"\u001f",
    ];

    #[test]
    fn every_control_byte_is_escaped_in_json_and_text() {
        for (byte, expected) in (0u8..0x20).zip(CONTROL_ESCAPES) {
            let input = format!("a{}b", char::from(byte));
            assert_eq!(
                json(&input),
                format!("\"a{expected}b\""),
                "byte {byte:#04x}"
            );
            assert_eq!(text(&input), format!("a{expected}b"), "byte {byte:#04x}");
        }
    }

    #[test]
    fn delete_and_c1_controls_are_escaped_lowercase() {
        assert_eq!(json("\u{7f}"), r#""\u007f""#);
        assert_eq!(text("\u{7f}"), r"\u007f");
        for code in 0x80u32..=0x9F {
            let input = char::from_u32(code).unwrap().to_string();
            assert_eq!(json(&input), format!("\"\\u00{code:02x}\""));
            assert_eq!(text(&input), format!("\\u00{code:02x}"));
        }
        assert_eq!(json("x\u{85}y\u{9b}[2J"), r#""x\u0085y\u009b[2J""#);
    }

    #[test]
    fn latin1_after_c1_range_passes_through() {
        // U+00A0..U+00BF share the 0xC2 lead byte but are printable.
        assert_eq!(json("\u{a0}\u{a9}\u{bf}"), "\"\u{a0}\u{a9}\u{bf}\"");
        assert_eq!(text("©"), "©");
    }

    #[test]
    fn quotes_and_backslashes() {
        assert_eq!(json(r#"say "hi" \ bye"#), r#""say \"hi\" \\ bye""#);
        assert_eq!(text(r#"say "hi" \ bye"#), r#"say "hi" \ bye"#);
        assert_eq!(json(""), r#""""#);
        assert_eq!(json("\""), r#""\"""#);
        assert_eq!(json("\\\\"), r#""\\\\""#);
    }

    #[test]
    fn non_ascii_passes_through() {
        assert_eq!(json("café 日本 🦀"), "\"café 日本 🦀\"");
        assert_eq!(text("café 日本 🦀"), "café 日本 🦀");
        assert_eq!(json("é\n日"), "\"é\\n日\"");
    }

    #[test]
    fn long_clean_runs_are_copied_whole() {
        let clean = "abcdefghij".repeat(1000);
        assert_eq!(json(&clean), format!("\"{clean}\""));

        let mixed = format!("{clean}\n{clean}\t");
        assert_eq!(json(&mixed), format!("\"{clean}\\n{clean}\\t\""));
        assert_eq!(text(&mixed), format!("{clean}\\n{clean}\\t"));
    }

    #[test]
    fn escapes_are_found_at_every_position_of_a_word() {
        let specials: [(&str, &str, &str); 8] = [
            ("\u{1}", r"\u0001", r"\u0001"),
            ("\u{7f}", r"\u007f", r"\u007f"),
            ("\u{9f}", r"\u009f", r"\u009f"),
            ("\"", r#"\""#, "\""),
            ("\\", r"\\", "\\"),
            ("é", "é", "é"),
            ("©", "©", "©"),
            ("日", "日", "日"),
        ];
        for (special, in_json, in_text) in specials {
            for position in 0..20 {
                let (before, after) = "0123456789abcdefghij".split_at(position);
                let input = format!("{before}{special}{after}");
                let json_expected = format!("\"{before}{in_json}{after}\"");
                let text_expected = format!("{before}{in_text}{after}");
                assert_eq!(json(&input), json_expected, "{special:?} at {position}");
                assert_eq!(text(&input), text_expected, "{special:?} at {position}");
            }
        }
    }

    #[test]
    fn content_has_no_quotes() {
        let mut out = b"[".to_vec();
        json_str_content(&mut out, "a\"b");
        assert_eq!(out, br#"[a\"b"#);
    }

    #[test]
    fn truncate_at_char_boundary_table() {
        let cases: [(&str, usize, &str, usize); 9] = [
            ("hello", 10, "hello", 0),
            ("hello", 5, "hello", 0),
            ("hello", 3, "hel", 2),
            ("hello", 0, "", 5),
            ("", 0, "", 0),
            ("é", 1, "", 2),
            ("aé", 2, "a", 2),
            ("日本", 4, "日", 3),
            ("🦀🦀", 7, "🦀", 4),
        ];
        for (input, max, head, cut) in cases {
            assert_eq!(
                truncate_at_char_boundary(input, max),
                (head, cut),
                "{input:?} {max}"
            );
        }
    }

    #[test]
    fn limited_strings_end_with_the_marker() {
        let mut out = Vec::new();
        assert_eq!(json_str_limited(&mut out, "abcdef", 4), 2);
        assert_eq!(out, br#""abcd...[truncated 2 bytes]""#);

        out.clear();
        assert_eq!(json_str_limited(&mut out, "a\"日本", 4), 6);
        assert_eq!(out, br#""a\"...[truncated 6 bytes]""#);

        out.clear();
        assert_eq!(json_str_limited(&mut out, "abc", 3), 0);
        assert_eq!(out, br#""abc""#);

        out.clear();
        assert_eq!(text_bare_limited(&mut out, "x\ny\"z", 3), 2);
        assert_eq!(out, b"x\\ny...[truncated 2 bytes]");
    }

    #[test]
    fn one_mib_value_is_cut_exactly() {
        let value = "é".repeat(DEFAULT_MAX_VALUE_BYTES / 2 + 10);
        let mut out = Vec::new();
        let cut = json_str_limited(&mut out, &value, DEFAULT_MAX_VALUE_BYTES);
        assert_eq!(cut, 20);
        assert_eq!(
            out.len(),
            1 + DEFAULT_MAX_VALUE_BYTES + "...[truncated 20 bytes]\"".len()
        );
        assert!(out.ends_with("éé...[truncated 20 bytes]\"".as_bytes()));
    }

    #[test]
    fn json_escaper_escapes_debug_text() {
        let mut out = Vec::new();
        let mut escaper = JsonEscaper::new(&mut out);
        write!(escaper, "{:?}", "a\"b\n").unwrap();
        assert_eq!(escaper.finish(), 0);
        assert_eq!(out, br#"\"a\\\"b\\n\""#);

        out.clear();
        let mut escaper = JsonEscaper::new(&mut out);
        let display = "line\none\u{1b}[31m";
        write!(escaper, "{display}").unwrap();
        assert_eq!(escaper.finish(), 0);
        assert_eq!(out, br#"line\none\u001b[31m"#);
    }

    #[test]
    fn json_escaper_cuts_across_writes_and_keeps_a_prefix() {
        let mut out = Vec::new();
        let mut escaper = JsonEscaper::with_limit(&mut out, 5);
        escaper.write_str("ab").unwrap();
        escaper.write_str("c日").unwrap();
        assert_eq!(escaper.cut(), 3);

        // A later piece that would fit the leftover byte is cut too.
        escaper.write_str("d").unwrap();
        escaper.write_str("efg").unwrap();
        assert_eq!(escaper.cut(), 7);
        assert_eq!(escaper.finish(), 7);
        assert_eq!(out, b"abc...[truncated 7 bytes]");
    }

    #[test]
    fn json_escaper_limit_exactly_reached_cuts_nothing() {
        let mut out = Vec::new();
        let mut escaper = JsonEscaper::with_limit(&mut out, 4);
        let (first, second) = ("ab", "\"d");
        write!(escaper, "{first}{second}").unwrap();
        assert_eq!(escaper.finish(), 0);
        assert_eq!(out, br#"ab\"d"#);
    }

    #[test]
    fn text_escaper_leaves_quotes_and_cuts() {
        let mut out = Vec::new();
        let mut escaper = TextEscaper::new(&mut out);
        write!(escaper, "{:?}", "q\"\r").unwrap();
        assert_eq!(escaper.finish(), 0);
        assert_eq!(out, br#""q\"\r""#);

        out.clear();
        let mut escaper = TextEscaper::with_limit(&mut out, 2);
        let display = "\u{85}🦀";
        write!(escaper, "{display}").unwrap();
        assert_eq!(escaper.cut(), 4);
        assert_eq!(escaper.finish(), 4);
        assert_eq!(out, br"\u0085...[truncated 4 bytes]");
    }

    #[test]
    #[cfg(not(dynlog_loom))] // serde_json is a dev-dependency
    fn escaped_json_parses_back_to_the_input() {
        let mut input = String::new();
        for code in (0u32..0x250).chain([0x2028, 0x2029, 0xFEFF, 0x1F980]) {
            input.push(char::from_u32(code).unwrap());
        }
        let mut out = Vec::new();
        json_str(&mut out, &input);
        assert!(!out.iter().any(|&b| b < 0x20 || b == 0x7F));
        assert!(!out
            .windows(2)
            .any(|w| w[0] == 0xC2 && (0x80..=0x9F).contains(&w[1])));
        let parsed: String = serde_json::from_slice(&out).unwrap();
        assert_eq!(parsed, input);
    }
}
