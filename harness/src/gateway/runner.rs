//! One check of a gateway: the emulator on free ports with a fresh gateway device, the
//! gateway's process, the scenarios in file order, the passive checks over everything it
//! sent, and its shutdown. Results are the same `CaseResult`s as `tbgw run`'s.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

use super::launch::{Launched, launch};
use super::load::GatewayCaseFile;
use super::observer::{Observed, Observer};
use super::passive::{Check, Severity};
use super::steps::{self, GatewayCase, Stage};
use crate::mqtt::Version;
use crate::mqtt::wirelog::{Direction, WireEntry};
use crate::process::group::{self, EndedBy, ProcessGroup, Stopped};
use crate::process::interrupt::{Caught, Interrupt};
use crate::scenario::outcome::{CaseResult, Failure, OutputLine, Verdict, now_unix_ms};
use crate::scenario::vars::Vars;

pub use super::launch::GATEWAY_NAME;

#[derive(Clone, Debug)]
pub struct CheckOptions {
    pub command: String,
    pub timeout_multiplier: f64,
    /// How long the gateway has to connect.
    pub connect_timeout: Duration,
    /// Between SIGINT, SIGTERM and SIGKILL.
    pub grace: Duration,
    /// The method the RPC scenarios call (`${rpc_method}`).
    pub rpc_method: String,
    /// NON-STRICT counts as FAIL.
    pub strict: bool,
    /// Every line of the gateway's output goes to this file too (`--gateway-log`).
    pub gateway_log: Option<std::path::PathBuf>,
    /// Ctrl-C or SIGTERM to tbgw: stop the gateway and report what was found so far.
    pub interrupt: Interrupt,
}

/// What a check tells as it goes, for a console that streams.
pub enum Event<'a> {
    /// The gateway's first accepted CONNECT.
    Connected { after: Duration, version: Version },
    /// What the check is doing or waiting for now.
    Doing(String),
    /// A check's verdict, in the order they are reported.
    Finished(&'a CaseResult),
}

/// What a check gives besides the case results.
pub struct CheckRun {
    pub results: Vec<CaseResult>,
    pub version: Option<Version>,
    pub connected_in: Option<Duration>,
    pub stopped: Stopped,
    pub output_tail: Vec<String>,
    /// The signal that cut the check short.
    pub interrupted: Option<Caught>,
}

/// Lines of the gateway's output in a failure.
const OUTPUT_IN_FAILURE: usize = 25;

