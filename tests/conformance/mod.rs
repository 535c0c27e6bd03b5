//! Helpers shared by the conformance tests: a sink the test can read, a
//! way to run code under a freshly built subscriber and get its lines, the
//! placeholders that make whole lines comparable, and re-running this test
//! binary as a child process with a chosen environment.
//!
//! Each test file includes this module and uses only part of it.
#![allow(dead_code)] // each test binary uses a different subset

use std::io::{self, Write};
use std::process::Command;
use std::sync::{Arc, Mutex};

use dynlog::{Builder, Stats};

/// A sink whose bytes the test reads after a flush.
#[derive(Clone, Default)]
pub struct SharedBuf(pub Arc<Mutex<Vec<u8>>>);

impl SharedBuf {
    /// Everything written so far.
    pub fn bytes(&self) -> Vec<u8> {
        self.0.lock().unwrap().clone()
    }

    /// Everything written so far, as text.
    pub fn text(&self) -> String {
        String::from_utf8(self.bytes()).expect("dynlog wrote UTF-8")
    }
}

impl Write for SharedBuf {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// What one run under a built subscriber produced.
pub struct Run {
    /// The raw bytes written to the sink.
    pub bytes: Vec<u8>,
    /// The counters after the run.
    pub stats: Stats,
}

impl Run {
    /// The lines, without their `\n`; asserts that the output ends with one.
    pub fn lines(&self) -> Vec<String> {
        let text = String::from_utf8(self.bytes.clone()).expect("dynlog wrote UTF-8");
        if text.is_empty() {
            return Vec::new();
        }
        assert!(
            text.ends_with('\n'),
            "output does not end with a newline: {text:?}"
        );
        text[..text.len() - 1]
            .split('\n')
            .map(str::to_owned)
            .collect()
    }

    /// Each line parsed as JSON (with a clear failure naming the line).
    pub fn json(&self) -> Vec<serde_json::Value> {
        self.lines()
            .iter()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
            .collect()
    }
}

/// Builds `builder` with a [`SharedBuf`] sink, runs `f` under it with
/// `with_default`, flushes and returns what was written.
pub fn run_with(builder: Builder, f: impl FnOnce()) -> Run {
    let buf = SharedBuf::default();
    let (subscriber, guard) = builder
        .writer(buf.clone())
        .build()
        .expect("builder is valid");
    tracing::subscriber::with_default(subscriber, f);
    guard.flush();
    let stats = guard.stats();
    drop(guard);
    Run {
        bytes: buf.bytes(),
        stats,
    }
}

/// JSON lines at `trace`, no span events.
pub fn json_run(f: impl FnOnce()) -> Run {
    run_with(Builder::new().json(true).filter("trace"), f)
}

/// Readable text at `trace`, no span events.
pub fn text_run(f: impl FnOnce()) -> Run {
    run_with(Builder::new().json(false).filter("trace"), f)
}

/// Evaluates an expression and gives it back with the line it starts on,
/// which is the line `tracing` records for a macro call inside it.
#[macro_export]
macro_rules! here {
    ($e:expr) => {
        ($e, line!())
    };
}

/// Length of a UTC timestamp: `2026-10-31T21:06:45.397194Z`.
pub const UTC_TIME_LEN: usize = 27;

/// Whether `t` is `YYYY-MM-DDTHH:MM:SS.ffffff` followed by `Z`, or by an
/// offset `+HH:MM`/`-HH:MM` when `local` is true.
pub fn is_timestamp(t: &str, local: bool) -> bool {
    let b = t.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| r.clone().all(|i| b.get(i).is_some_and(u8::is_ascii_digit));
    let base = b.len() >= 26
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && b[10] == b'T'
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19)
        && b[19] == b'.'
        && digits(20..26);
    if !base {
        return false;
    }
    if local {
        b.len() == 32
            && (b[26] == b'+' || b[26] == b'-')
            && digits(27..29)
            && b[29] == b':'
            && digits(30..32)
    } else {
        b.len() == 27 && b[26] == b'Z'
    }
}

