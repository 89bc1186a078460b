//! `tbgw fuzz gateway`: play a faulty ThingsBoard to a live gateway; every distinct way it
//! breaks becomes a gateway scenario (`--out DIR`) that fails under `tbgw check-gateway`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};

use super::common::{ReportArgs, parse_duration, positive};
use super::run::usage;
use crate::fuzz::gateway::{self, CannotFuzz, Event, FuzzOptions, FuzzRun, Stats};
use crate::fuzz::reproducer::{self, Finding};
use crate::fuzz::session::SessionOptions;
use crate::process::interrupt::Interrupt;
use crate::report;
use crate::scenario::outcome::{CaseResult, Failure, OutputLine, Verdict, now_unix_ms};
use crate::{errln, exit, outln};

#[derive(Debug, Args)]
pub struct FuzzArgs {
    #[command(subcommand)]
    what: FuzzCommand,
}

#[derive(Debug, Subcommand)]
enum FuzzCommand {
    /// Fuzz a gateway: tbgw plays ThingsBoard (the embedded emulator) and sends it mutated
    /// platform messages, each followed by a probe RPC that must be answered.
    Gateway(Box<GatewayFuzzArgs>),
    /// Fuzz a platform: tbgw plays a gateway sending mutated messages, predicts from its
    /// model of ThingsBoard what the platform answers and stores, and reports every
    /// disagreement as a platform scenario.
    Platform(Box<super::fuzz_platform::PlatformFuzzArgs>),
}

#[derive(Debug, Args)]
pub struct GatewayFuzzArgs {
    /// The gateway's command line, run by `sh -c`; `{host}`, `{port}` and `{token}` are
    /// replaced, and TB_GW_HOST, TB_GW_PORT, TB_GW_ACCESS_TOKEN are set in its environment.
    #[arg(long = "cmd", value_name = "COMMAND")]
    command: String,
    /// The seed of the inputs: without --corpus the same seed gives the same inputs in the
    /// same order (a random one, printed, when omitted).
    #[arg(long, value_name = "N")]
    seed: Option<u64>,
    /// How long to fuzz (humantime: 90s, 10m, 2h); 60s when neither this nor --max-execs
    /// is given.
    #[arg(long, value_name = "T", value_parser = parse_duration)]
    duration: Option<Duration>,
    /// Stop after this many inputs.
    #[arg(long, value_name = "N")]
    max_execs: Option<u64>,
    /// A folder of inputs: replayed first, and grown with inputs that made the gateway do
    /// something new (a new kind of output line or of message), which are then mutated
    /// further. What is new depends on the gateway's timing, so a seeded run with a corpus
    /// may take another path.
    #[arg(long, value_name = "DIR")]
    corpus: Option<PathBuf>,
    /// Write each finding here as a gateway scenario (NN-name.yaml) with the gateway's
    /// output beside it (NN-name.output.txt).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// The RPC method the probe calls on the gateway's first device (one it answers).
    #[arg(long, default_value = "echo", value_name = "NAME")]
    rpc_method: String,
    /// Seconds the gateway has to answer a probe RPC.
    #[arg(long, default_value_t = 3.0, value_name = "SECONDS")]
    probe_timeout: f64,
    /// Seconds the gateway has to connect and announce a device.
    #[arg(long, default_value_t = 60.0, value_name = "SECONDS")]
    connect_timeout: f64,
    /// Seconds between SIGINT, SIGTERM and SIGKILL when stopping the gateway's process group.
    #[arg(long, default_value_t = 5.0, value_name = "SECONDS")]
    grace: f64,
    /// Replays (each on a fresh gateway process) one finding's minimizing may cost.
    #[arg(long, default_value_t = 40, value_name = "N")]
    minimize_budget: usize,
    /// NON-STRICT passive findings (accepted only through a ThingsBoard leniency) are
    /// findings too.
    #[arg(long)]
    strict: bool,
    #[command(flatten)]
    reports: ReportArgs,
}

const COMMAND: &str = "fuzz gateway";
const TOOL: &str = "tbgw fuzz gateway";

pub fn run(args: FuzzArgs) -> ExitCode {
    match args.what {
        FuzzCommand::Gateway(args) => run_gateway(*args),
        FuzzCommand::Platform(args) => super::fuzz_platform::run(*args),
    }
}

