//! What OTLP export costs the thread that closes spans.
//!
//! `span/*` creates, enters, exits and closes one span with two fields;
//! `span_with_event/*` also logs one event with two fields inside it. JSON
//! lines go to a null sink, span events are off.
//!
//! | Bench | Export |
//! |---|---|
//! | `*/export_off` | off (the baseline) |
//! | `*/receiver_up` | gRPC to a receiver that accepts every batch |
//! | `span/receiver_down` | gRPC to a port where nothing listens |
//! | `span/receiver_silent` | gRPC to a server that never answers |
//! | `*/handoff` | as `receiver_up`, but the export thread sleeps while measured |
//!
//! Receivers listen on 127.0.0.1. `receiver_up` is measured in runs of 1000
//! spans with an unmeasured flush after each, so the queue always has room
//! and nothing is dropped; the export thread sends a batch every 512 spans,
//! beside the measured thread. `handoff` raises the batch to 2048, so the
//! export thread only works during the flushes: it is the calling thread's
//! own cost. With the receiver down or silent the queue fills
//! and then every span is dropped and counted: that is the steady state a
//! dead collector puts the application in.
//!
//! The export thread does its work (conversion, encoding, sending) beside
//! the measured thread; what the measured thread itself does is copy the
//! span into a pooled box and `try_send` it, or, once the queue is full,
//! count a drop.
//!
//! ```text
//! cargo bench --bench export
//! ```

#![allow(
    missing_docs,
    reason = "criterion's macros generate undocumented functions"
)]

#[path = "../tests/receivers/mod.rs"]
mod receivers;

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use dynlog::config::{OtlpSettings, Protocol};
use receivers::{dead_endpoint, Answer, GrpcReceiver, SilentServer};

fn subscriber(endpoint: Option<String>, batch: usize) -> (dynlog::DynlogSubscriber, dynlog::Guard) {
    let otlp = match endpoint {
        Some(endpoint) => OtlpSettings {
            enabled: Some(true),
            endpoint: Some(endpoint),
            protocol: Some(Protocol::Grpc),
            timeout: Some(Duration::from_secs(2)),
            max_export_batch_size: Some(batch),
            ..OtlpSettings::default()
        },
        None => OtlpSettings::default(),
    };
    dynlog::Builder::new()
        .json(true)
        .filter("info")
        .otlp(otlp)
        .writer(std::io::sink())
        .shutdown_timeout(Duration::from_millis(200))
        .build()
        .unwrap()
}

fn span(i: u64) {
    let span = tracing::info_span!("request", method = "POST", id = i);
    drop(span.enter());
}

fn span_with_event(i: u64) {
    let span = tracing::info_span!("request", method = "POST", id = i);
    let _entered = span.enter();
    tracing::info!(tokens = 12u64, cached = true, "routed");
}

/// Measures `work` back to back.
fn bench(c: &mut Criterion, name: &str, endpoint: Option<String>, work: fn(u64)) {
    let (subscriber, guard) = subscriber(endpoint, 512);
    let dispatch = tracing::Dispatch::new(subscriber);
    tracing::dispatcher::with_default(&dispatch, || {
        let mut i = 0u64;
        c.bench_function(name, |b| {
            b.iter(|| {
                i += 1;
                work(i);
            })
        });
    });
    report(name, &guard);
}

/// Measures `work` in runs of 1000 with an unmeasured flush after each, so
/// every span finds room in the export queue.
fn bench_in_runs(c: &mut Criterion, name: &str, endpoint: String, batch: usize, work: fn(u64)) {
    let (subscriber, guard) = subscriber(Some(endpoint), batch);
    let dispatch = tracing::Dispatch::new(subscriber);
    tracing::dispatcher::with_default(&dispatch, || {
        let mut i = 0u64;
        c.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut measured = Duration::ZERO;
                let mut left = iters;
                while left > 0 {
                    let run = left.min(1000);
                    let start = Instant::now();
                    for _ in 0..run {
                        i += 1;
                        work(i);
                    }
                    measured += start.elapsed();
                    guard.flush();
                    left -= run;
                }
                measured
            })
        });
    });
    report(name, &guard);
}

fn report(name: &str, guard: &dynlog::Guard) {
    let stats = guard.stats();
    eprintln!(
        "{name}: spans_exported={} export_dropped={} export_failures={}",
        stats.spans_exported, stats.export_dropped, stats.export_failures
    );
}

fn spans(c: &mut Criterion) {
    bench(c, "span/export_off", None, span);
    let receiver = GrpcReceiver::start(Answer::Accept);
    bench_in_runs(c, "span/receiver_up", receiver.endpoint(), 512, span);
    bench_in_runs(c, "span/handoff", receiver.endpoint(), 2048, span);
    bench(c, "span/receiver_down", Some(dead_endpoint()), span);
    let silent = SilentServer::start();
    bench(c, "span/receiver_silent", Some(silent.endpoint()), span);

    bench(c, "span_with_event/export_off", None, span_with_event);
    bench_in_runs(
        c,
        "span_with_event/receiver_up",
        receiver.endpoint(),
        512,
        span_with_event,
    );
    bench_in_runs(
        c,
        "span_with_event/handoff",
        receiver.endpoint(),
        2048,
        span_with_event,
    );
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30);
    targets = spans
}
criterion_main!(benches);
