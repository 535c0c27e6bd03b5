//! The demo service (`examples/service.rs`), run as a child process with
//! `DYN_LOGGING_JSONL=1 DYN_LOGGING_SPAN_EVENTS=1 DYN_LOG=debug`, carries
//! the trace context of real HTTP requests through every line it writes
//! (SPEC 4, 6 and 7).
//!
//! For each request the test finds the lines of its trace and checks:
//! every stderr line is one JSON object; every line of the trace carries
//! the trace id, the `x_request_id` and `tracestate` that came in the
//! headers, and one `request_id`; the spans form one tree whose root is the
//! `http-request` span, whose `parent_id` is the remote parent of the
//! `traceparent` header (or absent without one), every other span's
//! `parent_id` being a span of the same trace; every span has exactly one
//! `SPAN_CLOSED` and at most one `SPAN_FIRST_ENTRY`, and a span without
//! `SPAN_FIRST_ENTRY` has no other line; the span names, the recorded
//! fields (`status`, token counts) and the warn and error lines are the
//! expected ones. Lines outside spans are only the service's own start and
//! stop lines, so no line of a request lost its context.
//!
//! The serving test talks HTTP/1.1 through a small blocking client over
//! `std::net::TcpStream` and stops the child with SIGINT so that it
//! flushes; the driving test runs the built-in load client
//! (`--requests 100`) and checks its summary line against stderr. Every
//! wait is bounded and the child is killed when a check fails.

#![cfg(unix)]

mod support;

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use serde_json::{Map, Value};

/// One JSON line of the service's stderr.
type Line = Map<String, Value>;

/// Bounds every wait of the tests.
const TIMEOUT: Duration = Duration::from_secs(60);

/// The traces the serving test sends, W3C's own example ids.
const TRACE_A: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_A: &str = "00f067aa0ba902b7";
const TRACE_B: &str = "0af7651916cd43dd8448eb211c80319c";
const PARENT_B: &str = "b7ad6b7169203331";

/// The spans of one chat completion, sorted: the outer request, its steps,
/// the call to `/internal/prefill` and that route's own request span.
const CHAT_SPANS: [&str; 8] = [
    "call_prefill",
    "chat_completions",
    "generate",
    "http-request",
    "http-request",
    "prefill",
    "route",
    "tokenize",
];

/// The demo service running as a child; killed when dropped.
struct Service {
    child: Child,
    addr: SocketAddr,
    stderr: Option<JoinHandle<String>>,
}

