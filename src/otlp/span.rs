//! What the bridge keeps of a span while it is open (`SpanExtra`: the thread
//! that created it and the events inside it), and the copy handed to the
//! export thread when it closes (`FinishedSpan`).
//!
//! Both live in reused memory: a `SpanExtra` stays with its registry slot
//! and is cleared, never dropped, when the slot gets a new span; a
//! `FinishedSpan` goes back to a pool once exported. Recording an event
//! appends to byte buffers and closing a span copies into a recycled box,
//! so neither allocates once the buffers have grown.
//!
//! An event's fields are stored as `[field index: u16][tag: u8][len: u32]
//! [bytes]` entries, little-endian; the index points into the event's
//! callsite field set, whose names the export thread reads back.

use std::cell::RefCell;
use std::fmt;
use std::sync::Arc;

use tracing_core::field::{Field, Visit};
use tracing_core::{Event, Metadata};

use crate::format::escape;
use crate::registry::values::Values;
use crate::registry::{SpanContext, SpanData};

/// Most events kept per span; later ones are counted as dropped.
pub(crate) const MAX_EVENTS: usize = 128;

/// Longest event field value kept; longer ones are cut at a character
/// boundary and end with `...[truncated N bytes]`, as in lines.
pub(crate) const MAX_EVENT_VALUE: usize = 16 * 1024;

/// Bytes of event fields one span keeps; an event that does not fit is
/// counted as dropped. This bounds the memory an open span can hold.
pub(crate) const MAX_EVENT_BYTES: usize = 256 * 1024;

const ENTRY_HEADER: usize = 7;

/// The type of one stored event field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Tag {
    /// UTF-8 text (`record_str`, Debug or Display text).
    Text,
    /// 8 bytes little-endian.
    I64,
    /// 8 bytes little-endian.
    U64,
    /// 16 bytes little-endian.
    I128,
    /// 16 bytes little-endian.
    U128,
    /// 8 bytes little-endian (`f64::to_bits`).
    F64,
    /// 1 byte, 0 or 1.
    Bool,
}

impl Tag {
    fn from_u8(b: u8) -> Tag {
        match b {
            0 => Tag::Text,
            1 => Tag::I64,
            2 => Tag::U64,
            3 => Tag::I128,
            4 => Tag::U128,
            5 => Tag::F64,
            _ => Tag::Bool,
        }
    }

    fn to_u8(self) -> u8 {
        match self {
            Tag::Text => 0,
            Tag::I64 => 1,
            Tag::U64 => 2,
            Tag::I128 => 3,
            Tag::U128 => 4,
            Tag::F64 => 5,
            Tag::Bool => 6,
        }
    }
}

/// One stored event field, borrowed.
#[derive(Clone, Copy, Debug)]
pub(crate) struct EventField<'a> {
    pub(crate) index: u16,
    pub(crate) tag: Tag,
    pub(crate) bytes: &'a [u8],
}

impl EventField<'_> {
    /// The text of a `Text` field ("" for others).
    pub(crate) fn text(&self) -> &str {
        std::str::from_utf8(self.bytes).unwrap_or("")
    }
}

/// Iterates over the fields encoded in `bytes`.
pub(crate) fn decode_fields(bytes: &[u8]) -> impl Iterator<Item = EventField<'_>> {
    let mut pos = 0;
    std::iter::from_fn(move || {
        let header = bytes.get(pos..pos + ENTRY_HEADER)?;
        let index = u16::from_le_bytes([header[0], header[1]]);
        let tag = Tag::from_u8(header[2]);
        let len = u32::from_le_bytes([header[3], header[4], header[5], header[6]]) as usize;
        let value = bytes.get(pos + ENTRY_HEADER..pos + ENTRY_HEADER + len)?;
        pos += ENTRY_HEADER + len;
        Some(EventField {
            index,
            tag,
            bytes: value,
        })
    })
}

/// Where one event's fields sit in [`EventLog::bytes`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct EventHead {
    pub(crate) meta: &'static Metadata<'static>,
    /// When it happened, in nanoseconds of the process clock (`clock_ns`).
    pub(crate) time_ns: u64,
    pub(crate) start: u32,
    pub(crate) end: u32,
}

