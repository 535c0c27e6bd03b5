//! dynlog alone, one criterion bench per scenario of the plan in
//! `benches/README.md`: each measures one thing, to a null sink unless the
//! scenario is about files, on a thread that runs the scenario under
//! `tracing::dispatcher::with_default`.
//!
//! Run all: `cargo bench --bench scenarios`; one: `cargo bench --bench
//! scenarios -- s2_`. For a profile: `-- --profile-time 10 s2_` under
//! `perf record`.

#![allow(
    missing_docs,
    reason = "criterion's macros define undocumented functions"
)]

mod support;

use std::fs::File;
use std::hint::black_box;
use std::sync::atomic::AtomicU64;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

use support::*;

static NULL_BYTES: AtomicU64 = AtomicU64::new(0);

/// Runs `f` under a fresh dynlog subscriber writing JSON to a null sink;
/// the subscriber is dropped afterwards, so the next bench's callsite
/// interest is not mixed with this one's.
fn with_dynlog(filter: &str, span_events: bool, f: impl FnOnce()) {
    let (dispatch, guard) = dynlog_json(CountingSink(&NULL_BYTES), filter, span_events);
    tracing::dispatcher::with_default(&dispatch, f);
    guard.flush();
}

/// S1: a disabled event and a disabled span.
fn s1_disabled(c: &mut Criterion) {
    with_dynlog("info", false, || {
        let mut i = 0u64;
        c.bench_function("s1_disabled_event", |b| {
            b.iter(|| {
                i += 1;
                disabled_event(black_box(i))
            })
        });
        c.bench_function("s1_disabled_span", |b| {
            b.iter(|| {
                i += 1;
                disabled_span(black_box(i))
            })
        });
    });
}

/// S2: an enabled event with five fields to a null sink.
fn s2_event(c: &mut Criterion) {
    with_dynlog("info", false, || {
        let mut i = 0u64;
        c.bench_function("s2_event_5_fields", |b| {
            b.iter(|| {
                i += 1;
                event_5_fields(black_box(i))
            })
        });
    });
}

/// S5: an event inside three entered spans with fields.
fn s5_event_in_spans(c: &mut Criterion) {
    with_dynlog("info", false, || {
        let spans = three_spans();
        let _a = spans[0].enter();
        let _b = spans[1].enter();
        let _c = spans[2].enter();
        let mut i = 0u64;
        c.bench_function("s5_event_in_3_spans", |b| {
            b.iter(|| {
                i += 1;
                event_5_fields(black_box(i))
            })
        });
    });
}

/// S5b: three spans created, entered, an event, exited and closed.
fn s5b_spans_per_iteration(c: &mut Criterion) {
    with_dynlog("info", false, || {
        let mut i = 0u64;
        c.bench_function("s5b_3_spans_and_event_per_iteration", |b| {
            b.iter(|| {
                i += 1;
                spans_per_iteration(black_box(i))
            })
        });
    });
}

/// S6: span lifecycle, with span events off and on, with a record, and
/// closed on another thread.
fn s6_span_lifecycle(c: &mut Criterion) {
    with_dynlog("info", false, || {
        let mut i = 0u64;
        c.bench_function("s6_span_new_enter_exit_close", |b| {
            b.iter(|| {
                i += 1;
                span_lifecycle(black_box(i))
            })
        });
        c.bench_function("s6_span_with_record", |b| {
            b.iter(|| {
                i += 1;
                span_with_record(black_box(i))
            })
        });
        c.bench_function("s6_span_depth_3", |b| {
            b.iter(|| {
                i += 1;
                let a = tracing::info_span!("a", peer = "10.0.4.65:41959", id = i);
                let _a = a.enter();
                let b = tracing::info_span!("b", peer = "10.0.4.65:41959", id = i);
                let _b = b.enter();
                let c = tracing::info_span!("c", peer = "10.0.4.65:41959", id = i);
                let _c = c.enter();
            })
        });
    });
    with_dynlog("info", true, || {
        let mut i = 0u64;
        c.bench_function("s6_span_new_enter_exit_close_span_events", |b| {
            b.iter(|| {
                i += 1;
                span_lifecycle(black_box(i))
            })
        });
    });
    with_dynlog("info", false, || {
        // Spans made and entered here, closed by another thread: the time
        // runs until that thread has closed them all.
        let (tx, rx) = crossbeam_channel::bounded::<Option<tracing::Span>>(1024);
        let (done_tx, done_rx) = crossbeam_channel::bounded::<()>(1);
        std::thread::scope(|s| {
            s.spawn(move || {
                while let Ok(msg) = rx.recv() {
                    match msg {
                        Some(span) => drop(span),
                        None => done_tx.send(()).unwrap(),
                    }
                }
            });
            let mut i = 0u64;
            c.bench_function("s6_span_closed_on_another_thread", |b| {
                b.iter_custom(|iters| {
                    let start = Instant::now();
                    for _ in 0..iters {
                        i += 1;
                        let span = tracing::info_span!("conn", peer = "10.0.4.65:41959", id = i);
                        span.in_scope(|| {});
                        tx.send(Some(span)).unwrap();
                    }
                    tx.send(None).unwrap();
                    done_rx.recv().unwrap();
                    start.elapsed()
                })
            });
            drop(tx);
        });
    });
}

