//! `tbgw fuzz platform`: tbgw plays a gateway sending mutated messages to the platform under
//! test, predicts from the codec what ThingsBoard answers and stores, and turns every
//! disagreement into a platform scenario that reproduces it.
//!
//! - [`generate`]: inputs from the codec's `Arbitrary` gateway→platform messages, mutated
//!   (pure and seeded);
//! - [`predict`]: the model: ThingsBoard's answer on the wire and what it stores (pure);
//! - [`scenario`]: an input and its predictions as a platform scenario (pure): the fuzzer
//!   runs that text through the scenario runner, so a finding's reproducer is what failed;
//! - [`run`]: the loop: run inputs in batches, confirm a disagreement, minimize it,
//!   deduplicate it by signature, say which side it may be on.

pub mod generate;
pub mod predict;
pub mod run;
pub mod scenario;