impl Service {
    /// Starts `service --port 0` and reads its address from stdout.
    fn start() -> Service {
        let mut command = Command::new(support::example_binary("service"));
        support::clean_env(&mut command);
        command
            .args(["--port", "0"])
            .env("DYN_LOGGING_JSONL", "1")
            .env("DYN_LOGGING_SPAN_EVENTS", "1")
            .env("DYN_LOG", "debug")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("the service starts");
        let stderr = support::read_in_background(child.stderr.take());

        // The first stdout line names the address; the rest is drained.
        let (sender, receiver) = mpsc::channel();
        let stdout = child.stdout.take().expect("stdout is piped");
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let _ = sender.send(line.unwrap_or_default());
            }
        });
        let mut service = Service {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            stderr: Some(stderr),
        };
        let first = receiver.recv_timeout(TIMEOUT).unwrap_or_default();
        let addr = first.strip_prefix("listening on http://").map(str::parse);
        match addr {
            Some(Ok(addr)) => service.addr = addr,
            _ => panic!("expected `listening on http://ADDR` on stdout, found {first:?}"),
        }
        service
    }

    /// Interrupts the service, waits for it to exit 0, and returns its
    /// stderr.
    fn stop(mut self) -> String {
        let pid = libc::pid_t::try_from(self.child.id()).expect("a pid fits pid_t");
        // SAFETY: `kill` has no memory-safety requirement; the pid is our
        // own child, not yet reaped, so it names no other process.
        let sent = unsafe { libc::kill(pid, libc::SIGINT) };
        assert_eq!(sent, 0, "SIGINT was delivered");
        let status = support::wait_at_most(&mut self.child, TIMEOUT);
        let stderr = self.stderr.take().map(JoinHandle::join);
        let stderr = stderr.and_then(Result::ok).unwrap_or_default();
        let code = status.and_then(|status| status.code());
        assert_eq!(
            code,
            Some(0),
            "the service exits 0 on SIGINT\nstderr:\n{stderr}"
        );
        stderr
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP answer.
struct Answer {
    status: u16,
    headers: HashMap<String, String>,
}

/// Sends one HTTP/1.1 request on a fresh connection and reads the answer.
fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Answer {
    let mut stream = TcpStream::connect_timeout(&addr, TIMEOUT).expect("connects");
    stream
        .set_read_timeout(Some(TIMEOUT))
        .expect("sets a read timeout");
    stream
        .set_write_timeout(Some(TIMEOUT))
        .expect("sets a write timeout");
    let mut request = format!("{method} {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("content-type: application/json\r\n");
    request.push_str(&format!("content-length: {}\r\n\r\n{body}", body.len()));
    stream
        .write_all(request.as_bytes())
        .expect("sends the request");

    let mut answer = String::new();
    stream
        .read_to_string(&mut answer)
        .expect("reads the answer");
    let head = answer.split("\r\n\r\n").next().unwrap_or_default();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok());
    let Some(status) = status else {
        panic!("expected an HTTP status line, found {status_line:?}");
    };
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    Answer { status, headers }
}

/// A chat completion request body with `words` prompt tokens.
fn chat_body(words: usize, max_tokens: u64) -> String {
    let prompt = vec!["hello"; words].join(" ");
    let body = serde_json::json!({
        "model": "e2e-model",
        "messages": [{"role": "user", "content": prompt}],
        "max_tokens": max_tokens,
    });
    body.to_string()
}

/// Parses every stderr line as a JSON object.
fn parse_lines(stderr: &str) -> Vec<Line> {
    let mut lines = Vec::new();
    for (idx, text) in stderr.lines().enumerate() {
        match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(line)) => lines.push(line),
            _ => panic!("stderr line {} is not one JSON object: {text:?}", idx + 1),
        }
    }
    lines
}

fn text<'a>(line: &'a Line, key: &str) -> Option<&'a str> {
    line.get(key).and_then(Value::as_str)
}

