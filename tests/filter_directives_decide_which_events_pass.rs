//! Filter directives (SPEC 3) through real `tracing` macros: a subscriber
//! built with `Builder::new().filter(...)` writes JSON lines into a buffer,
//! and each case states exactly which events made it. Bad directive
//! strings are pinned to their exact error message.

use std::io::Write;
use std::sync::{Arc, Mutex};

use serde_json::Value;
use tracing::field::Empty;

/// A writer the test can read back.
#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Runs `scenario` under a subscriber with `filter` (and span events when
/// asked) and returns the lines it wrote, parsed.
fn lines_with(filter: &str, span_events: bool, scenario: impl FnOnce()) -> Vec<Value> {
    let buffer = Buffer::default();
    let built = dynlog::Builder::new()
        .json(true)
        .span_events(span_events)
        .filter(filter)
        .writer(buffer.clone())
        .build();
    let (subscriber, guard) = match built {
        Ok(built) => built,
        Err(error) => panic!("dynlog: filter {filter:?} does not build: {error}"),
    };
    tracing::subscriber::with_default(subscriber, scenario);
    guard.flush();
    let bytes = buffer.0.lock().unwrap().clone();
    let text = String::from_utf8(bytes).unwrap();
    text.lines()
        .map(|line| match serde_json::from_str(line) {
            Ok(value) => value,
            Err(error) => panic!("dynlog: not a JSON line ({error}): {line}"),
        })
        .collect()
}

/// The messages of `lines`, in order.
fn messages(lines: &[Value]) -> Vec<String> {
    lines
        .iter()
        .map(|line| {
            line["message"]
                .as_str()
                .unwrap_or("<no message>")
                .to_owned()
        })
        .collect()
}

// ----- targets and levels -------------------------------------------------

/// The targets of the target scenario, in emission order.
const TARGETS: [&str; 8] = [
    "app",
    "app::db",
    "tokio",
    "tokio_util",
    "tokio::net",
    "web",
    "webhook",
    "h2",
];

/// One event per target and level, message `"<target> <level>"`.
fn every_target_at_every_level() {
    macro_rules! all_levels {
        ($target:literal) => {
            tracing::error!(target: $target, "{} error", $target);
            tracing::warn!(target: $target, "{} warn", $target);
            tracing::info!(target: $target, "{} info", $target);
            tracing::debug!(target: $target, "{} debug", $target);
            tracing::trace!(target: $target, "{} trace", $target);
        };
    }
    all_levels!("app");
    all_levels!("app::db");
    all_levels!("tokio");
    all_levels!("tokio_util");
    all_levels!("tokio::net");
    all_levels!("web");
    all_levels!("webhook");
    all_levels!("h2");
}

/// What passed, per target: the most verbose level when the passing
/// levels run from `error` down to it (always so for target directives),
/// `off` when none passed.
fn levels_per_target(filter: &str) -> String {
    let passed = messages(&lines_with(filter, false, every_target_at_every_level));
    let order = ["error", "warn", "info", "debug", "trace"];
    let mut parts = Vec::new();
    for target in TARGETS {
        let levels: Vec<&str> = passed
            .iter()
            .filter_map(|message| message.strip_prefix(target)?.strip_prefix(' '))
            .collect();
        assert_eq!(
            levels,
            order[..levels.len()],
            "filter {filter:?}: levels of {target} are not a prefix"
        );
        let last = levels.last().copied().unwrap_or("off");
        parts.push(format!("{target}={last}"));
    }
    parts.join(" ")
}

