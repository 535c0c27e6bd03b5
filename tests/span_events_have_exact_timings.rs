//! SPEC 6, span events: one `SPAN_FIRST_ENTRY` per span however often it is
//! entered, a `SPAN_CLOSED` for every enabled span with busy and idle
//! microseconds that add up to its duration, closing on another thread,
//! parents closing after their children, and the span's own callsite on
//! both lines.
//!
//! Timings are checked by ordering relations with generous margins (time
//! spent entered is a lower bound of busy), never by exact durations.

#[path = "conformance/mod.rs"]
mod support;

use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use support::{mask_json, mask_numbers_after, run_with, str_of, u64_of, Run, SharedBuf};
use tracing::Instrument;

const TIMINGS: [&str; 3] = [
    "\"time.busy_us\":",
    "\"time.idle_us\":",
    "\"time.duration_us\":",
];

fn span_events_run(f: impl FnOnce()) -> Run {
    let builder = dynlog::Builder::new()
        .json(true)
        .filter("trace")
        .span_events(true);
    run_with(builder, f)
}

fn masked(run: &Run) -> Vec<String> {
    run.lines()
        .iter()
        .map(|l| mask_numbers_after(&mask_json(l), &TIMINGS))
        .collect()
}

/// The (message, span_name) of each line.
fn events(run: &Run) -> Vec<(String, String)> {
    run.json()
        .iter()
        .map(|v| {
            let name = v.get("span_name").and_then(|n| n.as_str()).unwrap_or("");
            (str_of(v, "message").to_owned(), name.to_owned())
        })
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

/// Checks `busy + idle == duration` on a `SPAN_CLOSED` line and returns the
/// three numbers.
fn timings(v: &serde_json::Value) -> (u64, u64, u64) {
    assert_eq!(str_of(v, "message"), "SPAN_CLOSED");
    let busy = u64_of(v, "time.busy_us");
    let idle = u64_of(v, "time.idle_us");
    let duration = u64_of(v, "time.duration_us");
    assert_eq!(busy + idle, duration, "{v}");
    (busy, idle, duration)
}

#[test]
fn span_lines_carry_the_spans_callsite_level_and_fields() {
    let mut at = 0;
    let run = span_events_run(|| {
        let (span, line) = here!(tracing::debug_span!("work", k = "v", n = 3));
        at = line;
        span.in_scope(|| {});
    });
    let head = json_head!("DEBUG", at);
    let data = r#""span_name":"work","span_id":"<SPAN_ID>","trace_id":"<TRACE_ID>","k":"v","n":3}"#;
    assert_eq!(
        masked(&run),
        [
            format!("{head}\"SPAN_FIRST_ENTRY\",{data}"),
            format!(
                "{head}\"SPAN_CLOSED\",\"time.busy_us\":N,\"time.idle_us\":N,\"time.duration_us\":N,{data}"
            ),
        ]
    );
    let v = run.json();
    assert_eq!(str_of(&v[0], "span_id"), str_of(&v[1], "span_id"));
    timings(&v[1]);
}

#[test]
fn re_entering_a_span_announces_it_only_once() {
    let run = span_events_run(|| {
        let span = tracing::info_span!("again");
        for _ in 0..3 {
            span.in_scope(|| tracing::info!("inside"));
        }
        // An instrumented future enters its span at every poll.
        let polled = tracing::info_span!("polled");
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(
            async {
                for _ in 0..3 {
                    tokio::task::yield_now().await;
                }
                tracing::info!("done polling");
            }
            .instrument(polled),
        );
    });
    assert_eq!(
        events(&run),
        pairs(&[
            ("SPAN_FIRST_ENTRY", "again"),
            ("inside", "again"),
            ("inside", "again"),
            ("inside", "again"),
            ("SPAN_FIRST_ENTRY", "polled"),
            ("done polling", "polled"),
            ("SPAN_CLOSED", "polled"),
            ("SPAN_CLOSED", "again"),
        ])
    );
}

#[test]
fn busy_covers_the_entered_time_and_idle_the_rest() {
    let run = span_events_run(|| {
        let span = tracing::info_span!("timed");
        thread::sleep(Duration::from_millis(30));
        span.in_scope(|| thread::sleep(Duration::from_millis(30)));
        thread::sleep(Duration::from_millis(10));
        span.in_scope(|| thread::sleep(Duration::from_millis(20)));
        thread::sleep(Duration::from_millis(30));
    });
    let v = run.json();
    let (busy, idle, duration) = timings(&v[1]);
    assert!(busy >= 50_000, "busy {busy} us for 50 ms entered");
    assert!(idle >= 70_000, "idle {idle} us for 70 ms outside");
    assert!(duration >= 120_000, "duration {duration} us");
}

#[test]
fn a_span_never_entered_still_closes_with_all_its_time_idle() {
    let run = span_events_run(|| {
        let span = tracing::info_span!("never", k = 1);
        thread::sleep(Duration::from_millis(20));
        drop(span);
    });
    assert_eq!(events(&run), pairs(&[("SPAN_CLOSED", "never")]));
    let v = run.json();
    let (busy, idle, duration) = timings(&v[0]);
    assert_eq!(busy, 0);
    assert_eq!(idle, duration);
    assert!(duration >= 20_000, "duration {duration} us");
    // It still has its own context.
    assert!(support::is_hex_id(str_of(&v[0], "trace_id"), 32));
}

#[test]
fn busy_counts_time_entered_on_any_thread() {
    let buf = SharedBuf::default();
    let (subscriber, guard) = dynlog::Builder::new()
        .json(true)
        .span_events(true)
        .writer(buf.clone())
        .build()
        .unwrap();
    let dispatch = tracing::Dispatch::new(subscriber);
    let span = tracing::dispatcher::with_default(&dispatch, || tracing::info_span!("shared"));
    let barrier = Arc::new(Barrier::new(2));
    let handles: Vec<_> = (0..2)
        .map(|i| {
            let (span, barrier, dispatch) = (span.clone(), barrier.clone(), dispatch.clone());
            thread::spawn(move || {
                tracing::dispatcher::with_default(&dispatch, || {
                    barrier.wait();
                    if i == 1 {
                        thread::sleep(Duration::from_millis(20));
                    }
                    span.in_scope(|| thread::sleep(Duration::from_millis(40)));
                })
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    drop(span);
    guard.flush();
    let run = Run {
        bytes: buf.bytes(),
        stats: guard.stats(),
    };
    let v = run.json();
    assert_eq!(
        events(&run),
        pairs(&[("SPAN_FIRST_ENTRY", "shared"), ("SPAN_CLOSED", "shared")])
    );
    let (busy, _, duration) = timings(&v[1]);
    // Entered from 0 to 40 ms on one thread and from 20 to 60 ms on the
    // other: busy while at least one had it entered.
    assert!(busy >= 60_000, "busy {busy} us");
    assert!(busy <= duration);
}

#[test]
fn a_span_may_close_on_another_thread() {
    let buf = SharedBuf::default();
    let (subscriber, guard) = dynlog::Builder::new()
        .json(true)
        .span_events(true)
        .writer(buf.clone())
        .build()
        .unwrap();
    let dispatch = tracing::Dispatch::new(subscriber);
    let span = tracing::dispatcher::with_default(&dispatch, || {
        let span = tracing::info_span!("travels", k = 1);
        span.in_scope(|| tracing::info!("created here"));
        span
    });
    let d2 = dispatch.clone();
    thread::spawn(move || {
        tracing::dispatcher::with_default(&d2, || {
            span.in_scope(|| tracing::info!("used there"));
            drop(span);
        })
    })
    .join()
    .unwrap();
    guard.flush();
    let run = Run {
        bytes: buf.bytes(),
        stats: guard.stats(),
    };
    assert_eq!(
        events(&run),
        pairs(&[
            ("SPAN_FIRST_ENTRY", "travels"),
            ("created here", "travels"),
            ("used there", "travels"),
            ("SPAN_CLOSED", "travels"),
        ])
    );
    let v = run.json();
    for line in &v[1..] {
        assert_eq!(str_of(line, "span_id"), str_of(&v[0], "span_id"));
        assert_eq!(line["k"], serde_json::json!(1));
    }
    timings(&v[3]);
}

#[test]
fn a_parent_closes_only_after_its_children() {
    let run = span_events_run(|| {
        let outer = tracing::info_span!("outer");
        let middle = outer.in_scope(|| tracing::info_span!("middle"));
        let inner = middle.in_scope(|| tracing::info_span!("inner"));
        // Handles dropped outermost first: nothing closes until the inner
        // span goes.
        drop(outer);
        drop(middle);
        inner.in_scope(|| tracing::info!("still inside"));
        thread::sleep(Duration::from_millis(5));
        drop(inner);
        tracing::info!("after");
    });
    assert_eq!(
        events(&run),
        pairs(&[
            ("SPAN_FIRST_ENTRY", "outer"),
            ("SPAN_FIRST_ENTRY", "middle"),
            ("SPAN_FIRST_ENTRY", "inner"),
            ("still inside", "inner"),
            ("SPAN_CLOSED", "inner"),
            ("SPAN_CLOSED", "middle"),
            ("SPAN_CLOSED", "outer"),
            ("after", ""),
        ])
    );
    let v = run.json();
    let (_, _, inner) = timings(&v[4]);
    let (_, _, middle) = timings(&v[5]);
    let (_, _, outer) = timings(&v[6]);
    assert!(
        outer >= middle && middle >= inner,
        "{outer} {middle} {inner}"
    );
    // The closing lines keep the parent chain.
    assert_eq!(str_of(&v[4], "parent_id"), str_of(&v[5], "span_id"));
    assert_eq!(str_of(&v[5], "parent_id"), str_of(&v[6], "span_id"));
}

#[test]
fn spans_the_filter_disables_have_no_lines() {
    let builder = dynlog::Builder::new()
        .json(true)
        .filter("info")
        .span_events(true);
    let run = run_with(builder, || {
        let quiet = tracing::debug_span!("quiet");
        quiet.in_scope(|| tracing::info!("inside a disabled span"));
        let loud = tracing::info_span!("loud");
        loud.in_scope(|| tracing::debug!("disabled event"));
    });
    assert_eq!(
        events(&run),
        pairs(&[
            ("inside a disabled span", ""),
            ("SPAN_FIRST_ENTRY", "loud"),
            ("SPAN_CLOSED", "loud"),
        ])
    );
}

#[test]
fn without_span_events_there_are_no_span_lines() {
    let run = run_with(dynlog::Builder::new().json(true), || {
        let span = tracing::info_span!("silent");
        span.in_scope(|| tracing::info!("only me"));
    });
    assert_eq!(events(&run), pairs(&[("only me", "silent")]));
}
