//! The demo service: a small inference-style HTTP frontend on 127.0.0.1
//! (axum on a multi-thread tokio runtime) that logs through dynlog the way
//! a real frontend does.
//!
//! Every request gets an `http-request` span built from its headers with
//! `propagation::extract` (`traceparent`, `tracestate`, `x-request-id`,
//! `request-id`; a missing `request-id` is generated). Chat completions run
//! `#[instrument]`ed steps (`tokenize`, `route`, `generate`) on spawned tasks
//! across the worker threads, record `model`, `input_tokens`,
//! `output_tokens` and `status` later with `Span::record`, log at debug,
//! info and warn, and call the service itself (`/internal/prefill`) with the
//! context carried by `propagation::inject`. An unknown route logs an error.
//! Responses echo the context: `traceresponse`, `x-request-id`,
//! `request-id`.
//!
//! ```text
//! cargo run --release --example service                 # serve on :8080 until ^C
//! cargo run --release --example service -- --port 0     # any free port
//! cargo run --release --example service -- --requests 2000 --concurrency 32
//! ```
//!
//! Serving prints `listening on http://127.0.0.1:PORT` on stdout and stops
//! on SIGINT or SIGTERM. Driving (`--requests N`) starts the server on
//! `--port` (default 0, an ephemeral port), sends N requests from a built-in
//! client with C in flight (every second one with `traceparent`,
//! `tracestate` and `x-request-id`, every 25th to an unknown route), stops
//! the server, flushes, and prints one line on stdout:
//! `requests=N ok=N errors=0 lines=L elapsed_ms=T`, where `ok` counts
//! answers with the expected status (404 for the unknown route) and `lines`
//! is `stats().lines_written`. It exits 0 when every request got its
//! expected answer, 1 otherwise, and 2 on bad arguments.

use std::cell::Cell;
use std::collections::hash_map::RandomState;
use std::future::IntoFuture;
use std::hash::{BuildHasher, Hasher};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tracing::field::Empty;
use tracing::{debug, error, info, info_span, warn, Instrument, Span};

use dynlog::propagation;

const USAGE: &str = "usage: service [--port P] [--requests N [--concurrency C]]";

/// Prompts longer than this many tokens get a warning from `route`.
const FAST_PATH_TOKENS: u64 = 48;

/// Sets up logging for the whole process; the one place that names it.
fn install_logging() -> dynlog::Guard {
    dynlog::init()
}

/// Command-line options.
struct Options {
    port: Option<u16>,
    requests: Option<u64>,
    concurrency: u64,
}

fn parse_options(mut args: impl Iterator<Item = String>) -> Result<Options, String> {
    let mut options = Options {
        port: None,
        requests: None,
        concurrency: 16,
    };
    while let Some(flag) = args.next() {
        let Some(value) = args.next() else {
            return Err(format!("expected a value after {flag}, found the end"));
        };
        let number = |what| format!("expected {what} after {flag}, found {value:?}");
        match flag.as_str() {
            "--port" => options.port = Some(value.parse().map_err(|_| number("a port"))?),
            "--requests" => options.requests = Some(value.parse().map_err(|_| number("a count"))?),
            "--concurrency" => {
                let concurrency: u64 = value.parse().map_err(|_| number("a count"))?;
                options.concurrency = concurrency.max(1);
            }
            _ => {
                return Err(format!(
                    "expected --port, --requests or --concurrency, found {flag:?}"
                ))
            }
        }
    }
    Ok(options)
}

