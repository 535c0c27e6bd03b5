//! Configuration: what each setting is and where its value came from.
//!
//! [`resolve`] reads the settings made in code, the environment, the file
//! named by `<PREFIX>_LOGGING_CONFIG_PATH` and the default file, and gives a
//! [`Config`] in which every value is concrete and every value knows its
//! [`Source`]. Per setting, the highest source wins: code, environment,
//! named file, default file, built-in default. A bad value never stops
//! resolution: it becomes one [`Problem`] (one line naming the variable,
//! file position or code setting, the value and what was expected) and the
//! next source down is used, so the result is always usable. Filter
//! directives stay raw text here ([`FilterSources`]); the filter module
//! parses them. Nothing here is on the event path.
//!
//! Rules chosen where SPEC 2 is silent:
//!
//! - A bad value counts as unset, except `<PREFIX>_LOGGING_CONSOLE_FORMAT`
//!   and a file's `console_format`, where a bad value gives readable text.
//! - An `OTEL_*` variable that is empty or only whitespace counts as unset
//!   (the OpenTelemetry rule), except the boolean `OTEL_EXPORT_ENABLED`,
//!   for which the empty string is false like every boolean.
//! - Both files are read when both exist; the named file wins key by key,
//!   and its `log_filters` entries replace the default file's for the same
//!   target. A relative path is taken from the working directory.
//! - An endpoint set in code or a file is the traces URL, used as given;
//!   only `OTEL_EXPORTER_OTLP_ENDPOINT` gets `/v1/traces` appended (HTTP).
//! - Code beats `NO_COLOR`: `disable_ansi: Some(false)` in code allows
//!   colour whatever the environment says.

mod env;
mod file;
mod values;

use std::cell::RefCell;
use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use values::Mismatch;

/// Where the default configuration file lives in production.
pub const DEFAULT_FILE: &str = "/opt/dynamo/etc/logging.toml";

/// The environment prefix used unless the caller gives another.
pub const DEFAULT_PREFIX: &str = "DYN";

/// The default level when neither the directives nor a file give one.
pub const DEFAULT_LEVEL: &str = "info";

/// Built-in per-target levels, the lowest filter source. `request_span`
/// is at `trace` so request spans and their context exist at any level.
pub const BUILTIN_FILTERS: [(&str, &str); 14] = [
    ("h2", "error"),
    ("tower", "error"),
    ("hyper_util", "error"),
    ("neli", "error"),
    ("async_nats", "error"),
    ("rustls", "error"),
    ("tokenizers", "error"),
    ("axum", "error"),
    ("tonic", "error"),
    ("hf_hub", "error"),
    ("opentelemetry", "error"),
    ("opentelemetry_otlp", "error"),
    ("opentelemetry_sdk", "error"),
    ("request_span", "trace"),
];

// Setting names, as `describe` prints them and `Config::source` takes them.
const FORMAT: &str = "format";
const SPAN_EVENTS: &str = "span_events";
const LOCAL_TZ: &str = "local_tz";
const DISABLE_ANSI: &str = "disable_ansi";
const OVERFLOW: &str = "overflow";
const FILTER: &str = "filter";
const LOG_FILTERS: &str = "log_filters";
const ENABLED: &str = "otlp.enabled";
const ENDPOINT: &str = "otlp.endpoint";
const BASE_ENDPOINT: &str = "otlp.endpoint.base";
const PROTOCOL: &str = "otlp.protocol";
const HEADERS: &str = "otlp.headers";
const TIMEOUT: &str = "otlp.timeout";
const SERVICE_NAME: &str = "otlp.service_name";
const SAMPLE_RATIO: &str = "otlp.sample_ratio";
const SAMPLER: &str = "otlp.sampler";
const SAMPLER_ARG: &str = "otlp.sampler_arg";
const MAX_QUEUE_SIZE: &str = "otlp.max_queue_size";
const SCHEDULED_DELAY: &str = "otlp.scheduled_delay";
const MAX_EXPORT_BATCH_SIZE: &str = "otlp.max_export_batch_size";
const EXPORT_TIMEOUT: &str = "otlp.export_timeout";

/// How lines are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Format {
    /// Readable text, coloured on a terminal.
    #[default]
    Readable,
    /// One JSON object per line.
    Jsonl,
}

/// What a thread does when the writer's queue is full.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Overflow {
    /// Wait for room; no line is lost.
    #[default]
    Block,
    /// Never wait; count the lost lines and report them.
    Drop,
}

/// The OTLP transport.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Protocol {
    /// OTLP over gRPC.
    #[default]
    Grpc,
    /// OTLP over HTTP with protobuf bodies.
    HttpProtobuf,
}

impl Protocol {
    /// The traces endpoint used when none is configured:
    /// `http://localhost:4317` for gRPC, `http://localhost:4318/v1/traces`
    /// for HTTP.
    pub fn default_endpoint(self) -> &'static str {
        match self {
            Protocol::Grpc => "http://localhost:4317",
            Protocol::HttpProtobuf => "http://localhost:4318/v1/traces",
        }
    }
}

/// Which spans are sampled, as the OpenTelemetry SDK specification names
/// the samplers.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Sampler {
    /// Every span.
    AlwaysOn,
    /// No span.
    AlwaysOff,
    /// Root and child spans alike, by trace id, with this ratio.
    TraceIdRatio(f64),
    /// As the parent says; roots always.
    ParentBasedAlwaysOn,
    /// As the parent says; roots never.
    ParentBasedAlwaysOff,
    /// As the parent says; roots by trace id with this ratio.
    ParentBasedTraceIdRatio(f64),
}

/// Every setting that code can make, each unset by default.
///
/// `Some` in code beats every other source. Values are checked like those
/// from the environment: a bad one becomes a [`Problem`] whose source is
/// `code` and the next source down is used.
#[derive(Clone, Debug, Default)]
pub struct Settings {
    /// Readable text or JSON lines.
    pub format: Option<Format>,
    /// Emit `SPAN_FIRST_ENTRY` and `SPAN_CLOSED` lines.
    pub span_events: Option<bool>,
    /// Timestamps in local time with a numeric offset instead of UTC.
    pub local_tz: Option<bool>,
    /// No colour in readable text.
    pub disable_ansi: Option<bool>,
    /// What to do when the writer's queue is full.
    pub overflow: Option<Overflow>,
    /// Filter directives, as `DYN_LOG` would hold them; blank is unset.
    pub filter: Option<String>,
    /// OTLP export settings.
    pub otlp: OtlpSettings,
}

/// The OTLP settings that code can make, each unset by default.
#[derive(Clone, Debug, Default)]
pub struct OtlpSettings {
    /// Export spans over OTLP.
    pub enabled: Option<bool>,
    /// The traces URL, used as given.
    pub endpoint: Option<String>,
    /// gRPC or HTTP/protobuf.
    pub protocol: Option<Protocol>,
    /// Headers sent with every export; replaces those of lower sources.
    pub headers: Option<Vec<(String, String)>>,
    /// Timeout of one export.
    pub timeout: Option<Duration>,
    /// `service.name` of exported spans.
    pub service_name: Option<String>,
    /// Parent-based ratio sampler; beats `sampler` from the same source.
    pub sample_ratio: Option<f64>,
    /// An SDK sampler name such as `parentbased_traceidratio`.
    pub sampler: Option<String>,
    /// The sampler's argument: the ratio for the ratio samplers.
    pub sampler_arg: Option<String>,
    /// Spans the batch processor holds before it drops.
    pub max_queue_size: Option<usize>,
    /// Time between two exports of the batch processor.
    pub scheduled_delay: Option<Duration>,
    /// Spans in one export; at most `max_queue_size`.
    pub max_export_batch_size: Option<usize>,
    /// Time the batch processor gives one export.
    pub export_timeout: Option<Duration>,
}

