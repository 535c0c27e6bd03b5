//! Fuzz target `directive`: see `dynlog_fuzz::properties::directive` for the
//! property. Run with `cargo +nightly fuzz run directive` from the repository.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| dynlog_fuzz::properties::directive(data));
