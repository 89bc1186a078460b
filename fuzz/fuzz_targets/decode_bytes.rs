//! Arbitrary bytes on every topic, direction and mode (the first byte chooses):
//! no panic, stable re-encoding, and the two modes agree where no leniency applies.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| tbgw_codec::fuzzing::decode_bytes(data));
