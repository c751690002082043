//! Ollama's NDJSON stream decoder (`alice_decode::ndjson::events`) over a body cut into
//! chunks at fuzzer-chosen points, with fuzzer-chosen caps: see
//! [`alice_fuzz::check_decoder`] for the properties.
#![no_main]

use alice_fuzz::{StreamInput, check_decoder};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(input) = StreamInput::read(data) {
        check_decoder(alice_decode::ndjson::events, &input);
    }
});
