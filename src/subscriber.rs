//! The `tracing_core::Subscriber`: spans in the registry, events formatted
//! on the calling thread into thread-local buffers and handed to the
//! pipeline.
//!
//! Invariants:
//! - the event path takes no lock and allocates nothing once the thread's
//!   buffers have grown, as long as its scope is unchanged: the span part of
//!   the line comes from the thread's cached `Scope`, checked against each
//!   span's `version` atomic, and rebuilt (under read locks) only when a
//!   span in it changed or the scope itself changed;
//! - a span's trace context is fixed at the first of: its first entry, the
//!   first event or child inside it, its close; after that, ids recorded on
//!   it are ignored and counted;
//! - a span closes when its last handle and its last open child are gone;
//!   closing walks up the parents iteratively, so deep nesting cannot
//!   overflow the stack.

use std::cell::RefCell;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use tracing_core::field::{Field, Visit};
use tracing_core::span::{Attributes, Current, Id, Record};
use tracing_core::{Event, Interest, Level, LevelFilter, Metadata, Subscriber};

use crate::context::ids::{random_span_id, random_trace_id};
use crate::context::{SpanId, TraceFlags, TraceId};
use crate::filter::{FieldValue, Filter};
use crate::format::scope::Scope;
use crate::format::time::TimeCache;
use crate::format::visit::{EventVisitor, FieldKeys};
use crate::format::{self, escape, number, CtxKeys, Header, Style};
use crate::registry::values::{Kind, KEY_REQUEST_ID, KEY_TRACESTATE, KEY_X_REQUEST_ID};
use crate::registry::{Registry, Slot, SpanData};
use crate::sync::Ordering;
use crate::writer::ring::Ring;
use crate::writer::{Pipeline, IS_DYNLOG_THREAD};

/// Decides the sampled flag of root spans (SPEC 7 and 8).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Sampler {
    AlwaysOn,
    AlwaysOff,
    /// Keeps a trace when its id falls under `ratio` (OpenTelemetry's
    /// trace-id-ratio rule, so every service agrees on the same trace).
    Ratio(f64),
}

impl Sampler {
    pub(crate) fn sample(&self, trace_id: u128) -> bool {
        match *self {
            Sampler::AlwaysOn => true,
            Sampler::AlwaysOff => false,
            Sampler::Ratio(r) => {
                let low = (trace_id as u64) >> 1;
                let bound = (r.clamp(0.0, 1.0) * (1u64 << 63) as f64) as u64;
                low < bound
            }
        }
    }
}

/// Where the process clock starts, so span times fit in a `u64` of
/// nanoseconds, and the wall time at that instant (for export).
pub(crate) struct ClockAnchor {
    pub(crate) instant: Instant,
    #[allow(dead_code, reason = "read by the OTLP bridge, which is being built")]
    pub(crate) wall: SystemTime,
}

pub(crate) fn anchor() -> &'static ClockAnchor {
    static ANCHOR: std::sync::OnceLock<ClockAnchor> = std::sync::OnceLock::new();
    ANCHOR.get_or_init(|| ClockAnchor {
        instant: Instant::now(),
        wall: SystemTime::now(),
    })
}

/// Nanoseconds since the anchor, from the monotonic clock.
pub(crate) fn clock_ns() -> u64 {
    anchor().instant.elapsed().as_nanos() as u64
}

/// The shared state behind a [`crate::Subscriber`].
pub(crate) struct Inner {
    pub(crate) registry: Registry,
    pub(crate) filter: Filter,
    pub(crate) pipeline: Arc<Pipeline>,
    pub(crate) style: Style,
    pub(crate) span_events: bool,
    /// Keep span timings (span events or export on).
    pub(crate) timed: bool,
    pub(crate) sampler: Sampler,
    pub(crate) span_directives: bool,
    #[cfg(feature = "otlp")]
    pub(crate) exporter: Option<crate::otlp::Exporter>,
    /// How long shutdown and exit flushes wait for a slow sink.
    pub(crate) shutdown_timeout: std::time::Duration,
}

/// Per-thread state for one pipeline.
struct ThreadState {
    pipeline_id: u64,
    ring: Arc<Ring>,
    /// Entered spans, innermost last.
    stack: Vec<Id>,
    line: Vec<u8>,
    message: Vec<u8>,
    names: Vec<&'static str>,
    time: TimeCache,
    headers: HeaderCache,
    /// The scope of the current span, cached across events.
    scope: Scope,
    /// A scratch scope for explicit parents and span lines.
    aux: Scope,
}

impl Drop for ThreadState {
    fn drop(&mut self) {
        // The writer drains what is left and recycles the ring.
        self.ring.closed.store(true, Ordering::Release);
    }
}

thread_local! {
    static STATES: RefCell<Vec<ThreadState>> = const { RefCell::new(Vec::new()) };

    /// Scratch for a parent's request ids and tracestate while a child's
    /// context is fixed; keeps its capacity, so fixing allocates nothing.
    static INHERIT_SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };

    /// Scratch for the text of a span's values while span directives are
    /// matched against them.
    static BITS_SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

