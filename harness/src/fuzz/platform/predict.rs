//! The differential oracle's model: what ThingsBoard answers a gateway's PUBLISH on the wire
//! and what it stores, predicted from the codec alone (`reference/thingsboard-behavior.md`
//! §3, §11). Pure.
//!
//! The wire rules are written here from the reference, not taken from the emulator: the
//! emulator is one of the implementations this model is compared with, so sharing its code
//! would hide exactly the disagreements the fuzzer looks for.

use tbgw_codec::value::tb_type;
use tbgw_codec::{
    Direction, LeniencyKind, Message, Mode, ReasonCode, TbAnswer, TbValue, Topic, decode,
};

use crate::mqtt::Version;

/// ThingsBoard's largest MQTT packet (`transport.mqtt.netty.max_payload_size`): the largest
/// remaining length it decodes.
pub const MAX_REMAINING_LENGTH: usize = 65_536;

/// What the connection does after the PUBACK (or its absence).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ends {
    Kept,
    /// A DISCONNECT with this reason code (MQTT 5), then the close.
    Disconnect(ReasonCode),
    /// Closed without a DISCONNECT.
    Closed,
}

/// What comes back for one PUBLISH.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WireAnswer {
    /// The PUBACK's reason code (a plain PUBACK on 3.1.1); `None`: no PUBACK.
    pub puback: Option<ReasonCode>,
    pub ends: Ends,
}

impl WireAnswer {
    fn kept(puback: Option<ReasonCode>) -> WireAnswer {
        WireAnswer {
            puback,
            ends: Ends::Kept,
        }
    }
}

/// A value ThingsBoard keeps for a device.
#[derive(Clone, Debug, PartialEq)]
pub enum Stored {
    /// A time-series point; `ts: None` is the server's time.
    Point {
        device: String,
        key: String,
        ts: Option<i64>,
        value: TbValue,
    },
    /// A client-side attribute.
    Attribute {
        device: String,
        key: String,
        value: TbValue,
    },
    /// A device that exists afterwards (created or reused).
    Device(String),
}

/// The model's answer to one PUBLISH.
#[derive(Clone, Debug, PartialEq)]
pub enum Prediction {
    /// Answered on the wire as this, storing these.
    Answer {
        wire: WireAnswer,
        /// ThingsBoard's handling in words, for the finding.
        why: String,
        /// ThingsBoard refuses one of its devices' data: the other devices' data may be
        /// stored (§3.2), which the model does not predict.
        partial: bool,
        stored: Vec<Stored>,
    },
    /// ThingsBoard answers 10–20 s late (a device name or `type` that fails its validation,
    /// §11.1 C3): too slow to fuzz, so such a message is not sent.
    Late,
}

/// The remaining length of a PUBLISH as the harness's client encodes it.
pub fn remaining_length(topic: &str, payload: &[u8], qos: u8, version: Version) -> usize {
    let packet_id = if qos > 0 { 2 } else { 0 };
    let properties = if version == Version::V5 { 1 } else { 0 };
    2 + topic.len() + packet_id + properties + payload.len()
}

/// What ThingsBoard does with this PUBLISH from a gateway on a `v1/gateway…` topic.
pub fn predict(topic: &str, payload: &[u8], qos: u8, version: Version) -> Prediction {
    let v5 = version == Version::V5;
    if remaining_length(topic, payload, qos, version) > MAX_REMAINING_LENGTH {
        // The decoder fails before any handler (§0 "Size limit").
        let ends = if v5 {
            Ends::Disconnect(ReasonCode::MALFORMED_PACKET)
        } else {
            Ends::Closed
        };
        return Prediction::Answer {
            wire: WireAnswer { puback: None, ends },
            why: format!("a packet over ThingsBoard's {MAX_REMAINING_LENGTH}-byte limit"),
            partial: false,
            stored: Vec::new(),
        };
    }
    let Some(known) = Topic::from_name(topic) else {
        return answer(TbAnswer::TopicInvalid, qos, v5, Vec::new());
    };
    match decode(
        known,
        Direction::GatewayToPlatform,
        payload,
        Mode::ThingsBoard,
    ) {
        // A `type` no profile can be named: refused late for a new device, ignored for an
        // existing one (the answer depends on what the platform holds).
        Ok(decoded)
            if decoded
                .leniencies
                .iter()
                .any(|l| matches!(l.kind, LeniencyKind::DeviceTypeRefused { .. })) =>
        {
            Prediction::Late
        }
        Ok(decoded) => {
            let tb = if decoded.acknowledged() {
                TbAnswer::Accepts
            } else {
                TbAnswer::AcceptsWithoutPuback
            };
            answer(tb, qos, v5, stored_by(&decoded.message))
        }
        Err(error) => answer(error.thingsboard, qos, v5, Vec::new()),
    }
}

