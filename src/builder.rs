//! Building and installing the subscriber: settings in code on top of the
//! environment and files, the pipeline, the guard, and the process hooks
//! (flush at exit and on panic).

use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tracing_core::LevelFilter;

use crate::config::{self, Config, Format, Overflow, Problem, Settings};
use crate::filter::Filter;
use crate::format::time::Clock;
use crate::format::Style;
use crate::subscriber::{DynlogSubscriber, Inner, Sampler};
use crate::writer::{Pipeline, DEFAULT_RING_BYTES};
use crate::{Error, Stats};

/// Where lines go.
enum Sink {
    Stderr,
    Stdout,
    Custom(Box<dyn Write + Send>),
}

/// Every setting of dynlog, in code.
///
/// `Builder::new()` starts from the built-in defaults only;
/// [`Builder::from_env`] also reads the environment and the TOML files, as
/// [`crate::init`] does. A value set here beats both.
///
/// # Examples
///
/// ```
/// let (subscriber, guard) = dynlog::Builder::new()
///     .json(true)
///     .filter("info,my_crate=debug")
///     .writer(std::io::sink())
///     .build()
///     .unwrap();
/// tracing::subscriber::with_default(subscriber, || tracing::info!(answer = 42, "hello"));
/// guard.flush();
/// ```
pub struct Builder {
    settings: Settings,
    from_env: bool,
    prefix: String,
    default_file: PathBuf,
    sink: Sink,
    ring_bytes: usize,
    value_limit: usize,
    shutdown_timeout: Duration,
}

impl Default for Builder {
    fn default() -> Self {
        Builder::new()
    }
}

impl Builder {
    /// Built-in defaults; no environment variable or file is read.
    pub fn new() -> Builder {
        Builder {
            settings: Settings::default(),
            from_env: false,
            prefix: "DYN".to_owned(),
            default_file: PathBuf::from(config::DEFAULT_FILE),
            sink: Sink::Stderr,
            ring_bytes: DEFAULT_RING_BYTES,
            value_limit: crate::format::escape::DEFAULT_MAX_VALUE_BYTES,
            shutdown_timeout: Duration::from_secs(1),
        }
    }

    /// Starts from the environment and the TOML files (SPEC 2), as
    /// [`crate::init`] does; settings made in code still win.
    pub fn from_env() -> Builder {
        Builder {
            from_env: true,
            ..Builder::new()
        }
    }

    /// Reads `PREFIX_LOG`, `PREFIX_LOGGING_JSONL`, ... instead of `DYN_*`
    /// (and turns on reading the environment).
    pub fn env_prefix(mut self, prefix: &str) -> Builder {
        prefix.clone_into(&mut self.prefix);
        self.from_env = true;
        self
    }

    /// The TOML file read when no `PREFIX_LOGGING_CONFIG_PATH` is set
    /// (default `/opt/dynamo/etc/logging.toml`).
    pub fn default_config_file(mut self, path: impl Into<PathBuf>) -> Builder {
        self.default_file = path.into();
        self
    }

    /// JSON lines (`true`) or readable text (`false`).
    pub fn json(self, json: bool) -> Builder {
        self.format(if json {
            Format::Jsonl
        } else {
            Format::Readable
        })
    }

    /// The line format.
    pub fn format(mut self, format: Format) -> Builder {
        self.settings.format = Some(format);
        self
    }

    /// `SPAN_FIRST_ENTRY` and `SPAN_CLOSED` lines.
    pub fn span_events(mut self, on: bool) -> Builder {
        self.settings.span_events = Some(on);
        self
    }

    /// Timestamps in local time with an offset instead of UTC.
    pub fn local_time(mut self, on: bool) -> Builder {
        self.settings.local_tz = Some(on);
        self
    }

    /// Colour in readable text (used only when the sink is a terminal).
    pub fn ansi(mut self, on: bool) -> Builder {
        self.settings.disable_ansi = Some(!on);
        self
    }

    /// Filter directives (SPEC 3); they take the place of `DYN_LOG`.
    pub fn filter(mut self, directives: &str) -> Builder {
        self.settings.filter = Some(directives.to_owned());
        self
    }

    /// What happens when the queue is full.
    pub fn overflow(mut self, overflow: Overflow) -> Builder {
        self.settings.overflow = Some(overflow);
        self
    }

    /// The OTLP settings (SPEC 8).
    pub fn otlp(mut self, otlp: config::OtlpSettings) -> Builder {
        self.settings.otlp = otlp;
        self
    }

    /// Writes to standard error (the default).
    pub fn stderr(mut self) -> Builder {
        self.sink = Sink::Stderr;
        self
    }

