//! `tbgw`: the ThingsBoard Gateway MQTT API conformance harness.

use std::process::ExitCode;

fn main() -> ExitCode {
    tbgw_harness::cli::main()
}