fn answer(tb: TbAnswer, qos: u8, v5: bool, stored: Vec<Stored>) -> Prediction {
    let Some(wire) = wire_answer(tb, qos > 0, v5) else {
        return Prediction::Late;
    };
    Prediction::Answer {
        wire,
        why: tb.to_string(),
        partial: matches!(
            tb,
            TbAnswer::DeviceDataInvalid | TbAnswer::DeviceRefused(_) | TbAnswer::DeviceInvalid(_)
        ),
        stored,
    }
}

/// ThingsBoard's answer on the wire (§3.1, §3.2, §3.3; a QoS 2 PUBLISH is answered like
/// QoS 1, with a PUBACK, §0). `None` when it comes only after the transport's request
/// timeout.
pub fn wire_answer(tb: TbAnswer, acked: bool, v5: bool) -> Option<WireAnswer> {
    let code = |c: ReasonCode| acked.then_some(c);
    Some(match tb {
        TbAnswer::Accepts => WireAnswer::kept(code(ReasonCode::SUCCESS)),
        TbAnswer::AcceptsWithoutPuback => WireAnswer::kept(None),
        TbAnswer::InvalidPayload | TbAnswer::NotSentByThingsBoard => match (v5, acked) {
            (true, true) => WireAnswer::kept(Some(ReasonCode::PAYLOAD_FORMAT_INVALID)),
            (true, false) => WireAnswer {
                puback: None,
                ends: Ends::Disconnect(ReasonCode::PAYLOAD_FORMAT_INVALID),
            },
            (false, _) => WireAnswer {
                puback: None,
                ends: Ends::Closed,
            },
        },
        TbAnswer::DeviceDataInvalid if v5 => {
            WireAnswer::kept(code(ReasonCode::PAYLOAD_FORMAT_INVALID))
        }
        TbAnswer::DeviceDataInvalid => WireAnswer {
            puback: None,
            ends: Ends::Closed,
        },
        TbAnswer::HandlerFailed => WireAnswer {
            puback: code(ReasonCode::IMPLEMENTATION_SPECIFIC_ERROR),
            ends: if v5 {
                Ends::Disconnect(ReasonCode::IMPLEMENTATION_SPECIFIC_ERROR)
            } else {
                Ends::Closed
            },
        },
        TbAnswer::DeviceRefused(refused) => WireAnswer::kept(code(refused)),
        TbAnswer::DeviceInvalid(_) => return None,
        TbAnswer::TopicInvalid => WireAnswer::kept(code(ReasonCode::TOPIC_NAME_INVALID)),
    })
}

/// Telemetry, client attributes and claims name their devices by their top-level keys, each
/// converted on its own (§3.2); the other topics name one device in a `device` field.
fn per_device(topic: Topic) -> bool {
    matches!(topic, Topic::Telemetry | Topic::Attributes | Topic::Claim)
}

/// The device names ThingsBoard may look up or create for a payload: the decoded message's;
/// for a refused per-device message its parts' names (the other devices go on, §3.2), none
/// for a refused message of another topic (it fails before any lookup, §3.1) or a topic
/// ThingsBoard does not handle; and serde's reading too, in case the two differ.
pub fn device_names(topic: &str, payload: &[u8]) -> Vec<String> {
    let Some(known) = Topic::from_name(topic) else {
        return Vec::new();
    };
    let mut names = match decode(
        known,
        Direction::GatewayToPlatform,
        payload,
        Mode::ThingsBoard,
    ) {
        Ok(decoded) => names_in(&decoded.message),
        Err(_) if per_device(known) => tbgw_codec::device_parts(payload)
            .unwrap_or_default()
            .into_iter()
            .map(|(name, _)| name)
            .collect(),
        Err(_) => Vec::new(),
    };
    names.extend(serde_device_names(known, payload).unwrap_or_default());
    names
}

