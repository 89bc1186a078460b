//! `tbgw run`: replay scenarios against a platform under test and report verdicts.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use globset::Glob;

use crate::exit;
use crate::report::{self, Summary, console};
use crate::scenario::load::{self, Suite};
use crate::scenario::model::{Profile, User};
use crate::scenario::outcome::Verdict;
use crate::scenario::runner::{self, RunOptions};
use crate::target::container::{ContainerOptions, Preset};
use crate::target::rest::Credentials;
use crate::target::{Platform, TargetKind, TargetOptions};

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Scenario files or folders; the platform suite (scenarios/platform) when omitted.
    paths: Vec<PathBuf>,
    /// Where the platform under test lives.
    #[arg(long, value_enum, default_value = "embedded")]
    target: TargetKind,
    /// Only cases whose id matches this glob, e.g. 'telemetry/*'.
    #[arg(long, value_name = "GLOB")]
    filter: Option<String>,
    /// Only cases asserting this source of truth.
    #[arg(long, value_parser = parse_profile)]
    profile: Option<Profile>,
    /// Write a JUnit XML report.
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
    /// Write a JSON report with each case's transcript and wire log.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Scale every deadline (a slow ThingsBoard: 2 or 3).
    #[arg(long, default_value_t = 1.0, value_name = "X")]
    timeout_multiplier: f64,
    /// Cases running at once.
    #[arg(long, default_value_t = 8, value_name = "N")]
    jobs: usize,
    /// --target remote: ThingsBoard's MQTT transport.
    #[arg(long, value_name = "HOST:PORT")]
    mqtt: Option<String>,
    /// --target remote: ThingsBoard's base URL, e.g. http://localhost:8080.
    #[arg(long, value_name = "URL")]
    rest: Option<String>,
    /// Tenant administrator (default tenant@thingsboard.org).
    #[arg(long, value_name = "U", requires = "password")]
    username: Option<String>,
    #[arg(long, value_name = "P")]
    password: Option<String>,
    /// Customer user for claiming (default customer@thingsboard.org / customer).
    #[arg(long, value_name = "U=P", value_parser = parse_user)]
    customer: Option<Credentials>,
    /// System administrator for the device-limit case (default sysadmin@thingsboard.org / sysadmin).
    #[arg(long, value_name = "U=P", value_parser = parse_user)]
    sysadmin: Option<Credentials>,
    /// --target container: which platform to start [default: thingsboard].
    #[arg(long, value_enum)]
    preset: Option<Preset>,
    /// --target container: the image, NAME or NAME:TAG [default: the preset's].
    #[arg(long, value_name = "NAME[:TAG]")]
    image: Option<String>,
    /// --target container: the image's tag [default: the preset's].
    #[arg(long, value_name = "TAG")]
    tag: Option<String>,
    /// --target container: an environment variable for the container (repeatable).
    #[arg(long = "env", value_name = "KEY=VALUE", value_parser = parse_env)]
    env: Vec<(String, String)>,
    /// --target container: seconds the container may take to be ready [default: 400 for
    /// ThingsBoard, 30 for the emulator].
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds)]
    ready_timeout: Option<Duration>,
}

impl RunArgs {
    /// The container options given with another target: a mistake worth a usage error.
    fn misplaced_container_options(&self) -> Vec<&'static str> {
        if self.target == TargetKind::Container {
            return Vec::new();
        }
        [
            ("--preset", self.preset.is_some()),
            ("--image", self.image.is_some()),
            ("--tag", self.tag.is_some()),
            ("--env", !self.env.is_empty()),
            ("--ready-timeout", self.ready_timeout.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, given)| given.then_some(name))
        .collect()
    }
}

fn parse_profile(text: &str) -> Result<Profile, String> {
    match text {
        "doc" => Ok(Profile::Doc),
        "tb" => Ok(Profile::Tb),
        _ => Err(format!("unknown profile {text:?}: use doc or tb")),
    }
}

fn parse_env(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
        _ => Err(format!("expected KEY=VALUE, got {text:?}")),
    }
}

fn parse_seconds(text: &str) -> Result<Duration, String> {
    text.parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s > 0.0)
        .map(Duration::from_secs_f64)
        .ok_or_else(|| format!("expected a positive number of seconds, got {text:?}"))
}

fn parse_user(text: &str) -> Result<Credentials, String> {
    match text.split_once('=') {
        Some((u, p)) if !u.is_empty() => Ok(Credentials::new(u, p)),
        _ => Err(format!("expected USERNAME=PASSWORD, got {text:?}")),
    }
}

/// Loads the scenarios and deviations; prints every mistake (exit 2).
pub fn load_or_report(paths: &[PathBuf], command: &str) -> Result<Suite, ExitCode> {
    load::load(&load::paths_to_load(paths)).map_err(|errors| {
        for error in &errors {
            eprintln!("error: {error}");
        }
        eprintln!(
            "tbgw {command}: {} mistake(s) in the scenario files; nothing was run",
            errors.len()
        );
        exit::code(exit::BAD_INPUT)
    })
}