/// Replaces the value of `"key":"..."` by `"key":"<TOKEN>"` wherever it
/// appears at the top level of a JSON line, checking it with `check`.
fn replace_string_value(
    line: &str,
    key: &str,
    token: &str,
    check: impl Fn(&str) -> bool,
) -> String {
    let pattern = format!(",\"{key}\":\"");
    let pattern_first = format!("{{\"{key}\":\"");
    let (start, pat_len) = match (line.find(&pattern_first), line.find(&pattern)) {
        (Some(0), _) => (0, pattern_first.len()),
        (_, Some(p)) => (p, pattern.len()),
        _ => return line.to_owned(),
    };
    let value_start = start + pat_len;
    let value_end = value_start + line[value_start..].find('"').expect("closing quote");
    let value = &line[value_start..value_end];
    assert!(check(value), "bad {key} {value:?} in {line}");
    format!("{}{token}{}", &line[..value_start], &line[value_end..])
}

/// Whether `s` is `n` lowercase hex digits, not all zero.
pub fn is_hex_id(s: &str, n: usize) -> bool {
    s.len() == n
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        && s.bytes().any(|b| b != b'0')
}

/// A JSON line with its time and ids replaced by `<TIME>`, `<SPAN_ID>`,
/// `<TRACE_ID>` and `<PARENT_ID>`, each checked for its format first.
pub fn mask_json(line: &str) -> String {
    let line = replace_string_value(line, "time", "<TIME>", |t| is_timestamp(t, false));
    let line = replace_string_value(&line, "span_id", "<SPAN_ID>", |s| is_hex_id(s, 16));
    let line = replace_string_value(&line, "trace_id", "<TRACE_ID>", |s| is_hex_id(s, 32));
    replace_string_value(&line, "parent_id", "<PARENT_ID>", |s| is_hex_id(s, 16))
}

/// A readable line with its leading UTC timestamp replaced by `<TIME>`.
pub fn mask_text(line: &str) -> String {
    let time = line.get(..UTC_TIME_LEN).unwrap_or("");
    assert!(
        is_timestamp(time, false),
        "no UTC timestamp at the start of {line:?}"
    );
    format!("<TIME>{}", &line[UTC_TIME_LEN..])
}

/// The string value of `key` in a parsed line.
pub fn str_of<'a>(v: &'a serde_json::Value, key: &str) -> &'a str {
    v.get(key)
        .and_then(serde_json::Value::as_str)
        .unwrap_or_else(|| panic!("no string {key} in {v}"))
}

/// The integer value of `key` in a parsed line.
pub fn u64_of(v: &serde_json::Value, key: &str) -> u64 {
    v.get(key)
        .and_then(serde_json::Value::as_u64)
        .unwrap_or_else(|| panic!("no integer {key} in {v}"))
}

/// The keys of a JSON line's top-level object in the order written
/// (serde_json's map sorts them, so read them from the text). The line must
/// be valid JSON; check that first.
pub fn keys_in_order(line: &str) -> Vec<String> {
    let b = line.as_bytes();
    let mut keys = Vec::new();
    let mut depth = 0;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'{' | b'[' => depth += 1,
            b'}' | b']' => depth -= 1,
            b'"' => {
                let start = i + 1;
                i += 1;
                while b[i] != b'"' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                let is_key = depth == 1 && b.get(i + 1) == Some(&b':');
                if is_key {
                    let raw = format!("\"{}\"", &line[start..i]);
                    keys.push(serde_json::from_str::<String>(&raw).expect("a JSON string"));
                }
            }
            _ => {}
        }
        i += 1;
    }
    keys
}

/// The environment variables a child must not inherit: every `DYN_*`,
/// `OTEL_*`, `MYAPP_*` and `NO_COLOR` of this process.
fn inherited_settings() -> Vec<String> {
    std::env::vars_os()
        .filter_map(|(k, _)| k.into_string().ok())
        .filter(|k| {
            k.starts_with("DYN_")
                || k.starts_with("OTEL_")
                || k.starts_with("MYAPP_")
                || k == "NO_COLOR"
        })
        .collect()
}

/// The name of the variable that tells this test binary it is a child.
pub const CHILD_VAR: &str = "DYNLOG_CONFORM_CHILD";

/// What a child process wrote.
pub struct ChildOutput {
    pub stdout: String,
    pub stderr: String,
    pub success: bool,
}

/// Runs the test `test_name` of this binary in a child process whose
/// environment has no dynlog settings but `env`, with [`CHILD_VAR`] set to
/// `case`. The child's stderr holds what dynlog wrote there.
pub fn run_child(test_name: &str, case: &str, env: &[(&str, &str)]) -> ChildOutput {
    let raw: Vec<(&str, &[u8])> = env.iter().map(|(k, v)| (*k, v.as_bytes())).collect();
    run_child_raw(test_name, case, &raw)
}

