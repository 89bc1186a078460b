//! The REST steps: reads are retried until they hold or the deadline passes (ThingsBoard
//! stores asynchronously); writes run once.

use std::time::Duration;

use serde_json::{Map, Value, json};

use super::case::{CaseRun, DEFAULT_WITHIN, StepError, StepResult, fail};
use super::matcher::{self, Objects};
use super::model::{
    AttributesCheck, Claim, ClaimAction, DeleteShared, DeviceCheck, DeviceLimit, DeviceRef, Method,
    RateLimits, RelationCheck, Rest, RestExpect, RpcApi, RpcCall, RpcKind, RpcResult,
    TimeseriesCheck, User, WriteShared,
};
use crate::target::rest::{Reply, device_by_name, encode};

/// RPC results wait longer by default: ThingsBoard's own timeout is at least 5 s.
const RPC_WITHIN: Duration = Duration::from_secs(20);

/// A REST expectation with its variables filled in, checked against each reply (a poll
/// checks many).
struct ExpectedReply {
    status: u16,
    pattern: Option<Value>,
    empty: bool,
    text: Option<String>,
    /// What the expectation says, for failure messages.
    wanted: String,
}

impl ExpectedReply {
    /// Status 200 by default; body patterns match as subsets.
    fn check(&self, reply: &Reply) -> Result<Map<String, Value>, StepError> {
        let text_differs = self.text.as_ref().is_some_and(|text| *text != reply.text);
        if reply.status != self.status || (self.empty && !reply.text.is_empty()) || text_differs {
            return Err(fail(self.wanted.clone(), reply.summary()));
        }
        match (&self.pattern, &reply.json) {
            (None, _) => Ok(Map::new()),
            (Some(p), Some(body)) => matcher::check(p, body, Objects::Subset)
                .map_err(|m| fail(self.wanted.clone(), format!("{} ({m})", reply.summary()))),
            (Some(_), None) => Err(fail(
                self.wanted.clone(),
                format!("{} (not JSON)", reply.summary()),
            )),
        }
    }
}

