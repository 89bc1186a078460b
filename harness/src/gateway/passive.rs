//! Passive checks: every message the gateway sends on a gateway topic, judged as ThingsBoard
//! takes it (decoded in ThingsBoard mode) and against the documented form (strict mode), plus
//! the order of things: devices connected before their data, RPC replies that answer a request
//! of their own device. Sans-IO: the observer feeds it what went over the wire.

use std::collections::BTreeSet;

use tbgw_codec::{Direction, LeniencyKind, Message, Mode, Topic, decode, device_parts};

/// How bad a finding is: FAIL loses data or answers; NON-STRICT works only through a
/// ThingsBoard leniency (failing only with `--strict`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    NonStrict,
    Fail,
}

/// One passive check, reported as one case.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Check {
    Accepted,
    StrictForm,
    ConnectedFirst,
    RpcRepliesMatch,
    RpcReplyData,
    ReadsItsSocket,
}

impl Check {
    pub const ALL: [Check; 6] = [
        Check::Accepted,
        Check::StrictForm,
        Check::ConnectedFirst,
        Check::RpcRepliesMatch,
        Check::RpcReplyData,
        Check::ReadsItsSocket,
    ];

    pub fn id(self) -> &'static str {
        match self {
            Check::Accepted => "passive/accepted-whole",
            Check::StrictForm => "passive/strict-form",
            Check::ConnectedFirst => "passive/devices-connected-first",
            Check::RpcRepliesMatch => "passive/rpc-replies-match",
            Check::RpcReplyData => "passive/rpc-reply-data-is-json",
            Check::ReadsItsSocket => "passive/reads-its-socket",
        }
    }

    /// The check with this id (`passive/accepted-whole`).
    pub fn from_id(id: &str) -> Option<Check> {
        Check::ALL.into_iter().find(|c| c.id() == id)
    }

    pub fn requirement(self) -> &'static str {
        match self {
            Check::Accepted => {
                "ThingsBoard takes every message the gateway sends whole: none is refused, none loses a device's data or a value."
            }
            Check::StrictForm => {
                "Every message is in the documented form: none is accepted only through a ThingsBoard leniency (Gson syntax, type conversions, ignored fields)."
            }
            Check::ConnectedFirst => {
                "The gateway sends data for a device only after announcing it on v1/gateway/connect."
            }
            Check::RpcRepliesMatch => {
                "Every RPC reply answers an outstanding request of the same device: ThingsBoard matches replies by (device, id)."
            }
            Check::RpcReplyData => {
                "An RPC reply's `data` is the device's JSON, not JSON text inside a string."
            }
            Check::ReadsItsSocket => {
                "The gateway keeps reading its socket: what the platform sends never piles up unread (the emulator drops a client with 1 000 messages queued, as mosquitto does)."
            }
        }
    }

    pub fn refs(self) -> &'static [&'static str] {
        match self {
            Check::Accepted => &["tb §1.3", "tb §1.5", "tb §3.1", "tb §3.2"],
            Check::StrictForm => &["doc: Gateway MQTT API", "tb §0"],
            Check::ConnectedFirst => &["doc: Connect device API", "tb §4"],
            Check::RpcRepliesMatch => &["tb §1.9", "tb §5"],
            Check::RpcReplyData => &["tb §1.9", "peers §0.3"],
            Check::ReadsItsSocket => &["MQTT 3.1.1 §4.4", "mosquitto.conf max_queued_messages"],
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    pub check: Check,
    pub severity: Severity,
    pub topic: String,
    pub what: String,
    /// The payload, cut to a readable length.
    pub payload: String,
}

impl Finding {
    /// `topic: what`, or `what` alone for a finding about no message (a gateway that stopped
    /// reading): the part that is the same for every message with this problem.
    pub fn headline(&self) -> String {
        if self.topic.is_empty() {
            self.what.clone()
        } else {
            format!("{}: {}", self.topic, self.what)
        }
    }
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.headline())?;
        if !self.payload.is_empty() {
            write!(f, " — {}", self.payload)?;
        }
        Ok(())
    }
}

/// The state the checks need, and what they found.
#[derive(Debug, Default)]
pub struct Passive {
    connected: BTreeSet<String>,
    flagged_unconnected: BTreeSet<String>,
    /// (device, id) of every RPC request delivered and not answered yet.
    outstanding: Vec<(String, i32)>,
    /// … and of those answered (a re-delivered reply may come again).
    answered: Vec<(String, i32)>,
    findings: Vec<Finding>,
    /// Gateway-topic messages judged.
    pub checked: usize,
}

