//! The emulator's sans-IO core fed arbitrary interleavings of packets from several
//! connections, REST operations and clock advances; the invariants are in
//! `harness/src/emulator/fuzzing.rs`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tbgw_harness::emulator::fuzzing::{Script, run};

fuzz_target!(|script: Script| run(&script));
