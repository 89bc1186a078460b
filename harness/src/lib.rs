//! The tbgw harness: the `tbgw` command line and the ThingsBoard-compatible emulator;
//! the scenario runner, the gateway checker, the load runner and the fuzzer.

pub mod cli;
pub mod emulator;
pub mod exit;
pub mod fuzz;
pub mod gateway;
pub mod load;
pub mod mqtt;
pub mod output;
pub mod process;
pub mod report;
pub mod scenario;
pub mod target;