fn is_hex(text: &str, len: usize) -> bool {
    text.len() == len && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Checks what holds for all lines, and returns the lines of each trace.
fn group_by_trace(lines: &[Line]) -> BTreeMap<String, Vec<&Line>> {
    let mut traces: BTreeMap<String, Vec<&Line>> = BTreeMap::new();
    for line in lines {
        match (text(line, "trace_id"), text(line, "span_id")) {
            (Some(trace_id), Some(span_id)) => {
                assert!(
                    is_hex(trace_id, 32),
                    "a trace id of 32 hex digits: {line:?}"
                );
                assert!(is_hex(span_id, 16), "a span id of 16 hex digits: {line:?}");
                traces.entry(trace_id.to_owned()).or_default().push(line);
            }
            (None, None) => {}
            _ => panic!("a line with span data has both trace_id and span_id: {line:?}"),
        }
    }
    traces
}

/// The messages of the lines of target `service` outside any span, in order.
fn service_lines_outside_spans(lines: &[Line]) -> Vec<&str> {
    lines
        .iter()
        .filter(|line| text(line, "span_id").is_none() && text(line, "target") == Some("service"))
        .filter_map(|line| text(line, "message"))
        .collect()
}

/// What one trace's lines say, once they have been checked to agree.
#[derive(Debug, PartialEq)]
struct Trace {
    /// The names of its spans, sorted.
    span_names: Vec<String>,
    /// The root span's `parent_id`: the remote parent, if one came in.
    root_parent_id: Option<String>,
    x_request_id: Option<String>,
    tracestate: Option<String>,
}

/// Checks that the lines of one trace agree on the request's context, that
/// its spans form one tree under an `http-request` root, and that span
/// events pair up; returns what they agree on.
fn check_trace(trace_id: &str, lines: &[&Line]) -> Trace {
    let first = lines[0];
    let request_id = text(first, "request_id");
    assert!(
        request_id.is_some(),
        "trace {trace_id}: a request_id: {first:?}"
    );

    // Every line carries the same request context.
    for line in lines {
        for key in ["x_request_id", "request_id", "tracestate"] {
            assert_eq!(
                line.get(key),
                first.get(key),
                "trace {trace_id}: {key} of {line:?}"
            );
        }
    }

    // Each span has one name and one parent on all of its lines.
    let mut spans: BTreeMap<&str, (&str, Option<&str>)> = BTreeMap::new();
    for line in lines {
        let span_id = text(line, "span_id").unwrap_or_default();
        let name = text(line, "span_name").unwrap_or_default();
        let seen = spans
            .entry(span_id)
            .or_insert((name, text(line, "parent_id")));
        assert_eq!(
            *seen,
            (name, text(line, "parent_id")),
            "trace {trace_id}: span {span_id}"
        );
    }

    // One root, the request span; every other parent is a span of the trace.
    let roots: Vec<(&str, Option<&str>)> = spans
        .values()
        .filter(|(_, parent_id)| !parent_id.is_some_and(|id| spans.contains_key(id)))
        .copied()
        .collect();
    assert_eq!(roots.len(), 1, "trace {trace_id}: one root span: {spans:?}");
    assert_eq!(
        roots[0].0, "http-request",
        "trace {trace_id}: the root span"
    );

    // Span events pair up: one close each, one first entry when entered.
    for span_id in spans.keys() {
        let of_span: Vec<&&Line> = lines
            .iter()
            .filter(|line| text(line, "span_id") == Some(span_id))
            .collect();
        let count = |message: &str| {
            let is_it = |line: &&&&Line| text(line, "message") == Some(message);
            of_span.iter().filter(is_it).count()
        };
        let (entries, closes) = (count("SPAN_FIRST_ENTRY"), count("SPAN_CLOSED"));
        assert_eq!(closes, 1, "trace {trace_id}: span {span_id} closes once");
        assert!(
            entries <= 1,
            "trace {trace_id}: span {span_id} is first entered once"
        );
        if entries == 0 {
            let others = of_span.len() - closes;
            assert_eq!(
                others, 0,
                "trace {trace_id}: span {span_id} logged but never entered"
            );
        }
    }

    let mut span_names: Vec<String> = spans.values().map(|(name, _)| name.to_string()).collect();
    span_names.sort();
    let owned = |key| text(first, key).map(str::to_owned);
    Trace {
        span_names,
        root_parent_id: roots[0].1.map(str::to_owned),
        x_request_id: owned("x_request_id"),
        tracestate: owned("tracestate"),
    }
}

/// The trace's lines with this message and, if given, this span name.
fn with_message<'a>(lines: &[&'a Line], message: &str, span_name: Option<&str>) -> Vec<&'a Line> {
    lines
        .iter()
        .filter(|line| text(line, "message") == Some(message))
        .filter(|line| span_name.is_none() || text(line, "span_name") == span_name)
        .copied()
        .collect()
}

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|name| name.to_string()).collect()
}

