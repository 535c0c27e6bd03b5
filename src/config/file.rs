//! Reads one TOML configuration file into one checked layer of settings.
//!
//! A file is read with a cap of [`MAX_FILE_BYTES`], opened without blocking
//! (a FIFO or device in its place is refused, not waited on), must be UTF-8
//! and TOML. Any failure there is one [`Problem`] and the whole file is
//! ignored; the default file is skipped silently only when it does not
//! exist. Inside a good file, each bad value or unknown key is one problem
//! at its `path:line:column` (1-based, the column counted in characters)
//! and is ignored; the rest of the file still counts.
//!
//! Keys: `console_format`, `jsonl`, `span_events`, `use_local_tz`,
//! `disable_ansi`, `overflow`, `log_level`, `[log_filters]` (target = level
//! text) and `[otlp]` with `enabled`, `endpoint`, `protocol`, `headers`,
//! `timeout_ms`, `service_name`, `sample_ratio`. `headers` is either a
//! table of strings, taken as written, or a string `k=v,k=v` read like
//! `OTEL_EXPORTER_OTLP_HEADERS` (percent-decoded).

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;
use std::time::Duration;

use toml::de::{DeTable, DeValue};
use toml::Spanned;

use super::values::{self, is_blank, quote, Mismatch};
use super::{Format, Layer, Origin, Problem, Settings};
use crate::error::io_text;

/// The largest file read; a bigger one is refused whole.
pub(crate) const MAX_FILE_BYTES: usize = 1 << 20;

const EXPECTED_TARGET: &str = "a target without whitespace or any of ,=[]{}\"";

/// Reads `path`. `named_by` is the variable that named the file, or `None`
/// for the default file, which may be absent.
pub(super) fn load(
    path: &Path,
    named_by: Option<&str>,
    problems: &mut Vec<Problem>,
) -> Option<Layer> {
    let bytes = read_bytes(path, named_by, problems)?;
    let text = match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(err) => {
            let offset = err.utf8_error().valid_up_to();
            let bytes = err.as_bytes();
            problems.push(Problem {
                source: position(path, bytes, offset),
                message: format!("expected UTF-8 text, found byte 0x{:02x}", bytes[offset]),
            });
            return None;
        }
    };

    let table = match DeTable::parse(&text) {
        Ok(table) => table,
        Err(err) => {
            let offset = err.span().map_or(0, |span| span.start);
            let message = err
                .message()
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ");
            problems.push(Problem {
                source: position(path, text.as_bytes(), offset),
                message,
            });
            return None;
        }
    };

    let mut walker = Walker {
        path,
        text: &text,
        found: Vec::new(),
        settings: Settings::default(),
        log_level: None,
        log_filters: Vec::new(),
    };
    walker.top(table.get_ref());
    let Walker {
        mut found,
        settings,
        log_level,
        mut log_filters,
        ..
    } = walker;

    // Report and keep entries in file order, whatever order the table
    // iterates in.
    found.sort_by_key(|(offset, _)| *offset);
    problems.extend(found.into_iter().map(|(_, problem)| problem));
    log_filters.sort_by_key(|(offset, _, _)| *offset);

    let mut layer = Layer::new(settings, Origin::File(path.to_path_buf()));
    layer.log_level = log_level;
    layer.log_filters = log_filters
        .into_iter()
        .map(|(_, target, level)| (target, level))
        .collect();
    Some(layer)
}

/// A path as one line of text: as displayed, or quoted when it holds
/// control characters.
pub(super) fn path_text(path: &Path) -> String {
    let text = path.display().to_string();
    if text.chars().any(char::is_control) {
        quote(&text)
    } else {
        text
    }
}

fn position(path: &Path, text: &[u8], offset: usize) -> String {
    let (line, col) = line_col(text, offset);
    format!("{}:{line}:{col}", path_text(path))
}

/// The 1-based line and column of byte `offset`; the column counts
/// characters. An offset past the end is taken as the end.
fn line_col(text: &[u8], offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |idx| idx + 1);
    let line = 1 + before.iter().filter(|&&b| b == b'\n').count();
    let is_char_start = |b: &&u8| (**b & 0xC0) != 0x80;
    let col = 1 + before[line_start..].iter().filter(is_char_start).count();
    (line, col)
}

