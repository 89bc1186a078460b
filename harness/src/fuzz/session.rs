//! One gateway process under the emulator, as `fuzz gateway` drives it: started the way
//! `check-gateway` starts it, warmed up (connected, a device announced, a probe RPC
//! answered), then fed inputs, each followed by a probe RPC, and stopped: the whole process
//! group is gone before the next one starts.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::action::{Action, as_scenario_text, base64_of};
use super::generate::Context;
use super::signature::{Crash, crash_in, shape_of_line};
use crate::gateway::launch::{Launched, launch};
use crate::gateway::model::{self, GatewayStep};
use crate::gateway::passive::{Check, Finding, Severity};
use crate::gateway::steps::{GatewayCase, Stage};
use crate::mqtt::Version;
use crate::process::group::{ProcessGroup, Stopped};
use crate::scenario::model::{Code, Within};
use crate::scenario::vars::Vars;

#[derive(Clone, Debug)]
pub struct SessionOptions {
    pub command: String,
    pub rpc_method: String,
    /// How long a probe RPC may take.
    pub probe_within: Duration,
    /// How long the gateway has to connect and announce a device.
    pub connect_within: Duration,
    /// Between SIGINT, SIGTERM and SIGKILL.
    pub grace: Duration,
    /// NON-STRICT passive findings count as findings.
    pub strict: bool,
}

/// How long a gateway whose connection the input ended has to come back.
pub const RECONNECT_WITHIN: Duration = Duration::from_secs(30);

/// New sessions a gateway may open beyond one per input action that ended its session
/// (its own retries) before it counts as a reconnect storm.
pub const STORM_ALLOWANCE: usize = 2;

/// Why a running gateway answered no probe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Silence {
    /// Connected, its devices announced, and still no answer.
    Hang,
    /// Its session ended and it did not connect again.
    NotReconnected,
    /// It connected again but did not announce the probed device again.
    NotReannounced,
}

impl Silence {
    fn as_str(self) -> &'static str {
        match self {
            Silence::Hang => "the gateway stopped answering RPCs",
            Silence::NotReconnected => "the gateway did not connect again after its session ended",
            Silence::NotReannounced => {
                "the gateway did not announce its device again after reconnecting"
            }
        }
    }
}

/// What went wrong after an input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Symptom {
    /// The gateway's process ended.
    Exited {
        status: String,
        crash: Option<Crash>,
    },
    /// It is running but did not answer the probe RPC within the deadline.
    Unresponsive {
        within: Duration,
        why: Silence,
        crash: Option<Crash>,
    },
    /// It connected again and again.
    ReconnectStorm {
        sessions: usize,
        crash: Option<Crash>,
    },
    /// It sent, in reaction, a message ThingsBoard would refuse or misread (a passive check).
    Refused {
        check: String,
        what: String,
        /// A NON-STRICT finding (it counted because the run was `--strict`).
        strict_only: bool,
    },
}

impl Symptom {
    /// The identity of the bug: the crash's innermost frame and exception when the gateway
    /// printed one, else the symptom's kind.
    pub fn signature(&self) -> String {
        match self {
            Symptom::Exited { crash: Some(c), .. }
            | Symptom::Unresponsive { crash: Some(c), .. }
            | Symptom::ReconnectStorm { crash: Some(c), .. } => c.key(),
            Symptom::Exited { .. } => "the gateway exited".to_owned(),
            Symptom::Unresponsive { why, .. } => why.as_str().to_owned(),
            Symptom::ReconnectStorm { .. } => "the gateway reconnects again and again".to_owned(),
            Symptom::Refused { check, what, .. } => format!("{check}: {}", shape_of_line(what)),
        }
    }