const PAYLOAD_SHOWN: usize = 240;

/// A payload as text, cut after `shown` characters (the byte count says how long it was).
pub(crate) fn excerpt_of(payload: &[u8], shown: usize) -> String {
    let text = String::from_utf8_lossy(payload);
    if text.chars().count() <= shown {
        return text.into_owned();
    }
    let cut: String = text.chars().take(shown).collect();
    format!("{cut}… ({} bytes)", payload.len())
}

fn excerpt(payload: &[u8]) -> String {
    excerpt_of(payload, PAYLOAD_SHOWN)
}

impl Passive {
    pub fn findings(&self) -> &[Finding] {
        &self.findings
    }

    /// The devices announced and not disconnected in the current session.
    pub fn connected(&self) -> &BTreeSet<String> {
        &self.connected
    }

    fn found(
        &mut self,
        check: Check,
        severity: Severity,
        topic: &str,
        what: String,
        payload: &[u8],
    ) {
        self.findings.push(Finding {
            check,
            severity,
            topic: topic.to_owned(),
            what,
            payload: excerpt(payload),
        });
    }

    /// The gateway stopped reading its socket with `queued` messages waiting, and was dropped.
    pub fn stopped_reading(&mut self, queued: usize) {
        let what = format!(
            "the gateway stopped reading its socket: {queued} messages queued for it, and its connection was closed"
        );
        self.found(Check::ReadsItsSocket, Severity::Fail, "", what, b"");
    }

    /// The gateway's session ended: ThingsBoard disconnects its devices with it.
    pub fn session_ended(&mut self) {
        self.connected.clear();
    }

    /// The platform sent this to the gateway.
    pub fn delivered(&mut self, topic: &str, payload: &[u8]) {
        if topic != Topic::Rpc.as_str() {
            return;
        }
        if let Ok(decoded) = decode(
            Topic::Rpc,
            Direction::PlatformToGateway,
            payload,
            Mode::ThingsBoard,
        ) && let Message::RpcRequest(request) = decoded.message
        {
            self.outstanding.push((request.device, request.id));
        }
    }

    /// The gateway sent this; `dup`: the MQTT DUP flag (a QoS 1 re-delivery).
    pub fn sent(&mut self, topic_name: &str, payload: &[u8], dup: bool) {
        if !topic_name.starts_with("v1/gateway/") {
            // The gateway's own device API (its statistics, getSessionLimits): not gateway data.
            return;
        }
        self.checked += 1;
        let Some(topic) =
            Topic::from_name(topic_name).filter(|t| t.carries(Direction::GatewayToPlatform))
        else {
            self.found(
                Check::Accepted,
                Severity::Fail,
                topic_name,
                "not a topic a gateway may publish on: ThingsBoard refuses it (PUBACK 0x90 on MQTT 5) and its data is lost".to_owned(),
                payload,
            );
            return;
        };
        match decode(
            topic,
            Direction::GatewayToPlatform,
            payload,
            Mode::ThingsBoard,
        ) {
            Err(error) => self.refused(topic, &error.to_string(), payload),
            Ok(decoded) => {
                let mut lenient = false;
                for leniency in &decoded.leniencies {
                    match &leniency.kind {
                        kind if kind.is_typing_note() => {}
                        LeniencyKind::EntrySkipped { .. }
                        | LeniencyKind::NullDropped { .. }
                        | LeniencyKind::DeviceTypeRefused { .. } => {
                            // Reported once, as the loss it is (the strict decode would
                            // refuse it again).
                            lenient = true;
                            self.found(
                                Check::Accepted,
                                Severity::Fail,
                                topic_name,
                                format!("partly dropped: {leniency}"),
                                payload,
                            );
                        }
                        _ => {
                            lenient = true;
                            self.found(
                                Check::StrictForm,
                                Severity::NonStrict,
                                topic_name,
                                format!("accepted through a leniency: {leniency}"),
                                payload,
                            );
                        }
                    }
                }
                if !lenient
                    && let Err(error) =
                        decode(topic, Direction::GatewayToPlatform, payload, Mode::Strict)
                {
                    self.found(
                        Check::StrictForm,
                        Severity::NonStrict,
                        topic_name,
                        format!("not the documented form: {error}"),
                        payload,
                    );
                }
                self.follow(&decoded.message, topic_name, payload, dup);
            }
        }
    }

