//! The span registry: a slab of reusable slots, one per live span.
//!
//! Slots live in pages that are allocated once and never moved or freed
//! while the registry lives. The first pages double in size (64, 128, ...,
//! 4096 slots), later ones all hold 4096, so the slab grows without copying
//! and holds at most one page of unused slots beyond what it ever needed
//! (about 2 % of 100,000 spans). It holds about 16.8 million live spans at
//! most. A slot is kept small (192 bytes), since its size is most of the
//! memory per live span (SPEC 11). A span id is
//! `generation << 32 | (index + 1)`: closing a span bumps its slot's
//! generation, so a stale id never reaches the slot's next tenant.
//!
//! Free slots are kept on a lock-free stack (`free_list`). A slot's mutable
//! data sits behind its own `RwLock`, taken when a span is created,
//! recorded, entered or exited with timings, and closed, and when a thread
//! rebuilds its cached view of a scope; the event path reads only the
//! slot's `version` atomic (see `subscriber`).
//!
//! Reference counts: a span's slot is held by every `Span` handle (tracing's
//! `new_span`/`clone_span`/`try_close`) and by each of its open children, so
//! a parent closes after its children.

pub(crate) mod free_list;
pub(crate) mod values;

use std::ptr;

use parking_lot::RwLock;
use tracing_core::span::Id;
use tracing_core::Metadata;

use crate::sync::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use free_list::FreeList;
use values::Values;

/// Slots in the first page.
const FIRST_PAGE: usize = 64;

/// Pages that double in size: 64 to 4096 slots.
const RAMP_PAGES: usize = 7;

/// Slots in every page after the ramp.
const BIG_PAGE: usize = FIRST_PAGE << (RAMP_PAGES - 1);

/// Slots in the ramp's pages together.
const RAMP_SLOTS: usize = FIRST_PAGE * ((1 << RAMP_PAGES) - 1);

/// The ramp and 4096 big pages: 16,785,344 slots.
const N_PAGES: usize = RAMP_PAGES + 4096;

/// Trace context of one span; see SPEC section 7.
#[derive(Clone, Copy, Default, Debug)]
pub(crate) struct SpanContext {
    /// Until the context is fixed: a `trace_id` field's value, else 0.
    pub(crate) trace_id: u128,
    pub(crate) span_id: u64,
    /// 0 for a root span.
    pub(crate) parent_id: u64,
    pub(crate) flags: u8,
    /// The parent came from another process (a `parent_id` field).
    pub(crate) remote_parent: bool,
    pub(crate) fixed: bool,

    /// Until the context is fixed, `trace_id`, `parent_id` and `flags` hold
    /// what span fields set (0 = unset); these say which were set, so the
    /// slot needs no second copy of the ids.
    pub(crate) has_field_trace_id: bool,
    pub(crate) has_field_flags: bool,
}

/// The spans a span follows from, as (trace id, span id), for export links.
/// Boxed, since most spans have none and a slot should stay small.
#[derive(Default)]
#[allow(
    clippy::box_collection,
    reason = "one pointer in the slot instead of a three-word Vec"
)]
pub(crate) struct Follows(Option<Box<Vec<(u128, u64)>>>);

impl Follows {
    pub(crate) fn push(&mut self, link: (u128, u64)) {
        self.0.get_or_insert_with(Box::default).push(link);
    }

    /// Forgets the links, keeping the storage for the slot's next tenant.
    pub(crate) fn clear(&mut self) {
        if let Some(links) = &mut self.0 {
            links.clear();
        }
    }
}

impl std::ops::Deref for Follows {
    type Target = [(u128, u64)];

    fn deref(&self) -> &[(u128, u64)] {
        self.0.as_deref().map_or(&[], |links| links.as_slice())
    }
}

/// The mutable part of a span.
pub(crate) struct SpanData {
    pub(crate) meta: &'static Metadata<'static>,

