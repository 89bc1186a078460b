//! The device API (`v1/devices/me/*` and the short `v2/*`, see `device_topics`) that every
//! gateway also uses for itself: its own telemetry and attributes, attribute requests, RPC
//! both ways, claiming, and `getSessionLimits`, which ThingsBoard's transport answers on its
//! own.

use serde_json::{Map, Value, json};
use tbgw_codec::{AttributeChange, Direction, Message, Mode, ReasonCode, TbAnswer, Topic, decode};

use super::device_topics::{DevicePublish, classify};
use super::gateway::describe;
use super::packets::{ConnId, PublishIn, Version};
use super::rate_limits::LimitConfig;
use super::session::Session;
use super::store::Scope;
use super::{Core, rest_json};

impl Core {
    pub(super) fn device_publish(&mut self, conn: ConnId, publish: &PublishIn) {
        let Some(session) = self.session(conn) else {
            return;
        };
        let (device, name) = (session.device, session.device_name.clone());
        let topic = publish.topic.as_str();
        let payload = &publish.payload;
        match classify(topic) {
            DevicePublish::Telemetry => {
                let wrapped = wrap_telemetry(payload);
                self.own_data(conn, publish, Topic::Telemetry, &name, wrapped);
            }
            DevicePublish::Attributes => {
                self.own_data(conn, publish, Topic::Attributes, &name, payload.clone());
            }
            DevicePublish::Claim => {
                self.own_data(conn, publish, Topic::Claim, &name, payload.clone());
            }
            DevicePublish::AttributeRequest { response } => {
                if !self.own_admitted(conn, topic, 0) {
                    return;
                }
                let answer = self.own_attributes(device, payload);
                self.ack_success(conn, publish);
                self.publish_to(conn, response, answer.to_string().into_bytes());
            }
            DevicePublish::RpcRequest { response } => {
                self.own_rpc_request(conn, publish, response);
            }
            DevicePublish::RpcResponse { id } => {
                if !self.own_admitted(conn, topic, 0) {
                    return;
                }
                self.ack_success(conn, publish);
                let data = String::from_utf8_lossy(payload).into_owned();
                let answered = id
                    .parse::<i32>()
                    .is_ok_and(|id| self.rpc_reply(device, id, data));
                if !answered {
                    let problem =
                        format!("RPC reply with id {id}, which matches no outstanding request");
                    self.violation(
                        conn,
                        topic,
                        problem,
                        "PUBACK 0x00 Success, reply ignored".into(),
                    );
                }
            }
            DevicePublish::Protobuf | DevicePublish::Unknown => {
                let problem = "a topic ThingsBoard's device API does not handle (the emulator does not model protobuf payloads, `/p`)".to_owned();
                self.answer(conn, publish, TbAnswer::TopicInvalid, problem);
            }
        }
    }

    /// A client-side RPC request of the device: `getSessionLimits` is the transport's own
    /// answer; any other waits for the rule engine, which by default only logs it, so the
    /// transport's timeout answers it (`transport.client_side_rpc.timeout`, §11.2).
    fn own_rpc_request(&mut self, conn: ConnId, publish: &PublishIn, response: String) {
        let Ok(request) = serde_json::from_slice::<Value>(&publish.payload) else {
            let problem = "a client-side RPC request that is not JSON".to_owned();
            self.answer(conn, publish, TbAnswer::InvalidPayload, problem);
            return;
        };
        let method = request.get("method").and_then(Value::as_str);
        // The transport answers getSessionLimits itself; other requests go through its
        // service, and its limits.
        let limits_asked = method == Some("getSessionLimits");
        if !limits_asked && !self.own_admitted(conn, &publish.topic, 0) {
            return;
        }
        self.ack_success(conn, publish);
        if limits_asked {
            let limits = self.session_limits(self.session(conn));
            self.publish_to(conn, response, limits.to_string().into_bytes());
        } else {
            let due = self
                .now()
                .saturating_add(self.settings.client_side_rpc_timeout_ms);
            if let Some(session) = self.sessions.get_mut(&conn) {
                session.own_rpc_requests.push((response, due));
            }
        }
    }

