//! Command-line parsing and dispatch; each subcommand lives in its own module.

mod check_gateway;
mod clean;
pub mod common;
mod decode;
mod fuzz;
mod fuzz_platform;
mod list;
mod load;
pub mod run;
mod schema;
mod serve;

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

use crate::output::{self, ColorChoice, Level};
use crate::{errln, exit};

/// The ThingsBoard release whose behaviour the suites and the emulator model.
pub const THINGSBOARD_MODELLED: &str = "4.3.1.3";

const LONG_VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("TBGW_COMMIT"),
    "; models ThingsBoard 4.3.1.3 and its public gateway MQTT API doc)"
);

/// Conformance and fuzzing harness for the ThingsBoard Gateway MQTT API.
#[derive(Debug, Parser)]
#[command(name = "tbgw", version, long_version = LONG_VERSION, about, long_about = None)]
struct Cli {
    /// Colour verdicts: auto (on a terminal unless NO_COLOR is set), always, never.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto, global = true, value_name = "WHEN")]
    color: ColorChoice,
    /// Print only failures and the summary.
    #[arg(long, short, global = true, conflicts_with = "verbose")]
    quiet: bool,
    /// Print more: every failure's whole wire log.
    #[arg(long, short, global = true)]
    verbose: bool,
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
    /// Conformance under load: gateways publish QoS 1 telemetry at a rate or with a window
    /// in flight; PUBACK latency percentiles, and every acknowledged point read back.
    Load(Box<load::LoadArgs>),
    /// Fuzz a live gateway: mutated platform messages, probe RPCs, every distinct crash
    /// minimized into a gateway scenario that reproduces it.
    Fuzz(fuzz::FuzzArgs),
    /// List the cases a run would execute.
    List(list::ListArgs),
    /// Print the JSON Schema of scenario files (or of deviation files), for editors.
    Schema(schema::SchemaArgs),
    /// Remove what interrupted runs left on a remote ThingsBoard (devices named by a run
    /// prefix).
    Clean(clean::CleanArgs),
    /// Print a shell completion script: bash, zsh, fish, elvish or powershell.
    Completions {
        /// The shell to write the script for, e.g. `tbgw completions bash > tbgw.bash`.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff), e.g. `tbgw man > tbgw.1`.
    Man,
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
    let level = if cli.quiet {
        Level::Quiet
    } else if cli.verbose {
        Level::Verbose
    } else {
        Level::Normal
    };
    output::configure(cli.color, level);
    match cli.command {
        Command::Decode(args) => decode::run(args),
        Command::Serve(args) => serve::run(args),
        Command::Run(args) => run::run(*args),
        Command::CheckGateway(args) => check_gateway::run(*args),
        Command::List(args) => list::run(args),
        Command::Load(args) => load::run(*args),
        Command::Fuzz(args) => fuzz::run(args),
        Command::Schema(args) => schema::run(args),
        Command::Clean(args) => clean::run(args),
        Command::Completions { shell } => {
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "tbgw", &mut script);
            output::report_to_stdout(&String::from_utf8_lossy(&script));
            exit::code(exit::OK)
        }
        Command::Man => {
            let mut page = Vec::new();
            match clap_mangen::Man::new(Cli::command()).render(&mut page) {
                Ok(()) => {
                    output::report_to_stdout(&String::from_utf8_lossy(&page));
                    exit::code(exit::OK)
                }
                Err(e) => {
                    errln!("tbgw man: {e}");
                    exit::code(exit::TARGET_FAILED)
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bug: `--password` had no help text, so `tbgw run --help` did not say what it did.
    #[test]
    fn every_command_and_option_has_help_text() {
        fn check(command: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for arg in command.get_arguments() {
                let builtin = matches!(arg.get_id().as_str(), "help" | "version");
                if !builtin && arg.get_help().is_none() && arg.get_long_help().is_none() {
                    missing.push(format!("{path} {}", arg.get_id()));
                }
            }
            for sub in command.get_subcommands() {
                if sub.get_name() == "help" {
                    continue;
                }
                let sub_path = format!("{path} {}", sub.get_name());
                if sub.get_about().is_none() {
                    missing.push(sub_path.clone());
                }
                check(sub, &sub_path, missing);
            }
        }
        let mut missing = Vec::new();
        check(&Cli::command(), "tbgw", &mut missing);
        assert!(missing.is_empty(), "no help text: {missing:?}");
    }
}