    /// The tracked parent, which this span holds a reference on.
    pub(crate) parent: Option<Id>,
    pub(crate) values: Values,
    pub(crate) cx: SpanContext,

    /// Whether the span produces its own lines (span events) and export.
    pub(crate) enabled: bool,

    /// Which span directives this span matches (see `filter`).
    pub(crate) span_bits: u64,

    /// Timings in nanoseconds of the process clock (`clock_ns`); kept only
    /// when span events or export are on.
    pub(crate) created_ns: u64,
    pub(crate) busy_ns: u64,
    pub(crate) busy_since_ns: u64,
    pub(crate) entered: u32,

    /// An ERROR event happened inside the span (for the export status).
    pub(crate) saw_error: bool,

    /// Spans this one follows from, as (trace id, span id), for export links.
    pub(crate) follows: Follows,

    /// Export-only data (events inside the span), owned by the OTLP bridge.
    #[cfg(feature = "otlp")]
    #[allow(dead_code, reason = "filled by the OTLP bridge, which is being built")]
    pub(crate) otel: Option<Box<crate::otlp::SpanExtra>>,
}

impl SpanData {
    fn empty() -> SpanData {
        SpanData {
            meta: placeholder_meta(),
            parent: None,
            values: Values::default(),
            cx: SpanContext::default(),
            enabled: false,
            span_bits: 0,
            created_ns: 0,
            busy_ns: 0,
            busy_since_ns: 0,
            entered: 0,
            saw_error: false,
            follows: Follows::default(),
            #[cfg(feature = "otlp")]
            otel: None,
        }
    }

    /// Resets for a new tenant, keeping the buffers' capacity.
    pub(crate) fn reset(&mut self, meta: &'static Metadata<'static>) {
        self.meta = meta;
        self.parent = None;
        self.values.clear();
        self.cx = SpanContext::default();
        self.enabled = false;
        self.span_bits = 0;
        self.created_ns = 0;
        self.busy_ns = 0;
        self.busy_since_ns = 0;
        self.entered = 0;
        self.saw_error = false;
        self.follows.clear();
    }
}

fn placeholder_meta() -> &'static Metadata<'static> {
    struct Placeholder;
    static FIELDS: &[&str] = &[];
    static CALLSITE: Placeholder = Placeholder;
    static META: Metadata<'static> = tracing_core::metadata! {
        name: "dynlog-free-slot",
        target: "dynlog",
        level: tracing_core::Level::TRACE,
        fields: FIELDS,
        callsite: &CALLSITE,
        kind: tracing_core::metadata::Kind::SPAN,
    };
    impl tracing_core::Callsite for Placeholder {
        fn set_interest(&self, _: tracing_core::Interest) {}
        fn metadata(&self) -> &Metadata<'_> {
            &META
        }
    }
    &META
}

/// One span's slot.
pub(crate) struct Slot {
    /// Handles and open children holding the span; 0 when free.
    refs: AtomicUsize,
    generation: AtomicU32,
    next_free: AtomicU32,

    /// Bumped (inside the write lock) whenever data that lines show
    /// changes, so threads know their cached view is stale.
    pub(crate) version: AtomicU32,

    /// Set on the first `enter` (for `SPAN_FIRST_ENTRY`).
    pub(crate) entered_once: AtomicBool,
    pub(crate) data: RwLock<SpanData>,
}

impl Slot {
    fn new() -> Slot {
        Slot {
            refs: AtomicUsize::new(0),
            generation: AtomicU32::new(1),
            next_free: AtomicU32::new(0),
            version: AtomicU32::new(0),
            entered_once: AtomicBool::new(false),
            data: RwLock::new(SpanData::empty()),
        }
    }

    pub(crate) fn generation(&self) -> u32 {
        self.generation.load(Ordering::Acquire)
    }

    /// Marks the span's visible data as changed. Call with the write lock
    /// held, after the change.
    pub(crate) fn bump_version(&self) {
        // Release pairs with the Acquire in readers' `version` checks.
        self.version.fetch_add(1, Ordering::Release);
    }
}

