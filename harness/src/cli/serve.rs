//! `tbgw serve`: the emulator as a process, printing its addresses once it is ready and
//! one line per protocol violation.

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::Args;
use tokio::signal::unix::{Signal, SignalKind, signal};

use crate::emulator::core::Config;
use crate::emulator::core::settings::Settings;
use crate::emulator::core::store::Retention;
use crate::emulator::{Emulator, Options};
use crate::exit;

#[derive(Debug, Args)]
#[command(after_long_help = Settings::help())]
pub struct ServeArgs {
    /// Address of the MQTT listener (3.1.1 and 5); port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:1883", value_name = "ADDR")]
    mqtt: SocketAddr,
    /// Address of the REST API (ThingsBoard's paths); port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR")]
    http: SocketAddr,
    /// Provision a gateway device with this access token (repeatable).
    #[arg(long = "gateway", value_name = "NAME=TOKEN", value_parser = parse_gateway)]
    gateways: Vec<(String, String)>,
    /// The tenant's device limit (`maxDevices`); 0 means no limit.
    #[arg(long, default_value_t = 0, value_name = "N")]
    max_devices: u64,
    /// Keep at most N points of each key of each device, the newest by ts, so that a long
    /// run's memory stays flat; 0 keeps every point.
    #[arg(long, default_value_t = Retention::DEFAULT_POINTS_PER_KEY, value_name = "N")]
    max_points_per_key: usize,
}

fn parse_gateway(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((name, token)) if !name.is_empty() && !token.is_empty() => {
            if let Some(why) = tbgw_codec::device::device_name_problem(name) {
                return Err(format!(
                    "ThingsBoard refuses the device name {name:?}: {why}"
                ));
            }
            Ok((name.to_owned(), token.to_owned()))
        }
        _ => Err(format!(
            "expected NAME=TOKEN, for example gw1=GW_TOKEN; got {text:?}"
        )),
    }
}

pub fn run(args: ServeArgs) -> ExitCode {
    let settings = match Settings::from_env(|name| std::env::var(name).ok()) {
        Ok(settings) => settings,
        Err(error) => {
            crate::errln!(
                "tbgw serve: {error}; unset it for ThingsBoard's default (tbgw serve --help lists them)"
            );
            return exit::code(exit::BAD_INPUT);
        }
    };
    let mut names: Vec<&str> = args.gateways.iter().map(|(n, _)| n.as_str()).collect();
    let mut tokens: Vec<&str> = args.gateways.iter().map(|(_, t)| t.as_str()).collect();
    names.sort_unstable();
    tokens.sort_unstable();
    if names.windows(2).any(|w| w[0] == w[1]) || tokens.windows(2).any(|w| w[0] == w[1]) {
        crate::errln!("tbgw serve: every --gateway needs its own name and its own token");
        return exit::code(exit::BAD_INPUT);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            crate::errln!("tbgw serve: cannot start the async runtime: {error}");
            return exit::code(exit::TARGET_FAILED);
        }
    };
    runtime.block_on(serve(args, settings))
}

async fn serve(args: ServeArgs, settings: Settings) -> ExitCode {
    let mut options = Options::ephemeral();
    options.mqtt = args.mqtt;
    options.http = args.http;
    options.log_unserved = true;
    options.config = Config {
        gateways: args.gateways.clone(),
        max_devices: args.max_devices,
        settings,
        retention: Retention {
            points_per_key: (args.max_points_per_key > 0).then_some(args.max_points_per_key),
        },
    };
    let emulator = match Emulator::start(options).await {
        Ok(emulator) => emulator,
        Err(error) => {
            crate::errln!("tbgw serve: {error}");
            return exit::code(exit::TARGET_FAILED);
        }
    };
    let mut violations = emulator.watch_violations();
    crate::outln!("tbgw serve: MQTT on {} (3.1.1 and 5)", emulator.mqtt_addr);
    crate::outln!("tbgw serve: REST on http://{}", emulator.http_addr);
    crate::outln!(
        "tbgw serve: users tenant@thingsboard.org/tenant, customer@thingsboard.org/customer"
    );
    for (name, token) in &args.gateways {
        crate::outln!("tbgw serve: gateway {name:?} with access token {token}");
    }
    let from_env: Vec<String> = Settings::variable_names()
        .filter_map(|name| {
            std::env::var(name)
                .ok()
                .map(|v| format!("{name}={}", v.trim()))
        })
        .collect();
    if !from_env.is_empty() {
        crate::outln!(
            "tbgw serve: ThingsBoard settings from the environment: {}",
            from_env.join(", ")
        );
    }
    // Listening before `ready` is printed: a signal right after it (a supervisor, a test)
    // must stop serve cleanly, not kill it with the default action.
    let mut interrupt = listen(SignalKind::interrupt());
    let mut terminate = listen(SignalKind::terminate());
    crate::outln!("tbgw serve: ready");
    loop {
        tokio::select! {
            violation = violations.recv() => match violation {
                Ok(v) => crate::outln!("violation: {v}"),
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    crate::outln!("violation: ({n} more not shown: the log fell behind)");
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
            },
            _ = received(&mut interrupt) => break,
            _ = received(&mut terminate) => break,
        }
    }
    crate::outln!("tbgw serve: stopped");
    exit::code(exit::OK)
}

/// SIGINT (Ctrl-C) or SIGTERM, as `docker stop` and service managers send it (PID 1 in a
/// container would otherwise ignore it); `None` when it cannot be listened for.
fn listen(kind: SignalKind) -> Option<Signal> {
    signal(kind).ok()
}

async fn received(signal: &mut Option<Signal>) {
    match signal {
        Some(signal) => {
            signal.recv().await;
        }
        None => std::future::pending::<()>().await,
    }
}
