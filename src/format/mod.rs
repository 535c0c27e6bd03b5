//! stub
pub(crate) mod escape; pub(crate) mod time;
pub(crate) mod number;