/// The slab of spans.
pub(crate) struct Registry {
    pages: [std::sync::atomic::AtomicPtr<Slot>; N_PAGES],
    next_unused: AtomicU32,
    free: FreeList,
    live: AtomicUsize,
}

// SAFETY: pages are only written once (null to a leaked page, by CAS) and
// read through shared references to `Slot`, whose fields are atomics or
// behind a lock.
unsafe impl Sync for Registry {}
// SAFETY: the registry owns its pages.
unsafe impl Send for Registry {}

/// Page number and offset of slot `idx`.
fn locate(idx: u32) -> (usize, usize) {
    if idx as usize >= RAMP_SLOTS {
        let rest = idx as usize - RAMP_SLOTS;
        return (RAMP_PAGES + rest / BIG_PAGE, rest % BIG_PAGE);
    }
    let n = idx as usize / FIRST_PAGE + 1;
    let page = (usize::BITS - 1 - n.leading_zeros()) as usize;
    let page_start = FIRST_PAGE * ((1 << page) - 1);
    (page, idx as usize - page_start)
}

fn page_len(page: usize) -> usize {
    if page < RAMP_PAGES {
        FIRST_PAGE << page
    } else {
        BIG_PAGE
    }
}

impl Registry {
    pub(crate) fn new() -> Registry {
        Registry {
            pages: std::array::from_fn(|_| std::sync::atomic::AtomicPtr::new(ptr::null_mut())),
            next_unused: AtomicU32::new(0),
            free: FreeList::new(),
            live: AtomicUsize::new(0),
        }
    }

    /// Number of spans open now.
    pub(crate) fn live(&self) -> usize {
        self.live.load(Ordering::Relaxed)
    }

    /// Slots ever created (the registry's footprint).
    pub(crate) fn capacity(&self) -> usize {
        self.next_unused.load(Ordering::Relaxed) as usize
    }

    fn slot(&self, idx: u32) -> Option<&Slot> {
        let (page, offset) = locate(idx);
        if page >= N_PAGES {
            return None;
        }
        // Acquire pairs with the Release CAS in `page_or_alloc`.
        let base = self.pages[page].load(std::sync::atomic::Ordering::Acquire);
        if base.is_null() {
            return None;
        }
        // SAFETY: `base` points to a live page of `page_len(page)` slots
        // (pages are freed only in `Drop`), and `offset < page_len(page)` by
        // construction of `locate`.
        Some(unsafe { &*base.add(offset) })
    }

    fn page_or_alloc(&self, page: usize) -> Option<*mut Slot> {
        let cell = &self.pages[page];
        let base = cell.load(std::sync::atomic::Ordering::Acquire);
        if !base.is_null() {
            return Some(base);
        }
        let fresh: Box<[Slot]> = (0..page_len(page)).map(|_| Slot::new()).collect();
        let fresh = Box::into_raw(fresh) as *mut Slot;
        // Release pairs with the Acquire loads in `slot`: the page's
        // initialised slots are visible to whoever sees the pointer.
        match cell.compare_exchange(
            ptr::null_mut(),
            fresh,
            std::sync::atomic::Ordering::AcqRel,
            std::sync::atomic::Ordering::Acquire,
        ) {
            Ok(_) => Some(fresh),
            Err(existing) => {
                // SAFETY: `fresh` came from `Box::into_raw` of a slice of
                // exactly this length just above and was never shared.
                drop(unsafe {
                    Box::from_raw(ptr::slice_from_raw_parts_mut(fresh, page_len(page)))
                });
                Some(existing)
            }
        }
    }