/// S7: 1M events to a file end to end, flushed, from 1 and 2 threads.
fn s7_file_end_to_end(c: &mut Criterion) {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("dynlog-scenarios");
    std::fs::create_dir_all(&dir).unwrap();
    let mut group = c.benchmark_group("s7_1m_events_to_a_file");
    group.sample_size(10);
    group.throughput(Throughput::Elements(1_000_000));
    for threads in [1u64, 2] {
        group.bench_function(format!("{threads}_thread"), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let path = dir.join(format!("s7-{threads}.jsonl"));
                    let file = File::create(&path).unwrap();
                    let (dispatch, guard) = dynlog_json(file, "info", false);
                    let barrier = Barrier::new(threads as usize + 1);
                    let per_thread = 1_000_000 / threads;
                    let start = std::thread::scope(|s| {
                        for _ in 0..threads {
                            let (dispatch, barrier) = (&dispatch, &barrier);
                            s.spawn(move || {
                                tracing::dispatcher::with_default(dispatch, || {
                                    barrier.wait();
                                    for i in 0..per_thread {
                                        event_5_fields(i);
                                    }
                                })
                            });
                        }
                        barrier.wait();
                        Instant::now()
                    });
                    guard.flush();
                    total += start.elapsed();
                    assert_eq!(guard.stats().lines_written, 1_000_000);
                    drop(guard);
                    drop(dispatch);
                    std::fs::remove_file(&path).unwrap();
                }
                total
            })
        });
    }
    group.finish();
}

/// S10: bursts of 20 events then a 1 ms sleep; the time is that of the
/// bursts only (the writer must not need waking per event).
fn s10_intermittent(c: &mut Criterion) {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("dynlog-scenarios");
    std::fs::create_dir_all(&dir).unwrap();
    let file = File::create(dir.join("s10.jsonl")).unwrap();
    let (dispatch, guard) = dynlog_json(file, "info", false);
    tracing::dispatcher::with_default(&dispatch, || {
        let mut group = c.benchmark_group("s10_intermittent");
        group.throughput(Throughput::Elements(20));
        group.bench_function("burst_of_20_then_1ms_sleep", |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for k in 0..iters {
                    let start = Instant::now();
                    for i in 0..20 {
                        event_5_fields(k * 20 + i);
                    }
                    total += start.elapsed();
                    std::thread::sleep(Duration::from_millis(1));
                }
                total
            })
        });
        group.finish();
    });
    guard.flush();
}

/// S11: filtering by target directives and by a span directive.
fn s11_filtering(c: &mut Criterion) {
    with_dynlog(
        "info,my_service::db=debug,h2=error,tower=error,hyper_util=error",
        false,
        || {
            let mut i = 0u64;
            c.bench_function("s11_target_directive_enables", |b| {
                b.iter(|| {
                    i += 1;
                    filtered_by_target(black_box(i))
                })
            });
            c.bench_function("s11_target_directive_disables", |b| {
                b.iter(|| {
                    i += 1;
                    disabled_event(black_box(i))
                })
            });
        },
    );
    with_dynlog("info,[conn{id=7}]=debug", false, || {
        let mut i = 0u64;
        let conn = conn_span(7);
        {
            let _c = conn.enter();
            c.bench_function("s11_span_directive_event_inside", |b| {
                b.iter(|| {
                    i += 1;
                    debug_event(black_box(i))
                })
            });
        }
        c.bench_function("s11_span_directive_event_outside", |b| {
            b.iter(|| {
                i += 1;
                debug_event(black_box(i))
            })
        });
        c.bench_function("s11_span_directive_span_lifecycle", |b| {
            b.iter(|| {
                let conn = conn_span(7);
                let _c = conn.enter();
            })
        });
    });
}

/// S14: large and odd values.
fn s14_large_values(c: &mut Criterion) {
    let big = text_4k();
    let escapes = text_escapes();
    with_dynlog("info", false, || {
        let mut group = c.benchmark_group("s14_values");
        group.throughput(Throughput::Bytes(big.len() as u64));
        group.bench_function("string_4k", |b| b.iter(|| large_string(black_box(&big))));
        group.throughput(Throughput::Bytes(escapes.len() as u64));
        group.bench_function("string_1k_escapes", |b| {
            b.iter(|| escaped_string(black_box(&escapes)))
        });
        group.finish();
        let mut i = 0u64;
        c.bench_function("s14_debug_struct_and_display", |b| {
            b.iter(|| {
                i += 1;
                debug_struct(black_box(i))
            })
        });
        c.bench_function("s14_non_finite_floats", |b| {
            b.iter(|| {
                tracing::info!(
                    a = f64::NAN,
                    b = f64::INFINITY,
                    c = black_box(-0.0f64),
                    "floats"
                )
            })
        });
    });
}

criterion_group!(
    benches,
    s1_disabled,
    s2_event,
    s5_event_in_spans,
    s5b_spans_per_iteration,
    s6_span_lifecycle,
    s7_file_end_to_end,
    s10_intermittent,
    s11_filtering,
    s14_large_values
);
criterion_main!(benches);
