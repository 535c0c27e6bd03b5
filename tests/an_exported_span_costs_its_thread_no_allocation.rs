//! With OTLP export on, the application thread only hands finished spans
//! over: after warm-up, creating, entering, recording events in and closing
//! exported spans makes no heap allocation on that thread (SPEC sections 8
//! and 11). A counting global allocator proves it; only the test thread's
//! allocations are counted, so the export thread may allocate freely.

mod thread_alloc_count;

mod receivers;

use std::time::Duration;

use dynlog::config::{OtlpSettings, Protocol};
use receivers::{Answer, HttpReceiver};

#[global_allocator]
static ALLOCATOR: thread_alloc_count::Counting = thread_alloc_count::Counting;

/// One request's worth of spans: a root with two fields, a child, events
/// with fields in both, all closed.
fn request(i: u64) {
    let root = tracing::info_span!("request", method = "POST", id = i);
    root.in_scope(|| {
        tracing::info!(tokens = 12u64, cached = true, "routing");
        let step = tracing::info_span!("step", n = i);
        step.in_scope(|| tracing::warn!(attempt = 2i64, "slow"));
    });
}

#[test]
fn after_warm_up() {
    let receiver = HttpReceiver::start(Answer::Accept);
    let (subscriber, guard) = dynlog::Builder::new()
        .json(true)
        .filter("info")
        .otlp(OtlpSettings {
            enabled: Some(true),
            endpoint: Some(format!("{}/v1/traces", receiver.base())),
            protocol: Some(Protocol::HttpProtobuf),
            // Exports happen at flushes only, so the pool stays full
            // while allocations are counted.
            scheduled_delay: Some(Duration::from_secs(600)),
            max_export_batch_size: Some(2048),
            ..OtlpSettings::default()
        })
        .writer(std::io::sink())
        .shutdown_timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    tracing::subscriber::with_default(subscriber, || {
        // Warm-up: buffers grow, boxes are made, then come back to the pool.
        for i in 0..600 {
            request(i);
        }
        guard.flush();

        thread_alloc_count::count_this_thread(true);
        for i in 0..400 {
            request(i);
        }
        thread_alloc_count::count_this_thread(false);
    });
    let allocations = thread_alloc_count::allocations();
    guard.flush();
    assert_eq!(allocations, 0);
    assert_eq!(guard.stats().spans_exported, 2000);
    assert_eq!(receiver.inbox.spans().len(), 2000);
}