/// [`run_child`] with values given as bytes, which need not be UTF-8.
pub fn run_child_raw(test_name: &str, case: &str, env: &[(&str, &[u8])]) -> ChildOutput {
    use std::os::unix::ffi::OsStrExt;

    let mut cmd = child_command(test_name, case);
    for (k, v) in env {
        cmd.env(k, std::ffi::OsStr::from_bytes(v));
    }
    let out = cmd.output().expect("the child runs");
    ChildOutput {
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        success: out.status.success(),
    }
}

/// The case this process runs as a child, if it is one.
pub fn child_case() -> Option<String> {
    std::env::var(CHILD_VAR).ok()
}

/// Quotes, a backslash, every control character (0x00 to 0x1F, 0x7F and
/// the C1 range U+0080 to U+009F) and non-ASCII text, including U+00A0 and
/// U+2028, which are not controls and pass unescaped.
pub const NASTY: &str = concat!(
    "q\"b\\s/",
    "\u{0}\u{1}\u{2}\u{3}\u{4}\u{5}\u{6}\u{7}\u{8}\u{9}\u{a}\u{b}\u{c}\u{d}\u{e}\u{f}",
    "\u{10}\u{11}\u{12}\u{13}\u{14}\u{15}\u{16}\u{17}\u{18}\u{19}\u{1a}\u{1b}\u{1c}\u{1d}\u{1e}\u{1f}",
    "\u{7f}",
    "\u{80}\u{81}\u{82}\u{83}\u{84}\u{85}\u{86}\u{87}\u{88}\u{89}\u{8a}\u{8b}\u{8c}\u{8d}\u{8e}\u{8f}",
    "\u{90}\u{91}\u{92}\u{93}\u{94}\u{95}\u{96}\u{97}\u{98}\u{99}\u{9a}\u{9b}\u{9c}\u{9d}\u{9e}\u{9f}",
    "é日本🦀\u{a0}\u{2028}",
);

/// [`NASTY`] inside a JSON string, as dynlog writes it: `"` and `\`
/// escaped, `\n`, `\r`, `\t` as two characters, other controls as
/// `\u00xx` with lowercase digits.
pub const NASTY_JSON: &str = concat!(
    r#"q\"b\\s/"#,
    r"\u0000\u0001\u0002\u0003\u0004\u0005\u0006\u0007\u0008\t\n\u000b\u000c\r\u000e\u000f",
    r"\u0010\u0011\u0012\u0013\u0014\u0015\u0016\u0017\u0018\u0019\u001a\u001b\u001c\u001d\u001e\u001f",
    r"\u007f",
    r"\u0080\u0081\u0082\u0083\u0084\u0085\u0086\u0087\u0088\u0089\u008a\u008b\u008c\u008d\u008e\u008f",
    r"\u0090\u0091\u0092\u0093\u0094\u0095\u0096\u0097\u0098\u0099\u009a\u009b\u009c\u009d\u009e\u009f",
    "é日本🦀\u{a0}\u{2028}",
);

/// [`NASTY`] bare in readable text (a message, a Debug or Display value):
/// controls escaped as in JSON, quotes and backslashes as they are.
pub const NASTY_TEXT: &str = concat!(
    r#"q"b\s/"#,
    r"\u0000\u0001\u0002\u0003\u0004\u0005\u0006\u0007\u0008\t\n\u000b\u000c\r\u000e\u000f",
    r"\u0010\u0011\u0012\u0013\u0014\u0015\u0016\u0017\u0018\u0019\u001a\u001b\u001c\u001d\u001e\u001f",
    r"\u007f",
    r"\u0080\u0081\u0082\u0083\u0084\u0085\u0086\u0087\u0088\u0089\u008a\u008b\u008c\u008d\u008e\u008f",
    r"\u0090\u0091\u0092\u0093\u0094\u0095\u0096\u0097\u0098\u0099\u009a\u009b\u009c\u009d\u009e\u009f",
    "é日本🦀\u{a0}\u{2028}",
);