/// The events recorded inside one span.
#[derive(Default, Debug)]
pub(crate) struct EventLog {
    pub(crate) heads: Vec<EventHead>,
    pub(crate) bytes: Vec<u8>,
    /// Events not kept (over [`MAX_EVENTS`] or [`MAX_EVENT_BYTES`]).
    pub(crate) dropped: u32,
}

impl EventLog {
    /// Empties the log, keeping the buffers' capacity.
    pub(crate) fn clear(&mut self) {
        self.heads.clear();
        self.bytes.clear();
        self.dropped = 0;
    }

    /// Whether another event may be kept (its size aside).
    pub(crate) fn has_room(&self) -> bool {
        self.heads.len() < MAX_EVENTS && self.bytes.len() < MAX_EVENT_BYTES
    }

    /// Appends one event whose encoded fields are `fields`, or counts it as
    /// dropped when the span already holds its share.
    pub(crate) fn push(&mut self, meta: &'static Metadata<'static>, time_ns: u64, fields: &[u8]) {
        if self.heads.len() >= MAX_EVENTS || self.bytes.len() + fields.len() > MAX_EVENT_BYTES {
            self.dropped = self.dropped.saturating_add(1);
            return;
        }
        let start = self.bytes.len() as u32;
        self.bytes.extend_from_slice(fields);
        self.heads.push(EventHead {
            meta,
            time_ns,
            start,
            end: self.bytes.len() as u32,
        });
    }

    fn copy_from(&mut self, other: &EventLog) {
        self.heads.clear();
        self.heads.extend_from_slice(&other.heads);
        self.bytes.clear();
        self.bytes.extend_from_slice(&other.bytes);
        self.dropped = other.dropped;
    }

    /// The events in the order they happened, with their encoded fields.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&EventHead, &[u8])> {
        self.heads.iter().map(|h| {
            let fields = self
                .bytes
                .get(h.start as usize..h.end as usize)
                .unwrap_or(&[]);
            (h, fields)
        })
    }
}

/// Export-only data kept with a span, in its registry slot.
///
/// Clearing keeps the buffers' capacity; zero allocation on the event path
/// after warm-up depends on it.
#[derive(Default, Debug)]
pub(crate) struct SpanExtra {
    pub(crate) thread_id: u64,
    pub(crate) thread_name: Option<Arc<str>>,
    /// Created on one of dynlog's own threads (the exporter's): never
    /// exported, so the export machinery cannot feed itself.
    pub(crate) is_internal: bool,
    pub(crate) events: EventLog,
}

impl SpanExtra {
    /// Resets for a span created on the calling thread.
    pub(crate) fn start_on_this_thread(&mut self) {
        self.events.clear();
        self.is_internal = crate::writer::IS_DYNLOG_THREAD
            .try_with(|c| c.get())
            .unwrap_or(false);
        let (id, name) = THREAD.try_with(|t| (t.0, t.1.clone())).unwrap_or((0, None));
        self.thread_id = id;
        self.thread_name = name;
    }
}

thread_local! {
    /// The calling thread's number and name, worked out once per thread.
    static THREAD: (u64, Option<Arc<str>>) = this_thread();

    /// Where an event's fields are encoded before the span's lock is taken.
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// The number Rust gives the calling thread (the `N` of `ThreadId(N)`) and
/// its name.
fn this_thread() -> (u64, Option<Arc<str>>) {
    let thread = std::thread::current();
    let debug = format!("{:?}", thread.id());
    let id = debug
        .trim_start_matches("ThreadId(")
        .trim_end_matches(')')
        .parse()
        .unwrap_or(0);
    (id, thread.name().map(Arc::from))
}

/// Encodes `event`'s fields into this thread's scratch buffer and runs `f`
/// with them. Returns `None`, without calling `f`, when the scratch buffer
/// is busy (an event emitted from inside a field's `Debug`) or gone (thread
/// teardown).
pub(crate) fn with_encoded_fields<R>(event: &Event<'_>, f: impl FnOnce(&[u8]) -> R) -> Option<R> {
    SCRATCH
        .try_with(|cell| {
            let mut buf = cell.try_borrow_mut().ok()?;
            buf.clear();
            event.record(&mut FieldEncoder { out: &mut buf });
            Some(f(&buf))
        })
        .ok()
        .flatten()
}

/// Encodes visited fields as entries (see the module docs).
struct FieldEncoder<'a> {
    out: &'a mut Vec<u8>,
}