    /// A message ThingsBoard refuses: say whose data is lost. A multi-device message loses
    /// only the devices whose part fails (ThingsBoard converts each device on its own).
    fn refused(&mut self, topic: Topic, error: &str, payload: &[u8]) {
        let multi_device = matches!(topic, Topic::Telemetry | Topic::Attributes | Topic::Claim);
        let parts = multi_device.then(|| device_parts(payload)).flatten();
        let lost = match parts {
            Some(parts) if parts.len() > 1 => {
                let failing: Vec<String> = parts
                    .iter()
                    .filter(|(_, part)| {
                        decode(topic, Direction::GatewayToPlatform, part, Mode::ThingsBoard)
                            .is_err()
                    })
                    .map(|(device, _)| format!("{device:?}"))
                    .collect();
                if failing.len() < parts.len() {
                    format!("the data of {} is lost", failing.join(", "))
                } else {
                    "the data of every device in it is lost".to_owned()
                }
            }
            _ => "all of its data is lost".to_owned(),
        };
        self.found(
            Check::Accepted,
            Severity::Fail,
            topic.as_str(),
            format!("refused: {error}; {lost}"),
            payload,
        );
    }

    /// Connections, device use and RPC replies.
    fn follow(&mut self, message: &Message, topic: &str, payload: &[u8], dup: bool) {
        let used: Vec<String> = match message {
            Message::Connect(connect) => {
                self.connected.insert(connect.device.clone());
                Vec::new()
            }
            Message::Disconnect(disconnect) => {
                self.connected.remove(&disconnect.device);
                Vec::new()
            }
            Message::Telemetry(_) | Message::ClientAttributes(_) | Message::Claim(_) => {
                device_parts(payload)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(device, _)| device)
                    .collect()
            }
            Message::AttributeRequest(tbgw_codec::AttributeRequest::Server(r)) => {
                vec![r.device.clone()]
            }
            Message::AttributeRequest(tbgw_codec::AttributeRequest::Doc(r)) => {
                vec![r.device.clone()]
            }
            Message::RpcResponse(reply) => {
                self.reply(
                    &reply.device,
                    reply.id,
                    reply.data_is_json_text(),
                    (topic, payload, dup),
                );
                // A reply answers a request sent while the device was connected (perhaps in
                // an earlier session, re-sent after a reconnect): the RPC checks judge it.
                Vec::new()
            }
            _ => Vec::new(),
        };
        for device in used {
            if !self.connected.contains(&device) && self.flagged_unconnected.insert(device.clone())
            {
                self.found(
                    Check::ConnectedFirst,
                    Severity::NonStrict,
                    topic,
                    format!(
                        "data for device {device:?} before it was announced on v1/gateway/connect in this session (ThingsBoard creates and connects it anyway)"
                    ),
                    payload,
                );
            }
        }
    }

    fn reply(&mut self, device: &str, id: i32, json_text: bool, sent: (&str, &[u8], bool)) {
        let (topic, payload, dup) = sent;
        let key = (device.to_owned(), id);
        if let Some(at) = self.outstanding.iter().position(|k| *k == key) {
            self.answered.push(self.outstanding.remove(at));
        } else if dup && self.answered.contains(&key) {
            // MQTT at-least-once: the same reply again after a reconnect. ThingsBoard ignores
            // it; nothing is lost.
            return;
        } else {
            let sent_to: Vec<String> = self
                .outstanding
                .iter()
                .filter(|(_, i)| *i == id)
                .map(|(d, _)| format!("{d:?}"))
                .collect();
            let what = if sent_to.is_empty() {
                format!(
                    "a reply for device {device:?} id {id} matches no outstanding request: ThingsBoard drops it"
                )
            } else {
                format!(
                    "a reply for device {device:?} id {id}, but id {id} is outstanding for {} only: the caller never gets its answer",
                    sent_to.join(", ")
                )
            };
            self.found(Check::RpcRepliesMatch, Severity::Fail, topic, what, payload);
        }
        if json_text {
            self.found(
                Check::RpcReplyData,
                Severity::NonStrict,
                topic,
                "`data` is JSON text inside a string: the REST caller gets a string, not the object".to_owned(),
                payload,
            );
        }
    }
}

