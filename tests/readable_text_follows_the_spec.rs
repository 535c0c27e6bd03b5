//! SPEC 5, readable text: exact lines (the timestamp masked), the level
//! right-aligned in five columns, span names from the root, fields with the
//! precedence of SPEC 4, request ids from the context and no trace ids,
//! escaping to the byte, no colour when the sink is not a terminal, and
//! `current_context()` in readable mode (SPEC 7).

#[path = "conformance/mod.rs"]
mod support;

use support::{
    child_case, has_no_raw_controls, mask_numbers_after, mask_text, run_child, run_with, text_run,
    Raw, NASTY, NASTY_JSON, NASTY_TEXT,
};

#[derive(Debug)]
#[allow(dead_code)] // read only through Debug
struct Point {
    x: i32,
    y: i32,
}

const TARGET: &str = module_path!();

fn masked(lines: &[String]) -> Vec<String> {
    lines.iter().map(|l| mask_text(l)).collect()
}

#[test]
fn levels_are_right_aligned_in_five_columns() {
    let run = text_run(|| {
        tracing::error!("e");
        tracing::warn!("w");
        tracing::info!("i");
        tracing::debug!("d");
        tracing::trace!("t");
    });
    assert_eq!(
        masked(&run.lines()),
        [
            format!("<TIME> ERROR {TARGET}: e"),
            format!("<TIME>  WARN {TARGET}: w"),
            format!("<TIME>  INFO {TARGET}: i"),
            format!("<TIME> DEBUG {TARGET}: d"),
            format!("<TIME> TRACE {TARGET}: t"),
        ]
    );
}

