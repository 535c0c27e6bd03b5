//! What the process-level tests share: finding the example binaries and
//! running a child process with a bounded wait.
//!
//! Cargo gives integration tests the paths of the crate's `[[bin]]` targets
//! (`CARGO_BIN_EXE_*`) but not of its examples, so [`example_binary`] asks
//! cargo for them: it runs `cargo build --example service --example
//! exit_modes --message-format=json` once per test binary, with the cargo
//! that runs the tests, the same profile, and the inherited environment
//! (so the same target directory), and takes each example's `executable`
//! from cargo's artifact messages. When `cargo test` or CI's earlier `cargo
//! build --examples` has built them already, this is a no-op of a second.
//! Cargo releases its build lock before it runs tests, so the nested build
//! does not wait for the outer one.

use std::collections::HashMap;
use std::io::Read;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

/// The examples the tests run.
const EXAMPLES: [&str; 2] = ["service", "exit_modes"];

/// How long a cold build of the examples may take on a slow machine.
const BUILD_TIMEOUT: Duration = Duration::from_secs(1800);

/// The path of an example's executable, built on first use.
///
/// # Panics
///
/// Panics with cargo's output when the build fails or times out.
pub fn example_binary(name: &str) -> PathBuf {
    static BUILT: OnceLock<HashMap<String, PathBuf>> = OnceLock::new();
    let built = BUILT.get_or_init(build_examples);
    match built.get(name) {
        Some(path) => path.clone(),
        None => panic!("cargo reported no executable for example {name:?}: {built:?}"),
    }
}

fn build_examples() -> HashMap<String, PathBuf> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| env!("CARGO").into());
    let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
    let mut command = Command::new(cargo);
    command.args(["build", "--quiet", "--manifest-path", manifest]);
    command.arg("--message-format=json-render-diagnostics");
    for name in EXAMPLES {
        command.args(["--example", name]);
    }
    if !cfg!(debug_assertions) {
        command.arg("--release");
    }
    let output = run_to_end(command, BUILD_TIMEOUT);
    assert!(
        output.status.success(),
        "building the examples failed ({}):\n{}",
        output.status,
        output.stderr
    );

    // Keep the executable of each example artifact.
    let mut built = HashMap::new();
    for line in output.stdout.lines() {
        let Ok(message) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let is_example = message["target"]["kind"]
            .as_array()
            .is_some_and(|kinds| kinds.iter().any(|kind| kind == "example"));
        let name = message["target"]["name"].as_str();
        let executable = message["executable"].as_str();
        if let (true, Some(name), Some(executable)) = (is_example, name, executable) {
            built.insert(name.to_owned(), PathBuf::from(executable));
        }
    }
    built
}

/// What a finished child printed.
pub struct Output {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

/// Starts `command` with piped output and no input, and waits for it at
/// most `timeout`.
///
/// # Panics
///
/// Kills the child and panics when it runs longer, or cannot be started.
pub fn run_to_end(mut command: Command, timeout: Duration) -> Output {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(err) => panic!("cannot start {command:?}: {err}"),
    };
    let stdout = read_in_background(child.stdout.take());
    let stderr = read_in_background(child.stderr.take());
    let status = wait_at_most(&mut child, timeout);
    let (stdout, stderr) = (stdout.join(), stderr.join());
    let (Ok(stdout), Ok(stderr)) = (stdout, stderr) else {
        panic!("a reader of {command:?} panicked");
    };
    match status {
        Some(status) => Output {
            status,
            stdout,
            stderr,
        },
        None => panic!("{command:?} ran longer than {timeout:?}; killed it\nstderr:\n{stderr}"),
    }
}

/// Reads a pipe to its end on a thread; lossy UTF-8.
pub fn read_in_background(pipe: Option<impl Read + Send + 'static>) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut bytes);
        }
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// Waits for `child` at most `timeout`; kills and reaps it after that and
/// returns `None`.
pub fn wait_at_most(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(20)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    }
}

/// A child's environment with every `DYN_*` and `OTEL_*` variable of ours
/// removed, so that only the settings a test names apply.
pub fn clean_env(command: &mut Command) {
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        if name.starts_with("DYN_") || name.starts_with("OTEL_") {
            command.env_remove(name.as_ref());
        }
    }
    command.env("RUST_BACKTRACE", "0");
}