    /// Takes a free slot, holding one reference, and returns its id.
    /// `init` fills the data (called with the write lock held).
    pub(crate) fn insert(&self, init: impl FnOnce(&mut SpanData)) -> Option<(Id, &Slot)> {
        let idx = match self
            .free
            .pop(|i| &self.slot(i).expect("free index has a slot").next_free)
        {
            Some(idx) => idx,
            None => {
                let idx = self.next_unused.fetch_add(1, Ordering::Relaxed);
                let (page, _) = locate(idx);
                if page >= N_PAGES {
                    self.next_unused.fetch_sub(1, Ordering::Relaxed);
                    return None;
                }
                self.page_or_alloc(page)?;
                idx
            }
        };
        let slot = self.slot(idx)?;
        {
            let mut data = slot.data.write();
            init(&mut data);
            slot.entered_once.store(false, Ordering::Relaxed);
            slot.bump_version();
        }
        slot.refs.store(1, Ordering::Release);
        self.live.fetch_add(1, Ordering::Relaxed);
        let id = ((slot.generation() as u64) << 32) | (idx as u64 + 1);
        Some((Id::from_u64(id), slot))
    }

    /// The slot of a live span.
    pub(crate) fn get(&self, id: &Id) -> Option<&Slot> {
        let raw = id.into_u64();
        let idx = (raw as u32).checked_sub(1)?;
        let slot = self.slot(idx)?;
        if slot.generation() != (raw >> 32) as u32 {
            return None;
        }
        Some(slot)
    }

    /// The slot at `idx` if it still holds generation `generation`.
    pub(crate) fn get_raw(&self, idx: u32, generation: u32) -> Option<&Slot> {
        let slot = self.slot(idx)?;
        (slot.generation() == generation).then_some(slot)
    }

    /// Adds a reference (a cloned handle or a new child).
    pub(crate) fn clone_ref(&self, id: &Id) -> bool {
        match self.get(id) {
            Some(slot) => {
                slot.refs.fetch_add(1, Ordering::Relaxed);
                true
            }
            None => false,
        }
    }

    /// Drops a reference; returns `true` when it was the last one, in which
    /// case the caller must finish the span and then call `free`.
    pub(crate) fn drop_ref(&self, id: &Id) -> bool {
        let Some(slot) = self.get(id) else {
            return false;
        };
        // AcqRel: the last release sees every other holder's writes.
        slot.refs.fetch_sub(1, Ordering::AcqRel) == 1
    }

    /// Returns a closed span's slot to the free list.
    pub(crate) fn free(&self, id: &Id) {
        let raw = id.into_u64();
        let idx = (raw as u32).wrapping_sub(1);
        let Some(slot) = self.slot(idx) else {
            return;
        };
        // A new generation first, so the old id stops resolving before the
        // slot can be handed out again.
        slot.generation.fetch_add(1, Ordering::AcqRel);
        if slot.generation() == 0 {
            slot.generation.store(1, Ordering::Release);
        }
        self.live.fetch_sub(1, Ordering::Relaxed);
        self.free.push(idx, |i| {
            &self.slot(i).expect("freed index has a slot").next_free
        });
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        for (page, cell) in self.pages.iter().enumerate() {
            let base = cell.load(std::sync::atomic::Ordering::Acquire);
            if !base.is_null() {
                // SAFETY: the page came from `Box::into_raw` of a slice of
                // `page_len(page)` slots in `page_or_alloc`; `&mut self`
                // means no reference into it remains.
                drop(unsafe { Box::from_raw(ptr::slice_from_raw_parts_mut(base, page_len(page))) });
            }
        }
    }
}

#[cfg(all(test, not(dynlog_loom)))]
mod tests {
    use super::*;

    #[test]
    fn locate_maps_indices_to_pages() {
        assert_eq!(locate(0), (0, 0));
        assert_eq!(locate(63), (0, 63));
        assert_eq!(locate(64), (1, 0));
        assert_eq!(locate(191), (1, 127));
        assert_eq!(locate(192), (2, 0));
        assert_eq!(locate(8127), (6, 4095));
        assert_eq!(locate(8128), (7, 0));
        assert_eq!(locate(8128 + 4096 + 5), (8, 5));
        assert_eq!(locate(u32::MAX), (1_048_581, 63));
        assert!(locate(u32::MAX).0 >= N_PAGES);
        assert_eq!(page_len(6), 4096);
        assert_eq!(page_len(7), 4096);
    }