/// A scenario names a check by its id; an unknown id is a mistake reported at its line.
impl<'de> serde::Deserialize<'de> for Check {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let id = String::deserialize(d)?;
        Check::from_id(&id).ok_or_else(|| {
            let known: Vec<&str> = Check::ALL.iter().map(|c| c.id()).collect();
            serde::de::Error::custom(format!(
                "no passive check is called {id:?}; the checks are {}",
                known.join(", ")
            ))
        })
    }
}

impl schemars::JsonSchema for Check {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "PassiveCheck".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let ids: Vec<&str> = Check::ALL.iter().map(|c| c.id()).collect();
        schemars::json_schema!({
            "type": "string",
            "description": "A passive check's id, as check-gateway reports it",
            "enum": ids
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A first delivery (no DUP flag).
    fn sent(p: &mut Passive, topic: &str, payload: &[u8]) {
        p.sent(topic, payload, false);
    }

    fn checks(p: &Passive) -> Vec<(Check, Severity)> {
        p.findings().iter().map(|f| (f.check, f.severity)).collect()
    }

    fn connected(devices: &[&str]) -> Passive {
        let mut p = Passive::default();
        for d in devices {
            sent(
                &mut p,
                "v1/gateway/connect",
                format!(r#"{{"device":"{d}"}}"#).as_bytes(),
            );
        }
        p
    }

    #[test]
    fn clean_traffic_has_no_findings() {
        let mut p = connected(&["A", "B"]);
        sent(
            &mut p,
            "v1/gateway/telemetry",
            br#"{"A":[{"ts":1700000000000,"values":{"t":1}}],"B":[{"t":2}]}"#,
        );
        sent(&mut p, "v1/gateway/attributes", br#"{"A":{"fw":"1.0"}}"#);
        p.delivered(
            "v1/gateway/rpc",
            br#"{"device":"A","data":{"id":0,"method":"echo","params":{}}}"#,
        );
        sent(
            &mut p,
            "v1/gateway/rpc",
            br#"{"device":"A","id":0,"data":{"ok":true}}"#,
        );
        sent(&mut p, "v1/gateway/disconnect", br#"{"device":"A"}"#);
        sent(&mut p, "v1/devices/me/telemetry", b"not judged");
        assert_eq!(checks(&p), []);
        assert_eq!(p.checked, 6);
    }

    #[test]
    fn ts_telemetry_as_an_object_is_refused_naming_the_lost_data() {
        // tb-mqtt-client 1.4.1 (peers §1.3): the device's entry is an object, not an array.
        let mut p = connected(&["Dev"]);
        sent(
            &mut p,
            "v1/gateway/telemetry",
            br#"{"Dev": {"ts": 1700000000000, "values": {"t": 1}}}"#,
        );
        assert_eq!(checks(&p), [(Check::Accepted, Severity::Fail)]);
        assert!(p.findings()[0].what.contains("lost"), "{}", p.findings()[0]);
    }

    #[test]
    fn one_bad_device_in_a_message_loses_only_its_own_data() {
        let mut p = connected(&["A", "B"]);
        sent(
            &mut p,
            "v1/gateway/telemetry",
            br#"{"A":[{"t":1}],"B":{"ts":1,"values":{"t":2}}}"#,
        );
        let fails: Vec<&Finding> = p
            .findings()
            .iter()
            .filter(|f| f.severity == Severity::Fail)
            .collect();
        assert_eq!(fails.len(), 1, "{:?}", p.findings());
        assert!(
            fails[0].what.contains("device `B`") && !fails[0].what.contains("`A`"),
            "{}",
            fails[0]
        );
    }

    #[test]
    fn a_null_value_is_a_loss_and_gson_syntax_is_non_strict() {
        let mut p = connected(&["A"]);
        sent(
            &mut p,
            "v1/gateway/attributes",
            br#"{"A":{"k":null,"j":1}}"#,
        );
        sent(&mut p, "v1/gateway/connect", br#"{device:"A"}"#);
        assert_eq!(
            checks(&p),
            [
                (Check::Accepted, Severity::Fail),
                (Check::StrictForm, Severity::NonStrict)
            ]
        );
    }

    #[test]
    fn data_before_connect_is_flagged_once_per_device_and_again_after_a_new_session() {
        let mut p = Passive::default();
        sent(&mut p, "v1/gateway/telemetry", br#"{"A":[{"t":1}]}"#);
        sent(&mut p, "v1/gateway/telemetry", br#"{"A":[{"t":2}]}"#);
        assert_eq!(checks(&p), [(Check::ConnectedFirst, Severity::NonStrict)]);
        sent(&mut p, "v1/gateway/connect", br#"{"device":"B"}"#);
        p.session_ended();
        sent(&mut p, "v1/gateway/telemetry", br#"{"B":[{"t":1}]}"#);
        assert_eq!(
            p.findings().len(),
            2,
            "B was connected only in the old session"
        );
    }

    #[test]
    fn a_reply_re_sent_after_a_reconnect_is_not_data_before_connect() {
        // paho re-sends unacknowledged replies first thing in a new session.
        let mut p = connected(&["A"]);
        p.delivered(
            "v1/gateway/rpc",
            br#"{"device":"A","data":{"id":3,"method":"m","params":{}}}"#,
        );
        p.session_ended();
        sent(
            &mut p,
            "v1/gateway/rpc",
            br#"{"device":"A","id":3,"data":{"r":1}}"#,
        );
        assert_eq!(checks(&p), []);
    }

    #[test]
    fn a_re_delivered_reply_is_not_a_stale_one() {
        let mut p = connected(&["A"]);
        p.delivered(
            "v1/gateway/rpc",
            br#"{"device":"A","data":{"id":0,"method":"m","params":{}}}"#,
        );
        let reply = br#"{"device":"A","id":0,"data":{"r":1}}"#;
        sent(&mut p, "v1/gateway/rpc", reply);
        p.sent("v1/gateway/rpc", reply, true);
        assert_eq!(checks(&p), [], "a DUP copy of an answered reply");
        sent(&mut p, "v1/gateway/rpc", reply);
        assert_eq!(
            checks(&p),
            [(Check::RpcRepliesMatch, Severity::Fail)],
            "a second reply sent anew"
        );
    }

    #[test]
    fn replies_are_matched_by_device_and_id() {
        let mut p = connected(&["A", "B"]);
        p.delivered(
            "v1/gateway/rpc",
            br#"{"device":"A","data":{"id":0,"method":"m","params":{}}}"#,
        );
        p.delivered(
            "v1/gateway/rpc",
            br#"{"device":"B","data":{"id":0,"method":"m","params":{}}}"#,
        );
        sent(
            &mut p,
            "v1/gateway/rpc",
            br#"{"device":"A","id":0,"data":{"r":1}}"#,
        );
        assert_eq!(checks(&p), []);
        // A second reply for A 0: B's request is still outstanding with that id.
        sent(
            &mut p,
            "v1/gateway/rpc",
            br#"{"device":"A","id":0,"data":{"r":1}}"#,
        );
        sent(
            &mut p,
            "v1/gateway/rpc",
            br#"{"device":"B","id":7,"data":{"r":1}}"#,
        );
        assert_eq!(
            checks(&p),
            [
                (Check::RpcRepliesMatch, Severity::Fail),
                (Check::RpcRepliesMatch, Severity::Fail)
            ]
        );
        assert!(
            p.findings()[0].what.contains("outstanding for \"B\""),
            "{}",
            p.findings()[0]
        );
        assert!(
            p.findings()[1].what.contains("matches no outstanding"),
            "{}",
            p.findings()[1]
        );
    }

    #[test]
    fn a_double_encoded_reply_is_non_strict() {
        // thingsboard-gateway's one-way acks (peers §0.3).
        let mut p = connected(&["SN-001"]);
        p.delivered(
            "v1/gateway/rpc",
            br#"{"device":"SN-001","data":{"id":10,"method":"setValue","params":1}}"#,
        );
        sent(
            &mut p,
            "v1/gateway/rpc",
            br#"{"device":"SN-001","id":10,"data":"{\"success\": true}"}"#,
        );
        assert_eq!(checks(&p), [(Check::RpcReplyData, Severity::NonStrict)]);
    }

    #[test]
    fn an_unknown_gateway_topic_or_a_platform_topic_is_refused() {
        let mut p = Passive::default();
        sent(&mut p, "v1/gateway/telemetri", b"{}");
        sent(
            &mut p,
            "v1/gateway/attributes/response",
            br#"{"id":1,"device":"A","value":1}"#,
        );
        assert_eq!(
            checks(&p),
            [
                (Check::Accepted, Severity::Fail),
                (Check::Accepted, Severity::Fail)
            ]
        );
    }
}
