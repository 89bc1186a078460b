//! The gateway topics (`v1/gateway/*`): decode as ThingsBoard does, act, answer with
//! ThingsBoard's PUBACK / DISCONNECT for the protocol version, and log what a strict
//! reading of the API finds wrong.

use tbgw_codec::attribute_request::{RequestedKeys, ServerAttributeRequest};
use tbgw_codec::json::ObjectWriter;
use tbgw_codec::{
    AttributeRequest, DecodeError, DeviceDisconnected, Direction, Json, Message, Mode, ReasonCode,
    TbAnswer, Topic, decode, device_parts,
};
use uuid::Uuid;

use super::entities::AdditionalInfo;
use super::packets::{ConnId, Outbound, PublishIn, Version};
use super::store::Scope;
use super::{Core, DeviceFailure, Holder, tb_json};

/// How a gateway message ended, for the PUBACK.
enum Outcome {
    Success,
    /// ThingsBoard sends no PUBACK (an empty telemetry array).
    Silent,
    /// The PUBACK was already written (attribute requests acknowledge before answering).
    Acknowledged,
    Failed(TbAnswer, String),
    /// Over a transport rate limit of the tenant profile, for this device.
    RateLimited {
        device: String,
        creates_device: bool,
    },
}

/// Whether a message ThingsBoard accepts needs a second, strict decode to find its strict
/// violation. A ThingsBoard-mode decode with no leniency but typing notes means strict mode
/// decodes the same message (the invariant the codec's fuzz target `decode_bytes` checks),
/// so a clean message is decoded once. Attribute requests always get the second look: the
/// doc's request form is the one place where the two modes read the same bytes differently.
fn needs_strict_look(topic: Topic, decoded: &tbgw_codec::Decoded) -> bool {
    topic == Topic::AttributesRequest || decoded.leniencies.iter().any(|l| !l.kind.is_typing_note())
}

/// A gateway message read as ThingsBoard reads it, with its strict reading where that can
/// differ: the pure part of handling a gateway PUBLISH. The MQTT shell reads each message
/// before it takes the core's lock ([`Core::publish_read`]), so connections decode in
/// parallel and the lock covers only the state they change.
#[derive(Debug)]
pub struct GatewayRead {
    topic: Topic,
    decoded: Result<tbgw_codec::Decoded, DecodeError>,
    /// The strict reading's error, for a message ThingsBoard accepts.
    strict: Option<DecodeError>,
}

/// Reads a gateway PUBLISH; `None` for a topic that is not one of ThingsBoard's gateway topics.
pub fn read_gateway_message(topic: &str, payload: &[u8]) -> Option<GatewayRead> {
    let topic = Topic::from_name(topic)?;
    let direction = Direction::GatewayToPlatform;
    let decoded = decode(topic, direction, payload, Mode::ThingsBoard);
    let strict = match &decoded {
        Ok(decoded) if needs_strict_look(topic, decoded) => {
            decode(topic, direction, payload, Mode::Strict).err()
        }
        _ => None,
    };
    Some(GatewayRead {
        topic,
        decoded,
        strict,
    })
}

impl Core {
    pub(super) fn gateway_publish(
        &mut self,
        conn: ConnId,
        publish: &PublishIn,
        read: Option<GatewayRead>,
    ) {
        let Some(session) = self.session(conn) else {
            return;
        };
        if !session.gateway {
            let problem = "a gateway topic from a device that is not a gateway (its additionalInfo.gateway is not true)";
            let answer = "nothing (ThingsBoard ignores it: no PUBACK, connection kept)";
            self.violation(conn, &publish.topic, problem.into(), answer.into());
            return;
        }
        let read = read.or_else(|| read_gateway_message(&publish.topic, &publish.payload));
        let Some(GatewayRead {
            topic,
            decoded,
            strict,
        }) = read
        else {
            let problem = "a `v1/gateway…` topic ThingsBoard does not handle".to_owned();
            self.answer(conn, publish, TbAnswer::TopicInvalid, problem);
            return;
        };
        match decoded {
            Ok(decoded) => {
                if let Some(error) = strict {
                    let answer = "accepted by ThingsBoard (not strict)".to_owned();
                    self.violation(conn, &publish.topic, describe(&error), answer);
                }
                // Only a QoS 0 message can need its device names for the notices.
                let names = if publish.pid.is_none() {
                    data_device_names(&decoded.message)
                } else {
                    Vec::new()
                };
                let outcome = if decoded.acknowledged() {
                    self.apply(conn, publish, decoded.message)
                } else {
                    self.apply(conn, publish, decoded.message);
                    Outcome::Silent
                };
                if publish.pid.is_none() && matches!(outcome, Outcome::Success) {
                    self.qos0_notices(conn, &names);
                }
                self.finish(conn, publish, outcome);
            }
            Err(error) if per_device(topic, error.thingsboard) => {
                let outcome = self.apply_each_device(conn, publish, topic, &error);
                self.finish(conn, publish, outcome);
            }
            Err(error) => {
                let problem = describe(&error);
                self.answer(conn, publish, error.thingsboard, problem);
            }
        }
    }