pub async fn check(
    cases: &[GatewayCaseFile],
    options: &CheckOptions,
    tell: &(dyn Fn(Event<'_>) + Sync),
) -> Result<CheckRun, String> {
    let log =
        match &options.gateway_log {
            Some(path) => Some(std::fs::File::create(path).map_err(|e| {
                format!("cannot write the gateway's log to {}: {e}", path.display())
            })?),
            None => None,
        };
    let Launched {
        emulator,
        rest,
        observer,
        mut process,
        token,
    } = launch(&options.command, log).await?;
    let started = Instant::now();
    let mut results = Vec::new();
    let report = |results: &mut Vec<CaseResult>, result: CaseResult| {
        tell(Event::Finished(&result));
        results.push(result);
    };
    tell(Event::Doing("waiting for the gateway to connect".into()));
    let mut cascades = Cascades::default();

    let connect_deadline =
        tokio::time::Instant::now() + options.connect_timeout.mul_f64(options.timeout_multiplier);
    let connected = tokio::select! {
        found = observer.wait_for(connect_deadline, |o| (o.sessions > 0).then_some(())) => found.is_some(),
        status = process.wait_exit() => {
            // It may have connected just before exiting; the observer tells.
            let connected = observer.read(|o| o.sessions > 0);
            // What it printed last, which its pipes may still be delivering.
            process.output.wait_closed(Duration::from_secs(2)).await;
            if !connected && status.is_some_and(|s| not_runnable(s).is_some()) {
                process.stop(options.grace).await;
                let what = status.and_then(not_runnable).unwrap_or_default();
                return Err(format!(
                    "the gateway command `{}` could not be run: sh says it is {what}; {}",
                    process.command,
                    output_block(&process, OUTPUT_IN_FAILURE)
                ));
            }
            connected
        }
        _ = options.interrupt.wait() => false,
    };
    let connected_in = connected.then(|| started.elapsed());
    let version = observer.read(|o| o.version);
    if let (Some(after), Some(version)) = (connected_in, version) {
        tell(Event::Connected { after, version });
    }
    let mut reported = Reported::default();
    if options.interrupt.caught().is_none() {
        let (result, through) = connect_result(
            &observer,
            &mut process,
            connected,
            started.elapsed(),
            options,
            &token,
        );
        reported = through;
        report(&mut results, result);
    }

    let stage = Stage {
        emulator: &emulator,
        rest: Arc::clone(&rest),
        observer: observer.clone(),
        timeout_multiplier: options.timeout_multiplier,
        strict: options.strict,
    };
    for case in cases {
        if options.interrupt.caught().is_some() {
            break;
        }
        tell(Event::Doing(format!("running {}", case.scenario.id)));
        let result = if !connected {
            skipped(
                case,
                version,
                "the gateway never connected (see gateway/connects)",
            )
        } else if let Some(v) = version
            && !steps::applies(case.scenario.mqtt.as_deref(), v)
        {
            skipped(
                case,
                version,
                &format!("not for a gateway on MQTT {}", v.as_str()),
            )
        } else {
            let interrupt = options.interrupt.clone();
            tokio::select! {
                (result, through) = run_case(&stage, case, &mut process, options, &token, reported, tell) => {
                    reported = through;
                    result
                }
                _ = interrupt.wait() => break,
            }
        };
        let result = cascades.link(result, &observer, results.len());
        report(&mut results, result);
    }
    cascades.annotate_roots(&mut results);

    tell(Event::Doing("stopping the gateway".into()));
    let stopped = process.stop(options.grace).await;
    // The gateway's last messages (device disconnects) arrive as it stops.
    let _ = observer
        .wait_for(tokio::time::Instant::now() + Duration::from_secs(2), |o| {
            o.conn.is_none().then_some(())
        })
        .await;
    let interrupted = options.interrupt.caught();
    if connected {
        if interrupted.is_none() {
            report(&mut results, stop_result(&stopped, version));
        }
        for result in passive_results(&observer, version, options.strict) {
            report(&mut results, result);
        }
    }
    Ok(CheckRun {
        results,
        version,
        connected_in,
        stopped,
        output_tail: process.output.last(OUTPUT_IN_FAILURE),
        interrupted,
    })
}

/// Failures that follow from an earlier one: a gateway that stopped sending after a case
/// failed makes every later case fail too. Each later failure names that case, and that case
/// says how many followed, so the cause is read first.
#[derive(Default)]
struct Cascades {
    /// (index in the results, case id, when it failed, how many failures followed it).
    failed: Vec<(usize, String, Instant, usize)>,
}

impl Cascades {
    fn link(&mut self, mut result: CaseResult, observer: &Observer, index: usize) -> CaseResult {
        if result.verdict != Verdict::Fail {
            return result;
        }
        // An RPC reply is the gateway answering; its telemetry goes on regardless.
        let last_heard = observer.read(|o| {
            o.packets
                .iter()
                .rev()
                .find(|p| p.from_gateway && p.text.starts_with("PUBLISH v1/gateway/rpc "))
                .map(|p| p.at)
        });
        let root = self
            .failed
            .iter_mut()
            .find(|(_, _, at, _)| last_heard.is_none_or(|heard| heard < *at));
        match root {
            Some((_, id, at, followers)) => {
                *followers += 1;
                if let Some(f) = &mut result.failure {
                    f.actual = format!(
                        "the gateway has not answered an RPC since {id} failed {:.1} s before: that case is the likely cause.\n               {}",
                        at.elapsed().as_secs_f64(),
                        f.actual
                    );
                }
            }
            None => self
                .failed
                .push((index, result.id.clone(), Instant::now(), 0)),
        }
        result
    }

    fn annotate_roots(&self, results: &mut [CaseResult]) {
        for (index, _, _, followers) in &self.failed {
            if *followers > 0
                && let Some(f) = results.get_mut(*index).and_then(|r| r.failure.as_mut())
            {
                f.actual = format!(
                    "the gateway answered no RPC after this failure: the likely cause of the {followers} later failure(s) that say so.\n               {}",
                    f.actual
                );
            }
        }
    }
}

/// A gateway command the shell could not run (exit 127 or 126): the harness's input is
/// wrong, not the gateway's conformance (exit 3).
fn not_runnable(status: std::process::ExitStatus) -> Option<&'static str> {
    match status.code()? {
        group::COMMAND_NOT_FOUND => Some("not found (exit 127)"),
        group::COMMAND_NOT_EXECUTABLE => Some("not executable (exit 126)"),
        _ => None,
    }
}

fn mqtt_label(version: Option<Version>) -> String {
    version.map_or_else(|| "-".to_owned(), |v| v.as_str().to_owned())
}

fn base_result(
    id: &str,
    requirement: &str,
    refs: Vec<String>,
    file: &str,
    version: Option<Version>,
) -> CaseResult {
    CaseResult {
        id: id.to_owned(),
        mqtt: mqtt_label(version),
        profile: "tb".to_owned(),
        requirement: requirement.to_owned(),
        refs,
        file: file.to_owned(),
        basis: None,
        verdict: Verdict::Pass,
        started_ms: now_unix_ms(),
        duration_ms: 0,
        failure: None,
        note: None,
        transcript: Vec::new(),
        wire: Vec::new(),
        output: Vec::new(),
    }
}

fn failure(step: &str, location: &str, expected: String, actual: String) -> Option<Failure> {
    Some(Failure {
        step: step.to_owned(),
        location: location.to_owned(),
        expected,
        actual,
        wire_at_failure: usize::MAX,
    })
}

/// `7 CONNECTs with username "WRONG" refused with CONNACK 0x86 Bad User Name or Password`,
/// one such part per username, or `None` when nothing was refused.
fn refusals(observed: &Observed) -> Option<String> {
    let mut parts: Vec<(Option<String>, String, usize)> = Vec::new();
    for refused in &observed.refused {
        let answer = observed.refusal_of(refused).unwrap_or("a close").to_owned();
        match parts
            .iter_mut()
            .find(|(u, a, _)| *u == refused.username && *a == answer)
        {
            Some((_, _, n)) => *n += 1,
            None => parts.push((refused.username.clone(), answer, 1)),
        }
    }
    (!parts.is_empty()).then(|| {
        parts
            .iter()
            .map(|(username, answer, n)| {
                let who = username
                    .as_deref()
                    .map_or("no username".to_owned(), |u| format!("username {u:?}"));
                let plural = if *n == 1 { "" } else { "s" };
                format!("{n} CONNECT{plural} with {who} refused with {answer}")
            })
            .collect::<Vec<_>>()
            .join("; ")
    })
}

/// How much of the gateway's output since a case began a failure shows: enough for a
/// Python or Java traceback.
const OUTPUT_SINCE_CASE: usize = 60;

/// The gateway's output since the case began (line `from`), whole up to
/// [`OUTPUT_SINCE_CASE`] lines.
fn output_since(process: &ProcessGroup, from: usize) -> String {
    let (lines, left_out) = process.output.since(from, OUTPUT_SINCE_CASE);
    if lines.is_empty() {
        return "it printed nothing during this case".to_owned();
    }
    let earlier = if left_out > 0 {
        format!(
            " (the last {}; {left_out} earlier lines are not shown, --gateway-log FILE keeps them all)",
            lines.len()
        )
    } else {
        String::new()
    };
    format!(
        "its output during this case{earlier}:\n      | {}",
        lines.join("\n      | ")
    )
}

fn output_block(process: &ProcessGroup, lines: usize) -> String {
    let lines = process.output.last(lines);
    if lines.is_empty() {
        return "it printed nothing".to_owned();
    }
    format!("its last output:\n      | {}", lines.join("\n      | "))
}

fn connect_result(
    observer: &Observer,
    process: &mut ProcessGroup,
    connected: bool,
    took: Duration,
    options: &CheckOptions,
    token: &str,
) -> (CaseResult, Reported) {
    let version = observer.read(|o| o.version);
    let mut result = base_result(
        "gateway/connects",
        "The gateway connects with its access token (MQTT username) within the deadline.",
        vec!["doc: Gateway MQTT API".into(), "tb §0".into()],
        "(check-gateway)",
        version,
    );
    result.duration_ms = u64::try_from(took.as_millis()).unwrap_or(u64::MAX);
    // The handshake: CONNECT, CONNACK, the first SUBSCRIBEs, refused attempts, and what the
    // gateway printed meanwhile.
    let began = Instant::now() - took;
    result.wire = observer.read(|o| gateway_wire(o, 0, began));
    let (output, output_through) = case_output(process, 0, began);
    result.output = output;
    let through = Reported {
        wire: result.wire.len(),
        output: output_through,
    };
    if connected {
        result
            .transcript
            .push(format!("connected after {} ms", result.duration_ms));
        return (result, through);
    }
    let refused = observer.read(refusals);
    let exited = process.exited();
    let actual = match (exited, refused) {
        (Some(status), refused) => format!(
            "the gateway exited ({status}) without connecting{}; {}",
            refused.map(|r| format!(" after {r}")).unwrap_or_default(),
            output_block(process, OUTPUT_IN_FAILURE)
        ),
        (None, Some(refused)) => format!(
            "{refused}; the gateway device's access token is {:?}: pass {{token}} or $TB_GW_ACCESS_TOKEN as the MQTT username; {}",
            token,
            output_block(process, OUTPUT_IN_FAILURE)
        ),
        (None, _) => format!(
            "no CONNECT within {:.0} s; {}",
            options
                .connect_timeout
                .mul_f64(options.timeout_multiplier)
                .as_secs_f64(),
            output_block(process, OUTPUT_IN_FAILURE)
        ),
    };
    result.verdict = Verdict::Fail;
    result.failure = failure(
        "start",
        &process.command,
        "an MQTT CONNECT with the given access token".to_owned(),
        actual,
    );
    (result, through)
}

fn skipped(case: &GatewayCaseFile, version: Option<Version>, why: &str) -> CaseResult {
    let s = &case.scenario;
    let mut result = base_result(&s.id, &s.requirement, s.refs.clone(), &case.file, version);
    result.profile = s.profile.as_str().to_owned();
    result.verdict = Verdict::Skip;
    result.note = Some(why.to_owned());
    result
}

async fn run_case(
    stage: &Stage<'_>,
    case: &GatewayCaseFile,
    process: &mut ProcessGroup,
    options: &CheckOptions,
    token: &str,
    from: Reported,
    tell: &(dyn Fn(Event<'_>) + Sync),
) -> (CaseResult, Reported) {
    let s = &case.scenario;
    let version = stage.observer.read(|o| o.version);
    let mut result = base_result(&s.id, &s.requirement, s.refs.clone(), &case.file, version);
    result.profile = s.profile.as_str().to_owned();
    let mut vars = Vars::default();
    vars.set("rpc_method", json!(options.rpc_method));
    vars.set("gateway", json!(GATEWAY_NAME));
    vars.set("gateway_token", json!(token));
    // Devices announced so far are bound up front, so a case may call `${device}` directly.
    let announced = stage.observer.read(|o| o.known_devices());
    for (i, device) in announced.iter().enumerate() {
        vars.set(&format!("device{}", i + 1), json!(device));
    }
    if let Some(first) = announced.first() {
        vars.set("device", json!(first));
    }
    let mut run = GatewayCase::new(stage, vars);
    let started = Instant::now();
    let output_from = from.output;
    for (index, step) in s.steps.iter().enumerate() {
        tell(Event::Doing(format!(
            "{}: step {} ({})",
            s.id,
            index + 1,
            step.value.verb()
        )));
        if let Err(problem) = run.run(&step.value).await {
            let mut actual = problem.actual;
            // What it printed (a traceback) may still be in the pipe.
            let _ = process
                .output
                .wait_for_lines(process.output.count() + 1, Duration::from_millis(200))
                .await;
            match process.exited() {
                Some(status) => actual.push_str(&format!(
                    "; the gateway process has exited ({status}); {}",
                    output_since(process, output_from)
                )),
                None => actual.push_str(&format!("; {}", output_since(process, output_from))),
            }
            result.verdict = Verdict::Fail;
            result.failure = failure(
                &format!("{} (step {})", step.value.verb(), index + 1),
                &format!("{}:{}", case.file, step.referenced.line()),
                problem.expected,
                actual,
            );
            break;
        }
    }
    result.duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    result.wire = stage.observer.read(|o| gateway_wire(o, from.wire, started));
    let (output, output_through) = case_output(process, output_from, started);
    result.output = output;
    if let Some(f) = &mut result.failure {
        f.wire_at_failure = result.wire.len();
    }
    result.transcript = run.transcript;
    let through = Reported {
        wire: from.wire + result.wire.len(),
        output: output_through,
    };
    (result, through)
}

/// How far the wire log and the gateway's output have gone into results: the next case
/// starts there, so a packet or a line that arrives between two snapshots is in one of them.
#[derive(Clone, Copy, Debug, Default)]
struct Reported {
    /// Packets of the observer's log.
    wire: usize,
    /// Lines of the gateway's output, as [`crate::process::group::Output::count`] counts them.
    output: usize,
}

/// What the gateway printed since line `from`, on the wire log's clock (as many lines as
/// the process keeps), and the count it reaches.
fn case_output(process: &ProcessGroup, from: usize, started: Instant) -> (Vec<OutputLine>, usize) {
    let (lines, left_out) = process.output.timed_since(from, usize::MAX);
    let through = from + left_out + lines.len();
    let lines = lines
        .into_iter()
        .map(|(at, text)| OutputLine {
            at_ms: u64::try_from(at.saturating_duration_since(started).as_millis()).unwrap_or(0),
            text,
        })
        .collect();
    (lines, through)
}

/// Every packet between the gateway and the platform during a case, in order: `→` sent by
/// tbgw (the platform), `←` received by tbgw (sent by the gateway), as in `tbgw run`.
fn gateway_wire(observed: &Observed, from: usize, started: Instant) -> Vec<WireEntry> {
    observed.packets[from.min(observed.packets.len())..]
        .iter()
        .map(|p| WireEntry {
            at_ms: u64::try_from(p.at.saturating_duration_since(started).as_millis()).unwrap_or(0),
            channel: if p.connection == 1 {
                "gateway".to_owned()
            } else {
                format!("gateway#{}", p.connection)
            },
            direction: if p.from_gateway {
                Direction::Received
            } else {
                Direction::Sent
            },
            text: p.text.clone(),
            bytes: None,
        })
        .collect()
}

fn stop_result(stopped: &Stopped, version: Option<Version>) -> CaseResult {
    let mut result = base_result(
        "gateway/stops-on-sigint",
        "The gateway stops cleanly on SIGINT (as on Ctrl-C) within the grace period.",
        vec!["check-gateway".into()],
        "(check-gateway)",
        version,
    );
    result.duration_ms = u64::try_from(stopped.took.as_millis()).unwrap_or(u64::MAX);
    let status = stopped
        .status
        .map_or_else(|| "no exit status".to_owned(), |s| s.to_string());
    result
        .transcript
        .push(format!("ended by {} ({status})", stopped.by.as_str()));
    match stopped.by {
        EndedBy::Sigint => {}
        EndedBy::Itself => {
            result.verdict = Verdict::Fail;
            result.failure = failure(
                "stop",
                "(check-gateway)",
                "a gateway still running at the end of the check".to_owned(),
                format!("it had already exited ({status})"),
            );
        }
        EndedBy::NotStopped => {
            result.verdict = Verdict::Error;
            result.failure = failure(
                "stop",
                "(check-gateway)",
                "every process of the gateway's group to end".to_owned(),
                format!("a member of its process group was still alive after SIGKILL ({status})"),
            );
        }
        other => {
            result.verdict = Verdict::Fail;
            result.failure = failure(
                "stop",
                "(check-gateway)",
                "every process of the gateway's group to exit after SIGINT within the grace period"
                    .to_owned(),
                format!("it needed {} ({status})", other.as_str()),
            );
        }
    }
    result
}

/// Findings shown in a failure; the rest are counted.
const FINDINGS_SHOWN: usize = 8;

fn passive_results(observer: &Observer, version: Option<Version>, strict: bool) -> Vec<CaseResult> {
    observer.read(|o| {
        Check::ALL
            .iter()
            .map(|check| {
                let refs = check.refs().iter().map(|r| (*r).to_owned()).collect();
                let mut result =
                    base_result(check.id(), check.requirement(), refs, "(passive)", version);
                let findings: Vec<_> = o
                    .passive
                    .findings()
                    .iter()
                    .filter(|f| f.check == *check)
                    .collect();
                result.transcript.push(format!(
                    "{} gateway messages judged, {} finding(s)",
                    o.passive.checked,
                    findings.len()
                ));
                let Some(worst) = findings.iter().map(|f| f.severity).max() else {
                    return result;
                };
                result.verdict = match (worst, strict) {
                    (Severity::Fail, _) | (Severity::NonStrict, true) => Verdict::Fail,
                    (Severity::NonStrict, false) => Verdict::NonStrict,
                };
                // The same problem in every telemetry message is one line with a count.
                let mut grouped: Vec<(String, usize)> = Vec::new();
                for finding in &findings {
                    let key = finding.headline();
                    match grouped.iter_mut().find(|(k, _)| k.starts_with(&key)) {
                        Some((_, n)) => *n += 1,
                        None => grouped.push((finding.to_string(), 1)),
                    }
                }
                let mut actual: Vec<String> = grouped
                    .iter()
                    .take(FINDINGS_SHOWN)
                    .map(|(line, n)| {
                        if *n > 1 {
                            format!("{line} (×{n})")
                        } else {
                            line.clone()
                        }
                    })
                    .collect();
                if grouped.len() > FINDINGS_SHOWN {
                    actual.push(format!(
                        "… and {} more kinds",
                        grouped.len() - FINDINGS_SHOWN
                    ));
                }
                result.failure = failure(
                    "passive check",
                    "(everything the gateway sent)",
                    "no finding".to_owned(),
                    format!(
                        "{} finding(s):\n    {}",
                        findings.len(),
                        actual.join("\n    ")
                    ),
                );
                result
            })
            .collect()
    })
}
