//! Helpers shared by the fault tests: a sink that keeps what it gets, line
//! normalisation (timestamps and random ids become placeholders), the
//! process's resident memory, and running this test binary again as a
//! child process.
//!
//! Each test file uses a different part of this module.
#![allow(dead_code, reason = "each test file uses only some of these helpers")]

use std::io::{self, Read, Write};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A writer that keeps everything written to it, shared with the test.
#[derive(Clone, Default)]
pub struct SharedBuf(pub Arc<Mutex<Vec<u8>>>);

impl SharedBuf {
    /// The lines written so far, without their `\n`.
    pub fn lines(&self) -> Vec<String> {
        let bytes = self.0.lock().unwrap();
        String::from_utf8_lossy(&bytes)
            .lines()
            .map(str::to_owned)
            .collect()
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

/// Replaces the values of `"time"` by `<T>` and of `"span_id"`,
/// `"trace_id"` and `"parent_id"` by `<ID>` in a JSON line; in a text line
/// (not starting with `{`), the timestamp before the first space becomes
/// `<T>`.
pub fn normalize(line: &str) -> String {
    if !line.starts_with('{') {
        return match line.find(' ') {
            Some(pos) => format!("<T>{}", &line[pos..]),
            None => line.to_owned(),
        };
    }
    let mut out = line.to_owned();
    for (key, placeholder) in [
        ("\"time\":\"", "<T>"),
        ("\"span_id\":\"", "<ID>"),
        ("\"trace_id\":\"", "<ID>"),
        ("\"parent_id\":\"", "<ID>"),
    ] {
        if let Some(start) = out.find(key) {
            let from = start + key.len();
            if let Some(len) = out[from..].find('"') {
                out.replace_range(from..from + len, placeholder);
            }
        }
    }
    out
}

/// The resident set size of this process, in bytes, from `/proc/self/statm`.
pub fn rss_bytes() -> u64 {
    let text = std::fs::read_to_string("/proc/self/statm").expect("read /proc/self/statm");
    let pages: u64 = text
        .split_whitespace()
        .nth(1)
        .and_then(|field| field.parse().ok())
        .expect("statm has a resident field");
    // SAFETY: `sysconf` only reads a system constant.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    pages * page as u64
}

/// What a child process did.
pub struct ChildOutput {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

/// Starts this test binary again with `--child MODE`, its output piped and
/// the `DYN_*` variables given (every other `DYN_*` and `OTEL_*` variable
/// removed).
pub fn spawn_child(mode: &str, env: &[(&str, &str)]) -> Child {
    let exe = std::env::current_exe().expect("the test binary's path");
    let mut cmd = Command::new(exe);
    cmd.arg("--child").arg(mode);
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy().into_owned();
        if name.starts_with("DYN_") || name.starts_with("OTEL_") {
            cmd.env_remove(name);
        }
    }
    cmd.envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd.spawn().expect("start the child process")
}

/// Waits for `child` to exit, at most `timeout`, reading its output
/// meanwhile; kills it and panics if it does not exit in time.
pub fn wait_child(mut child: Child, timeout: Duration) -> ChildOutput {
    let readers: Vec<_> = [
        child
            .stdout
            .take()
            .map(|r| Box::new(r) as Box<dyn Read + Send>),
        child
            .stderr
            .take()
            .map(|r| Box::new(r) as Box<dyn Read + Send>),
    ]
    .into_iter()
    .map(|reader| {
        std::thread::spawn(move || {
            let mut text = Vec::new();
            if let Some(mut reader) = reader {
                let _ = reader.read_to_end(&mut text);
            }
            String::from_utf8_lossy(&text).into_owned()
        })
    })
    .collect();
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().expect("poll the child") {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the child did not exit within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let mut texts = readers
        .into_iter()
        .map(|r| r.join().expect("a reader thread"));
    ChildOutput {
        status,
        stdout: texts.next().unwrap_or_default(),
        stderr: texts.next().unwrap_or_default(),
    }
}

/// Runs `--child MODE` to completion (at most a minute).
pub fn run_child(mode: &str, env: &[(&str, &str)]) -> ChildOutput {
    wait_child(spawn_child(mode, env), Duration::from_secs(60))
}

/// The mode this process was started with as a child, if it was.
pub fn child_mode() -> Option<String> {
    let mut args = std::env::args().skip(1);
    match (args.next().as_deref(), args.next()) {
        (Some("--child"), Some(mode)) => Some(mode),
        _ => None,
    }
}