    /// ThingsBoard converts each device of a multi-device message on its own: the good
    /// ones are stored, the message gets the first failure's answer.
    fn apply_each_device(
        &mut self,
        conn: ConnId,
        publish: &PublishIn,
        topic: Topic,
        whole: &DecodeError,
    ) -> Outcome {
        let Some(parts) = device_parts(&publish.payload) else {
            return Outcome::Failed(whole.thingsboard, describe(whole));
        };
        let mut failure = None;
        for (name, part) in parts {
            match decode(
                topic,
                Direction::GatewayToPlatform,
                &part,
                Mode::ThingsBoard,
            ) {
                Ok(decoded) => {
                    if let Outcome::Failed(answer, problem) =
                        self.apply(conn, publish, decoded.message)
                    {
                        failure.get_or_insert((answer, problem));
                    }
                }
                Err(error) if per_device(topic, error.thingsboard) => {
                    // The device is created and connected before its data is converted (§11.1 C5).
                    let refused = if creates_before_converting(topic, error.thingsboard) {
                        self.connect_sub_device(conn, &name, None)
                            .err()
                            .map(|f| device_failure(&name, f, None))
                    } else {
                        None
                    };
                    failure.get_or_insert(
                        refused.unwrap_or_else(|| (error.thingsboard, describe(whole))),
                    );
                }
                // An entry the whole message skips (not an array or object) fails alone; ignore.
                Err(_) => {}
            }
        }
        match failure {
            Some((answer, problem)) => Outcome::Failed(answer, problem),
            None => Outcome::Success,
        }
    }

    /// A multi-device message at QoS 0 that succeeds: on MQTT 5 every device but the last
    /// gets a `v1/gateway/disconnect` notice with reason 129, from the per-device callback
    /// that cannot acknowledge packet id -1; the last one aborts silently (§11.1 C6, derived).
    fn qos0_notices(&mut self, conn: ConnId, names: &[String]) {
        if self.session(conn).map(|s| s.version) != Some(Version::V5) {
            return;
        }
        let Some((_, all_but_last)) = names.split_last() else {
            return;
        };
        for name in all_but_last {
            let notice = Message::DeviceDisconnected(DeviceDisconnected {
                device: name.clone(),
                reason: ReasonCode::MALFORMED_PACKET,
            });
            let payload = tbgw_codec::encode(&notice);
            self.publish_to(conn, "v1/gateway/disconnect".into(), payload);
        }
    }

    fn finish(&mut self, conn: ConnId, publish: &PublishIn, outcome: Outcome) {
        match outcome {
            Outcome::Success => self.ack(conn, publish.pid, ReasonCode::SUCCESS),
            Outcome::Silent | Outcome::Acknowledged => {}
            Outcome::Failed(answer, problem) => self.answer(conn, publish, answer, problem),
            Outcome::RateLimited {
                device,
                creates_device,
            } => self.rate_limited(conn, publish, &device, creates_device),
        }
    }

    fn ack(&mut self, conn: ConnId, pid: Option<u16>, reason: ReasonCode) {
        if let Some(pid) = pid {
            self.send(conn, Outbound::PubAck { pid, reason });
        }
    }