impl Inner {
    /// Runs `f` with this thread's state for this pipeline. `None` when the
    /// state is unavailable (re-entered from inside formatting, or during
    /// thread teardown).
    fn with_state<R>(&self, f: impl FnOnce(&mut ThreadState) -> R) -> Option<R> {
        STATES
            .try_with(|cell| {
                let mut states = cell.try_borrow_mut().ok()?;
                let id = self.pipeline.id;
                let pos = match states.iter().position(|s| s.pipeline_id == id) {
                    Some(pos) => pos,
                    None => {
                        // Forget states of pipelines that are gone.
                        states.retain(|s| Arc::strong_count(&s.ring) > 1);
                        states.push(ThreadState {
                            pipeline_id: id,
                            ring: self.pipeline.register(),
                            stack: Vec::new(),
                            line: Vec::with_capacity(512),
                            message: Vec::with_capacity(128),
                            names: Vec::with_capacity(16),
                            time: TimeCache::default(),
                            headers: HeaderCache::default(),
                            scope: Scope::default(),
                            aux: Scope::default(),
                        });
                        states.len() - 1
                    }
                };
                Some(f(&mut states[pos]))
            })
            .ok()
            .flatten()
    }

    fn current(&self) -> Option<Id> {
        self.with_state(|st| st.stack.last().cloned()).flatten()
    }

    // ----- span lifecycle -------------------------------------------------

    pub(crate) fn new_span(&self, attrs: &Attributes<'_>) -> Id {
        let meta = attrs.metadata();
        let parent = if let Some(p) = attrs.parent() {
            Some(p.clone())
        } else if attrs.is_contextual() {
            self.current()
        } else {
            None
        };

        // The parent's context is fixed by its first child; the child holds
        // a reference on it.
        let parent = parent.filter(|p| self.registry.clone_ref(p));
        if let Some(p) = &parent {
            if let Some(slot) = self.registry.get(p) {
                self.fix_context(slot);
            }
        }
        let now = if self.timed { clock_ns() } else { 0 };
        let limit = self.style.value_limit;
        let mut invalid = 0;
        let inserted = self.registry.insert(|data| {
            data.reset(meta);
            // Without span directives every span has lines of its own; with
            // them, `update_enabled` decides below.
            data.enabled = !self.span_directives;
            data.parent = parent.clone();
            data.created_ns = now;
            data.cx.span_id = random_span_id().to_u64();
            let mut rec = SpanRecorder {
                data,
                limit,
                invalid: 0,
                late: 0,
            };
            attrs.record(&mut rec);
            invalid = rec.invalid;
            #[cfg(feature = "otlp")]
            if let Some(exporter) = &self.exporter {
                exporter.span_created(data);
            }
        });
        let Some((id, slot)) = inserted else {
            // The slab is full (about 16.8 million live spans): count it as
            // abandoned.
            if let Some(p) = parent {
                self.release(p);
            }
            return Id::from_u64(u64::MAX);
        };
        if invalid > 0 {
            self.pipeline
                .counters
                .invalid_ids
                .fetch_add(invalid as u64, Ordering::Relaxed);
        }
        if self.span_directives {
            self.update_enabled(slot, parent.as_ref());
        }
        id
    }

    /// Recomputes the span's filter bits and whether it has lines of its own.
    fn update_enabled(&self, slot: &Slot, parent: Option<&Id>) {
        if !self.span_directives {
            slot.data.write().enabled = true;
            return;
        }
        let parent_bits = parent.map_or(0, |p| self.scope_bits_of(p));
        let mut data = slot.data.write();
        let bits = self.compute_bits(&data);
        data.span_bits = bits;
        let level = self
            .filter
            .level_in_scope(data.meta.target(), bits | parent_bits);
        data.enabled = *data.meta.level() <= level;
        slot.bump_version();
    }

    fn compute_bits(&self, data: &SpanData) -> u64 {
        // The values' text goes through this thread's scratch and the
        // matching list lives on the stack (a callsite has at most 32
        // fields), so span directives cost no allocation after warm-up.
        let done = BITS_SCRATCH
            .try_with(|cell| {
                let mut text = cell.try_borrow_mut().ok()?;
                Some(self.compute_bits_with(data, &mut text))
            })
            .ok()
            .flatten();
        done.unwrap_or_else(|| self.compute_bits_with(data, &mut Vec::new()))
    }

    fn compute_bits_with(&self, data: &SpanData, text: &mut Vec<u8>) -> u64 {
        const MAX_FIELDS: usize = 32;
        text.clear();
        let mut ranges = [("", 0, 0, false); MAX_FIELDS];
        let mut n = 0;
        for (idx, field) in data.meta.fields().iter().enumerate().take(MAX_FIELDS) {
            if let Some(v) = data.values.get(idx as u16) {
                let start = text.len();
                let is_string = format::stored_text(text, &v);
                ranges[n] = (field.name(), start, text.len(), is_string);
                n += 1;
            }
        }
        let empty = FieldValue {
            name: "",
            text: "",
            is_string: false,
        };
        let mut values = [empty; MAX_FIELDS];
        for (value, &(name, start, end, is_string)) in values.iter_mut().zip(&ranges[..n]) {
            *value = FieldValue {
                name,
                text: std::str::from_utf8(&text[start..end]).unwrap_or(""),
                is_string,
            };
        }
        self.filter.span_bits(data.meta, &values[..n])
    }

    /// OR of the filter bits of `id` and its ancestors.
    fn scope_bits_of(&self, id: &Id) -> u64 {
        let mut bits = 0;
        let mut next = Some(id.clone());
        while let Some(id) = next {
            let Some(slot) = self.registry.get(&id) else {
                break;
            };
            let data = slot.data.read();
            bits |= data.span_bits;
            next = data.parent.clone();
        }
        bits
    }