/// serde's reading of the names a payload gives: a per-device message's top-level keys,
/// another's `device` string; `None` when serde cannot read it (ThingsBoard's lenient parser
/// may).
pub fn serde_device_names(topic: Topic, payload: &[u8]) -> Option<Vec<String>> {
    match serde_json::from_slice::<serde_json::Value>(payload) {
        Ok(serde_json::Value::Object(map)) if per_device(topic) => {
            Some(map.keys().cloned().collect())
        }
        Ok(serde_json::Value::Object(map)) => Some(match map.get("device") {
            Some(serde_json::Value::String(name)) => vec![name.clone()],
            _ => Vec::new(),
        }),
        Ok(_) => Some(Vec::new()),
        Err(_) => None,
    }
}

fn names_in(message: &Message) -> Vec<String> {
    match message {
        Message::Connect(m) => vec![m.device.clone()],
        Message::Disconnect(m) => vec![m.device.clone()],
        Message::Telemetry(m) => m.devices.iter().map(|d| d.device.clone()).collect(),
        Message::ClientAttributes(m) => m.devices.iter().map(|d| d.device.clone()).collect(),
        Message::AttributeRequest(tbgw_codec::AttributeRequest::Server(r)) => {
            vec![r.device.clone()]
        }
        Message::AttributeRequest(tbgw_codec::AttributeRequest::Doc(r)) => vec![r.device.clone()],
        Message::RpcResponse(m) => vec![m.device.clone()],
        Message::Claim(m) => m.devices.iter().map(|d| d.device.clone()).collect(),
        Message::AttributeResponse(m) => vec![m.device.clone()],
        Message::AttributeUpdate(m) => vec![m.device.clone()],
        Message::RpcRequest(m) => vec![m.device.clone()],
        Message::DeviceDisconnected(m) => vec![m.device.clone()],
    }
}

