//! Fuzz target `sse`: see [`veil_fuzz::check_format`] for the oracle.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| veil_fuzz::check_format(
    veil::engine::format::Format::Sse,
    data
));