fn read_bytes(path: &Path, named_by: Option<&str>, problems: &mut Vec<Problem>) -> Option<Vec<u8>> {
    let mut report = |message: String| {
        problems.push(Problem {
            source: path_text(path),
            message,
        });
    };
    let cannot_read = |err: &io::Error| match named_by {
        Some(var) => format!("cannot read the file named by {var}: {}", io_text(err)),
        None => format!("cannot read the file: {}", io_text(err)),
    };

    let file = match open(path) {
        Ok(file) => file,
        Err(err) if err.kind() == io::ErrorKind::NotFound && named_by.is_none() => return None,
        Err(err) => {
            report(cannot_read(&err));
            return None;
        }
    };
    match file.metadata() {
        Ok(meta) if meta.is_file() => {}
        Ok(meta) if meta.is_dir() => {
            report("expected a TOML file, found a directory".to_owned());
            return None;
        }
        Ok(_) => {
            report("expected a TOML file, found a special file".to_owned());
            return None;
        }
        Err(err) => {
            report(cannot_read(&err));
            return None;
        }
    }

    let mut bytes = Vec::new();
    let cap = MAX_FILE_BYTES as u64 + 1;
    if let Err(err) = file.take(cap).read_to_end(&mut bytes) {
        report(cannot_read(&err));
        return None;
    }
    if bytes.len() > MAX_FILE_BYTES {
        report("expected a file of at most 1 MiB, found a larger file".to_owned());
        return None;
    }
    Some(bytes)
}

/// Opens for reading without waiting: a FIFO in the file's place would
/// otherwise block until a writer came.
#[cfg(unix)]
fn open(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
}

#[cfg(not(unix))]
fn open(path: &Path) -> io::Result<File> {
    File::open(path)
}

type Value<'i> = Spanned<DeValue<'i>>;

/// Walks a parsed file, keeping good values and noting problems with their
/// byte offsets.
struct Walker<'a> {
    path: &'a Path,
    text: &'a str,
    found: Vec<(usize, Problem)>,
    settings: Settings,
    log_level: Option<String>,
    log_filters: Vec<(usize, String, String)>,
}

