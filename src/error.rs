//! The crate's error type.

/// An error from installing or configuring dynlog.
#[derive(Debug)]
pub struct Error {
    message: String,
}
