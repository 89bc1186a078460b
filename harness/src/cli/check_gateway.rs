//! `tbgw check-gateway`: start the emulator, start the gateway under test against it, run the
//! gateway scenarios and the passive checks, stop the gateway, report like `tbgw run`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::Args;

use super::common::{BaselineArgs, ReportArgs, SelectArgs, TimingArgs, positive};
use super::run::usage;
use crate::gateway::load;
use crate::gateway::runner::{self, CheckOptions, Event};
use crate::process::interrupt::{Caught, Interrupt};
use crate::report::baseline::Baseline;
use crate::report::{self, Summary, console};
use crate::{errln, exit, outln};

#[derive(Debug, Args)]
pub struct CheckGatewayArgs {
    /// The gateway's command line, run by `sh -c`; `{host}`, `{port}` and `{token}` are
    /// replaced, and TB_GW_HOST, TB_GW_PORT, TB_GW_ACCESS_TOKEN are set in its environment.
    #[arg(long = "cmd", value_name = "COMMAND")]
    command: String,
    /// Gateway scenario files or folders; the gateway cases built into tbgw when omitted.
    paths: Vec<PathBuf>,
    #[command(flatten)]
    select: SelectArgs,
    /// NON-STRICT findings (accepted only through a ThingsBoard leniency) fail the check.
    #[arg(long)]
    strict: bool,
    #[command(flatten)]
    reports: ReportArgs,
    #[command(flatten)]
    baseline: BaselineArgs,
    #[command(flatten)]
    timing: TimingArgs,
    /// Seconds the gateway has to connect.
    #[arg(long, default_value_t = 60.0, value_name = "SECONDS")]
    connect_timeout: f64,
    /// Seconds between SIGINT, SIGTERM and SIGKILL when stopping the gateway's process group.
    #[arg(long, default_value_t = 5.0, value_name = "SECONDS")]
    grace: f64,
    /// The RPC method the scenarios call on devices (one your gateway answers).
    #[arg(long, default_value = "echo", value_name = "NAME")]
    rpc_method: String,
    /// Write every line the gateway prints to FILE (the report keeps the last ones).
    #[arg(long, value_name = "FILE")]
    gateway_log: Option<PathBuf>,
}

pub fn run(args: CheckGatewayArgs) -> ExitCode {
    if let Err(e) = super::common::check_gateway_command(&args.command, &args.rpc_method) {
        return usage(COMMAND, &e);
    }
    let checked = positive(args.connect_timeout, "--connect-timeout").and_then(|connect| {
        let grace = positive(args.grace, "--grace")?;
        args.timing.check()?;
        args.reports.check()?;
        Ok((connect, grace))
    });
    let (connect_timeout, grace) = match checked {
        Ok(d) => d,
        Err(e) => return usage(COMMAND, &e),
    };
    let filter = match args.select.matcher() {
        Ok(filter) => filter,
        Err(e) => return usage(COMMAND, &e),
    };
    let baselines = match args.baseline.load(TOOL) {
        Ok(baselines) => baselines,
        Err(e) => return usage(COMMAND, &e),
    };
    let mut cases = match load::load(&args.paths) {
        Ok(cases) => cases,
        Err(errors) => {
            if !args.paths.is_empty()
                && crate::scenario::load::load(&args.paths).is_ok_and(|s| !s.cases.is_empty())
            {
                return usage(
                    COMMAND,
                    &format!(
                        "{} holds platform cases (tbgw plays the gateway in them); run them with `tbgw run {}`",
                        super::run::paths_list(&args.paths),
                        super::run::paths_list(&args.paths)
                    ),
                );
            }
            for error in &errors {
                errln!("error: {error}");
            }
            errln!(
                "tbgw check-gateway: {} mistake(s) in the scenario files; the gateway was not started",
                errors.len()
            );
            return exit::code(exit::BAD_INPUT);
        }
    };
    if let Some(matcher) = &filter {
        cases.retain(|c| matcher.is_match(&c.scenario.id));
    }
    if args.reports.uses_stdout() {
        crate::output::console_to_stderr();
    }
    let runtime = match super::common::runtime("check-gateway") {
        Ok(runtime) => runtime,
        Err(code) => return code,
    };
    runtime.block_on(check(args, cases, connect_timeout, grace, baselines))
}