    #[test]
    fn a_freed_slot_is_reused_with_a_new_generation() {
        let reg = Registry::new();
        let (a, _) = reg.insert(|_| {}).unwrap();
        assert!(reg.drop_ref(&a));
        reg.free(&a);
        assert!(reg.get(&a).is_none());
        let (b, _) = reg.insert(|_| {}).unwrap();
        assert_eq!(a.into_u64() as u32, b.into_u64() as u32);
        assert_ne!(a, b);
        assert!(reg.get(&b).is_some());
        assert_eq!(reg.capacity(), 1);
    }

    #[test]
    fn a_million_open_and_closed_spans_use_one_slot() {
        let reg = Registry::new();
        for _ in 0..1_000_000 {
            let (id, _) = reg.insert(|_| {}).unwrap();
            assert!(reg.drop_ref(&id));
            reg.free(&id);
        }
        assert_eq!(reg.capacity(), 1);
        assert_eq!(reg.live(), 0);
    }

    #[test]
    fn clones_keep_the_span_until_the_last_drop() {
        let reg = Registry::new();
        let (id, _) = reg.insert(|_| {}).unwrap();
        assert!(reg.clone_ref(&id));
        assert!(!reg.drop_ref(&id));
        assert!(reg.drop_ref(&id));
    }
}

#[cfg(all(test, dynlog_loom))]
mod loom_tests {
    use super::*;
    use loom::sync::Arc;

    /// Two threads close spans and open new ones at the same time: a freed
    /// slot is handed out again, never to two spans at once, its old id
    /// stops resolving before the new tenant can see it, and each tenant
    /// sees only its own data.
    #[test]
    fn slots_are_reused_and_old_ids_never_resolve() {
        loom::model(|| {
            // The registry's page table is 32 KiB, more than the stack loom
            // gives a model's first thread: run the model on a bigger one.
            big_stack(|| {
                let reg = Arc::new(Registry::new());
                let (first, _) = reg.insert(|d| d.span_bits = 1).unwrap();
                let worker = {
                    let reg = reg.clone();
                    big_stack_spawn(move || {
                        let (id, slot) = reg.insert(|d| d.span_bits = 2).unwrap();
                        assert_eq!(slot.data.read().span_bits, 2);
                        assert!(reg.drop_ref(&id));
                        reg.free(&id);
                        assert!(reg.get(&id).is_none());
                        id
                    })
                };

                // Meanwhile the first span closes and a third one opens.
                assert!(reg.drop_ref(&first));
                reg.free(&first);
                assert!(reg.get(&first).is_none());
                let (third, slot) = reg.insert(|d| d.span_bits = 3).unwrap();
                assert_eq!(slot.data.read().span_bits, 3);

                let second = worker.join().unwrap();
                assert!(reg.get(&second).is_none());
                assert!(reg.get(&first).is_none());
                assert_eq!(reg.get(&third).unwrap().data.read().span_bits, 3);
                assert_ne!(third, first);
                assert_ne!(third, second);
                assert_eq!(reg.live(), 1);
                assert!(
                    reg.capacity() <= 2,
                    "{} slots for 2 live at most",
                    reg.capacity()
                );
            });
        });
    }

    fn big_stack_spawn<T: Send + 'static>(
        f: impl FnOnce() -> T + Send + 'static,
    ) -> loom::thread::JoinHandle<T> {
        loom::thread::Builder::new()
            .stack_size(4 << 20)
            .spawn(f)
            .unwrap()
    }

    fn big_stack(f: impl FnOnce() + Send + 'static) {
        big_stack_spawn(f).join().unwrap();
    }
}
