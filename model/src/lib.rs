//! Loom model checks of dynlog's lock-free parts, compiled from dynlog's own
//! source files (see `Cargo.toml`). Outside `cfg(dynlog_loom)` this crate is
//! empty.
#![cfg(dynlog_loom)]
#![allow(dead_code, reason = "only the parts the models exercise are used")]

#[path = "../../src/sync.rs"]
pub(crate) mod sync;

#[path = "../../src/writer/ring.rs"]
pub(crate) mod ring;

#[path = "../../src/registry/mod.rs"]
pub(crate) mod registry;
