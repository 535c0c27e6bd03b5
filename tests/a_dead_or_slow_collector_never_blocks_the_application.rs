//! A collector that is down, one that accepts connections and never
//! answers, and one that answers with errors: the application's threads
//! never wait on export, every line is written, the counters say what was
//! dropped and what failed, failures are reported once, and the guard's
//! flush returns within its timeout.
//!
//! Every piece of application work runs on a helper thread that the test
//! waits for with a timeout, so a thread that blocked on the exporter would
//! fail the test instead of hanging it.

mod receivers;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use dynlog::config::{OtlpSettings, Protocol};
use dynlog::Guard;
use receivers::{
    dead_endpoint, wait_until, Answer, GrpcReceiver, HttpReceiver, SharedBuf, SilentServer,
};
use serde_json::{json, Value};
use tracing::Dispatch;

/// Longest the test waits for work that must not block.
const WATCHDOG: Duration = Duration::from_secs(30);

impl SharedBuf {
    /// Lines of the `work` events.
    fn work_lines(&self) -> usize {
        self.lines()
            .iter()
            .filter(|l| l["message"] == "work")
            .count()
    }

    /// dynlog's notices whose message starts with `prefix`, without their
    /// time, the message cut to `prefix`.
    fn notices(&self, prefix: &str) -> Vec<Value> {
        self.lines()
            .into_iter()
            .filter(|l| {
                l["target"] == "dynlog" && l["message"].as_str().unwrap_or("").starts_with(prefix)
            })
            .map(|mut l| {
                let map = l.as_object_mut().unwrap();
                map.remove("time");
                map.insert("message".into(), json!(prefix));
                l
            })
            .collect()
    }
}

struct Setup {
    protocol: Protocol,
    endpoint: String,
    /// The exporter's timeout per export.
    timeout: Duration,
    /// How long the guard waits at flush and shutdown.
    guard_timeout: Duration,
    max_queue_size: usize,
}

fn build(setup: &Setup, buf: &SharedBuf) -> (Dispatch, Arc<Guard>) {
    let (subscriber, guard) = dynlog::Builder::new()
        .json(true)
        .filter("info")
        .otlp(OtlpSettings {
            enabled: Some(true),
            endpoint: Some(setup.endpoint.clone()),
            protocol: Some(setup.protocol),
            timeout: Some(setup.timeout),
            max_queue_size: Some(setup.max_queue_size),
            scheduled_delay: Some(Duration::from_secs(30)),
            ..OtlpSettings::default()
        })
        .writer(buf.clone())
        .shutdown_timeout(setup.guard_timeout)
        .build()
        .unwrap();
    (Dispatch::new(subscriber), Arc::new(guard))
}

/// Runs `f` on another thread; fails the test if it does not return
/// within [`WATCHDOG`].
fn on_watched_thread<R: Send + 'static>(what: &str, f: impl FnOnce() -> R + Send + 'static) -> R {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(WATCHDOG) {
        Ok(r) => r,
        Err(_) => panic!("{what} did not return within {WATCHDOG:?}"),
    }
}

/// Creates, enters and closes `n` spans with one event each.
fn work(dispatch: &Dispatch, n: usize) {
    tracing::dispatcher::with_default(dispatch, || {
        for i in 0..n {
            let span = tracing::info_span!("job", i);
            span.in_scope(|| tracing::info!("work"));
        }
    });
}

fn work_watched(dispatch: &Dispatch, n: usize) {
    let dispatch = dispatch.clone();
    on_watched_thread("closing spans", move || work(&dispatch, n));
}

fn flush_watched(guard: &Arc<Guard>) {
    let guard = guard.clone();
    on_watched_thread("the guard's flush", move || guard.flush());
}

fn stats(guard: &Guard) -> (u64, u64, u64) {
    let s = guard.stats();
    (s.spans_exported, s.export_dropped, s.export_failures)
}

