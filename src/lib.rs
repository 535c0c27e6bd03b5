//! dynlog: a fast structured-logging backend for `tracing`.
#![allow(dead_code)] // FIXME: remove once the core is wired (during the first build-out)

pub mod config;
pub mod context;
mod error;
pub mod filter;
pub(crate) mod format;
pub mod propagation;

pub use error::Error;