    /// Writes to standard output.
    pub fn stdout(mut self) -> Builder {
        self.sink = Sink::Stdout;
        self
    }

    /// Writes to any writer (a file, a socket, a test buffer). Lines reach
    /// it in batches from the writer thread.
    pub fn writer(mut self, writer: impl Write + Send + 'static) -> Builder {
        self.sink = Sink::Custom(Box::new(writer));
        self
    }

    /// Bytes of queue per logging thread (default 256 KiB).
    pub fn buffer_size(mut self, bytes: usize) -> Builder {
        self.ring_bytes = bytes;
        self
    }

    /// Longest field value written whole (default 1 MiB); longer values are
    /// cut and end with `...[truncated N bytes]`.
    pub fn max_value_bytes(mut self, bytes: usize) -> Builder {
        self.value_limit = bytes.max(16);
        self
    }

    /// How long dropping the guard waits for a slow sink (default 1 s).
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Builder {
        self.shutdown_timeout = timeout;
        self
    }

    /// Builds the subscriber and its guard without installing it.
    ///
    /// # Errors
    ///
    /// The first bad setting, from code, the environment or a file,
    /// naming where it came from and what was expected.
    pub fn build(self) -> Result<(DynlogSubscriber, Guard), Error> {
        let (inner, problems) = self.assemble(true)?;
        debug_assert!(problems.is_empty());
        let guard = Guard {
            inner: inner.clone(),
            owns: true,
            timeout: inner_timeout(&inner),
        };
        Ok((DynlogSubscriber { inner }, guard))
    }

    /// Builds and installs the subscriber as the global default.
    ///
    /// # Errors
    ///
    /// A bad setting (see [`Builder::build`]), or another global subscriber
    /// already installed.
    pub fn install(self) -> Result<Guard, Error> {
        install(self, true)
    }

    /// Resolves the settings, builds the filter and the pipeline and starts
    /// the writer. Strict: the first problem is an error. Lossy: problems
    /// are returned, the defaults used.
    fn assemble(self, strict: bool) -> Result<(Arc<Inner>, Vec<Problem>), Error> {
        let config = if self.from_env {
            config::resolve_process_with_file(&self.settings, &self.prefix, &self.default_file)
        } else {
            config::resolve_code_only(&self.settings)
        };
        let mut problems = config.problems.clone();
        let filter = build_filter(&config, strict, &mut problems)?;
        if strict {
            if let Some(p) = problems.first() {
                return Err(Error::bad_setting(p));
            }
        }
        let to_terminal = match &self.sink {
            // SAFETY: `isatty` only inspects the descriptor number.
            Sink::Stderr => unsafe { libc::isatty(2) == 1 },
            // SAFETY: as above.
            Sink::Stdout => unsafe { libc::isatty(1) == 1 },
            Sink::Custom(_) => false,
        };
        let json = config.format == Format::Jsonl;
        let style = Style {
            json,
            ansi: !json && config.ansi_allowed && to_terminal,
            clock: if config.local_tz {
                Clock::local()
            } else {
                Clock::utc()
            },
            value_limit: self.value_limit,
        };
        let notice_style = Style {
            json,
            ansi: false,
            clock: if config.local_tz {
                Clock::local()
            } else {
                Clock::utc()
            },
            value_limit: self.value_limit,
        };
        let sink: Box<dyn Write + Send> = match self.sink {
            Sink::Stderr => Box::new(std::io::stderr()),
            Sink::Stdout => Box::new(std::io::stdout()),
            Sink::Custom(w) => w,
        };
        let pipeline = Pipeline::new(
            sink,
            config.overflow,
            self.ring_bytes,
            Box::new(move |out, message, fields| {
                crate::format::write_notice(out, &notice_style, message, fields)
            }),
        );
        pipeline
            .start()
            .map_err(|e| Error::io("starting the writer thread", e))?;

        // An accepted `target:level` gets a notice in the configured
        // format, in the sink (SPEC 12), once per process.
        if filter.used_colon_spelling() && crate::notice::first_time("colon-spelling") {
            let message = format!(
                "{}: read `target:level` as `target=level`; write `=` to silence this notice",
                directives_source_name(&config)
            );
            let mut line = Vec::new();
            (pipeline.notice_format())(&mut line, &message, &[]);
            pipeline.write_direct(&line);
        }
        let sampler = sampler_of(&config);
        let span_directives = filter.has_span_directives();
        #[cfg(feature = "otlp")]
        let exporter = crate::otlp::Exporter::start(&config, &pipeline, &mut problems);
        #[cfg(feature = "otlp")]
        if strict {
            if let Some(p) = problems.first() {
                drop(exporter);
                pipeline.stop(self.shutdown_timeout);
                return Err(Error::bad_setting(p));
            }
        }
        #[cfg(not(feature = "otlp"))]
        if config.otlp.enabled {
            crate::notice::stderr_once(
                "otlp-not-compiled",
                "dynlog: OTEL_EXPORT_ENABLED is set but this build has no OTLP export (cargo feature `otlp`)",
            );
        }
        #[cfg(feature = "otlp")]
        let timed = config.span_events || exporter.is_some();
        #[cfg(not(feature = "otlp"))]
        let timed = config.span_events;
        let inner = Arc::new(Inner {
            registry: crate::registry::Registry::new(),
            filter,
            pipeline,
            style,
            span_events: config.span_events,
            timed,
            sampler,
            span_directives,
            #[cfg(feature = "otlp")]
            exporter,
            shutdown_timeout: self.shutdown_timeout,
        });
        Ok((inner, problems))
    }
}

