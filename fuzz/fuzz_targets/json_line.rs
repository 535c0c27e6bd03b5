//! Fuzz target `json_line`: see `dynlog_fuzz::properties::json_line` for the
//! property. Run with `cargo +nightly fuzz run json_line` from the repository.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| dynlog_fuzz::properties::json_line(data));