    /// Answers a refused message as ThingsBoard does for this protocol version and QoS.
    pub(super) fn answer(
        &mut self,
        conn: ConnId,
        publish: &PublishIn,
        answer: TbAnswer,
        problem: String,
    ) {
        let Some(version) = self.session(conn).map(|s| s.version) else {
            return;
        };
        let v5 = version == Version::V5;
        let pid = publish.pid;
        let puback = |code: ReasonCode| puback_said(v5, pid, code);
        let said = match answer {
            TbAnswer::Accepts => {
                self.ack(conn, pid, ReasonCode::SUCCESS);
                return;
            }
            TbAnswer::AcceptsWithoutPuback => {
                "no PUBACK (ThingsBoard never acknowledges it)".into()
            }
            TbAnswer::InvalidPayload | TbAnswer::NotSentByThingsBoard => {
                let code = ReasonCode::PAYLOAD_FORMAT_INVALID;
                match (v5, pid) {
                    (true, Some(_)) => {
                        self.ack(conn, pid, code);
                        format!("PUBACK {code}, connection kept")
                    }
                    (true, None) => {
                        self.kick(conn, code);
                        format!("DISCONNECT {code} (QoS 0), connection closed")
                    }
                    (false, _) => {
                        self.kick(conn, code);
                        "connection closed without PUBACK (MQTT 3.1.1)".into()
                    }
                }
            }
            TbAnswer::DeviceDataInvalid => {
                let code = ReasonCode::PAYLOAD_FORMAT_INVALID;
                if v5 {
                    self.ack(conn, pid, code);
                    format!("{}, connection kept", puback(code))
                } else {
                    self.kick(conn, code);
                    "connection closed without PUBACK (MQTT 3.1.1)".into()
                }
            }
            TbAnswer::HandlerFailed => {
                let code = ReasonCode::IMPLEMENTATION_SPECIFIC_ERROR;
                self.ack(conn, pid, code);
                let said = puback(code);
                self.kick(conn, code);
                if v5 {
                    format!("{said}, DISCONNECT {code}, connection closed")
                } else {
                    format!("{said}, connection closed")
                }
            }
            TbAnswer::DeviceRefused(code) => {
                self.ack(conn, pid, code);
                format!("{}, connection kept", puback(code))
            }
            TbAnswer::DeviceInvalid(code) => {
                self.defer(conn, publish, code, problem);
                return;
            }
            TbAnswer::TopicInvalid => {
                let code = ReasonCode::TOPIC_NAME_INVALID;
                self.ack(conn, pid, code);
                format!("{}, connection kept", puback(code))
            }
        };
        self.violation(conn, &publish.topic, problem, said);
    }

    /// ThingsBoard's transport API never answers a request whose device fails validation;
    /// the transport fails it at its first periodic clean-up `max_requests_timeout` after
    /// (10–20 s by default), and later messages naming the same device wait on that same
    /// request (§11.1 C3, derived).
    fn defer(&mut self, conn: ConnId, publish: &PublishIn, code: ReasonCode, problem: String) {
        let devices = named_devices(&publish.payload);
        let waiting_on = self
            .deferred
            .iter()
            .filter(|d| d.conn == conn && d.devices.iter().any(|n| devices.contains(n)))
            .map(|d| d.due)
            .min();
        let due = waiting_on.unwrap_or_else(|| self.request_timed_out_at(self.now()));
        self.deferred.push(super::DeferredAnswer {
            conn,
            pid: publish.pid,
            topic: publish.topic.clone(),
            code,
            problem,
            devices,
            due,
        });
    }

    /// When the transport's clean-up, which runs every `max_requests_timeout` from start,
    /// first finds a request made at `at` that old.
    fn request_timed_out_at(&self, at: i64) -> i64 {
        let period = self.settings.transport_api_request_timeout_ms.max(1);
        let old_enough = at.saturating_add(period).saturating_sub(self.started_at);
        let cleanups = old_enough.saturating_add(period - 1) / period;
        self.started_at
            .saturating_add(cleanups.saturating_mul(period))
    }

    /// Sends the deferred answers that are due.
    pub(super) fn answer_deferred(&mut self, now: i64) {
        let (due, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut self.deferred)
            .into_iter()
            .partition(|d| d.due <= now);
        self.deferred = waiting;
        for d in due {
            let Some(v5) = self.session(d.conn).map(|s| s.version == Version::V5) else {
                continue;
            };
            self.ack(d.conn, d.pid, d.code);
            let said = puback_said(v5, d.pid, d.code);
            let answer = format!("{said} once the device request timed out, connection kept");
            self.violation(d.conn, &d.topic, d.problem, answer);
        }
    }

