//! The export thread: takes finished spans off the queue, batches them as
//! the `OTEL_BSP_*` settings say, and sends them with `opentelemetry-otlp`.
//!
//! It owns everything asynchronous: for gRPC a current-thread tokio runtime
//! that runs only while an export is in flight (tonic's connection tasks are
//! spawned onto it, so no other thread is involved); for HTTP/protobuf the
//! blocking reqwest client, driven by a small `block_on` with no runtime
//! around it. The thread is marked as dynlog's own, so the events of `h2`,
//! `tonic`, `hyper` and `opentelemetry*` emitted on it are dropped and spans
//! created on it are never exported.
//!
//! Failures are counted in `export_failures` and reported as a notice at
//! most once a minute; spans dropped on a full queue likewise.

use std::collections::HashSet;
use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig, WithTonicConfig};
use opentelemetry_sdk::error::OTelSdkError;
use opentelemetry_sdk::trace::{SpanData, SpanExporter as _};
use opentelemetry_sdk::Resource;
use parking_lot::Mutex;

use super::convert::Converter;
use super::span::FinishedSpan;
use super::Shared;
use crate::config::{OtlpConfig, Protocol};
use crate::sync::Ordering;
use crate::writer::IS_DYNLOG_THREAD;

/// Shortest time between two notices about the same cause.
pub(crate) const REPORT_EVERY: Duration = Duration::from_secs(60);

/// The exporter of one protocol, with what it needs to run.
enum Transport {
    Grpc {
        runtime: tokio::runtime::Runtime,
        exporter: opentelemetry_otlp::SpanExporter,
    },
    Http {
        exporter: opentelemetry_otlp::SpanExporter,
    },
}

/// Interns header names for tonic, which takes metadata keys as
/// `&'static str`: each distinct name is leaked once per process.
fn static_name(name: &str) -> &'static str {
    static NAMES: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    let mut names = NAMES.get_or_init(|| Mutex::new(HashSet::new())).lock();
    if let Some(known) = names.get(name) {
        return known;
    }
    let leaked: &'static str = Box::leak(name.to_owned().into_boxed_str());
    names.insert(leaked);
    leaked
}

/// Whether `name` and `value` can be sent as gRPC ASCII metadata.
pub(crate) fn is_grpc_metadata(name: &str, value: &str) -> bool {
    !name.to_ascii_lowercase().ends_with("-bin")
        && value
            .bytes()
            .all(|b| b == b'\t' || (b' '..=b'~').contains(&b))
}

impl Transport {
    /// Builds the exporter; must run on the export thread (the gRPC channel
    /// binds to the runtime it is created in).
    fn build(config: &OtlpConfig) -> Result<Transport, String> {
        let resource = Resource::builder_empty()
            .with_service_name(config.service_name.clone())
            .build();
        // FIXME: opentelemetry-otlp also adds the headers of
        // OTEL_EXPORTER_OTLP_(TRACES_)HEADERS itself, so headers set in code
        // or TOML do not replace those of the environment (when both are
        // set); and it reads OTEL_EXPORTER_OTLP_COMPRESSION, whose gzip and
        // zstd are not compiled in, so either makes the build fail.
        let builder = opentelemetry_otlp::SpanExporter::builder();
        let mut transport = match config.protocol {
            Protocol::Grpc => {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| format!("cannot start the export runtime: {e}"))?;
                let mut metadata = opentelemetry_otlp::tonic_types::metadata::MetadataMap::new();
                for (name, value) in &config.headers {
                    // Checked by `Exporter::start`; skipped here rather
                    // than risk tonic's panic on a bad key.
                    let lower = name.to_ascii_lowercase();
                    if !is_grpc_metadata(&lower, value) {
                        continue;
                    }
                    if let Ok(value) = value.parse() {
                        metadata.append(static_name(&lower), value);
                    }
                }
                let exporter = {
                    let _entered = runtime.enter();
                    builder
                        .with_tonic()
                        .with_endpoint(config.endpoint.clone())
                        .with_timeout(config.timeout)
                        .with_metadata(metadata)
                        .build()
                };
                let exporter = exporter.map_err(|e| e.to_string())?;
                Transport::Grpc { runtime, exporter }
            }
            Protocol::HttpProtobuf => {
                // The exporter percent-decodes header values once more;
                // escaping `%` keeps the values exactly as configured.
                let headers = config
                    .headers
                    .iter()
                    .map(|(name, value)| (name.clone(), value.replace('%', "%25")))
                    .collect();
                let exporter = builder
                    .with_http()
                    .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
                    .with_endpoint(config.endpoint.clone())
                    .with_timeout(config.timeout)
                    .with_headers(headers)
                    .build()
                    .map_err(|e| e.to_string())?;
                Transport::Http { exporter }
            }
        };
        match &mut transport {
            Transport::Grpc { exporter, .. } | Transport::Http { exporter } => {
                exporter.set_resource(&resource)
            }
        }
        Ok(transport)
    }

    /// Sends one batch; gRPC gives up after `limit`, HTTP after the
    /// exporter's own timeout (a blocking call cannot be abandoned).
    fn export(&self, batch: Vec<SpanData>, limit: Duration) -> Result<(), String> {
        match self {
            Transport::Grpc { runtime, exporter } => runtime.block_on(async {
                match tokio::time::timeout(limit, exporter.export(batch)).await {
                    Ok(result) => result.map_err(error_text),
                    Err(_) => Err(format!("no answer within {} ms", limit.as_millis())),
                }
            }),
            // FIXME: `limit` (OTEL_BSP_EXPORT_TIMEOUT) does not bound HTTP
            // exports, a blocking call cannot be abandoned; the exporter's
            // timeout does (when the BSP timeout is the shorter one). And
            // the blocking client does its I/O on reqwest's own thread,
            // not marked as dynlog's, so the events of reqwest and hyper
            // there pass the filter as lines (when DYN_LOG turns them to
            // debug); they never reach the exporter.
            Transport::Http { exporter } => block_on(exporter.export(batch)).map_err(error_text),
        }
    }

    fn shutdown(&self) {
        match self {
            Transport::Grpc { runtime, exporter } => {
                let _entered = runtime.enter();
                let _ = exporter.shutdown();
            }
            Transport::Http { exporter } => {
                let _ = exporter.shutdown();
            }
        }
    }
}

