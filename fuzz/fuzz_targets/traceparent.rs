//! Fuzz target `traceparent`: see `dynlog_fuzz::properties::traceparent` for the
//! property. Run with `cargo +nightly fuzz run traceparent` from the repository.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| dynlog_fuzz::properties::traceparent(data));
