//! `tbgw check-gateway`: validating a third-party gateway by playing ThingsBoard to it.
//!
//! - [`launch`]: the emulator and the gateway's process (a
//!   [`crate::process::group::ProcessGroup`]), shared with `tbgw fuzz gateway`;
//! - [`observer`]: what the gateway did, from the emulator's traffic;
//! - [`passive`]: judging everything it sent (sans-IO);
//! - [`model`], [`load`]: the gateway scenario format;
//! - [`steps`], [`runner`]: the platform's side of each case, and one whole check.

pub mod endpoint;
pub mod launch;
pub mod load;
pub mod model;
pub mod observer;
pub mod passive;
pub mod runner;
pub mod steps;