#[test]
fn target_directives_pick_a_level_per_target() {
    // One case per line reads as a table; rustfmt would split them.
    #[rustfmt::skip]
    let cases: &[(&str, &str)] = &[
        // LEVEL alone.
        ("info", "app=info app::db=info tokio=info tokio_util=info tokio::net=info web=info webhook=info h2=error"),
        ("warn", "app=warn app::db=warn tokio=warn tokio_util=warn tokio::net=warn web=warn webhook=warn h2=error"),
        ("off", "app=off app::db=off tokio=off tokio_util=off tokio::net=off web=off webhook=off h2=error"),
        // Case and digits in levels.
        ("DEBUG", "app=debug app::db=debug tokio=debug tokio_util=debug tokio::net=debug web=debug webhook=debug h2=error"),
        ("Warning", "app=warn app::db=warn tokio=warn tokio_util=warn tokio::net=warn web=warn webhook=warn h2=error"),
        ("0", "app=off app::db=off tokio=off tokio_util=off tokio::net=off web=off webhook=off h2=error"),
        ("1", "app=error app::db=error tokio=error tokio_util=error tokio::net=error web=error webhook=error h2=error"),
        ("3", "app=info app::db=info tokio=info tokio_util=info tokio::net=info web=info webhook=info h2=error"),
        ("5", "app=trace app::db=trace tokio=trace tokio_util=trace tokio::net=trace web=trace webhook=trace h2=error"),
        // TARGET=LEVEL: the target and everything it prefixes; nothing else
        // without a default level.
        ("app=debug", "app=debug app::db=debug tokio=off tokio_util=off tokio::net=off web=off webhook=off h2=error"),
        ("info,app::db=trace", "app=info app::db=trace tokio=info tokio_util=info tokio::net=info web=info webhook=info h2=error"),
        // TARGET alone means trace.
        ("warn,app", "app=trace app::db=trace tokio=warn tokio_util=warn tokio::net=warn web=warn webhook=warn h2=error"),
        // TARGET:LEVEL is read as TARGET=LEVEL.
        ("warn,app:debug", "app=debug app::db=debug tokio=warn tokio_util=warn tokio::net=warn web=warn webhook=warn h2=error"),
        ("warn,app::db:ERROR", "app=warn app::db=error tokio=warn tokio_util=warn tokio::net=warn web=warn webhook=warn h2=error"),
        // Targets that share a prefix, by plain prefix as tracing-subscriber
        // does; `TARGET::` is that module and its children only.
        ("info,tokio=debug", "app=info app::db=info tokio=debug tokio_util=debug tokio::net=debug web=info webhook=info h2=error"),
        ("info,tokio=debug,tokio_util=warn", "app=info app::db=info tokio=debug tokio_util=warn tokio::net=debug web=info webhook=info h2=error"),
        ("info,tokio_util=warn,tokio=debug", "app=info app::db=info tokio=debug tokio_util=warn tokio::net=debug web=info webhook=info h2=error"),
        ("info,tokio::=trace", "app=info app::db=info tokio=trace tokio_util=info tokio::net=trace web=info webhook=info h2=error"),
        ("info,web=error", "app=info app::db=info tokio=info tokio_util=info tokio::net=info web=error webhook=error h2=error"),
        ("info,web::=error", "app=info app::db=info tokio=info tokio_util=info tokio::net=info web=error webhook=info h2=error"),
        // A longer target beats a shorter one, whatever the order.
        ("app::db=error,app=trace", "app=trace app::db=error tokio=off tokio_util=off tokio::net=off web=off webhook=off h2=error"),
        // Duplicate targets: the later wins; so does the later default.
        ("info,web=debug,web=warn", "app=info app::db=info tokio=info tokio_util=info tokio::net=info web=warn webhook=warn h2=error"),
        ("info,web=warn,web=debug", "app=info app::db=info tokio=info tokio_util=info tokio::net=info web=debug webhook=debug h2=error"),
        ("trace,error", "app=error app::db=error tokio=error tokio_util=error tokio::net=error web=error webhook=error h2=error"),
        // Whitespace, newlines and empty segments.
        ("  info , app = debug ", "app=debug app::db=debug tokio=info tokio_util=info tokio::net=info web=info webhook=info h2=error"),
        ("\n\twarn,\n\ttokio=trace,\n", "app=warn app::db=warn tokio=trace tokio_util=trace tokio::net=trace web=warn webhook=warn h2=error"),
        (",,info,,,web=off,", "app=info app::db=info tokio=info tokio_util=info tokio::net=info web=off webhook=off h2=error"),
        (" , , ", "app=info app::db=info tokio=info tokio_util=info tokio::net=info web=info webhook=info h2=error"),
        // The built-in `h2=error` is the lowest source: a directive for the
        // same target turns it up.
        ("info,h2=debug", "app=info app::db=info tokio=info tokio_util=info tokio::net=info web=info webhook=info h2=debug"),
        ("off,h2", "app=off app::db=off tokio=off tokio_util=off tokio::net=off web=off webhook=off h2=trace"),
        // Quoted targets.
        ("warn,\"app::db\"=debug", "app=warn app::db=debug tokio=warn tokio_util=warn tokio::net=warn web=warn webhook=warn h2=error"),
    ];
    for &(filter, want) in cases {
        assert_eq!(levels_per_target(filter), want, "filter {filter:?}");
    }
}

// ----- span directives ----------------------------------------------------

/// A request handled in spans: a health check, a request with fields, and
/// a three-deep nest.
fn requests_in_spans() {
    tracing::debug!("outside debug");
    tracing::info!("outside info");

    let health = tracing::info_span!("health");
    health.in_scope(|| {
        tracing::error!("health error");
        tracing::info!("health info");
    });

    let req = tracing::info_span!(
        "req",
        user = 42,
        name = "alice",
        ok = true,
        ratio = -1.5,
        tag = ?Some(3),
        note = %"a,b",
        path = "x]y",
        close = "}",
        pair = "k=v",
    );
    req.in_scope(|| {
        tracing::info!("req info");
        tracing::debug!("req debug");
        tracing::trace!(target: "db", "req db trace");
    });

    let top = tracing::info_span!("top");
    top.in_scope(|| {
        tracing::debug!("top debug");
        let mid = tracing::info_span!("mid", user = 7);
        mid.in_scope(|| {
            let leaf = tracing::info_span!("leaf");
            leaf.in_scope(|| {
                tracing::debug!("leaf debug");
                tracing::error!("leaf error");
            });
        });
    });
}

