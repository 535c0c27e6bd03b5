//! OTLP export (SPEC section 8): the spans of the log lines, with the same
//! trace, span and parent ids, sent to a collector over gRPC or
//! HTTP/protobuf by a thread of their own.
//!
//! ```text
//!  application threads                          export thread ("dynlog-otlp")
//!  ───────────────────                          ─────────────────────────────
//!  new_span   span_created: thread id and name   loop {
//!  event      record_event: message and fields     park until a batch is full,
//!             into the span's SpanExtra             the delay is over, a flush
//!  try_close  span_closed: copy into a pooled        or the stop
//!             FinishedSpan ── bounded queue ──▶    FinishedSpan → SpanData
//!                   ▲                              (convert.rs), box to the pool
//!                   └──────── pool ◀────────────   export the batch (worker.rs)
//!                                                }
//! ```
//!
//! Promises:
//! - the closing thread copies the span into a recycled box and pushes it
//!   with `try_send`: no allocation after warm-up, no call into
//!   OpenTelemetry, never a wait (the only locks are the span's own and one
//!   short-held entry of the closed-span table); a full queue drops the
//!   span and counts it in `export_dropped`;
//! - only spans that the filter enabled and the sampler kept (`flags & 1`)
//!   are exported, and never those created on the export thread;
//! - a collector that is down, slow or failing costs the application
//!   nothing: exports run on the export thread, whose failures are counted
//!   and reported at most once a minute;
//! - `flush` and `shutdown` wait at most their timeout.

mod convert;
mod recent;
mod span;
mod worker;

use std::sync::{Arc, OnceLock};
use std::thread::Thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TrySendError};
use parking_lot::{Condvar, Mutex};
use tracing_core::span::Id;
use tracing_core::Event;

use crate::config::{Config, OtlpConfig, Problem, Protocol, Source};
use crate::registry::{Slot, SpanData};
use crate::sync::{AtomicBool, Ordering};
use crate::writer::{Counters, Pipeline};
use recent::RecentSpans;
use span::FinishedSpan;
pub(crate) use span::SpanExtra;
use worker::Worker;

/// How long `start` waits for the export thread to build its exporter.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// Requests from the application side to the export thread.
#[derive(Default)]
struct Control {
    /// Flushes asked for and served; a flush waits until `flushes_done`
    /// reaches the number it was given.
    flushes_asked: u64,
    flushes_done: u64,
    stop: bool,
    /// The export thread has returned (or never started exporting).
    exited: bool,
}

/// State shared by the [`Exporter`] and its thread.
pub(crate) struct Shared {
    pub(crate) pipeline: Arc<Pipeline>,
    /// Set when someone unparked the export thread for a full batch and it
    /// has not looked at the queue since: saves repeated unparks.
    pub(crate) wake_pending: AtomicBool,
    /// Set once a stop was asked: spans closing after it are dropped. A
    /// hint only, publishing nothing, so its accesses are `Relaxed`.
    stopping: AtomicBool,
    control: Mutex<Control>,
    changed: Condvar,
    thread: OnceLock<Thread>,
}

impl Shared {
    fn unpark(&self) {
        if let Some(t) = self.thread.get() {
            t.unpark();
        }
    }

    /// Whether the caller is the export thread (a panic hook or exit hook
    /// running there must not wait for it).
    fn is_export_thread(&self) -> bool {
        self.thread
            .get()
            .is_some_and(|t| t.id() == std::thread::current().id())
    }

    /// The flush to serve, if one was asked, and whether to stop.
    fn requests(&self) -> (Option<u64>, bool) {
        let c = self.control.lock();
        let ticket = (c.flushes_asked > c.flushes_done).then_some(c.flushes_asked);
        (ticket, c.stop)
    }

    fn flushed(&self, ticket: u64) {
        let mut c = self.control.lock();
        c.flushes_done = c.flushes_done.max(ticket);
        self.changed.notify_all();
    }

    fn mark_exited(&self) {
        let mut c = self.control.lock();
        c.exited = true;
        self.changed.notify_all();
    }

    /// Waits until `done` holds or `deadline` passes; false on timeout.
    fn wait_until(&self, deadline: Instant, done: impl Fn(&Control) -> bool) -> bool {
        let mut c = self.control.lock();
        while !done(&c) && !c.exited {
            if self.changed.wait_until(&mut c, deadline).timed_out() {
                return done(&c) || c.exited;
            }
        }
        true
    }
}

