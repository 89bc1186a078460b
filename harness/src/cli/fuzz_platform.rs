//! `tbgw fuzz platform`: play a gateway sending mutated messages to a platform; every
//! distinct disagreement with the model of ThingsBoard becomes a platform scenario
//! (`--out DIR`) that fails under `tbgw run` on that platform.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::Args;

use super::common::{ReportArgs, TargetArgs, TimingArgs, parse_duration};
use super::fuzz::{default_duration, limit_text, random_seed};
use super::run::usage;
use crate::fuzz::platform::run::{
    self as platform_fuzz, Event, Finding, PlatformFuzzOptions, PlatformFuzzRun, Stats,
};
use crate::process::interrupt::Interrupt;
use crate::report;
use crate::scenario::outcome::{CaseResult, Verdict, now_unix_ms};
use crate::target::Platform;
use crate::{errln, exit, outln};

#[derive(Debug, Args)]
pub struct PlatformFuzzArgs {
    #[command(flatten)]
    target: TargetArgs,
    /// The seed of the inputs: the same seed gives the same inputs in the same order (a
    /// random one, printed, when omitted).
    #[arg(long, value_name = "N")]
    seed: Option<u64>,
    /// How long to fuzz (humantime: 90s, 10m, 2h); 60s when neither this nor --max-execs
    /// is given.
    #[arg(long, value_name = "T", value_parser = parse_duration)]
    duration: Option<Duration>,
    /// Stop after this many inputs.
    #[arg(long, value_name = "N")]
    max_execs: Option<u64>,
    /// Write each finding here as a platform scenario (NN-name.yaml) with the failing
    /// case's transcript beside it (NN-name.transcript.txt); a failure that did not come back
    /// on a replay as unconfirmed-NN.yaml.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Replay the inputs kept here first, then keep each input the platform answered in a
    /// new way (a reason code, a DISCONNECT or a close not seen after that topic yet) and vary
    /// them. Which inputs are kept depends on the platform's answers, so a seeded run with a
    /// corpus may take another path.
    #[arg(long, value_name = "DIR")]
    corpus: Option<PathBuf>,
    /// Inputs run at once (each with its own gateway device).
    #[arg(long, default_value_t = 4, value_name = "N")]
    jobs: usize,
    /// Replays one finding's minimizing may cost.
    #[arg(long, default_value_t = 40, value_name = "N")]
    minimize_budget: usize,
    #[command(flatten)]
    timing: TimingArgs,
    #[command(flatten)]
    reports: ReportArgs,
}

const COMMAND: &str = "fuzz platform";
const TOOL: &str = "tbgw fuzz platform";

pub fn run(args: PlatformFuzzArgs) -> ExitCode {
    let checked = args
        .target
        .check()
        .and_then(|()| args.timing.check())
        .and_then(|()| args.reports.check())
        .and_then(|()| match (args.max_execs, args.jobs) {
            (Some(0), _) => Err("--max-execs must be at least 1".to_owned()),
            (_, 0) => Err("--jobs must be at least 1".to_owned()),
            _ => Ok(()),
        });
    if let Err(e) = checked {
        return usage(COMMAND, &e);
    }
    if args.reports.uses_stdout() {
        crate::output::console_to_stderr();
    }
    let runtime = match super::common::runtime(COMMAND) {
        Ok(runtime) => runtime,
        Err(code) => return code,
    };
    runtime.block_on(fuzz(args))
}

