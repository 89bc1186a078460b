//! `tbgw load`: conformance under load against any platform target (or a plain MQTT
//! broker, to compare), and `tbgw load merge` for the results of sharded runs.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Subcommand};

use super::common::{ReportPath, TargetArgs};
use super::run::usage;
use crate::emulator::core::settings::Settings;
use crate::emulator::core::store::Retention;
use crate::load::plan::{Shape, Shard};
use crate::load::result::{self, LoadResult};
use crate::load::runner::{self, Doors, LoadConfig, Pace, Progress};
use crate::mqtt::Version;
use crate::process::interrupt::Interrupt;
use crate::target::{Platform, TargetKind};
use crate::{errln, exit, outln};

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct LoadArgs {
    #[command(subcommand)]
    merge: Option<LoadCommand>,
    #[command(flatten)]
    target: TargetArgs,
    /// Gateways, each on its own MQTT connection.
    #[arg(long, default_value_t = 1, value_name = "N")]
    gateways: u32,
    /// Devices behind each gateway, announced before the timed phase.
    #[arg(long, default_value_t = 1, value_name = "M")]
    devices_per_gateway: u32,
    /// Device entries in each telemetry message (round-robin over the gateway's devices).
    #[arg(long, default_value_t = 1, value_name = "D")]
    devices_per_message: u32,
    /// Points in each message, spread evenly over its device entries (1×2 is
    /// `--devices-per-message 1 --points-per-message 2`; 10×10 is `10` and `100`).
    #[arg(long, default_value_t = 2, value_name = "P")]
    points_per_message: u32,
    /// An open loop: this many messages per second over all gateways, each sent at its
    /// intended time; latency counts from that time, so a stalled platform is not hidden.
    #[arg(long, value_name = "MSG_PER_S", conflicts_with = "window")]
    rate: Option<f64>,
    /// A closed loop: each gateway keeps W messages in flight [default: 1].
    #[arg(long, value_name = "W")]
    window: Option<usize>,
    /// How long the timed phase lasts, e.g. 90s, 10m, 2h [default: 10s unless --messages].
    #[arg(long, value_name = "T", value_parser = super::common::parse_duration)]
    duration: Option<Duration>,
    /// Messages in the whole run (every shard's), split evenly over the gateways.
    #[arg(long, value_name = "K")]
    messages: Option<u64>,
    /// MQTT protocol version of the gateways: 3.1.1 or 5.
    #[arg(long, default_value = "3.1.1", value_parser = parse_version, value_name = "VERSION")]
    mqtt_version: Version,
    /// Two-way RPCs per second through REST during the load; each must come back to its
    /// own call.
    #[arg(long, value_name = "PER_S")]
    rpc_rate: Option<f64>,
    /// Shared-attribute writes per second through REST during the load; each must reach
    /// its device's gateway as a push.
    #[arg(long, value_name = "PER_S")]
    attribute_rate: Option<f64>,
    /// This process's share of the gateways: I/N, I from 0 (Kubernetes' JOB_COMPLETION_INDEX).
    #[arg(long, value_name = "I/N", value_parser = Shard::parse)]
    shard: Option<Shard>,
    /// Names of the devices the run creates start with this [default: a run prefix that
    /// `tbgw clean --run` recognises].
    #[arg(long, value_name = "PREFIX")]
    prefix: Option<String>,
    /// Do not read the points back (the PUBACKs are still checked).
    #[arg(long)]
    no_verify: bool,
    /// Write the result as JSON to FILE (- for standard output), with the latency histogram,
    /// for `tbgw load merge`.
    #[arg(long, value_name = "FILE", value_parser = ReportPath::parse)]
    json: Option<ReportPath>,
}

#[derive(Debug, Subcommand)]
enum LoadCommand {
    /// Combine the JSON results of sharded runs exactly (histograms added, not percentiles
    /// averaged) and print the whole run's figures.
    Merge {
        /// The shards' `--json` files.
        #[arg(required = true, value_name = "RESULT")]
        results: Vec<PathBuf>,
        /// Write the merged result as JSON to FILE (- for standard output).
        #[arg(long, value_name = "FILE", value_parser = ReportPath::parse)]
        json: Option<ReportPath>,
    },
}

fn parse_version(text: &str) -> Result<Version, String> {
    match text {
        "3.1.1" | "3" | "4" => Ok(Version::V3),
        "5" => Ok(Version::V5),
        other => Err(format!("unknown MQTT version {other:?}: use 3.1.1 or 5")),
    }
}