/// The application side of OTLP export, held by the subscriber.
pub(crate) struct Exporter {
    shared: Arc<Shared>,
    queue: Sender<Box<FinishedSpan>>,
    pool: (Sender<Box<FinishedSpan>>, Receiver<Box<FinishedSpan>>),
    recent: RecentSpans,
    batch_size: usize,
}

impl Exporter {
    /// Starts the export thread when `config` enables export. Returns
    /// `None` when it does not, or when the exporter cannot be built; then a
    /// [`Problem`] says why.
    pub(crate) fn start(
        config: &Config,
        pipeline: &Arc<Pipeline>,
        problems: &mut Vec<Problem>,
    ) -> Option<Exporter> {
        if !config.otlp.enabled {
            return None;
        }
        let mut settings = config.otlp.clone();
        if let Some(problem) = check(config, &mut settings, problems) {
            problems.push(problem);
            return None;
        }
        let config = settings;

        let (queue_tx, queue_rx) = crossbeam_channel::bounded(config.max_queue_size.max(1));
        let (pool_tx, pool_rx) =
            crossbeam_channel::bounded(config.max_queue_size.max(1) + config.max_export_batch_size);
        let shared = Arc::new(Shared {
            pipeline: pipeline.clone(),
            wake_pending: AtomicBool::new(false),
            stopping: AtomicBool::new(false),
            control: Mutex::new(Control::default()),
            changed: Condvar::new(),
            thread: OnceLock::new(),
        });
        let batch_size = config.max_export_batch_size.max(1);
        let worker = Worker::new(config, shared.clone(), queue_rx, pool_tx.clone());

        // The exporter is built on its thread (tonic binds to the runtime
        // it is created in); wait for the verdict.
        let (ready_tx, ready_rx) = std::sync::mpsc::sync_channel(1);
        let spawned = std::thread::Builder::new()
            .name("dynlog-otlp".into())
            .spawn(move || worker.run(ready_tx));
        let handle = match spawned {
            Ok(handle) => handle,
            Err(e) => {
                problems.push(problem(format!("cannot start the export thread: {e}")));
                return None;
            }
        };
        let _ = shared.thread.set(handle.thread().clone());
        match ready_rx.recv_timeout(START_TIMEOUT) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                problems.push(problem(format!("cannot build the exporter: {e}")));
                return None;
            }
            Err(_) => {
                shared.stopping.store(true, Ordering::Relaxed);
                shared.control.lock().stop = true;
                shared.unpark();
                problems.push(problem(format!(
                    "the export thread did not start within {} ms",
                    START_TIMEOUT.as_millis()
                )));
                return None;
            }
        }
        Some(Exporter {
            shared,
            queue: queue_tx,
            pool: (pool_tx, pool_rx),
            recent: RecentSpans::new(),
            batch_size,
        })
    }

    /// A span is being created on this thread.
    pub(crate) fn span_created(&self, data: &mut SpanData) {
        data.otel
            .get_or_insert_with(Box::default)
            .start_on_this_thread();
    }

    /// Keeps `event`, whose innermost span is `slot`'s, for that span's
    /// export. The fields are encoded before the span's lock is taken, so a
    /// field's `Debug` that logs cannot deadlock.
    pub(crate) fn record_event(&self, slot: &Slot, event: &Event<'_>) {
        // Decided under the read lock: whether the span is exported, and
        // whether it still has room (a full span only counts the event).
        let has_room = {
            let data = slot.data.read();
            let Some(extra) = data.otel.as_ref() else {
                return;
            };
            if !data.enabled || data.cx.flags & 1 == 0 || extra.is_internal {
                return;
            }
            extra.events.has_room()
        };
        if !has_room {
            if let Some(extra) = &mut slot.data.write().otel {
                extra.events.dropped = extra.events.dropped.saturating_add(1);
            }
            return;
        }
        let now = crate::subscriber::clock_ns();
        span::with_encoded_fields(event, |fields| {
            if let Some(extra) = &mut slot.data.write().otel {
                extra.events.push(event.metadata(), now, fields);
            }
        });
    }

    /// Hands a closed span to the export thread; `timings` is (busy,
    /// duration) in nanoseconds.
    pub(crate) fn span_closed(
        &self,
        id: &Id,
        data: &SpanData,
        timings: (u64, u64),
        counters: &Counters,
    ) {
        self.recent.remember(id, data.cx.trace_id, data.cx.span_id);
        let is_internal = data.otel.as_ref().is_some_and(|x| x.is_internal);
        if data.cx.flags & 1 == 0 || is_internal {
            return;
        }
        if self.shared.stopping.load(Ordering::Relaxed) || self.queue.is_full() {
            counters.export_dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }

        // A recycled box; a new one only until the pool has warmed up.
        let mut finished = match self.pool.1.try_recv() {
            Ok(b) => b,
            Err(_) => Box::new(FinishedSpan::new(data.meta)),
        };
        finished.fill(data, timings.0, timings.1);
        match self.queue.try_send(finished) {
            Ok(()) => {
                // A full batch: wake the export thread once.
                if self.queue.len() >= self.batch_size
                    // AcqRel pairs with the export thread's Release store
                    // of `false` before it drains the queue.
                    && !self.shared.wake_pending.swap(true, Ordering::AcqRel)
                {
                    self.shared.unpark();
                }
            }
            Err(TrySendError::Full(b) | TrySendError::Disconnected(b)) => {
                counters.export_dropped.fetch_add(1, Ordering::Relaxed);
                let _ = self.pool.0.try_send(b);
            }
        }
    }

    /// The (trace id, span id) of a span that has closed, for a link.
    pub(crate) fn closed_link(&self, id: &Id) -> Option<(u128, u64)> {
        self.recent.find(id)
    }

    /// Exports every span closed before the call; returns after that or
    /// after `timeout`, whichever comes first.
    pub(crate) fn flush(&self, timeout: Duration) {
        if self.shared.is_export_thread() {
            return;
        }
        let deadline = Instant::now() + timeout;
        let ticket = {
            let mut c = self.shared.control.lock();
            if c.exited {
                return;
            }
            c.flushes_asked += 1;
            c.flushes_asked
        };
        self.shared.unpark();
        self.shared
            .wait_until(deadline, |c| c.flushes_done >= ticket);
    }

    /// Exports what is queued and stops the export thread, waiting at most
    /// `timeout`. Spans closed afterwards are dropped and counted.
    pub(crate) fn shutdown(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        self.shared.stopping.store(true, Ordering::Relaxed);
        if self.shared.is_export_thread() {
            // A panic hook on the export thread: it cannot wait for itself.
            self.shared.control.lock().stop = true;
            return;
        }
        {
            let mut c = self.shared.control.lock();
            if c.exited {
                return;
            }
            c.stop = true;
        }
        self.shared.unpark();

        // FIXME: spans still queued when this gives up are not counted
        // anywhere (when a slow collector holds the export thread at exit).
        self.shared.wait_until(deadline, |c| c.exited);
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        // Tell the thread to finish on its own; nobody waits for it.
        self.shared.stopping.store(true, Ordering::Relaxed);
        self.shared.control.lock().stop = true;
        self.shared.unpark();
    }
}