fn inner_timeout(inner: &Inner) -> Duration {
    inner.shutdown_timeout
}

fn sampler_of(config: &Config) -> Sampler {
    use crate::config::Sampler as S;
    match config.otlp.sampler {
        S::AlwaysOn | S::ParentBasedAlwaysOn => Sampler::AlwaysOn,
        S::AlwaysOff | S::ParentBasedAlwaysOff => Sampler::AlwaysOff,
        S::TraceIdRatio(r) | S::ParentBasedTraceIdRatio(r) => Sampler::Ratio(r),
    }
}

/// Assembles the filter of SPEC 2: built-in targets, the files'
/// `log_filters`, then `DYN_LOG`; the default level from `DYN_LOG` when it
/// is set (and has a valid directive), else the files' `log_level`, else
/// `info`.
pub(crate) fn build_filter(
    config: &Config,
    strict: bool,
    problems: &mut Vec<Problem>,
) -> Result<Filter, Error> {
    let mut filter = Filter::new();
    for (target, level) in &config.filter.builtin {
        let level = parse_level(level).unwrap_or(LevelFilter::ERROR);
        filter = filter.add_target(target, level);
    }
    for ff in &config.filter.log_filters {
        match parse_level(&ff.level) {
            Some(level) => filter = filter.add_target(&ff.target, level),
            None => problems.push(Problem {
                source: ff.file.display().to_string(),
                message: format!(
                    "expected a level (off, error, warn, info, debug, trace) for log_filters.\"{}\", found \"{}\"",
                    ff.target, ff.level
                ),
            }),
        }
    }
    let mut default = LevelFilter::INFO;
    if let Some((level, file)) = &config.filter.log_level {
        match parse_level(level) {
            Some(l) => default = l,
            None => problems.push(Problem {
                source: file.display().to_string(),
                message: format!("expected a level (off, error, warn, info, debug, trace) for log_level, found \"{level}\""),
            }),
        }
    }
    if let Some(text) = config
        .filter
        .directives
        .as_deref()
        .filter(|t| !t.trim().is_empty())
    {
        let source = directives_source_name(config);
        let (parsed, errors) = if strict {
            match Filter::parse(text) {
                Ok(f) => (f, Vec::new()),
                Err(e) => {
                    return Err(Error::bad_setting(&Problem {
                        source,
                        message: e.to_string(),
                    }))
                }
            }
        } else {
            Filter::parse_lossy(text)
        };
        for e in errors {
            problems.push(Problem {
                source: source.clone(),
                message: e.to_string(),
            });
        }
        if !parsed.is_empty() || parsed.default_level().is_some() {
            default = parsed.default_level().unwrap_or(LevelFilter::OFF);
            filter = filter.extend(parsed);
        }
    }
    Ok(filter.with_default_level(default))
}

/// How problems and notices name where the directives came from: the
/// variable, the file, or `filter` for code.
pub(crate) fn directives_source_name(config: &Config) -> String {
    match &config.filter.directives_source {
        config::Source::Env(var) => var.clone(),
        config::Source::File(p) => p.display().to_string(),
        config::Source::Code | config::Source::Default => "filter".to_owned(),
    }
}

/// A level word as in directives: `off`, `error`, `warn`/`warning`,
/// `info`, `debug`, `trace` in any case, or a digit 0 to 5.
pub(crate) fn parse_level(text: &str) -> Option<LevelFilter> {
    let word = text.trim().to_ascii_lowercase();
    Some(match word.as_str() {
        "off" | "0" => LevelFilter::OFF,
        "error" | "1" => LevelFilter::ERROR,
        "warn" | "warning" | "2" => LevelFilter::WARN,
        "info" | "3" => LevelFilter::INFO,
        "debug" | "4" => LevelFilter::DEBUG,
        "trace" | "5" => LevelFilter::TRACE,
        _ => return None,
    })
}

