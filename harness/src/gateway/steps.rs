//! The platform's side of one gateway case: each step acts through ThingsBoard's REST API or
//! the emulator's sessions, and waits on what the gateway does, with deadlines.

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Value, json};
use tokio::task::JoinSet;
use uuid::Uuid;

use super::model::{
    AwaitDevices, DeleteShared, Disconnect, ExpectAccepted, ExpectPublish, ExpectReconnect,
    ExpectSessions, ExpectSubscribed, GatewayStep, NotifyDisconnect, Rpc, Send, Since, WriteShared,
};
use super::observer::Observer;
use crate::emulator::Emulator;
use crate::emulator::core::session::filter_matches;
use crate::emulator::core::{Again, Injection};
use crate::mqtt::Version;
use crate::scenario::matcher::{self, Objects};
use crate::scenario::model::{Method, User, Within};
use crate::scenario::vars::Vars;
use crate::target::rest::{RestClient, device_by_name, encode};

/// What a failed step says: what was expected, what happened.
#[derive(Debug)]
pub struct StepFailure {
    pub expected: String,
    pub actual: String,
}

fn fail(expected: impl Into<String>, actual: impl Into<String>) -> StepFailure {
    StepFailure {
        expected: expected.into(),
        actual: actual.into(),
    }
}

pub type StepResult = Result<(), StepFailure>;

/// Everything a case acts on.
pub struct Stage<'a> {
    pub emulator: &'a Emulator,
    pub rest: Arc<RestClient>,
    pub observer: Observer,
    pub timeout_multiplier: f64,
    /// NON-STRICT findings fail too (`--strict`).
    pub strict: bool,
}

/// One running case.
pub struct GatewayCase<'a> {
    pub stage: &'a Stage<'a>,
    pub vars: Vars,
    pub transcript: Vec<String>,
    /// The observer's session and passive-finding counts when the case began.
    began: (usize, usize),
}

const DEFAULT_WITHIN: Duration = Duration::from_secs(10);

/// Gateway-level RPC methods act on the gateway's host (thingsboard-gateway's
/// `gateway_reboot` runs `shutdown -r`; `gateway_update`, `gateway_restart`, remote shell and
/// configuration likewise): a check never sends one.
pub(crate) fn acts_on_the_host(method: &str) -> bool {
    method.starts_with("gateway_")
}

/// Refuses a payload that would call a gateway-level method (see [`acts_on_the_host`]).
pub(crate) fn refuse_host_methods(payload: &[u8]) -> StepResult {
    let method = serde_json::from_slice::<Value>(payload).ok().and_then(|v| {
        v.get("method")
            .or_else(|| v.get("data").and_then(|d| d.get("method")))
            .and_then(Value::as_str)
            .map(str::to_owned)
    });
    match method {
        Some(m) if acts_on_the_host(&m) => Err(fail(
            "no gateway-level method (it would act on the gateway's host)",
            format!("the case sends {m:?}: refused"),
        )),
        _ => Ok(()),
    }
}
const DEVICES_WITHIN: Duration = Duration::from_secs(30);

