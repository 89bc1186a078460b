//! `tbgw check-gateway`: start the emulator, start the gateway under test against it, run the
//! gateway scenarios and the passive checks, stop the gateway, report like `tbgw run`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Args;
use globset::Glob;

use crate::exit;
use crate::gateway::load;
use crate::gateway::runner::{self, CheckOptions};
use crate::report::{self, Summary, console};

#[derive(Debug, Args)]
pub struct CheckGatewayArgs {
    /// The gateway's command line, run by `sh -c`; `{host}`, `{port}` and `{token}` are
    /// replaced, and TB_GW_HOST, TB_GW_PORT, TB_GW_ACCESS_TOKEN are set in its environment.
    #[arg(long = "cmd", value_name = "COMMAND")]
    command: String,
    /// Gateway scenario files or folders; scenarios/gateway when omitted.
    paths: Vec<PathBuf>,
    /// Only cases whose id matches this glob (the connect, stop and passive checks always run).
    #[arg(long, value_name = "GLOB")]
    filter: Option<String>,
    /// NON-STRICT findings (accepted only through a ThingsBoard leniency) fail the check.
    #[arg(long)]
    strict: bool,
    /// Write a JUnit XML report.
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
    /// Write a JSON report.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Scale every deadline (a slow gateway or machine: 2 or 3).
    #[arg(long, default_value_t = 1.0, value_name = "X")]
    timeout_multiplier: f64,
    /// Seconds the gateway has to connect.
    #[arg(long, default_value_t = 60.0, value_name = "SECONDS")]
    connect_timeout: f64,
    /// Seconds between SIGINT, SIGTERM and SIGKILL when stopping the gateway.
    #[arg(long, default_value_t = 5.0, value_name = "SECONDS")]
    grace: f64,
    /// The RPC method the scenarios call on devices (one your gateway answers).
    #[arg(long, default_value = "echo", value_name = "NAME")]
    rpc_method: String,
}

fn seconds(value: f64, flag: &str) -> Result<Duration, String> {
    if value.is_finite() && value > 0.0 {
        Ok(Duration::from_secs_f64(value))
    } else {
        Err(format!("{flag} must be a positive number of seconds"))
    }
}

pub fn run(args: CheckGatewayArgs) -> ExitCode {
    let durations = seconds(args.connect_timeout, "--connect-timeout")
        .and_then(|c| seconds(args.grace, "--grace").map(|g| (c, g)))
        .and_then(|d| seconds(args.timeout_multiplier, "--timeout-multiplier").map(|_| d));
    if args.rpc_method.starts_with("gateway_") {
        eprintln!(
            "tbgw check-gateway: --rpc-method {:?} is a gateway-level method that acts on the gateway's host; choose a device method",
            args.rpc_method
        );
        return exit::code(exit::BAD_INPUT);
    }
    let (connect_timeout, grace) = match durations {
        Ok(d) => d,
        Err(e) => {
            eprintln!("tbgw check-gateway: {e}");
            return exit::code(exit::BAD_INPUT);
        }
    };
    let mut cases = match load::load(&load::paths_to_load(&args.paths)) {
        Ok(cases) => cases,
        Err(errors) => {
            for error in &errors {
                eprintln!("error: {error}");
            }
            eprintln!(
                "tbgw check-gateway: {} mistake(s) in the scenario files; the gateway was not started",
                errors.len()
            );
            return exit::code(exit::BAD_INPUT);
        }
    };
    if let Some(filter) = &args.filter {
        match Glob::new(filter) {
            Ok(glob) => {
                let matcher = glob.compile_matcher();
                cases.retain(|c| matcher.is_match(&c.scenario.id));
            }
            Err(e) => {
                eprintln!("tbgw check-gateway: bad --filter: {e}");
                return exit::code(exit::BAD_INPUT);
            }
        }
    }
    let options = CheckOptions {
        command: args.command.clone(),
        timeout_multiplier: args.timeout_multiplier,
        connect_timeout,
        grace,
        rpc_method: args.rpc_method.clone(),
        strict: args.strict,
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("tbgw check-gateway: cannot start the async runtime: {error}");
            return exit::code(exit::TARGET_FAILED);
        }
    };
    let started = Instant::now();
    let check = match runtime.block_on(runner::check(&cases, &options)) {
        Ok(check) => check,
        Err(e) => {
            eprintln!("tbgw check-gateway: {e}");
            return exit::code(exit::TARGET_FAILED);
        }
    };
    let elapsed = started.elapsed();
    if let (Some(took), Some(version)) = (check.connected_in, check.version) {
        println!(
            "gateway connected after {:.2} s (MQTT {version}); stopped by {} after {:.2} s",
            took.as_secs_f64(),
            check.stopped.by,
            check.stopped.took.as_secs_f64()
        );
    }
    for result in &check.results {
        println!("{}", console::case_line(result));
    }
    print!("{}", console::failure_blocks(&check.results));
    let summary = Summary::of(&check.results);
    let target = "the gateway";
    println!(
        "\n{}",
        console::summary_line_of("tbgw check-gateway", "checks of", &summary, target, elapsed)
    );
    let mut code = super::run::exit_code(&summary, false);
    for e in report::write_files(
        &check.results,
        "check-gateway",
        elapsed,
        &[],
        args.junit.as_deref(),
        args.json.as_deref(),
    ) {
        eprintln!("tbgw check-gateway: {e}");
        code = code.max(exit::TARGET_FAILED);
    }
    exit::code(code)
}