/// Writes its text through `Debug` and `Display` as it is, so control
/// characters reach the formatter raw (a `&str`'s own `Debug` would
/// escape them first).
pub struct Raw(pub &'static str);

impl std::fmt::Debug for Raw {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl std::fmt::Display for Raw {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

/// Whether `bytes` hold no raw control byte other than the line ends: no
/// byte below 0x20 but `\n`, no 0x7F, and no UTF-8 encoded C1 control.
pub fn has_no_raw_controls(bytes: &[u8]) -> bool {
    let c1 = bytes
        .windows(2)
        .any(|w| w[0] == 0xC2 && (0x80..=0x9F).contains(&w[1]));
    !c1 && bytes
        .iter()
        .all(|&b| b == b'\n' || (b >= 0x20 && b != 0x7F))
}

/// The start of a JSON line from this test file, up to `"message":`.
#[macro_export]
macro_rules! json_head {
    ($level:expr, $line:expr) => {
        format!(
            "{{\"time\":\"<TIME>\",\"level\":\"{}\",\"file\":\"{}\",\"line\":{},\"target\":\"{}\",\"message\":",
            $level,
            file!(),
            $line,
            module_path!()
        )
    };
}

/// A file under the temporary directory, removed when dropped.
pub struct TempFile {
    pub path: std::path::PathBuf,
}

impl TempFile {
    /// Writes `contents` to a new file whose name ends in `name`.
    pub fn new(name: &str, contents: &str) -> TempFile {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("dynlog-conform-{}-{n}-{name}", std::process::id()));
        std::fs::write(&path, contents).expect("the temporary file is written");
        TempFile { path }
    }

    /// A path under the temporary directory where no file is.
    pub fn absent(name: &str) -> std::path::PathBuf {
        std::env::temp_dir().join(format!(
            "dynlog-conform-{}-absent-{name}",
            std::process::id()
        ))
    }

    /// The path as text, for an environment variable.
    pub fn text(&self) -> String {
        self.path.display().to_string()
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Replaces the digits after each of `prefixes` (such as
/// `"time.busy_us":` or `time.busy_us=`) by `N`.
pub fn mask_numbers_after(line: &str, prefixes: &[&str]) -> String {
    let mut out = line.to_owned();
    for prefix in prefixes {
        if let Some(pos) = out.find(prefix) {
            let start = pos + prefix.len();
            let len = out[start..]
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(out.len() - start);
            assert!(len > 0, "no number after {prefix} in {line}");
            out.replace_range(start..start + len, "N");
        }
    }
    out
}

/// Like [`run_child`], but the child's stderr is a pseudo-terminal, so
/// dynlog sees a terminal there. Returns what the child wrote to it, with
/// the terminal's `\r\n` turned back into `\n`.
pub fn run_child_on_terminal(test_name: &str, case: &str, env: &[(&str, &str)]) -> String {
    use std::io::Read;
    use std::os::fd::{FromRawFd, OwnedFd};

    let mut master: libc::c_int = -1;
    let mut slave: libc::c_int = -1;
    // SAFETY: `openpty` writes two descriptors into the valid pointers given
    // and reads nothing else (the name, termios and size pointers are null).
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    assert_eq!(rc, 0, "openpty failed");
    // SAFETY: both descriptors were just opened by `openpty` and are owned
    // by nothing else.
    let (master, slave) = unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };

    let mut cmd = child_command(test_name, case);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.stdout(std::process::Stdio::null());
    cmd.stderr(std::process::Stdio::from(slave));
    let status = cmd.status().expect("the child runs");
    drop(cmd);
    assert!(status.success(), "the child on a terminal failed");

    // Every slave descriptor is closed now: read until the terminal says
    // there is nothing more (EIO on Linux).
    let mut out = Vec::new();
    let mut file = std::fs::File::from(master);
    let mut chunk = [0u8; 4096];
    loop {
        match file.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&chunk[..n]),
        }
    }
    String::from_utf8(out).expect("UTF-8").replace("\r\n", "\n")
}

/// This test binary again, running only `test_name` as child case `case`,
/// without the logging settings of the parent's environment.
fn child_command(test_name: &str, case: &str) -> Command {
    let exe = std::env::current_exe().expect("the test binary's path");
    let mut cmd = Command::new(exe);
    cmd.args([
        test_name,
        "--exact",
        "--nocapture",
        "--test-threads=1",
        "-q",
    ]);
    for k in inherited_settings() {
        cmd.env_remove(k);
    }
    cmd.env(CHILD_VAR, case);
    cmd
}

/// A JSON subscriber, with defaults otherwise, appending to `file`.
pub fn json_to_file(file: &TempFile) -> (dynlog::DynlogSubscriber, dynlog::Guard) {
    let sink = std::fs::OpenOptions::new()
        .append(true)
        .open(&file.path)
        .unwrap();
    Builder::new().json(true).writer(sink).build().unwrap()
}