impl<'a> GatewayCase<'a> {
    pub fn new(stage: &'a Stage<'a>, vars: Vars) -> GatewayCase<'a> {
        let began = stage
            .observer
            .read(|o| (o.sessions, o.passive.findings().len()));
        GatewayCase {
            stage,
            vars,
            transcript: Vec::new(),
            began,
        }
    }

    fn deadline(&self, within: Option<Within>, default: Duration) -> tokio::time::Instant {
        let base = within.map_or(default, |w| w.0);
        tokio::time::Instant::now() + base.mul_f64(self.stage.timeout_multiplier)
    }

    fn note(&mut self, line: String) {
        self.transcript.push(line);
    }

    fn text(&self, text: &str) -> Result<String, StepFailure> {
        self.vars
            .text(text)
            .map_err(|e| fail("every ${variable} bound", e))
    }

    fn device(&self, given: Option<&str>) -> Result<String, StepFailure> {
        self.text(given.unwrap_or("${device}"))
    }

    pub async fn run(&mut self, step: &GatewayStep) -> StepResult {
        match step {
            GatewayStep::ExpectSubscribed(s) => self.expect_subscribed(s).await,
            GatewayStep::ExpectPublish(s) => self.expect_publish(s).await,
            GatewayStep::AwaitDevices(s) => self.await_devices(s).await,
            GatewayStep::Rpc(s) => self.rpc(s).await,
            GatewayStep::WriteShared(s) => self.write_shared(s).await,
            GatewayStep::DeleteShared(s) => self.delete_shared(s).await,
            GatewayStep::Send(s) => self.send(s).await,
            GatewayStep::NotifyDisconnect(s) => self.notify_disconnect(s).await,
            GatewayStep::DropConnection(_) => self.drop_connection().await,
            GatewayStep::Disconnect(s) => self.disconnect(s).await,
            GatewayStep::ExpectReconnect(s) => self.expect_reconnect(s).await,
            GatewayStep::ExpectSessions(s) => self.expect_sessions(s).await,
            GatewayStep::ExpectAccepted(s) => self.expect_accepted(s).await,
        }
    }

    async fn expect_subscribed(&mut self, step: &ExpectSubscribed) -> StepResult {
        let deadline = self.deadline(step.within, DEFAULT_WITHIN);
        let wanted = step.topics.clone();
        // Any session counts: one that subscribed and then ended before this check looked
        // (the gateway reconnecting at once) still subscribed.
        let found = self
            .stage
            .observer
            .wait_for(deadline, |o| {
                o.subscriptions_by_session
                    .iter()
                    .any(|session| wanted.iter().all(|t| session.contains(t)))
                    .then_some(())
            })
            .await;
        let have = self.stage.observer.read(|o| {
            o.subscriptions_by_session
                .iter()
                .max_by_key(|session| wanted.iter().filter(|t| session.contains(t)).count())
                .cloned()
                .unwrap_or_default()
        });
        self.note(format!("gateway subscriptions: {}", have.join(", ")));
        found.ok_or_else(|| {
            let missing: Vec<&String> = wanted.iter().filter(|t| !have.contains(t)).collect();
            fail(
                format!("subscriptions to {}", wanted.join(", ")),
                format!(
                    "none to {} (it subscribed to: {})",
                    missing
                        .iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                    if have.is_empty() {
                        "nothing".to_owned()
                    } else {
                        have.join(", ")
                    }
                ),
            )
        })
    }

    async fn expect_publish(&mut self, step: &ExpectPublish) -> StepResult {
        let deadline = self.deadline(step.within, DEFAULT_WITHIN);
        let topic = self.text(&step.topic)?;
        let pattern = match &step.json {
            Some(p) => Some(
                self.vars
                    .value(p)
                    .map_err(|e| fail("every ${variable} bound", e))?,
            ),
            None => None,
        };
        let started = Instant::now();
        let since = step.since;
        let mut closest: Option<String> = None;
        let found = self
            .stage
            .observer
            .wait_for(deadline, |o| {
                // Every session counts: the state may already be a later session's when
                // this looks (a gateway that reconnects at once).
                o.sent
                    .iter()
                    .filter(|s| since == Since::Connect || s.at >= started)
                    .filter(|s| filter_matches(&topic, &s.topic))
                    .find_map(|s| {
                        let Some(pattern) = &pattern else {
                            return Some((s.topic.clone(), s.payload.clone(), Default::default()));
                        };
                        let json: Value = match serde_json::from_slice(&s.payload) {
                            Ok(json) => json,
                            Err(e) => {
                                closest = Some(format!("{} (not JSON: {e})", lossy(&s.payload)));
                                return None;
                            }
                        };
                        match matcher::check(pattern, &json, Objects::Exact) {
                            Ok(captures) => Some((s.topic.clone(), s.payload.clone(), captures)),
                            Err(mismatch) => {
                                closest = Some(format!("{} ({mismatch})", lossy(&s.payload)));
                                None
                            }
                        }
                    })
            })
            .await;
        match found {
            Some((topic, payload, captures)) => {
                self.note(format!("gateway -> {topic} {}", lossy(&payload)));
                self.vars.extend(captures);
                Ok(())
            }
            None => Err(fail(
                format!(
                    "a publish on {topic}{}",
                    pattern
                        .map(|p| format!(" matching {p}"))
                        .unwrap_or_default()
                ),
                match closest {
                    Some(c) => format!("the nearest: {c}"),
                    None => format!("nothing on {topic}"),
                },
            )),
        }
    }

    async fn await_devices(&mut self, step: &AwaitDevices) -> StepResult {
        let deadline = self.deadline(step.within, DEVICES_WITHIN);
        let count = step.count;
        let found = self
            .stage
            .observer
            .wait_for(deadline, |o| {
                let known = o.known_devices();
                (known.len() >= count).then_some(known)
            })
            .await;
        let Some(devices) = found else {
            let have = self.stage.observer.read(|o| o.known_devices());
            return Err(fail(
                format!("{count} device(s) announced on v1/gateway/connect"),
                format!("{} announced: {have:?}", have.len()),
            ));
        };
        self.note(format!("devices announced: {devices:?}"));
        for (i, device) in devices.iter().enumerate() {
            self.vars.set(&format!("device{}", i + 1), json!(device));
        }
        if let Some(first) = devices.first() {
            self.vars.set("device", json!(first));
        }
        self.vars.set("devices", json!(devices.len()));
        Ok(())
    }

    async fn device_id(&self, name: &str) -> Result<String, StepFailure> {
        let path = device_by_name(name);
        let reply = self
            .stage
            .rest
            .call(User::Tenant, Method::Get, &path, None)
            .await
            .map_err(|e| fail(format!("device {name:?} found through REST"), e))?;
        reply
            .entity_id()
            .map(str::to_owned)
            .ok_or_else(|| fail(format!("device {name:?} exists"), reply.summary()))
    }

    async fn rpc(&mut self, step: &Rpc) -> StepResult {
        let method = self.text(step.method.as_deref().unwrap_or("${rpc_method}"))?;
        if acts_on_the_host(&method) {
            return Err(fail(
                "no gateway-level method (it would act on the gateway's host)",
                format!("the case calls {method:?}: refused"),
            ));
        }
        let params = self
            .vars
            .value(&step.params)
            .map_err(|e| fail("every ${variable} bound", e))?;
        let expect = match &step.expect {
            Some(p) => Some(
                self.vars
                    .value(p)
                    .map_err(|e| fail("every ${variable} bound", e))?,
            ),
            None => None,
        };
        let within = step
            .within
            .map_or(DEFAULT_WITHIN, |w| w.0)
            .mul_f64(self.stage.timeout_multiplier);
        let devices: Vec<String> = if step.each {
            self.stage.observer.read(|o| o.known_devices())
        } else {
            vec![self.device(step.device.as_deref())?]
        };
        if devices.is_empty() {
            return Err(fail("announced devices to call", "none announced"));
        }
        let mut ids = Vec::with_capacity(devices.len());
        for device in &devices {
            ids.push(self.device_id(device).await?);
        }
        if step.same_id {
            self.align_rpc_ids(&devices, &ids, &method, &params, within)
                .await?;
        }
        let next_ids = self.next_rpc_ids(&ids);
        let mut calls = JoinSet::new();
        for (i, (device, id)) in devices.iter().zip(&ids).enumerate() {
            let rest = Arc::clone(&self.stage.rest);
            let body = rpc_body(&method, &params, within);
            let (device, id) = (device.clone(), id.clone());
            let kind = if step.oneway { "oneway" } else { "twoway" };
            calls.spawn(async move {
                let started = Instant::now();
                let reply = rest
                    .call(
                        User::Tenant,
                        Method::Post,
                        &format!("/api/rpc/{kind}/{id}"),
                        Some(&body),
                    )
                    .await;
                (i, device, reply, started.elapsed())
            });
        }
        let mut outcomes = Vec::new();
        while let Some(joined) = calls.join_next().await {
            if let Ok(outcome) = joined {
                outcomes.push(outcome);
            }
        }
        outcomes.sort_by_key(|o| o.0);
        if step.same_id {
            let sent: Vec<String> = next_ids.iter().map(|i| i.to_string()).collect();
            self.note(format!(
                "RPC {method} to {} devices at once, each with id {}",
                devices.len(),
                sent.join("/")
            ));
        }
        let mut problems = Vec::new();
        for (i, device, reply, took) in outcomes {
            let rpc_id = next_ids.get(i).copied().unwrap_or(-1);
            match reply {
                Err(e) => problems.push(format!("{device:?} (id {rpc_id}): {e}")),
                Ok(reply) if reply.status != 200 => problems.push(format!(
                    "{device:?} (id {rpc_id}): no reply within {:.1} s (REST {})",
                    within.as_secs_f64(),
                    reply.summary()
                )),
                Ok(_) if step.oneway => {
                    self.note(format!(
                        "one-way RPC {method} to {device:?} (id {rpc_id}) delivered"
                    ));
                }
                Ok(reply) => {
                    let data = reply
                        .json
                        .clone()
                        .unwrap_or(Value::String(reply.text.clone()));
                    self.note(format!(
                        "RPC {method} to {device:?} (id {rpc_id}) -> {data} in {} ms",
                        took.as_millis()
                    ));
                    if let Some(pattern) = &expect
                        && let Err(mismatch) = matcher::check(pattern, &data, Objects::Subset)
                    {
                        problems.push(format!(
                            "{device:?} (id {rpc_id}): the reply {data} differs {mismatch}"
                        ));
                    }
                }
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(fail(
                format!(
                    "a reply to RPC {method:?} from {} within {:.1} s{}",
                    if devices.len() == 1 {
                        format!("{:?}", devices[0])
                    } else {
                        format!("each of {} devices", devices.len())
                    },
                    within.as_secs_f64(),
                    expect.map(|p| format!(" matching {p}")).unwrap_or_default()
                ),
                problems.join("; "),
            ))
        }
    }

    /// The RPC id each device will see next (ThingsBoard counts them per device).
    fn next_rpc_ids(&self, ids: &[String]) -> Vec<i32> {
        self.stage.emulator.with_core(|core| {
            ids.iter()
                .map(|id| Uuid::parse_str(id).map_or(-1, |id| core.next_rpc_id(id)))
                .collect()
        })
    }

    /// Brings every device's RPC counter to the highest, with answered RPCs to the ones behind.
    async fn align_rpc_ids(
        &mut self,
        devices: &[String],
        ids: &[String],
        method: &str,
        params: &Value,
        within: Duration,
    ) -> StepResult {
        let next = self.next_rpc_ids(ids);
        let highest = next.iter().copied().max().unwrap_or(0);
        for ((device, id), n) in devices.iter().zip(ids).zip(&next) {
            for _ in *n..highest {
                let body = rpc_body(method, params, within);
                let reply = self
                    .stage
                    .rest
                    .call(
                        User::Tenant,
                        Method::Post,
                        &format!("/api/rpc/twoway/{id}"),
                        Some(&body),
                    )
                    .await
                    .map_err(|e| fail("a reply while aligning RPC ids", e))?;
                if reply.status != 200 {
                    return Err(fail(
                        format!("a reply to RPC {method:?} from {device:?} (to align RPC ids)"),
                        reply.summary(),
                    ));
                }
            }
        }
        Ok(())
    }

    /// A device's name, refusing the gateway's own device: its shared attributes are the
    /// gateway's remote configuration.
    fn sub_device(&self, given: Option<&str>) -> Result<String, StepFailure> {
        let device = self.device(given)?;
        if device == super::runner::GATEWAY_NAME {
            return Err(fail(
                "a device behind the gateway",
                "the gateway's own device (its shared attributes are remote configuration): refused",
            ));
        }
        Ok(device)
    }

    async fn write_shared(&mut self, step: &WriteShared) -> StepResult {
        let device = self.sub_device(step.device.as_deref())?;
        let body = self
            .vars
            .value(&step.json)
            .map_err(|e| fail("every ${variable} bound", e))?;
        let id = self.device_id(&device).await?;
        let path = format!("/api/plugins/telemetry/DEVICE/{id}/attributes/SHARED_SCOPE");
        self.rest_ok(Method::Post, &path, Some(&body)).await?;
        self.note(format!("shared attributes of {device:?} written: {body}"));
        Ok(())
    }

    async fn delete_shared(&mut self, step: &DeleteShared) -> StepResult {
        let device = self.sub_device(step.device.as_deref())?;
        let id = self.device_id(&device).await?;
        let keys = step
            .keys
            .iter()
            .map(|k| self.text(k))
            .collect::<Result<Vec<_>, _>>()?;
        let path = format!(
            "/api/plugins/telemetry/DEVICE/{id}/SHARED_SCOPE?keys={}",
            encode(&keys.join(","))
        );
        self.rest_ok(Method::Delete, &path, None).await?;
        self.note(format!("shared attributes of {device:?} deleted: {keys:?}"));
        Ok(())
    }

    async fn rest_ok(&self, method: Method, path: &str, body: Option<&Value>) -> StepResult {
        let reply = self
            .stage
            .rest
            .call(User::Tenant, method, path, body)
            .await
            .map_err(|e| fail(format!("{} {path} succeeds", method.as_str()), e))?;
        if (200..300).contains(&reply.status) {
            Ok(())
        } else {
            Err(fail(
                format!("{} {path} succeeds", method.as_str()),
                reply.summary(),
            ))
        }
    }

    /// The gateway's current connection; a gateway between two sessions gets the default
    /// deadline to come back.
    async fn connection(&self) -> Result<u64, StepFailure> {
        let deadline = self.deadline(None, DEFAULT_WITHIN);
        self.stage
            .observer
            .wait_for(deadline, |o| o.conn)
            .await
            .ok_or_else(|| {
                fail(
                    "the gateway connected",
                    format!(
                        "it had no session for {:.0} s",
                        DEFAULT_WITHIN
                            .mul_f64(self.stage.timeout_multiplier)
                            .as_secs_f64()
                    ),
                )
            })
    }

    async fn inject(&mut self, topic: &str, payload: Vec<u8>, how: Injection) -> StepResult {
        refuse_host_methods(&payload)?;
        let conn = self.connection().await?;
        let delivery = match (how.qos, how.again) {
            (None, None) => String::new(),
            (qos, again) => format!(
                " ({}{})",
                qos.map(|q| format!("QoS {q}")).unwrap_or_default(),
                match again {
                    Some(Again::Dup) => ", then again with DUP",
                    Some(Again::SameId) => ", then again with the same packet id",
                    None => "",
                }
            ),
        };
        self.note(format!("platform -> {topic} {}{delivery}", lossy(&payload)));
        if self
            .stage
            .emulator
            .with_core(|core| core.inject(conn, topic, payload, how))
        {
            Ok(())
        } else {
            Err(fail("the gateway connected", "its session ended"))
        }
    }

    async fn send(&mut self, step: &Send) -> StepResult {
        let topic = self.text(&step.topic)?;
        let payload = match (&step.json, &step.text, step.filler, &step.base64) {
            (Some(json), None, None, None) => self
                .vars
                .value(json)
                .map_err(|e| fail("every ${variable} bound", e))?
                .to_string()
                .into_bytes(),
            (None, Some(text), None, None) => self.text(text)?.into_bytes(),
            (None, None, Some(size), None) => {
                let device = self.device(None)?;
                json!({"device": device, "data": {"big": "x".repeat(size)}})
                    .to_string()
                    .into_bytes()
            }
            (None, None, None, Some(encoded)) => BASE64
                .decode(encoded.trim())
                .map_err(|e| fail("a base64 payload", format!("{encoded:?}: {e}")))?,
            _ => {
                return Err(fail(
                    "exactly one of json, text, filler or base64",
                    "a send step with none or several",
                ));
            }
        };
        if step.qos.is_some_and(|q| q > 2) {
            return Err(fail("a QoS of 0, 1 or 2", format!("qos {:?}", step.qos)));
        }
        let how = Injection {
            qos: step.qos,
            again: step.again,
        };
        self.inject(&topic, payload, how).await
    }

    async fn notify_disconnect(&mut self, step: &NotifyDisconnect) -> StepResult {
        let device = self.device(step.device.as_deref())?;
        let reason = step.reason.map_or(0x80, |c| c.0);
        let payload = json!({"device": device, "reason": reason}).to_string();
        self.inject(
            "v1/gateway/disconnect",
            payload.into_bytes(),
            Injection::default(),
        )
        .await
    }

    async fn drop_connection(&mut self) -> StepResult {
        let conn = self.connection().await?;
        self.note("platform drops the gateway's connection".to_owned());
        self.stage
            .emulator
            .with_core(|core| core.drop_connection(conn));
        Ok(())
    }

    async fn disconnect(&mut self, step: &Disconnect) -> StepResult {
        let conn = self.connection().await?;
        let reason = step.reason.map_or(0x8B, |c| c.0);
        self.note(format!("platform -> DISCONNECT 0x{reason:02X}"));
        self.stage
            .emulator
            .with_core(|core| core.disconnect_with(conn, tbgw_codec::ReasonCode(reason)));
        Ok(())
    }

    async fn expect_reconnect(&mut self, step: &ExpectReconnect) -> StepResult {
        let deadline = self.deadline(step.within, DEVICES_WITHIN);
        let before = self.stage.observer.read(|o| o.sessions);
        let found = self
            .stage
            .observer
            .wait_for(deadline, |o| {
                let again = o.sessions > before && o.conn.is_some();
                (again && o.announced_before.iter().all(|d| o.announced.contains(d))).then_some(())
            })
            .await;
        let (sessions, before_list, now) = self
            .stage
            .observer
            .read(|o| (o.sessions, o.announced_before.clone(), o.announced.clone()));
        match found {
            Some(()) => {
                self.note(format!("gateway reconnected and announced again: {now:?}"));
                Ok(())
            }
            None if sessions <= before => Err(fail("the gateway connects again", "no new session")),
            None => Err(fail(
                format!("every device announced again: {before_list:?}"),
                format!("announced in the new session: {now:?}"),
            )),
        }
    }
}