#[test]
fn every_line_of_a_served_request_carries_its_trace_context() {
    let service = Service::start();
    let addr = service.addr;

    // A: a long chat with a full incoming context.
    let traceparent_a = format!("00-{TRACE_A}-{PARENT_A}-01");
    let headers_a = [
        ("traceparent", traceparent_a.as_str()),
        ("tracestate", "congo=t61rcWkgMzE"),
        ("x-request-id", "e2e-chat-1"),
    ];
    let answer = http(
        addr,
        "POST",
        "/v1/chat/completions",
        &headers_a,
        &chat_body(60, 20),
    );
    assert_eq!(answer.status, 200);
    let echoed = answer.headers.get("traceresponse").map(String::as_str);
    assert!(
        echoed.is_some_and(|value| value.starts_with(&format!("00-{TRACE_A}-"))),
        "{echoed:?}"
    );
    assert_eq!(
        answer.headers.get("x-request-id").map(String::as_str),
        Some("e2e-chat-1")
    );

    // B: an unknown route.
    let traceparent_b = format!("00-{TRACE_B}-{PARENT_B}-01");
    let headers_b = [
        ("traceparent", traceparent_b.as_str()),
        ("x-request-id", "e2e-missing-2"),
    ];
    let answer = http(addr, "GET", "/v1/nope", &headers_b, "");
    assert_eq!(answer.status, 404);

    // C: a short chat without any context; the service starts a trace.
    let answer = http(addr, "POST", "/v1/chat/completions", &[], &chat_body(5, 8));
    assert_eq!(answer.status, 200);
    let echoed = answer
        .headers
        .get("traceresponse")
        .cloned()
        .unwrap_or_default();
    let trace_c = echoed.get(3..35).unwrap_or_default().to_owned();
    let request_id_c = answer.headers.get("request-id").cloned();

    // D: eight chats at once, each with its own context.
    let parallel: Vec<JoinHandle<u16>> = (1..=8_u64)
        .map(|k| {
            thread::spawn(move || {
                let traceparent = format!("00-{:032x}-{:016x}-01", 0xd000 + k, 0xe000 + k);
                let x_request_id = format!("e2e-parallel-{k}");
                let headers = [
                    ("traceparent", traceparent.as_str()),
                    ("x-request-id", &x_request_id),
                ];
                http(
                    addr,
                    "POST",
                    "/v1/chat/completions",
                    &headers,
                    &chat_body(10, 16),
                )
                .status
            })
        })
        .collect();
    for handle in parallel {
        assert_eq!(handle.join().ok(), Some(200));
    }

    let stderr = service.stop();
    let lines = parse_lines(&stderr);
    let traces = group_by_trace(&lines);
    let trace = |trace_id: &str| match traces.get(trace_id) {
        Some(lines) => lines.clone(),
        None => panic!("no line of trace {trace_id}"),
    };

    // Only the service's own start and stop lines are outside spans.
    let outside = service_lines_outside_spans(&lines);
    assert_eq!(outside, ["listening", "shutting down", "server stopped"]);
    assert_eq!(
        traces.len(),
        11,
        "traces A, B, C and eight of D: {:?}",
        traces.keys()
    );

    // A: the whole tree, with the incoming context on every line.
    let lines_a = trace(TRACE_A);
    let expected_a = Trace {
        span_names: names(&CHAT_SPANS),
        root_parent_id: Some(PARENT_A.to_owned()),
        x_request_id: Some("e2e-chat-1".to_owned()),
        tracestate: Some("congo=t61rcWkgMzE".to_owned()),
    };
    assert_eq!(check_trace(TRACE_A, &lines_a), expected_a);
    let warnings = with_message(
        &lines_a,
        "prompt is longer than the fast path",
        Some("route"),
    );
    assert_eq!(warnings.len(), 1);
    assert_eq!(text(warnings[0], "level"), Some("WARN"));
    assert_eq!(warnings[0].get("input_tokens"), Some(&Value::from(60)));
    let chat_closed = with_message(&lines_a, "SPAN_CLOSED", Some("chat_completions"));
    assert_eq!(chat_closed.len(), 1);
    assert_eq!(chat_closed[0].get("input_tokens"), Some(&Value::from(60)));
    assert_eq!(chat_closed[0].get("output_tokens"), Some(&Value::from(20)));
    assert_eq!(text(chat_closed[0], "model"), Some("e2e-model"));
    let chunks = with_message(&lines_a, "decoded chunk", Some("generate"));
    assert_eq!(chunks.len(), 3, "20 tokens in chunks of 8");
    let requests_closed = with_message(&lines_a, "SPAN_CLOSED", Some("http-request"));
    let mut closed: Vec<(Option<&str>, Option<&Value>)> = requests_closed
        .iter()
        .map(|line| (text(line, "uri"), line.get("status")))
        .collect();
    closed.sort_by_key(|(uri, _)| *uri);
    let ok = Value::from(200);
    assert_eq!(
        closed,
        [
            (Some("/internal/prefill"), Some(&ok)),
            (Some("/v1/chat/completions"), Some(&ok))
        ]
    );

    // B: one span and one error line.
    let lines_b = trace(TRACE_B);
    let expected_b = Trace {
        span_names: names(&["http-request"]),
        root_parent_id: Some(PARENT_B.to_owned()),
        x_request_id: Some("e2e-missing-2".to_owned()),
        tracestate: None,
    };
    assert_eq!(check_trace(TRACE_B, &lines_b), expected_b);
    let errors: Vec<&&Line> = lines_b
        .iter()
        .filter(|line| text(line, "level") == Some("ERROR"))
        .collect();
    assert_eq!(errors.len(), 1);
    assert_eq!(text(errors[0], "message"), Some("no route for request"));
    assert_eq!(text(errors[0], "uri"), Some("/v1/nope"));
    let closed_b = with_message(&lines_b, "SPAN_CLOSED", Some("http-request"));
    assert_eq!(closed_b[0].get("status"), Some(&Value::from(404)));

    // C: a fresh trace, rooted at the request span, with a generated
    // request id that the response echoes.
    let lines_c = trace(&trace_c);
    let expected_c = Trace {
        span_names: names(&CHAT_SPANS),
        root_parent_id: None,
        x_request_id: None,
        tracestate: None,
    };
    assert_eq!(check_trace(&trace_c, &lines_c), expected_c);
    assert_eq!(
        text(lines_c[0], "request_id").map(str::to_owned),
        request_id_c
    );
    let warnings = lines_c
        .iter()
        .filter(|line| text(line, "level") == Some("WARN"))
        .count();
    assert_eq!(warnings, 0, "a 5-token prompt takes the fast path");

    // D: no context leaked from one concurrent request to another.
    for k in 1..=8_u64 {
        let trace_id = format!("{:032x}", 0xd000 + k);
        let expected = Trace {
            span_names: names(&CHAT_SPANS),
            root_parent_id: Some(format!("{:016x}", 0xe000 + k)),
            x_request_id: Some(format!("e2e-parallel-{k}")),
            tracestate: None,
        };
        assert_eq!(check_trace(&trace_id, &trace(&trace_id)), expected);
    }
}

