//! `tbgw list`: the cases a run would execute, with their versions, profile, requirement and
//! any known deviation.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use globset::Glob;

use crate::exit;

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Scenario files or folders; the platform suite (scenarios/platform) when omitted.
    paths: Vec<PathBuf>,
    /// Only cases whose id matches this glob.
    #[arg(long, value_name = "GLOB")]
    filter: Option<String>,
}

pub fn run(args: ListArgs) -> ExitCode {
    let suite = match super::run::load_or_report(&args.paths, "list") {
        Ok(suite) => suite,
        Err(code) => return code,
    };
    let filter = match args.filter.as_deref().map(Glob::new).transpose() {
        Ok(glob) => glob.map(|g| g.compile_matcher()),
        Err(e) => {
            crate::errln!("tbgw list: bad --filter: {e}");
            return exit::code(exit::BAD_INPUT);
        }
    };
    let mut shown = 0;
    for case in &suite.cases {
        let s = &case.scenario;
        if filter.as_ref().is_some_and(|f| !f.is_match(&s.id)) {
            continue;
        }
        shown += 1;
        let versions: Vec<&str> = s.mqtt.iter().map(|v| v.0.as_str()).collect();
        crate::outln!(
            "{}  [{}]  {}  {}",
            s.id,
            versions.join(", "),
            s.profile.as_str(),
            s.requirement.trim()
        );
        for d in suite
            .deviations
            .iter()
            .filter(|d| d.matcher.is_match(&s.id))
        {
            crate::outln!("    known deviation: {}", d.deviation.reason.trim());
        }
    }
    crate::outln!("{shown} case(s)");
    exit::code(exit::OK)
}