const COMMAND: &str = "check-gateway";
const TOOL: &str = "tbgw check-gateway";

async fn check(
    args: CheckGatewayArgs,
    cases: Vec<load::GatewayCaseFile>,
    connect_timeout: std::time::Duration,
    grace: std::time::Duration,
    baselines: Vec<(String, Baseline)>,
) -> ExitCode {
    let interrupt = Interrupt::listen();
    let options = CheckOptions {
        command: args.command.clone(),
        timeout_multiplier: args.timing.timeout_multiplier,
        connect_timeout,
        grace,
        rpc_method: args.rpc_method.clone(),
        strict: args.strict,
        gateway_log: args.gateway_log.clone(),
        interrupt: interrupt.clone(),
    };
    // The checks in report order: the connect check, the cases, the stop, the passive ones.
    let mut names = vec!["gateway/connects".to_owned()];
    names.extend(cases.iter().map(|c| c.scenario.id.clone()));
    names.push("gateway/stops-on-sigint".to_owned());
    let progress = console::Progress::named(names);
    let reported = std::sync::atomic::AtomicUsize::new(0);
    let tell = |event: Event<'_>| match event {
        Event::Connected { after, version } => progress.line(&format!(
            "gateway connected after {:.2} s (MQTT {})",
            after.as_secs_f64(),
            version.as_str()
        )),
        Event::Doing(what) => progress.doing(&what),
        Event::Finished(result) => {
            let slot = reported.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            progress.finished(slot, result);
        }
    };
    let started = Instant::now();
    let check = runner::check(&cases, &options, &tell).await;
    progress.clear();
    let check = match check {
        Ok(check) => check,
        Err(e) => {
            errln!("tbgw check-gateway: {e}");
            return exit::code(exit::TARGET_FAILED);
        }
    };
    let elapsed = started.elapsed();
    if check.connected_in.is_some() {
        outln!(
            "gateway stopped by {} after {:.2} s",
            check.stopped.by.as_str(),
            check.stopped.took.as_secs_f64()
        );
    }
    console::print_end(
        &check.results,
        check.interrupted.map(|c| {
            (
                c.name(),
                cases.len() + 2 + crate::gateway::passive::Check::ALL.len(),
            )
        }),
    );
    let summary = Summary::of(&check.results);
    outln!(
        "\n{}",
        console::summary_line_of(
            "tbgw check-gateway",
            "checks of",
            &summary,
            "the gateway",
            elapsed
        )
    );
    // A gateway's own messages differ from run to run: its baseline pins verdicts only.
    let recorded = report::baseline::record(&check.results, TOOL, false);
    let filter = args.select.matcher().ok().flatten();
    let selected = |id: &str, _: &str| filter.as_ref().is_none_or(|f| f.is_match(id));
    let interrupted = check.interrupted.is_some();
    let (compared, baseline_failed) =
        args.baseline
            .finish(COMMAND, interrupted, &baselines, &recorded, selected);
    let mut code = super::run::exit_code(&summary, false, compared.as_ref());
    if baseline_failed {
        code = code.max(exit::TARGET_FAILED);
    }
    let meta = report::RunMeta {
        tool: TOOL,
        target: "check-gateway",
        elapsed,
        stale: &[],
        interrupted: check.interrupted.map(Caught::name),
        baseline: compared.as_ref(),
    };
    for e in report::write_files(&check.results, &meta, &args.reports) {
        errln!("tbgw check-gateway: {e}");
        code = code.max(exit::TARGET_FAILED);
    }
    exit::code(check.interrupted.map_or(code, Caught::exit_code))
}
