//! `tbgw list`: the cases `tbgw run` and `tbgw check-gateway` would execute, with their MQTT
//! versions, profile, basis, requirement and any known deviation.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use globset::GlobMatcher;

use super::common::SelectArgs;
use super::run::usage;
use crate::gateway::load::GatewayCaseFile;
use crate::scenario::load::Suite;
use crate::scenario::model::Basis;
use crate::{exit, outln};

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Scenario files or folders (platform or gateway cases); both built-in suites when
    /// omitted.
    paths: Vec<PathBuf>,
    #[command(flatten)]
    select: SelectArgs,
}

pub fn run(args: ListArgs) -> ExitCode {
    let filter = match args.select.matcher() {
        Ok(filter) => filter,
        Err(e) => return usage("list", &e),
    };
    let (platform, gateway) = if args.paths.is_empty() {
        let platform = match super::run::load_or_report(&[], "list") {
            Ok(suite) => suite,
            Err(code) => return code,
        };
        let gateway = match crate::gateway::load::load(&[]) {
            Ok(cases) => cases,
            Err(errors) => {
                for error in &errors {
                    crate::errln!("error: {error}");
                }
                return exit::code(exit::BAD_INPUT);
            }
        };
        (Some(platform), gateway)
    } else {
        match crate::gateway::load::load(&args.paths) {
            Ok(cases) if !cases.is_empty() && crate::scenario::load::load(&args.paths).is_err() => {
                (None, cases)
            }
            _ => match super::run::load_or_report(&args.paths, "list") {
                Ok(suite) => (Some(suite), Vec::new()),
                Err(code) => return code,
            },
        }
    };
    let mut shown = 0;
    if let Some(suite) = &platform {
        let n = list_platform(suite, filter.as_ref());
        if !gateway.is_empty() {
            outln!("{n} platform case(s), run by `tbgw run`\n");
        }
        shown += n;
    }
    if !gateway.is_empty() {
        let n = list_gateway(&gateway, filter.as_ref());
        outln!(
            "{n} gateway case(s), run by `tbgw check-gateway` (with its connect, stop and passive checks)"
        );
        shown += n;
    }
    outln!("{shown} case(s)");
    exit::code(exit::OK)
}

fn basis_mark(basis: Basis) -> &'static str {
    match basis {
        Basis::Observed => "",
        Basis::Derived => {
            "  (basis: derived from ThingsBoard's source; double-check on a real server)"
        }
    }
}

fn list_platform(suite: &Suite, filter: Option<&GlobMatcher>) -> usize {
    let mut shown = 0;
    for case in &suite.cases {
        let s = &case.scenario;
        if filter.is_some_and(|f| !f.is_match(&s.id)) {
            continue;
        }
        shown += 1;
        let versions: Vec<&str> = s.mqtt.iter().map(|v| v.0.as_str()).collect();
        outln!(
            "{}  [{}]  {}  {}{}{}",
            s.id,
            versions.join(", "),
            s.profile.as_str(),
            s.requirement.trim(),
            basis_mark(s.basis),
            if s.timers {
                "  (waits for ThingsBoard's timers: minutes on a real server, with --timers)"
            } else {
                ""
            }
        );
        for d in suite
            .deviations
            .iter()
            .filter(|d| d.matcher.is_match(&s.id))
        {
            outln!("    known deviation: {}", d.deviation.reason.trim());
        }
    }
    shown
}

fn list_gateway(cases: &[GatewayCaseFile], filter: Option<&GlobMatcher>) -> usize {
    let mut shown = 0;
    for case in cases {
        let s = &case.scenario;
        if filter.is_some_and(|f| !f.is_match(&s.id)) {
            continue;
        }
        shown += 1;
        let versions = s.mqtt.as_ref().map_or_else(
            || "any".to_owned(),
            |v| {
                v.iter()
                    .map(|m| m.0.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            },
        );
        outln!(
            "{}  [gateway on {versions}]  {}  {}",
            s.id,
            s.profile.as_str(),
            s.requirement.trim()
        );
    }
    shown
}