/// Where a resolved value came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// The built-in default.
    Default,
    /// A TOML file.
    File(PathBuf),
    /// An environment variable, by name.
    Env(String),
    /// A setting made in code.
    Code,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Default => f.write_str("default"),
            Source::File(path) => write!(f, "file {}", path.display()),
            Source::Env(name) => write!(f, "env {name}"),
            Source::Code => f.write_str("code"),
        }
    }
}

/// One bad setting: a single lowercase line without a trailing period.
///
/// `source` names the variable (`DYN_LOGGING_JSONL`), the file position
/// (`/etc/x.toml:3:9`), the file, or `code`; `message` says what was
/// expected and what was found. `Display` writes `source: message`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// The variable, file position, file or `code`.
    pub source: String,
    /// What was expected and what was found.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.source, self.message)
    }
}

/// One `[log_filters]` entry of a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileFilter {
    /// The target, as the file's key spells it.
    pub target: String,
    /// The level text, not yet parsed.
    pub level: String,
    /// The file, for messages.
    pub file: PathBuf,
}

/// The filter's raw sources, lowest first, for the filter module to parse.
///
/// Assembly: `builtin`, then `log_filters`, then `directives`; for the
/// same target the later source wins.
///
/// The default level, decided in one place: when `directives` is `Some`
/// (set and non-blank) its default level is the whole answer, so
/// `my_crate=debug` alone turns every other target off, as with
/// `RUST_LOG`; but when none of its directives is valid it counts as
/// unset. Otherwise the files' `log_level` is the default level, and
/// otherwise [`DEFAULT_LEVEL`] (`info`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FilterSources {
    /// Built-in per-target levels ([`BUILTIN_FILTERS`]).
    pub builtin: Vec<(&'static str, &'static str)>,
    /// The files' entries, default file first; a target named in both
    /// files appears once, from the named file.
    pub log_filters: Vec<FileFilter>,
    /// The files' `log_level` text and its file; the named file's wins.
    pub log_level: Option<(String, PathBuf)>,
    /// `<PREFIX>_LOG` or the code setting, when set and non-blank.
    pub directives: Option<String>,
    /// Where `directives` came from ([`Source::Default`] when unset).
    pub directives_source: Source,
}

/// The resolved OTLP settings.
#[derive(Clone, Debug, PartialEq)]
pub struct OtlpConfig {
    /// Export spans over OTLP. Default false.
    pub enabled: bool,
    /// The traces URL. Default per [`Protocol::default_endpoint`].
    pub endpoint: String,
    /// The transport. Default gRPC.
    pub protocol: Protocol,
    /// Headers sent with every export. Default none.
    pub headers: Vec<(String, String)>,
    /// Timeout of one export. Default 10 s.
    pub timeout: Duration,
    /// `service.name` of exported spans. Default `dynamo`.
    pub service_name: String,
    /// The sampler. Default [`Sampler::ParentBasedAlwaysOn`].
    pub sampler: Sampler,
    /// Batch processor queue size. Default 2048.
    pub max_queue_size: usize,
    /// Batch processor delay between exports. Default 5 s.
    pub scheduled_delay: Duration,
    /// Batch size, at most `max_queue_size`. Default 512.
    pub max_export_batch_size: usize,
    /// Batch processor export timeout. Default 30 s.
    pub export_timeout: Duration,
}

/// The resolved configuration: every value concrete.
#[derive(Clone, Debug)]
pub struct Config {
    /// Readable text or JSON lines.
    pub format: Format,
    /// Emit `SPAN_FIRST_ENTRY` and `SPAN_CLOSED` lines.
    pub span_events: bool,
    /// Timestamps in local time.
    pub local_tz: bool,
    /// No source disabled colour; the terminal check is made elsewhere.
    pub ansi_allowed: bool,
    /// What to do when the writer's queue is full.
    pub overflow: Overflow,
    /// The filter's raw sources.
    pub filter: FilterSources,
    /// OTLP export.
    pub otlp: OtlpConfig,
    /// The files that were read, named file first.
    pub files: Vec<PathBuf>,
    /// Where each setting came from, by setting name, in [`describe`]
    /// order.
    ///
    /// [`describe`]: Config::describe
    pub sources: Vec<(&'static str, Source)>,
    /// The bad settings met, in the order met: code, environment, named
    /// file, default file.
    pub problems: Vec<Problem>,
}

impl Config {
    /// Where `setting` (a name that [`describe`](Config::describe)
    /// prints, such as `format` or `otlp.endpoint`) came from.
    pub fn source(&self, setting: &str) -> Option<&Source> {
        self.sources
            .iter()
            .find(|(name, _)| *name == setting)
            .map(|(_, source)| source)
    }

    /// One row per setting: its name, its value as text and its source,
    /// for `dynlog check`. Header values are shown as `***`.
    pub fn describe(&self) -> Vec<(&'static str, String, Source)> {
        let source = |setting| self.source(setting).cloned().unwrap_or(Source::Default);
        let millis = |d: Duration| format!("{}ms", d.as_millis());
        let otlp = &self.otlp;
        let headers = if otlp.headers.is_empty() {
            "none".to_owned()
        } else {
            let keys: Vec<String> = otlp
                .headers
                .iter()
                .map(|(k, _)| format!("{k}=***"))
                .collect();
            keys.join(",")
        };
        let filter = match (&self.filter.directives, &self.filter.log_level) {
            (Some(directives), _) => directives.clone(),
            (None, Some((level, _))) => level.clone(),
            (None, None) => DEFAULT_LEVEL.to_owned(),
        };

        let mut rows = vec![
            (FORMAT, self.format.to_string(), source(FORMAT)),
            (
                SPAN_EVENTS,
                self.span_events.to_string(),
                source(SPAN_EVENTS),
            ),
            (LOCAL_TZ, self.local_tz.to_string(), source(LOCAL_TZ)),
            (
                DISABLE_ANSI,
                (!self.ansi_allowed).to_string(),
                source(DISABLE_ANSI),
            ),
            (OVERFLOW, self.overflow.to_string(), source(OVERFLOW)),
            (FILTER, filter, source(FILTER)),
        ];
        for entry in &self.filter.log_filters {
            let value = format!("{}={}", entry.target, entry.level);
            rows.push((LOG_FILTERS, value, Source::File(entry.file.clone())));
        }
        rows.extend([
            (ENABLED, otlp.enabled.to_string(), source(ENABLED)),
            (ENDPOINT, otlp.endpoint.clone(), source(ENDPOINT)),
            (PROTOCOL, otlp.protocol.to_string(), source(PROTOCOL)),
            (HEADERS, headers, source(HEADERS)),
            (TIMEOUT, millis(otlp.timeout), source(TIMEOUT)),
            (
                SERVICE_NAME,
                otlp.service_name.clone(),
                source(SERVICE_NAME),
            ),
            (SAMPLER, otlp.sampler.to_string(), source(SAMPLER)),
            (
                MAX_QUEUE_SIZE,
                otlp.max_queue_size.to_string(),
                source(MAX_QUEUE_SIZE),
            ),
            (
                SCHEDULED_DELAY,
                millis(otlp.scheduled_delay),
                source(SCHEDULED_DELAY),
            ),
            (
                MAX_EXPORT_BATCH_SIZE,
                otlp.max_export_batch_size.to_string(),
                source(MAX_EXPORT_BATCH_SIZE),
            ),
            (
                EXPORT_TIMEOUT,
                millis(otlp.export_timeout),
                source(EXPORT_TIMEOUT),
            ),
        ]);
        rows
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Readable => "readable",
            Format::Jsonl => "jsonl",
        })
    }
}

impl fmt::Display for Overflow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Overflow::Block => "block",
            Overflow::Drop => "drop",
        })
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::Grpc => "grpc",
            Protocol::HttpProtobuf => "http/protobuf",
        })
    }
}