    /// What a sub-device's message costs the gateway's `transportGateway…` buckets (one set
    /// per gateway, shared by all its sub-devices; `DefaultTransportRateLimitService`):
    /// `points` data points (telemetry, and attributes by their keys), or one message when it
    /// has none (claims, RPC replies, attribute requests). `Err` when a limit refuses it.
    fn admit(&mut self, conn: ConnId, device: &str, points: u64) -> Result<(), Outcome> {
        if self.take_gateway_limits(conn, points) {
            return Ok(());
        }
        Err(Outcome::RateLimited {
            device: device.to_owned(),
            creates_device: false,
        })
    }

    /// A device the gateway's session does not hold yet is first looked up or created
    /// (`GetOrCreateDeviceFromGatewayRequestMsg`), which takes one message from the
    /// gateway's buckets; refused, the limit's exception escapes (§11.2, derived).
    fn admit_lookup(&mut self, conn: ConnId, device: &str) -> Result<(), Outcome> {
        let held = self
            .session(conn)
            .is_some_and(|s| s.sub_devices.contains_key(device));
        if held || self.take_gateway_limits(conn, 0) {
            return Ok(());
        }
        Err(Outcome::RateLimited {
            device: device.to_owned(),
            creates_device: true,
        })
    }

    /// A sub-device's message as ThingsBoard takes it: the device is looked up or created
    /// (which a limit may refuse), then the message pays its own cost (`points` data points,
    /// or one message, as `admit` counts it). `Ok(Err(_))` when the device could not be had.
    fn device_message(
        &mut self,
        conn: ConnId,
        name: &str,
        points: u64,
    ) -> Result<Result<Uuid, DeviceFailure>, Outcome> {
        self.admit_lookup(conn, name)?;
        let result = self.connect_sub_device(conn, name, None);
        if result.is_ok() {
            self.admit(conn, name, points)?;
        }
        Ok(result)
    }

    fn take_gateway_limits(&mut self, conn: ConnId, points: u64) -> bool {
        // No limit configured (ThingsBoard's default): nothing to count.
        if self.tenant_profile.transport_limits.is_empty() {
            return true;
        }
        let now = self.now();
        let limits = &self.tenant_profile.transport_limits.gateway;
        self.sessions
            .get_mut(&conn)
            .is_none_or(|session| session.gateway_limits.admit(limits, points, now))
    }

    /// A message over a rate limit: PUBACK 0x97 and a TCP close without DISCONNECT (the v5
    /// notice with reason 150 comes after the close, so it never arrives); at QoS 0 nothing
    /// at all [derived]. When the message would create the device, the limit's exception
    /// escapes instead: DISCONNECT 0x8B (§11.2, derived).
    fn rate_limited(&mut self, conn: ConnId, publish: &PublishIn, device: &str, creates: bool) {
        let problem = format!(
            "a message for device {device:?} over the tenant profile's transport rate limits"
        );
        let v5 = self.session(conn).map(|s| s.version) == Some(Version::V5);
        let said = if creates {
            self.kick(conn, ReasonCode::SERVER_SHUTTING_DOWN);
            if v5 {
                "DISCONNECT 0x8B (the limit's exception escaped while creating the device), connection closed".to_owned()
            } else {
                "connection closed (the limit's exception escaped while creating the device)"
                    .to_owned()
            }
        } else if publish.pid.is_some() {
            self.ack(conn, publish.pid, ReasonCode::QUOTA_EXCEEDED);
            self.drop_connection(conn);
            if v5 {
                "PUBACK 0x97 Quota exceeded, then the connection closed without DISCONNECT"
                    .to_owned()
            } else {
                "PUBACK, then the connection closed".to_owned()
            }
        } else {
            "nothing (QoS 0): the data is dropped, the connection kept".to_owned()
        };
        self.violation(conn, &publish.topic, problem, said);
    }

