//! Command-line parsing and dispatch; each subcommand lives in its own module.

mod check_gateway;
mod decode;
mod list;
pub mod run;
mod schema;
mod serve;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::exit;

/// Conformance and fuzzing harness for the ThingsBoard Gateway MQTT API.
#[derive(Debug, Parser)]
#[command(name = "tbgw", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Decode one payload: the typed message, or the error with line:column, JSON path and
    /// the reason code ThingsBoard answers.
    Decode(decode::DecodeArgs),
    /// Run the ThingsBoard-compatible emulator: MQTT 3.1.1 and 5 plus ThingsBoard's REST API.
    Serve(serve::ServeArgs),
    /// Replay scenarios against a platform under test (the embedded emulator by default).
    Run(Box<run::RunArgs>),
    /// Check a third-party gateway: start it against the emulator, run the gateway
    /// scenarios and the passive checks, report like `run`.
    CheckGateway(Box<check_gateway::CheckGatewayArgs>),
    /// List the cases a run would execute.
    List(list::ListArgs),
    /// Print the JSON Schema of scenario files (or of deviation files), for editors.
    Schema(schema::SchemaArgs),
}

pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            return exit::code(if error.use_stderr() {
                exit::BAD_INPUT
            } else {
                exit::OK
            });
        }
    };
    match cli.command {
        Command::Decode(args) => decode::run(args),
        Command::Serve(args) => serve::run(args),
        Command::Run(args) => run::run(*args),
        Command::CheckGateway(args) => check_gateway::run(*args),
        Command::List(args) => list::run(args),
        Command::Schema(args) => schema::run(args),
    }
}
