//! A lock-free stack of free slot indices (a Treiber stack with a tag).
//!
//! The head packs a 32-bit tag and `index + 1` (0 means empty) into one
//! `AtomicU64`. Every successful push or pop bumps the tag, so a pop that
//! read a head, was delayed while the same index was popped and pushed back,
//! and then tries to swap it in, fails instead of linking a stale `next`
//! (the ABA problem). The `next` links live in the slots themselves and are
//! atomics, so reading a link of a slot that another thread just popped is a
//! harmless stale read that the tag check rejects.

use crate::sync::{AtomicU32, AtomicU64, Ordering};

pub(crate) struct FreeList {
    head: AtomicU64,
}

const EMPTY: u32 = 0;

fn pack(tag: u32, idx_plus_one: u32) -> u64 {
    ((tag as u64) << 32) | idx_plus_one as u64
}

fn unpack(head: u64) -> (u32, u32) {
    ((head >> 32) as u32, head as u32)
}

impl FreeList {
    pub(crate) fn new() -> FreeList {
        FreeList {
            head: AtomicU64::new(pack(0, EMPTY)),
        }
    }

    /// Takes a free index, if any. `next_of(i)` is slot `i`'s link.
    pub(crate) fn pop<'a>(&self, next_of: impl Fn(u32) -> &'a AtomicU32) -> Option<u32> {
        // Acquire pairs with the Release of the push that stored this head,
        // so the link read below is the one that push wrote.
        let mut head = self.head.load(Ordering::Acquire);
        loop {
            let (tag, top) = unpack(head);
            if top == EMPTY {
                return None;
            }
            let next = next_of(top - 1).load(Ordering::Relaxed);
            let new = pack(tag.wrapping_add(1), next);

            // AcqRel: Acquire as above on failure-retry paths, Release so a
            // later pop that sees our head also sees what we saw.
            match self
                .head
                .compare_exchange_weak(head, new, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return Some(top - 1),
                Err(actual) => head = actual,
            }
        }
    }

    /// Returns index `idx` to the list.
    pub(crate) fn push<'a>(&self, idx: u32, next_of: impl Fn(u32) -> &'a AtomicU32) {
        let mut head = self.head.load(Ordering::Relaxed);
        loop {
            let (tag, top) = unpack(head);
            next_of(idx).store(top, Ordering::Relaxed);
            let new = pack(tag.wrapping_add(1), idx + 1);

            // Release pairs with the Acquire in `pop`: the link stored above
            // is visible to whoever pops `idx`.
            match self
                .head
                .compare_exchange_weak(head, new, Ordering::Release, Ordering::Relaxed)
            {
                Ok(_) => return,
                Err(actual) => head = actual,
            }
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn pops_in_reverse_push_order_then_empty() {
        let links: Vec<AtomicU32> = (0..4).map(|_| AtomicU32::new(0)).collect();
        let list = FreeList::new();
        assert_eq!(list.pop(|i| &links[i as usize]), None);
        for i in [2, 0, 3] {
            list.push(i, |i| &links[i as usize]);
        }
        let popped: Vec<_> = std::iter::from_fn(|| list.pop(|i| &links[i as usize])).collect();
        assert_eq!(popped, vec![3, 0, 2]);
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use loom::sync::Arc;

    /// Two threads each pop a slot and push it back while the main thread
    /// pops too: no index is ever held by two threads at once, and every
    /// index is back in the list at the end.
    #[test]
    fn no_index_is_handed_out_twice() {
        loom::model(|| {
            let links: Arc<Vec<AtomicU32>> = Arc::new((0..3).map(|_| AtomicU32::new(0)).collect());
            let held: Arc<Vec<AtomicU32>> = Arc::new((0..3).map(|_| AtomicU32::new(0)).collect());
            let list = Arc::new(FreeList::new());
            for i in 0..3 {
                list.push(i, |i| &links[i as usize]);
            }
            let worker =
                |list: Arc<FreeList>, links: Arc<Vec<AtomicU32>>, held: Arc<Vec<AtomicU32>>| {
                    move || {
                        if let Some(i) = list.pop(|i| &links[i as usize]) {
                            assert_eq!(held[i as usize].fetch_add(1, Ordering::SeqCst), 0);
                            held[i as usize].fetch_sub(1, Ordering::SeqCst);
                            list.push(i, |i| &links[i as usize]);
                        }
                    }
                };
            let a = loom::thread::spawn(worker(list.clone(), links.clone(), held.clone()));
            let b = loom::thread::spawn(worker(list.clone(), links.clone(), held.clone()));
            worker(list.clone(), links.clone(), held.clone())();
            a.join().unwrap();
            b.join().unwrap();
            let mut all: Vec<_> = std::iter::from_fn(|| list.pop(|i| &links[i as usize])).collect();
            all.sort();
            assert_eq!(all, vec![0, 1, 2]);
        });
    }
}