async fn fuzz(args: PlatformFuzzArgs) -> ExitCode {
    let interrupt = Interrupt::listen();
    let kind = args.target.target;
    let target_options = args.target.options();
    let platform = tokio::select! {
        platform = Platform::start(kind, &target_options) => platform,
        caught = interrupt.wait() => {
            errln!("{TOOL}: interrupted by {} while the target was starting", caught.name());
            return exit::code(caught.exit_code());
        }
    };
    let platform = match platform {
        Ok(platform) => Arc::new(platform),
        Err(message) => {
            errln!("{TOOL}: target {}: {message}", kind.as_str());
            return exit::code(exit::TARGET_FAILED);
        }
    };
    let options = PlatformFuzzOptions {
        seed: args.seed.unwrap_or_else(random_seed),
        duration: default_duration(args.duration, args.max_execs),
        max_execs: args.max_execs,
        jobs: args.jobs,
        minimize_budget: args.minimize_budget,
        timeout_multiplier: args.timing.timeout_multiplier,
        interrupt: interrupt.clone(),
        corpus: args.corpus.clone(),
    };
    outln!(
        "{TOOL}: seed {} (--seed {} repeats these inputs), for {}, against the {} target (MQTT {})",
        options.seed,
        options.seed,
        limit_text(options.duration, options.max_execs),
        kind.as_str(),
        platform.mqtt
    );
    let found_by = format!(
        "`{TOOL} --seed {}` against the {} target",
        options.seed,
        kind.as_str()
    );
    let written = Mutex::new(Vec::<(String, PathBuf)>::new());
    let unconfirmed = Mutex::new(0usize);
    let tell = |event: Event<'_>| match event {
        Event::Progress(stats) => outln!("{}", progress_line(stats)),
        Event::Note(line) => outln!("note: {line}"),
        Event::Unconfirmed {
            signature,
            scenario,
        } => {
            outln!("note: not confirmed on a replay, so not a finding: {signature}");
            if let Some(dir) = &args.out
                && let Ok(mut count) = unconfirmed.lock()
            {
                *count += 1;
                let path = dir.join(format!("unconfirmed-{:02}.yaml", *count));
                let text = format!(
                    "# Failed once under {found_by}, then passed on a replay: not a finding.\n{scenario}"
                );
                match std::fs::create_dir_all(dir).and_then(|()| std::fs::write(&path, text)) {
                    Ok(()) => outln!("     its scenario: {}", path.display()),
                    Err(e) => errln!("{TOOL}: cannot write {}: {e}", path.display()),
                }
            }
        }
        Event::Found(finding) => {
            outln!(
                "{} {} after {} input(s): {}",
                crate::output::verdict(Verdict::Fail, 0),
                platform_fuzz::id_of(&finding.signature),
                finding.found_after,
                finding.signature
            );
            outln!("     {}", finding.side.describe());
            if let Some(dir) = &args.out
                && let Ok(mut written) = written.lock()
            {
                match write(dir, written.len() + 1, finding, &found_by) {
                    Ok(path) => {
                        outln!("     reproducer: {}", path.display());
                        written.push((finding.signature.clone(), path));
                    }
                    Err(e) => errln!("{TOOL}: {e}"),
                }
            }
        }
    };
    let run = platform_fuzz::fuzz(Arc::clone(&platform), &options, &tell).await;
    let mut code = if run.findings.is_empty() {
        exit::OK
    } else {
        exit::FAILURES
    };
    if let Ok(platform) = Arc::try_unwrap(platform)
        && let Err(e) = platform.stop().await
    {
        errln!("{TOOL}: {e}");
        code = code.max(exit::TARGET_FAILED);
    }
    let written = written.into_inner().unwrap_or_default();
    print_summary(&run, &args, &found_by, &written, kind.as_str());
    let results = results_of(&run, &written);
    let meta = report::RunMeta {
        tool: TOOL,
        target: kind.as_str(),
        elapsed: run.stats.elapsed,
        stale: &[],
        interrupted: interrupt.caught().map(|c| c.name()),
        baseline: None,
    };
    for e in report::write_files(&results, &meta, &args.reports) {
        errln!("{TOOL}: {e}");
        code = code.max(exit::TARGET_FAILED);
    }
    exit::code(interrupt.caught().map_or(code, |c| c.exit_code()))
}

fn progress_line(stats: &Stats) -> String {
    let mut extra = String::new();
    if stats.unconfirmed > 0 {
        extra.push_str(&format!(", {} unconfirmed", stats.unconfirmed));
    }
    if stats.errors > 0 {
        extra.push_str(&format!(", {} case(s) could not run", stats.errors));
    }
    format!(
        "progress: {} inputs ({:.1}/s), {} messages (and {} left out: answered only after ThingsBoard's request timeout, or naming another device), {} finding(s){extra}, corpus {}, {:.0} s",
        stats.execs,
        stats.execs_per_second(),
        stats.messages,
        stats.left_out,
        stats.findings,
        stats.corpus,
        stats.elapsed.as_secs_f64()
    )
}

