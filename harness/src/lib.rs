//! The tbgw harness: the `tbgw` command line and, as later issues land, the emulator,
//! the scenario runner and the gateway checker.

pub mod cli;
pub mod exit;