    pub(crate) fn record(&self, id: &Id, values: &Record<'_>) {
        let Some(slot) = self.registry.get(id) else {
            return;
        };
        let (invalid, late, parent) = {
            let mut data = slot.data.write();
            let mut rec = SpanRecorder {
                data: &mut data,
                limit: self.style.value_limit,
                invalid: 0,
                late: 0,
            };
            values.record(&mut rec);
            let out = (rec.invalid, rec.late, data.parent.clone());
            slot.bump_version();
            out
        };
        let c = &self.pipeline.counters;
        if invalid > 0 {
            c.invalid_ids.fetch_add(invalid as u64, Ordering::Relaxed);
        }
        if late > 0 {
            c.context_late.fetch_add(late as u64, Ordering::Relaxed);
        }
        if self.span_directives {
            self.update_enabled(slot, parent.as_ref());
        }
    }

    pub(crate) fn record_follows_from(&self, id: &Id, follows: &Id) {
        #[cfg(feature = "otlp")]
        if let Some(exporter) = &self.exporter {
            let link = match self.registry.get(follows) {
                Some(other) => {
                    self.fix_context(other);
                    let d = other.data.read();
                    Some((d.cx.trace_id, d.cx.span_id))
                }
                // The followed span has closed; the exporter remembers it.
                None => exporter.closed_link(follows),
            };
            if let (Some(link), Some(slot)) = (link, self.registry.get(id)) {
                slot.data.write().follows.push(link);
            }
        }
        let _ = (id, follows);
    }

    pub(crate) fn enter(&self, id: &Id) {
        let Some(slot) = self.registry.get(id) else {
            return;
        };
        self.with_state(|st| st.stack.push(id.clone()));
        let first = !slot.entered_once.load(Ordering::Relaxed)
            && !slot.entered_once.swap(true, Ordering::AcqRel);
        if first {
            self.fix_context(slot);
        }
        if self.timed {
            let now = clock_ns();
            let mut data = slot.data.write();
            if data.entered == 0 {
                data.busy_since_ns = now;
            }
            data.entered += 1;
        }
        if first && self.span_events && slot.data.read().enabled {
            self.span_line(id, slot, "SPAN_FIRST_ENTRY", None);
        }
    }

    pub(crate) fn exit(&self, id: &Id) {
        self.with_state(|st| {
            if let Some(pos) = st.stack.iter().rposition(|s| s == id) {
                st.stack.remove(pos);
            }
        });
        if self.timed {
            if let Some(slot) = self.registry.get(id) {
                let now = clock_ns();
                let mut data = slot.data.write();
                if data.entered > 0 {
                    data.entered -= 1;
                    if data.entered == 0 {
                        data.busy_ns += now.saturating_sub(data.busy_since_ns);
                    }
                }
            }
        }
    }

    pub(crate) fn clone_span(&self, id: &Id) -> Id {
        self.registry.clone_ref(id);
        id.clone()
    }

    pub(crate) fn try_close(&self, id: Id) -> bool {
        if !self.registry.drop_ref(&id) {
            return false;
        }
        self.close_chain(id);
        true
    }

    /// Drops a reference held by a child; closes the span if it was last.
    fn release(&self, id: Id) {
        if self.registry.drop_ref(&id) {
            self.close_chain(id);
        }
    }

    /// Closes `id` (its last reference is gone) and every ancestor whose
    /// last reference was this chain.
    fn close_chain(&self, mut id: Id) {
        loop {
            let Some(slot) = self.registry.get(&id) else {
                return;
            };
            let parent = self.close_one(&id, slot);
            self.registry.free(&id);
            match parent {
                Some(p) if self.registry.drop_ref(&p) => id = p,
                _ => return,
            }
        }
    }

    fn close_one(&self, id: &Id, slot: &Slot) -> Option<Id> {
        let export = self.exports();
        if !self.span_events && !export {
            // No line and no export: only the parent is needed.
            return slot.data.write().parent.take();
        }
        let (enabled, timings) = {
            let mut data = slot.data.write();
            let now = if self.timed { clock_ns() } else { 0 };
            if data.entered > 0 {
                data.busy_ns += now.saturating_sub(data.busy_since_ns);
                data.entered = 0;
            }
            let duration = now.saturating_sub(data.created_ns);
            (data.enabled, (data.busy_ns, duration))
        };
        if enabled && (self.span_events || export) {
            self.fix_context(slot);
        }
        if enabled && self.span_events {
            self.span_line(id, slot, "SPAN_CLOSED", Some(timings));
        }
        #[cfg(feature = "otlp")]
        if enabled && export {
            if let Some(exporter) = &self.exporter {
                let data = slot.data.read();
                exporter.span_closed(id, &data, timings, &self.pipeline.counters);
            }
        }
        let mut data = slot.data.write();
        data.parent.take()
    }

    fn exports(&self) -> bool {
        #[cfg(feature = "otlp")]
        {
            self.exporter.is_some()
        }
        #[cfg(not(feature = "otlp"))]
        {
            false
        }
    }

    // ----- trace context ----------------------------------------------------

