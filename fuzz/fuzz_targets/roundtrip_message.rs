//! Typed messages built from the fuzzer's bytes: encode, then decode back unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tbgw_codec::Message;

fuzz_target!(|message: Message| tbgw_codec::fuzzing::round_trip(&message));
