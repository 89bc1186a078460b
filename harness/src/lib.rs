//! The tbgw harness: the `tbgw` command line and the ThingsBoard-compatible emulator;
//! the scenario runner and the gateway checker come with later issues.

pub mod cli;
pub mod emulator;
pub mod exit;
pub mod gateway;
pub mod load;
pub mod mqtt;
pub mod output;
pub mod process;
pub mod report;
pub mod scenario;
pub mod target;