    /// Fixes the span's context if it is not yet: explicit ids from its
    /// fields, else its parent's trace, else a new trace.
    pub(crate) fn fix_context(&self, slot: &Slot) {
        let parent = {
            let data = slot.data.read();
            if data.cx.fixed {
                return;
            }
            data.parent.clone()
        };

        // The parent first (it is fixed by its first child anyway).
        let pslot = parent.as_ref().and_then(|p| self.registry.get(p));
        if let Some(pslot) = pslot {
            self.fix_context(pslot);
        }

        // The parent's strings are copied through this thread's scratch,
        // so fixing a context allocates nothing after warm-up.
        let done = INHERIT_SCRATCH
            .try_with(|cell| {
                let mut buf = cell.try_borrow_mut().ok()?;
                self.fix_context_from(slot, pslot, &mut buf);
                Some(())
            })
            .ok()
            .flatten();
        if done.is_none() {
            self.fix_context_from(slot, pslot, &mut Vec::new());
        }
    }

    /// The second half of `fix_context`, once the parent (if any) is fixed;
    /// `buf` is scratch space for the parent's strings.
    fn fix_context_from(&self, slot: &Slot, pslot: Option<&Slot>, buf: &mut Vec<u8>) {
        const INHERITED: [u16; 3] = [KEY_X_REQUEST_ID, KEY_REQUEST_ID, KEY_TRACESTATE];
        buf.clear();
        let inherited = pslot.map(|pslot| {
            let pd = pslot.data.read();
            let mut ranges = [None; 3];
            for (range, key) in ranges.iter_mut().zip(INHERITED) {
                if let Some(v) = pd.values.get(key) {
                    let start = buf.len();
                    buf.extend_from_slice(v.bytes);
                    *range = Some((start, buf.len()));
                }
            }
            (pd.cx, ranges)
        });
        let mut data = slot.data.write();
        if data.cx.fixed {
            return;
        }
        let cx = &mut data.cx;
        if cx.has_field_trace_id {
            // The fields' ids stand; a parent_id field makes it remote.
            cx.remote_parent = cx.parent_id != 0;
            if !cx.has_field_flags {
                cx.flags = self.sampler.sample(cx.trace_id) as u8;
            }
        } else if let Some((pcx, _)) = &inherited {
            cx.trace_id = pcx.trace_id;
            cx.parent_id = pcx.span_id;
            if !cx.has_field_flags {
                cx.flags = pcx.flags;
            }
        } else {
            // A parent_id field without a trace_id is ignored.
            cx.trace_id = random_trace_id().to_u128();
            cx.parent_id = 0;
            if !cx.has_field_flags {
                cx.flags = self.sampler.sample(cx.trace_id) as u8;
            }
        }
        cx.fixed = true;
        if let Some((_, ranges)) = inherited {
            // Request ids and tracestate follow the parent unless set here.
            for (range, key) in ranges.into_iter().zip(INHERITED) {
                if let Some((start, end)) = range {
                    let joins_other_trace = key == KEY_TRACESTATE && data.cx.has_field_trace_id;
                    if data.values.get(key).is_none() && !joins_other_trace {
                        data.values.set(key, Kind::Str, &buf[start..end]);
                    }
                }
            }
        }
        slot.bump_version();
    }

    pub(crate) fn context_of(&self, id: &Id) -> Option<crate::TraceContext> {
        let slot = self.registry.get(id)?;
        self.fix_context(slot);
        let d = slot.data.read();
        let text = |key| {
            d.values
                .get(key)
                .map(|v| std::sync::Arc::<str>::from(v.text()))
        };
        let mut cx = crate::TraceContext::new(
            TraceId::from_u128(d.cx.trace_id)?,
            SpanId::from_u64(d.cx.span_id)?,
            SpanId::from_u64(d.cx.parent_id),
            TraceFlags::from_bits(d.cx.flags),
        );
        cx.set_tracestate(
            d.values
                .get(KEY_TRACESTATE)
                .and_then(|v| crate::propagation::TraceState::parse(v.text()).ok()),
        );
        cx.set_x_request_id(text(KEY_X_REQUEST_ID));
        cx.set_request_id(text(KEY_REQUEST_ID));
        Some(cx)
    }

    pub(crate) fn current_context(&self) -> Option<crate::TraceContext> {
        let id = self.current()?;
        self.context_of(&id)
    }

    // ----- lines --------------------------------------------------------------

    /// Brings `scope` up to date for `leaf`; returns false if it cannot.
    fn refresh_scope(&self, scope: &mut Scope, leaf: Option<&Id>) {
        let Some(leaf) = leaf else {
            if scope.leaf != 0 {
                scope.clear();
            }
            return;
        };
        if scope.leaf == leaf.into_u64() && self.scope_is_current(scope) {
            return;
        }
        self.build_scope(scope, leaf);
    }

    fn scope_is_current(&self, scope: &Scope) -> bool {
        scope.chain.iter().all(|&(idx, gen, version)| {
            self.registry
                .get_raw(idx, gen)
                // Acquire pairs with the Release in `Slot::bump_version`.
                .is_some_and(|s| s.version.load(Ordering::Acquire) == version)
        })
    }

    fn build_scope(&self, scope: &mut Scope, leaf: &Id) {
        scope.clear();
        let json = self.style.json;
        if let Some(slot) = self.registry.get(leaf) {
            self.fix_context(slot);
        }
        let mut next = Some(leaf.clone());
        let mut first = true;
        while let Some(id) = next {
            let Some(slot) = self.registry.get(&id) else {
                break;
            };
            let data = slot.data.read();
            let raw = id.into_u64();
            scope.chain.push((
                (raw as u32) - 1,
                (raw >> 32) as u32,
                slot.version.load(Ordering::Acquire),
            ));
            if first {
                scope.set_leaf(json, data.meta.name(), &data.cx, &data.values);
                first = false;
            }
            scope.add_span(json, data.meta, &data.values);
            scope.bits |= data.span_bits;
            next = data.parent.clone();
        }
        scope.finish_names(self.style.ansi);
        scope.leaf = leaf.into_u64();
    }

