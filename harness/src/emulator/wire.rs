//! MQTT on the wire for the emulator: framing (with ThingsBoard's 64 KiB limit), version
//! detection from the CONNECT, and translation between mqtt-proto's 3.1.1 / 5 packets and
//! the core's version-neutral ones.

use bytes::Bytes;
use mqtt_proto::{Pid, QosPid, TopicName, v3, v5};

use super::core::packets::{ConnAckCode, ConnectIn, Outbound, PublishIn, SubGrant, Version};
pub use crate::mqtt::frame::Frame;
use crate::mqtt::{self, frame, pid, qos_number};

/// `transport.mqtt.netty.max_payload_size` by default: the largest remaining length accepted.
pub const MAX_PACKET: usize = 65_536;

/// Finds the first packet in `buf`, refusing one whose remaining length is over `limit`.
pub fn next_frame(buf: &[u8], limit: usize) -> Frame {
    frame::next_frame(buf, limit)
}

pub fn is_connect(packet: &[u8]) -> bool {
    packet.first().is_some_and(|b| b >> 4 == 1)
}

/// The protocol version of a CONNECT packet, from its protocol level byte.
pub fn connect_version(packet: &[u8]) -> Option<Version> {
    let mut i = 1;
    while packet.get(i)? & 0x80 != 0 {
        i += 1;
    }
    let name_len = usize::from(u16::from_be_bytes([
        *packet.get(i + 1)?,
        *packet.get(i + 2)?,
    ]));
    match packet.get(i + 3 + name_len)? {
        3 | 4 => Some(Version::V3),
        5 => Some(Version::V5),
        _ => None,
    }
}

/// What a client sent, version-neutral.
#[derive(Debug)]
pub enum Inbound {
    Connect(ConnectIn),
    Publish(PublishIn),
    Subscribe {
        pid: u16,
        filters: Vec<(String, u8)>,
    },
    Unsubscribe {
        pid: u16,
        filters: Vec<String>,
    },
    PingReq,
    Disconnect,
    /// The client acknowledges the server's QoS 1 publish with this packet id.
    PubAck {
        pid: u16,
    },
    /// Other acknowledgements and the like: nothing to do.
    Ignored,
}

fn publish_in(topic: &str, qos_pid: QosPid, payload: &Bytes, dup: bool) -> PublishIn {
    PublishIn {
        topic: topic.to_owned(),
        qos: qos_number(qos_pid.qos()),
        pid: qos_pid.pid().map(Pid::value),
        payload: payload.to_vec(),
        dup,
    }
}

/// Decodes one whole packet; the error says what is wrong with it.
pub fn decode(packet: &[u8], version: Version) -> Result<Inbound, String> {
    match version {
        Version::V3 => match v3::Packet::decode(packet) {
            Ok(Some(p)) => Ok(match p {
                v3::Packet::Connect(c) => Inbound::Connect(ConnectIn {
                    version,
                    client_id: c.client_id.to_string(),
                    username: c.username.map(|u| u.to_string()),
                    has_password: c.password.is_some(),
                    clean: c.clean_session,
                }),
                v3::Packet::Publish(p) => {
                    Inbound::Publish(publish_in(&p.topic_name, p.qos_pid, &p.payload, p.dup))
                }
                v3::Packet::Subscribe(s) => Inbound::Subscribe {
                    pid: s.pid.value(),
                    filters: s
                        .topics
                        .iter()
                        .map(|(f, q)| (f.to_string(), qos_number(*q)))
                        .collect(),
                },
                v3::Packet::Unsubscribe(u) => Inbound::Unsubscribe {
                    pid: u.pid.value(),
                    filters: u.topics.iter().map(|f| f.to_string()).collect(),
                },
                v3::Packet::Pingreq => Inbound::PingReq,
                v3::Packet::Disconnect => Inbound::Disconnect,
                v3::Packet::Puback(p) => Inbound::PubAck { pid: p.value() },
                _ => Inbound::Ignored,
            }),
            Ok(None) => Err("the packet is shorter than its length says".into()),
            Err(e) => Err(format!("malformed MQTT 3.1.1 packet: {e}")),
        },
        Version::V5 => match v5::Packet::decode(packet) {
            Ok(Some(p)) => Ok(match p {
                v5::Packet::Connect(c) => Inbound::Connect(ConnectIn {
                    version,
                    client_id: c.client_id.to_string(),
                    username: c.username.map(|u| u.to_string()),
                    has_password: c.password.is_some(),
                    clean: c.clean_start,
                }),
                v5::Packet::Publish(p) => {
                    Inbound::Publish(publish_in(&p.topic_name, p.qos_pid, &p.payload, p.dup))
                }
                v5::Packet::Subscribe(s) => Inbound::Subscribe {
                    pid: s.pid.value(),
                    filters: s
                        .topics
                        .iter()
                        .map(|(f, o)| (f.to_string(), qos_number(o.max_qos)))
                        .collect(),
                },
                v5::Packet::Unsubscribe(u) => Inbound::Unsubscribe {
                    pid: u.pid.value(),
                    filters: u.topics.iter().map(|f| f.to_string()).collect(),
                },
                v5::Packet::Pingreq => Inbound::PingReq,
                v5::Packet::Disconnect(_) => Inbound::Disconnect,
                v5::Packet::Puback(p) => Inbound::PubAck { pid: p.pid.value() },
                _ => Inbound::Ignored,
            }),
            Ok(None) => Err("the packet is shorter than its length says".into()),
            Err(e) => Err(format!("malformed MQTT 5 packet: {e}")),
        },
    }
}