impl CaseRun<'_> {
    fn expected_reply(&self, expect: &RestExpect) -> Result<ExpectedReply, StepError> {
        let status = expect.status.unwrap_or(200);
        let pattern = expect.json.as_ref().map(|p| self.value(p)).transpose()?;
        let mut wanted = format!("HTTP {status}");
        if let Some(p) = &pattern {
            wanted.push_str(&format!(" with a body matching {p}"));
        }
        if expect.empty {
            wanted.push_str(" with an empty body");
        }
        let text = expect.text.as_ref().map(|t| self.text(t)).transpose()?;
        if let Some(t) = &text {
            wanted.push_str(&format!(" with the text body {t:?}"));
        }
        Ok(ExpectedReply {
            status,
            pattern,
            empty: expect.empty,
            text,
            wanted,
        })
    }

    pub async fn rest_step(&mut self, step: &Rest) -> StepResult {
        let path = self.text(&step.path)?;
        let body = step.json.as_ref().map(|b| self.value(b)).transpose()?;
        let expected = self.expected_reply(&step.expect)?;
        let (captures, reply) = if step.method == Method::Get {
            let deadline = self.deadline(step.within, DEFAULT_WITHIN);
            self.poll(step.user, &path, deadline, |reply| expected.check(reply))
                .await?
        } else {
            let reply = self
                .rest(step.user, step.method, &path, body.as_ref())
                .await?;
            (expected.check(&reply)?, reply)
        };
        self.vars.extend(captures);
        let sent = body.map(|b| format!(" {b}")).unwrap_or_default();
        self.note(format!(
            "REST {} {path}{sent} as {:?} -> {}",
            step.method.as_str(),
            step.user,
            reply.summary()
        ));
        Ok(())
    }

    pub async fn device_step(&mut self, step: &DeviceCheck) -> StepResult {
        let name = self.text(&step.name)?;
        let path = device_by_name(&name);
        let pattern = step.expect.as_ref().map(|p| self.value(p)).transpose()?;
        let deadline = self.deadline(step.within, DEFAULT_WITHIN);
        let absent = step.absent;
        let (captures, reply) = self
            .poll(User::Tenant, &path, deadline, |reply| {
                if absent {
                    return if reply.status == 404 {
                        Ok(Map::new())
                    } else {
                        Err(fail(
                            format!("no device {name:?} (HTTP 404)"),
                            reply.summary(),
                        ))
                    };
                }
                let wanted = match &pattern {
                    Some(p) => format!("device {name:?} matching {p}"),
                    None => format!("device {name:?}"),
                };
                match (&reply.json, &pattern) {
                    (Some(device), _) if reply.status != 200 => {
                        Err(fail(wanted, format!("HTTP {} {device}", reply.status)))
                    }
                    (Some(device), Some(p)) => matcher::check(p, device, Objects::Subset)
                        .map_err(|m| fail(wanted, format!("{m}; the device: {device}"))),
                    (Some(_), None) => Ok(Map::new()),
                    (None, _) => Err(fail(wanted, reply.summary())),
                }
            })
            .await?;
        self.vars.extend(captures);
        let shown = if absent {
            "404 (absent)".to_owned()
        } else {
            let device = reply.json.unwrap_or(Value::Null);
            let keep = ["name", "type", "customerId", "additionalInfo"];
            let summary: Map<String, Value> = keep
                .iter()
                .filter_map(|k| device.get(*k).map(|v| ((*k).to_owned(), v.clone())))
                .collect();
            format!("200 {}", Value::Object(summary))
        };
        self.note(format!("REST device {name:?} -> {shown}"));
        Ok(())
    }

    pub async fn relation_step(&mut self, step: &RelationCheck) -> StepResult {
        let from_name = match &step.from {
            Some(name) => self.text(name)?,
            None => self.text("${gateway}")?,
        };
        let to_name = self.text(&step.to)?;
        let from = self.device_id(&from_name, step.within).await?;
        let to = self.device_id(&to_name, step.within).await?;
        let path = format!("/api/relations?fromId={from}&fromType=DEVICE");
        let deadline = self.deadline(step.within, DEFAULT_WITHIN);
        let kind = step.relation_type.clone();
        let absent = step.absent;
        let wanted = format!(
            "{}a {kind:?} relation from {from_name:?} to {to_name:?}",
            if absent { "no " } else { "" }
        );
        self.poll(User::Tenant, &path, deadline, |reply| {
            let found = reply
                .json
                .as_ref()
                .and_then(Value::as_array)
                .is_some_and(|list| {
                    list.iter().any(|r| {
                        r.pointer("/to/id").and_then(Value::as_str) == Some(to.as_str())
                            && r.get("type").and_then(Value::as_str) == Some(kind.as_str())
                    })
                });
            if reply.status == 200 && found != absent {
                Ok(())
            } else {
                Err(fail(wanted.clone(), reply.summary()))
            }
        })
        .await?;
        self.note(format!(
            "REST relations from {from_name:?}: {wanted} -> found"
        ));
        Ok(())
    }

    pub async fn attributes_step(&mut self, step: &AttributesCheck) -> StepResult {
        let name = self.text(&step.device)?;
        let id = self.device_id(&name, step.within).await?;
        let mut path = format!(
            "/api/plugins/telemetry/DEVICE/{id}/values/attributes/{}",
            step.scope.as_tb()
        );
        if let Some(keys) = &step.keys {
            let keys: Vec<String> = keys
                .iter()
                .map(|k| self.text(k))
                .collect::<Result<_, _>>()?;
            path.push_str(&format!("?keys={}", encode(&keys.join(","))));
        }
        let pattern = self.value(&step.expect)?;
        let deadline = self.deadline(step.within, DEFAULT_WITHIN);
        let wanted = format!(
            "{} attributes of {name:?} matching {pattern}",
            step.scope.as_tb()
        );
        let (captures, map) = {
            let (result, _) = self
                .poll(User::Tenant, &path, deadline, |reply| {
                    let map = attribute_map(reply)
                        .ok_or_else(|| fail(wanted.clone(), reply.summary()))?;
                    matcher::check(&pattern, &map, Objects::Subset)
                        .map(|c| (c, map.clone()))
                        .map_err(|m| fail(wanted.clone(), format!("{m}; the attributes: {map}")))
                })
                .await?;
            result
        };
        self.vars.extend(captures);
        let shown = shown_subset(&map, &pattern);
        self.note(format!(
            "REST {} attributes of {name:?} -> {shown}",
            step.scope.as_tb()
        ));
        Ok(())
    }

    pub async fn timeseries_step(&mut self, step: &TimeseriesCheck) -> StepResult {
        let name = self.text(&step.device)?;
        let id = self.device_id(&name, step.within).await?;
        let keys: Vec<String> = step
            .keys
            .iter()
            .map(|k| self.text(k))
            .collect::<Result<_, _>>()?;
        let mut path = format!(
            "/api/plugins/telemetry/DEVICE/{id}/values/timeseries?keys={}&useStrictDataTypes={}",
            encode(&keys.join(",")),
            step.strict_types
        );
        if step.history {
            // Up to a day ahead: scenarios may use fixed timestamps in the future.
            path.push_str("&startTs=0&endTs=4102444800000&limit=100&agg=NONE&orderBy=DESC");
        }
        let pattern = self.value(&step.expect)?;
        let deadline = self.deadline(step.within, DEFAULT_WITHIN);
        let wanted = format!("time series of {name:?} matching {pattern}");
        let ((captures, data), _) = self
            .poll(User::Tenant, &path, deadline, |reply| {
                let data = reply
                    .json
                    .clone()
                    .filter(|_| reply.status == 200)
                    .ok_or_else(|| fail(wanted.clone(), reply.summary()))?;
                matcher::check(&pattern, &data, Objects::Subset)
                    .map(|c| (c, data.clone()))
                    .map_err(|m| fail(wanted.clone(), format!("{m}; the time series: {data}")))
            })
            .await?;
        self.vars.extend(captures);
        let shown = shown_subset(&data, &pattern);
        self.note(format!("REST time series of {name:?} {keys:?} -> {shown}"));
        Ok(())
    }

    pub async fn write_shared(&mut self, step: &WriteShared) -> StepResult {
        let name = self.text(&step.device)?;
        let id = self.device_id(&name, None).await?;
        let body = self.value(&step.json)?;
        let path = format!("/api/plugins/telemetry/DEVICE/{id}/attributes/SHARED_SCOPE");
        let reply = self
            .rest(User::Tenant, Method::Post, &path, Some(&body))
            .await?;
        if reply.status != 200 {
            return Err(fail("HTTP 200", reply.summary()));
        }
        self.note(format!(
            "REST write SHARED_SCOPE of {name:?} {body} -> {}",
            reply.status
        ));
        Ok(())
    }

    pub async fn delete_shared(&mut self, step: &DeleteShared) -> StepResult {
        let name = self.text(&step.device)?;
        let id = self.device_id(&name, None).await?;
        let keys: Vec<String> = step
            .keys
            .iter()
            .map(|k| self.text(k))
            .collect::<Result<_, _>>()?;
        let path = format!(
            "/api/plugins/telemetry/DEVICE/{id}/SHARED_SCOPE?keys={}",
            encode(&keys.join(","))
        );
        let reply = self.rest(User::Tenant, Method::Delete, &path, None).await?;
        if reply.status != 200 {
            return Err(fail("HTTP 200", reply.summary()));
        }
        self.note(format!(
            "REST delete SHARED_SCOPE {keys:?} of {name:?} -> {}",
            reply.status
        ));
        Ok(())
    }

    pub async fn rpc_call(&mut self, step: &RpcCall) -> StepResult {
        let name = self.text(&step.device)?;
        let id = self.device_id(&name, None).await?;
        let params = match &step.params {
            Some(p) => self.value(p)?,
            None => json!({}),
        };
        let mut body = json!({"method": self.text(&step.method)?, "params": params});
        if let Some(timeout) = step.timeout_ms {
            body["timeout"] = json!(timeout);
        }
        let kind = match step.kind {
            RpcKind::Oneway => "oneway",
            RpcKind::Twoway => "twoway",
        };
        let path = match step.api {
            RpcApi::V2 => format!("/api/rpc/{kind}/{id}"),
            RpcApi::V1 => format!("/api/plugins/rpc/{kind}/{id}"),
        };
        self.note(format!(
            "REST POST {} {body} (RPC {:?} to {name:?})",
            path.replace(&id, "{id}"),
            step.call
        ));
        let rest = self.platform.rest.clone();
        let log = self.log.clone();
        let handle = tokio::spawn(async move {
            let reply = rest
                .call(User::Tenant, Method::Post, &path, Some(&body))
                .await?;
            log.record(
                "rest",
                crate::mqtt::wirelog::Direction::Rest,
                format!("POST {path} {body} -> {}", reply.summary()),
                None,
            );
            Ok(reply)
        });
        if let Some(old) = self.rpc_calls.insert(step.call.clone(), handle) {
            old.abort();
        }
        Ok(())
    }

    pub async fn rpc_result(&mut self, step: &RpcResult) -> StepResult {
        let handle = self.rpc_calls.remove(&step.call).ok_or_else(|| {
            StepError::Error(format!(
                "no RPC call named {:?}: add an `rpc_call` step with `call: {}` before this one",
                step.call, step.call
            ))
        })?;
        let deadline = self.deadline(step.within, RPC_WITHIN);
        let abort = handle.abort_handle();
        let reply = match tokio::time::timeout_at(deadline, handle).await {
            Ok(Ok(Ok(reply))) => reply,
            Ok(Ok(Err(message))) => return Err(StepError::Error(message)),
            Ok(Err(join)) => {
                return Err(StepError::Error(format!(
                    "the RPC call task failed: {join}"
                )));
            }
            Err(_) => {
                abort.abort();
                return Err(fail(
                    "the RPC call to return",
                    "no HTTP response before the deadline",
                ));
            }
        };
        let captures = self.expected_reply(&step.expect)?.check(&reply)?;
        self.vars.extend(captures);
        self.note(format!("REST RPC {:?} -> {}", step.call, reply.summary()));
        Ok(())
    }

    pub async fn claim(&mut self, step: &Claim) -> StepResult {
        let name = self.text(&step.device)?;
        let body = match &step.json {
            Some(b) => self.value(b)?,
            None => json!({}),
        };
        let path = format!("/api/customer/device/{}/claim", encode(&name));
        let (method, body) = match step.action {
            ClaimAction::Claim => (Method::Post, Some(&body)),
            ClaimAction::Reclaim => (Method::Delete, None),
        };
        let reply = self.rest(step.user, method, &path, body).await?;
        let captures = self.expected_reply(&step.expect)?.check(&reply)?;
        self.vars.extend(captures);
        let shown = match (&reply.json, reply.status) {
            (Some(Value::Object(o)), status) => format!(
                "{status} response={}",
                o.get("response").unwrap_or(&Value::Null)
            ),
            _ => reply.summary(),
        };
        let sent = body.map(|b| format!(" {b}")).unwrap_or_default();
        self.note(format!(
            "REST {} claim {name:?}{sent} as {:?} -> {shown}",
            method.as_str(),
            step.user
        ));
        Ok(())
    }

    pub async fn delete_device(&mut self, step: &DeviceRef) -> StepResult {
        let name = self.text(&step.device)?;
        let id = self.device_id(&name, None).await?;
        let reply = self
            .rest(
                User::Tenant,
                Method::Delete,
                &format!("/api/device/{id}"),
                None,
            )
            .await?;
        if reply.status != 200 {
            return Err(fail("HTTP 200", reply.summary()));
        }
        self.note(format!("REST DELETE device {name:?} -> {}", reply.status));
        Ok(())
    }

    pub async fn device_limit(&mut self, step: &DeviceLimit) -> StepResult {
        let count = self.device_count().await?;
        let max = count + step.headroom;
        self.change_tenant_profile("maxDevices", |config| {
            config["maxDevices"] = json!(max);
        })
        .await?;
        self.note(format!(
            "REST tenant profile maxDevices = device count + {}",
            step.headroom
        ));
        Ok(())
    }

    pub async fn rate_limits(&mut self, step: &RateLimits) -> StepResult {
        let fields = step.fields();
        let mut values = Vec::with_capacity(fields.len());
        for (field, value) in &fields {
            values.push((*field, self.text(value)?));
        }
        self.change_tenant_profile("the rate limits", |config| {
            for (field, value) in &values {
                config[*field] = json!(value);
            }
        })
        .await?;
        let shown: Vec<String> = values.iter().map(|(f, v)| format!("{f} = {v:?}")).collect();
        self.note(format!("REST tenant profile {}", shown.join(", ")));
        Ok(())
    }

    async fn device_count(&mut self) -> Result<u64, StepError> {
        self.rest(
            User::Tenant,
            Method::Get,
            "/api/tenant/devices?pageSize=1&page=0",
            None,
        )
        .await?
        .json
        .and_then(|j| j.get("totalElements").and_then(Value::as_u64))
        .ok_or_else(|| StepError::Error("cannot count the tenant's devices".into()))
    }

    /// Reads the default tenant profile as the system administrator, keeps the first copy
    /// for the clean-up to put back, changes its configuration and saves it.
    async fn change_tenant_profile(
        &mut self,
        what: &str,
        change: impl FnOnce(&mut Value),
    ) -> StepResult {
        let info = self
            .rest(
                User::Sysadmin,
                Method::Get,
                "/api/tenantProfileInfo/default",
                None,
            )
            .await?;
        let id = info
            .entity_id()
            .ok_or_else(|| {
                StepError::Error(format!(
                    "cannot read the default tenant profile as sysadmin: {}",
                    info.summary()
                ))
            })?
            .to_owned();
        let profile = self
            .rest(
                User::Sysadmin,
                Method::Get,
                &format!("/api/tenantProfile/{id}"),
                None,
            )
            .await?;
        let mut profile = profile
            .json
            .ok_or_else(|| StepError::Error("cannot read the tenant profile".into()))?;
        if self.saved_tenant_profile.is_none() {
            self.saved_tenant_profile = Some(profile.clone());
        }
        if let Some(config) = profile.pointer_mut("/profileData/configuration") {
            change(config);
        }
        let reply = self
            .rest(
                User::Sysadmin,
                Method::Post,
                "/api/tenantProfile",
                Some(&profile),
            )
            .await?;
        if reply.status != 200 {
            return Err(StepError::Error(format!(
                "cannot set {what} of the tenant profile: {}",
                reply.summary()
            )));
        }
        Ok(())
    }
}

/// `[{key, value, lastUpdateTs}]` as `{key: value}`.
fn attribute_map(reply: &Reply) -> Option<Value> {
    if reply.status != 200 {
        return None;
    }
    let list = reply.json.as_ref()?.as_array()?;
    let map: Map<String, Value> = list
        .iter()
        .filter_map(|a| Some((a.get("key")?.as_str()?.to_owned(), a.get("value")?.clone())))
        .collect();
    Some(Value::Object(map))
}

/// The part of `actual` the pattern talks about (for stable transcripts: other keys, such as
/// the emulator's or ThingsBoard's own server attributes, are left out).
fn shown_subset(actual: &Value, pattern: &Value) -> Value {
    match (actual, pattern) {
        (Value::Object(a), Value::Object(p)) if !p.keys().any(|k| k.starts_with('$')) => {
            Value::Object(
                a.iter()
                    .filter(|(k, _)| p.contains_key(*k))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            )
        }
        _ => actual.clone(),
    }
}
