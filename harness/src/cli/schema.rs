//! `tbgw schema`: the JSON Schema of the scenario format (committed as
//! `scenarios/scenario.schema.json`, kept current by a test).

use std::process::ExitCode;

use clap::Args;

use crate::exit;
use crate::gateway::model::GatewayScenario;
use crate::scenario::load::DeviationFile;
use crate::scenario::model::Scenario;

#[derive(Debug, Args)]
pub struct SchemaArgs {
    /// The schema of deviation files instead.
    #[arg(long, conflicts_with = "gateway")]
    deviations: bool,
    /// The schema of gateway cases (scenarios/gateway) instead.
    #[arg(long)]
    gateway: bool,
}

/// Which file format.
#[derive(Clone, Copy, Debug)]
pub enum Format {
    Scenario,
    Deviations,
    Gateway,
}

/// The schema as pretty JSON text.
pub fn schema_text(format: Format) -> String {
    let schema = match format {
        Format::Scenario => schemars::schema_for!(Scenario),
        Format::Deviations => schemars::schema_for!(DeviationFile),
        Format::Gateway => schemars::schema_for!(GatewayScenario),
    };
    let mut text = serde_json::to_string_pretty(&schema).unwrap_or_default();
    text.push('\n');
    text
}

pub fn run(args: SchemaArgs) -> ExitCode {
    let format = if args.deviations {
        Format::Deviations
    } else if args.gateway {
        Format::Gateway
    } else {
        Format::Scenario
    };
    crate::out!("{}", schema_text(format));
    exit::code(exit::OK)
}