impl LoadArgs {
    fn config(&self, prefix: String) -> Result<LoadConfig, String> {
        let shape = Shape {
            gateways: self.gateways,
            devices_per_gateway: self.devices_per_gateway,
            devices_per_message: self.devices_per_message,
            points_per_message: self.points_per_message,
            messages: self.messages,
        };
        shape.check()?;
        let pace = match (self.rate, self.window) {
            (Some(rate), _) if rate.is_finite() && rate > 0.0 => Pace::Rate(rate),
            (Some(rate), _) => return Err(format!("--rate must be a positive number, got {rate}")),
            (None, Some(0)) => return Err("--window must be at least 1".into()),
            (None, window) => Pace::Window(window.unwrap_or(1)),
        };
        for (flag, rate) in [
            ("--rpc-rate", self.rpc_rate),
            ("--attribute-rate", self.attribute_rate),
        ] {
            if let Some(rate) = rate
                && !(rate.is_finite() && rate > 0.0)
            {
                return Err(format!("{flag} must be a positive number, got {rate}"));
            }
        }
        let broker = self.target.target == TargetKind::Mqtt;
        if broker && (self.rpc_rate.is_some() || self.attribute_rate.is_some() || self.no_verify) {
            return Err("--target mqtt is a plain broker: it has no REST API, so no --rpc-rate or --attribute-rate and nothing to verify (drop them and --no-verify)".into());
        }
        let duration = match (self.duration, self.messages) {
            (None, None) => Some(Duration::from_secs(10)),
            (duration, _) => duration,
        };
        Ok(LoadConfig {
            shape,
            shard: self.shard.unwrap_or(Shard::WHOLE),
            pace,
            duration,
            version: self.mqtt_version,
            prefix,
            rpc_rate: self.rpc_rate,
            attribute_rate: self.attribute_rate,
            verify: !self.no_verify && !broker,
            drain: Duration::from_secs(10),
        })
    }
}

pub fn run(args: LoadArgs) -> ExitCode {
    if let Some(LoadCommand::Merge { results, json }) = &args.merge {
        return merge(results, json.as_ref());
    }
    if let Err(e) = args.target.check_for_load() {
        return usage("load", &e);
    }
    let prefix = args
        .prefix
        .clone()
        .unwrap_or_else(|| format!("{}-load", crate::scenario::runner::new_run_id()));
    let config = match args.config(prefix) {
        Ok(config) => config,
        Err(e) => return usage("load", &e),
    };
    if let Some(ReportPath::File(path)) = &args.json
        && let Err(e) = super::common::writable(path)
    {
        return usage("load", &format!("--json {}: {e}", path.display()));
    }
    if args.json == Some(ReportPath::Stdout) {
        crate::output::console_to_stderr();
    }
    let runtime = match super::common::runtime("load") {
        Ok(runtime) => runtime,
        Err(code) => return code,
    };
    runtime.block_on(load(args, config))
}

async fn load(args: LoadArgs, config: LoadConfig) -> ExitCode {
    let interrupt = Interrupt::listen();
    let kind = args.target.target;
    let (doors, platform) = match kind {
        TargetKind::Mqtt => {
            let mqtt = args.target.mqtt.clone().unwrap_or_default();
            if let Err(e) = crate::target::check_mqtt(&mqtt).await {
                errln!("tbgw load: target mqtt: {e}");
                return exit::code(exit::TARGET_FAILED);
            }
            let doors = Doors {
                target: kind.as_str().into(),
                mqtt,
                rest: None,
            };
            (doors, None)
        }
        _ => {
            let options = args.target.options();
            // The read-back needs every point: the embedded emulator keeps them all then.
            let start = async {
                if kind == TargetKind::Embedded && config.verify {
                    let all = Retention {
                        points_per_key: None,
                    };
                    Platform::embedded_keeping(Settings::for_suite_runs(), all).await
                } else {
                    Platform::start(kind, &options).await
                }
            };
            let started = tokio::select! {
                platform = start => platform,
                caught = interrupt.wait() => {
                    errln!("tbgw load: interrupted by {} while the target was starting", caught.name());
                    return exit::code(caught.exit_code());
                }
            };
            match started {
                Ok(platform) => {
                    let doors = Doors {
                        target: kind.as_str().into(),
                        mqtt: platform.mqtt.clone(),
                        rest: Some(Arc::clone(&platform.rest)),
                    };
                    (doors, Some(platform))
                }
                Err(e) => {
                    errln!("tbgw load: target {}: {e}", kind.as_str());
                    return exit::code(exit::TARGET_FAILED);
                }
            }
        }
    };
    outln!("{}", headline(&config, kind));
    let progress = Progress::new();
    let bar = progress_bar(&progress, &config);
    let prefix = config.prefix.clone();
    let outcome = tokio::select! {
        outcome = runner::run(config, doors, &progress) => Some(outcome),
        caught = interrupt.wait() => {
            errln!("tbgw load: interrupted by {}; devices named {prefix}-* may be left on the target (`tbgw clean --run` removes them from a remote ThingsBoard)", caught.name());
            None
        }
    };
    bar.finish_and_clear();
    if let Some(platform) = platform
        && let Err(e) = platform.stop().await
    {
        errln!("tbgw load: {e}");
    }
    let result = match outcome {
        None => return exit::code(exit::TARGET_FAILED),
        Some(Err(e)) => {
            errln!("tbgw load: target {}: {e}", kind.as_str());
            return exit::code(exit::TARGET_FAILED);
        }
        Some(Ok(result)) => result,
    };
    report(&result, args.json.as_ref())
}

