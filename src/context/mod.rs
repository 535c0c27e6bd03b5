//! Trace context: the ids every span carries (trace id, span id, parent
//! id, flags) and the strings it inherits (tracestate, request ids).
//!
//! A [`TraceContext`] is cheap to clone: the ids are plain numbers and the
//! strings are shared, so a child span copies its parent's without
//! allocating. New ids come from a per-thread generator that takes no lock.
//! Reading and writing headers lives in [`crate::propagation`].

mod flags;
pub(crate) mod ids;
mod rng;

use std::sync::Arc;

pub use flags::TraceFlags;
pub use ids::{SpanId, TraceId};

use crate::propagation::{self, TraceState};

/// The trace context of one span.
///
/// Get the current span's with `dynlog::current_context()`. The strings
/// (`tracestate`, `x_request_id`, `request_id`) were validated when they
/// came in, so they are safe to print and to send on.
///
/// # Examples
///
/// ```
/// use dynlog::context::TraceContext;
///
/// // Forward the context of a span to an outgoing request.
/// fn outgoing_headers(cx: &TraceContext) -> Vec<(String, String)> {
///     let mut headers = Vec::new();
///     cx.inject_into(|name, value| {
///         headers.push((name.to_owned(), value.to_owned()));
///     });
///     headers
/// }
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct TraceContext {
    trace_id: TraceId,
    span_id: SpanId,
    parent_id: Option<SpanId>,
    flags: TraceFlags,
    tracestate: Option<TraceState>,
    x_request_id: Option<Arc<str>>,
    request_id: Option<Arc<str>>,
}

impl TraceContext {
    /// A context with the given ids and no strings.
    pub(crate) fn new(
        trace_id: TraceId,
        span_id: SpanId,
        parent_id: Option<SpanId>,
        flags: TraceFlags,
    ) -> TraceContext {
        TraceContext {
            trace_id,
            span_id,
            parent_id,
            flags,
            tracestate: None,
            x_request_id: None,
            request_id: None,
        }
    }

    /// The context of a child span: same trace id, flags and strings, with
    /// this span as its parent. Does not allocate.
    #[cfg(test)]
    pub(crate) fn child(&self, span_id: SpanId) -> TraceContext {
        TraceContext {
            span_id,
            parent_id: Some(self.span_id),
            ..self.clone()
        }
    }

    /// Replaces the flags.
    #[cfg(test)]
    pub(crate) fn set_flags(&mut self, flags: TraceFlags) {
        self.flags = flags;
    }

    /// Replaces the tracestate; an empty one counts as none.
    pub(crate) fn set_tracestate(&mut self, tracestate: Option<TraceState>) {
        self.tracestate = tracestate.filter(|tracestate| !tracestate.is_empty());
    }

    /// Replaces the `x-request-id`. The caller has checked it with
    /// `propagation::check_request_id`.
    pub(crate) fn set_x_request_id(&mut self, x_request_id: Option<Arc<str>>) {
        self.x_request_id = x_request_id;
    }

    /// Replaces the `request-id`. The caller has checked it with
    /// `propagation::check_request_id`.
    pub(crate) fn set_request_id(&mut self, request_id: Option<Arc<str>>) {
        self.request_id = request_id;
    }

    /// The trace this span belongs to.
    pub fn trace_id(&self) -> TraceId {
        self.trace_id
    }

    /// This span's own id.
    pub fn span_id(&self) -> SpanId {
        self.span_id
    }

    /// The parent span's id, local or remote; `None` for a root span.
    pub fn parent_id(&self) -> Option<SpanId> {
        self.parent_id
    }

    /// The trace flags (sampled, random trace id).
    pub fn flags(&self) -> TraceFlags {
        self.flags
    }

    /// The W3C `tracestate`, canonical (members joined by `,`), if any.
    pub fn tracestate(&self) -> Option<&str> {
        self.tracestate.as_ref().map(TraceState::as_str)
    }

    /// The `x-request-id` of the request this span serves, if any.
    pub fn x_request_id(&self) -> Option<&str> {
        self.x_request_id.as_deref()
    }

    /// The `request-id` of the request this span serves, if any.
    pub fn request_id(&self) -> Option<&str> {
        self.request_id.as_deref()
    }

    /// The `traceparent` header value that makes this span the parent of
    /// the callee: `00-{trace_id}-{span_id}-{flags:02x}`.
    pub fn traceparent(&self) -> String {
        let mut out = [0u8; propagation::TRACEPARENT_LEN];
        propagation::write_traceparent(self.trace_id, self.span_id, self.flags, &mut out).to_owned()
    }