    /// One sentence for the report.
    pub fn describe(&self) -> String {
        let crashed = |c: &Option<Crash>| {
            c.as_ref()
                .map(|c| {
                    format!(
                        "; it printed {}{} at {}",
                        c.exception,
                        if c.message.is_empty() {
                            String::new()
                        } else {
                            format!(" ({})", c.message)
                        },
                        c.frame
                    )
                })
                .unwrap_or_default()
        };
        match self {
            Symptom::Exited { status, crash } => {
                format!("the gateway process exited ({status}){}", crashed(crash))
            }
            Symptom::Unresponsive { within, why, crash } => format!(
                "{}: it is running and answered no probe RPC within {:.1} s{}",
                why.as_str(),
                within.as_secs_f64(),
                crashed(crash)
            ),
            Symptom::ReconnectStorm { sessions, crash } => format!(
                "the gateway connected {sessions} times after the input{}",
                crashed(crash)
            ),
            Symptom::Refused { check, what, .. } => {
                format!("the gateway sent what {check} refuses: {what}")
            }
        }
    }

    /// A finding that is a crash or a hang (not a wrong reply).
    pub fn is_liveness(&self) -> bool {
        !matches!(self, Symptom::Refused { .. })
    }
}

/// What one input did.
#[derive(Debug)]
pub struct Played {
    pub symptom: Option<Symptom>,
    /// How long the probe took when it was answered.
    pub probe: Option<Duration>,
    /// What the gateway printed meanwhile.
    pub output: Vec<String>,
    /// Behaviour seen, for the corpus: kinds of output lines and of messages sent.
    pub features: Vec<String>,
}

/// A gateway under test, warmed up.
pub struct Session {
    launched: Launched,
    options: SessionOptions,
    version: Version,
    devices: Vec<String>,
    probes: u64,
    /// Passive findings the gateway has at rest: not the input's doing.
    at_rest: BTreeSet<String>,
    /// What was found at rest, to report once.
    pub rest_findings: Vec<Finding>,
}

/// Why a session could not be started.
#[derive(Debug)]
pub struct StartFailure {
    pub what: String,
    /// What the gateway printed.
    pub output: Vec<String>,
    /// The gateway ran (and was stopped) but did not get as far as a probe answered.
    pub gateway_fault: bool,
}

impl Session {
    pub async fn start(options: &SessionOptions) -> Result<Session, StartFailure> {
        let mut launched = launch(&options.command, None)
            .await
            .map_err(|what| StartFailure {
                what,
                output: Vec::new(),
                gateway_fault: false,
            })?;
        match warm_up(&mut launched, options).await {
            Ok((version, devices)) => {
                let rest_findings = launched.observer.read(|o| {
                    o.passive
                        .findings()
                        .iter()
                        .filter(|f| counts(f, options.strict))
                        .cloned()
                        .collect::<Vec<_>>()
                });
                let at_rest = rest_findings.iter().map(kind_of).collect();
                Ok(Session {
                    launched,
                    options: options.clone(),
                    version,
                    devices,
                    probes: 0,
                    at_rest,
                    rest_findings,
                })
            }
            Err(what) => {
                let _ = launched.process.stop(options.grace).await;
                let output = launched.process.output.last(60);
                Err(StartFailure {
                    what,
                    output,
                    gateway_fault: true,
                })
            }
        }
    }

    pub fn context(&self) -> Context {
        Context {
            devices: self.devices.clone(),
            v5: self.version == Version::V5,
            rpc_method: self.options.rpc_method.clone(),
        }
    }

    pub fn version(&self) -> Version {
        self.version
    }

    /// The device the probes call.
    pub fn probe_device(&self) -> &str {
        self.devices.first().map_or("", String::as_str)
    }