fn run_gateway(args: GatewayFuzzArgs) -> ExitCode {
    if let Err(e) = super::common::check_gateway_command(&args.command, &args.rpc_method) {
        return usage(COMMAND, &e);
    }
    let checked = (|| {
        let probe = positive(args.probe_timeout, "--probe-timeout")?;
        let connect = positive(args.connect_timeout, "--connect-timeout")?;
        let grace = positive(args.grace, "--grace")?;
        if args.max_execs == Some(0) {
            return Err("--max-execs must be at least 1".to_owned());
        }
        args.reports.check()?;
        Ok((probe, connect, grace))
    })();
    let (probe_within, connect_within, grace) = match checked {
        Ok(t) => t,
        Err(e) => return usage(COMMAND, &e),
    };
    if args.reports.uses_stdout() {
        crate::output::console_to_stderr();
    }
    let runtime = match super::common::runtime(COMMAND) {
        Ok(runtime) => runtime,
        Err(code) => return code,
    };
    let seed = args.seed.unwrap_or_else(random_seed);
    let duration = default_duration(args.duration, args.max_execs);
    let options = FuzzOptions {
        session: SessionOptions {
            command: args.command.clone(),
            rpc_method: args.rpc_method.clone(),
            probe_within,
            connect_within,
            grace,
            strict: args.strict,
        },
        seed,
        duration,
        max_execs: args.max_execs,
        corpus: args.corpus.clone(),
        minimize_budget: args.minimize_budget,
        interrupt: Interrupt::never(),
    };
    runtime.block_on(async move {
        let options = FuzzOptions {
            interrupt: Interrupt::listen(),
            ..options
        };
        fuzz(args, options).await
    })
}

/// A seed from the clock, for a run without --seed (printed, so it can be repeated).
pub fn random_seed() -> u64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    u64::from(now.subsec_nanos()) ^ now.as_secs().rotate_left(32)
}

/// 60 s when neither a duration nor a number of inputs is given.
pub fn default_duration(duration: Option<Duration>, max_execs: Option<u64>) -> Option<Duration> {
    match (duration, max_execs) {
        (None, None) => Some(Duration::from_secs(60)),
        (d, _) => d,
    }
}

/// `10m or 500 inputs`.
pub fn limit_text(duration: Option<Duration>, max_execs: Option<u64>) -> String {
    match (duration, max_execs) {
        (Some(d), Some(n)) => format!("{} or {n} inputs", humantime::format_duration(d)),
        (Some(d), None) => humantime::format_duration(d).to_string(),
        (None, Some(n)) => format!("{n} inputs"),
        (None, None) => "ever".to_owned(),
    }
}

async fn fuzz(args: GatewayFuzzArgs, options: FuzzOptions) -> ExitCode {
    let limit = limit_text(options.duration, options.max_execs);
    outln!(
        "{TOOL}: seed {} (--seed {} repeats these inputs), for {limit}",
        options.seed,
        options.seed
    );
    let found_by = format!(
        "`{TOOL} --seed {}` against `{}`",
        options.seed, args.command
    );
    let probe_s = options.session.probe_within.as_secs_f64();
    let written = std::sync::Mutex::new(Vec::<(String, PathBuf)>::new());
    let tell = |event: Event<'_>| match event {
        Event::Progress(stats) => outln!("{}", progress_line(stats)),
        Event::Note(line) => outln!("note: {line}"),
        Event::Found(finding) => {
            outln!(
                "{} {} after {} input(s): {}",
                crate::output::verdict(Verdict::Fail, 0),
                reproducer::id_of(&finding.signature),
                finding.found_after,
                finding.symptom.describe()
            );
            if let Some(dir) = &args.out
                && let Ok(mut written) = written.lock()
            {
                match reproducer::write(dir, written.len() + 1, finding, &found_by, probe_s) {
                    Ok(path) => {
                        outln!("     reproducer: {}", path.display());
                        written.push((finding.signature.clone(), path));
                    }
                    Err(e) => errln!("tbgw fuzz gateway: {e}"),
                }
            }
        }
    };
    let run = match gateway::fuzz(&options, &tell).await {
        Ok(run) => run,
        Err(CannotFuzz(failure)) => {
            let output = if failure.output.is_empty() {
                "it printed nothing".to_owned()
            } else {
                format!(
                    "its last output:\n      | {}",
                    failure.output.join("\n      | ")
                )
            };
            errln!("tbgw fuzz gateway: cannot fuzz: {}; {output}", failure.what);
            return exit::code(exit::TARGET_FAILED);
        }
    };
    let written = written.into_inner().unwrap_or_default();
    print_summary(&run, &args, &found_by, probe_s, &written);
    let results = results_of(&run, &written);
    let meta = report::RunMeta {
        tool: TOOL,
        target: "fuzz-gateway",
        elapsed: run.stats.elapsed,
        stale: &[],
        interrupted: options.interrupt.caught().map(|c| c.name()),
        baseline: None,
    };
    let mut code = if run.findings.is_empty() {
        exit::OK
    } else {
        exit::FAILURES
    };
    for e in report::write_files(&results, &meta, &args.reports) {
        errln!("tbgw fuzz gateway: {e}");
        code = code.max(exit::TARGET_FAILED);
    }
    exit::code(options.interrupt.caught().map_or(code, |c| c.exit_code()))
}