fn headline(config: &LoadConfig, kind: TargetKind) -> String {
    let shape = &config.shape;
    let shard = if config.shard == Shard::WHOLE {
        String::new()
    } else {
        format!(", shard {}/{}", config.shard.index, config.shard.count)
    };
    let length = match (config.duration, shape.messages) {
        (Some(d), Some(k)) => format!("{k} messages or {}", humantime::format_duration(d)),
        (Some(d), None) => humantime::format_duration(d).to_string(),
        (None, Some(k)) => format!("{k} messages"),
        (None, None) => String::new(),
    };
    format!(
        "tbgw load: target {}, MQTT {}, {} gateway(s) × {} device(s), {} device(s) × {} point(s) per message, {}, {length}{shard}",
        kind.as_str(),
        config.version.as_str(),
        shape.gateways,
        shape.devices_per_gateway,
        shape.devices_per_message,
        shape.points_per_device(),
        config.pace.describe(),
    )
}

/// A spinner with the phase and the counts on a terminal; nothing otherwise.
fn progress_bar(progress: &Progress, config: &LoadConfig) -> indicatif::ProgressBar {
    let bar = if console::Term::stderr().is_term() {
        indicatif::ProgressBar::new_spinner()
    } else {
        indicatif::ProgressBar::hidden()
    };
    if bar.is_hidden() {
        return bar;
    }
    let (counters, phase, bar_for) = (
        Arc::clone(&progress.counters),
        Arc::clone(&progress.phase),
        bar.clone(),
    );
    let total = config.shape.messages;
    tokio::spawn(async move {
        let started = tokio::time::Instant::now();
        let mut tick = tokio::time::interval(Duration::from_millis(200));
        while !bar_for.is_finished() {
            tick.tick().await;
            let sent = counters.sent.load(std::sync::atomic::Ordering::Relaxed);
            let acked = counters
                .acknowledged
                .load(std::sync::atomic::Ordering::Relaxed);
            let rate = acked as f64 / started.elapsed().as_secs_f64().max(0.001);
            let of = total.map(|t| format!(" of {t}")).unwrap_or_default();
            let phase = phase.lock().map(|p| p.clone()).unwrap_or_default();
            bar_for.set_message(format!(
                "{phase}: {sent}{of} sent, {acked} acknowledged ({rate:.0}/s)"
            ));
            bar_for.tick();
        }
    });
    bar
}

fn report(result: &LoadResult, json: Option<&ReportPath>) -> ExitCode {
    for line in summary(result) {
        outln!("{line}");
    }
    if let Some(path) = json {
        let text = match serde_json::to_string_pretty(result) {
            Ok(text) => text + "\n",
            Err(e) => {
                errln!("tbgw load: cannot write the JSON result: {e}");
                return exit::code(exit::TARGET_FAILED);
            }
        };
        let written = match path {
            ReportPath::Stdout => {
                crate::output::report_to_stdout(&text);
                Ok(())
            }
            ReportPath::File(file) => {
                std::fs::write(file, text).map_err(|e| format!("--json {}: {e}", file.display()))
            }
        };
        if let Err(e) = written {
            errln!("tbgw load: {e}");
            return exit::code(exit::TARGET_FAILED);
        }
    }
    exit::code(if result.conforms() {
        exit::OK
    } else {
        exit::FAILURES
    })
}