fn main() -> ExitCode {
    let options = match parse_options(std::env::args().skip(1)) {
        Ok(options) => options,
        Err(message) => {
            eprintln!("service: {message}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let guard = install_logging();

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .thread_name("service-worker")
        .enable_all()
        .build();
    let runtime = match runtime {
        Ok(runtime) => runtime,
        Err(err) => {
            error!(error = %err, "cannot start the tokio runtime");
            return ExitCode::FAILURE;
        }
    };

    // The runtime is dropped before the summary so that every span of every
    // task has closed and been logged when the lines are counted.
    let outcome = match options.requests {
        None => runtime.block_on(serve(options.port.unwrap_or(8080))),
        Some(requests) => {
            let port = options.port.unwrap_or(0);
            runtime.block_on(drive(port, requests, options.concurrency))
        }
    };
    drop(runtime);
    guard.flush();

    match outcome {
        Outcome::Served => ExitCode::SUCCESS,
        Outcome::Failed => ExitCode::FAILURE,
        Outcome::Driven(totals) => {
            let lines = dynlog::stats().lines_written;
            println!(
                "requests={} ok={} errors={} lines={lines} elapsed_ms={}",
                totals.requests, totals.ok, totals.errors, totals.elapsed_ms
            );
            if totals.errors == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

/// How a run ended.
enum Outcome {
    Served,
    Failed,
    Driven(Totals),
}

/// What the built-in client counted.
#[derive(Default)]
struct Totals {
    requests: u64,
    ok: u64,
    errors: u64,
    elapsed_ms: u128,
}

/// What every handler shares.
#[derive(Clone)]
struct AppState {
    client: reqwest::Client,
    base_url: Arc<str>,
}

async fn bind(port: u16) -> Option<(TcpListener, SocketAddr)> {
    let bound = TcpListener::bind(("127.0.0.1", port)).await;
    let listener = match bound {
        Ok(listener) => listener,
        Err(err) => {
            error!(port, error = %err, "cannot listen");
            return None;
        }
    };
    match listener.local_addr() {
        Ok(addr) => Some((listener, addr)),
        Err(err) => {
            error!(port, error = %err, "cannot read the listening address");
            None
        }
    }
}

fn app(addr: SocketAddr) -> Router {
    let state = AppState {
        client: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap_or_default(),
        base_url: format!("http://{addr}").into(),
    };
    Router::new()
        .route("/v1/chat/completions", post(chat_completions))
        .route("/internal/prefill", post(prefill))
        .route("/health", get(|| async { "ok" }))
        .fallback(unknown_route)
        .layer(middleware::from_fn(trace_requests))
        .with_state(state)
}

async fn serve(port: u16) -> Outcome {
    let Some((listener, addr)) = bind(port).await else {
        return Outcome::Failed;
    };
    println!("listening on http://{addr}");
    info!(%addr, "listening");

    let served = axum::serve(listener, app(addr))
        .with_graceful_shutdown(interrupted())
        .await;
    match served {
        Ok(()) => {
            info!("server stopped");
            Outcome::Served
        }
        Err(err) => {
            error!(error = %err, "server failed");
            Outcome::Failed
        }
    }
}

/// Resolves on SIGINT or, on Unix, SIGTERM.
async fn interrupted() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                term.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => info!(signal = "SIGINT", "shutting down"),
        () = term => info!(signal = "SIGTERM", "shutting down"),
    }
}

async fn drive(port: u16, requests: u64, concurrency: u64) -> Outcome {
    let Some((listener, addr)) = bind(port).await else {
        return Outcome::Failed;
    };
    info!(%addr, "listening");

    // Serve in the background until the client is done.
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = axum::serve(listener, app(addr)).with_graceful_shutdown(async {
        let _ = stopped.await;
    });
    let server = tokio::spawn(server.into_future());

    // Drive the load: `concurrency` tasks take request numbers in turn.
    let started = Instant::now();
    let next = Arc::new(AtomicU64::new(0));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap_or_default();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency.min(requests.max(1)) {
        let (next, client) = (Arc::clone(&next), client.clone());
        tasks.spawn(async move {
            let mut totals = Totals::default();
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= requests {
                    return totals;
                }
                totals.requests += 1;
                if send_one(&client, addr, n).await {
                    totals.ok += 1;
                } else {
                    totals.errors += 1;
                }
            }
        });
    }
    let mut totals = Totals::default();
    while let Some(joined) = tasks.join_next().await {
        let part = joined.unwrap_or_default();
        totals.requests += part.requests;
        totals.ok += part.ok;
        totals.errors += part.errors;
    }
    totals.elapsed_ms = started.elapsed().as_millis();

    // Stop the server and let it finish its connections.
    drop(client);
    let _ = stop.send(());
    match server.await {
        Ok(Ok(())) => info!(
            requests = totals.requests,
            errors = totals.errors,
            "load finished"
        ),
        Ok(Err(err)) => error!(error = %err, "server failed"),
        Err(err) => error!(error = %err, "server task failed"),
    }
    Outcome::Driven(totals)
}

/// Sends request `n` of the load and says whether it got its expected
/// status.
async fn send_one(client: &reqwest::Client, addr: SocketAddr, n: u64) -> bool {
    let is_unknown_route = n % 25 == 24;
    let (mut request, expected) = if is_unknown_route {
        let url = format!("http://{addr}/v1/unknown/{n}");
        (client.get(url), StatusCode::NOT_FOUND)
    } else {
        let words = 4 + (n * 7) % 60;
        let prompt = vec!["token"; words as usize].join(" ");
        let body = json!({
            "model": "demo-model",
            "messages": [{"role": "user", "content": prompt}],
            "max_tokens": 16 + (n % 4) * 8,
        });
        let url = format!("http://{addr}/v1/chat/completions");
        let request = client
            .post(url)
            .header(CONTENT_TYPE, "application/json")
            .body(body.to_string());
        (request, StatusCode::OK)
    };
    if n % 2 == 0 {
        let trace_id = u128::from(random_u64()) << 64 | u128::from(random_u64());
        let parent_id = random_u64().max(1);
        let traceparent = format!("00-{trace_id:032x}-{parent_id:016x}-01");
        request = request
            .header("traceparent", traceparent)
            .header("tracestate", "demo=client")
            .header("x-request-id", format!("demo-{n:06}"));
    }
    match request.send().await {
        Ok(response) => {
            let status = response.status();
            response.bytes().await.is_ok() && status == expected
        }
        Err(_) => false,
    }
}

/// Wraps every request in an `http-request` span built from its headers,
/// records the status, and logs one line when the answer is ready.
async fn trace_requests(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let span = request_span(&request);

    let mut response = next.run(request).instrument(span.clone()).await;

    let status = response.status().as_u16();
    span.record("status", status);
    span.in_scope(|| {
        echo_context(response.headers_mut());
        let elapsed_us = started.elapsed().as_micros() as u64;
        info!(status, elapsed_us, "request handled");
    });
    response
}

/// The span of one incoming request; its context comes from the headers.
fn request_span(request: &Request) -> Span {
    let headers = request.headers();
    let incoming =
        propagation::extract(|name| headers.get(name).and_then(|value| value.to_str().ok()));
    let span = info_span!(
        target: "request_span",
        "http-request",
        method = %request.method(),
        uri = %request.uri(),
        version = ?request.version(),
        trace_id = Empty,
        parent_id = Empty,
        trace_flags = Empty,
        tracestate = Empty,
        x_request_id = Empty,
        request_id = Empty,
        status = Empty,
    );

    // Context fields are recorded before the span is first entered.
    if let Some(traceparent) = &incoming.traceparent {
        span.record("trace_id", traceparent.trace_id().to_string().as_str());
        span.record("parent_id", traceparent.parent_id().to_string().as_str());
        let flags = if traceparent.flags().is_sampled() {
            "01"
        } else {
            "00"
        };
        span.record("trace_flags", flags);
    }
    if let Some(tracestate) = &incoming.tracestate {
        span.record("tracestate", tracestate.as_str());
    }
    if let Some(x_request_id) = &incoming.x_request_id {
        span.record("x_request_id", x_request_id.as_str());
    }
    let request_id = incoming.request_id.unwrap_or_else(new_request_id);
    span.record("request_id", request_id.as_str());
    if incoming.invalid > 0 {
        debug!(parent: &span, invalid = incoming.invalid, "ignored invalid trace headers");
    }
    span
}

/// Puts the current span's context on a response.
fn echo_context(headers: &mut HeaderMap) {
    propagation::inject(|name, value| {
        let name = if name == "traceparent" {
            "traceresponse"
        } else {
            name
        };
        let (Ok(name), Ok(value)) = (HeaderName::try_from(name), HeaderValue::try_from(value))
        else {
            return;
        };
        headers.insert(name, value);
    });
}

/// An error answer with a JSON body.
fn failure(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

async fn unknown_route(method: Method, uri: Uri) -> Response {
    error!(%method, %uri, "no route for request");
    failure(StatusCode::NOT_FOUND, "no such route")
}

#[tracing::instrument(skip_all, fields(model = Empty, input_tokens = Empty, output_tokens = Empty))]
async fn chat_completions(State(state): State<AppState>, Json(body): Json<Value>) -> Response {
    let span = Span::current();
    let model = body["model"].as_str().unwrap_or("default").to_owned();
    span.record("model", model.as_str());
    let prompt: Vec<&str> = body["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|message| message["content"].as_str())
        .collect();
    if prompt.is_empty() {
        warn!("request has no prompt");
        return failure(StatusCode::BAD_REQUEST, "no prompt");
    }
    let prompt = prompt.join("\n");
    let max_tokens = body["max_tokens"].as_u64().unwrap_or(16).min(512);
    debug!(chars = prompt.len(), max_tokens, "request parsed");

    // Each step runs as its own task, on whichever worker is free.
    let tokenized = tokio::spawn(tokenize(prompt).in_current_span()).await;
    let Ok(input_tokens) = tokenized else {
        return failure(StatusCode::INTERNAL_SERVER_ERROR, "tokenizer failed");
    };
    span.record("input_tokens", input_tokens);

    let Some(worker) = route(&state, input_tokens).await else {
        return failure(StatusCode::BAD_GATEWAY, "prefill failed");
    };

    let generated = tokio::spawn(generate(worker, max_tokens).in_current_span()).await;
    let Ok(output_tokens) = generated else {
        return failure(StatusCode::INTERNAL_SERVER_ERROR, "generation failed");
    };
    span.record("output_tokens", output_tokens);
    info!(input_tokens, output_tokens, "completion finished");

    let reply = json!({
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}}],
        "usage": {"prompt_tokens": input_tokens, "completion_tokens": output_tokens},
    });
    Json(reply).into_response()
}

/// Counts whitespace-separated words as tokens.
#[tracing::instrument(skip_all, fields(chars = prompt.len()))]
async fn tokenize(prompt: String) -> u64 {
    tokio::task::yield_now().await;
    let tokens = prompt.split_whitespace().count() as u64;
    debug!(tokens, "prompt tokenized");
    tokens
}

/// Picks a worker and has it prefill the prompt through the prefill route.
#[tracing::instrument(skip_all, fields(input_tokens = input_tokens, worker = Empty))]
async fn route(state: &AppState, input_tokens: u64) -> Option<u64> {
    let worker = input_tokens % 4;
    Span::current().record("worker", worker);
    if input_tokens > FAST_PATH_TOKENS {
        warn!(
            input_tokens,
            limit = FAST_PATH_TOKENS,
            "prompt is longer than the fast path"
        );
    }
    let kv_blocks = call_prefill(state, worker, input_tokens).await?;
    debug!(worker, kv_blocks, "request routed");
    Some(worker)
}

/// Calls `/internal/prefill` on this same service, carrying the context.
#[tracing::instrument(skip_all, fields(worker = worker, kv_blocks = Empty))]
async fn call_prefill(state: &AppState, worker: u64, input_tokens: u64) -> Option<u64> {
    let mut headers = HeaderMap::new();
    propagation::inject(|name, value| {
        if let (Ok(name), Ok(value)) = (HeaderName::try_from(name), HeaderValue::try_from(value)) {
            headers.insert(name, value);
        }
    });
    let body = json!({ "worker": worker, "input_tokens": input_tokens });
    let sent = state
        .client
        .post(format!("{}/internal/prefill", state.base_url))
        .headers(headers)
        .header(CONTENT_TYPE, "application/json")
        .body(body.to_string())
        .send()
        .await;
    let answer = match sent {
        Ok(response) if response.status() == StatusCode::OK => response.bytes().await,
        Ok(response) => {
            error!(
                status = response.status().as_u16(),
                "prefill refused the request"
            );
            return None;
        }
        Err(err) => {
            error!(error = %err, "prefill call failed");
            return None;
        }
    };
    let answer: Value = answer
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default();
    let kv_blocks = answer["kv_blocks"].as_u64()?;
    Span::current().record("kv_blocks", kv_blocks);
    Some(kv_blocks)
}

/// The prefill worker's side: sizes the KV cache for the prompt.
#[tracing::instrument(skip_all, fields(worker = Empty, kv_blocks = Empty))]
async fn prefill(Json(body): Json<Value>) -> Json<Value> {
    let input_tokens = body["input_tokens"].as_u64().unwrap_or(0);
    let worker = body["worker"].as_u64().unwrap_or(0);
    let kv_blocks = input_tokens.div_ceil(16);
    let span = Span::current();
    span.record("worker", worker);
    span.record("kv_blocks", kv_blocks);
    tokio::task::yield_now().await;
    debug!(input_tokens, kv_blocks, "prefill done");
    Json(json!({ "kv_blocks": kv_blocks }))
}

/// Produces `max_tokens` tokens in chunks of eight, yielding between chunks.
#[tracing::instrument(skip_all, fields(worker = worker, max_tokens = max_tokens, output_tokens = Empty))]
async fn generate(worker: u64, max_tokens: u64) -> u64 {
    let mut produced = 0;
    while produced < max_tokens {
        tokio::task::yield_now().await;
        let chunk = (max_tokens - produced).min(8);
        produced += chunk;
        debug!(chunk, produced, "decoded chunk");
    }
    Span::current().record("output_tokens", produced);
    produced
}

/// A fresh UUID-v4-shaped request id.
fn new_request_id() -> String {
    let (high, low) = (random_u64(), random_u64());
    let high = (high & !0xf000) | 0x4000;
    let low = (low & !(0b11 << 62)) | (0b10 << 62);
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        high >> 32,
        (high >> 16) & 0xffff,
        high & 0xffff,
        low >> 48,
        low & 0xffff_ffff_ffff
    )
}

/// A random number from a per-thread splitmix64 generator seeded by the
/// standard library's per-process random keys.
fn random_u64() -> u64 {
    thread_local! {
        static STATE: Cell<u64> = Cell::new(RandomState::new().build_hasher().finish());
    }
    STATE.with(|state| {
        let next = state.get().wrapping_add(0x9e37_79b9_7f4a_7c15);
        state.set(next);
        let mut z = next;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    })
}