impl fmt::Display for Sampler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Sampler::AlwaysOn => f.write_str("always_on"),
            Sampler::AlwaysOff => f.write_str("always_off"),
            Sampler::TraceIdRatio(r) => write!(f, "traceidratio({r})"),
            Sampler::ParentBasedAlwaysOn => f.write_str("parentbased_always_on"),
            Sampler::ParentBasedAlwaysOff => f.write_str("parentbased_always_off"),
            Sampler::ParentBasedTraceIdRatio(r) => write!(f, "parentbased_traceidratio({r})"),
        }
    }
}

/// One source's settings, checked, with what is needed to name its source.
///
/// Only the environment sets `base_endpoint`; only files set `log_level`
/// and `log_filters`.
struct Layer {
    settings: Settings,
    origin: Origin,
    base_endpoint: Option<String>,
    log_level: Option<String>,
    log_filters: Vec<(String, String)>,
}

enum Origin {
    Code,
    /// Which variable gave each setting.
    Env(Vec<(&'static str, String)>),
    File(PathBuf),
}

impl Layer {
    fn new(settings: Settings, origin: Origin) -> Layer {
        Layer {
            settings,
            origin,
            base_endpoint: None,
            log_level: None,
            log_filters: Vec::new(),
        }
    }

    fn source(&self, setting: &str) -> Source {
        match &self.origin {
            Origin::Code => Source::Code,
            Origin::File(path) => Source::File(path.clone()),
            Origin::Env(vars) => {
                let var = vars.iter().find(|(name, _)| *name == setting);
                Source::Env(var.map_or_else(String::new, |(_, var)| var.clone()))
            }
        }
    }
}

/// Resolves every setting from code, the environment and the files.
///
/// `prefix` is [`DEFAULT_PREFIX`] unless the application has its own
/// (`MYAPP` reads `MYAPP_LOG`, `MYAPP_LOGGING_JSONL`, ...; `NO_COLOR` and
/// `OTEL_*` are never prefixed). `env` looks a variable up; see
/// [`resolve_process`] for the real one. `default_file` is
/// [`DEFAULT_FILE`] in production; it is skipped silently when absent.
///
/// # Errors
///
/// None: every bad setting is a line in [`Config::problems`], and its
/// next source down is used.
///
/// # Examples
///
/// ```
/// use std::path::Path;
/// use dynlog::config::{resolve, Format, Settings, Source};
///
/// let env = |name: &str| (name == "DYN_LOGGING_JSONL").then(|| "yes".to_owned());
/// let config = resolve(&Settings::default(), "DYN", &env, Path::new("/nonexistent.toml"));
/// assert_eq!(config.format, Format::Jsonl);
/// assert_eq!(config.source("format"), Some(&Source::Env("DYN_LOGGING_JSONL".into())));
/// assert!(config.problems.is_empty());
/// ```
pub fn resolve(
    code: &Settings,
    prefix: &str,
    env: &dyn Fn(&str) -> Option<String>,
    default_file: &Path,
) -> Config {
    resolve_with(code, Some((prefix, env)), Some(default_file))
}

/// [`resolve`] with the process environment and [`DEFAULT_FILE`].
///
/// A variable whose value is not UTF-8 is a bad setting and counts as
/// unset; its problem comes after the others.
pub fn resolve_process(code: &Settings, prefix: &str) -> Config {
    resolve_process_with_file(code, prefix, Path::new(DEFAULT_FILE))
}

/// [`resolve_process`] with another default file, as
/// `Builder::default_config_file` sets it.
pub fn resolve_process_with_file(code: &Settings, prefix: &str, default_file: &Path) -> Config {
    let not_utf8 = RefCell::new(Vec::new());
    let env = |name: &str| utf8_or_note(name, std::env::var_os(name), &not_utf8);
    let mut config = resolve(code, prefix, &env, default_file);
    for name in not_utf8.into_inner() {
        config.problems.push(Problem {
            source: name,
            message: "expected UTF-8 text, found other bytes".to_owned(),
        });
    }
    config
}

/// The filter that `init` assembles from `config` (SPEC 2): the built-in
/// per-target levels, the files' `log_filters`, then the directives, with
/// the default level by the rule on [`FilterSources`].
///
/// Lossy, as `init` is: every valid directive is kept, and each bad file
/// level or dropped directive is one [`Problem`] (the problems already in
/// `config` are not repeated). `dynlog check` prints both.
///
/// # Examples
///
/// ```
/// use dynlog::config::{effective_filter, resolve_code_only, Settings};
///
/// let code = Settings { filter: Some("warn,h2=debug,x=bad".into()), ..Settings::default() };
/// let (filter, problems) = effective_filter(&resolve_code_only(&code));
/// assert!(filter.to_string().starts_with("warn,tower=error,"));
/// assert!(filter.to_string().ends_with(",request_span=trace,h2=debug"));
/// assert_eq!(problems.len(), 1);
/// assert_eq!(problems[0].to_string(), "filter: invalid directive at byte 16: expected a level (off, error, warn, info, debug, trace or 0 to 5), found \"bad\"");
/// ```
pub fn effective_filter(config: &Config) -> (crate::Filter, Vec<Problem>) {
    let mut problems = Vec::new();

    // Not strict, so it keeps going past every problem and cannot fail.
    let filter = crate::builder::build_filter(config, false, &mut problems).unwrap_or_default();
    (filter, problems)
}

/// [`resolve`] without the environment or any file: code and built-in
/// defaults only.
pub fn resolve_code_only(code: &Settings) -> Config {
    resolve_with(code, None, None)
}

fn utf8_or_note(
    name: &str,
    value: Option<OsString>,
    not_utf8: &RefCell<Vec<String>>,
) -> Option<String> {
    match value?.into_string() {
        Ok(text) => Some(text),
        Err(_) => {
            let mut names = not_utf8.borrow_mut();
            if !names.iter().any(|known| known == name) {
                names.push(name.to_owned());
            }
            None
        }
    }
}

/// A variable lookup, as [`resolve`] takes it.
type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

fn resolve_with(
    code: &Settings,
    env: Option<(&str, Lookup<'_>)>,
    default_file: Option<&Path>,
) -> Config {
    let mut problems = Vec::new();

    // Check each source, highest first, so problems come in that order.
    let mut layers = vec![code_layer(code, &mut problems)];
    let mut config_path = None;
    if let Some((prefix, env)) = env {
        let reading = env::read(prefix, env, &mut problems);
        config_path = reading.config_path;
        layers.push(reading.layer);
    }
    if let Some((path, var)) = &config_path {
        layers.extend(file::load(path, Some(var), &mut problems));
    }
    if let Some(default_file) = default_file {
        let is_named = config_path
            .as_ref()
            .is_some_and(|(path, _)| path == default_file);
        if !is_named {
            layers.extend(file::load(default_file, None, &mut problems));
        }
    }

    // Pick every setting from the highest layer that has it.
    let mut picker = Picker {
        layers: &layers,
        sources: Vec::new(),
    };
    let format = picker.take(FORMAT, |s| s.format.as_ref(), Format::Readable);
    let span_events = picker.take(SPAN_EVENTS, |s| s.span_events.as_ref(), false);
    let local_tz = picker.take(LOCAL_TZ, |s| s.local_tz.as_ref(), false);
    let disable_ansi = picker.take(DISABLE_ANSI, |s| s.disable_ansi.as_ref(), false);
    let overflow = picker.take(OVERFLOW, |s| s.overflow.as_ref(), Overflow::Block);
    let filter = filter_sources(&layers);
    picker.sources.push((FILTER, filter_source(&filter)));
    let otlp = picker.otlp(&mut problems);
    let sources = picker.sources;

    let files = layers
        .iter()
        .filter_map(|layer| match &layer.origin {
            Origin::File(path) => Some(path.clone()),
            _ => None,
        })
        .collect();
    Config {
        format,
        span_events,
        local_tz,
        ansi_allowed: !disable_ansi,
        overflow,
        filter,
        otlp,
        files,
        sources,
        problems,
    }
}

/// Picks values from layers, highest first, and notes their sources.
struct Picker<'a> {
    layers: &'a [Layer],
    sources: Vec<(&'static str, Source)>,
}

impl Picker<'_> {
    fn find<T: Clone>(
        &self,
        setting: &'static str,
        get: impl Fn(&Settings) -> Option<&T>,
    ) -> Option<(T, Source)> {
        self.layers.iter().find_map(|layer| {
            get(&layer.settings).map(|value| (value.clone(), layer.source(setting)))
        })
    }

    fn take<T: Clone>(
        &mut self,
        setting: &'static str,
        get: impl Fn(&Settings) -> Option<&T>,
        default: T,
    ) -> T {
        let (value, source) = self
            .find(setting, get)
            .unwrap_or((default, Source::Default));
        self.sources.push((setting, source));
        value
    }

    fn otlp(&mut self, problems: &mut Vec<Problem>) -> OtlpConfig {
        let enabled = self.take(ENABLED, |s| s.otlp.enabled.as_ref(), false);
        let protocol = self.take(PROTOCOL, |s| s.otlp.protocol.as_ref(), Protocol::Grpc);

        // The endpoint: a full URL, or the environment's base URL, which
        // depends on the protocol resolved above.
        let endpoint = self.layers.iter().find_map(|layer| {
            if let Some(url) = &layer.settings.otlp.endpoint {
                return Some((url.clone(), layer.source(ENDPOINT)));
            }
            let base = layer.base_endpoint.as_ref()?;
            Some((
                values::endpoint_from_base(base, protocol),
                layer.source(BASE_ENDPOINT),
            ))
        });
        let (endpoint, source) =
            endpoint.unwrap_or_else(|| (protocol.default_endpoint().to_owned(), Source::Default));
        self.sources.push((ENDPOINT, source));

        let headers = self.take(HEADERS, |s| s.otlp.headers.as_ref(), Vec::new());
        let timeout = self.take(
            TIMEOUT,
            |s| s.otlp.timeout.as_ref(),
            Duration::from_secs(10),
        );
        let service_name = self.take(
            SERVICE_NAME,
            |s| s.otlp.service_name.as_ref(),
            "dynamo".to_owned(),
        );
        let sampler = self.sampler(problems);
        let max_queue_size = self.take(MAX_QUEUE_SIZE, |s| s.otlp.max_queue_size.as_ref(), 2048);
        let scheduled_delay = self.take(
            SCHEDULED_DELAY,
            |s| s.otlp.scheduled_delay.as_ref(),
            Duration::from_secs(5),
        );
        let max_export_batch_size = self.take(
            MAX_EXPORT_BATCH_SIZE,
            |s| s.otlp.max_export_batch_size.as_ref(),
            512,
        );
        let export_timeout = self.take(
            EXPORT_TIMEOUT,
            |s| s.otlp.export_timeout.as_ref(),
            Duration::from_secs(30),
        );

        OtlpConfig {
            enabled,
            endpoint,
            protocol,
            headers,
            timeout,
            service_name,
            sampler,
            max_queue_size,
            scheduled_delay,
            // As the SDK does: a batch never exceeds the queue.
            max_export_batch_size: max_export_batch_size.min(max_queue_size),
            export_timeout,
        }
    }

    /// The sampler: the highest layer with a ratio or a sampler name
    /// decides, and within one layer the ratio beats the name.
    fn sampler(&mut self, problems: &mut Vec<Problem>) -> Sampler {
        let decided = self.layers.iter().find_map(|layer| {
            let otlp = &layer.settings.otlp;
            if let Some(ratio) = otlp.sample_ratio {
                let sampler = Sampler::ParentBasedTraceIdRatio(ratio);
                return Some((Ok(sampler), layer.source(SAMPLE_RATIO)));
            }
            let name = otlp.sampler.as_deref()?;
            Some((Err(name.to_owned()), layer.source(SAMPLER)))
        });
        let (sampler, source) = match decided {
            None => (Sampler::ParentBasedAlwaysOn, Source::Default),
            Some((Ok(sampler), source)) => (sampler, source),
            Some((Err(name), source)) => (self.named_sampler(&name, problems), source),
        };
        self.sources.push((SAMPLER, source));
        sampler
    }

    /// A sampler by its canonical name; the ratio samplers take their
    /// argument, 1.0 when it is missing or bad.
    fn named_sampler(&self, name: &str, problems: &mut Vec<Problem>) -> Sampler {
        let mut ratio = || {
            let (arg, source) = self.find(SAMPLER_ARG, |s| s.otlp.sampler_arg.as_ref())?;
            match values::parse_ratio(&arg) {
                Ok(ratio) => Some(ratio),
                Err(mismatch) => {
                    problems.push(problem_from(&source, SAMPLER_ARG, &mismatch));
                    None
                }
            }
        };
        match name {
            "always_on" => Sampler::AlwaysOn,
            "always_off" => Sampler::AlwaysOff,
            "traceidratio" => Sampler::TraceIdRatio(ratio().unwrap_or(1.0)),
            "parentbased_always_off" => Sampler::ParentBasedAlwaysOff,
            "parentbased_traceidratio" => Sampler::ParentBasedTraceIdRatio(ratio().unwrap_or(1.0)),
            _ => Sampler::ParentBasedAlwaysOn,
        }
    }
}

fn filter_sources(layers: &[Layer]) -> FilterSources {
    let (directives, directives_source) = layers
        .iter()
        .find_map(|layer| {
            let directives = layer.settings.filter.clone()?;
            Some((Some(directives), layer.source(FILTER)))
        })
        .unwrap_or((None, Source::Default));

    // Files come after code and environment, named file first.
    let files: Vec<(&Layer, &PathBuf)> = layers
        .iter()
        .filter_map(|layer| match &layer.origin {
            Origin::File(path) => Some((layer, path)),
            _ => None,
        })
        .collect();
    let log_level = files
        .iter()
        .find_map(|(layer, path)| Some((layer.log_level.clone()?, (*path).clone())));

    // Lowest file first; an entry is kept only when no higher file names
    // its target.
    let mut log_filters = Vec::new();
    for (idx, (layer, path)) in files.iter().enumerate().rev() {
        let higher = &files[..idx];
        for (target, level) in &layer.log_filters {
            let is_replaced = higher
                .iter()
                .any(|(above, _)| above.log_filters.iter().any(|(t, _)| t == target));
            if !is_replaced {
                log_filters.push(FileFilter {
                    target: target.clone(),
                    level: level.clone(),
                    file: (*path).clone(),
                });
            }
        }
    }

    FilterSources {
        builtin: BUILTIN_FILTERS.to_vec(),
        log_filters,
        log_level,
        directives,
        directives_source,
    }
}

/// The source of the default level, by the rule on [`FilterSources`].
fn filter_source(filter: &FilterSources) -> Source {
    match (&filter.directives, &filter.log_level) {
        (Some(_), _) => filter.directives_source.clone(),
        (None, Some((_, path))) => Source::File(path.clone()),
        (None, None) => Source::Default,
    }
}

/// Checks the settings made in code; a bad one is dropped and reported.
fn code_layer(code: &Settings, problems: &mut Vec<Problem>) -> Layer {
    let mut settings = code.clone();
    let mut report = |setting: &str, mismatch: Mismatch| {
        problems.push(problem_from(&Source::Code, setting, &mismatch));
    };

    if settings.filter.as_deref().is_some_and(values::is_blank) {
        settings.filter = None;
    }
    let otlp = &mut settings.otlp;
    check_option(&mut otlp.endpoint, ENDPOINT, &mut report, |url| {
        values::check_endpoint(url).map(str::to_owned)
    });
    check_option(&mut otlp.sample_ratio, SAMPLE_RATIO, &mut report, |r| {
        values::check_ratio(*r)
    });
    check_option(&mut otlp.sampler, SAMPLER, &mut report, |name| {
        values::parse_sampler(name).map(str::to_owned)
    });
    check_option(&mut otlp.timeout, TIMEOUT, &mut report, |d| {
        values::check_duration(*d)
    });
    check_option(
        &mut otlp.scheduled_delay,
        SCHEDULED_DELAY,
        &mut report,
        |d| values::check_duration(*d),
    );
    check_option(&mut otlp.export_timeout, EXPORT_TIMEOUT, &mut report, |d| {
        values::check_duration(*d)
    });
    check_option(&mut otlp.max_queue_size, MAX_QUEUE_SIZE, &mut report, |n| {
        values::check_size(*n)
    });
    check_option(
        &mut otlp.max_export_batch_size,
        MAX_EXPORT_BATCH_SIZE,
        &mut report,
        |n| values::check_size(*n),
    );
    if let Some(headers) = &mut otlp.headers {
        headers.retain(|(key, value)| match values::check_header(key, value) {
            Ok(()) => true,
            Err(expected) => {
                report(
                    HEADERS,
                    Mismatch::value(expected, &format!("{key}={value}")),
                );
                false
            }
        });
    }
    Layer::new(settings, Origin::Code)
}

fn check_option<T>(
    slot: &mut Option<T>,
    setting: &str,
    report: &mut impl FnMut(&str, Mismatch),
    check: impl Fn(&T) -> Result<T, Mismatch>,
) {
    if let Some(value) = slot.take() {
        match check(&value) {
            Ok(checked) => *slot = Some(checked),
            Err(mismatch) => report(setting, mismatch),
        }
    }
}

/// A problem with a value from `source`; used for values checked after
/// their layer was read (code settings, the sampler argument).
fn problem_from(source: &Source, setting: &str, mismatch: &Mismatch) -> Problem {
    let (source, message) = match source {
        Source::Env(var) => (
            var.clone(),
            format!("expected {}, found {}", mismatch.expected, mismatch.found),
        ),
        Source::File(path) => (
            file::path_text(path),
            format!(
                "expected {} for key {}, found {}",
                mismatch.expected,
                values::quote(setting),
                mismatch.found
            ),
        ),
        Source::Code | Source::Default => (
            "code".to_owned(),
            format!(
                "expected {} for {setting}, found {}",
                mismatch.expected, mismatch.found
            ),
        ),
    };
    Problem { source, message }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    /// Resolves with `env` and with files holding `named` and `default`
    /// (when given), then removes the files. Returns the config and the
    /// two paths.
    fn run(
        code: &Settings,
        prefix: &str,
        env: &[(&str, &str)],
        named: Option<&str>,
        default: Option<&str>,
    ) -> (Config, PathBuf, PathBuf) {
        let named_path = match named {
            Some(text) => file::temp_file("named.toml", text.as_bytes()),
            None => std::env::temp_dir().join("dynlog-config-no-named-file.toml"),
        };
        let default_path = match default {
            Some(text) => file::temp_file("default.toml", text.as_bytes()),
            None => std::env::temp_dir().join("dynlog-config-no-default-file.toml"),
        };
        let mut map: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        if named.is_some() {
            let var = format!("{prefix}_LOGGING_CONFIG_PATH");
            map.insert(var, named_path.display().to_string());
        }
        let lookup = |name: &str| map.get(name).cloned();
        let config = resolve(code, prefix, &lookup, &default_path);
        for (path, text) in [(&named_path, named), (&default_path, default)] {
            if text.is_some() {
                std::fs::remove_file(path).unwrap();
            }
        }
        (config, named_path, default_path)
    }

    fn row(config: &Config, setting: &str) -> (String, Source) {
        let rows = config.describe();
        let (_, value, source) = rows
            .into_iter()
            .find(|(name, _, _)| *name == setting)
            .unwrap();
        (value, source)
    }

    fn lines(config: &Config) -> Vec<String> {
        config.problems.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn nothing_set_gives_the_built_in_defaults() {
        let (config, _, _) = run(&Settings::default(), "DYN", &[], None, None);
        let rows: Vec<(&str, String, Source)> = config.describe();
        let want: Vec<(&str, &str)> = vec![
            ("format", "readable"),
            ("span_events", "false"),
            ("local_tz", "false"),
            ("disable_ansi", "false"),
            ("overflow", "block"),
            ("filter", "info"),
            ("otlp.enabled", "false"),
            ("otlp.endpoint", "http://localhost:4317"),
            ("otlp.protocol", "grpc"),
            ("otlp.headers", "none"),
            ("otlp.timeout", "10000ms"),
            ("otlp.service_name", "dynamo"),
            ("otlp.sampler", "parentbased_always_on"),
            ("otlp.max_queue_size", "2048"),
            ("otlp.scheduled_delay", "5000ms"),
            ("otlp.max_export_batch_size", "512"),
            ("otlp.export_timeout", "30000ms"),
        ];
        let got: Vec<(&str, &str)> = rows.iter().map(|(n, v, _)| (*n, v.as_str())).collect();
        assert_eq!(got, want);
        assert!(rows.iter().all(|(_, _, source)| *source == Source::Default));
        assert!(config.ansi_allowed);
        assert!(config.problems.is_empty());
        assert!(config.files.is_empty());
        assert_eq!(
            config.filter,
            FilterSources {
                builtin: BUILTIN_FILTERS.to_vec(),
                log_filters: Vec::new(),
                log_level: None,
                directives: None,
                directives_source: Source::Default,
            }
        );
        assert_eq!(config.filter.builtin.len(), 14);
        assert_eq!(config.filter.builtin[13], ("request_span", "trace"));
    }

    #[test]
    fn code_beats_env_beats_named_file_beats_default_file_beats_built_in() {
        type SetCode = fn(&mut Settings);
        struct Case {
            setting: &'static str,
            code: SetCode,
            env: (&'static str, &'static str),
            named: Option<&'static str>,
            default: Option<&'static str>,
            // Values with code, env, named file, default file, nothing.
            want: [&'static str; 5],
        }
        let cases = [
            Case {
                setting: "format",
                code: |s| s.format = Some(Format::Jsonl),
                env: ("DYN_LOGGING_JSONL", "0"),
                named: Some("console_format = \"jsonl\""),
                default: Some("jsonl = false"),
                want: ["jsonl", "readable", "jsonl", "readable", "readable"],
            },
            Case {
                setting: "span_events",
                code: |s| s.span_events = Some(true),
                env: ("DYN_LOGGING_SPAN_EVENTS", "no"),
                named: Some("span_events = true"),
                default: Some("span_events = false"),
                want: ["true", "false", "true", "false", "false"],
            },
            Case {
                setting: "local_tz",
                code: |s| s.local_tz = Some(false),
                env: ("DYN_LOG_USE_LOCAL_TZ", "yes"),
                named: Some("use_local_tz = false"),
                default: Some("use_local_tz = true"),
                want: ["false", "true", "false", "true", "false"],
            },
            Case {
                setting: "disable_ansi",
                code: |s| s.disable_ansi = Some(false),
                env: ("NO_COLOR", "1"),
                named: Some("disable_ansi = false"),
                default: Some("disable_ansi = true"),
                want: ["false", "true", "false", "true", "false"],
            },
            Case {
                setting: "overflow",
                code: |s| s.overflow = Some(Overflow::Drop),
                env: ("DYN_LOGGING_OVERFLOW", "BLOCK"),
                named: Some("overflow = \"drop\""),
                default: Some("overflow = \"block\""),
                want: ["drop", "block", "drop", "block", "block"],
            },
            Case {
                setting: "filter",
                code: |s| s.filter = Some("debug".to_owned()),
                env: ("DYN_LOG", "warn"),
                named: Some("log_level = \"error\""),
                default: Some("log_level = \"trace\""),
                want: ["debug", "warn", "error", "trace", "info"],
            },
            Case {
                setting: "otlp.enabled",
                code: |s| s.otlp.enabled = Some(true),
                env: ("OTEL_EXPORT_ENABLED", "false"),
                named: Some("otlp.enabled = true"),
                default: Some("otlp.enabled = false"),
                want: ["true", "false", "true", "false", "false"],
            },
            Case {
                setting: "otlp.endpoint",
                code: |s| s.otlp.endpoint = Some("http://code:1".to_owned()),
                env: ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://env:2"),
                named: Some("otlp.endpoint = \"http://named:3\""),
                default: Some("otlp.endpoint = \"http://default:4\""),
                want: [
                    "http://code:1",
                    "http://env:2",
                    "http://named:3",
                    "http://default:4",
                    "http://localhost:4317",
                ],
            },
            Case {
                setting: "otlp.protocol",
                code: |s| s.otlp.protocol = Some(Protocol::HttpProtobuf),
                env: ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
                named: Some("otlp.protocol = \"http/protobuf\""),
                default: Some("otlp.protocol = \"grpc\""),
                want: ["http/protobuf", "grpc", "http/protobuf", "grpc", "grpc"],
            },
            Case {
                setting: "otlp.headers",
                code: |s| s.otlp.headers = Some(vec![("c".to_owned(), "1".to_owned())]),
                env: ("OTEL_EXPORTER_OTLP_HEADERS", "e=2"),
                named: Some("otlp.headers = \"n=3\""),
                default: Some("otlp.headers = { d = \"4\" }"),
                want: ["c=***", "e=***", "n=***", "d=***", "none"],
            },
            Case {
                setting: "otlp.timeout",
                code: |s| s.otlp.timeout = Some(Duration::from_millis(1)),
                env: ("OTEL_EXPORTER_OTLP_TIMEOUT", "2"),
                named: Some("otlp.timeout_ms = 3"),
                default: Some("otlp.timeout_ms = 4"),
                want: ["1ms", "2ms", "3ms", "4ms", "10000ms"],
            },
            Case {
                setting: "otlp.service_name",
                code: |s| s.otlp.service_name = Some("c".to_owned()),
                env: ("OTEL_SERVICE_NAME", "e"),
                named: Some("otlp.service_name = \"n\""),
                default: Some("otlp.service_name = \"d\""),
                want: ["c", "e", "n", "d", "dynamo"],
            },
            Case {
                setting: "otlp.sampler",
                code: |s| s.otlp.sample_ratio = Some(0.1),
                env: ("OTEL_TRACES_SAMPLE_RATIO", "0.2"),
                named: Some("otlp.sample_ratio = 0.3"),
                default: Some("otlp.sample_ratio = 0.4"),
                want: [
                    "parentbased_traceidratio(0.1)",
                    "parentbased_traceidratio(0.2)",
                    "parentbased_traceidratio(0.3)",
                    "parentbased_traceidratio(0.4)",
                    "parentbased_always_on",
                ],
            },
            Case {
                setting: "otlp.max_queue_size",
                code: |s| s.otlp.max_queue_size = Some(10),
                env: ("OTEL_BSP_MAX_QUEUE_SIZE", "20"),
                named: None,
                default: None,
                want: ["10", "20", "", "", "2048"],
            },
            Case {
                setting: "otlp.scheduled_delay",
                code: |s| s.otlp.scheduled_delay = Some(Duration::from_millis(10)),
                env: ("OTEL_BSP_SCHEDULE_DELAY", "20"),
                named: None,
                default: None,
                want: ["10ms", "20ms", "", "", "5000ms"],
            },
            Case {
                setting: "otlp.max_export_batch_size",
                code: |s| s.otlp.max_export_batch_size = Some(10),
                env: ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "20"),
                named: None,
                default: None,
                want: ["10", "20", "", "", "512"],
            },
            Case {
                setting: "otlp.export_timeout",
                code: |s| s.otlp.export_timeout = Some(Duration::from_millis(10)),
                env: ("OTEL_BSP_EXPORT_TIMEOUT", "20"),
                named: None,
                default: None,
                want: ["10ms", "20ms", "", "", "30000ms"],
            },
        ];

        for case in &cases {
            for lowest in 0..5 {
                // Sources from `lowest` down are set.
                let mut code = Settings::default();
                if lowest == 0 {
                    (case.code)(&mut code);
                }
                let env: &[(&str, &str)] = if lowest <= 1 { &[case.env] } else { &[] };
                let named = if lowest <= 2 { case.named } else { None };
                let default = if lowest <= 3 { case.default } else { None };
                if (lowest == 2 && named.is_none()) || (lowest == 3 && default.is_none()) {
                    continue;
                }

                let (config, named_path, default_path) = run(&code, "DYN", env, named, default);
                let (value, source) = row(&config, case.setting);
                let want_source = match lowest {
                    0 => Source::Code,
                    1 => Source::Env(case.env.0.to_owned()),
                    2 => Source::File(named_path),
                    3 => Source::File(default_path),
                    _ => Source::Default,
                };
                let label = format!("{} from source {lowest}", case.setting);
                assert_eq!(value, case.want[lowest], "{label}");
                assert_eq!(source, want_source, "{label}");
                assert_eq!(lines(&config), Vec::<String>::new(), "{label}");
            }
        }
    }

    #[test]
    fn the_files_format_is_used_only_when_neither_variable_is_set() {
        // (variables, file, format)
        type Case = (
            &'static [(&'static str, &'static str)],
            &'static str,
            &'static str,
        );
        let cases: &[Case] = &[
            (&[], "jsonl = true", "jsonl"),
            (
                &[("DYN_LOGGING_CONSOLE_FORMAT", " ")],
                "jsonl = true",
                "jsonl",
            ),
            (&[("DYN_LOGGING_JSONL", "")], "jsonl = true", "readable"),
            (&[("DYN_LOGGING_JSONL", "maybe")], "jsonl = true", "jsonl"),
            (
                &[("DYN_LOGGING_CONSOLE_FORMAT", "readable")],
                "jsonl = true",
                "readable",
            ),
            (
                &[("DYN_LOGGING_CONSOLE_FORMAT", "xml")],
                "console_format = \"jsonl\"",
                "readable",
            ),
            (
                &[("DYN_LOGGING_JSONL", "1")],
                "console_format = \"readable\"",
                "jsonl",
            ),
            (
                &[],
                "console_format = \"readable\"\njsonl = true",
                "readable",
            ),
        ];
        for (env, text, want) in cases {
            let (config, _, _) = run(&Settings::default(), "DYN", env, Some(text), None);
            assert_eq!(config.format.to_string(), *want, "{env:?} {text:?}");
        }
    }

    #[test]
    fn endpoint_follows_the_resolved_protocol() {
        // (code protocol, variables, file, endpoint, source)
        type Case = (
            Option<Protocol>,
            &'static [(&'static str, &'static str)],
            Option<&'static str>,
            &'static str,
            &'static str,
        );
        let cases: &[Case] = &[
            (None, &[], None, "http://localhost:4317", "default"),
            (
                None,
                &[("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")],
                None,
                "http://localhost:4318/v1/traces",
                "default",
            ),
            (
                Some(Protocol::HttpProtobuf),
                &[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318/")],
                None,
                "http://c:4318/v1/traces",
                "env OTEL_EXPORTER_OTLP_ENDPOINT",
            ),
            (
                None,
                &[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://otel-collector:4317")],
                None,
                "http://otel-collector:4317",
                "env OTEL_EXPORTER_OTLP_ENDPOINT",
            ),
            (
                None,
                &[
                    ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/protobuf"),
                    ("OTEL_EXPORTER_OTLP_ENDPOINT", "https://h/v1/traces"),
                ],
                None,
                "https://h/v1/traces/v1/traces",
                "env OTEL_EXPORTER_OTLP_ENDPOINT",
            ),
            (
                None,
                &[
                    ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
                    (
                        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                        "https://collector.example/custom/traces",
                    ),
                    ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://ignored"),
                ],
                None,
                "https://collector.example/custom/traces",
                "env OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            ),
            (
                None,
                &[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://env:1")],
                Some("otlp.endpoint = \"http://file:2\""),
                "http://env:1",
                "env OTEL_EXPORTER_OTLP_ENDPOINT",
            ),
            (
                None,
                &[("OTEL_EXPORTER_OTLP_ENDPOINT", "not a url")],
                Some("otlp.endpoint = \"http://file:2\"\notlp.protocol = \"http/protobuf\""),
                "http://file:2",
                "file",
            ),
            (
                None,
                &[("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "collector:4317")],
                None,
                "http://localhost:4317",
                "default",
            ),
        ];
        for (protocol, env, file, want, want_source) in cases {
            let code = Settings {
                otlp: OtlpSettings {
                    protocol: *protocol,
                    ..OtlpSettings::default()
                },
                ..Settings::default()
            };
            let (config, _, _) = run(&code, "DYN", env, *file, None);
            let (value, source) = row(&config, "otlp.endpoint");
            let source = match source {
                Source::File(_) => "file".to_owned(),
                other => other.to_string(),
            };
            assert_eq!(
                (value.as_str(), source.as_str()),
                (*want, *want_source),
                "{env:?}"
            );
        }
    }

    #[test]
    fn samplers() {
        // (code, variables, sampler, problems)
        type Case = (
            Option<&'static str>,
            &'static [(&'static str, &'static str)],
            Sampler,
            &'static [&'static str],
        );
        let cases: &[Case] = &[
            (None, &[("OTEL_TRACES_SAMPLER", "always_off")], Sampler::AlwaysOff, &[]),
            (None, &[("OTEL_TRACES_SAMPLER", "always_on")], Sampler::AlwaysOn, &[]),
            (
                None,
                &[("OTEL_TRACES_SAMPLER", "parentbased_always_off")],
                Sampler::ParentBasedAlwaysOff,
                &[],
            ),
            (
                None,
                &[("OTEL_TRACES_SAMPLER", "parentbased_always_on")],
                Sampler::ParentBasedAlwaysOn,
                &[],
            ),
            (
                None,
                &[("OTEL_TRACES_SAMPLER", "traceidratio"), ("OTEL_TRACES_SAMPLER_ARG", "0.5")],
                Sampler::TraceIdRatio(0.5),
                &[],
            ),
            (
                None,
                &[("OTEL_TRACES_SAMPLER", "parentbased_traceidratio")],
                Sampler::ParentBasedTraceIdRatio(1.0),
                &[],
            ),
            (
                None,
                &[("OTEL_TRACES_SAMPLER", "traceidratio"), ("OTEL_TRACES_SAMPLER_ARG", "x")],
                Sampler::TraceIdRatio(1.0),
                &["OTEL_TRACES_SAMPLER_ARG: expected a number from 0.0 to 1.0, found \"x\""],
            ),
            (
                None,
                &[("OTEL_TRACES_SAMPLER", "always_on"), ("OTEL_TRACES_SAMPLER_ARG", "x")],
                Sampler::AlwaysOn,
                &[],
            ),
            (
                None,
                &[("OTEL_TRACES_SAMPLER", "always_off"), ("OTEL_TRACES_SAMPLE_RATIO", "0.3")],
                Sampler::ParentBasedTraceIdRatio(0.3),
                &[],
            ),
            (
                Some("always_off"),
                &[("OTEL_TRACES_SAMPLE_RATIO", "0.3")],
                Sampler::AlwaysOff,
                &[],
            ),
            (
                Some("nope"),
                &[("OTEL_TRACES_SAMPLE_RATIO", "0.3")],
                Sampler::ParentBasedTraceIdRatio(0.3),
                &["code: expected one of always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off, parentbased_traceidratio for otlp.sampler, found \"nope\""],
            ),
        ];
        for (code_sampler, env, want, want_problems) in cases {
            let code = Settings {
                otlp: OtlpSettings {
                    sampler: code_sampler.map(str::to_owned),
                    ..OtlpSettings::default()
                },
                ..Settings::default()
            };
            let (config, _, _) = run(&code, "DYN", env, None, None);
            assert_eq!(config.otlp.sampler, *want, "{env:?}");
            assert_eq!(lines(&config), *want_problems, "{env:?}");
        }
    }

    #[test]
    fn bad_code_settings_are_reported_and_skipped() {
        let code = Settings {
            filter: Some("  ".to_owned()),
            otlp: OtlpSettings {
                endpoint: Some("localhost".to_owned()),
                headers: Some(vec![
                    ("ok".to_owned(), "1".to_owned()),
                    ("bad key".to_owned(), "2".to_owned()),
                ]),
                timeout: Some(Duration::ZERO),
                sample_ratio: Some(f64::NAN),
                max_queue_size: Some(0),
                sampler_arg: Some("2".to_owned()),
                sampler: Some("traceidratio".to_owned()),
                ..OtlpSettings::default()
            },
            ..Settings::default()
        };
        let (config, _, _) = run(&code, "DYN", &[("DYN_LOG", "warn")], None, None);
        assert_eq!(
            lines(&config),
            [
                "code: expected an http:// or https:// URL with a host for otlp.endpoint, found \"localhost\"",
                "code: expected a number from 0.0 to 1.0 for otlp.sample_ratio, found NaN",
                "code: expected a positive duration for otlp.timeout, found zero",
                "code: expected an integer from 1 to 1048576 for otlp.max_queue_size, found 0",
                "code: expected a header name of letters, digits and !#$%&'*+-.^_`|~ for otlp.headers, found \"bad key=2\"",
                "code: expected a number from 0.0 to 1.0 for otlp.sampler_arg, found \"2\"",
            ]
        );
        assert_eq!(config.otlp.endpoint, "http://localhost:4317");
        assert_eq!(config.otlp.headers, [("ok".to_owned(), "1".to_owned())]);
        assert_eq!(config.otlp.timeout, Duration::from_secs(10));
        assert_eq!(config.otlp.max_queue_size, 2048);
        assert_eq!(config.otlp.sampler, Sampler::TraceIdRatio(1.0));
        // A blank filter in code counts as unset.
        assert_eq!(config.filter.directives.as_deref(), Some("warn"));
        assert_eq!(
            config.filter.directives_source,
            Source::Env("DYN_LOG".into())
        );
    }

    #[test]
    fn batch_size_never_exceeds_queue_size() {
        let env = [
            ("OTEL_BSP_MAX_QUEUE_SIZE", "100"),
            ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "500"),
        ];
        let (config, _, _) = run(&Settings::default(), "DYN", &env, None, None);
        assert_eq!(config.otlp.max_queue_size, 100);
        assert_eq!(config.otlp.max_export_batch_size, 100);
    }

    #[test]
    fn filter_sources_merge_the_files_per_target() {
        let named = "log_level = \"warn\"\n[log_filters]\na = \"warn\"\nb = \"trace\"\n";
        let default = "log_level = \"debug\"\n[log_filters]\nh2 = \"debug\"\na = \"info\"\n";
        let (config, named_path, default_path) =
            run(&Settings::default(), "DYN", &[], Some(named), Some(default));
        let filter = |target: &str, level: &str, file: &PathBuf| FileFilter {
            target: target.to_owned(),
            level: level.to_owned(),
            file: file.clone(),
        };
        assert_eq!(
            config.filter.log_filters,
            [
                filter("h2", "debug", &default_path),
                filter("a", "warn", &named_path),
                filter("b", "trace", &named_path),
            ]
        );
        assert_eq!(
            config.filter.log_level,
            Some(("warn".to_owned(), named_path.clone()))
        );
        assert_eq!(config.files, [named_path.clone(), default_path.clone()]);

        // The default file's log_level when the named file has none.
        let (config, _, default_path) = run(
            &Settings::default(),
            "DYN",
            &[],
            Some("[log_filters]\n"),
            Some(default),
        );
        assert_eq!(
            config.filter.log_level,
            Some(("debug".to_owned(), default_path))
        );

        // The describe rows show each file entry with its file.
        let (config, named_path, _) = run(
            &Settings::default(),
            "DYN",
            &[("DYN_LOG", "info")],
            Some(named),
            None,
        );
        let rows: Vec<(&str, String, Source)> = config
            .describe()
            .into_iter()
            .filter(|(name, _, _)| *name == "log_filters" || *name == "filter")
            .collect();
        assert_eq!(
            rows,
            [
                ("filter", "info".to_owned(), Source::Env("DYN_LOG".into())),
                (
                    "log_filters",
                    "a=warn".to_owned(),
                    Source::File(named_path.clone())
                ),
                (
                    "log_filters",
                    "b=trace".to_owned(),
                    Source::File(named_path)
                ),
            ]
        );
    }

    #[test]
    fn file_problems() {
        // A missing named file is reported; the default file still counts.
        let missing = std::env::temp_dir().join("dynlog-config-missing-named.toml");
        let default = file::temp_file("default.toml", b"jsonl = true\n");
        let env =
            |name: &str| (name == "DYN_LOGGING_CONFIG_PATH").then(|| missing.display().to_string());
        let config = resolve(&Settings::default(), "DYN", &env, &default);
        assert_eq!(
            lines(&config),
            [format!(
                "{}: cannot read the file named by DYN_LOGGING_CONFIG_PATH: no such file or directory",
                missing.display()
            )]
        );
        assert_eq!(config.format, Format::Jsonl);
        assert_eq!(config.files, std::slice::from_ref(&default));

        // The same file as named and default file is read once.
        let bad = file::temp_file("bad.toml", b"jsonl = 3\n");
        let env =
            |name: &str| (name == "DYN_LOGGING_CONFIG_PATH").then(|| bad.display().to_string());
        let config = resolve(&Settings::default(), "DYN", &env, &bad);
        assert_eq!(
            lines(&config),
            [format!(
                "{}:1:9: expected a boolean for key \"jsonl\", found an integer",
                bad.display()
            )]
        );
        assert_eq!(config.files, std::slice::from_ref(&bad));

        // A directory as the config path.
        let dir = std::env::temp_dir();
        let env =
            |name: &str| (name == "DYN_LOGGING_CONFIG_PATH").then(|| dir.display().to_string());
        let config = resolve(&Settings::default(), "DYN", &env, &default);
        assert_eq!(
            lines(&config),
            [format!(
                "{}: expected a TOML file, found a directory",
                dir.display()
            )]
        );
        assert_eq!(config.format, Format::Jsonl);

        std::fs::remove_file(&default).unwrap();
        std::fs::remove_file(&bad).unwrap();
    }

    #[test]
    fn problems_come_in_source_order() {
        let code = Settings {
            otlp: OtlpSettings {
                endpoint: Some("x".to_owned()),
                ..OtlpSettings::default()
            },
            ..Settings::default()
        };
        let (config, named_path, default_path) = run(
            &code,
            "DYN",
            &[("DYN_LOGGING_JSONL", "maybe")],
            Some("nope = 1"),
            Some("overflow = 1"),
        );
        assert_eq!(
            lines(&config),
            [
                "code: expected an http:// or https:// URL with a host for otlp.endpoint, found \"x\"".to_owned(),
                "DYN_LOGGING_JSONL: expected a boolean (1, true, on, yes, 0, false, off, no), found \"maybe\"".to_owned(),
                format!("{}:1:1: unknown key \"nope\", ignored", named_path.display()),
                format!(
                    "{}:1:12: expected \"block\" or \"drop\" for key \"overflow\", found an integer",
                    default_path.display()
                ),
            ]
        );
    }

    #[test]
    fn another_prefix() {
        let env = [
            ("MYAPP_LOG", "my_crate=debug"),
            ("MYAPP_LOGGING_JSONL", "1"),
            ("MYAPP_LOG_USE_LOCAL_TZ", "true"),
            ("MYAPP_SDK_DISABLE_ANSI_LOGGING", "on"),
            ("DYN_LOG", "trace"),
            ("DYN_LOGGING_SPAN_EVENTS", "1"),
            ("OTEL_EXPORT_ENABLED", "1"),
        ];
        let (config, named_path, _) = run(
            &Settings::default(),
            "MYAPP",
            &env,
            Some("overflow = \"drop\""),
            None,
        );
        assert_eq!(config.filter.directives.as_deref(), Some("my_crate=debug"));
        assert_eq!(
            config.filter.directives_source,
            Source::Env("MYAPP_LOG".into())
        );
        assert_eq!(config.format, Format::Jsonl);
        assert!(config.local_tz);
        assert!(!config.ansi_allowed);
        assert!(!config.span_events);
        assert!(config.otlp.enabled);
        assert_eq!(config.overflow, Overflow::Drop);
        assert_eq!(config.source("overflow"), Some(&Source::File(named_path)));
        assert!(config.problems.is_empty());
    }

    #[test]
    fn code_only_reads_no_environment_and_no_file() {
        let code = Settings {
            span_events: Some(true),
            ..Settings::default()
        };
        let config = resolve_code_only(&code);
        assert!(config.span_events);
        assert_eq!(config.source("span_events"), Some(&Source::Code));
        assert_eq!(config.format, Format::Readable);
        assert!(config.files.is_empty());
        assert!(config.problems.is_empty());
    }

    #[cfg(unix)]
    #[test]
    fn non_utf8_variables_are_noted_once() {
        use std::os::unix::ffi::OsStringExt;
        let not_utf8 = RefCell::new(Vec::new());
        let bad = || Some(OsString::from_vec(vec![b'a', 0xff]));
        assert_eq!(utf8_or_note("DYN_LOG", bad(), &not_utf8), None);
        assert_eq!(utf8_or_note("DYN_LOG", bad(), &not_utf8), None);
        assert_eq!(
            utf8_or_note("X", Some(OsString::from("ok")), &not_utf8).as_deref(),
            Some("ok")
        );
        assert_eq!(utf8_or_note("Y", None, &not_utf8), None);
        assert_eq!(not_utf8.into_inner(), ["DYN_LOG"]);
    }

    #[test]
    fn display_texts() {
        let problem = Problem {
            source: "DYN_LOG".to_owned(),
            message: "m".to_owned(),
        };
        assert_eq!(problem.to_string(), "DYN_LOG: m");
        assert_eq!(Source::Default.to_string(), "default");
        assert_eq!(Source::Code.to_string(), "code");
        assert_eq!(Source::Env("DYN_LOG".into()).to_string(), "env DYN_LOG");
        assert_eq!(Source::File("/a.toml".into()).to_string(), "file /a.toml");
        assert_eq!(Sampler::TraceIdRatio(0.5).to_string(), "traceidratio(0.5)");
        assert_eq!(Sampler::AlwaysOff.to_string(), "always_off");
        assert_eq!(Protocol::HttpProtobuf.to_string(), "http/protobuf");
        assert_eq!(
            Protocol::HttpProtobuf.default_endpoint(),
            "http://localhost:4318/v1/traces"
        );
    }
}