/// What an accepted message leaves behind.
fn stored_by(message: &Message) -> Vec<Stored> {
    let mut stored = Vec::new();
    match message {
        Message::Connect(m) => stored.push(Stored::Device(m.device.clone())),
        Message::Telemetry(m) => {
            for device in &m.devices {
                stored.push(Stored::Device(device.device.clone()));
                for entry in &device.entries {
                    for (key, value) in entry.values.iter() {
                        if let Ok(Some(value)) = tb_type(value) {
                            stored.push(Stored::Point {
                                device: device.device.clone(),
                                key: key.to_owned(),
                                ts: entry.ts,
                                value,
                            });
                        }
                    }
                }
            }
        }
        Message::ClientAttributes(m) => {
            for device in &m.devices {
                stored.push(Stored::Device(device.device.clone()));
                for (key, value) in device.values.iter() {
                    if let Ok(Some(value)) = tb_type(value) {
                        stored.push(Stored::Attribute {
                            device: device.device.clone(),
                            key: key.to_owned(),
                            value,
                        });
                    }
                }
            }
        }
        _ => {}
    }
    stored
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(topic: &str, payload: &str, qos: u8, version: Version) -> WireAnswer {
        match predict(topic, payload.as_bytes(), qos, version) {
            Prediction::Answer { wire, .. } => wire,
            Prediction::Late => panic!("late"),
        }
    }

    #[test]
    fn each_kind_of_answer_follows_the_reference_per_version_and_qos() {
        use Version::{V3, V5};
        let t = "v1/gateway/telemetry";
        let ok = WireAnswer::kept(Some(ReasonCode::SUCCESS));
        assert_eq!(wire(t, r#"{"A":[{"v":1}]}"#, 1, V5), ok);
        assert_eq!(wire(t, r#"{"A":[{"v":1}]}"#, 0, V5), WireAnswer::kept(None));
        // Syntax: 0x99 kept on 5 at QoS 1, DISCONNECT 0x99 at QoS 0, closed on 3.1.1.
        let syntax = r#"{"A":}"#;
        assert_eq!(
            wire(t, syntax, 1, V5),
            WireAnswer::kept(Some(ReasonCode::PAYLOAD_FORMAT_INVALID))
        );
        assert_eq!(
            wire(t, syntax, 0, V5).ends,
            Ends::Disconnect(ReasonCode::PAYLOAD_FORMAT_INVALID)
        );
        assert_eq!(
            wire(t, syntax, 1, V3),
            WireAnswer {
                puback: None,
                ends: Ends::Closed
            }
        );
        // Not an object: PUBACK 0x83 then DISCONNECT 0x83; a plain PUBACK then the close on 3.1.1.
        let handler = WireAnswer {
            puback: Some(ReasonCode::IMPLEMENTATION_SPECIFIC_ERROR),
            ends: Ends::Disconnect(ReasonCode::IMPLEMENTATION_SPECIFIC_ERROR),
        };
        assert_eq!(wire(t, "[]", 1, V5), handler);
        assert_eq!(wire(t, "[]", 1, V3).ends, Ends::Closed);
        assert_eq!(
            wire("v1/gateway/nope", "{}", 1, V5),
            WireAnswer::kept(Some(ReasonCode::TOPIC_NAME_INVALID))
        );
        // An empty telemetry array is never acknowledged.
        assert_eq!(wire(t, r#"{"A":[]}"#, 1, V5), WireAnswer::kept(None));
    }

    #[test]
    fn a_packet_over_the_limit_is_a_malformed_packet_and_the_limit_itself_is_not() {
        let t = "v1/gateway/telemetry";
        let frame = |fill: usize| format!(r#"{{"A":[{{"p":"{}"}}]}}"#, "x".repeat(fill));
        let at_limit =
            MAX_REMAINING_LENGTH - remaining_length(t, frame(0).as_bytes(), 1, Version::V5);
        let (fits, over) = (
            frame(at_limit).into_bytes(),
            frame(at_limit + 1).into_bytes(),
        );
        let fits = predict(t, &fits, 1, Version::V5);
        assert!(matches!(fits, Prediction::Answer { wire, .. } if wire.ends == Ends::Kept));
        let over = predict(t, &over, 1, Version::V5);
        assert!(matches!(
            over,
            Prediction::Answer { wire, .. } if wire.ends == Ends::Disconnect(ReasonCode::MALFORMED_PACKET)
        ));
    }

    #[test]
    fn a_device_name_thingsboard_refuses_late_is_not_predicted_in_time() {
        let name = "x".repeat(256);
        let payload = format!(r#"{{"device":"{name}"}}"#);
        assert_eq!(
            predict("v1/gateway/connect", payload.as_bytes(), 1, Version::V5),
            Prediction::Late
        );
    }

    #[test]
    fn a_type_no_profile_can_be_named_is_not_predicted_in_time() {
        for payload in [
            r#"{"device":"A","type":""}"#,
            r#"{"device":"A","type":[""]}"#,
        ] {
            assert_eq!(
                predict("v1/gateway/connect", payload.as_bytes(), 1, Version::V5),
                Prediction::Late,
                "{payload}"
            );
        }
    }

    /// The first version read a refused connect's top-level keys (`device`) as device names,
    /// so every refused message of a `device`-field topic was left out unsent.
    #[test]
    fn a_refused_device_field_message_names_no_device_but_a_per_device_one_names_its_parts() {
        for payload in [r#"{"device":{}}"#, r#"{"device":5,"type":[1,2]}"#, "[]"] {
            assert!(
                device_names("v1/gateway/connect", payload.as_bytes()).is_empty(),
                "{payload}"
            );
        }
        let names = device_names("v1/gateway/telemetry", br#"{"A":[{"v":1}],"B":5}"#);
        assert!(
            names.contains(&"A".to_owned()) && names.contains(&"B".to_owned()),
            "{names:?}"
        );
        let names = device_names("v1/gateway/connect", br#"{"device":"A"}"#);
        assert!(names.contains(&"A".to_owned()), "{names:?}");
        assert!(device_names("v1/gateway/unknown", br#"{"device":"A"}"#).is_empty());
    }

    #[test]
    fn telemetry_predicts_typed_points_and_the_device() {
        let payload = br#"{"A":[{"ts":5,"values":{"n":"0042","b":true}}]}"#;
        let Prediction::Answer { stored, .. } =
            predict("v1/gateway/telemetry", payload, 1, Version::V5)
        else {
            panic!("late");
        };
        assert!(stored.contains(&Stored::Device("A".into())));
        assert!(stored.contains(&Stored::Point {
            device: "A".into(),
            key: "n".into(),
            ts: Some(5),
            value: TbValue::Long(42),
        }));
    }
}