fn problem(message: String) -> Problem {
    Problem {
        source: "otlp".to_owned(),
        message,
    }
}

/// A problem with the value of `setting`, worded as the configuration's
/// own problems are for its source.
fn problem_with(source: Option<&Source>, setting: &str, expected: &str, found: &str) -> Problem {
    let (source, message) = match source {
        Some(Source::Env(var)) => (var.clone(), format!("expected {expected}, found {found:?}")),
        Some(Source::File(path)) => (
            path.display().to_string(),
            format!("expected {expected} for key {setting:?}, found {found:?}"),
        ),
        _ => (
            "code".to_owned(),
            format!("expected {expected} for {setting}, found {found:?}"),
        ),
    };
    Problem { source, message }
}

/// Settings this build cannot use: an `https://` endpoint (no TLS compiled
/// in) stops export; a header gRPC cannot carry is left out. Both are
/// reported.
fn check(
    config: &Config,
    settings: &mut OtlpConfig,
    problems: &mut Vec<Problem>,
) -> Option<Problem> {
    // FIXME: no TLS is compiled in, so an https:// endpoint stops export
    // (when the collector only accepts TLS).
    let endpoint = &settings.endpoint;
    let scheme_end = endpoint.find("://").unwrap_or(0);
    if endpoint[..scheme_end].eq_ignore_ascii_case("https") {
        return Some(problem_with(
            config.source("otlp.endpoint"),
            "otlp.endpoint",
            "an http:// URL (this build has no TLS)",
            endpoint,
        ));
    }
    if settings.protocol == Protocol::Grpc {
        settings.headers.retain(|(name, value)| {
            let is_usable = worker::is_grpc_metadata(name, value);
            if !is_usable {
                problems.push(problem_with(
                    config.source("otlp.headers"),
                    "otlp.headers",
                    "a gRPC header of visible ASCII not named *-bin",
                    &format!("{name}={value}"),
                ));
            }
            is_usable
        });
    }
    None
}
