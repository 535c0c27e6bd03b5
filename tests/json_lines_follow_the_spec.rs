//! SPEC 4, JSON lines: every value type, escaping to the byte, reserved
//! keys, explicit parents, nested spans with overlapping field names and
//! the exact key order, truncation of long values.
//!
//! Whole lines are compared after `support::mask_json` has replaced the
//! timestamp and the random ids by fixed tokens; the ids themselves are
//! checked separately.

#[path = "conformance/mod.rs"]
mod support;

use std::collections::HashSet;

use support::{
    has_no_raw_controls, json_run, keys_in_order, mask_json, run_with, str_of, Raw, NASTY,
    NASTY_JSON,
};
use tracing::field::Empty;

#[derive(Debug)]
#[allow(dead_code)] // read only through Debug
struct Point {
    x: i32,
    y: i32,
}

fn masked(lines: &[String]) -> Vec<String> {
    lines.iter().map(|l| mask_json(l)).collect()
}

#[test]
fn event_values_keep_their_types() {
    let io_error = std::io::Error::other("disk on fire");
    let mut at = 0;
    let run = json_run(|| {
        at = here!(tracing::info!(
            i = -7i64,
            u = 7u64,
            small = 3u8,
            big = i128::MIN,
            ubig = u128::MAX,
            f = 0.25f64,
            huge = 1e300f64,
            neg_zero = -0.0f64,
            whole = 2.0f64,
            nan = f64::NAN,
            inf = f64::INFINITY,
            ninf = f64::NEG_INFINITY,
            yes = true,
            no = false,
            s = "42",
            null = "null",
            obj = "{\"a\":1}",
            dbg = ?Point { x: 1, y: -2 },
            disp = %std::net::Ipv4Addr::LOCALHOST,
            opt = ?Some("x"),
            err = &io_error as &(dyn std::error::Error + 'static),
            r#type = "kind",
            "values {}",
            1
        ))
        .1;
    });
    let expected = json_head!("INFO", at)
        + r#""values 1","i":-7,"u":7,"small":3,"big":-170141183460469231731687303715884105728,"#
        + r#""ubig":340282366920938463463374607431768211455,"f":0.25,"huge":1e300,"neg_zero":-0.0,"#
        + r#""whole":2.0,"nan":"NaN","inf":"Infinity","ninf":"-Infinity","yes":true,"no":false,"#
        + r#""s":"42","null":"null","obj":"{\"a\":1}","dbg":"Point { x: 1, y: -2 }","#
        + r#""disp":"127.0.0.1","opt":"Some(\"x\")","err":"disk on fire","type":"kind"}"#;
    assert_eq!(masked(&run.lines()), vec![expected]);

    // A strict parser agrees on the types.
    let v = &run.json()[0];
    assert_eq!(v["i"], serde_json::json!(-7));
    assert_eq!(v["s"], serde_json::json!("42"));
    assert_eq!(v["null"], serde_json::json!("null"));
    assert_eq!(v["yes"], serde_json::json!(true));
    assert_eq!(v["f"], serde_json::json!(0.25));
}

#[test]
fn span_values_keep_their_types() {
    let mut at = 0;
    let run = json_run(|| {
        let span = tracing::info_span!(
            "typed",
            i = -7i64,
            u = 7u64,
            big = i128::MIN,
            ubig = u128::MAX,
            f = 0.25f64,
            nan = f64::NAN,
            inf = f64::INFINITY,
            ninf = f64::NEG_INFINITY,
            yes = true,
            s = "42",
            dbg = ?Point { x: 1, y: -2 },
            disp = %std::net::Ipv4Addr::LOCALHOST,
            r#type = "kind",
        );
        let _entered = span.enter();
        at = here!(tracing::info!("inside")).1;
    });
    let expected = json_head!("INFO", at)
        + r#""inside","span_name":"typed","span_id":"<SPAN_ID>","trace_id":"<TRACE_ID>","#
        + r#""i":-7,"u":7,"big":-170141183460469231731687303715884105728,"#
        + r#""ubig":340282366920938463463374607431768211455,"f":0.25,"nan":"NaN","#
        + r#""inf":"Infinity","ninf":"-Infinity","yes":true,"s":"42","#
        + r#""dbg":"Point { x: 1, y: -2 }","disp":"127.0.0.1","type":"kind"}"#;
    assert_eq!(masked(&run.lines()), vec![expected]);
}

#[test]
fn empty_fields_are_absent_until_recorded_and_records_replace() {
    let mut at = [0; 4];
    let run = json_run(|| {
        at[0] = here!(tracing::info!(
            a = 1,
            b = Empty,
            c = None::<u8>,
            d = Some(4u8),
            "event"
        ))
        .1;
        let span = tracing::info_span!("s", first = 1, later = Empty, never = Empty);
        let _entered = span.enter();
        at[1] = here!(tracing::info!("before")).1;
        span.record("later", "set");
        at[2] = here!(tracing::info!("after")).1;
        span.record("later", 2.5);
        span.record("first", false);
        span.record("undeclared", "ignored");
        at[3] = here!(tracing::info!("replaced")).1;
    });
    let span = r#""span_name":"s","span_id":"<SPAN_ID>","trace_id":"<TRACE_ID>""#;
    assert_eq!(
        masked(&run.lines()),
        vec![
            json_head!("INFO", at[0]) + r#""event","a":1,"d":4}"#,
            json_head!("INFO", at[1]) + r#""before","# + span + r#","first":1}"#,
            json_head!("INFO", at[2]) + r#""after","# + span + r#","first":1,"later":"set"}"#,
            json_head!("INFO", at[3]) + r#""replaced","# + span + r#","first":false,"later":2.5}"#,
        ]
    );
}

#[test]
fn an_event_without_a_message_has_an_empty_one() {
    let mut at = 0;
    let run = json_run(|| at = here!(tracing::warn!(answer = 42)).1);
    assert_eq!(
        masked(&run.lines()),
        vec![json_head!("WARN", at) + r#""","answer":42}"#]
    );
}

#[test]
fn levels_are_upper_case_names() {
    let mut at = [0; 5];
    let run = json_run(|| {
        at[0] = here!(tracing::error!("e")).1;
        at[1] = here!(tracing::warn!("w")).1;
        at[2] = here!(tracing::info!("i")).1;
        at[3] = here!(tracing::debug!("d")).1;
        at[4] = here!(tracing::trace!("t")).1;
    });
    assert_eq!(
        masked(&run.lines()),
        vec![
            json_head!("ERROR", at[0]) + r#""e"}"#,
            json_head!("WARN", at[1]) + r#""w"}"#,
            json_head!("INFO", at[2]) + r#""i"}"#,
            json_head!("DEBUG", at[3]) + r#""d"}"#,
            json_head!("TRACE", at[4]) + r#""t"}"#,
        ]
    );
}

#[test]
fn control_characters_quotes_and_non_ascii_are_escaped_exactly() {
    let mut at = [0; 4];
    let run = json_run(|| {
        at[0] = here!(tracing::info!(message = NASTY)).1;
        at[1] = here!(tracing::info!("{}", NASTY)).1;
        at[3] = here!(tracing::info!(target: "odd\"target\n", k = 1, "t")).1;
        let span = tracing::info_span!("s", sf = NASTY, sd = ?Raw(NASTY));
        let _entered = span.enter();
        at[2] = here!(tracing::info!(f = NASTY, d = ?Raw(NASTY), p = %Raw(NASTY), "m")).1;
    });
    let span = r#""span_name":"s","span_id":"<SPAN_ID>","trace_id":"<TRACE_ID>""#;
    let head = json_head!("INFO", at[3]).replace(
        &format!("\"target\":\"{}\"", module_path!()),
        r#""target":"odd\"target\n""#,
    );
    assert_eq!(
        masked(&run.lines()),
        vec![
            json_head!("INFO", at[0]) + "\"" + NASTY_JSON + "\"}",
            json_head!("INFO", at[1]) + "\"" + NASTY_JSON + "\"}",
            head + r#""t","k":1}"#,
            json_head!("INFO", at[2])
                + "\"m\",\"f\":\""
                + NASTY_JSON
                + "\",\"d\":\""
                + NASTY_JSON
                + "\",\"p\":\""
                + NASTY_JSON
                + "\","
                + span
                + ",\"sf\":\""
                + NASTY_JSON
                + "\",\"sd\":\""
                + NASTY_JSON
                + "\"}",
        ]
    );

    // Exactly four physical lines, each valid JSON holding the text as it
    // went in.
    assert!(has_no_raw_controls(&run.bytes));
    let v = run.json();
    assert_eq!(str_of(&v[0], "message"), NASTY);
    assert_eq!(str_of(&v[2], "target"), "odd\"target\n");
    assert_eq!(str_of(&v[3], "f"), NASTY);
    assert_eq!(str_of(&v[3], "sd"), NASTY);
}

#[test]
fn a_span_name_with_quotes_and_controls_is_escaped() {
    let mut at = 0;
    let run = json_run(|| {
        let span = tracing::info_span!("na\"me\t\u{85}");
        let _entered = span.enter();
        at = here!(tracing::info!("m")).1;
    });
    assert_eq!(
        masked(&run.lines()),
        vec![
            json_head!("INFO", at)
                + r#""m","span_name":"na\"me\t\u0085","span_id":"<SPAN_ID>","trace_id":"<TRACE_ID>"}"#
        ]
    );
}

#[test]
fn fields_named_like_reserved_keys_are_renamed() {
    let mut at = [0; 2];
    let run = json_run(|| {
        at[0] = here!(tracing::info!(
            time = 1,
            level = 2,
            file = 3,
            line = 4,
            target = 5,
            span_name = 6,
            span_id = 7,
            trace_id = 8,
            parent_id = 9,
            "outside"
        ))
        .1;
        let span = tracing::info_span!(
            "s",
            time = "t",
            level = "l",
            file = "f",
            line = "n",
            target = "g",
            message = "m",
            span_name = "sn",
            ok = true,
        );
        let _entered = span.enter();
        at[1] = here!(tracing::info!(level = "event wins", "inside")).1;
    });
    assert_eq!(
        masked(&run.lines()),
        vec![
            json_head!("INFO", at[0])
                + r#""outside","fields.time":1,"fields.level":2,"fields.file":3,"fields.line":4,"#
                + r#""fields.target":5,"fields.span_name":6,"fields.span_id":7,"#
                + r#""fields.trace_id":8,"fields.parent_id":9}"#,
            json_head!("INFO", at[1])
                + r#""inside","fields.level":"event wins","span_name":"s","span_id":"<SPAN_ID>","#
                + r#""trace_id":"<TRACE_ID>","fields.time":"t","fields.file":"f","#
                + r#""fields.line":"n","fields.target":"g","fields.message":"m","#
                + r#""fields.span_name":"sn","ok":true}"#,
        ]
    );
    for line in run.lines() {
        assert_no_duplicate_keys(&line);
    }
}

#[test]
fn request_ids_and_tracestate_are_renamed_only_when_the_context_has_them() {
    let mut at = [0; 3];
    let run = json_run(|| {
        at[0] = here!(tracing::info!(
            x_request_id = "e1",
            request_id = "e2",
            tracestate = "e3",
            "outside"
        ))
        .1;
        let plain = tracing::info_span!("plain");
        plain.in_scope(|| {
            at[1] = here!(tracing::info!(
                x_request_id = "e1",
                request_id = "e2",
                tracestate = "e3",
                "no context"
            ))
            .1;
        });
        let carrying = tracing::info_span!(
            "carrying",
            x_request_id = "xr",
            request_id = "rq",
            tracestate = "k=v",
        );
        carrying.in_scope(|| {
            at[2] = here!(tracing::info!(
                x_request_id = "e1",
                request_id = "e2",
                tracestate = "e3",
                "with context"
            ))
            .1;
        });
    });
    assert_eq!(
        masked(&run.lines()),
        vec![
            json_head!("INFO", at[0])
                + r#""outside","x_request_id":"e1","request_id":"e2","tracestate":"e3"}"#,
            json_head!("INFO", at[1])
                + r#""no context","x_request_id":"e1","request_id":"e2","tracestate":"e3","#
                + r#""span_name":"plain","span_id":"<SPAN_ID>","trace_id":"<TRACE_ID>"}"#,
            json_head!("INFO", at[2])
                + r#""with context","fields.x_request_id":"e1","fields.request_id":"e2","#
                + r#""fields.tracestate":"e3","span_name":"carrying","span_id":"<SPAN_ID>","#
                + r#""trace_id":"<TRACE_ID>","x_request_id":"xr","request_id":"rq","#
                + r#""tracestate":"k=v"}"#,
        ]
    );
}

#[test]
fn explicit_parents_decide_the_span_data() {
    let mut at = [0; 4];
    let mut ids = Vec::new();
    let run = json_run(|| {
        let a = tracing::info_span!("a", k = "a");
        let b = tracing::info_span!("b", k = "b");
        let _entered = b.enter();
        at[0] = here!(tracing::info!(parent: &a, "explicit")).1;
        at[1] = here!(tracing::info!(parent: None, "root")).1;
        at[2] = here!(tracing::info!("contextual")).1;
        let orphan = tracing::info_span!(parent: None, "orphan");
        orphan.in_scope(|| at[3] = here!(tracing::info!("in orphan")).1);
        for span in [&a, &b, &orphan] {
            ids.push(span.in_scope(|| dynlog::current_context().unwrap()));
        }
    });
    assert_eq!(
        masked(&run.lines()),
        vec![
            json_head!("INFO", at[0])
                + r#""explicit","span_name":"a","span_id":"<SPAN_ID>","trace_id":"<TRACE_ID>","k":"a"}"#,
            json_head!("INFO", at[1]) + r#""root"}"#,
            json_head!("INFO", at[2])
                + r#""contextual","span_name":"b","span_id":"<SPAN_ID>","trace_id":"<TRACE_ID>","k":"b"}"#,
            json_head!("INFO", at[3])
                + r#""in orphan","span_name":"orphan","span_id":"<SPAN_ID>","trace_id":"<TRACE_ID>"}"#,
        ]
    );

    // The ids are the spans' own: `a` was never entered when the explicit
    // event fixed its context, and `orphan` starts its own trace.
    let v = run.json();
    assert_eq!(str_of(&v[0], "span_id"), ids[0].span_id().to_string());
    assert_eq!(str_of(&v[0], "trace_id"), ids[0].trace_id().to_string());
    assert_eq!(str_of(&v[2], "span_id"), ids[1].span_id().to_string());
    assert_eq!(str_of(&v[3], "span_id"), ids[2].span_id().to_string());
    assert_eq!(ids[2].parent_id(), None);
    let traces: HashSet<String> = ids.iter().map(|c| c.trace_id().to_string()).collect();
    assert_eq!(traces.len(), 3, "three root spans, three traces");
}

#[test]
fn three_nested_spans_give_each_key_once_innermost_first() {
    let mut at = 0;
    let run = json_run(|| {
        let outer = tracing::info_span!("outer", a = "o", b = "o", c = "o", d = "o");
        let _o = outer.enter();
        let middle = tracing::info_span!("middle", b = "m", c = "m", e = "m");
        let _m = middle.enter();
        let inner = tracing::info_span!("inner", c = "i", f = "i");
        let _i = inner.enter();
        at = here!(tracing::info!(d = "ev", f = "ev", "msg")).1;
    });
    let lines = run.lines();
    assert_eq!(
        masked(&lines),
        vec![
            json_head!("INFO", at)
                + r#""msg","d":"ev","f":"ev","span_name":"inner","span_id":"<SPAN_ID>","#
                + r#""trace_id":"<TRACE_ID>","parent_id":"<PARENT_ID>","c":"i","b":"m","e":"m","a":"o"}"#
        ]
    );
    assert_eq!(
        keys_in_order(&lines[0]),
        [
            "time",
            "level",
            "file",
            "line",
            "target",
            "message",
            "d",
            "f",
            "span_name",
            "span_id",
            "trace_id",
            "parent_id",
            "c",
            "b",
            "e",
            "a"
        ]
    );
}

#[test]
fn outside_spans_no_span_data_appears() {
    let mut at = 0;
    let run = json_run(|| {
        let span = tracing::info_span!("closed", k = 1);
        span.in_scope(|| {});
        drop(span);
        at = here!(tracing::info!(k = 2, "after")).1;
    });
    assert_eq!(
        masked(&run.lines()),
        vec![json_head!("INFO", at) + r#""after","k":2}"#]
    );
}

#[test]
fn long_values_are_cut_at_a_character_boundary() {
    let builder = dynlog::Builder::new()
        .json(true)
        .filter("trace")
        .max_value_bytes(16);
    let mut at = [0; 2];
    let run = run_with(builder, || {
        let span = tracing::info_span!("s", sf = "ééééééééé", sd = ?Raw("0123456789abcdefXYZ"));
        let _entered = span.enter();
        at[0] = here!(tracing::info!(
            f = "日本語日本語",
            d = ?Raw("0123456789abcdefXYZ"),
            short = "0123456789abcdef",
            "{}",
            "aaaaaaaaaaaaaaaaaaaa"
        ))
        .1;
        at[1] = here!(tracing::info!(message = "x\n\nxxxxxxxxxxxxxxxxx")).1;
    });
    let span = r#""span_name":"s","span_id":"<SPAN_ID>","trace_id":"<TRACE_ID>""#;
    assert_eq!(
        masked(&run.lines()),
        vec![
            json_head!("INFO", at[0])
                + r#""aaaaaaaaaaaaaaaa...[truncated 4 bytes]","f":"日本語日本...[truncated 3 bytes]","#
                + r#""d":"0123456789abcdef...[truncated 3 bytes]","short":"0123456789abcdef","#
                + span
                + r#","sf":"éééééééé...[truncated 2 bytes]","sd":"0123456789abcdef...[truncated 3 bytes]"}"#,
            // The budget counts input bytes, not escaped ones.
            json_head!("INFO", at[1])
                + r#""x\n\nxxxxxxxxxxxxx...[truncated 4 bytes]","#
                + span
                + r#","sf":"éééééééé...[truncated 2 bytes]","sd":"0123456789abcdef...[truncated 3 bytes]"}"#,
        ]
    );
}

#[test]
fn values_up_to_one_mebibyte_are_whole_by_default() {
    const MIB: usize = 1024 * 1024;
    let exact = "a".repeat(MIB);
    let over = format!("{}é", "b".repeat(MIB - 1));
    let run = json_run(|| {
        tracing::info!(v = exact.as_str(), "exact");
        tracing::info!(v = over.as_str(), "over");
    });
    let v = run.json();
    assert_eq!(v.len(), 2);
    assert_eq!(str_of(&v[0], "v"), exact);
    assert_eq!(
        str_of(&v[1], "v"),
        format!("{}...[truncated 2 bytes]", "b".repeat(MIB - 1))
    );
}

#[test]
fn many_lines_are_each_one_valid_object() {
    let run = json_run(|| {
        let span = tracing::info_span!("s", sf = NASTY);
        let _entered = span.enter();
        for i in 0..100u32 {
            tracing::info!(i, f = NASTY, "{}{i}", NASTY);
        }
    });
    let lines = run.lines();
    assert_eq!(lines.len(), 100);
    for (i, v) in run.json().iter().enumerate() {
        assert_eq!(v["i"], serde_json::json!(i));
        assert_eq!(str_of(v, "message"), format!("{NASTY}{i}"));
        assert_eq!(str_of(v, "sf"), NASTY);
    }
    for line in &lines {
        assert_no_duplicate_keys(line);
    }
}

fn assert_no_duplicate_keys(line: &str) {
    let keys = keys_in_order(line);
    let unique: HashSet<&String> = keys.iter().collect();
    assert_eq!(unique.len(), keys.len(), "duplicate key in {line}");
}

#[test]
fn a_message_recorded_as_another_type_is_still_the_message() {
    let mut at = [0; 4];
    let run = json_run(|| {
        at[0] = here!(tracing::info!(message = 42)).1;
        at[1] = here!(tracing::info!(message = f64::NAN, k = 1)).1;
        at[2] = here!(tracing::info!(message = true)).1;
        at[3] = here!(tracing::info!(message = ?Point { x: 1, y: 2 })).1;
    });
    assert_eq!(
        masked(&run.lines()),
        vec![
            json_head!("INFO", at[0]) + r#""42"}"#,
            json_head!("INFO", at[1]) + r#""NaN","k":1}"#,
            json_head!("INFO", at[2]) + r#""true"}"#,
            json_head!("INFO", at[3]) + r#""Point { x: 1, y: 2 }"}"#,
        ]
    );
}

#[test]
fn a_record_on_another_thread_shows_in_the_next_line() {
    let buf = support::SharedBuf::default();
    let (subscriber, guard) = dynlog::Builder::new()
        .json(true)
        .writer(buf.clone())
        .build()
        .unwrap();
    let dispatch = tracing::Dispatch::new(subscriber);
    tracing::dispatcher::with_default(&dispatch, || {
        let span = tracing::info_span!("shared", state = "before");
        let _entered = span.enter();
        tracing::info!("one");
        let (other, d2) = (span.clone(), dispatch.clone());
        std::thread::spawn(move || {
            tracing::dispatcher::with_default(&d2, || other.record("state", "after"));
        })
        .join()
        .unwrap();
        tracing::info!("two");
    });
    guard.flush();
    let states: Vec<String> = buf
        .text()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            format!("{} {}", str_of(&v, "message"), str_of(&v, "state"))
        })
        .collect();
    assert_eq!(states, ["one before", "two after"]);
}