/// An export error as the notice says it.
fn error_text(e: OTelSdkError) -> String {
    match e {
        OTelSdkError::InternalFailure(text) => text,
        OTelSdkError::Timeout(limit) => format!("no answer within {} ms", limit.as_millis()),
        OTelSdkError::AlreadyShutdown => "the exporter has shut down".to_owned(),
    }
}

/// Polls `future` to completion on this thread, parking between polls.
fn block_on<F: Future>(future: F) -> F::Output {
    struct Unparker(Thread);
    impl Wake for Unparker {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unparker(thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        match future.as_mut().poll(&mut cx) {
            Poll::Ready(output) => return output,
            Poll::Pending => thread::park(),
        }
    }
}

/// Rate-limits the notices of one cause.
struct Reporter {
    last: Option<Instant>,
}

impl Reporter {
    fn is_due(&self, now: Instant) -> bool {
        self.last
            .is_none_or(|last| now.duration_since(last) >= REPORT_EVERY)
    }
}

/// What the export thread owns.
pub(crate) struct Worker {
    pub(crate) config: OtlpConfig,
    pub(crate) shared: Arc<Shared>,
    pub(crate) queue: Receiver<Box<FinishedSpan>>,
    pub(crate) pool: Sender<Box<FinishedSpan>>,
    converter: Converter,
    batch: Vec<SpanData>,

    /// Failed exports and their spans since the last notice, and the last
    /// error.
    failures: u64,
    failed_spans: u64,
    last_error: String,
    failure_reports: Reporter,

    /// `export_dropped` as of the last notice.
    dropped_reported: u64,
    drop_reports: Reporter,
}

impl Worker {
    pub(crate) fn new(
        config: OtlpConfig,
        shared: Arc<Shared>,
        queue: Receiver<Box<FinishedSpan>>,
        pool: Sender<Box<FinishedSpan>>,
    ) -> Worker {
        Worker {
            batch: Vec::with_capacity(config.max_export_batch_size),
            config,
            shared,
            queue,
            pool,
            converter: Converter::new(),
            failures: 0,
            failed_spans: 0,
            last_error: String::new(),
            failure_reports: Reporter { last: None },
            dropped_reported: 0,
            drop_reports: Reporter { last: None },
        }
    }

    /// The thread's body: builds the exporter, says how that went on
    /// `ready`, then exports until told to stop.
    pub(crate) fn run(mut self, ready: std::sync::mpsc::SyncSender<Result<(), String>>) {
        IS_DYNLOG_THREAD.with(|c| c.set(true));
        let transport = match Transport::build(&self.config) {
            Ok(t) => {
                let _ = ready.send(Ok(()));
                t
            }
            Err(e) => {
                let _ = ready.send(Err(e));
                self.shared.mark_exited();
                return;
            }
        };
        drop(ready);

        let delay = self.config.scheduled_delay;
        let mut due = Instant::now() + delay;
        loop {
            // What was asked, read before draining: every span queued before
            // a flush was requested is in the queue by now.
            let (ticket, stop) = self.shared.requests();
            // Release pairs with the AcqRel swap of a closing thread that
            // finds a full batch: a batch completed after this is woken for.
            self.shared.wake_pending.store(false, Ordering::Release);

            // Full batches go out at once.
            while self.take_from_queue() {
                self.export(&transport);
            }

            // The rest when the delay is over, or for a flush or the stop.
            let now = Instant::now();
            let is_due = now >= due;
            if !self.batch.is_empty() && (is_due || ticket.is_some() || stop) {
                self.export(&transport);
            }
            if is_due {
                due = Instant::now() + delay;
            }
            self.report(Instant::now());
            if let Some(ticket) = ticket {
                self.shared.flushed(ticket);
            }
            if stop {
                transport.shutdown();
                drop(transport);
                self.shared.mark_exited();
                return;
            }
            thread::park_timeout(due.saturating_duration_since(Instant::now()));
        }
    }

    /// Moves queued spans into the batch until it is full (returns true) or
    /// the queue is empty (false), recycling their boxes.
    fn take_from_queue(&mut self) -> bool {
        while self.batch.len() < self.config.max_export_batch_size {
            let Ok(mut span) = self.queue.try_recv() else {
                return false;
            };
            self.batch.push(self.converter.convert(&span));
            span.trim();
            let _ = self.pool.try_send(span);
        }
        true
    }

    fn export(&mut self, transport: &Transport) {
        let n = self.batch.len() as u64;
        let batch = std::mem::replace(
            &mut self.batch,
            Vec::with_capacity(self.config.max_export_batch_size),
        );
        let counters = &self.shared.pipeline.counters;
        match transport.export(batch, self.config.export_timeout) {
            // Counters are read as a snapshot; nothing pairs with them.
            Ok(()) => {
                counters.spans_exported.fetch_add(n, Ordering::Relaxed);
            }
            Err(e) => {
                counters.export_failures.fetch_add(1, Ordering::Relaxed);
                self.failures += 1;
                self.failed_spans += n;
                self.last_error = e;
            }
        }
    }

    /// Writes the notices that are due.
    fn report(&mut self, now: Instant) {
        let pipeline = &self.shared.pipeline;
        if self.failures > 0 && self.failure_reports.is_due(now) {
            let mut line = Vec::new();
            let message = format!("otlp export failed: {}", self.last_error);
            (pipeline.notice_format())(
                &mut line,
                &message,
                &[
                    ("failed_exports", self.failures),
                    ("spans", self.failed_spans),
                ],
            );
            pipeline.write_direct(&line);
            self.failures = 0;
            self.failed_spans = 0;
            self.failure_reports.last = Some(now);
        }
        let dropped = pipeline.counters.export_dropped.load(Ordering::Relaxed);
        if dropped > self.dropped_reported && self.drop_reports.is_due(now) {
            let mut line = Vec::new();
            (pipeline.notice_format())(
                &mut line,
                "otlp export queue full, spans dropped",
                &[("dropped", dropped - self.dropped_reported)],
            );
            pipeline.write_direct(&line);
            self.dropped_reported = dropped;
            self.drop_reports.last = Some(now);
        }
    }
}

#[cfg(all(test, not(dynlog_loom)))]
mod tests {
    use super::*;

    #[test]
    fn grpc_metadata_is_visible_ascii_under_a_text_key() {
        assert!(is_grpc_metadata("authorization", "Bearer a=="));
        assert!(is_grpc_metadata("x-tenant", "a\tb ~"));
        assert!(!is_grpc_metadata("trace-bin", "abc"));
        assert!(!is_grpc_metadata("x-name", "caf\u{e9}"));
    }

    #[test]
    fn header_names_are_interned() {
        let a = static_name("x-interned");
        let b = static_name(&String::from("x-interned"));
        assert!(std::ptr::eq(a, b));
    }

    #[test]
    fn block_on_drives_a_future_that_wakes_later() {
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        struct Later {
            rx: std::sync::mpsc::Receiver<()>,
            spawned: bool,
        }
        impl Future for Later {
            type Output = u8;
            fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<u8> {
                if self.rx.try_recv().is_ok() {
                    return Poll::Ready(7);
                }
                if !self.spawned {
                    self.spawned = true;
                    let waker = cx.waker().clone();
                    let tx = tx_slot().lock().take();
                    thread::spawn(move || {
                        if let Some(tx) = tx {
                            let _ = tx.send(());
                        }
                        waker.wake();
                    });
                }
                Poll::Pending
            }
        }
        fn tx_slot() -> &'static Mutex<Option<std::sync::mpsc::Sender<()>>> {
            static SLOT: Mutex<Option<std::sync::mpsc::Sender<()>>> = Mutex::new(None);
            &SLOT
        }
        *tx_slot().lock() = Some(tx);
        assert_eq!(block_on(Later { rx, spawned: false }), 7);
    }
}
