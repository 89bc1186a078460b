//! `tbgw run`: replay scenarios against a platform under test and report verdicts.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use clap::Args;

use super::common::{BaselineArgs, ReportArgs, SelectArgs, TargetArgs, TimingArgs};
use crate::process::interrupt::{self, Caught, Interrupt};
use crate::report::baseline::{Baseline, Compared};
use crate::report::{self, Summary, console};
use crate::scenario::load::{self, Suite};
use crate::scenario::model::Profile;
use crate::scenario::outcome::Verdict;
use crate::scenario::runner::{self, RunOptions, TimerCases};
use crate::target::{Platform, TargetKind};
use crate::{errln, exit, outln};

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Scenario files or folders; the platform suite built into tbgw when omitted.
    paths: Vec<PathBuf>,
    #[command(flatten)]
    target: TargetArgs,
    #[command(flatten)]
    select: SelectArgs,
    /// Only cases asserting this source of truth: doc (the public doc) or tb (ThingsBoard).
    #[arg(long, value_parser = parse_profile)]
    profile: Option<Profile>,
    #[command(flatten)]
    reports: ReportArgs,
    #[command(flatten)]
    baseline: BaselineArgs,
    #[command(flatten)]
    timing: TimingArgs,
    /// Cases running at once (at least 1).
    #[arg(long, default_value_t = 8, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    jobs: u16,
    /// Also run the cases that wait for ThingsBoard's timers (`timers: true`, up to about 11
    /// minutes each) on a remote or container target; the embedded target always runs them,
    /// on an emulator whose timers are shortened.
    #[arg(long)]
    timers: bool,
}

fn parse_profile(text: &str) -> Result<Profile, String> {
    match text {
        "doc" => Ok(Profile::Doc),
        "tb" => Ok(Profile::Tb),
        _ => Err(format!("unknown profile {text:?}: use doc or tb")),
    }
}

/// Loads the scenarios and deviations; prints every mistake (exit 2). Gateway cases given to
/// a platform command are named as such instead of as a pile of unknown steps.
pub fn load_or_report(paths: &[PathBuf], command: &str) -> Result<Suite, ExitCode> {
    load::load(paths).map_err(|errors| {
        if !paths.is_empty()
            && crate::gateway::load::load(paths).is_ok_and(|cases| !cases.is_empty())
        {
            errln!(
                "tbgw {command}: {} holds gateway cases (tbgw plays ThingsBoard in them); run them with `tbgw check-gateway --cmd \"YOUR GATEWAY\" {}`",
                paths_list(paths),
                paths_list(paths)
            );
            return exit::code(exit::BAD_INPUT);
        }
        for error in &errors {
            errln!("error: {error}");
        }
        errln!(
            "tbgw {command}: {} mistake(s) in the scenario files; nothing was run",
            errors.len()
        );
        exit::code(exit::BAD_INPUT)
    })
}

pub fn paths_list(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(" ")
}

/// A usage mistake: said on one line, exit 2, before anything runs.
pub fn usage(command: &str, message: &str) -> ExitCode {
    errln!("tbgw {command}: {message}");
    exit::code(exit::BAD_INPUT)
}

pub fn run(args: RunArgs) -> ExitCode {
    if let Err(e) = args
        .target
        .check()
        .and_then(|()| args.timing.check())
        .and_then(|()| args.reports.check())
    {
        return usage("run", &e);
    }
    let filter = match args.select.matcher() {
        Ok(filter) => filter,
        Err(e) => return usage("run", &e),
    };
    let suite = match load_or_report(&args.paths, "run") {
        Ok(suite) => suite,
        Err(code) => return code,
    };
    let baselines = match args.baseline.load(TOOL) {
        Ok(baselines) => baselines,
        Err(e) => return usage("run", &e),
    };
    let planned = runner::plan(&suite, filter.as_ref(), args.profile);
    if planned.is_empty() {
        return usage("run", "no case matches (see `tbgw list`)");
    }
    let stale: Vec<String> = if args.paths.is_empty() && filter.is_none() && args.profile.is_none()
    {
        runner::stale_deviations(&suite)
            .iter()
            .map(|d| format!("{}: `{}` matches no case", d.file, d.deviation.case))
            .collect()
    } else {
        Vec::new()
    };
    if args.reports.uses_stdout() {
        crate::output::console_to_stderr();
    }
    let runtime = match super::common::runtime("run") {
        Ok(runtime) => runtime,
        Err(code) => return code,
    };
    runtime.block_on(run_suite(args, suite, planned, stale, baselines))
}

const TOOL: &str = "tbgw run";