/// The installed pipeline, for `stats`, `current_context` and the hooks.
static GLOBAL: OnceLock<Arc<Inner>> = OnceLock::new();

pub(crate) fn global() -> Option<&'static Arc<Inner>> {
    GLOBAL.get()
}

/// Installs `builder` globally; `strict` makes every bad setting an error.
pub(crate) fn install(builder: Builder, strict: bool) -> Result<Guard, Error> {
    if let Some(inner) = GLOBAL.get() {
        return Ok(Guard {
            inner: inner.clone(),
            owns: false,
            timeout: inner.shutdown_timeout,
        });
    }
    let (inner, problems) = builder.assemble(strict)?;
    let subscriber = DynlogSubscriber {
        inner: inner.clone(),
    };
    let dispatch = tracing_core::Dispatch::new(subscriber);
    if tracing_core::dispatcher::set_global_default(dispatch).is_err() {
        inner.pipeline.stop(Duration::from_millis(100));
        return Err(Error::already_installed());
    }
    if GLOBAL.set(inner.clone()).is_err() {
        return Err(Error::already_installed());
    }
    #[cfg(feature = "log")]
    crate::log_bridge::install(&inner);
    install_hooks();
    for p in &problems {
        if crate::notice::first_time(&format!("setting:{}:{}", p.source, p.message)) {
            let mut line = Vec::new();
            let msg = format!("{}: {}", p.source, p.message);
            (inner.pipeline.notice_format())(&mut line, &msg, &[]);
            inner.pipeline.write_direct(&line);
        }
    }
    Ok(Guard {
        timeout: inner.shutdown_timeout,
        inner,
        owns: true,
    })
}

/// Flushes at process exit (`atexit`, which also runs when `main` returns
/// and on `std::process::exit`) and from the panic hook.
fn install_hooks() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        extern "C" fn at_exit() {
            if let Some(inner) = GLOBAL.get() {
                inner.exit_flush();
            }
        }
        // SAFETY: `at_exit` is a plain `extern "C" fn()` that does not
        // unwind (it only flushes with a timeout).
        unsafe {
            libc::atexit(at_exit);
        }
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| match GLOBAL.get() {
            Some(inner) => inner.panic_flush(|| previous(info)),
            None => previous(info),
        }));

        // A closed pipe must be an error to count, not a signal that kills.
        // SAFETY: setting SIGPIPE's disposition to "ignore" is
        // async-signal-safe and affects only how EPIPE is reported.
        unsafe {
            let mut old: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(libc::SIGPIPE, std::ptr::null(), &mut old) == 0
                && old.sa_sigaction == libc::SIG_DFL
            {
                libc::signal(libc::SIGPIPE, libc::SIG_IGN);
            }
        }
    });
}

/// Keeps the pipeline running; flushes and stops it when dropped.
///
/// `Guard` is `Send + Sync`. Only the guard returned by the call that built
/// or installed the pipeline stops it; guards from later `init` calls only
/// flush.
pub struct Guard {
    inner: Arc<Inner>,
    owns: bool,
    timeout: Duration,
}

impl Guard {
    /// Returns once every line accepted before the call is written and the
    /// sink flushed (and the export queue, with OTLP on).
    pub fn flush(&self) {
        self.inner.pipeline.flush(None);
        #[cfg(feature = "otlp")]
        if let Some(e) = &self.inner.exporter {
            e.flush(self.timeout);
        }
    }

    /// The pipeline's counters.
    pub fn stats(&self) -> Stats {
        self.inner.pipeline.counters.snapshot()
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if !self.owns {
            self.inner.pipeline.flush(Some(self.timeout));
            return;
        }
        #[cfg(feature = "otlp")]
        if let Some(e) = &self.inner.exporter {
            e.shutdown(self.timeout);
        }
        self.inner.pipeline.stop(self.timeout);
    }
}

impl Inner {
    fn exit_flush(&self) {
        #[cfg(feature = "otlp")]
        if let Some(e) = &self.exporter {
            e.shutdown(self.shutdown_timeout);
        }
        self.pipeline.exit_flush(self.shutdown_timeout);
    }

    /// Writes our lines, then the panic message (`report`) with nothing of
    /// ours in between, then flushes the exporter.
    fn panic_flush(&self, report: impl FnOnce()) {
        self.pipeline.flush_then(self.shutdown_timeout, report);
        #[cfg(feature = "otlp")]
        if let Some(e) = &self.exporter {
            e.flush(self.shutdown_timeout);
        }
    }
}