#[test]
fn values_are_written_by_type() {
    let io_error = std::io::Error::other("disk on fire");
    let run = text_run(|| {
        tracing::info!(
            i = -7i64,
            u = 7u64,
            big = i128::MIN,
            ubig = u128::MAX,
            f = 0.25f64,
            huge = 1e300f64,
            neg_zero = -0.0f64,
            nan = f64::NAN,
            inf = f64::INFINITY,
            ninf = f64::NEG_INFINITY,
            yes = true,
            s = "42",
            dbg = ?Point { x: 1, y: -2 },
            disp = %std::net::Ipv4Addr::LOCALHOST,
            opt = ?Some("x"),
            err = &io_error as &(dyn std::error::Error + 'static),
            r#type = "kind",
            empty = tracing::field::Empty,
            "values {}",
            1
        );
        tracing::info!(no_message = 1);
    });
    assert_eq!(
        masked(&run.lines()),
        [
            format!(
                "<TIME>  INFO {TARGET}: values 1 i=-7 u=7 big=-170141183460469231731687303715884105728 \
                 ubig=340282366920938463463374607431768211455 f=0.25 huge=1e300 neg_zero=-0.0 \
                 nan=NaN inf=Infinity ninf=-Infinity yes=true s=\"42\" dbg=Point {{ x: 1, y: -2 }} \
                 disp=127.0.0.1 opt=Some(\"x\") err=disk on fire type=\"kind\""
            ),
            format!("<TIME>  INFO {TARGET}: no_message=1"),
        ]
    );
}

#[test]
fn span_names_lead_and_fields_follow_with_spec_4_precedence() {
    let run = text_run(|| {
        let outer = tracing::info_span!("outer", a = "o", b = "o", c = "o", d = "o");
        let _o = outer.enter();
        let middle = tracing::info_span!("middle", b = "m", c = "m", e = 5);
        let _m = middle.enter();
        let inner = tracing::info_span!("inner", c = "i", f = "i");
        let _i = inner.enter();
        tracing::warn!(d = "ev", f = "ev", "msg");
        tracing::info!(parent: None, "no spans");
        tracing::info!(parent: &outer, "explicit parent");
    });
    assert_eq!(
        masked(&run.lines()),
        [
            format!(
                "<TIME>  WARN outer:middle:inner: {TARGET}: msg d=\"ev\" f=\"ev\" c=\"i\" b=\"m\" e=5 a=\"o\""
            ),
            format!("<TIME>  INFO {TARGET}: no spans"),
            format!("<TIME>  INFO outer: {TARGET}: explicit parent a=\"o\" b=\"o\" c=\"o\" d=\"o\""),
        ]
    );
}

#[test]
fn request_ids_come_from_the_context_and_trace_ids_are_not_shown() {
    let run = text_run(|| {
        let request = tracing::info_span!(
            "request",
            trace_id = "4bf92f3577b34da6a3ce929d0e0e4736",
            parent_id = "00f067aa0ba902b7",
            trace_flags = "01",
            tracestate = "k=v",
            x_request_id = "xr",
            request_id = "rq",
            method = "GET",
        );
        let _r = request.enter();
        let handler = tracing::info_span!("handler", step = 1);
        let _h = handler.enter();
        tracing::info!(user = 42, "handled");
        tracing::info!(
            x_request_id = "e1",
            request_id = "e2",
            tracestate = "e3",
            "clash"
        );
    });
    assert_eq!(
        masked(&run.lines()),
        [
            format!(
                "<TIME>  INFO request:handler: {TARGET}: handled user=42 x_request_id=\"xr\" \
                 request_id=\"rq\" step=1 method=\"GET\""
            ),
            // Readable text shows no tracestate, so that name is free.
            format!(
                "<TIME>  INFO request:handler: {TARGET}: clash fields.x_request_id=\"e1\" \
                 fields.request_id=\"e2\" tracestate=\"e3\" x_request_id=\"xr\" \
                 request_id=\"rq\" step=1 method=\"GET\""
            ),
        ]
    );
}

#[test]
fn fields_named_like_reserved_keys_are_renamed() {
    let run = text_run(|| {
        tracing::info!(time = 1, level = 2, span_id = 3, trace_id = 4, "outside");
        let span = tracing::info_span!("s", target = "t", message = "m");
        span.in_scope(|| tracing::info!("inside"));
    });
    assert_eq!(
        masked(&run.lines()),
        [
            format!(
                "<TIME>  INFO {TARGET}: outside fields.time=1 fields.level=2 fields.span_id=3 \
                 fields.trace_id=4"
            ),
            format!("<TIME>  INFO s: {TARGET}: inside fields.target=\"t\" fields.message=\"m\""),
        ]
    );
}

#[test]
fn control_characters_are_escaped_so_one_event_is_one_line() {
    let run = text_run(|| {
        tracing::info!("{}", NASTY);
        tracing::info!(message = NASTY);
        let span = tracing::info_span!("sp\nan", sf = NASTY, sd = ?Raw(NASTY));
        let _entered = span.enter();
        tracing::info!(target: "tar\rget", f = NASTY, d = ?Raw(NASTY), p = %Raw(NASTY), "m");
    });
    assert_eq!(run.bytes.iter().filter(|&&b| b == b'\n').count(), 3);
    assert!(has_no_raw_controls(&run.bytes));
    assert_eq!(
        masked(&run.lines()),
        [
            format!("<TIME>  INFO {TARGET}: {NASTY_TEXT}"),
            format!("<TIME>  INFO {TARGET}: {NASTY_TEXT}"),
            format!(
                "<TIME>  INFO sp\\nan: tar\\rget: m f=\"{NASTY_JSON}\" d={NASTY_TEXT} \
                 p={NASTY_TEXT} sf=\"{NASTY_JSON}\" sd={NASTY_TEXT}"
            ),
        ]
    );
}

#[test]
fn long_values_are_cut_in_text_too() {
    let builder = dynlog::Builder::new()
        .json(false)
        .filter("trace")
        .max_value_bytes(16);
    let run = run_with(builder, || {
        let span = tracing::info_span!("s", sf = "ééééééééé");
        let _entered = span.enter();
        tracing::info!(f = "日本語日本語", d = ?Raw("0123456789abcdefXYZ"), "{}", "a".repeat(20));
    });
    assert_eq!(
        masked(&run.lines()),
        [format!(
            "<TIME>  INFO s: {TARGET}: aaaaaaaaaaaaaaaa...[truncated 4 bytes] \
             f=\"日本語日本...[truncated 3 bytes]\" d=0123456789abcdef...[truncated 3 bytes] \
             sf=\"éééééééé...[truncated 2 bytes]\""
        )]
    );
}

#[test]
fn span_events_look_like_any_other_line() {
    let builder = dynlog::Builder::new()
        .json(false)
        .filter("trace")
        .span_events(true);
    let run = run_with(builder, || {
        let outer = tracing::info_span!("outer", a = 1);
        let _o = outer.enter();
        let inner = tracing::debug_span!("inner", b = "x");
        inner.in_scope(|| tracing::info!("work"));
    });
    let lines: Vec<String> = masked(&run.lines())
        .iter()
        .map(|l| mask_numbers_after(l, &["time.busy_us=", "time.idle_us=", "time.duration_us="]))
        .collect();
    assert_eq!(
        lines,
        [
            format!("<TIME>  INFO outer: {TARGET}: SPAN_FIRST_ENTRY a=1"),
            format!("<TIME> DEBUG outer:inner: {TARGET}: SPAN_FIRST_ENTRY b=\"x\" a=1"),
            format!("<TIME>  INFO outer:inner: {TARGET}: work b=\"x\" a=1"),
            format!(
                "<TIME> DEBUG outer:inner: {TARGET}: SPAN_CLOSED time.busy_us=N time.idle_us=N \
                 time.duration_us=N b=\"x\" a=1"
            ),
            format!(
                "<TIME>  INFO outer: {TARGET}: SPAN_CLOSED time.busy_us=N time.idle_us=N \
                 time.duration_us=N a=1"
            ),
        ]
    );
}

#[test]
fn a_buffer_gets_no_colour_even_when_colour_is_asked_for() {
    let builder = dynlog::Builder::new()
        .json(false)
        .filter("trace")
        .ansi(true);
    let run = run_with(builder, || {
        let span = tracing::info_span!("s", k = 1);
        span.in_scope(|| tracing::error!(v = "x", "red on a terminal"));
    });
    assert!(!run.bytes.contains(&0x1b));
    assert_eq!(
        masked(&run.lines()),
        [format!(
            "<TIME> ERROR s: {TARGET}: red on a terminal v=\"x\" k=1"
        )]
    );
}

#[test]
fn piped_stderr_gets_no_colour() {
    if let Some(case) = child_case() {
        assert_eq!(case, "stderr");
        let (subscriber, guard) = dynlog::Builder::new()
            .json(false)
            .ansi(true)
            .stderr()
            .build()
            .unwrap();
        tracing::subscriber::with_default(subscriber, || tracing::warn!(k = 1, "to a pipe"));
        guard.flush();
        return;
    }
    let out = run_child("piped_stderr_gets_no_colour", "stderr", &[]);
    assert!(out.success, "child failed: {}", out.stderr);
    let lines: Vec<String> = out.stderr.lines().map(mask_text).collect();
    assert_eq!(lines, [format!("<TIME>  WARN {TARGET}: to a pipe k=1")]);
}

#[test]
fn current_context_works_in_readable_mode() {
    let mut seen = Vec::new();
    let run = text_run(|| {
        assert_eq!(dynlog::current_context(), None);
        let parent = tracing::info_span!("parent", x_request_id = "req-1");
        let _p = parent.enter();
        let parent_cx = dynlog::current_context().expect("a context inside a span");
        let child = tracing::info_span!("child");
        let _c = child.enter();
        let child_cx = dynlog::current_context().expect("a context inside a span");
        tracing::info!("inside");
        seen.push(parent_cx);
        seen.push(child_cx);
    });
    let (parent, child) = (&seen[0], &seen[1]);
    assert_eq!(parent.parent_id(), None);
    assert_eq!(child.parent_id(), Some(parent.span_id()));
    assert_eq!(child.trace_id(), parent.trace_id());
    assert_ne!(child.span_id(), parent.span_id());
    assert_eq!(child.x_request_id(), Some("req-1"));
    assert_eq!(
        child.traceparent(),
        format!("00-{}-{}-01", child.trace_id(), child.span_id())
    );
    assert_eq!(
        masked(&run.lines()),
        [format!(
            "<TIME>  INFO parent:child: {TARGET}: inside x_request_id=\"req-1\""
        )]
    );
}

#[test]
fn a_terminal_gets_colour_unless_a_variable_says_no() {
    if let Some(case) = child_case() {
        let builder = match case.as_str() {
            "builder" => dynlog::Builder::new(),
            _ => dynlog::Builder::from_env(),
        };
        let (subscriber, guard) = builder.stderr().build().unwrap();
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("span", k = 1);
            span.in_scope(|| tracing::warn!(v = "x", "coloured"));
        });
        guard.flush();
        return;
    }
    let test = "a_terminal_gets_colour_unless_a_variable_says_no";
    for case in ["builder", "env"] {
        let out = support::run_child_on_terminal(test, case, &[]);
        let time_end = out.find("\x1b[0m").expect("a reset after the time");
        assert!(out.starts_with("\x1b[2m"), "{out:?}");
        assert!(support::is_timestamp(&out[4..time_end], false), "{out:?}");
        assert_eq!(
            &out[time_end..],
            format!(
                "\x1b[0m \x1b[33m WARN\x1b[0m \x1b[1mspan\x1b[0m: \x1b[2m{TARGET}:\x1b[0m \
                 coloured v=\"x\" k=1\n"
            ),
            "{case}"
        );
    }
    for vars in [
        &[("NO_COLOR", "1")][..],
        &[("DYN_SDK_DISABLE_ANSI_LOGGING", "true")],
    ] {
        let out = support::run_child_on_terminal(test, "env", vars);
        assert_eq!(
            mask_text(out.trim_end_matches('\n')),
            format!("<TIME>  WARN span: {TARGET}: coloured v=\"x\" k=1"),
            "{vars:?}"
        );
    }
}

#[test]
fn a_message_recorded_as_another_type_is_still_the_message() {
    let run = text_run(|| {
        tracing::info!(message = 42);
        tracing::info!(message = -1.5, k = 1);
    });
    assert_eq!(
        masked(&run.lines()),
        [
            format!("<TIME>  INFO {TARGET}: 42"),
            format!("<TIME>  INFO {TARGET}: -1.5 k=1"),
        ]
    );
}