    /// Acts on a decoded gateway message.
    fn apply(&mut self, conn: ConnId, publish: &PublishIn, message: Message) -> Outcome {
        let mut failure: Option<(TbAnswer, String)> = None;
        let mut note =
            |result: Result<Uuid, DeviceFailure>, name: &str, refused: Option<ReasonCode>| {
                match result {
                    Ok(id) => Some(id),
                    Err(f) => {
                        failure.get_or_insert(device_failure(name, f, refused));
                        None
                    }
                }
            };
        match message {
            Message::Connect(connect) => {
                if let Err(limited) = self.admit_lookup(conn, &connect.device) {
                    return limited;
                }
                let result =
                    self.connect_sub_device(conn, &connect.device, connect.device_type.as_deref());
                note(result, &connect.device, None);
            }
            Message::Disconnect(disconnect) => self.disconnect_sub_device(conn, &disconnect.device),
            Message::Telemetry(telemetry) => {
                for device in telemetry.devices {
                    let points: usize = device.entries.iter().map(|e| e.values.len()).sum();
                    let points = u64::try_from(points).unwrap_or(u64::MAX);
                    let result = match self.device_message(conn, &device.device, points) {
                        Ok(result) => result,
                        Err(limited) => return limited,
                    };
                    let Some(id) = note(result, &device.device, None) else {
                        continue;
                    };
                    let now = self.now();
                    self.store
                        .device_mut(id)
                        .put_telemetry(&device.entries, now);
                }
            }
            Message::ClientAttributes(attributes) => {
                for device in attributes.devices {
                    let points = u64::try_from(device.values.len()).unwrap_or(u64::MAX);
                    let result = match self.device_message(conn, &device.device, points) {
                        Ok(result) => result,
                        Err(limited) => return limited,
                    };
                    let Some(id) = note(result, &device.device, None) else {
                        continue;
                    };
                    let now = self.now();
                    self.store
                        .device_mut(id)
                        .set_attributes(Scope::Client, &device.values, now);
                }
            }
            Message::Claim(claim) => {
                for device in claim.devices {
                    let result = match self.device_message(conn, &device.device, 0) {
                        Ok(result) => result,
                        Err(limited) => return limited,
                    };
                    let Some(id) = note(result, &device.device, None) else {
                        continue;
                    };
                    self.register_device_claim(id, &device);
                }
            }
            Message::RpcResponse(response) => {
                let result = match self.device_message(conn, &response.device, 0) {
                    Ok(result) => result,
                    Err(limited) => return limited,
                };
                if let Some(id) = note(result, &response.device, None) {
                    let json_text = response.data_is_json_text();
                    let data = response.data.to_canonical();
                    if !self.rpc_reply(id, response.id, data) {
                        let problem = format!(
                            "RPC reply for device {:?} with id {}, which matches no outstanding request (stale or never sent)",
                            response.device, response.id
                        );
                        self.violation(
                            conn,
                            &publish.topic,
                            problem,
                            "PUBACK 0x00 Success, reply ignored".into(),
                        );
                    } else if json_text {
                        let problem = "the RPC reply's `data` is a string holding JSON text; the REST caller receives a JSON string, not the object".to_owned();
                        self.violation(
                            conn,
                            &publish.topic,
                            problem,
                            "forwarded as a string".into(),
                        );
                    }
                }
            }
            Message::AttributeRequest(AttributeRequest::Server(request)) => {
                let refused = Some(ReasonCode::IMPLEMENTATION_SPECIFIC_ERROR);
                let result = match self.device_message(conn, &request.device, 0) {
                    Ok(result) => result,
                    Err(limited) => return limited,
                };
                if let Some(id) = note(result, &request.device, refused) {
                    self.ack(conn, publish.pid, ReasonCode::SUCCESS);
                    let payload = self.attribute_response(id, &request);
                    self.publish_to(conn, "v1/gateway/attributes/response".into(), payload);
                    return Outcome::Acknowledged;
                }
            }
            // ThingsBoard mode never yields the doc form or platform → gateway messages.
            _ => {}
        }
        match failure {
            Some((answer, problem)) => Outcome::Failed(answer, problem),
            None => Outcome::Success,
        }
    }