impl Walker<'_> {
    fn top(&mut self, table: &DeTable<'_>) {
        let mut console_format = None;
        let mut jsonl = None;
        for (key, value) in table.iter() {
            let name: &str = key.get_ref();
            match name {
                "console_format" => console_format = self.console_format(value),
                "jsonl" => jsonl = self.bool(name, value),
                "span_events" => self.settings.span_events = self.bool(name, value),
                "use_local_tz" => self.settings.local_tz = self.bool(name, value),
                "disable_ansi" => self.settings.disable_ansi = self.bool(name, value),
                "overflow" => {
                    self.settings.overflow = self.word(
                        name,
                        value,
                        values::EXPECTED_OVERFLOW,
                        values::parse_overflow,
                    );
                }
                "log_level" => {
                    let level = self.string(name, value, "a level");
                    self.log_level = level.filter(|l| !is_blank(l)).map(str::to_owned);
                }
                "log_filters" => self.log_filters(value),
                "otlp" => self.otlp(value),
                _ => self.unknown(name, key.span().start),
            }
        }

        // Within a file, console_format beats jsonl, as with the variables.
        let from_jsonl = jsonl.map(|is_jsonl| {
            if is_jsonl {
                Format::Jsonl
            } else {
                Format::Readable
            }
        });
        self.settings.format = console_format.or(from_jsonl);
    }

    fn console_format(&mut self, value: &Value<'_>) -> Option<Format> {
        let raw = self.string("console_format", value, values::EXPECTED_FORMAT)?;
        if is_blank(raw) {
            return None;
        }
        match values::parse_format(raw) {
            Ok(format) => Some(format),
            Err(mismatch) => {
                self.mismatch("console_format", value, &mismatch);
                Some(Format::Readable)
            }
        }
    }

    fn log_filters(&mut self, value: &Value<'_>) {
        let Some(table) = self.table("log_filters", value, "a table of target = level") else {
            return;
        };
        for (key, level) in table.iter() {
            let target: &str = key.get_ref();
            let is_bad_char = |c: char| c.is_whitespace() || ",=[]{}\"".contains(c);
            if target.is_empty() || target.contains(is_bad_char) {
                let message = format!(
                    "expected {EXPECTED_TARGET} in [log_filters], found {}",
                    quote(target)
                );
                self.at(key.span().start, message);
                continue;
            }
            let key_path = format!("log_filters.{target}");
            if let Some(level) = self.string(&key_path, level, "a level") {
                self.log_filters
                    .push((key.span().start, target.to_owned(), level.to_owned()));
            }
        }
    }

    fn otlp(&mut self, value: &Value<'_>) {
        let Some(table) = self.table("otlp", value, "a table") else {
            return;
        };
        let mut otlp = std::mem::take(&mut self.settings.otlp);
        for (key, value) in table.iter() {
            let name: &str = key.get_ref();
            let key_path = format!("otlp.{name}");
            match name {
                "enabled" => otlp.enabled = self.bool(&key_path, value),
                "endpoint" => {
                    otlp.endpoint = self.word(&key_path, value, values::EXPECTED_URL, |raw| {
                        values::check_endpoint(raw).map(str::to_owned)
                    });
                }
                "protocol" => {
                    otlp.protocol = self.word(
                        &key_path,
                        value,
                        values::EXPECTED_PROTOCOL,
                        values::parse_protocol,
                    )
                }
                "headers" => otlp.headers = self.headers(value),
                "timeout_ms" => otlp.timeout = self.millis(&key_path, value),
                "service_name" => {
                    let name = self.string(&key_path, value, "a non-empty service name");
                    otlp.service_name = match name {
                        Some("") => {
                            let mismatch = Mismatch::value("a non-empty service name", "");
                            self.mismatch(&key_path, value, &mismatch);
                            None
                        }
                        other => other.map(str::to_owned),
                    };
                }
                "sample_ratio" => otlp.sample_ratio = self.ratio(&key_path, value),
                _ => self.unknown(&key_path, key.span().start),
            }
        }
        self.settings.otlp = otlp;
    }

    fn headers(&mut self, value: &Value<'_>) -> Option<Vec<(String, String)>> {
        const KEY: &str = "otlp.headers";
        match value.get_ref() {
            DeValue::String(raw) => {
                let (headers, mismatches) = values::parse_headers(raw);
                for mismatch in &mismatches {
                    self.mismatch(KEY, value, mismatch);
                }
                Some(headers)
            }
            DeValue::Table(table) => {
                let mut headers = Vec::new();
                for (key, header) in table.iter() {
                    let name: &str = key.get_ref();
                    let key_path = format!("{KEY}.{name}");
                    let Some(text) = self.string(&key_path, header, "a header value") else {
                        continue;
                    };
                    match values::check_header(name, text) {
                        Ok(()) => {
                            headers.push((key.span().start, name.to_owned(), text.to_owned()))
                        }
                        Err(values::EXPECTED_HEADER_NAME) => {
                            let mismatch = Mismatch::value(values::EXPECTED_HEADER_NAME, name);
                            self.mismatch(KEY, key, &mismatch);
                        }
                        Err(expected) => {
                            self.mismatch(&key_path, header, &Mismatch::value(expected, text));
                        }
                    }
                }
                headers.sort_by_key(|(offset, _, _)| *offset);
                Some(headers.into_iter().map(|(_, k, v)| (k, v)).collect())
            }
            _ => {
                self.wrong_type(KEY, value, "a table or a string of key=value pairs");
                None
            }
        }
    }

    fn millis(&mut self, key: &str, value: &Value<'_>) -> Option<Duration> {
        let DeValue::Integer(int) = value.get_ref() else {
            self.wrong_type(key, value, values::EXPECTED_MILLIS);
            return None;
        };
        match u64::from_str_radix(int.as_str(), int.radix()) {
            Ok(ms) if ms > 0 => Some(Duration::from_millis(ms)),
            _ => {
                let mismatch = Mismatch {
                    expected: values::EXPECTED_MILLIS,
                    found: int.to_string(),
                };
                self.mismatch(key, value, &mismatch);
                None
            }
        }
    }

    fn ratio(&mut self, key: &str, value: &Value<'_>) -> Option<f64> {
        let (number, text) = match value.get_ref() {
            DeValue::Float(float) => (float.as_str().parse::<f64>().ok(), float.to_string()),
            DeValue::Integer(int) => {
                let number = i64::from_str_radix(int.as_str(), int.radix()).ok();
                (number.map(|n| n as f64), int.to_string())
            }
            _ => {
                self.wrong_type(key, value, values::EXPECTED_RATIO);
                return None;
            }
        };
        match number.map(values::check_ratio) {
            Some(Ok(ratio)) => Some(ratio),
            _ => {
                let mismatch = Mismatch {
                    expected: values::EXPECTED_RATIO,
                    found: text,
                };
                self.mismatch(key, value, &mismatch);
                None
            }
        }
    }

    fn bool(&mut self, key: &str, value: &Value<'_>) -> Option<bool> {
        match value.get_ref() {
            DeValue::Boolean(b) => Some(*b),
            _ => {
                self.wrong_type(key, value, "a boolean");
                None
            }
        }
    }

    fn string<'v>(
        &mut self,
        key: &str,
        value: &'v Value<'_>,
        expected: &'static str,
    ) -> Option<&'v str> {
        match value.get_ref() {
            DeValue::String(text) => Some(text),
            _ => {
                self.wrong_type(key, value, expected);
                None
            }
        }
    }

    fn table<'v, 'i>(
        &mut self,
        key: &str,
        value: &'v Value<'i>,
        expected: &'static str,
    ) -> Option<&'v DeTable<'i>> {
        match value.get_ref() {
            DeValue::Table(table) => Some(table),
            _ => {
                self.wrong_type(key, value, expected);
                None
            }
        }
    }

    /// A string value checked by `parse`; blank counts as unset.
    /// `expected` describes the value when it is not a string at all.
    fn word<T>(
        &mut self,
        key: &str,
        value: &Value<'_>,
        expected: &'static str,
        parse: impl Fn(&str) -> Result<T, Mismatch>,
    ) -> Option<T> {
        let raw = self.string(key, value, expected)?;
        if is_blank(raw) {
            return None;
        }
        match parse(raw) {
            Ok(parsed) => Some(parsed),
            Err(mismatch) => {
                self.mismatch(key, value, &mismatch);
                None
            }
        }
    }

    fn wrong_type(&mut self, key: &str, value: &Value<'_>, expected: &'static str) {
        let found = match value.get_ref() {
            DeValue::String(_) => "a string",
            DeValue::Integer(_) => "an integer",
            DeValue::Float(_) => "a float",
            DeValue::Boolean(_) => "a boolean",
            DeValue::Datetime(_) => "a datetime",
            DeValue::Array(_) => "an array",
            DeValue::Table(_) => "a table",
        };
        let mismatch = Mismatch {
            expected,
            found: found.to_owned(),
        };
        self.mismatch(key, value, &mismatch);
    }

    fn mismatch<T>(&mut self, key: &str, at: &Spanned<T>, mismatch: &Mismatch) {
        let message = format!(
            "expected {} for key {}, found {}",
            mismatch.expected,
            quote(key),
            mismatch.found
        );
        self.at(at.span().start, message);
    }

    fn unknown(&mut self, key: &str, offset: usize) {
        self.at(offset, format!("unknown key {}, ignored", quote(key)));
    }

    fn at(&mut self, offset: usize, message: String) {
        let source = position(self.path, self.text.as_bytes(), offset);
        self.found.push((offset, Problem { source, message }));
    }
}

