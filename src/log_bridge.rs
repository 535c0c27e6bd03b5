//! Records of the `log` crate, formatted directly like native events.
//!
//! A record keeps its real target, file and line and takes the current
//! span's data; it is not turned into a `tracing` event, so no callsite is
//! leaked per target and a million distinct targets cost nothing lasting.
//! `log`'s max level follows the filter, so a disabled `log` call is one
//! comparison.

use std::sync::Arc;

use tracing_core::{Level, LevelFilter};

use crate::subscriber::Inner;

struct Bridge {
    inner: Arc<Inner>,
}

fn level_of(level: log::Level) -> Level {
    match level {
        log::Level::Error => Level::ERROR,
        log::Level::Warn => Level::WARN,
        log::Level::Info => Level::INFO,
        log::Level::Debug => Level::DEBUG,
        log::Level::Trace => Level::TRACE,
    }
}

fn log_level_filter(level: Option<LevelFilter>) -> log::LevelFilter {
    match level {
        Some(LevelFilter::OFF) => log::LevelFilter::Off,
        Some(LevelFilter::ERROR) => log::LevelFilter::Error,
        Some(LevelFilter::WARN) => log::LevelFilter::Warn,
        Some(LevelFilter::INFO) => log::LevelFilter::Info,
        Some(LevelFilter::DEBUG) => log::LevelFilter::Debug,
        _ => log::LevelFilter::Trace,
    }
}

impl log::Log for Bridge {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        let level = level_of(metadata.level());
        self.inner.log_enabled(level, metadata.target())
    }

    fn log(&self, record: &log::Record<'_>) {
        let level = level_of(record.level());
        let message = *record.args();
        self.inner.external(
            level,
            record.target(),
            record.file(),
            record.line(),
            &crate::format::visit::DisplayAsDebug(&message),
        );
    }

    /// `log::logger().flush()`: every line accepted so far reaches the
    /// sink (waiting at most the shutdown timeout for a slow one).
    fn flush(&self) {
        self.inner.pipeline.flush(Some(self.inner.shutdown_timeout));
    }
}

/// Sets the `log` logger to dynlog, unless another is set already (then a
/// one-line notice).
pub(crate) fn install(inner: &Arc<Inner>) {
    let bridge = Bridge {
        inner: inner.clone(),
    };
    match log::set_boxed_logger(Box::new(bridge)) {
        Ok(()) => log::set_max_level(log_level_filter(inner.max_level())),
        Err(_) => {
            // A notice in the sink's format (SPEC 12), once per process.
            if crate::notice::first_time("log-logger-set") {
                let mut line = Vec::new();
                (inner.pipeline.notice_format())(
                    &mut line,
                    "another `log` logger is already set; `log` records do not go through dynlog",
                    &[],
                );
                inner.pipeline.write_direct(&line);
            }
        }
    }
}