#[test]
fn span_directives_pick_a_level_inside_spans() {
    // One case per line reads as a table; rustfmt would split them.
    #[rustfmt::skip]
    let cases: &[(&str, &[&str])] = &[
        ("info", &["outside info", "health error", "health info", "req info", "leaf error"]),
        // [SPAN]=LEVEL, lower than the default: silences the span.
        ("info,[health]=off", &["outside info", "req info", "leaf error"]),
        ("info,[health]=error", &["outside info", "health error", "req info", "leaf error"]),
        // [SPAN]=LEVEL, higher than the default.
        ("warn,[req]=debug", &["health error", "req info", "req debug", "leaf error"]),
        ("warn,[req]=5", &["health error", "req info", "req debug", "req db trace", "leaf error"]),
        // TARGET[SPAN]=LEVEL: only that target's events inside the span.
        ("warn,db[req]=trace", &["health error", "req db trace", "leaf error"]),
        ("warn,other[req]=trace", &["health error", "leaf error"]),
        // [SPAN{FIELD}]: the callsite declares the field.
        ("warn,[req{user}]=debug", &["health error", "req info", "req debug", "leaf error"]),
        ("warn,[req{missing}]=debug", &["health error", "leaf error"]),
        // [SPAN{FIELD=VALUE,...}]: every value must match, typed as in JSON.
        ("warn,[req{user=42}]=debug", &["health error", "req info", "req debug", "leaf error"]),
        ("warn,[req{user=43}]=debug", &["health error", "leaf error"]),
        ("warn,[req{user=42,name=alice}]=debug", &["health error", "req info", "req debug", "leaf error"]),
        ("warn,[req{user=42,name=bob}]=debug", &["health error", "leaf error"]),
        ("warn,[req{ok=true,ratio=-1.5,tag=Some(3)}]=debug", &["health error", "req info", "req debug", "leaf error"]),
        // A quoted value matches strings only; `user` is an integer.
        ("warn,[req{user=\"42\"}]=debug", &["health error", "leaf error"]),
        ("warn,[req{name=\"alice\"}]=debug", &["health error", "req info", "req debug", "leaf error"]),
        // `%` values are text and match as strings.
        ("warn,[req{note=\"a,b\"}]=debug", &["health error", "req info", "req debug", "leaf error"]),
        // Quotes around values holding , ] } and =.
        ("warn,[req{path=\"x]y\"}]=debug", &["health error", "req info", "req debug", "leaf error"]),
        ("warn,[req{close=\"}\"}]=debug", &["health error", "req info", "req debug", "leaf error"]),
        ("warn,[req{pair=\"k=v\"}]=debug", &["health error", "req info", "req debug", "leaf error"]),
        ("warn,[req{pair=\"k=w\"}]=debug", &["health error", "leaf error"]),
        // [{FIELD=VALUE}]: any span with that field value.
        ("warn,[{user=7}]=debug", &["health error", "leaf debug", "leaf error"]),
        ("warn,[{user}]=debug", &["health error", "req info", "req debug", "leaf debug", "leaf error"]),
        // Deep nesting where only the middle span matches: everything
        // inside it, and nothing in its parent.
        ("warn,[mid]=debug", &["health error", "leaf debug", "leaf error"]),
        ("info,[mid]=off", &["outside info", "health error", "health info", "req info"]),
        // More specific span directives win: more fields beat fewer.
        ("warn,[req]=debug,[req{user=42}]=error", &["health error", "leaf error"]),
        ("warn,[req{user=42}]=error,[req]=debug", &["health error", "leaf error"]),
        // A span part beats a longer target without one.
        ("warn,db=off,[req]=trace", &["health error", "req info", "req debug", "req db trace", "leaf error"]),
        // Whitespace inside a span part.
        ("warn, [ req { user = 42 , name = alice } ] = debug ", &["health error", "req info", "req debug", "leaf error"]),
    ];
    for &(filter, want) in cases {
        let got = messages(&lines_with(filter, false, requests_in_spans));
        assert_eq!(got, want, "filter {filter:?}");
    }
}

