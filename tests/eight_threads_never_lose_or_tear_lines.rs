//! SPEC 9, delivery: eight threads logging at once, 20,000 lines each, to a
//! real file. No line is lost, none is torn or interleaved with another,
//! and each thread's lines keep their order, including lines too large for
//! a thread's queue (written synchronously) among ordinary ones.

#[path = "conformance/mod.rs"]
mod support;

use std::sync::{Arc, Barrier};
use std::thread;

use support::{str_of, SharedBuf, TempFile};

const THREADS: u64 = 8;
const LINES: u64 = 20_000;

/// Every this many lines, a value larger than half the default 256 KiB
/// queue, which takes the synchronous path.
const HUGE_EVERY: u64 = 5_000;
const HUGE_BYTES: usize = 200 * 1024;

/// Runs `THREADS` threads, started together, each logging `lines` events
/// inside its own span through `dispatch`.
fn log_from_threads(dispatch: &tracing::Dispatch, lines: u64) {
    let barrier = Arc::new(Barrier::new(THREADS as usize));
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let (dispatch, barrier) = (dispatch.clone(), barrier.clone());
            thread::spawn(move || {
                tracing::dispatcher::with_default(&dispatch, || {
                    let huge = "h".repeat(HUGE_BYTES);
                    let span = tracing::info_span!("worker", t);
                    let _entered = span.enter();
                    barrier.wait();
                    for seq in 0..lines {
                        // Lengths vary so that lines straddle the end of the
                        // ring at every possible offset.
                        let pad = "x".repeat((seq % 97) as usize);
                        if seq % HUGE_EVERY == HUGE_EVERY - 1 {
                            tracing::info!(t, seq, pad = huge.as_str(), "line");
                        } else {
                            tracing::info!(t, seq, pad = pad.as_str(), "line");
                        }
                    }
                })
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
}

#[test]
fn eight_threads_to_a_file_lose_nothing_and_keep_their_order() {
    let file = TempFile::new("eight-threads.jsonl", "");
    let (subscriber, guard) = support::json_to_file(&file);
    let dispatch = tracing::Dispatch::new(subscriber);
    log_from_threads(&dispatch, LINES);
    guard.flush();
    let stats = guard.stats();
    drop(guard);

    let bytes = std::fs::read(&file.path).unwrap();
    assert_eq!(bytes.last(), Some(&b'\n'));
    let text = std::str::from_utf8(&bytes).expect("UTF-8");
    let mut next = vec![0u64; THREADS as usize];
    let mut n_lines = 0u64;
    for line in text[..text.len() - 1].split('\n') {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("torn line ({e}): {line:.200}"));
        let t = v["t"].as_u64().expect("t");
        let seq = v["seq"].as_u64().expect("seq");
        assert_eq!(seq, next[t as usize], "thread {t} out of order");
        next[t as usize] += 1;
        let pad = str_of(&v, "pad");
        if seq % HUGE_EVERY == HUGE_EVERY - 1 {
            assert_eq!(pad.len(), HUGE_BYTES);
        } else {
            assert_eq!(pad.len() as u64, seq % 97);
        }
        assert_eq!(str_of(&v, "span_name"), "worker");
        n_lines += 1;
    }
    assert_eq!(next, vec![LINES; THREADS as usize]);
    assert_eq!(n_lines, THREADS * LINES);
    assert_eq!(stats.lines_written, THREADS * LINES);
    assert_eq!(stats.dropped, 0);
    assert_eq!(stats.abandoned, 0);
    assert_eq!(stats.sink_errors, 0);
}

#[test]
fn eight_threads_of_readable_text_stay_whole() {
    const TEXT_LINES: u64 = 5_000;
    let buf = SharedBuf::default();
    let (subscriber, guard) = dynlog::Builder::new()
        .json(false)
        .writer(buf.clone())
        .build()
        .unwrap();
    let dispatch = tracing::Dispatch::new(subscriber);
    log_from_threads(&dispatch, TEXT_LINES);
    guard.flush();
    drop(guard);

    let text = buf.text();
    let mut next = vec![0u64; THREADS as usize];
    for line in text.lines() {
        // `<time>  INFO worker: <target>: line t=T seq=S pad="..."`; the
        // span's own `t` gives way to the event's.
        let rest = line
            .split_once("  INFO worker: ")
            .map(|(_, rest)| rest)
            .unwrap_or_else(|| panic!("torn line: {line:.200}"));
        let fields = rest
            .strip_prefix(concat!(module_path!(), ": line t="))
            .unwrap_or_else(|| panic!("torn line: {line:.200}"));
        let (t, rest) = fields.split_once(" seq=").unwrap();
        let (seq, rest) = rest.split_once(" pad=\"").unwrap();
        let pad = rest.strip_suffix('"').unwrap();
        let t: usize = t.parse().unwrap();
        let seq: u64 = seq.parse().unwrap();
        assert_eq!(seq, next[t], "thread {t} out of order");
        if seq % HUGE_EVERY == HUGE_EVERY - 1 {
            assert_eq!(pad.len(), HUGE_BYTES);
        } else {
            assert_eq!(pad.len() as u64, seq % 97);
        }
        next[t] += 1;
    }
    assert_eq!(next, vec![TEXT_LINES; THREADS as usize]);
}

#[test]
fn many_short_lived_threads_lose_nothing() {
    const SHORT_THREADS: u64 = 200;
    const SHORT_LINES: u64 = 50;
    let buf = SharedBuf::default();
    let (subscriber, guard) = dynlog::Builder::new()
        .json(true)
        .writer(buf.clone())
        .build()
        .unwrap();
    let dispatch = tracing::Dispatch::new(subscriber);
    // In waves of eight, so rings of finished threads get reused.
    for wave in 0..SHORT_THREADS / THREADS {
        let handles: Vec<_> = (0..THREADS)
            .map(|i| {
                let dispatch = dispatch.clone();
                let t = wave * THREADS + i;
                thread::spawn(move || {
                    tracing::dispatcher::with_default(&dispatch, || {
                        for seq in 0..SHORT_LINES {
                            tracing::info!(t, seq, "short");
                        }
                    })
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
    }
    guard.flush();
    let mut next = vec![0u64; SHORT_THREADS as usize];
    for line in buf.text().lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let t = v["t"].as_u64().unwrap() as usize;
        assert_eq!(
            v["seq"].as_u64().unwrap(),
            next[t],
            "thread {t} out of order"
        );
        next[t] += 1;
    }
    assert_eq!(next, vec![SHORT_LINES; SHORT_THREADS as usize]);
    assert_eq!(guard.stats().lines_written, SHORT_THREADS * SHORT_LINES);
}

#[test]
fn two_pipelines_on_one_thread_keep_their_lines_apart() {
    let (buf_a, buf_b) = (SharedBuf::default(), SharedBuf::default());
    let (sub_a, guard_a) = dynlog::Builder::new()
        .json(true)
        .writer(buf_a.clone())
        .build()
        .unwrap();
    let (sub_b, guard_b) = dynlog::Builder::new()
        .json(false)
        .writer(buf_b.clone())
        .build()
        .unwrap();
    let (a, b) = (tracing::Dispatch::new(sub_a), tracing::Dispatch::new(sub_b));
    let span_a = tracing::dispatcher::with_default(&a, || tracing::info_span!("in_a", k = "a"));
    let span_b = tracing::dispatcher::with_default(&b, || tracing::info_span!("in_b", k = "b"));
    for i in 0..100u32 {
        tracing::dispatcher::with_default(&a, || span_a.in_scope(|| tracing::info!(i, "to a")));
        tracing::dispatcher::with_default(&b, || span_b.in_scope(|| tracing::info!(i, "to b")));
    }
    guard_a.flush();
    guard_b.flush();
    let a_lines: Vec<String> = buf_a.text().lines().map(str::to_owned).collect();
    let b_lines: Vec<String> = buf_b.text().lines().map(str::to_owned).collect();
    assert_eq!((a_lines.len(), b_lines.len()), (100, 100));
    for (i, line) in a_lines.iter().enumerate() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["i"], serde_json::json!(i));
        assert_eq!(str_of(&v, "span_name"), "in_a");
        assert_eq!(str_of(&v, "k"), "a");
    }
    for (i, line) in b_lines.iter().enumerate() {
        assert!(
            line.ends_with(&format!(
                " INFO in_b: {}: to b i={i} k=\"b\"",
                module_path!()
            )),
            "{line}"
        );
    }
}