    /// Plays an input, then probes.
    pub async fn play(&mut self, actions: &[Action]) -> Played {
        let Launched {
            emulator,
            rest,
            observer,
            process,
            ..
        } = &mut self.launched;
        let output_from = process.output.count();
        let (findings_from, sessions_from, sent_from) =
            observer.read(|o| (o.passive.findings().len(), o.sessions, o.sent.len()));
        let stage = Stage {
            emulator,
            rest: std::sync::Arc::clone(rest),
            observer: observer.clone(),
            timeout_multiplier: 1.0,
            strict: self.options.strict,
        };
        let mut case = GatewayCase::new(&stage, vars_for(&self.devices, &self.options.rpc_method));
        for action in actions {
            // A step fails only when the gateway has no session (it is reconnecting, or it
            // died): the probe tells which.
            if case.run(&step_of(action)).await.is_err() && process.exited().is_some() {
                break;
            }
        }
        self.probes += 1;
        let ended_session = actions.iter().any(Action::ends_session);
        let within = self.options.probe_within
            + if ended_session {
                RECONNECT_WITHIN
            } else {
                Duration::ZERO
            };
        let probe = probe_step(self.probes, within);
        let started = Instant::now();
        let answered = tokio::select! {
            result = case.run(&probe) => result.is_ok(),
            _ = process.wait_exit() => false,
        };
        let probe_took = answered.then(|| started.elapsed());
        drop(case);
        let symptom = if let Some(status) = process.exited() {
            process.output.wait_closed(Duration::from_secs(2)).await;
            let output = process.output.since(output_from, usize::MAX).0;
            Some(Symptom::Exited {
                status: status.to_string(),
                crash: crash_in(&output),
            })
        } else if !answered {
            // A traceback may still be in the pipe.
            let _ = process
                .output
                .wait_for_lines(process.output.count() + 1, Duration::from_millis(300))
                .await;
            let output = process.output.since(output_from, usize::MAX).0;
            let probed = self.devices.first().cloned().unwrap_or_default();
            let why = observer.read(|o| {
                if o.sessions == sessions_from {
                    Silence::Hang
                } else if o.conn.is_none() {
                    Silence::NotReconnected
                } else if !o.announced.contains(&probed) {
                    Silence::NotReannounced
                } else {
                    Silence::Hang
                }
            });
            Some(Symptom::Unresponsive {
                within,
                why,
                crash: crash_in(&output),
            })
        } else {
            let (sessions, refused) = observer.read(|o| {
                let refused = o.passive.findings()[findings_from.min(o.passive.findings().len())..]
                    .iter()
                    .filter(|f| counts(f, self.options.strict))
                    .find(|f| !self.at_rest.contains(&kind_of(f)))
                    .cloned();
                (o.sessions, refused)
            });
            let expected = sessions_from + actions.iter().filter(|a| a.ends_session()).count();
            if sessions > expected + STORM_ALLOWANCE {
                let output = process.output.since(output_from, usize::MAX).0;
                Some(Symptom::ReconnectStorm {
                    sessions: sessions - sessions_from,
                    crash: crash_in(&output),
                })
            } else {
                refused.map(|f| Symptom::Refused {
                    check: f.check.id().to_owned(),
                    what: f.to_string(),
                    strict_only: f.severity == Severity::NonStrict,
                })
            }
        };
        let output = process.output.since(output_from, usize::MAX).0;
        let features = observer.read(|o| {
            let mut features: Vec<String> = o.sent[sent_from.min(o.sent.len())..]
                .iter()
                .map(|s| format!("sent {} {}", shape_of_line(&s.topic), keys_of(&s.payload)))
                .collect();
            features.extend(
                output
                    .iter()
                    .map(|l| format!("printed {}", shape_of_line(l))),
            );
            features
        });
        Played {
            symptom,
            probe: probe_took,
            output,
            features,
        }
    }

    /// Stops the gateway's whole process group, then the emulator.
    pub async fn stop(mut self) -> (Stopped, Vec<String>) {
        let stopped = self.launched.process.stop(self.options.grace).await;
        let output = self.launched.process.output.last(400);
        (stopped, output)
    }

    pub fn process(&mut self) -> &mut ProcessGroup {
        &mut self.launched.process
    }
}