/// The bytes of a server packet for this protocol version; `None` when 3.1.1 has no such packet.
pub fn encode(packet: &Outbound, version: Version) -> Option<Vec<u8>> {
    match version {
        Version::V3 => encode_v3(packet),
        Version::V5 => encode_v5(packet),
    }
}

/// The server never publishes above QoS 1 (ThingsBoard's maximum).
fn qos_pid(qos: u8, packet_id: u16) -> QosPid {
    mqtt::qos_pid(qos.min(1), packet_id)
}

fn bytes_of(encoded: Result<mqtt_proto::VarBytes, mqtt_proto::Error>) -> Option<Vec<u8>> {
    encoded.ok().map(|b| b.as_ref().to_vec())
}

fn encode_v3(packet: &Outbound) -> Option<Vec<u8>> {
    let out = match packet {
        Outbound::ConnAck(code) => v3::Packet::Connack(v3::Connack {
            session_present: matches!(
                code,
                ConnAckCode::Accepted {
                    session_present: true
                }
            ),
            code: match code {
                ConnAckCode::Accepted { .. } => v3::ConnectReturnCode::Accepted,
                ConnAckCode::ClientIdNotValid => v3::ConnectReturnCode::IdentifierRejected,
                ConnAckCode::BadCredentials | ConnAckCode::NotAuthorized => {
                    v3::ConnectReturnCode::NotAuthorized
                }
            },
        }),
        Outbound::PubAck { pid: p, .. } => v3::Packet::Puback(pid(*p)),
        // mqtt-proto 0.4.0 writes the 3.1.1 failure code as 0x03 instead of 0x80.
        Outbound::SubAck { pid: p, grants } => return v3_suback(*p, grants),
        Outbound::UnsubAck { pid: p, .. } => v3::Packet::Unsuback(pid(*p)),
        Outbound::Publish {
            topic,
            qos,
            pid: p,
            payload,
            dup,
        } => {
            if *qos > 0 && *p == 0 {
                return Some(publish_with_packet_id_zero(topic, payload, false));
            }
            let topic = TopicName::try_from(topic.as_str()).ok()?;
            let mut publish =
                v3::Publish::new(qos_pid(*qos, *p), topic, Bytes::from(payload.clone()));
            // DUP is meaningless (and a protocol error) on QoS 0.
            publish.dup = *dup && *qos > 0;
            v3::Packet::Publish(publish)
        }
        Outbound::PingResp => v3::Packet::Pingresp,
        Outbound::Disconnect(_) => return None,
    };
    bytes_of(out.encode())
}

/// A QoS 1 PUBLISH with packet id 0, which MQTT forbids and mqtt-proto will not write, but
/// ThingsBoard sends as its 65 536th publish on a connection (no wrap-around, §11.2).
fn publish_with_packet_id_zero(topic: &str, payload: &[u8], v5: bool) -> Vec<u8> {
    let topic_len = u16::try_from(topic.len()).unwrap_or(u16::MAX);
    let mut body = topic_len.to_be_bytes().to_vec();
    body.extend_from_slice(&topic.as_bytes()[..usize::from(topic_len)]);
    body.extend_from_slice(&[0, 0]);
    if v5 {
        body.push(0); // no properties
    }
    body.extend_from_slice(payload);
    frame::packet(0x32, &body)
}

/// SUBACK for 3.1.1: packet id, then one byte per filter (0x00, 0x01 or 0x80 Failure).
fn v3_suback(packet_id: u16, grants: &[SubGrant]) -> Option<Vec<u8>> {
    let mut body = packet_id.to_be_bytes().to_vec();
    body.extend(grants.iter().map(|g| match g {
        SubGrant::Qos(0) => 0x00,
        SubGrant::Qos(_) => 0x01,
        SubGrant::FilterInvalid => 0x80,
    }));
    Some(frame::packet(0x90, &body))
}