fn progress_line(stats: &Stats) -> String {
    let probe = match (stats.probe_ms(0.5), stats.probe_ms(0.99)) {
        (Some(p50), Some(p99)) => format!(", probe p50 {p50:.1} ms p99 {p99:.1} ms"),
        _ => String::new(),
    };
    format!(
        "progress: {} inputs ({:.1}/s), {} finding(s), corpus {}{probe}, {} gateway start(s), {:.0} s",
        stats.execs,
        stats.execs_per_second(),
        stats.findings,
        stats.corpus,
        stats.starts,
        stats.elapsed.as_secs_f64()
    )
}

fn print_summary(
    run: &FuzzRun,
    args: &GatewayFuzzArgs,
    found_by: &str,
    probe_s: f64,
    written: &[(String, PathBuf)],
) {
    outln!("{}", progress_line(&run.stats));
    if run.stats.unconfirmed > 0 {
        outln!(
            "{} symptom(s) did not come back on a fresh gateway process and are not reported",
            run.stats.unconfirmed
        );
    }
    for finding in &run.findings {
        outln!(
            "\n{} {}  (hit {} time(s))\n  {}",
            crate::output::verdict(Verdict::Fail, 0),
            reproducer::id_of(&finding.signature),
            finding.hits,
            finding.symptom.describe()
        );
        match written.iter().find(|(s, _)| *s == finding.signature) {
            Some((_, path)) => outln!(
                "  reproducer: {}  (tbgw check-gateway --cmd … {})",
                path.display(),
                path.display()
            ),
            None if args.out.is_none() => {
                outln!("  reproducer (--out DIR writes it to a file):");
                for line in reproducer::scenario_text(finding, found_by, probe_s).lines() {
                    outln!("    {line}");
                }
            }
            None => {}
        }
    }
    let found = run.findings.len();
    outln!(
        "\n{TOOL}: {} in {} inputs ({:.1}/s) against the gateway (MQTT {}) in {:.1} s",
        if found == 0 {
            "no finding".to_owned()
        } else {
            format!("{found} distinct finding(s)")
        },
        run.stats.execs,
        run.stats.execs_per_second(),
        run.version.as_str(),
        run.stats.elapsed.as_secs_f64()
    );
}

/// One case per distinct finding (a passing one when there is none), for the reports.
fn results_of(run: &FuzzRun, written: &[(String, PathBuf)]) -> Vec<CaseResult> {
    let base = |id: String, requirement: String| CaseResult {
        id,
        mqtt: run.version.as_str().to_owned(),
        profile: "tb".to_owned(),
        requirement,
        refs: vec!["tbgw fuzz gateway".to_owned()],
        file: "(fuzz)".to_owned(),
        basis: None,
        verdict: Verdict::Pass,
        started_ms: now_unix_ms(),
        duration_ms: u64::try_from(run.stats.elapsed.as_millis()).unwrap_or(u64::MAX),
        failure: None,
        note: None,
        transcript: Vec::new(),
        wire: Vec::new(),
        output: Vec::new(),
    };
    if run.findings.is_empty() {
        let mut result = base(
            "fuzz/no-finding".to_owned(),
            "The gateway survives every input and answers every probe RPC.".to_owned(),
        );
        result.transcript.push(progress_line(&run.stats));
        return vec![result];
    }
    run.findings
        .iter()
        .map(|finding: &Finding| {
            let text = reproducer::scenario_text(finding, TOOL, 5.0);
            let requirement = text
                .lines()
                .find_map(|l| l.strip_prefix("requirement: "))
                .and_then(|r| serde_json::from_str::<String>(r).ok())
                .unwrap_or_default();
            let mut result = base(reproducer::id_of(&finding.signature), requirement);
            result.verdict = Verdict::Fail;
            if let Some((_, path)) = written.iter().find(|(s, _)| *s == finding.signature) {
                result.file = path.display().to_string();
            }
            result.failure = Some(Failure {
                step: "fuzz input".to_owned(),
                location: result.file.clone(),
                expected: "the gateway keeps running, answers the probe RPC and sends only what ThingsBoard accepts".to_owned(),
                actual: format!("{} (signature: {})", finding.symptom.describe(), finding.signature),
                wire_at_failure: usize::MAX,
            });
            result.transcript = finding.actions.iter().map(|a| a.describe()).collect();
            result.output = finding
                .output
                .iter()
                .map(|text| OutputLine {
                    at_ms: 0,
                    text: text.clone(),
                })
                .collect();
            result
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Summary;

    #[test]
    fn the_summary_of_a_clean_run_is_one_passing_case() {
        let run = FuzzRun {
            findings: Vec::new(),
            stats: Stats::default(),
            version: crate::mqtt::Version::V5,
            interrupted: false,
        };
        let results = results_of(&run, &[]);
        assert_eq!(results.len(), 1);
        assert_eq!(results[0].verdict, Verdict::Pass);
        assert_eq!(Summary::of(&results).passed, 1);
    }
}