impl GatewayCase<'_> {
    async fn expect_sessions(&mut self, step: &ExpectSessions) -> StepResult {
        let deadline = tokio::time::Instant::now() + step.during.map_or(SESSIONS_DURING, |d| d.0);
        let (from, at_most) = (self.began.0, step.at_most);
        let too_many = self
            .stage
            .observer
            .wait_for(deadline, |o| {
                (o.sessions.saturating_sub(from) > at_most).then_some(())
            })
            .await;
        let new = self
            .stage
            .observer
            .read(|o| o.sessions.saturating_sub(from));
        match too_many {
            None => {
                self.note(format!("{new} new session(s) since the case began"));
                Ok(())
            }
            Some(()) => Err(fail(
                format!("at most {at_most} new session(s) since the case began"),
                format!("{new} new sessions: the gateway connects again and again"),
            )),
        }
    }

    async fn expect_accepted(&mut self, step: &ExpectAccepted) -> StepResult {
        let deadline = self.deadline(step.during, ACCEPTED_DURING);
        let from = self.began.1;
        let (check, strict) = (step.check, self.stage.strict || step.strict);
        let breaks = move |f: &super::passive::Finding| {
            (f.severity == super::passive::Severity::Fail || strict)
                && check.is_none_or(|c| f.check == c)
        };
        let broken = self
            .stage
            .observer
            .wait_for(deadline, |o| {
                o.passive.findings()[from.min(o.passive.findings().len())..]
                    .iter()
                    .find(|f| breaks(f))
                    .cloned()
            })
            .await;
        let which = step.check.map_or("every passive check", |c| c.id());
        match broken {
            None => {
                self.note(format!("nothing sent since the case began breaks {which}"));
                Ok(())
            }
            Some(finding) => Err(fail(
                format!("what the gateway sent since the case began passes {which}"),
                format!("{}: {finding}", finding.check.id()),
            )),
        }
    }
}