    /// What the session's device sends itself costs its own buckets (`transportGatewayDevice…`
    /// for a gateway, `transportDevice…` for a plain device): `points` data points, or one
    /// message. Refused, `getPubAckCallback` closes the session with 0x83 (DISCONNECT on
    /// MQTT 5, a close on 3.1.1) and sends no PUBACK; `false` then.
    fn own_admitted(&mut self, conn: ConnId, topic: &str, points: u64) -> bool {
        // No limit configured (ThingsBoard's default): nothing to count.
        if self.tenant_profile.transport_limits.is_empty() {
            return true;
        }
        let now = self.now();
        let limits = &self.tenant_profile.transport_limits;
        let Some(session) = self.sessions.get_mut(&conn) else {
            return true;
        };
        let config = if session.gateway {
            &limits.gateway_device
        } else {
            &limits.device
        };
        if session.own_limits.admit(config, points, now) {
            return true;
        }
        let answer = if session.version == Version::V5 {
            "DISCONNECT 0x83 Implementation specific error, no PUBACK"
        } else {
            "connection closed, no PUBACK"
        };
        let problem = "a device-API message over the tenant profile's transport rate limits";
        self.violation(conn, topic, problem.to_owned(), answer.to_owned());
        self.kick(conn, ReasonCode::IMPLEMENTATION_SPECIFIC_ERROR);
        false
    }

    fn ack_success(&mut self, conn: ConnId, publish: &PublishIn) {
        if let Some(pid) = publish.pid {
            self.send(
                conn,
                super::packets::Outbound::PubAck {
                    pid,
                    reason: ReasonCode::SUCCESS,
                },
            );
        }
    }

    /// The device's own telemetry, attributes or claim, read with the gateway message's
    /// rules (`JsonConverter` is shared) as a one-device message under the device's name.
    fn own_data(
        &mut self,
        conn: ConnId,
        publish: &PublishIn,
        topic: Topic,
        name: &str,
        payload: Vec<u8>,
    ) {
        let name = serde_json::to_string(name).unwrap_or_default();
        // An empty claim asks for the defaults (`JsonConverter` L152-158); empty telemetry or
        // attributes are a bad payload.
        let body: &[u8] = match (payload.is_empty(), topic) {
            (true, Topic::Claim) => b"{}",
            (true, _) => b"null",
            (false, _) => &payload,
        };
        let bytes = [b"{", name.as_bytes(), b":", body, b"}"].concat();
        let Some(device) = self.session(conn).map(|s| s.device) else {
            return;
        };
        match decode(
            topic,
            Direction::GatewayToPlatform,
            &bytes,
            Mode::ThingsBoard,
        ) {
            Ok(decoded) => {
                if !self.own_admitted(conn, &publish.topic, data_points(&decoded.message)) {
                    return;
                }
                let now = self.now();
                let acknowledged = decoded.acknowledged();
                match decoded.message {
                    Message::Telemetry(t) => {
                        let entries = t.devices.iter().flat_map(|d| &d.entries);
                        self.store.device_mut(device).put_telemetry(entries, now);
                    }
                    Message::ClientAttributes(a) => {
                        let data = self.store.device_mut(device);
                        for own in &a.devices {
                            data.set_attributes(Scope::Client, &own.values, now);
                        }
                    }
                    Message::Claim(c) => {
                        for claim in &c.devices {
                            self.register_device_claim(device, claim);
                        }
                    }
                    _ => {}
                }
                // An empty telemetry array is never acknowledged, as on the gateway topic (C12).
                if acknowledged {
                    self.ack_success(conn, publish);
                }
            }
            // Every error of the device API is an `AdaptorException` (`JsonMqttAdaptor`
            // L55-95): 0x99 on MQTT 5 at QoS 1, else the connection closes (§11.2).
            Err(error) => {
                self.answer(conn, publish, TbAnswer::InvalidPayload, describe(&error));
            }
        }
    }