/// The figures a person reads, one per line; the last is the verdict.
pub fn summary(result: &LoadResult) -> Vec<String> {
    let mut lines = vec![format!(
        "  {} messages sent, {} acknowledged in {:.2} s: {:.0} msg/s, {:.0} points/s",
        result.sent,
        result.acknowledged,
        result.seconds,
        result.messages_per_second(),
        result.points_per_second()
    )];
    match result::decode_histogram(&result.histogram) {
        Ok(histogram) if !histogram.is_empty() => {
            let l = result::latency(&histogram);
            lines.push(format!(
                "  PUBACK latency ms: p50 {:.2}  p90 {:.2}  p99 {:.2}  p99.9 {:.2}  max {:.2}  mean {:.2}",
                l.p50, l.p90, l.p99, l.p999, l.max, l.mean
            ));
        }
        _ => lines.push("  PUBACK latency: no message was acknowledged".into()),
    }
    if let Some(cpu) = result.cpu_seconds {
        let per_100k = cpu / result.acknowledged.max(1) as f64 * 1e5;
        let whose = if result.target == "embedded" {
            "the load client and the emulator"
        } else {
            "the load client"
        };
        lines.push(format!(
            "  CPU: {cpu:.2} s in tbgw's process ({whose}), {per_100k:.2} s per 100k acknowledged messages"
        ));
    }
    if result.errors.is_empty() {
        lines.push("  errors: none".into());
    } else {
        for (kind, count) in &result.errors {
            lines.push(format!("  error: {kind} ×{count}"));
        }
    }
    if let Some(s) = &result.stored {
        lines.push(format!(
            "  read back: {} of {} acknowledged points stored ({} lost, {} unexpected{})",
            s.found,
            s.acknowledged,
            s.lost,
            s.unexpected,
            if s.unread_devices > 0 {
                format!(", {} device(s) unreadable", s.unread_devices)
            } else {
                String::new()
            }
        ));
    }
    if let Some(p) = &result.attributes {
        lines.push(format!(
            "  shared attributes: {} written, {} pushed to their gateway, {} missing, {} writes failed",
            p.written, p.delivered, p.missing, p.failed
        ));
    }
    if let Some(r) = &result.rpcs {
        lines.push(format!(
            "  RPC: {} sent, {} answered to their own call, {} crossed, {} failed",
            r.sent, r.matched, r.crossed, r.failed
        ));
    }
    lines.push(verdict(result));
    lines
}

/// PASS with what held, or FAIL with what did not.
fn verdict(result: &LoadResult) -> String {
    let mut held = vec!["every message acknowledged with success".to_owned()];
    let mut failed = Vec::new();
    let errors: u64 = result.errors.values().sum();
    if errors > 0 {
        failed.push(format!("{errors} error(s)"));
    }
    if let Some(s) = &result.stored {
        held.push("every acknowledged point stored once".into());
        if s.lost > 0 {
            failed.push(format!("{} acknowledged point(s) not stored", s.lost));
        }
        if s.unexpected > 0 {
            failed.push(format!(
                "{} point(s) stored that no message carried, or twice",
                s.unexpected
            ));
        }
    }
    if let Some(p) = &result.attributes {
        held.push("every shared attribute pushed to its gateway".into());
        if p.missing + p.failed > 0 {
            failed.push(format!(
                "{} shared attribute(s) not pushed or not written",
                p.missing + p.failed
            ));
        }
    }
    if let Some(r) = &result.rpcs {
        held.push("every RPC answered to its own call".into());
        if r.crossed + r.failed > 0 {
            failed.push(format!("{} RPC(s) crossed or failed", r.crossed + r.failed));
        }
    }
    if failed.is_empty() {
        let unread = if result.stored.is_none() {
            " (nothing was read back)"
        } else {
            ""
        };
        format!("PASS: {}{unread}", held.join(", "))
    } else {
        format!("FAIL: {}", failed.join(", "))
    }
}

fn merge(paths: &[PathBuf], json: Option<&ReportPath>) -> ExitCode {
    if json == Some(&ReportPath::Stdout) {
        crate::output::console_to_stderr();
    }
    let mut results = Vec::new();
    for path in paths {
        let read = std::fs::read_to_string(path)
            .map_err(|e| e.to_string())
            .and_then(|text| serde_json::from_str::<LoadResult>(&text).map_err(|e| e.to_string()));
        match read {
            Ok(result) => results.push(result),
            Err(e) => return usage("load merge", &format!("{}: {e}", path.display())),
        }
    }
    match result::merge(results) {
        Ok(merged) => {
            outln!(
                "tbgw load merge: {} shard(s), {}",
                merged.shards.len(),
                merged.mode
            );
            report(&merged, json)
        }
        Err(e) => usage("load merge", &e),
    }
}
