//! The trace contexts of recently closed spans, so that `follows_from`
//! naming a span that has already closed still becomes a link.
//!
//! A closed span's `tracing` id no longer resolves in the registry (its
//! slot's generation has moved on), but it stays unique for 2^32 reuses of
//! the slot. This table remembers, per slot index (modulo its size), the
//! last span closed there: a link to a span is found as long as no other
//! span of the same index class has closed since. Fixed size, allocated once
//! when export starts; each entry has its own small lock.

use parking_lot::Mutex;
use tracing_core::span::Id;

/// Entries in the table; spans whose slot indices differ by a multiple of
/// this share an entry.
const ENTRIES: usize = 1024;

#[derive(Clone, Copy, Default)]
struct Entry {
    /// The span's `tracing` id (0 = empty).
    id: u64,
    trace_id: u128,
    span_id: u64,
}

// FIXME: a link to a closed span is lost once another span of the same
// index class has closed (when a span follows one that closed long before,
// in a process with many spans).
pub(crate) struct RecentSpans {
    entries: Box<[Mutex<Entry>]>,
}

impl RecentSpans {
    pub(crate) fn new() -> RecentSpans {
        RecentSpans {
            entries: (0..ENTRIES).map(|_| Mutex::new(Entry::default())).collect(),
        }
    }

    fn entry(&self, id: u64) -> &Mutex<Entry> {
        // The low 32 bits of an id are the slot index plus one.
        let idx = (id as u32).wrapping_sub(1) as usize % ENTRIES;
        &self.entries[idx]
    }

    /// Remembers that the span `id` with these ids has closed.
    pub(crate) fn remember(&self, id: &Id, trace_id: u128, span_id: u64) {
        let raw = id.into_u64();
        *self.entry(raw).lock() = Entry {
            id: raw,
            trace_id,
            span_id,
        };
    }

    /// The (trace id, span id) of the closed span `id`, if still known.
    pub(crate) fn find(&self, id: &Id) -> Option<(u128, u64)> {
        let raw = id.into_u64();
        let entry = *self.entry(raw).lock();
        (entry.id == raw && entry.trace_id != 0).then_some((entry.trace_id, entry.span_id))
    }
}

#[cfg(all(test, not(dynlog_loom)))]
mod tests {
    use super::*;

    #[test]
    fn a_closed_span_is_found_until_its_entry_is_reused() {
        let recent = RecentSpans::new();
        let a = Id::from_u64((1 << 32) | 5);
        assert_eq!(recent.find(&a), None);
        recent.remember(&a, 7, 8);
        assert_eq!(recent.find(&a), Some((7, 8)));

        // The same slot's next tenant has another generation.
        let b = Id::from_u64((2 << 32) | 5);
        assert_eq!(recent.find(&b), None);
        recent.remember(&b, 9, 10);
        assert_eq!(recent.find(&a), None);
        assert_eq!(recent.find(&b), Some((9, 10)));

        // Another index class is untouched.
        let c = Id::from_u64((1 << 32) | 6);
        recent.remember(&c, 11, 12);
        assert_eq!(recent.find(&b), Some((9, 10)));
    }
}