#[test]
fn values_recorded_later_take_part_in_matching() {
    let scenario = || {
        let req = tracing::info_span!("req", user = Empty);
        req.in_scope(|| tracing::debug!("before record"));
        req.record("user", 42);
        req.in_scope(|| tracing::debug!("after record 42"));
        req.record("user", 43);
        req.in_scope(|| tracing::debug!("after record 43"));

        // A child created before the record sees its parent's new value.
        let parent = tracing::info_span!("req", user = Empty);
        let child = tracing::info_span!(parent: &parent, "child");
        child.in_scope(|| tracing::debug!("child before"));
        parent.record("user", 42);
        child.in_scope(|| tracing::debug!("child after"));
    };
    let got = messages(&lines_with("info,[req{user=42}]=debug", false, scenario));
    assert_eq!(got, ["after record 42", "child after"]);
}

#[test]
fn a_tracked_span_below_the_level_still_gives_its_context() {
    // `req` is at debug, below the default `warn`, but a directive names
    // it: it is tracked, its own lines stay off, and the info event inside
    // carries its name, ids and fields.
    let scenario = || {
        let req = tracing::debug_span!("req", user = 42);
        req.in_scope(|| {
            tracing::info!("inside");
            tracing::debug!("inside debug");
        });
        drop(req);
        let other = tracing::debug_span!("other", user = 1);
        other.in_scope(|| tracing::warn!("in an untracked span"));
    };
    let lines = lines_with("warn,[req]=info", true, scenario);
    assert_eq!(messages(&lines), ["inside", "in an untracked span"]);

    let inside = &lines[0];
    assert_eq!(inside["span_name"], "req");
    assert_eq!(inside["user"], 42);
    assert_eq!(inside["span_id"].as_str().map(str::len), Some(16));
    assert_eq!(inside["trace_id"].as_str().map(str::len), Some(32));

    // `other` is below the level and named by no directive: not created,
    // so the event inside has no span data.
    assert_eq!(lines[1].get("span_name"), None);

    // With the directive at the span's level, its own lines appear too.
    let lines = lines_with("warn,[req]=debug", true, scenario);
    assert_eq!(
        messages(&lines),
        [
            "SPAN_FIRST_ENTRY",
            "inside",
            "inside debug",
            "SPAN_CLOSED",
            "in an untracked span"
        ]
    );
}

#[test]
fn bad_directive_strings_are_errors_with_their_position() {
    let level = "expected a level (off, error, warn, info, debug, trace or 0 to 5)";
    // One case per line reads as a table; rustfmt would split them.
    #[rustfmt::skip]
    let cases: Vec<(&str, usize, String)> = vec![
        // Unbalanced brackets and braces.
        ("info,my_crate[span", 18, "expected ']' to close the span name, found end of input".into()),
        ("[req=debug", 4, "expected ']' to close the span name, found '='".into()),
        ("req]=debug", 3, "expected '[', '=' or ',' after the target, found ']'".into()),
        ("[req{user=1]=debug", 11, "expected ',' or '}' after the field value, found ']'".into()),
        ("[req{user=1}=debug", 12, "expected ']' to close the span part, found '='".into()),
        ("[]=debug", 1, "expected a span name or '{' after '[', found ']'".into()),
        // Unbalanced quotes.
        ("[req{name=\"alice}]=debug", 24, "expected '\"' to close the quoted string, found end of input".into()),
        ("\"my_crate=debug", 15, "expected '\"' to close the quoted string, found end of input".into()),
        // `a=` with nothing after is an error, not a wildcard.
        ("[req{user=}]=debug", 10, "expected a value after '=', found '}'".into()),
        ("h2=", 3, "expected a level after '=', found end of input".into()),
        ("h2=,info", 3, "expected a level after '=', found ','".into()),
        // Words that are not levels.
        ("info,h2=loud", 8, format!("{level}, found \"loud\"")),
        ("h2=6", 3, format!("{level}, found \"6\"")),
        ("h2=debug extra", 9, "expected ',' after the level, found 'e'".into()),
    ];
    for (directives, offset, message) in cases {
        let error = match dynlog::Builder::new()
            .filter(directives)
            .writer(std::io::sink())
            .build()
        {
            Ok(_) => panic!("dynlog: filter {directives:?} builds"),
            Err(error) => error.to_string(),
        };
        let want = format!("filter: invalid directive at byte {offset}: {message}");
        assert_eq!(error, want, "filter {directives:?}");
    }
}

#[test]
fn a_lossy_parse_keeps_the_valid_directives() {
    let cases: &[(&str, &str, usize)] = &[
        ("info,h2=loud,tokio=debug", "info,tokio=debug", 1),
        ("[req=debug,warn", "warn", 1),
        ("a=,b=,c=warn", "c=warn", 2),
        ("\"open,info", "", 1),
    ];
    for &(directives, kept, n_errors) in cases {
        let (filter, errors) = dynlog::Filter::parse_lossy(directives);
        assert_eq!(filter.to_string(), kept, "filter {directives:?}");
        assert_eq!(errors.len(), n_errors, "filter {directives:?}: {errors:?}");
    }
}
