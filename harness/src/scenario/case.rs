//! Running one case under one MQTT version: set up a fresh gateway device through REST, run
//! the steps in order (the first failure ends the case), then delete what the case created.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::load::Case;
use super::model::{Method, Step, User, Within};
use super::outcome::Failure;
use super::vars::Vars;
use crate::mqtt::Version;
use crate::mqtt::client::Connection;
use crate::mqtt::wirelog::{Direction, WireLog};
use crate::target::Platform;
use crate::target::rest::{Reply, device_by_name, encode, entity_id};

/// Deadlines before `--timeout-multiplier`.
pub const DEFAULT_WITHIN: Duration = Duration::from_secs(5);
/// How long "nothing happens" is watched when the scenario does not say.
pub const DEFAULT_QUIET: Duration = Duration::from_secs(1);

/// How a step went wrong: the target did not conform (`Fail`) or the harness or the
/// infrastructure failed (`Error`).
#[derive(Debug)]
pub enum StepError {
    Fail { expected: String, actual: String },
    Error(String),
}

pub type StepResult = Result<(), StepError>;

pub fn fail(expected: impl Into<String>, actual: impl Into<String>) -> StepError {
    StepError::Fail {
        expected: expected.into(),
        actual: actual.into(),
    }
}

/// The state of one running case.
pub struct CaseRun<'a> {
    pub case: &'a Case,
    pub version: Version,
    pub platform: &'a Platform,
    pub multiplier: f64,
    pub vars: Vars,
    pub sessions: HashMap<String, Connection>,
    pub rpc_calls: HashMap<String, JoinHandle<Result<Reply, String>>>,
    pub log: WireLog,
    pub transcript: Vec<String>,
    /// The run-unique prefix of every name this case creates.
    pub prefix: String,
    /// The tenant profile to put back after a `device_limit` or `rate_limits` step.
    pub saved_tenant_profile: Option<Value>,
}

impl<'a> CaseRun<'a> {
    pub fn new(
        case: &'a Case,
        version: Version,
        platform: &'a Platform,
        multiplier: f64,
        prefix: String,
    ) -> Self {
        let mut vars = Vars::default();
        vars.set("run", Value::String(prefix.clone()));
        vars.set("mqtt", Value::String(version.as_str().to_owned()));
        CaseRun {
            case,
            version,
            platform,
            multiplier,
            vars,
            sessions: HashMap::new(),
            rpc_calls: HashMap::new(),
            log: WireLog::new(),
            transcript: Vec::new(),
            prefix,
            saved_tenant_profile: None,
        }
    }

    /// A deadline from the scenario's `within` (or the default), scaled.
    pub fn deadline(&self, within: Option<Within>, default: Duration) -> Instant {
        let base = within.map_or(default, |w| w.0);
        Instant::now() + base.mul_f64(self.multiplier)
    }

    /// A transcript line, with the run prefix written as `${run}`.
    pub fn note(&mut self, line: String) {
        self.transcript.push(line.replace(&self.prefix, "${run}"));
    }

    pub fn text(&self, text: &str) -> Result<String, StepError> {
        self.vars.text(text).map_err(StepError::Error)
    }

    pub fn value(&self, value: &Value) -> Result<Value, StepError> {
        self.vars.value(value).map_err(StepError::Error)
    }

    pub fn session(&self, name: &str) -> Result<&Connection, StepError> {
        self.sessions.get(name).ok_or_else(|| {
            StepError::Error(format!(
                "session {name:?} is not open: add a `connect: {{session: {name}}}` step before this one"
            ))
        })
    }

