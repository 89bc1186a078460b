//! Live fuzzing. `tbgw fuzz gateway`: tbgw plays a faulty ThingsBoard to a live gateway and
//! turns every way it breaks into a gateway scenario that reproduces it. `tbgw fuzz
//! platform` ([`platform`]): tbgw plays a gateway to a platform and turns every disagreement
//! with the model of ThingsBoard into a platform scenario.
//!
//! Shared by both: [`action`], [`mutate`] (the JSON and byte mutations), [`minimize`].
//! The gateway fuzzer's own parts:
//! - [`action`]: what the fuzzing side does (a publish, a DISCONNECT, a dropped
//!   connection): the unit of the corpus, of minimizing and of the reproducers;
//! - [`generate`]: inputs built from the codec's typed platform→gateway messages, then mutated
//!   (pure and seeded: the same seed gives the same inputs);
//! - [`signature`]: what a crash looks like in the gateway's output (pure);
//! - [`minimize`]: delta debugging over an input's actions and its payloads' JSON (pure; the
//!   test that replays a candidate is passed in);
//! - [`session`]: one gateway process under the emulator: start, play an input, probe, stop;
//! - [`gateway`]: the loop: run inputs, judge them, confirm a finding on a fresh process,
//!   minimize it, deduplicate by signature;
//! - [`corpus`], [`reproducer`]: the files read and written.

pub mod action;
pub mod corpus;
pub mod gateway;
pub mod generate;
pub mod minimize;
pub mod mutate;
pub mod platform;
pub mod reproducer;
pub mod session;
pub mod signature;