    /// `GetOrCreateDeviceFromGatewayRequestMsg` plus the sub-device session.
    pub(super) fn connect_sub_device(
        &mut self,
        conn: ConnId,
        name: &str,
        device_type: Option<&str>,
    ) -> Result<Uuid, DeviceFailure> {
        let Some(session) = self.session(conn) else {
            return Err(DeviceFailure::Refused("the gateway session is gone".into()));
        };
        if let Some(id) = session.sub_devices.get(name).copied() {
            self.sub_device_active(conn, id);
            return Ok(id);
        }
        let gateway_id = session.device;
        let gateway_customer = self.device(gateway_id).and_then(|g| g.customer_id);
        let id = match self.device_by_name(name).map(|d| d.id) {
            Some(id) => {
                if let Some(device) = self.devices.get_mut(&id) {
                    device.additional_info.record_gateway(gateway_id);
                }
                id
            }
            None => {
                // ThingsBoard finds or creates the profile of a new `type` before it saves the
                // device, so a device the limit or validation refuses leaves it behind (C10).
                if let Some(t) = device_type
                    && tbgw_codec::device::device_type_problem(t).is_none()
                {
                    self.find_or_create_profile(t);
                }
                let info = AdditionalInfo::LastConnectedGateway(gateway_id);
                let id = self.create_device(name, device_type, gateway_customer, info, None)?;
                let relation = super::entities::Relation::created(gateway_id, id);
                self.relations.push(relation);
                id
            }
        };
        // One session per device: a direct connection gets 0x8E (even the gateway's own,
        // when it reports data under its own name); another gateway silently loses it.
        if let Some(holder) = self.holders.get(&id).copied() {
            self.take_over(id, holder);
        }
        let now = self.now();
        if let Some(session) = self.sessions.get_mut(&conn) {
            session.sub_devices.insert(name.into(), id);
            // Its activity from now on; `mark_connected` records the attribute.
            session.sub_activity.insert(id, now);
            self.holders.insert(id, Holder::Gateway(conn));
            self.mark_connected(id);
            self.deliver_pending_rpc(id);
        }
        Ok(id)
    }

    /// A message that names a sub-device is activity of its sub-session.
    fn sub_device_active(&mut self, conn: ConnId, id: Uuid) {
        let now = self.now();
        if let Some(session) = self.sessions.get_mut(&conn) {
            session.sub_activity.insert(id, now);
            self.record_activity(id);
        }
    }

    fn disconnect_sub_device(&mut self, conn: ConnId, name: &str) {
        let Some(session) = self.sessions.get_mut(&conn) else {
            return;
        };
        let Some(id) = session.sub_devices.remove(name) else {
            return;
        };
        session.sub_activity.remove(&id);
        if self.holders.get(&id) == Some(&Holder::Gateway(conn)) {
            self.holders.remove(&id);
            self.mark_disconnected(id);
        }
    }

    /// The `v1/gateway/attributes/response` payload (`getJsonObjectForGateway`, `addValues`).
    fn attribute_response(&self, device: Uuid, request: &ServerAttributeRequest) -> Vec<u8> {
        let data = self.store.device(device);
        let (names, mut scopes): (Vec<&str>, Vec<Scope>) = match &request.keys {
            RequestedKeys::Key(key) => (vec![key.as_str()], vec![]),
            RequestedKeys::Keys(keys) => {
                let mut unique: Vec<&str> = Vec::new();
                for key in keys {
                    if !unique.contains(&key.as_str()) {
                        unique.push(key);
                    }
                }
                (unique, vec![])
            }
        };
        let multiple = names.len() > 1;
        if names.is_empty() {
            // No key: every client and every shared attribute, each list on its own.
            scopes = vec![Scope::Client, Scope::Shared];
        } else {
            scopes.push(if request.client {
                Scope::Client
            } else {
                Scope::Shared
            });
        }
        let mut fields: Vec<(&str, Json)> = Vec::new();
        for scope in scopes {
            let found: Vec<(&str, Json)> = match data {
                None => Vec::new(),
                Some(data) if names.is_empty() => data
                    .scope(scope)
                    .map(|(key, a)| (key, tb_json(&a.value)))
                    .collect(),
                Some(data) => names
                    .iter()
                    .filter_map(|key| {
                        data.attribute(scope, key)
                            .map(|a| (*key, tb_json(&a.value)))
                    })
                    .collect(),
            };
            add_values(&mut fields, found, multiple);
        }
        let mut out = String::new();
        let mut object = ObjectWriter::new(&mut out);
        object.integer("id", i64::from(request.id));
        object.string("device", &request.device);
        for (key, value) in &fields {
            object.json(key, value);
        }
        object.finish();
        out.into_bytes()
    }
}