    pub(crate) fn event(&self, event: &Event<'_>) {
        if IS_DYNLOG_THREAD.with(|c| c.get()) {
            return;
        }
        let done = self.with_state(|st| {
            let leaf = if let Some(p) = event.parent() {
                Some(p.clone())
            } else if event.is_contextual() {
                st.stack.last().cloned()
            } else {
                None
            };
            let explicit = event.parent().is_some();
            let scope = if explicit { &mut st.aux } else { &mut st.scope };
            self.refresh_scope(scope, leaf.as_ref());
            let bits = scope.bits;
            let meta = event.metadata();
            let pass = !self.span_directives
                || *meta.level() <= self.filter.level_in_scope(meta.target(), bits);
            if pass {
                self.note_error(meta, leaf.as_ref());
                format_event(&self.style, st, explicit, event);
                self.pipeline.submit(&st.ring, &st.line);
                #[cfg(feature = "otlp")]
                if let (Some(exporter), Some(leaf)) = (&self.exporter, &leaf) {
                    if let Some(slot) = self.registry.get(leaf) {
                        exporter.record_event(slot, event);
                    }
                }
            }
        });
        if done.is_none() {
            self.event_slow(event);
        }
    }

    fn note_error(&self, meta: &Metadata<'_>, leaf: Option<&Id>) {
        if *meta.level() == Level::ERROR && self.exports() {
            if let Some(slot) = leaf.and_then(|l| self.registry.get(l)) {
                slot.data.write().saw_error = true;
            }
        }
    }

    /// An event emitted while this thread's state is busy (from inside a
    /// Debug impl being formatted) or gone (thread teardown): formatted in
    /// fresh buffers and written synchronously.
    #[cold]
    fn event_slow(&self, event: &Event<'_>) {
        let mut owned = OwnedScratch::default();
        let mut scope = Scope::default();
        if let Some(p) = event.parent() {
            self.build_scope(&mut scope, p);
        }
        let mut line = Vec::new();
        format_event_into(&self.style, &mut owned.parts(), &mut line, &scope, event);
        self.pipeline.write_direct(&line);
    }

    /// Formats a record that did not come through `tracing` (the `log`
    /// bridge, `log_external`) like a native event in the current span.
    pub(crate) fn external(
        &self,
        level: Level,
        target: &str,
        file: Option<&str>,
        line: Option<u32>,
        message: &dyn std::fmt::Debug,
    ) {
        if IS_DYNLOG_THREAD.with(|c| c.get()) {
            return;
        }
        let header = Header {
            level: &level,
            file,
            line,
            target,
        };
        let json = self.style.json;
        let limit = self.style.value_limit;
        let write_message = |v: &mut EventVisitor<'_>| {
            v.write_message(|out| format::write_debug_value(out, json, message, limit));
        };
        let done = self.with_state(|st| {
            let leaf = st.stack.last().cloned();
            let mut scope = std::mem::take(&mut st.scope);
            self.refresh_scope(&mut scope, leaf.as_ref());
            let pass = level <= self.filter.level_in_scope(target, scope.bits);
            if pass {
                let mut sc = Scratch {
                    time: &mut st.time,
                    message: &mut st.message,
                    names: &mut st.names,
                };
                st.line.clear();
                format_record_into(
                    &self.style,
                    &mut sc,
                    &mut st.line,
                    &scope,
                    &header,
                    None,
                    write_message,
                );
                self.pipeline.submit(&st.ring, &st.line);
            }
            st.scope = scope;
        });
        if done.is_none() {
            let pass = level <= self.filter.level_in_scope(target, 0);
            if pass {
                let mut owned = OwnedScratch::default();
                let mut line = Vec::new();
                format_record_into(
                    &self.style,
                    &mut owned.parts(),
                    &mut line,
                    &Scope::default(),
                    &header,
                    None,
                    write_message,
                );
                self.pipeline.write_direct(&line);
            }
        }
    }

    /// Whether a record of `level` from `target` could pass (the static
    /// part; span directives are checked per record).
    #[cfg(feature = "log")]
    pub(crate) fn log_enabled(&self, level: Level, target: &str) -> bool {
        if self.span_directives {
            return true;
        }
        level <= self.filter.level_in_scope(target, 0)
    }

    /// The most verbose level anything can pass.
    pub(crate) fn max_level(&self) -> Option<LevelFilter> {
        if self.span_directives {
            return Some(LevelFilter::TRACE);
        }
        Some(self.filter.max_level_hint())
    }

    /// Writes a `SPAN_FIRST_ENTRY` or `SPAN_CLOSED` line for `id`.
    fn span_line(&self, id: &Id, slot: &Slot, message: &str, timings: Option<(u64, u64)>) {
        let meta = slot.data.read().meta;
        let written = self.with_state(|st| {
            self.build_scope(&mut st.aux, id);
            format_span_line(&self.style, st, meta, message, timings);
            self.pipeline.submit(&st.ring, &st.line);
        });
        if written.is_none() {
            let mut scope = Scope::default();
            self.build_scope(&mut scope, id);
            let mut time = TimeCache::default();
            let mut line = Vec::new();
            let h = header_of(meta);
            write_span_line_into(
                &self.style,
                &mut time,
                &mut line,
                &scope,
                &h,
                message,
                timings,
            );
            self.pipeline.write_direct(&line);
        }
    }
}