/// How long `expect_accepted` watches by default: what the gateway sends in reaction
/// comes within a round trip or two.
const ACCEPTED_DURING: Duration = Duration::from_secs(2);
/// How long `expect_sessions` watches by default.
const SESSIONS_DURING: Duration = Duration::from_secs(2);

fn rpc_body(method: &str, params: &Value, within: Duration) -> Value {
    json!({
        "method": method,
        "params": params,
        "timeout": u64::try_from(within.as_millis()).unwrap_or(u64::MAX),
    })
}

fn lossy(payload: &[u8]) -> String {
    super::passive::excerpt_of(payload, 300)
}

/// Whether a case applies to a gateway speaking `version`.
pub fn applies(versions: Option<&[crate::scenario::model::MqttVersion]>, version: Version) -> bool {
    versions.is_none_or(|v| v.iter().any(|m| m.0 == version))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gateway_level_methods_are_never_sent() {
        assert!(acts_on_the_host("gateway_reboot"));
        assert!(!acts_on_the_host("echo"));
        let reboot = br#"{"method":"gateway_reboot","params":{}}"#;
        assert!(refuse_host_methods(reboot).is_err());
        let nested = br#"{"device":"A","data":{"id":1,"method":"gateway_update"}}"#;
        assert!(refuse_host_methods(nested).is_err());
        assert!(refuse_host_methods(br#"{"device":"A","data":{"id":1,"method":"echo"}}"#).is_ok());
        assert!(refuse_host_methods(b"not json").is_ok());
    }
}