pub fn run(args: RunArgs) -> ExitCode {
    if !(args.timeout_multiplier.is_finite() && args.timeout_multiplier > 0.0) {
        eprintln!("tbgw run: --timeout-multiplier must be a positive number");
        return exit::code(exit::BAD_INPUT);
    }
    let misplaced = args.misplaced_container_options();
    if !misplaced.is_empty() {
        eprintln!(
            "tbgw run: {} {} only to --target container (the target is {})",
            misplaced.join(", "),
            if misplaced.len() == 1 {
                "applies"
            } else {
                "apply"
            },
            args.target.as_str()
        );
        return exit::code(exit::BAD_INPUT);
    }
    let suite = match load_or_report(&args.paths, "run") {
        Ok(suite) => suite,
        Err(code) => return code,
    };
    let filter = match args.filter.as_deref().map(Glob::new).transpose() {
        Ok(glob) => glob.map(|g| g.compile_matcher()),
        Err(e) => {
            eprintln!("tbgw run: bad --filter: {e}");
            return exit::code(exit::BAD_INPUT);
        }
    };
    let planned = runner::plan(&suite, filter.as_ref(), args.profile);
    if planned.is_empty() {
        eprintln!("tbgw run: no case matches (see `tbgw list`)");
        return exit::code(exit::BAD_INPUT);
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
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("tbgw run: cannot start the async runtime: {error}");
            return exit::code(exit::TARGET_FAILED);
        }
    };
    runtime.block_on(run_suite(args, suite, planned, stale))
}

async fn run_suite(
    args: RunArgs,
    suite: Suite,
    planned: Vec<runner::Planned>,
    stale: Vec<String>,
) -> ExitCode {
    let mut users = HashMap::new();
    if let (Some(u), Some(p)) = (&args.username, &args.password) {
        users.insert(User::Tenant, Credentials::new(u, p));
    }
    if let Some(c) = &args.customer {
        users.insert(User::Customer, c.clone());
    }
    if let Some(c) = &args.sysadmin {
        users.insert(User::Sysadmin, c.clone());
    }
    let target_options = TargetOptions {
        mqtt: args.mqtt.clone(),
        rest: args.rest.clone(),
        users,
        container: ContainerOptions {
            preset: args.preset.unwrap_or_default(),
            image: args.image.clone(),
            tag: args.tag.clone(),
            env: args.env.clone(),
            ready_timeout: args.ready_timeout,
        },
    };
    let started = Instant::now();
    let platform = match Platform::start(args.target, &target_options).await {
        Ok(platform) => platform,
        Err(message) => {
            eprintln!("tbgw run: target {}: {message}", args.target.as_str());
            return exit::code(exit::TARGET_FAILED);
        }
    };
    if let Some(running) = &platform.container {
        println!(
            "container {} ({}) ready in {:.2} s: MQTT {}, REST {}",
            running.spec.reference(),
            &running.id()[..12.min(running.id().len())],
            running.ready_in.as_secs_f64(),
            running.mqtt,
            running.rest
        );
    }
    let platform = Arc::new(platform);
    let target = args.target.as_str();
    let progress = Arc::new(console::Progress::new(planned.len()));
    let on_done = Arc::clone(&progress);
    let options = RunOptions {
        timeout_multiplier: args.timeout_multiplier,
        jobs: args.jobs,
        profile: args.profile,
    };
    let results = runner::run(
        Arc::new(suite),
        planned,
        Arc::clone(&platform),
        options,
        move |r| on_done.finished(r),
    )
    .await;
    progress.clear();
    let mut stop_failed = false;
    if let Ok(platform) = Arc::try_unwrap(platform) {
        let stopping = Instant::now();
        let had_container = platform.container.is_some();
        match platform.stop().await {
            Ok(()) if had_container => println!(
                "container stopped and removed in {:.2} s",
                stopping.elapsed().as_secs_f64()
            ),
            Ok(()) => {}
            Err(e) => {
                eprintln!("tbgw run: {e}");
                stop_failed = true;
            }
        }
    }
    let elapsed = started.elapsed();
    print!("{}", console::failure_blocks(&results));
    for line in &stale {
        println!("\nSTALE deviation entry: {line}: remove it or fix its glob");
    }
    let summary = Summary::of(&results);
    println!("\n{}", console::summary_line(&summary, target, elapsed));
    let mut code = exit_code(&summary, !stale.is_empty());
    if stop_failed {
        code = code.max(exit::TARGET_FAILED);
    }
    for e in report::write_files(
        &results,
        target,
        elapsed,
        &stale,
        args.junit.as_deref(),
        args.json.as_deref(),
    ) {
        eprintln!("tbgw run: {e}");
        code = code.max(exit::TARGET_FAILED);
    }
    exit::code(code)
}

/// 3 when the infrastructure failed, else 1 on failures, else 4 on an XPASS or a stale
/// deviation entry, else 0.
pub fn exit_code(summary: &Summary, stale: bool) -> u8 {
    if summary.errors > 0 {
        exit::TARGET_FAILED
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