    /// `{"clientKeys": "a,b", "sharedKeys": "c"}` → `{"client": {…}, "shared": {…}}`;
    /// no keys at all asks for every client and shared attribute.
    fn own_attributes(&self, device: uuid::Uuid, payload: &[u8]) -> Value {
        let request: Value = serde_json::from_slice(payload).unwrap_or(Value::Null);
        let keys = |field: &str| -> Option<Vec<String>> {
            // Not trimmed, as ThingsBoard reads them: "a, b" asks for "a" and " b".
            request.get(field).and_then(Value::as_str).map(|s| {
                s.split(',')
                    .filter(|k| !k.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
        };
        let (client, shared) = (keys("clientKeys"), keys("sharedKeys"));
        let all = client.is_none() && shared.is_none();
        let mut result = Map::new();
        let Some(data) = self.store.device(device) else {
            return Value::Object(result);
        };
        for (field, scope, wanted) in [
            ("client", Scope::Client, client),
            ("shared", Scope::Shared, shared),
        ] {
            let mut found = Map::new();
            for (key, attribute) in data.scope(scope) {
                let asked = wanted.as_ref().is_some_and(|w| w.iter().any(|k| k == key));
                if all || asked {
                    found.insert(key.to_owned(), rest_json(&attribute.value));
                }
            }
            if !found.is_empty() {
                result.insert(field.to_owned(), Value::Object(found));
            }
        }
        Value::Object(result)
    }

    /// The `getSessionLimits` answer (`SessionLimits` / `GatewaySessionLimits`); unset limits are null.
    /// `MqttTransportHandler.getSessionLimits`: for a gateway, `rateLimits` are
    /// `transportGatewayDevice…` and `gatewayRateLimits` `transportGateway…`; for a plain
    /// device `rateLimits` are `transportDevice…`; unset ones are null.
    fn session_limits(&self, session: Option<&Session>) -> Value {
        let limits = &self.tenant_profile.transport_limits;
        let as_json = |config: &LimitConfig| {
            let [messages, telemetry, points] = config.values();
            json!({"messages": messages, "telemetryMessages": telemetry, "telemetryDataPoints": points})
        };
        let gateway = session.is_some_and(|s| s.gateway);
        let device_limits = if gateway {
            as_json(&limits.gateway_device)
        } else {
            as_json(&limits.device)
        };
        let mut answer = json!({
            "maxPayloadSize": self.settings.max_payload_size,
            "maxInflightMessages": self.settings.queue_size_before_connect,
            "rateLimits": device_limits,
        });
        if gateway && let Some(map) = answer.as_object_mut() {
            map.insert("gatewayRateLimits".into(), as_json(&limits.gateway));
        }
        answer
    }
}

/// The data points a message counts against the telemetry limits: its values, attributes
/// included (`DefaultTransportService` passes their key count); none for a claim.
fn data_points(message: &Message) -> u64 {
    let points: usize = match message {
        Message::Telemetry(t) => t
            .devices
            .iter()
            .flat_map(|d| &d.entries)
            .map(|e| e.values.len())
            .sum(),
        Message::ClientAttributes(a) => a.devices.iter().map(|d| d.values.len()).sum(),
        _ => 0,
    };
    u64::try_from(points).unwrap_or(u64::MAX)
}

/// Device-API telemetry is an object or an array of objects; the gateway form wants an array.
fn wrap_telemetry(payload: &[u8]) -> Vec<u8> {
    let trimmed = payload.trim_ascii_start();
    if trimmed.starts_with(b"{") {
        let mut bytes = b"[".to_vec();
        bytes.extend_from_slice(payload);
        bytes.push(b']');
        bytes
    } else {
        payload.to_vec()
    }
}

/// A shared-attribute change as the device API sends it on `v1/devices/me/attributes`.
pub fn attribute_update_payload(change: &AttributeChange) -> Vec<u8> {
    let body = match change {
        AttributeChange::Updated(values) => tbgw_codec::Json::Object(values.clone()).to_canonical(),
        AttributeChange::Deleted(keys) => json!({"deleted": keys}).to_string(),
    };
    body.into_bytes()
}