    /// One REST call, logged; an unreachable server is an infrastructure error.
    pub async fn rest(
        &self,
        user: User,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Reply, StepError> {
        let reply = self
            .platform
            .rest
            .call(user, method, path, body)
            .await
            .map_err(StepError::Error)?;
        let sent = body.map(|b| format!(" {b}")).unwrap_or_default();
        self.log.record(
            "rest",
            Direction::Rest,
            format!(
                "{} {path}{sent} as {user:?} -> {}",
                method.as_str(),
                reply.summary()
            ),
            None,
        );
        Ok(reply)
    }

    /// Repeats a GET until `check` accepts the reply or the deadline passes; the last
    /// mismatch is the failure. ThingsBoard's effects are asynchronous (a PUBACK only means
    /// queued), so there is no event to wait on: the interval grows from 50 ms to 500 ms.
    pub async fn poll<T>(
        &self,
        user: User,
        path: &str,
        deadline: Instant,
        mut check: impl FnMut(&Reply) -> Result<T, StepError>,
    ) -> Result<(T, Reply), StepError> {
        let mut interval = Duration::from_millis(50);
        loop {
            let reply = self.rest(user, Method::Get, path, None).await?;
            match check(&reply) {
                Ok(value) => return Ok((value, reply)),
                Err(error) if Instant::now() >= deadline => return Err(error),
                Err(_) => {}
            }
            let next = (Instant::now() + interval).min(deadline);
            tokio::time::sleep_until(next).await;
            interval = (interval * 2).min(Duration::from_millis(500));
        }
    }

    /// The id of a device by name, waiting for it to appear (devices a gateway names are
    /// created asynchronously).
    pub async fn device_id(&self, name: &str, within: Option<Within>) -> Result<String, StepError> {
        let path = device_by_name(name);
        let deadline = self.deadline(within, DEFAULT_WITHIN);
        let (id, _) = self
            .poll(User::Tenant, &path, deadline, |reply| {
                reply.entity_id().map(str::to_owned).ok_or_else(|| {
                    fail(
                        format!("device {name:?} exists"),
                        format!("GET {path} -> {}", reply.summary()),
                    )
                })
            })
            .await?;
        Ok(id)
    }

    /// Creates the case's gateway device (`${run}-gw`) and sets `${gateway}`,
    /// `${gateway_id}` and `${gateway_token}`.
    pub async fn set_up(&mut self) -> Result<(), String> {
        let name = format!("{}-gw", self.prefix);
        let token = format!("{}-token", self.prefix);
        let body = json!({"name": name, "type": "default", "additionalInfo": {"gateway": true}});
        let reply = self
            .rest(
                User::Tenant,
                Method::Post,
                &format!("/api/device?accessToken={}", encode(&token)),
                Some(&body),
            )
            .await
            .map_err(describe)?;
        let id = reply.entity_id().ok_or_else(|| {
            format!(
                "cannot create the case's gateway device {name:?}: POST /api/device -> {}",
                reply.summary()
            )
        })?;
        self.vars.set("gateway", Value::String(name));
        self.vars.set("gateway_id", Value::String(id.to_owned()));
        self.vars.set("gateway_token", Value::String(token));
        Ok(())
    }

    /// Closes the sessions, puts the device limit back and deletes every device whose name
    /// starts with the run prefix. Returns what could not be cleaned up.
    pub async fn clean_up(&mut self) -> Option<String> {
        for (_, session) in self.sessions.drain() {
            session.close().await;
        }
        for (_, call) in self.rpc_calls.drain() {
            call.abort();
        }
        let mut problems = Vec::new();
        if let Some(profile) = self.saved_tenant_profile.take()
            && let Err(e) = self
                .rest(
                    User::Sysadmin,
                    Method::Post,
                    "/api/tenantProfile",
                    Some(&profile),
                )
                .await
        {
            problems.push(format!(
                "cannot restore the tenant profile: {}",
                describe(e)
            ));
        }
        let path = format!(
            "/api/tenant/devices?pageSize=1000&page=0&textSearch={}",
            encode(&self.prefix)
        );
        match self.rest(User::Tenant, Method::Get, &path, None).await {
            Ok(reply) => {
                let devices = reply
                    .json
                    .as_ref()
                    .and_then(|j| j.get("data"))
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                for device in devices {
                    let starts = device
                        .get("name")
                        .and_then(Value::as_str)
                        .is_some_and(|n| n.starts_with(&self.prefix));
                    if let (true, Some(id)) = (starts, entity_id(&device)) {
                        let _ = self
                            .rest(
                                User::Tenant,
                                Method::Delete,
                                &format!("/api/device/{id}"),
                                None,
                            )
                            .await;
                    }
                }
            }
            Err(e) => problems.push(format!("cannot list the case's devices: {}", describe(e))),
        }
        (!problems.is_empty()).then(|| problems.join("; "))
    }

    /// Runs every step; the first failure is returned with its location.
    pub async fn run_steps(&mut self) -> Result<(), (Failure, bool)> {
        let case = self.case;
        for (index, step) in case.scenario.steps.iter().enumerate() {
            let result = match &step.value {
                Step::Connect(s) => self.connect(s).await,
                Step::Publish(s) => self.publish(s).await,
                Step::Subscribe(s) => self.subscribe(s).await,
                Step::Unsubscribe(s) => self.unsubscribe(s).await,
                Step::ExpectMessage(s) => self.expect_message(s).await,
                Step::ExpectNoMessage(s) => self.expect_no_message(s).await,
                Step::ExpectDisconnect(s) => self.expect_disconnect(s).await,
                Step::Disconnect(s) => self.disconnect(s).await,
                Step::Rest(s) => self.rest_step(s).await,
                Step::Device(s) => self.device_step(s).await,
                Step::Relation(s) => self.relation_step(s).await,
                Step::Attributes(s) => self.attributes_step(s).await,
                Step::Timeseries(s) => self.timeseries_step(s).await,
                Step::WriteShared(s) => self.write_shared(s).await,
                Step::DeleteShared(s) => self.delete_shared(s).await,
                Step::RpcCall(s) => self.rpc_call(s).await,
                Step::RpcResult(s) => self.rpc_result(s).await,
                Step::Claim(s) => self.claim(s).await,
                Step::DeleteDevice(s) => self.delete_device(s).await,
                Step::DeviceLimit(s) => self.device_limit(s).await,
                Step::RateLimits(s) => self.rate_limits(s).await,
                Step::Idle(s) => self.idle(s).await,
            };
            if let Err(error) = result {
                let step_name = format!("{} (step {})", step.value.verb(), index + 1);
                let location = case.step_location(step);
                let wire_at_failure = self.log.len();
                let (failure, infrastructure) = match error {
                    StepError::Fail { expected, actual } => (
                        Failure {
                            step: step_name,
                            location,
                            expected,
                            actual,
                            wire_at_failure,
                        },
                        false,
                    ),
                    StepError::Error(message) => (
                        Failure {
                            step: step_name,
                            location,
                            expected: "the step to run".into(),
                            actual: message,
                            wire_at_failure,
                        },
                        true,
                    ),
                };
                self.note(format!(
                    "FAILED at {}: expected {}; got {}",
                    failure.step, failure.expected, failure.actual
                ));
                return Err((failure, infrastructure));
            }
        }
        Ok(())
    }
}

fn describe(error: StepError) -> String {
    match error {
        StepError::Error(message) => message,
        StepError::Fail { expected, actual } => format!("expected {expected}, got {actual}"),
    }
}