/// A callsite's parts from the thread's `HeaderCache`.
struct Cached<'a> {
    /// The JSON header after the time (JSON only).
    json_rest: Option<&'a [u8]>,
    keys: &'a FieldKeys,
}

/// The buffers a line is formatted with, borrowed from the thread's state
/// (or from an `OwnedScratch` on the slow paths), so nothing is moved per
/// event.
struct Scratch<'a> {
    time: &'a mut TimeCache,
    message: &'a mut Vec<u8>,
    names: &'a mut Vec<&'static str>,
}

/// Fresh buffers for the slow paths, where the thread's are unavailable.
#[derive(Default)]
struct OwnedScratch {
    time: TimeCache,
    message: Vec<u8>,
    names: Vec<&'static str>,
}

impl OwnedScratch {
    fn parts(&mut self) -> Scratch<'_> {
        Scratch {
            time: &mut self.time,
            message: &mut self.message,
            names: &mut self.names,
        }
    }
}

/// Each callsite's JSON header after the time (`","level":...,"message":`)
/// and the keys of its fields, rendered once per thread, so its file,
/// target and field names are not escaped for every event. Direct-mapped on
/// the metadata's address: two callsites that share an entry re-render it
/// in turn, into the same buffers.
#[derive(Default)]
struct HeaderCache {
    entries: Vec<(usize, Vec<u8>, FieldKeys)>,
}

impl HeaderCache {
    const ENTRIES: usize = 64;

    fn get(&mut self, meta: &'static Metadata<'static>, json: bool) -> (&[u8], &FieldKeys) {
        if self.entries.is_empty() {
            self.entries.resize_with(Self::ENTRIES, Default::default);
        }
        let addr = meta as *const Metadata<'static> as usize;
        // The top six bits of a Fibonacci hash of the address.
        let idx = addr.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (usize::BITS - 6);
        let (key, rest, keys) = &mut self.entries[idx];
        if *key != addr {
            rest.clear();
            if json {
                format::write_json_header_rest(rest, &header_of(meta));
            }
            keys.render(json, meta.fields());
            *key = addr;
        }
        (rest, keys)
    }
}

fn header_of<'a>(meta: &'a Metadata<'a>) -> Header<'a> {
    Header {
        level: meta.level(),
        file: meta.file(),
        line: meta.line(),
        target: meta.target(),
    }
}

fn format_event(style: &Style, st: &mut ThreadState, explicit: bool, event: &Event<'_>) {
    // Disjoint borrows of the thread's state: the scope stays in place.
    let ThreadState {
        line,
        message,
        names,
        time,
        headers,
        scope,
        aux,
        ..
    } = st;
    let scope = if explicit { &*aux } else { &*scope };
    line.clear();
    let meta = event.metadata();
    let (rest, keys) = headers.get(meta, style.json);
    let cached = Cached {
        json_rest: style.json.then_some(rest),
        keys,
    };
    let mut sc = Scratch {
        time,
        message,
        names,
    };
    format_record_into(
        style,
        &mut sc,
        line,
        scope,
        &header_of(meta),
        Some(cached),
        |v| event.record(v),
    );
}

fn format_event_into(
    style: &Style,
    sc: &mut Scratch<'_>,
    line: &mut Vec<u8>,
    scope: &Scope,
    event: &Event<'_>,
) {
    format_record_into(
        style,
        sc,
        line,
        scope,
        &header_of(event.metadata()),
        None,
        |v| event.record(v),
    );
}

