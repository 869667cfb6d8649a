//! Any bytes a client sends as a WebSocket message: the decoder answers a
//! message or an error, and never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = skirmish_shared::codec::decode_client(data);
});
