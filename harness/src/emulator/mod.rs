//! The ThingsBoard-compatible endpoint: MQTT 3.1.1 and 5 on one port and ThingsBoard's
//! REST API on another, behaving like ThingsBoard 4.3 on every gateway topic
//! (`reference/thingsboard-behavior.md`).
//!
//! - [`core`]: the sans-IO state and session logic;
//! - [`wire`] and [`mqtt`]: MQTT framing and the tokio server around the core;
//! - [`rest`]: the axum server for ThingsBoard's REST paths;
//! - `shell`: what the servers share ([`Emulator`], the core behind its lock, the
//!   connections' writers). It and the servers need the `cli` feature; the core and the
//!   framing do not, so the cargo-fuzz crate builds them alone.
//!
//! ```no_run
//! # async fn demo() -> Result<(), tbgw_harness::emulator::StartError> {
//! use tbgw_harness::emulator::{Emulator, Options};
//! let mut options = Options::ephemeral();
//! options.config.gateways.push(("gw1".into(), "GW_TOKEN".into()));
//! let emulator = Emulator::start(options).await?;
//! println!("MQTT on {}, REST on {}", emulator.mqtt_addr, emulator.http_addr);
//! # Ok(()) }
//! ```

pub mod core;
#[cfg(feature = "arbitrary")]
pub mod fuzzing;
#[cfg(feature = "cli")]
pub mod mqtt;
#[cfg(feature = "cli")]
pub mod rest;
#[cfg(feature = "cli")]
mod shell;
pub mod wire;

#[cfg(feature = "cli")]
pub use shell::*;