    /// Calls `set(name, value)` for each header to send on: `traceparent`,
    /// then `tracestate`, `x-request-id` and `request-id` when present.
    /// Names are lowercase. Allocates nothing itself.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::collections::HashMap;
    /// use dynlog::context::TraceContext;
    ///
    /// fn forward(cx: &TraceContext, headers: &mut HashMap<String, String>) {
    ///     cx.inject_into(|name, value| {
    ///         headers.insert(name.to_owned(), value.to_owned());
    ///     });
    /// }
    /// ```
    pub fn inject_into(&self, mut set: impl FnMut(&str, &str)) {
        let mut out = [0u8; propagation::TRACEPARENT_LEN];
        set(
            "traceparent",
            propagation::write_traceparent(self.trace_id, self.span_id, self.flags, &mut out),
        );

        if let Some(tracestate) = &self.tracestate {
            set("tracestate", tracestate.as_str());
        }
        if let Some(x_request_id) = &self.x_request_id {
            set("x-request-id", x_request_id);
        }
        if let Some(request_id) = &self.request_id {
            set("request-id", request_id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> TraceContext {
        TraceContext::new(
            TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap(),
            SpanId::from_hex("00f067aa0ba902b7").unwrap(),
            None,
            TraceFlags::SAMPLED,
        )
    }

    fn injected(cx: &TraceContext) -> Vec<(String, String)> {
        let mut headers = Vec::new();
        cx.inject_into(|name, value| headers.push((name.to_owned(), value.to_owned())));
        headers
    }

    fn pair(name: &str, value: &str) -> (String, String) {
        (name.to_owned(), value.to_owned())
    }

    #[test]
    fn accessors_and_traceparent() {
        let cx = sample();
        assert_eq!(
            cx.trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert_eq!(cx.span_id().to_string(), "00f067aa0ba902b7");
        assert_eq!(cx.parent_id(), None);
        assert_eq!(cx.flags(), TraceFlags::SAMPLED);
        assert_eq!(cx.tracestate(), None);
        assert_eq!(cx.x_request_id(), None);
        assert_eq!(cx.request_id(), None);
        assert_eq!(
            cx.traceparent(),
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        );
    }

    #[test]
    fn inject_into_writes_only_what_is_present() {
        let mut cx = sample();
        cx.set_flags(TraceFlags::NONE);
        assert_eq!(
            injected(&cx),
            [pair(
                "traceparent",
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"
            )]
        );

        cx.set_tracestate(Some(
            TraceState::parse("congo=t61rcWkgMzE, rojo=00f067aa0ba902b7").unwrap(),
        ));
        cx.set_x_request_id(Some(Arc::from("abc-1")));
        cx.set_request_id(Some(Arc::from("req-2")));
        assert_eq!(
            injected(&cx),
            [
                pair(
                    "traceparent",
                    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"
                ),
                pair("tracestate", "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"),
                pair("x-request-id", "abc-1"),
                pair("request-id", "req-2"),
            ]
        );

        cx.set_tracestate(Some(TraceState::parse(" , ").unwrap()));
        cx.set_x_request_id(None);
        assert_eq!(cx.tracestate(), None);
        assert_eq!(
            injected(&cx),
            [
                pair(
                    "traceparent",
                    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"
                ),
                pair("request-id", "req-2"),
            ]
        );
    }

    #[test]
    fn child_inherits_everything_but_its_ids() {
        let mut parent = sample();
        parent.set_tracestate(Some(TraceState::parse("a=1").unwrap()));
        parent.set_x_request_id(Some(Arc::from("x")));
        parent.set_request_id(Some(Arc::from("r")));

        let child_id = SpanId::from_u64(7).unwrap();
        let child = parent.child(child_id);
        assert_eq!(child.trace_id(), parent.trace_id());
        assert_eq!(child.span_id(), child_id);
        assert_eq!(child.parent_id(), Some(parent.span_id()));
        assert_eq!(child.flags(), TraceFlags::SAMPLED);
        assert_eq!(child.tracestate(), Some("a=1"));
        assert_eq!(child.x_request_id(), Some("x"));
        assert_eq!(child.request_id(), Some("r"));
        assert_eq!(
            child.traceparent(),
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000007-01"
        );
    }

    #[test]
    fn random_ids_make_a_valid_traceparent() {
        let cx = TraceContext::new(
            ids::random_trace_id(),
            ids::random_span_id(),
            None,
            TraceFlags::SAMPLED,
        );
        let parsed = propagation::TraceParent::parse(&cx.traceparent()).unwrap();
        assert_eq!(parsed.trace_id(), cx.trace_id());
        assert_eq!(parsed.parent_id(), cx.span_id());
        assert!(parsed.is_sampled());
    }
}
