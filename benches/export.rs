//! What OTLP export costs the thread that closes spans.
//!
//! Each bench creates, enters, exits and closes one span with two fields,
//! JSON lines to a null sink, span events off:
//!
//! | Bench | Export |
//! |---|---|
//! | `span/export_off` | off (the baseline) |
//! | `span/receiver_up` | gRPC to a receiver on 127.0.0.1 that accepts every batch |
//! | `span/receiver_down` | gRPC to a port where nothing listens |
//! | `span/receiver_silent` | gRPC to a server that accepts connections and never answers |
//!
//! The export thread does its work (conversion, encoding, sending) beside
//! the measured thread, so on a busy machine it competes for the same
//! cores; what the measured thread itself does is the copy into a pooled
//! box and a `try_send`, or, once the queue is full, a counted drop.
//!
//! ```text
//! cargo bench --bench export
//! ```

#![allow(missing_docs, reason = "criterion's macros generate undocumented functions")]

#[path = "../tests/receivers/mod.rs"]
mod receivers;

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use dynlog::config::{OtlpSettings, Protocol};
use receivers::{dead_endpoint, Answer, GrpcReceiver, SilentServer};

fn subscriber(endpoint: Option<String>) -> (dynlog::DynlogSubscriber, dynlog::Guard) {
    let otlp = match endpoint {
        Some(endpoint) => OtlpSettings {
            enabled: Some(true),
            endpoint: Some(endpoint),
            protocol: Some(Protocol::Grpc),
            timeout: Some(Duration::from_secs(2)),
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

fn one_span(c: &mut Criterion, name: &str, endpoint: Option<String>) {
    let (subscriber, guard) = subscriber(endpoint);
    let dispatch = tracing::Dispatch::new(subscriber);
    tracing::dispatcher::with_default(&dispatch, || {
        let mut i = 0u64;
        c.bench_function(name, |b| {
            b.iter(|| {
                i += 1;
                let span = tracing::info_span!("request", method = "POST", id = i);
                drop(span.enter());
            })
        });
    });
    let stats = guard.stats();
    eprintln!(
        "{name}: spans_exported={} export_dropped={} export_failures={}",
        stats.spans_exported, stats.export_dropped, stats.export_failures
    );
}

fn spans(c: &mut Criterion) {
    one_span(c, "span/export_off", None);

    let receiver = GrpcReceiver::start(Answer::Accept);
    one_span(c, "span/receiver_up", Some(receiver.endpoint()));
    drop(receiver);

    one_span(c, "span/receiver_down", Some(dead_endpoint()));

    let silent = SilentServer::start();
    one_span(c, "span/receiver_silent", Some(silent.endpoint()));
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
