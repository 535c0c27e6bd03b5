//! Memory per live span (SPEC 11): with 100,000 spans of two fields open,
//! the heap dynlog holds for them (registry pages included, counted by a
//! per-thread counting allocator on the thread that opens them) is at most
//! 256 bytes per span.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use tracing::info_span;

struct Counting;

thread_local! {
    /// Bytes allocated minus bytes freed by this thread.
    static NET: Cell<i64> = const { Cell::new(0) };
}

fn add(delta: i64) {
    // During thread teardown the counter may be gone; such bytes are not
    // the spans'.
    let _ = NET.try_with(|net| net.set(net.get() + delta));
}

// SAFETY: every call is forwarded to `System` unchanged; the counter is a
// const-initialised thread-local `Cell`, which allocates nothing.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        add(layout.size() as i64);
        // SAFETY: the caller's contract for `alloc` is passed on as is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        add(-(layout.size() as i64));
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        add(new_size as i64 - layout.size() as i64);
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const N: usize = 100_000;

#[test]
fn a_live_span_with_two_fields_takes_at_most_256_bytes() {
    let (subscriber, guard) = dynlog::Builder::new()
        .json(true)
        .filter("info")
        .writer(std::io::sink())
        .build()
        .unwrap();
    let per_span = tracing::subscriber::with_default(subscriber, || {
        let mut spans = Vec::with_capacity(N);
        let before = NET.with(Cell::get);
        for i in 0..N {
            spans.push(info_span!("conn", peer = "10.0.4.65:41959", id = i as u64));
        }
        let held = NET.with(Cell::get) - before;
        drop(spans);
        held as f64 / N as f64
    });
    println!("heap per live span with 2 fields: {per_span:.1} bytes");
    assert!(per_span <= 256.0, "{per_span:.1} bytes per live span");
    guard.flush();
}