impl FieldEncoder<'_> {
    fn begin(&mut self, field: &Field, tag: Tag) -> usize {
        let start = self.out.len();
        self.out
            .extend_from_slice(&(field.index() as u16).to_le_bytes());
        self.out.push(tag.to_u8());
        self.out.extend_from_slice(&0u32.to_le_bytes());
        start
    }

    fn finish(&mut self, start: usize) {
        let len = (self.out.len() - start - ENTRY_HEADER) as u32;
        self.out[start + 3..start + ENTRY_HEADER].copy_from_slice(&len.to_le_bytes());
    }

    fn put(&mut self, field: &Field, tag: Tag, bytes: &[u8]) {
        let start = self.begin(field, tag);
        self.out.extend_from_slice(bytes);
        self.finish(start);
    }
}

/// Appends text up to a byte budget, counting what it cuts.
struct Limited<'a> {
    out: &'a mut Vec<u8>,
    remaining: usize,
    cut: usize,
}

impl fmt::Write for Limited<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let (head, cut) = escape::truncate_at_char_boundary(s, self.remaining);
        self.out.extend_from_slice(head.as_bytes());
        self.remaining -= head.len();
        self.cut += cut;
        Ok(())
    }
}

impl Visit for FieldEncoder<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        let start = self.begin(field, Tag::Text);
        let (head, cut) = escape::truncate_at_char_boundary(value, MAX_EVENT_VALUE);
        self.out.extend_from_slice(head.as_bytes());
        if cut > 0 {
            escape::write_truncation_marker(self.out, cut);
        }
        self.finish(start);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        use std::fmt::Write as _;
        let start = self.begin(field, Tag::Text);
        let mut w = Limited {
            out: self.out,
            remaining: MAX_EVENT_VALUE,
            cut: 0,
        };

        // A panicking Debug must not unwind through the subscriber.
        let written =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| write!(w, "{value:?}")));
        if !matches!(written, Ok(Ok(()))) {
            w.out.extend_from_slice(b"<Debug panicked>");
        }
        let cut = w.cut;
        if cut > 0 {
            escape::write_truncation_marker(self.out, cut);
        }
        self.finish(start);
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.record_debug(field, &crate::format::visit::DisplayAsDebug(value));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, Tag::I64, &value.to_le_bytes());
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, Tag::U64, &value.to_le_bytes());
    }

    fn record_i128(&mut self, field: &Field, value: i128) {
        self.put(field, Tag::I128, &value.to_le_bytes());
    }

    fn record_u128(&mut self, field: &Field, value: u128) {
        self.put(field, Tag::U128, &value.to_le_bytes());
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, Tag::F64, &value.to_bits().to_le_bytes());
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, Tag::Bool, &[value as u8]);
    }
}

/// A closed span, copied out of the registry for the export thread.
///
/// Boxes of this type circulate between the closing threads and the export
/// thread through a pool, so their buffers are reused.
pub(crate) struct FinishedSpan {
    pub(crate) meta: &'static Metadata<'static>,
    pub(crate) cx: SpanContext,
    /// Creation and close, in nanoseconds of the process clock.
    pub(crate) start_ns: u64,
    pub(crate) end_ns: u64,
    pub(crate) busy_ns: u64,
    pub(crate) saw_error: bool,
    pub(crate) values: Values,
    pub(crate) links: Vec<(u128, u64)>,
    pub(crate) thread_id: u64,
    pub(crate) thread_name: Option<Arc<str>>,
    pub(crate) events: EventLog,
}

/// Buffers larger than this are given back when a box returns to the pool,
/// so a few huge spans do not pin memory in every pooled box.
const KEEP_BYTES: usize = 64 * 1024;

impl FinishedSpan {
    pub(crate) fn new(meta: &'static Metadata<'static>) -> FinishedSpan {
        FinishedSpan {
            meta,
            cx: SpanContext::default(),
            start_ns: 0,
            end_ns: 0,
            busy_ns: 0,
            saw_error: false,
            values: Values::default(),
            links: Vec::new(),
            thread_id: 0,
            thread_name: None,
            events: EventLog::default(),
        }
    }