fn collector_down(protocol: Protocol) {
    let buf = SharedBuf::default();
    let setup = Setup {
        protocol,
        endpoint: dead_endpoint(),
        timeout: Duration::from_millis(500),
        guard_timeout: Duration::from_secs(20),
        max_queue_size: 2048,
    };
    let (dispatch, guard) = build(&setup, &buf);

    work_watched(&dispatch, 10);
    flush_watched(&guard);
    assert_eq!(buf.work_lines(), 10);
    assert_eq!(stats(&guard), (0, 0, 1));
    assert_eq!(
        buf.notices("otlp export failed: "),
        [
            json!({"level": "WARN", "target": "dynlog", "message": "otlp export failed: ", "failed_exports": 1, "spans": 10})
        ]
    );

    // Failing again within the minute: counted, not reported again.
    work_watched(&dispatch, 10);
    flush_watched(&guard);
    assert_eq!(buf.work_lines(), 20);
    assert_eq!(stats(&guard), (0, 0, 2));
    assert_eq!(buf.notices("otlp export failed: ").len(), 1);
}

#[test]
fn a_collector_that_is_down_over_grpc() {
    collector_down(Protocol::Grpc);
}

#[test]
fn a_collector_that_is_down_over_http() {
    collector_down(Protocol::HttpProtobuf);
}

fn collector_silent(protocol: Protocol) {
    let silent = SilentServer::start();
    let buf = SharedBuf::default();
    let setup = Setup {
        protocol,
        endpoint: format!("{}/v1/traces", silent.endpoint()),
        timeout: Duration::from_secs(10),
        guard_timeout: Duration::from_millis(200),
        max_queue_size: 4,
    };
    let (dispatch, guard) = build(&setup, &buf);

    // One span starts an export that will hang; the flush gives up after
    // its timeout.
    work_watched(&dispatch, 1);
    flush_watched(&guard);
    assert!(wait_until(WATCHDOG, || silent
        .accepted
        .load(Ordering::Acquire)
        > 0));

    // While the export thread waits for the collector: 4 spans fit in the
    // queue, the other 96 are dropped, and every line is written.
    work_watched(&dispatch, 100);
    flush_watched(&guard);
    assert_eq!(buf.work_lines(), 101);
    assert_eq!(stats(&guard), (0, 96, 0));

    // Dropping the guard waits for the exporter at most its timeout.
    drop(dispatch);
    on_watched_thread("dropping the guard", move || drop(guard));
}

#[test]
fn a_collector_that_never_answers_over_grpc() {
    collector_silent(Protocol::Grpc);
}

#[test]
fn a_collector_that_never_answers_over_http() {
    collector_silent(Protocol::HttpProtobuf);
}

fn collector_refusing(protocol: Protocol, endpoint: String, inbox: &receivers::Inbox, error: &str) {
    let buf = SharedBuf::default();
    let setup = Setup {
        protocol,
        endpoint,
        timeout: Duration::from_secs(5),
        guard_timeout: Duration::from_secs(20),
        max_queue_size: 2048,
    };
    let (dispatch, guard) = build(&setup, &buf);

    work_watched(&dispatch, 5);
    flush_watched(&guard);
    work_watched(&dispatch, 5);
    flush_watched(&guard);

    assert_eq!(buf.work_lines(), 10);
    assert_eq!(stats(&guard), (0, 0, 2));
    let sizes: Vec<usize> = inbox
        .calls()
        .iter()
        .map(|c| {
            c.request
                .resource_spans
                .iter()
                .flat_map(|r| &r.scope_spans)
                .map(|s| s.spans.len())
                .sum()
        })
        .collect();
    assert_eq!(sizes, [5, 5]);
    let message = format!("otlp export failed: {error}");
    assert_eq!(
        buf.notices(&message),
        [
            json!({"level": "WARN", "target": "dynlog", "message": message, "failed_exports": 1, "spans": 5})
        ]
    );
    assert_eq!(buf.notices("otlp export failed: ").len(), 1);
}

#[test]
fn a_collector_that_answers_with_errors_over_grpc() {
    let receiver = GrpcReceiver::start(Answer::Refuse);
    collector_refusing(
        Protocol::Grpc,
        receiver.endpoint(),
        &receiver.inbox,
        "TonicTracesClient export failed with gRPC code: PermissionDenied",
    );
}

#[test]
fn a_collector_that_answers_with_errors_over_http() {
    let receiver = HttpReceiver::start(Answer::Refuse);
    collector_refusing(
        Protocol::HttpProtobuf,
        format!("{}/v1/traces", receiver.base()),
        &receiver.inbox,
        "HTTP export failed with status code: 400",
    );
}