fn encode_v5(packet: &Outbound) -> Option<Vec<u8>> {
    let out = match packet {
        Outbound::ConnAck(code) => v5::Packet::Connack(v5::Connack::new(
            matches!(
                code,
                ConnAckCode::Accepted {
                    session_present: true
                }
            ),
            match code {
                ConnAckCode::Accepted { .. } => v5::ConnectReasonCode::Success,
                ConnAckCode::BadCredentials => v5::ConnectReasonCode::BadUserNameOrPassword,
                ConnAckCode::ClientIdNotValid => v5::ConnectReasonCode::ClientIdentifierNotValid,
                ConnAckCode::NotAuthorized => v5::ConnectReasonCode::NotAuthorized,
            },
        )),
        // Netty's form, which ThingsBoard sends: the reason byte followed by an empty
        // property length. mqtt-proto writes the spec's shorter `40 03 pid rc`, which some
        // clients (rumqttc 0.25) cannot read.
        Outbound::PubAck { pid: p, reason } if reason.0 == 0 => {
            let [hi, lo] = p.to_be_bytes();
            return Some(vec![0x40, 0x02, hi, lo]);
        }
        Outbound::PubAck { pid: p, reason } => {
            let [hi, lo] = p.to_be_bytes();
            return Some(vec![0x40, 0x04, hi, lo, reason.0, 0x00]);
        }
        Outbound::SubAck { pid: p, grants } => v5::Packet::Suback(v5::Suback::new(
            pid(*p),
            grants
                .iter()
                .map(|g| match g {
                    SubGrant::Qos(0) => v5::SubscribeReasonCode::GrantedQoS0,
                    SubGrant::Qos(_) => v5::SubscribeReasonCode::GrantedQoS1,
                    SubGrant::FilterInvalid => v5::SubscribeReasonCode::TopicFilterInvalid,
                })
                .collect(),
        )),
        Outbound::UnsubAck { pid: p, reasons } => v5::Packet::Unsuback(v5::Unsuback::new(
            pid(*p),
            reasons
                .iter()
                .map(|r| {
                    v5::UnsubscribeReasonCode::from_u8(r.0)
                        .unwrap_or(v5::UnsubscribeReasonCode::UnspecifiedError)
                })
                .collect(),
        )),
        Outbound::Publish {
            topic,
            qos,
            pid: p,
            payload,
            dup,
        } => {
            if *qos > 0 && *p == 0 {
                return Some(publish_with_packet_id_zero(topic, payload, true));
            }
            let topic = TopicName::try_from(topic.as_str()).ok()?;
            let mut publish =
                v5::Publish::new(qos_pid(*qos, *p), topic, Bytes::from(payload.clone()));
            // DUP is meaningless (and a protocol error) on QoS 0.
            publish.dup = *dup && *qos > 0;
            v5::Packet::Publish(publish)
        }
        Outbound::PingResp => v5::Packet::Pingresp,
        // Netty's form, for any reason byte (0x86 after a refused CONNECT is not a DISCONNECT
        // code mqtt-proto knows): `e0 00` for a normal disconnect, else reason + empty properties.
        Outbound::Disconnect(reason) if reason.0 == 0 => return Some(vec![0xE0, 0x00]),
        Outbound::Disconnect(reason) => return Some(vec![0xE0, 0x02, reason.0, 0x00]),
    };
    bytes_of(out.encode())
}

/// One line for a packet a client sent, as the wire logs show it (`CONNECT client_id=…
/// username=… MQTT 5`, `PUBLISH t qos=1 pid=3 {…}`, `PUBACK pid=7 0x00 Success`, …).
/// `version` is `None` before the CONNECT told it.
pub fn describe_inbound(packet: &[u8], version: Option<Version>) -> String {
    let version = version
        .or_else(|| {
            is_connect(packet)
                .then(|| connect_version(packet))
                .flatten()
        })
        .unwrap_or(Version::V3);
    let kind = packet.first().map_or(0, |b| b >> 4);
    let body = after_fixed_header(packet);
    let pid = || body.get(..2).map(|p| u16::from_be_bytes([p[0], p[1]]));
    let code = |at: usize| {
        body.get(at)
            .map(|c| format!(" {}", tbgw_codec::ReasonCode(*c)))
            .unwrap_or_default()
    };
    match kind {
        4 => match pid() {
            Some(pid) if version == Version::V5 => format!("PUBACK pid={pid}{}", code(2)),
            Some(pid) => format!("PUBACK pid={pid}"),
            None => format!("PUBACK (unreadable: {})", mqtt::packet::hex(packet)),
        },
        14 if version == Version::V5 && !body.is_empty() => format!("DISCONNECT{}", code(0)),
        _ => match decode(packet, version) {
            Ok(Inbound::Connect(c)) => format!(
                "CONNECT client_id={:?} username={} (MQTT {})",
                c.client_id,
                c.username
                    .as_deref()
                    .map_or("(none)".into(), |u| format!("{u:?}")),
                c.version.as_str()
            ),
            Ok(Inbound::Publish(p)) => {
                let mut line = format!("PUBLISH {} qos={}", p.topic, p.qos);
                if let Some(pid) = p.pid {
                    line.push_str(&format!(" pid={pid}"));
                }
                if p.dup {
                    line.push_str(" dup");
                }
                format!("{line} {}", mqtt::packet::payload_text(&p.payload))
            }
            Ok(Inbound::Subscribe { pid, filters }) => {
                let list: Vec<String> = filters
                    .iter()
                    .map(|(f, q)| format!("{f} qos={q}"))
                    .collect();
                format!("SUBSCRIBE pid={pid} [{}]", list.join(", "))
            }
            Ok(Inbound::Unsubscribe { pid, filters }) => {
                format!("UNSUBSCRIBE pid={pid} [{}]", filters.join(", "))
            }
            Ok(Inbound::PingReq) => "PINGREQ".to_owned(),
            Ok(Inbound::Disconnect) => "DISCONNECT".to_owned(),
            // Kind 4 is described above; this is for completeness.
            Ok(Inbound::PubAck { pid }) => format!("PUBACK pid={pid}"),
            Ok(Inbound::Ignored) => format!("packet type {kind} {}", mqtt::packet::hex(packet)),
            Err(problem) => format!(
                "unreadable packet ({problem}): {}",
                mqtt::packet::hex(packet)
            ),
        },
    }
}