    /// Copies what the export needs from a span that has just closed, after
    /// `duration_ns` of which it was entered for `busy_ns`.
    pub(crate) fn fill(&mut self, data: &SpanData, busy_ns: u64, duration_ns: u64) {
        self.meta = data.meta;
        self.cx = data.cx;
        self.start_ns = data.created_ns;
        self.end_ns = data.created_ns.saturating_add(duration_ns);
        self.busy_ns = busy_ns.min(duration_ns);
        self.saw_error = data.saw_error;
        self.values.clear();
        for v in data.values.iter() {
            self.values.set(v.key, v.kind, v.bytes);
        }
        self.links.clear();
        self.links.extend_from_slice(&data.follows);
        match &data.otel {
            Some(extra) => {
                self.thread_id = extra.thread_id;
                self.thread_name.clone_from(&extra.thread_name);
                self.events.copy_from(&extra.events);
            }
            None => {
                self.thread_id = 0;
                self.thread_name = None;
                self.events.clear();
            }
        }
    }

    /// Drops buffers that grew past [`KEEP_BYTES`]; called on the export
    /// thread before the box goes back to the pool.
    pub(crate) fn trim(&mut self) {
        if self.values.raw().capacity() > KEEP_BYTES {
            self.values = Values::default();
        }
        if self.events.bytes.capacity() > KEEP_BYTES {
            self.events.bytes = Vec::new();
        }
        self.thread_name = None;
    }
}

#[cfg(all(test, not(dynlog_loom)))]
mod tests {
    use super::*;

    fn test_meta() -> &'static Metadata<'static> {
        struct Callsite;
        static CALLSITE: Callsite = Callsite;
        static META: Metadata<'static> = tracing_core::metadata! {
            name: "test",
            target: "dynlog::otlp",
            level: tracing_core::Level::INFO,
            fields: &[],
            callsite: &CALLSITE,
            kind: tracing_core::metadata::Kind::EVENT,
        };
        impl tracing_core::Callsite for Callsite {
            fn set_interest(&self, _: tracing_core::Interest) {}
            fn metadata(&self) -> &Metadata<'_> {
                &META
            }
        }
        &META
    }

    #[test]
    fn an_event_log_keeps_128_events_and_counts_the_rest() {
        let meta = test_meta();
        let mut log = EventLog::default();
        for i in 0..130u64 {
            log.push(meta, i, &i.to_le_bytes());
        }
        assert_eq!(log.heads.len(), MAX_EVENTS);
        assert_eq!(log.dropped, 2);
        let (head, bytes) = log.iter().nth(127).unwrap();
        assert_eq!(head.time_ns, 127);
        assert_eq!(bytes, &127u64.to_le_bytes());
    }

    #[test]
    fn an_event_log_stops_at_its_byte_budget() {
        let meta = test_meta();
        let mut log = EventLog::default();
        let big = vec![7u8; MAX_EVENT_BYTES / 2];
        log.push(meta, 1, &big);
        log.push(meta, 2, &big);
        log.push(meta, 3, b"x");
        assert_eq!(log.heads.len(), 2);
        assert_eq!(log.dropped, 1);
        log.clear();
        assert_eq!((log.heads.len(), log.bytes.len(), log.dropped), (0, 0, 0));
        assert!(log.bytes.capacity() >= MAX_EVENT_BYTES);
    }

    #[test]
    fn decoding_stops_at_a_cut_entry() {
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&3u16.to_le_bytes());
        bytes.push(Tag::Bool.to_u8());
        bytes.extend_from_slice(&1u32.to_le_bytes());
        bytes.push(1);
        bytes.extend_from_slice(&4u16.to_le_bytes());
        bytes.push(Tag::Text.to_u8());
        bytes.extend_from_slice(&10u32.to_le_bytes());
        bytes.extend_from_slice(b"abc");
        let fields: Vec<_> = decode_fields(&bytes)
            .map(|f| (f.index, f.tag, f.bytes.to_vec()))
            .collect();
        assert_eq!(fields, vec![(3, Tag::Bool, vec![1])]);
    }

    #[test]
    fn thread_numbers_come_from_thread_ids() {
        let (id, name) = std::thread::Builder::new()
            .name("numbered".into())
            .spawn(this_thread)
            .unwrap()
            .join()
            .unwrap();
        assert!(id > 0);
        assert_eq!(name.as_deref(), Some("numbered"));
    }
}