/// Writes `contents` to a new file under the temporary directory and
/// returns its path; the caller removes it.
#[cfg(test)]
pub(super) fn temp_file(name: &str, contents: &[u8]) -> std::path::PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static COUNT: AtomicUsize = AtomicUsize::new(0);

    // Relaxed: the counter only has to give each call its own number.
    let n = COUNT.fetch_add(1, Ordering::Relaxed);
    let unique = format!("dynlog-config-{}-{n}-{name}", std::process::id());
    let path = std::env::temp_dir().join(unique);
    std::fs::write(&path, contents).unwrap();
    path
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Overflow, Protocol};

    /// Loads `contents` from a fresh temporary file; returns the layer, the
    /// problems with the path replaced by `F`, and removes the file.
    fn load_text(contents: &[u8]) -> (Option<Layer>, Vec<String>) {
        let path = temp_file("t.toml", contents);
        let mut problems = Vec::new();
        let layer = load(&path, Some("DYN_LOGGING_CONFIG_PATH"), &mut problems);
        std::fs::remove_file(&path).unwrap();
        let shown = path.display().to_string();
        let lines = problems
            .iter()
            .map(|p| p.to_string().replace(&shown, "F"))
            .collect();
        (layer, lines)
    }

    #[test]
    fn every_key() {
        let text = br#"
console_format = "JSONL"
jsonl = false
span_events = true
use_local_tz = true
disable_ansi = true
overflow = "drop"
log_level = "warn"

[log_filters]
"my_service::router" = "debug"
h2 = "trace"

[otlp]
enabled = true
endpoint = "https://collector:4318/v1/traces"
protocol = "http/protobuf"
headers = { authorization = "Bearer a==", "x-b" = "c" }
timeout_ms = 1_500
service_name = "svc"
sample_ratio = 0.25
"#;
        let (layer, problems) = load_text(text);
        assert_eq!(problems, Vec::<String>::new());
        let layer = layer.unwrap();
        let settings = &layer.settings;
        assert_eq!(settings.format, Some(Format::Jsonl));
        assert_eq!(settings.span_events, Some(true));
        assert_eq!(settings.local_tz, Some(true));
        assert_eq!(settings.disable_ansi, Some(true));
        assert_eq!(settings.overflow, Some(Overflow::Drop));
        assert_eq!(layer.log_level.as_deref(), Some("warn"));
        assert_eq!(
            layer.log_filters,
            [
                ("my_service::router".to_owned(), "debug".to_owned()),
                ("h2".to_owned(), "trace".to_owned())
            ]
        );
        let otlp = &settings.otlp;
        assert_eq!(otlp.enabled, Some(true));
        assert_eq!(
            otlp.endpoint.as_deref(),
            Some("https://collector:4318/v1/traces")
        );
        assert_eq!(otlp.protocol, Some(Protocol::HttpProtobuf));
        assert_eq!(
            otlp.headers,
            Some(vec![
                ("authorization".to_owned(), "Bearer a==".to_owned()),
                ("x-b".to_owned(), "c".to_owned())
            ])
        );
        assert_eq!(otlp.timeout, Some(Duration::from_millis(1500)));
        assert_eq!(otlp.service_name.as_deref(), Some("svc"));
        assert_eq!(otlp.sample_ratio, Some(0.25));
    }

    #[test]
    fn jsonl_key_alone_and_headers_as_a_string() {
        let text = b"jsonl = true\notlp.headers = \"a=1, b=x%2Cy\"\notlp.sample_ratio = 1\n";
        let (layer, problems) = load_text(text);
        assert_eq!(problems, Vec::<String>::new());
        let layer = layer.unwrap();
        assert_eq!(layer.settings.format, Some(Format::Jsonl));
        assert_eq!(
            layer.settings.otlp.headers,
            Some(vec![
                ("a".to_owned(), "1".to_owned()),
                ("b".to_owned(), "x,y".to_owned())
            ])
        );
        assert_eq!(layer.settings.otlp.sample_ratio, Some(1.0));
    }

    #[test]
    fn bad_values_are_reported_at_their_position() {
        let text = br#"span_events = "yes"
jsonl = 1
console_format = "xml"
overflow = "wait"
log_level = 5
colour = true

[log_filters]
h2 = 3
"a b" = "debug"
ok = "info"

[otlp]
enabled = "true"
endpoint = "localhost:4317"
protocol = "http/json"
headers = ["a=1"]
timeout_ms = 0
service_name = ""
sample_ratio = 2.0
extra = 1
"#;
        let (layer, problems) = load_text(text);
        assert_eq!(
            problems,
            [
                "F:1:15: expected a boolean for key \"span_events\", found a string",
                "F:2:9: expected a boolean for key \"jsonl\", found an integer",
                "F:3:18: expected \"readable\" or \"jsonl\" for key \"console_format\", found \"xml\"",
                "F:4:12: expected \"block\" or \"drop\" for key \"overflow\", found \"wait\"",
                "F:5:13: expected a level for key \"log_level\", found an integer",
                "F:6:1: unknown key \"colour\", ignored",
                "F:9:6: expected a level for key \"log_filters.h2\", found an integer",
                "F:10:1: expected a target without whitespace or any of ,=[]{}\" in [log_filters], found \"a b\"",
                "F:14:11: expected a boolean for key \"otlp.enabled\", found a string",
                "F:15:12: expected an http:// or https:// URL with a host for key \"otlp.endpoint\", found \"localhost:4317\"",
                "F:16:12: expected \"grpc\" or \"http/protobuf\" for key \"otlp.protocol\", found \"http/json\"",
                "F:17:11: expected a table or a string of key=value pairs for key \"otlp.headers\", found an array",
                "F:18:14: expected a positive integer number of milliseconds for key \"otlp.timeout_ms\", found 0",
                "F:19:16: expected a non-empty service name for key \"otlp.service_name\", found \"\"",
                "F:20:16: expected a number from 0.0 to 1.0 for key \"otlp.sample_ratio\", found 2.0",
                "F:21:1: unknown key \"otlp.extra\", ignored",
            ]
        );

        // Good values in the same file still count; a bad console_format
        // gives readable text, as the variable does.
        let layer = layer.unwrap();
        assert_eq!(layer.settings.format, Some(Format::Readable));
        assert_eq!(layer.settings.span_events, None);
        assert_eq!(layer.log_level, None);
        assert_eq!(layer.log_filters, [("ok".to_owned(), "info".to_owned())]);
        assert_eq!(layer.settings.otlp.enabled, None);
        assert_eq!(layer.settings.otlp.sample_ratio, None);
    }

    #[test]
    fn bad_headers_in_a_file() {
        let text = b"[otlp.headers]\n\"a b\" = \"1\"\nk = \"x\\u0001\"\nn = 5\nok = \"v\"\n";
        let (layer, problems) = load_text(text);
        assert_eq!(
            problems,
            [
                "F:2:1: expected a header name of letters, digits and !#$%&'*+-.^_`|~ for key \"otlp.headers\", found \"a b\"",
                "F:3:5: expected a header value without control characters for key \"otlp.headers.k\", found \"x\\u{1}\"",
                "F:4:5: expected a header value for key \"otlp.headers.n\", found an integer",
            ]
        );
        assert_eq!(
            layer.unwrap().settings.otlp.headers,
            Some(vec![("ok".to_owned(), "v".to_owned())])
        );

        let (_, problems) = load_text(b"otlp.headers = \"novalue\"\n");
        assert_eq!(
            problems,
            ["F:1:16: expected a header as key=value for key \"otlp.headers\", found \"novalue\""]
        );
    }

    #[test]
    fn malformed_toml_gives_line_and_column() {
        let cases: &[(&[u8], &str)] = &[
            (
                b"jsonl = true\nspan_events = \n",
                "F:2:15: string values must be quoted, expected literal string",
            ),
            (
                b"a = 1\nb = \"open\n",
                "F:2:10: invalid basic string, expected `\"`",
            ),
            (b"jsonl = true\njsonl = false\n", "F:2:1: duplicate key"),
            (
                b"[otlp\nenabled = true\n",
                "F:1:6: unclosed table, expected `]`",
            ),
            (
                b"x = 1 2\n",
                "F:1:5: string values must be quoted, expected literal string",
            ),
            (b"\0\0\0\x01\x02", "F:1:6: key with no value, expected `=`"),
        ];
        for &(text, want) in cases {
            let (layer, problems) = load_text(text);
            assert!(layer.is_none(), "input {text:?}");
            assert_eq!(problems, [want], "input {text:?}");
        }
    }

    #[test]
    fn binary_garbage_and_huge_files_are_refused() {
        let (layer, problems) = load_text(b"jsonl = true\nx = \"\xff\xfe\"\n");
        assert!(layer.is_none());
        assert_eq!(problems, ["F:2:6: expected UTF-8 text, found byte 0xff"]);

        let mut huge = b"jsonl = true\n".to_vec();
        huge.resize(MAX_FILE_BYTES + 1, b'\n');
        let (layer, problems) = load_text(&huge);
        assert!(layer.is_none());
        assert_eq!(
            problems,
            ["F: expected a file of at most 1 MiB, found a larger file"]
        );

        // Deep nesting is refused by the parser, not by a stack overflow.
        let mut deep = b"a = ".to_vec();
        deep.resize(200_000, b'[');
        let (layer, problems) = load_text(&deep);
        assert!(layer.is_none());
        assert_eq!(problems.len(), 1);
        assert_eq!(
            problems[0],
            "F:1:85: cannot recurse further; max recursion depth met"
        );

        // Exactly the cap is fine.
        huge.truncate(MAX_FILE_BYTES);
        let (layer, problems) = load_text(&huge);
        assert_eq!(problems, Vec::<String>::new());
        assert_eq!(layer.unwrap().settings.format, Some(Format::Jsonl));
    }

    #[test]
    fn missing_named_file_vs_missing_default_file() {
        let path =
            std::env::temp_dir().join(format!("dynlog-config-{}-absent.toml", std::process::id()));
        let mut problems = Vec::new();
        assert!(load(&path, None, &mut problems).is_none());
        assert!(problems.is_empty());

        assert!(load(&path, Some("DYN_LOGGING_CONFIG_PATH"), &mut problems).is_none());
        assert_eq!(
            problems,
            [Problem {
                source: path.display().to_string(),
                message: "cannot read the file named by DYN_LOGGING_CONFIG_PATH: no such file or directory"
                    .to_owned()
            }]
        );
    }

    #[test]
    fn a_directory_is_refused_even_as_the_default_file() {
        let dir = std::env::temp_dir();
        for named_by in [None, Some("DYN_LOGGING_CONFIG_PATH")] {
            let mut problems = Vec::new();
            assert!(load(&dir, named_by, &mut problems).is_none());
            assert_eq!(
                problems,
                [Problem {
                    source: dir.display().to_string(),
                    message: "expected a TOML file, found a directory".to_owned()
                }]
            );
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_fifo_is_refused_without_blocking() {
        let path = std::env::temp_dir().join(format!("dynlog-config-{}-fifo", std::process::id()));
        let c_path = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
        // SAFETY: `c_path` is a valid NUL-terminated string that outlives
        // the call; mkfifo only reads it.
        let rc = unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) };
        assert_eq!(rc, 0);
        let mut problems = Vec::new();
        let layer = load(&path, None, &mut problems);
        std::fs::remove_file(&path).unwrap();
        assert!(layer.is_none());
        assert_eq!(
            problems,
            [Problem {
                source: path.display().to_string(),
                message: "expected a TOML file, found a special file".to_owned()
            }]
        );
    }

    #[test]
    fn line_and_column() {
        let text = "ab\néx\n\nz".as_bytes();
        let cases: &[(usize, (usize, usize))] = &[
            (0, (1, 1)),
            (2, (1, 3)),
            (3, (2, 1)),
            (5, (2, 2)),
            (6, (2, 3)),
            (7, (3, 1)),
            (8, (4, 1)),
            (9, (4, 2)),
            (100, (4, 2)),
        ];
        for &(offset, want) in cases {
            assert_eq!(line_col(text, offset), want, "offset {offset}");
        }
    }

    #[test]
    fn control_characters_in_a_path_are_quoted() {
        assert_eq!(path_text(Path::new("/tmp/a.toml")), "/tmp/a.toml");
        assert_eq!(
            path_text(Path::new("/tmp/a\nb.toml")),
            "\"/tmp/a\\nb.toml\""
        );
    }
}