/// The bytes after the fixed header (type byte and remaining length).
fn after_fixed_header(packet: &[u8]) -> &[u8] {
    let length_bytes = packet
        .iter()
        .skip(1)
        .take(4)
        .position(|b| b & 0x80 == 0)
        .map_or(4, |p| p + 1);
    packet.get(1 + length_bytes..).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tbgw_codec::ReasonCode;

    #[test]
    fn a_qos_1_publish_with_packet_id_0_is_written_as_thingsboard_writes_it() {
        let publish = |version| {
            encode(
                &Outbound::Publish {
                    topic: "t/x".into(),
                    qos: 1,
                    pid: 0,
                    payload: b"{}".to_vec(),
                    dup: false,
                },
                version,
            )
        };
        assert_eq!(
            publish(Version::V3),
            Some(vec![0x32, 9, 0, 3, b't', b'/', b'x', 0, 0, b'{', b'}'])
        );
        assert_eq!(
            publish(Version::V5),
            Some(vec![0x32, 10, 0, 3, b't', b'/', b'x', 0, 0, 0, b'{', b'}'])
        );
    }

    #[test]
    fn frames_are_found_and_oversized_ones_refused_from_the_header() {
        assert_eq!(next_frame(&[0xC0], MAX_PACKET), Frame::Incomplete);
        assert_eq!(next_frame(&[0xC0, 0x00], MAX_PACKET), Frame::Complete(2));
        assert_eq!(
            next_frame(&[0x30, 0x03, 1, 2], MAX_PACKET),
            Frame::Incomplete
        );
        // 65537 = 0x81 0x80 0x04
        assert_eq!(
            next_frame(&[0x30, 0x81, 0x80, 0x04], MAX_PACKET),
            Frame::TooLarge(65_537)
        );
        assert_eq!(
            next_frame(&[0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01], MAX_PACKET),
            Frame::Invalid
        );
    }

    #[test]
    fn connect_version_reads_the_protocol_level() {
        let v311 = [0x10, 0x0C, 0, 4, b'M', b'Q', b'T', b'T', 4, 2, 0, 60, 0, 0];
        let v31 = [
            0x10, 0x0E, 0, 6, b'M', b'Q', b'I', b's', b'd', b'p', 3, 2, 0, 60,
        ];
        let mut v5 = v311;
        v5[8] = 5;
        assert_eq!(connect_version(&v311), Some(Version::V3));
        assert_eq!(connect_version(&v31), Some(Version::V3));
        assert_eq!(connect_version(&v5), Some(Version::V5));
        assert_eq!(connect_version(&[0x10, 0x02, 0]), None);
    }

    #[test]
    fn disconnects_use_netty_encoding_and_puback_codes_survive() {
        let d = encode(&Outbound::Disconnect(ReasonCode(0x86)), Version::V5);
        assert_eq!(d, Some(vec![0xE0, 0x02, 0x86, 0x00]));
        assert_eq!(
            encode(&Outbound::Disconnect(ReasonCode(0x83)), Version::V3),
            None
        );
        let ack = Outbound::PubAck {
            pid: 7,
            reason: ReasonCode(0x99),
        };
        let bytes = encode(&ack, Version::V5);
        assert_eq!(bytes, Some(vec![0x40, 0x04, 0x00, 0x07, 0x99, 0x00]));
        assert_eq!(
            encode(&ack, Version::V3),
            Some(vec![0x40, 0x02, 0x00, 0x07])
        );
    }
}