async fn run_suite(
    args: RunArgs,
    suite: Suite,
    planned: Vec<runner::Planned>,
    stale: Vec<String>,
    baselines: Vec<(String, Baseline)>,
) -> ExitCode {
    let interrupt = Interrupt::listen();
    let started = Instant::now();
    let kind = args.target.target;
    let target_options = args.target.options();
    let platform = tokio::select! {
        platform = Platform::start(kind, &target_options) => platform,
        caught = interrupt.wait() => {
            errln!("tbgw run: interrupted by {} while the target was starting", caught.name());
            return exit::code(caught.exit_code());
        }
    };
    let platform = match platform {
        Ok(platform) => platform,
        Err(message) => {
            errln!("tbgw run: target {}: {message}", kind.as_str());
            return exit::code(exit::TARGET_FAILED);
        }
    };
    let mut left_behind = Vec::new();
    if let Some(running) = &platform.container {
        let id = &running.id()[..12.min(running.id().len())];
        outln!(
            "container {} ({id}) ready in {:.2} s: MQTT {}, REST {}",
            running.spec.reference(),
            running.ready_in.as_secs_f64(),
            running.mqtt,
            running.rest
        );
        left_behind.push(interrupt::note_left_behind(format!(
            "container {id}: remove it with `docker rm -f {id}`"
        )));
    }
    let timer_cases = match TimerCases::for_target(kind, args.timers, &suite, &planned).await {
        Ok(timer_cases) => timer_cases,
        Err(message) => {
            errln!("tbgw run: the emulator for the cases that wait for timers: {message}");
            return exit::code(exit::TARGET_FAILED);
        }
    };
    let run_id = runner::new_run_id();
    if kind == TargetKind::Remote {
        left_behind.push(interrupt::note_left_behind(format!(
            "devices named {run_id}-*: remove them with `tbgw clean --target remote --rest {} --run {run_id}`",
            platform.rest.base()
        )));
    }
    let platform = Arc::new(platform);
    let progress = Arc::new(console::Progress::new(&suite, &planned));
    let on_done = Arc::clone(&progress);
    let options = RunOptions {
        timeout_multiplier: args.timing.timeout_multiplier,
        jobs: usize::from(args.jobs),
        profile: args.profile,
        run_id,
        interrupt: interrupt.clone(),
        timer_cases,
    };
    let total = planned.len();
    let results = runner::run(
        Arc::new(suite),
        planned,
        Arc::clone(&platform),
        options,
        move |slot, r| on_done.finished(slot, r),
    )
    .await;
    progress.clear();
    let mut stop_failed = false;
    if let Ok(platform) = Arc::try_unwrap(platform) {
        let stopping = Instant::now();
        let had_container = platform.container.is_some();
        match platform.stop().await {
            Ok(()) if had_container => outln!(
                "container stopped and removed in {:.2} s",
                stopping.elapsed().as_secs_f64()
            ),
            Ok(()) => {}
            Err(e) => {
                errln!("tbgw run: {e}");
                stop_failed = true;
            }
        }
    }
    for key in left_behind {
        interrupt::clear_left_behind(key);
    }
    let elapsed = started.elapsed();
    let caught = interrupt.caught();
    console::print_end(&results, caught.map(|c| (c.name(), total)));
    for line in &stale {
        outln!("\nSTALE deviation entry: {line}: remove it or fix its glob");
    }
    let summary = Summary::of(&results);
    outln!(
        "\n{}",
        console::summary_line(&summary, kind.as_str(), elapsed)
    );
    let filter = args.select.matcher().ok().flatten();
    let selected = |id: &str, profile: &str| {
        filter.as_ref().is_none_or(|f| f.is_match(id))
            && args.profile.is_none_or(|p| p.as_str() == profile)
    };
    let recorded = report::baseline::record(&results, TOOL, true);
    let (compared, unwritten) =
        args.baseline
            .finish("run", caught.is_some(), &baselines, &recorded, selected);
    stop_failed |= unwritten;
    let mut code = exit_code(&summary, !stale.is_empty(), compared.as_ref());
    if stop_failed {
        code = code.max(exit::TARGET_FAILED);
    }
    let meta = report::RunMeta {
        tool: TOOL,
        target: kind.as_str(),
        elapsed,
        stale: &stale,
        interrupted: caught.map(Caught::name),
        baseline: compared.as_ref(),
    };
    for e in report::write_files(&results, &meta, &args.reports) {
        errln!("tbgw run: {e}");
        code = code.max(exit::TARGET_FAILED);
    }
    exit::code(caught.map_or(code, Caught::exit_code))
}

/// 3 when the infrastructure failed, else 1 on failures, else 4 on an XPASS or a stale
/// deviation entry, else 0. Compared with a baseline, the baseline decides instead of the
/// verdicts: 4 on any drift (or a stale entry), else 0, so that known failures pass.
pub fn exit_code(summary: &Summary, stale: bool, compared: Option<&Compared>) -> u8 {
    if summary.errors > 0 {
        exit::TARGET_FAILED
    } else if let Some(compared) = compared {
        if compared.drift.is_empty() && !stale {
            exit::OK
        } else {
            exit::DRIFT
        }
    } else if summary.failed > 0 {
        exit::FAILURES
    } else if summary.xpass > 0 || stale {
        exit::DRIFT
    } else {
        exit::OK
    }
}

/// Whether a verdict counts as a pass for the suite (for tests and tools).
pub fn is_green(verdict: Verdict) -> bool {
    matches!(
        verdict,
        Verdict::Pass | Verdict::NonStrict | Verdict::Xfail | Verdict::Skip
    )
}