#[test]
fn driving_the_service_prints_a_summary_that_matches_its_stderr() {
    let mut command = Command::new(support::example_binary("service"));
    support::clean_env(&mut command);
    command
        .args(["--requests", "100", "--concurrency", "8"])
        .env("DYN_LOGGING_JSONL", "1")
        .env("DYN_LOGGING_SPAN_EVENTS", "1");
    let output = support::run_to_end(command, TIMEOUT);
    assert_eq!(output.status.code(), Some(0), "stderr:\n{}", output.stderr);

    // One summary line, whose line count is exactly what stderr holds.
    let lines = parse_lines(&output.stderr);
    let summary: Vec<&str> = output.stdout.lines().collect();
    assert_eq!(summary.len(), 1, "{summary:?}");
    let fields: Vec<(&str, &str)> = summary[0]
        .split(' ')
        .filter_map(|pair| pair.split_once('='))
        .collect();
    let keys: Vec<&str> = fields.iter().map(|(key, _)| *key).collect();
    assert_eq!(keys, ["requests", "ok", "errors", "lines", "elapsed_ms"]);
    assert_eq!(
        &fields[..3],
        [("requests", "100"), ("ok", "100"), ("errors", "0")]
    );
    assert_eq!(
        fields[3].1,
        lines.len().to_string(),
        "lines= counts every stderr line"
    );
    assert!(
        fields[4].1.parse::<u64>().is_ok(),
        "elapsed_ms is a number: {summary:?}"
    );

    // One trace per request; every 25th went to an unknown route, and every
    // second carried a traceparent, a tracestate and an x-request-id.
    let outside = service_lines_outside_spans(&lines);
    assert_eq!(outside, ["listening", "load finished"]);
    let traces = group_by_trace(&lines);
    assert_eq!(traces.len(), 100);
    let mut x_request_ids = Vec::new();
    let (mut chats, mut unknown) = (0, 0);
    for (trace_id, lines) in &traces {
        let trace = check_trace(trace_id, lines);
        match trace.span_names.len() {
            8 => chats += 1,
            1 => unknown += 1,
            _ => panic!("trace {trace_id}: unexpected spans {:?}", trace.span_names),
        }
        let has_context = trace.x_request_id.is_some();
        assert_eq!(
            trace.root_parent_id.is_some(),
            has_context,
            "trace {trace_id}"
        );
        let tracestate = has_context.then(|| "demo=client".to_owned());
        assert_eq!(trace.tracestate, tracestate, "trace {trace_id}");
        x_request_ids.extend(trace.x_request_id);
    }
    assert_eq!((chats, unknown), (96, 4));
    x_request_ids.sort();
    let expected: Vec<String> = (0..100)
        .step_by(2)
        .map(|n| format!("demo-{n:06}"))
        .collect();
    assert_eq!(x_request_ids, expected);
}