/// Formats one line: the header, then whatever `record` visits (the
/// message and fields), then the scope's span data, with the callsite's
/// parts from the cache when the caller has them.
fn format_record_into(
    style: &Style,
    sc: &mut Scratch<'_>,
    line: &mut Vec<u8>,
    scope: &Scope,
    header: &Header<'_>,
    cached: Option<Cached<'_>>,
    record: impl FnOnce(&mut EventVisitor<'_>),
) {
    let json_rest = cached.as_ref().and_then(|c| c.json_rest);
    let keys = cached.map(|c| c.keys);
    sc.message.clear();
    sc.names.clear();
    match json_rest {
        Some(rest) => {
            format::write_json_time(line, style, sc.time, std::time::SystemTime::now());
            line.extend_from_slice(rest);
        }
        None => write_header(style, sc.time, line, header, scope),
    }
    let mut visitor = EventVisitor {
        json: style.json,
        limit: style.value_limit,
        cx: scope.cx,
        message_at: line.len(),
        out: line,
        message: sc.message,
        message_in_place: false,
        names: sc.names,
        names_mask: 0,
        keys,
    };
    record(&mut visitor);
    let mask = visitor.names_mask;
    visitor.finish();
    line.extend_from_slice(&scope.ctx);
    scope.write_fields(line, sc.names, mask);
    if style.json {
        line.push(b'}');
    }
    line.push(b'\n');
}

fn write_header(
    style: &Style,
    time: &mut TimeCache,
    line: &mut Vec<u8>,
    h: &Header<'_>,
    scope: &Scope,
) {
    format::write_header(line, style, time, h, &scope.names);
}

/// Formats a span line into the thread's line buffer, with the span data
/// of the scope built in the thread's `aux`.
fn format_span_line(
    style: &Style,
    st: &mut ThreadState,
    meta: &'static Metadata<'static>,
    message: &str,
    timings: Option<(u64, u64)>,
) {
    let ThreadState {
        line,
        time,
        headers,
        aux: scope,
        ..
    } = st;
    line.clear();
    if style.json {
        // The span's callsite header from the thread's cache, as for events.
        let (rest, _) = headers.get(meta, true);
        format::write_json_time(line, style, time, SystemTime::now());
        line.extend_from_slice(rest);
    } else {
        write_header(style, time, line, &header_of(meta), scope);
    }
    write_span_line_body(style, line, scope, message, timings);
}

fn write_span_line_into(
    style: &Style,
    time: &mut TimeCache,
    line: &mut Vec<u8>,
    scope: &Scope,
    h: &Header<'_>,
    message: &str,
    timings: Option<(u64, u64)>,
) {
    write_header(style, time, line, h, scope);
    write_span_line_body(style, line, scope, message, timings);
}

/// A span line after its header: the message, the timings and the span
/// data.
fn write_span_line_body(
    style: &Style,
    line: &mut Vec<u8>,
    scope: &Scope,
    message: &str,
    timings: Option<(u64, u64)>,
) {
    if style.json {
        escape::json_str(line, message);
    } else {
        line.push(b' ');
        line.extend_from_slice(message.as_bytes());
    }
    let mut taken: [&'static str; 3] = ["", "", ""];
    let mut mask = 0;
    if let Some((busy_ns, duration_ns)) = timings {
        let duration_us = duration_ns / 1000;
        let busy_us = (busy_ns / 1000).min(duration_us);
        let idle_us = duration_us - busy_us;
        for (i, (name, v)) in [
            ("time.busy_us", busy_us),
            ("time.idle_us", idle_us),
            ("time.duration_us", duration_us),
        ]
        .into_iter()
        .enumerate()
        {
            format::write_key(line, style.json, name, CtxKeys::default());
            number::write_u64(line, v);
            taken[i] = name;
            mask |= format::name_bit(name);
        }
    }
    line.extend_from_slice(&scope.ctx);
    scope.write_fields(line, &taken, mask);
    if style.json {
        line.push(b'}');
    }
    line.push(b'\n');
}

/// Stores a span's field values and takes its context fields (SPEC 7).
struct SpanRecorder<'a> {
    data: &'a mut SpanData,
    limit: usize,
    invalid: u32,
    late: u32,
}

const KEY_SCRATCH: u16 = 0xFFFE;

impl SpanRecorder<'_> {
    /// Handles a context field given as text; returns false for other fields.
    fn context_text(&mut self, name: &str, text: &str) -> bool {
        let key = match name {
            "trace_id" | "span_id" | "parent_id" | "trace_flags" | "tracestate" => None,
            "x_request_id" => Some(KEY_X_REQUEST_ID),
            "request_id" => Some(KEY_REQUEST_ID),
            _ => return false,
        };
        let text = text.trim();
        if text.is_empty() {
            return true;
        }
        if self.data.cx.fixed {
            self.late += 1;
            return true;
        }
        if let Some(key) = key {
            match crate::propagation::check_request_id(text) {
                crate::propagation::RequestId::Valid(id) => {
                    self.data.values.set(key, Kind::Str, id.as_bytes())
                }
                crate::propagation::RequestId::Invalid => self.invalid += 1,
                crate::propagation::RequestId::Absent => {}
            }
            return true;
        }
        let cx = &mut self.data.cx;
        let ok = match name {
            "trace_id" => TraceId::from_hex(text).map(|t| {
                cx.trace_id = t.to_u128();
                cx.has_field_trace_id = true;
            }),
            "span_id" => SpanId::from_hex(text).map(|s| cx.span_id = s.to_u64()),
            "parent_id" => SpanId::from_hex(text).map(|s| cx.parent_id = s.to_u64()),
            "trace_flags" => TraceFlags::from_hex(text).map(|f| {
                cx.flags = f.bits();
                cx.has_field_flags = true;
            }),
            _ => crate::propagation::TraceState::parse(text).ok().map(|ts| {
                self.data
                    .values
                    .set(KEY_TRACESTATE, Kind::Str, ts.as_str().as_bytes())
            }),
        };
        if ok.is_none() {
            self.invalid += 1;
        }
        true
    }

    fn is_context(name: &str) -> bool {
        matches!(
            name,
            "trace_id"
                | "span_id"
                | "parent_id"
                | "trace_flags"
                | "tracestate"
                | "x_request_id"
                | "request_id"
        )
    }

    fn set(&mut self, field: &Field, kind: Kind, bytes: &[u8]) {
        if Self::is_context(field.name()) {
            // Context fields are text; a number there is not an id.
            self.invalid += 1;
            return;
        }
        self.data.values.set(field.index() as u16, kind, bytes);
    }
}

/// Appends Debug text unescaped (escaping happens when it is written out),
/// up to a byte budget.
struct RawText<'a> {
    out: &'a mut Vec<u8>,
    remaining: usize,
    cut: usize,
}

impl std::fmt::Write for RawText<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let (head, cut) = escape::truncate_at_char_boundary(s, self.remaining);
        self.out.extend_from_slice(head.as_bytes());
        self.remaining -= head.len();
        self.cut += cut;

        // Once something is cut, nothing later may follow it: the value
        // must stay a prefix of the text.
        if cut > 0 {
            self.remaining = 0;
        }
        Ok(())
    }
}