/// Connected, a device announced, a first probe answered: the version and the devices.
async fn warm_up(
    launched: &mut Launched,
    options: &SessionOptions,
) -> Result<(Version, Vec<String>), String> {
    let Launched {
        emulator,
        rest,
        observer,
        process,
        ..
    } = launched;
    let deadline = tokio::time::Instant::now() + options.connect_within;
    let announced = tokio::select! {
        found = observer.wait_for(deadline, |o| {
            let devices = o.known_devices();
            (o.conn.is_some() && !devices.is_empty()).then_some(devices)
        }) => found,
        status = process.wait_exit() => {
            return Err(format!(
                "the gateway exited ({}) before it connected and announced a device",
                status.map_or_else(|| "no status".to_owned(), |s| s.to_string())
            ));
        }
    };
    let Some(devices) = announced else {
        let connected = observer.read(|o| o.sessions > 0);
        return Err(if connected {
            format!(
                "the gateway connected but announced no device on v1/gateway/connect within {:.0} s",
                options.connect_within.as_secs_f64()
            )
        } else {
            format!(
                "the gateway did not connect within {:.0} s",
                options.connect_within.as_secs_f64()
            )
        });
    };
    let version = observer.read(|o| o.version).unwrap_or(Version::V3);
    let stage = Stage {
        emulator,
        rest: std::sync::Arc::clone(rest),
        observer: observer.clone(),
        timeout_multiplier: 1.0,
        strict: options.strict,
    };
    let mut case = GatewayCase::new(&stage, vars_for(&devices, &options.rpc_method));
    let probe = probe_step(0, options.probe_within + RECONNECT_WITHIN);
    let answered = tokio::select! {
        result = case.run(&probe) => result.map_err(|f| f.actual),
        _ = process.wait_exit() => Err("the gateway exited".to_owned()),
    };
    answered.map_err(|why| {
        format!(
            "the gateway does not answer RPC {:?} to {:?} at rest ({why}); pass a method it answers with --rpc-method",
            options.rpc_method,
            devices.first().map_or("", String::as_str)
        )
    })?;
    Ok((version, devices))
}

fn vars_for(devices: &[String], rpc_method: &str) -> Vars {
    let mut vars = Vars::default();
    vars.set("rpc_method", json!(rpc_method));
    if let Some(first) = devices.first() {
        vars.set("device", json!(first));
    }
    vars
}

/// The probe: an RPC to the first device the gateway announced, which must be answered.
fn probe_step(n: u64, within: Duration) -> GatewayStep {
    GatewayStep::Rpc(model::Rpc {
        device: None,
        each: false,
        same_id: false,
        oneway: false,
        method: None,
        params: json!({"tbgwProbe": n}),
        expect: None,
        within: Some(Within(within)),
    })
}

/// An action as the step of a gateway scenario: what the session plays is what a
/// reproducer replays.
pub fn step_of(action: &Action) -> GatewayStep {
    match action {
        Action::Send {
            topic,
            payload,
            qos,
            again,
        } => {
            let (text, base64) = match as_scenario_text(payload) {
                Some(text) => (Some(text.to_owned()), None),
                None => (None, Some(base64_of(payload))),
            };
            GatewayStep::Send(model::Send {
                topic: topic.clone(),
                json: None,
                text,
                filler: None,
                base64,
                qos: *qos,
                again: *again,
            })
        }
        Action::Disconnect { reason } => GatewayStep::Disconnect(model::Disconnect {
            reason: Some(Code(*reason)),
        }),
        Action::DropConnection => GatewayStep::DropConnection(model::DropConnection {}),
    }
}

/// Whether a passive finding is the gateway's fault. A reply that matches no outstanding
/// request is not, here: the fuzzer's own RPC requests bypass ThingsBoard's, so ThingsBoard
/// rightly drops the gateway's answers to them.
fn counts(finding: &Finding, strict: bool) -> bool {
    finding.check != Check::RpcRepliesMatch && (finding.severity == Severity::Fail || strict)
}

fn kind_of(finding: &Finding) -> String {
    format!("{:?}: {}", finding.check, shape_of_line(&finding.what))
}

/// `{device,id,data}`: the top-level keys of a JSON payload, or what it is instead.
fn keys_of(payload: &[u8]) -> String {
    match serde_json::from_slice::<Value>(payload) {
        Ok(Value::Object(members)) => {
            let keys: Vec<&str> = members.keys().map(String::as_str).collect();
            format!("{{{}}}", keys.join(","))
        }
        Ok(other) => format!("a JSON {}", kind_name(&other)),
        Err(_) => "not JSON".to_owned(),
    }
}

fn kind_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}
