//! The tbgw harness: the `tbgw` command line and the ThingsBoard-compatible emulator;
//! the scenario runner, the gateway checker, the load runner and the fuzzer.
//!
//! Without the default `cli` feature only the emulator's sans-IO core and the MQTT framing
//! are built (no tokio, axum or reqwest): what the cargo-fuzz crate needs, built under
//! AddressSanitizer in minutes instead of the whole harness.

#[cfg(feature = "cli")]
pub mod cli;
pub mod emulator;
#[cfg(feature = "cli")]
pub mod exit;
#[cfg(feature = "cli")]
pub mod fuzz;
#[cfg(feature = "cli")]
pub mod gateway;
#[cfg(feature = "cli")]
pub mod load;
pub mod mqtt;
#[cfg(feature = "cli")]
pub mod output;
#[cfg(feature = "cli")]
pub mod process;
#[cfg(feature = "cli")]
pub mod report;
#[cfg(feature = "cli")]
pub mod scenario;
#[cfg(feature = "cli")]
pub mod target;