impl Visit for SpanRecorder<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if self.context_text(field.name(), value) {
            return;
        }
        let (head, cut) = escape::truncate_at_char_boundary(value, self.limit);
        if cut == 0 {
            self.data
                .values
                .set(field.index() as u16, Kind::Str, value.as_bytes());
        } else {
            let start = self.data.values.begin(field.index() as u16, Kind::Str);
            let raw = self.data.values.raw();
            raw.extend_from_slice(head.as_bytes());
            escape::write_truncation_marker(raw, cut);
            self.data.values.finish(start);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        use std::fmt::Write as _;
        let is_context = Self::is_context(field.name());
        let key = if is_context {
            KEY_SCRATCH
        } else {
            field.index() as u16
        };
        let start = self.data.values.begin(key, Kind::Debug);
        let mut w = RawText {
            out: self.data.values.raw(),
            remaining: if is_context { 1024 } else { self.limit },
            cut: 0,
        };
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| write!(w, "{value:?}")));
        if !matches!(r, Ok(Ok(()))) {
            w.out.extend_from_slice(b"<Debug panicked>");
        }
        let cut = w.cut;
        if cut > 0 {
            escape::write_truncation_marker(self.data.values.raw(), cut);
        }
        self.data.values.finish(start);
        if is_context {
            let text = self
                .data
                .values
                .get(KEY_SCRATCH)
                .map(|v| v.text().to_owned())
                .unwrap_or_default();
            self.data.values.remove(KEY_SCRATCH);
            self.context_text(field.name(), &text);
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.set(field, Kind::I64, &value.to_le_bytes());
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.set(field, Kind::U64, &value.to_le_bytes());
    }

    fn record_i128(&mut self, field: &Field, value: i128) {
        self.set(field, Kind::I128, &value.to_le_bytes());
    }

    fn record_u128(&mut self, field: &Field, value: u128) {
        self.set(field, Kind::U128, &value.to_le_bytes());
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.set(field, Kind::F64, &value.to_bits().to_le_bytes());
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.set(field, Kind::Bool, &[value as u8]);
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.record_debug(field, &crate::format::visit::DisplayAsDebug(value));
    }
}

/// dynlog's subscriber. Install it with [`crate::init`] or
/// [`crate::Builder::install`], or use it in a scope with
/// `tracing::subscriber::with_default` after [`crate::Builder::build`].
pub struct DynlogSubscriber {
    pub(crate) inner: Arc<Inner>,
}

impl DynlogSubscriber {
    /// The trace context of the span this thread is in, if any.
    pub fn current_context(&self) -> Option<crate::TraceContext> {
        self.inner.current_context()
    }

    /// This subscriber's counters.
    pub fn stats(&self) -> crate::Stats {
        self.inner.pipeline.counters.snapshot()
    }

    /// Spans open now, and slots the registry holds (its footprint).
    pub fn span_counts(&self) -> (usize, usize) {
        (self.inner.registry.live(), self.inner.registry.capacity())
    }
}

impl Subscriber for DynlogSubscriber {
    fn register_callsite(&self, meta: &'static Metadata<'static>) -> Interest {
        let v = self.inner.filter.callsite(meta);
        let passes = *meta.level() <= v.static_level;
        if meta.is_span() && v.tracked {
            return Interest::always();
        }
        if v.dynamic {
            return Interest::sometimes();
        }
        if passes {
            Interest::always()
        } else {
            Interest::never()
        }
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        self.inner.max_level()
    }

    fn enabled(&self, meta: &Metadata<'_>) -> bool {
        // With span directives, `event` decides exactly from the thread's
        // cached scope (no lock); asking the filter here too would only
        // repeat the target matching.
        if meta.is_event() && self.inner.span_directives {
            return true;
        }
        let v = self.inner.filter.callsite(meta);
        if meta.is_span() && v.tracked {
            return true;
        }
        if *meta.level() <= v.static_level {
            return true;
        }
        if !v.dynamic {
            return false;
        }
        // Depends on the scope: events are checked exactly in `event`; a
        // span is created when the current scope enables it.
        if meta.is_event() {
            return true;
        }
        let bits = self
            .inner
            .current()
            .map_or(0, |c| self.inner.scope_bits_of(&c));
        *meta.level() <= self.inner.filter.level_in_scope(meta.target(), bits)
    }

    fn new_span(&self, attrs: &Attributes<'_>) -> Id {
        self.inner.new_span(attrs)
    }

    fn record(&self, span: &Id, values: &Record<'_>) {
        self.inner.record(span, values)
    }

    fn record_follows_from(&self, span: &Id, follows: &Id) {
        self.inner.record_follows_from(span, follows)
    }

    fn event(&self, event: &Event<'_>) {
        self.inner.event(event)
    }

    fn enter(&self, span: &Id) {
        self.inner.enter(span)
    }

    fn exit(&self, span: &Id) {
        self.inner.exit(span)
    }

    fn clone_span(&self, id: &Id) -> Id {
        self.inner.clone_span(id)
    }

    fn try_close(&self, id: Id) -> bool {
        self.inner.try_close(id)
    }

    fn current_span(&self) -> Current {
        match self.inner.current() {
            Some(id) => match self.inner.registry.get(&id) {
                Some(slot) => Current::new(id, slot.data.read().meta),
                None => Current::none(),
            },
            None => Current::none(),
        }
    }
}
