//! `tbgw schema`: the JSON Schema of the scenario format (committed as
//! `scenarios/scenario.schema.json`, kept current by a test).

use std::process::ExitCode;

use clap::Args;

use crate::exit;
use crate::scenario::load::DeviationFile;
use crate::scenario::model::Scenario;

#[derive(Debug, Args)]
pub struct SchemaArgs {
    /// The schema of deviation files instead.
    #[arg(long)]
    deviations: bool,
}

/// The schema as pretty JSON text.
pub fn schema_text(deviations: bool) -> String {
    let schema = if deviations {
        schemars::schema_for!(DeviationFile)
    } else {
        schemars::schema_for!(Scenario)
    };
    let mut text = serde_json::to_string_pretty(&schema).unwrap_or_default();
    text.push('\n');
    text
}

pub fn run(args: SchemaArgs) -> ExitCode {
    print!("{}", schema_text(args.deviations));
    exit::code(exit::OK)
}