/// `addValues`: one attribute of a single-key request is `value`, anything else joins `values`.
fn add_values<'k>(fields: &mut Vec<(&'k str, Json)>, found: Vec<(&'k str, Json)>, multiple: bool) {
    if found.is_empty() {
        return;
    }
    if !multiple && found.len() == 1 {
        let value = found
            .into_iter()
            .next()
            .map(|(_, v)| v)
            .unwrap_or(Json::Null);
        match fields.iter_mut().find(|(k, _)| *k == "value") {
            Some(slot) => slot.1 = value,
            None => fields.push(("value", value)),
        }
        return;
    }
    let mut values = match fields.iter().position(|(k, _)| *k == "values") {
        Some(at) => match fields.remove(at).1 {
            Json::Object(object) => object,
            _ => tbgw_codec::Object::new(),
        },
        None => tbgw_codec::Object::new(),
    };
    for (key, value) in found {
        values.insert(key, value);
    }
    fields.push(("values", Json::Object(values)));
}

/// What a refused message's PUBACK was, in a violation line.
fn puback_said(v5: bool, pid: Option<u16>, code: ReasonCode) -> String {
    match (v5, pid) {
        (_, None) => "no PUBACK (QoS 0)".to_owned(),
        (true, Some(_)) => format!("PUBACK {code}"),
        (false, Some(_)) => "PUBACK (MQTT 3.1.1: no reason code)".to_owned(),
    }
}

/// The devices of a telemetry or client-attributes message, in message order (each gets
/// its own callback).
fn data_device_names(message: &Message) -> Vec<String> {
    match message {
        Message::Telemetry(t) => t.devices.iter().map(|d| d.device.clone()).collect(),
        Message::ClientAttributes(a) => a.devices.iter().map(|d| d.device.clone()).collect(),
        _ => Vec::new(),
    }
}

/// Whether ThingsBoard handles the devices of this failed message one by one.
fn per_device(topic: Topic, answer: TbAnswer) -> bool {
    matches!(topic, Topic::Telemetry | Topic::Attributes | Topic::Claim)
        && matches!(
            answer,
            TbAnswer::DeviceDataInvalid | TbAnswer::DeviceRefused(_) | TbAnswer::DeviceInvalid(_)
        )
}

/// Telemetry and client attributes get or create each device before converting its data.
fn creates_before_converting(topic: Topic, answer: TbAnswer) -> bool {
    matches!(topic, Topic::Telemetry | Topic::Attributes) && answer == TbAnswer::DeviceDataInvalid
}

/// The device names a gateway payload carries: its `device` field, or else its top-level
/// keys (telemetry, attributes, claims). Malformed JSON names none.
fn named_devices(payload: &[u8]) -> Vec<String> {
    match serde_json::from_slice::<serde_json::Value>(payload) {
        Ok(serde_json::Value::Object(map)) => match map.get("device") {
            Some(serde_json::Value::String(name)) => vec![name.clone()],
            _ => map.keys().cloned().collect(),
        },
        _ => Vec::new(),
    }
}

fn device_failure(
    name: &str,
    failure: DeviceFailure,
    refused: Option<ReasonCode>,
) -> (TbAnswer, String) {
    match failure {
        DeviceFailure::Invalid(why) => (
            TbAnswer::DeviceInvalid(refused.unwrap_or(ReasonCode::UNSPECIFIED_ERROR)),
            format!("device {name:?} cannot be created: {why}"),
        ),
        DeviceFailure::Limit => (
            TbAnswer::DeviceRefused(refused.unwrap_or(ReasonCode::QUOTA_EXCEEDED)),
            format!("device {name:?} cannot be created: Maximum number of devices reached!"),
        ),
        DeviceFailure::Refused(why) => (
            TbAnswer::DeviceRefused(refused.unwrap_or(ReasonCode::UNSPECIFIED_ERROR)),
            format!("device {name:?} cannot be created: {why}"),
        ),
    }
}

/// One line: where and what.
pub(super) fn describe(error: &DecodeError) -> String {
    let mut text = format!("{} {}: {}", error.position, error.path, error.kind);
    if let Some(hint) = &error.hint {
        text.push_str(" (");
        text.push_str(hint);
        text.push(')');
    }
    text
}
