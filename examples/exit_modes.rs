//! Logs numbered lines and then leaves the process without ever dropping the
//! logging guard, to show that no accepted line is lost at exit (SPEC 1).
//!
//! ```text
//! exit_modes <return|exit|panic> [--lines N] [--threads T]
//! ```
//!
//! The guard lives in a `static`, so it is never dropped. The lines are
//! `numbered line` events at INFO with an integer field `n` from 0 to N-1
//! (default 10,000), spread over T threads (default 1: the main thread
//! alone; thread `k` logs `k`, `k + T`, ..., the main thread being thread
//! 0), which are joined before the process leaves:
//! `return` returns from `main` (exit status 0), `exit` calls
//! `std::process::exit(0)`, `panic` panics on the main thread (status 101).
//! Bad arguments exit with status 2.

use std::process::ExitCode;
use std::sync::OnceLock;

/// Never dropped: the point of this example.
static GUARD: OnceLock<dynlog::Guard> = OnceLock::new();

const USAGE: &str = "usage: exit_modes <return|exit|panic> [--lines N] [--threads T]";

/// How the process leaves once the lines are logged.
#[derive(Clone, Copy)]
enum Mode {
    Return,
    Exit,
    Panic,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<(Mode, u64, u64), String> {
    let mode = match args.next().as_deref() {
        Some("return") => Mode::Return,
        Some("exit") => Mode::Exit,
        Some("panic") => Mode::Panic,
        other => return Err(format!("expected return, exit or panic, found {other:?}")),
    };
    let (mut lines, mut threads) = (10_000, 1);
    while let Some(flag) = args.next() {
        let value = args.next().unwrap_or_default();
        let number: u64 = value
            .parse()
            .map_err(|_| format!("expected a count after {flag}, found {value:?}"))?;
        match flag.as_str() {
            "--lines" => lines = number,
            "--threads" => threads = number.max(1),
            _ => return Err(format!("expected --lines or --threads, found {flag:?}")),
        }
    }
    Ok((mode, lines, threads))
}

fn main() -> ExitCode {
    let (mode, lines, threads) = match parse_args(std::env::args().skip(1)) {
        Ok(parsed) => parsed,
        Err(message) => {
            eprintln!("exit_modes: {message}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    GUARD.get_or_init(dynlog::init);

    // The main thread logs share 0, spawned threads the others; all of
    // them are joined before the process leaves.
    let log_share = move |first: u64| {
        for n in (first..lines).step_by(threads as usize) {
            tracing::info!(n, "numbered line");
        }
    };
    std::thread::scope(|scope| {
        for first in 1..threads {
            scope.spawn(move || log_share(first));
        }
        log_share(0);
    });

    match mode {
        Mode::Return => ExitCode::SUCCESS,
        Mode::Exit => std::process::exit(0),
        Mode::Panic => panic!("exit_modes: panicking on purpose after {lines} lines"),
    }
}
