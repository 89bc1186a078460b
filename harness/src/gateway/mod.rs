//! `tbgw check-gateway`: validating a third-party gateway by playing ThingsBoard to it.
//!
//! - [`process`]: the gateway as a child process (substitution, output, SIGINT/TERM/KILL);
//! - [`observer`]: what the gateway did, from the emulator's traffic;
//! - [`passive`]: judging everything it sent (sans-IO);
//! - [`model`], [`load`]: the gateway scenario format;
//! - [`steps`], [`runner`]: the platform's side of each case, and one whole check.

pub mod load;
pub mod model;
pub mod observer;
pub mod passive;
pub mod process;
pub mod runner;
pub mod steps;
