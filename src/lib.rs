//! dynlog: a fast structured-logging backend for `tracing`.
//!
//! ```
//! let _guard = dynlog::init();
//! tracing::info!(user_id = 42, "request handled");
//! ```
//!
//! `init` reads the same configuration as the logging it replaces
//! (`DYN_LOG`, `DYN_LOGGING_JSONL`, `DYN_LOGGING_SPAN_EVENTS`,
//! `DYN_LOG_USE_LOCAL_TZ`, `DYN_LOGGING_CONFIG_PATH`, `OTEL_*`), installs a
//! global subscriber that writes JSON lines or readable text through a
//! background writer thread, and returns a [`Guard`] that flushes when
//! dropped. Lines are flushed at process exit and on panic too.
//!
//! The data path is described in `DESIGN.md` at the top of the repository.
#![warn(missing_docs)]

mod builder;
pub mod config;
pub mod context;
mod error;
pub mod filter;
pub(crate) mod format;
#[cfg(feature = "log")]
mod log_bridge;
mod notice;
#[cfg(feature = "otlp")]
pub(crate) mod otlp;
pub mod propagation;
pub(crate) mod registry;
mod subscriber;
pub(crate) mod sync;
pub(crate) mod writer;

pub use builder::{Builder, Guard};
pub use config::{Format, Overflow};
pub use context::{SpanId, TraceContext, TraceFlags, TraceId};
pub use error::Error;
pub use filter::Filter;
pub use subscriber::DynlogSubscriber;
pub use writer::Stats;

/// Reads the configuration, installs the global subscriber and returns its
/// guard.
///
/// Never panics and never exits: each bad setting is reported once (as a
/// `WARN` line from target `dynlog`) and its default used; invalid filter
/// directives are dropped one by one. If a global subscriber is already
/// installed, prints a one-line notice and returns a guard that installs
/// nothing. A second call returns a guard on the same pipeline.
pub fn init() -> Guard {
    match builder::install(Builder::from_env(), false) {
        Ok(guard) => guard,
        Err(e) => {
            notice::stderr_once(
                "init-failed",
                &format!("dynlog: {e}; logging through dynlog is off"),
            );
            // A guard on a pipeline nobody uses keeps the signature simple.
            let (_, guard) = Builder::new()
                .writer(std::io::sink())
                .build()
                .expect("dynlog: the built-in defaults are valid");
            guard
        }
    }
}

/// Like [`init`], but every bad setting is an error.
///
/// # Errors
///
/// A bad setting (naming the variable or file, the value and, for filter
/// directives, the byte position), or another global subscriber already
/// installed.
pub fn try_init() -> Result<Guard, Error> {
    builder::install(Builder::from_env(), true)
}

/// The counters of the installed pipeline (all zero when none is).
pub fn stats() -> Stats {
    match builder::global() {
        Some(inner) => inner.pipeline.counters.snapshot(),
        None => Stats::default(),
    }
}

/// The trace context of the current span of the current dispatcher, when
/// it is dynlog's; in both formats, with or without OTLP.
pub fn current_context() -> Option<TraceContext> {
    tracing_core::dispatcher::get_default(|d| {
        d.downcast_ref::<DynlogSubscriber>()
            .and_then(|s| s.current_context())
    })
}

/// Records an event from a foreign runtime (a Python logging handler, say)
/// through the installed pipeline, filtered by `target` like a native event
/// and carrying the current span's data.
///
/// Levels by name, any case: `trace`, `debug`, `info`, `warn` and `warning`,
/// `error`, `critical` and `fatal` (as `ERROR`); anything else is `INFO`.
/// Does nothing when dynlog is not installed.
pub fn log_external(
    level: &str,
    target: &str,
    file: Option<&str>,
    line: Option<u32>,
    message: &str,
) {
    let Some(inner) = builder::global() else {
        return;
    };
    let level = external_level(level);
    inner.external(
        level,
        target,
        file,
        line,
        &format::visit::DisplayAsDebug(message),
    );
}

fn external_level(name: &str) -> tracing_core::Level {
    use tracing_core::Level;
    let name = name.trim();
    let is = |w: &str| name.eq_ignore_ascii_case(w);
    if is("trace") {
        Level::TRACE
    } else if is("debug") {
        Level::DEBUG
    } else if is("warn") || is("warning") {
        Level::WARN
    } else if is("error") || is("critical") || is("fatal") {
        Level::ERROR
    } else {
        Level::INFO
    }
}
