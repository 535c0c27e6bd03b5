//! The atomics and cells the lock-free parts use, swapped for loom's
//! model-checked versions under `cfg(dynlog_loom)`.
//!
//! Only the ring hand-off (`writer::ring`) and the registry's free list
//! (`registry::free_list`) go through this module: they are the two places
//! where threads meet without a lock, and the loom tests cover exactly them.

#[cfg(dynlog_loom)]
pub(crate) use loom::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};

#[cfg(not(dynlog_loom))]
pub(crate) use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};

#[cfg(dynlog_loom)]
pub(crate) use loom::cell::UnsafeCell;

/// `std`'s cell with the closure-based access loom uses, so that the ring
/// reads the same under both.
#[cfg(not(dynlog_loom))]
#[derive(Debug)]
#[repr(transparent)]
pub(crate) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

#[cfg(not(dynlog_loom))]
impl<T> UnsafeCell<T> {
    pub(crate) fn new(value: T) -> Self {
        Self(std::cell::UnsafeCell::new(value))
    }

    pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        f(self.0.get())
    }

    #[cfg(test)]
    pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
        f(self.0.get())
    }
}
