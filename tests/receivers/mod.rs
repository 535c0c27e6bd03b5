//! OTLP receivers for the export tests, all on 127.0.0.1 with a port the
//! system picks: a gRPC trace service (tonic with the opentelemetry-proto
//! server types), an HTTP/protobuf endpoint (a small HTTP/1.1 server that
//! decodes bodies with prost), a server that accepts connections and never
//! answers, and a port where nothing listens.
//!
//! Each receiver keeps what it got and can answer with an error instead.
//! Decoded spans are rendered as short strings (`describe`) so tests can
//! compare them whole. Receivers stop when dropped.

#![allow(dead_code, reason = "each test binary uses part of the receivers")]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
pub use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;

/// What a receiver got in one export call.
#[derive(Clone, Debug)]
pub struct Received {
    /// The request path (`/v1/traces`, or the gRPC method path).
    pub path: String,
    /// Request headers (gRPC metadata), names lowercase.
    pub headers: BTreeMap<String, String>,
    pub request: ExportTraceServiceRequest,
}

/// What everything a receiver got so far says.
#[derive(Clone, Default)]
pub struct Inbox {
    calls: Arc<Mutex<Vec<Received>>>,
}

impl Inbox {
    pub fn calls(&self) -> Vec<Received> {
        self.calls.lock().unwrap().clone()
    }

    /// Every span received, in the order received.
    pub fn spans(&self) -> Vec<Span> {
        self.calls()
            .into_iter()
            .flat_map(|c| c.request.resource_spans)
            .flat_map(|r| r.scope_spans)
            .flat_map(|s| s.spans)
            .collect()
    }

    /// Waits until `n` spans have arrived (or 30 s have passed).
    pub fn wait_for_spans(&self, n: usize) -> Vec<Span> {
        wait_until(Duration::from_secs(30), || self.spans().len() >= n);
        self.spans()
    }

    fn push(&self, received: Received) {
        self.calls.lock().unwrap().push(received);
    }
}

/// Polls `done` every 5 ms until it holds or `limit` passes; says which.
pub fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        thread::sleep(Duration::from_millis(5));
    }
    done()
}

/// How a receiver answers.
#[derive(Clone, Copy, Debug)]
pub enum Answer {
    Accept,
    /// gRPC: permission denied; HTTP: 400 Bad Request.
    Refuse,
}

// ----- gRPC --------------------------------------------------------------

struct Service {
    inbox: Inbox,
    answer: Answer,
}

#[tonic::async_trait]
impl TraceService for Service {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let headers = request
            .metadata()
            .clone()
            .into_headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("?").to_owned()))
            .collect();
        self.inbox.push(Received {
            path: "/opentelemetry.proto.collector.trace.v1.TraceService/Export".to_owned(),
            headers,
            request: request.into_inner(),
        });
        match self.answer {
            Answer::Accept => Ok(tonic::Response::new(ExportTraceServiceResponse {
                partial_success: None,
            })),
            Answer::Refuse => Err(tonic::Status::permission_denied("not this time")),
        }
    }
}

/// A gRPC OTLP trace receiver on its own tokio runtime.
pub struct GrpcReceiver {
    pub addr: SocketAddr,
    pub inbox: Inbox,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl GrpcReceiver {
    pub fn start(answer: Answer) -> GrpcReceiver {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("grpc-receiver")
            .enable_all()
            .build()
            .unwrap();
        let inbox = Inbox::default();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let service = Service {
            inbox: inbox.clone(),
            answer,
        };
        runtime.spawn(
            tonic::transport::Server::builder()
                .add_service(TraceServiceServer::new(service))
                .serve_with_incoming_shutdown(
                    tokio_stream::wrappers::TcpListenerStream::new(listener),
                    async {
                        let _ = stopped.await;
                    },
                ),
        );
        GrpcReceiver {
            addr,
            inbox,
            stop: Some(stop),
            runtime: Some(runtime),
        }
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for GrpcReceiver {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_timeout(Duration::from_secs(5));
        }
    }
}

// ----- HTTP --------------------------------------------------------------

/// An HTTP/1.1 OTLP receiver: decodes protobuf bodies of POSTs.
pub struct HttpReceiver {
    pub addr: SocketAddr,
    pub inbox: Inbox,
    stopping: Arc<AtomicBool>,
}

impl HttpReceiver {
    pub fn start(answer: Answer) -> HttpReceiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let inbox = Inbox::default();
        let stopping = Arc::new(AtomicBool::new(false));
        let (inbox2, stopping2) = (inbox.clone(), stopping.clone());
        thread::spawn(move || {
            for conn in listener.incoming() {
                if stopping2.load(Ordering::Acquire) {
                    return;
                }
                let Ok(conn) = conn else { continue };
                let inbox = inbox2.clone();
                thread::spawn(move || serve_http(conn, &inbox, answer));
            }
        });
        HttpReceiver {
            addr,
            inbox,
            stopping,
        }
    }

    /// The base URL (no path).
    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for HttpReceiver {
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::Release);
        let _ = TcpStream::connect(self.addr);
    }
}