/// The reproducer's text: the scenario, headed by where it came from.
fn reproducer_text(finding: &Finding, found_by: &str) -> String {
    format!(
        "# Found by {found_by} after {} input(s), hit {} time(s).\n# Which side: {}.\n# Run it with `tbgw run --target … THIS_FILE`: it fails where the platform disagrees.\n{}",
        finding.found_after,
        finding.hits,
        finding.side.describe(),
        finding.scenario
    )
}

/// Writes `NN-name.yaml` and `NN-name.transcript.txt`; the scenario's path.
fn write(dir: &Path, number: usize, finding: &Finding, found_by: &str) -> Result<PathBuf, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let id = platform_fuzz::id_of(&finding.signature);
    let name = id.rsplit('/').next().unwrap_or("finding");
    let path = dir.join(format!("{number:02}-{name}.yaml"));
    std::fs::write(&path, reproducer_text(finding, found_by))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    let mut transcript = finding.result.transcript.join("\n");
    if let Some(f) = &finding.result.failure {
        transcript.push_str(&format!(
            "\n\nFAILED at {}: expected {}; got {}\n",
            f.step, f.expected, f.actual
        ));
    }
    let beside = dir.join(format!("{number:02}-{name}.transcript.txt"));
    std::fs::write(&beside, transcript)
        .map_err(|e| format!("cannot write {}: {e}", beside.display()))?;
    Ok(path)
}

fn print_summary(
    run: &PlatformFuzzRun,
    args: &PlatformFuzzArgs,
    found_by: &str,
    written: &[(String, PathBuf)],
    target: &str,
) {
    outln!("{}", progress_line(&run.stats));
    for finding in &run.findings {
        outln!(
            "\n{} {}  (hit {} time(s))\n  {}\n  {}",
            crate::output::verdict(Verdict::Fail, 0),
            platform_fuzz::id_of(&finding.signature),
            finding.hits,
            finding.signature,
            finding.side.describe()
        );
        match written.iter().find(|(s, _)| *s == finding.signature) {
            Some((_, path)) => outln!("  reproducer: {}", path.display()),
            None if args.out.is_none() => {
                outln!("  reproducer (--out DIR writes it to a file):");
                for line in reproducer_text(finding, found_by).lines() {
                    outln!("    {line}");
                }
            }
            None => {}
        }
    }
    let found = run.findings.len();
    outln!(
        "\n{TOOL}: {} in {} inputs ({:.1}/s) against the {target} target in {:.1} s",
        if found == 0 {
            "no disagreement with the model".to_owned()
        } else {
            format!("{found} distinct finding(s)")
        },
        run.stats.execs,
        run.stats.execs_per_second(),
        run.stats.elapsed.as_secs_f64()
    );
}

/// One case per distinct finding (a passing one when there is none), for the reports.
fn results_of(run: &PlatformFuzzRun, written: &[(String, PathBuf)]) -> Vec<CaseResult> {
    if run.findings.is_empty() {
        return vec![CaseResult {
            id: "fuzz-platform/no-finding".to_owned(),
            mqtt: "3.1.1, 5".to_owned(),
            profile: "tb".to_owned(),
            requirement: "The platform answers and stores every input as the model of ThingsBoard predicts, and keeps accepting connections.".to_owned(),
            refs: vec!["tbgw fuzz platform".to_owned()],
            file: "(fuzz)".to_owned(),
            basis: None,
            verdict: Verdict::Pass,
            started_ms: now_unix_ms(),
            duration_ms: u64::try_from(run.stats.elapsed.as_millis()).unwrap_or(u64::MAX),
            failure: None,
            note: None,
            transcript: vec![progress_line(&run.stats)],
            wire: Vec::new(),
            output: Vec::new(),
        }];
    }
    run.findings
        .iter()
        .map(|finding| {
            let mut result = finding.result.clone();
            result.id = platform_fuzz::id_of(&finding.signature);
            result.requirement = platform_fuzz::requirement(&finding.input);
            result.verdict = Verdict::Fail;
            result.note = Some(finding.side.describe().to_owned());
            result.file = written
                .iter()
                .find(|(s, _)| *s == finding.signature)
                .map_or_else(|| "(fuzz)".to_owned(), |(_, p)| p.display().to_string());
            if let Some(failure) = &mut result.failure {
                failure.location = result.file.clone();
            }
            result
        })
        .collect()
}