/// Serves requests on one connection until the client closes it.
fn serve_http(conn: TcpStream, inbox: &Inbox, answer: Answer) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(30)));
    let mut writer = match conn.try_clone() {
        Ok(w) => w,
        Err(_) => return,
    };
    let mut reader = BufReader::new(conn);
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let path = request_line.split(' ').nth(1).unwrap_or("").to_owned();
        let mut headers = BTreeMap::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((k, v)) = line.split_once(':') {
                headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
            }
        }
        let len: usize = headers
            .get("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; len];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let request = ExportTraceServiceRequest::decode(body.as_slice()).unwrap_or_default();
        inbox.push(Received {
            path,
            headers,
            request,
        });
        let status = match answer {
            Answer::Accept => "200 OK",
            Answer::Refuse => "400 Bad Request",
        };
        let reply = format!("HTTP/1.1 {status}\r\nContent-Type: application/x-protobuf\r\nContent-Length: 0\r\n\r\n");
        if writer.write_all(reply.as_bytes()).is_err() {
            return;
        }
    }
}

// ----- silent and absent collectors --------------------------------------

/// Accepts connections, reads nothing, answers nothing.
pub struct SilentServer {
    pub addr: SocketAddr,
    pub accepted: Arc<AtomicUsize>,
    stopping: Arc<AtomicBool>,
}

impl SilentServer {
    pub fn start() -> SilentServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let stopping = Arc::new(AtomicBool::new(false));
        let (accepted2, stopping2) = (accepted.clone(), stopping.clone());
        thread::spawn(move || {
            let mut held = Vec::new();
            for conn in listener.incoming() {
                if stopping2.load(Ordering::Acquire) {
                    return;
                }
                if let Ok(conn) = conn {
                    accepted2.fetch_add(1, Ordering::AcqRel);
                    held.push(conn);
                }
            }
        });
        SilentServer {
            addr,
            accepted,
            stopping,
        }
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for SilentServer {
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::Release);
        let _ = TcpStream::connect(self.addr);
    }
}

/// A URL on 127.0.0.1 where nothing listens (a port bound, then freed).
pub fn dead_endpoint() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}")
}

// ----- describing spans --------------------------------------------------

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `key=type:value`, e.g. `count=int:42`, `name=str:x`, `ok=bool:true`.
pub fn attribute(kv: &KeyValue) -> String {
    format!("{}={}", kv.key, value(kv.value.as_ref()))
}

pub fn value(v: Option<&AnyValue>) -> String {
    match v.and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => format!("str:{s}"),
        Some(any_value::Value::IntValue(i)) => format!("int:{i}"),
        Some(any_value::Value::DoubleValue(d)) => format!("double:{d}"),
        Some(any_value::Value::BoolValue(b)) => format!("bool:{b}"),
        other => format!("other:{other:?}"),
    }
}

/// Attributes whose values change from run to run, replaced by `*`.
pub const VARYING: [&str; 3] = ["thread.id", "busy_ns", "idle_ns"];

/// One span as lines of text: everything but times, with [`VARYING`]
/// attribute values and the ids of `ids` (known ids, by name) replaced.
pub fn describe(span: &Span, ids: &[(&str, String)]) -> Vec<String> {
    let id = |bytes: &[u8]| {
        let h = hex(bytes);
        match ids.iter().find(|(_, v)| *v == h) {
            Some((name, _)) => format!("<{name}>"),
            None if h.is_empty() => "-".to_owned(),
            None => h,
        }
    };
    let mut out = vec![
        format!("name={}", span.name),
        format!(
            "trace={} span={} parent={} flags={:#x} kind={} tracestate={:?}",
            id(&span.trace_id),
            id(&span.span_id),
            id(&span.parent_span_id),
            span.flags,
            span.kind,
            span.trace_state
        ),
    ];
    let status = span.status.clone().unwrap_or_default();
    out.push(format!("status={} {:?}", status.code, status.message));
    for kv in &span.attributes {
        if VARYING.contains(&kv.key.as_str()) {
            out.push(format!("attr {}=*", kv.key));
        } else {
            out.push(format!("attr {}", attribute(kv)));
        }
    }
    for e in &span.events {
        let attrs: Vec<String> = e.attributes.iter().map(attribute).collect();
        out.push(format!("event {:?} [{}]", e.name, attrs.join(", ")));
    }
    if span.dropped_events_count > 0 {
        out.push(format!("dropped_events={}", span.dropped_events_count));
    }
    for l in &span.links {
        out.push(format!(
            "link trace={} span={} flags={:#x}",
            id(&l.trace_id),
            id(&l.span_id),
            l.flags
        ));
    }
    if span.dropped_links_count > 0 {
        out.push(format!("dropped_links={}", span.dropped_links_count));
    }
    out
}

/// The resource attributes and scope of every call, as text.
pub fn resources(calls: &[Received]) -> Vec<String> {
    let mut out = Vec::new();
    for c in calls {
        for r in &c.request.resource_spans {
            let attrs: Vec<String> = r
                .resource
                .iter()
                .flat_map(|r| r.attributes.iter())
                .map(attribute)
                .collect();
            for s in &r.scope_spans {
                let scope = s.scope.clone().unwrap_or_default();
                out.push(format!(
                    "resource [{}] scope {} {}",
                    attrs.join(", "),
                    scope.name,
                    scope.version
                ));
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// A sink the test can read back: the lines a subscriber wrote, as JSON.
#[derive(Clone, Default)]
pub struct SharedBuf(pub std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for SharedBuf {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl SharedBuf {
    /// Every line written so far, parsed as JSON.
    pub fn lines(&self) -> Vec<serde_json::Value> {
        let bytes = self.0.lock().unwrap().clone();
        String::from_utf8(bytes)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}
