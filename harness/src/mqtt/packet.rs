//! The packets the client sends and the server packets it reads, version-neutral.
//!
//! Acknowledgements and DISCONNECT are read by hand so that every form is seen exactly as
//! sent: the short PUBACK, Netty's `rc 00` form, and reason codes the specification does not
//! name. CONNECT, PUBLISH, SUBSCRIBE and UNSUBSCRIBE are written with mqtt-proto.

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use mqtt_proto::{Pid, TopicFilter, TopicName, v3, v5};
use tbgw_codec::ReasonCode;

use super::frame;
use super::{Version, pid, qos_level, qos_number, qos_pid};

/// A packet received from the server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Incoming {
    ConnAck {
        session_present: bool,
        code: u8,
    },
    /// `code` is `None` on MQTT 3.1.1, which has none; a short MQTT 5 PUBACK is 0x00.
    PubAck {
        pid: u16,
        code: Option<u8>,
    },
    SubAck {
        pid: u16,
        codes: Vec<u8>,
    },
    /// `codes` is empty on MQTT 3.1.1.
    UnsubAck {
        pid: u16,
        codes: Vec<u8>,
    },
    Publish {
        topic: String,
        qos: u8,
        pid: Option<u16>,
        retain: bool,
        payload: Vec<u8>,
    },
    /// `code` 0x00 for the short `e0 00`.
    Disconnect {
        code: u8,
    },
    PingResp,
    /// A packet that does not parse, or one a server never sends: what is wrong with it.
    Unexpected(String),
}

fn pid_at(body: &[u8]) -> Option<u16> {
    Some(u16::from_be_bytes([*body.first()?, *body.get(1)?]))
}

/// Skips an MQTT 5 property block (a variable byte integer length, then the properties).
fn after_properties(body: &[u8]) -> Option<&[u8]> {
    let mut len = 0usize;
    for (i, byte) in body.iter().take(4).enumerate() {
        len |= usize::from(byte & 0x7F) << (7 * i);
        if byte & 0x80 == 0 {
            return body.get(i + 1 + len..);
        }
    }
    None
}

/// Reads one whole server packet (`bytes` as framed by `frame::next_frame`).
pub fn decode(bytes: &[u8], version: Version) -> Incoming {
    let header_len = 1 + bytes
        .iter()
        .skip(1)
        .take(4)
        .position(|b| b & 0x80 == 0)
        .map_or(4, |p| p + 1);
    let body = bytes.get(header_len..).unwrap_or_default();
    let kind = bytes.first().map_or(0, |b| b >> 4);
    let parsed = match kind {
        2 => match body {
            [flags, code, ..] => Some(Incoming::ConnAck {
                session_present: flags & 1 == 1,
                code: *code,
            }),
            _ => None,
        },
        3 => decode_publish(bytes, version),
        4 => pid_at(body).map(|pid| Incoming::PubAck {
            pid,
            code: match version {
                Version::V3 => None,
                Version::V5 => Some(body.get(2).copied().unwrap_or(0)),
            },
        }),
        9 => pid_at(body).and_then(|pid| {
            let rest = match version {
                Version::V3 => body.get(2..),
                Version::V5 => after_properties(body.get(2..)?),
            }?;
            Some(Incoming::SubAck {
                pid,
                codes: rest.to_vec(),
            })
        }),
        11 => pid_at(body).and_then(|pid| {
            let codes = match version {
                Version::V3 => Vec::new(),
                Version::V5 => after_properties(body.get(2..)?)?.to_vec(),
            };
            Some(Incoming::UnsubAck { pid, codes })
        }),
        13 => Some(Incoming::PingResp),
        14 => Some(Incoming::Disconnect {
            code: body.first().copied().unwrap_or(0),
        }),
        _ => None,
    };
    parsed.unwrap_or_else(|| Incoming::Unexpected(format!("cannot read {}", hex(bytes))))
}

fn decode_publish(bytes: &[u8], version: Version) -> Option<Incoming> {
    let (topic, qos_pid, retain, payload) = match version {
        Version::V3 => match v3::Packet::decode(bytes).ok()?? {
            v3::Packet::Publish(p) => (p.topic_name.to_string(), p.qos_pid, p.retain, p.payload),
            _ => return None,
        },
        Version::V5 => match v5::Packet::decode(bytes).ok()?? {
            v5::Packet::Publish(p) => (p.topic_name.to_string(), p.qos_pid, p.retain, p.payload),
            _ => return None,
        },
    };
    Some(Incoming::Publish {
        topic,
        qos: qos_number(qos_pid.qos()),
        pid: qos_pid.pid().map(Pid::value),
        retain,
        payload: payload.to_vec(),
    })
}

/// A packet the client sends.
#[derive(Clone, Debug)]
pub enum Outgoing {
    Connect {
        client_id: String,
        username: Option<String>,
        password: Option<String>,
        /// Clean session (3.1.1) / clean start (5).
        clean: bool,
    },
    Publish {
        topic: String,
        qos: u8,
        pid: u16,
        /// The DUP flag: a re-delivery (QoS 1 and 2 only).
        dup: bool,
        payload: Vec<u8>,
    },
    PubAck {
        pid: u16,
    },
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
}

/// The bytes of a client packet; an error names what cannot be encoded (a topic with a
/// wildcard, an invalid filter).
pub fn encode(packet: &Outgoing, version: Version) -> Result<Vec<u8>, String> {
    let encoded = match (packet, version) {
        (Outgoing::PubAck { pid }, _) => {
            return Ok(frame::packet(0x40, &pid.to_be_bytes()));
        }
        (Outgoing::PingReq, _) => return Ok(vec![0xC0, 0x00]),
        (Outgoing::Disconnect, _) => return Ok(vec![0xE0, 0x00]),
        (
            Outgoing::Connect {
                client_id,
                username,
                password,
                clean,
            },
            Version::V3,
        ) => {
            let mut c = v3::Connect::new(Arc::from(client_id.as_str()), 0);
            c.username = username.as_deref().map(Arc::from);
            c.password = password.as_ref().map(|p| p.clone().into_bytes().into());
            c.clean_session = *clean;
            v3::Packet::Connect(c).encode()
        }
        (
            Outgoing::Connect {
                client_id,
                username,
                password,
                clean,
            },
            Version::V5,
        ) => {
            let mut c = v5::Connect::new(Arc::from(client_id.as_str()), 0);
            c.username = username.as_deref().map(Arc::from);
            c.password = password.as_ref().map(|p| p.clone().into_bytes().into());
            c.clean_start = *clean;
            v5::Packet::Connect(c).encode()
        }
        (
            Outgoing::Publish {
                topic,
                qos: level,
                pid: p,
                dup,
                payload,
            },
            _,
        ) => {
            let topic_name = TopicName::try_from(topic.as_str())
                .map_err(|e| format!("cannot publish to topic {topic:?}: {e}"))?;
            let qos_pid = qos_pid(*level, *p);
            let payload = Bytes::from(payload.clone());
            match version {
                Version::V3 => {
                    let mut publish = v3::Publish::new(qos_pid, topic_name, payload);
                    publish.dup = *dup;
                    v3::Packet::Publish(publish).encode()
                }
                Version::V5 => {
                    let mut publish = v5::Publish::new(qos_pid, topic_name, payload);
                    publish.dup = *dup;
                    v5::Packet::Publish(publish).encode()
                }
            }
        }
        (Outgoing::Subscribe { pid: p, filters }, _) => {
            let mut topics = Vec::new();
            for (filter, level) in filters {
                let f = TopicFilter::try_from(filter.as_str())
                    .map_err(|e| format!("cannot subscribe to filter {filter:?}: {e}"))?;
                topics.push((f, qos_level(*level)));
            }
            match version {
                Version::V3 => v3::Packet::Subscribe(v3::Subscribe::new(pid(*p), topics)).encode(),
                Version::V5 => v5::Packet::Subscribe(v5::Subscribe::new(
                    pid(*p),
                    topics
                        .into_iter()
                        .map(|(f, q)| (f, v5::SubscriptionOptions::new(q)))
                        .collect(),
                ))
                .encode(),
            }
        }
        (Outgoing::Unsubscribe { pid: p, filters }, _) => {
            let mut topics = Vec::new();
            for filter in filters {
                topics.push(
                    TopicFilter::try_from(filter.as_str())
                        .map_err(|e| format!("cannot unsubscribe from filter {filter:?}: {e}"))?,
                );
            }
            match version {
                Version::V3 => {
                    v3::Packet::Unsubscribe(v3::Unsubscribe::new(pid(*p), topics)).encode()
                }
                Version::V5 => {
                    v5::Packet::Unsubscribe(v5::Unsubscribe::new(pid(*p), topics)).encode()
                }
            }
        }
    };
    encoded
        .map(|b| b.as_ref().to_vec())
        .map_err(|e| format!("cannot encode {}: {e}", packet.name()))
}

impl Outgoing {
    pub fn name(&self) -> &'static str {
        match self {
            Outgoing::Connect { .. } => "CONNECT",
            Outgoing::Publish { .. } => "PUBLISH",
            Outgoing::PubAck { .. } => "PUBACK",
            Outgoing::Subscribe { .. } => "SUBSCRIBE",
            Outgoing::Unsubscribe { .. } => "UNSUBSCRIBE",
            Outgoing::PingReq => "PINGREQ",
            Outgoing::Disconnect => "DISCONNECT",
        }
    }
}

pub fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A payload as text for logs: UTF-8 as is (shortened), otherwise hex.
pub fn payload_text(payload: &[u8]) -> String {
    const LIMIT: usize = 300;
    match std::str::from_utf8(payload) {
        Ok(text) if text.len() <= LIMIT => text.to_owned(),
        Ok(text) => {
            let cut = (0..=LIMIT)
                .rev()
                .find(|i| text.is_char_boundary(*i))
                .unwrap_or(0);
            format!("{}… ({} bytes)", &text[..cut], payload.len())
        }
        Err(_) => format!(
            "0x{} ({} bytes)",
            hex(payload).replace(' ', ""),
            payload.len()
        ),
    }
}

fn code_text(code: u8) -> String {
    ReasonCode(code).to_string()
}

impl fmt::Display for Incoming {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Incoming::ConnAck { code, .. } => write!(f, "CONNACK {}", code_text(*code)),
            Incoming::PubAck { pid, code: None } => write!(f, "PUBACK pid={pid}"),
            Incoming::PubAck { pid, code: Some(c) } => {
                write!(f, "PUBACK pid={pid} {}", code_text(*c))
            }
            Incoming::SubAck { pid, codes } => write!(f, "SUBACK pid={pid} {}", code_list(codes)),
            Incoming::UnsubAck { pid, codes } if codes.is_empty() => {
                write!(f, "UNSUBACK pid={pid}")
            }
            Incoming::UnsubAck { pid, codes } => {
                write!(f, "UNSUBACK pid={pid} {}", code_list(codes))
            }
            Incoming::Publish {
                topic,
                qos,
                pid,
                payload,
                ..
            } => {
                write!(f, "PUBLISH {topic} qos={qos}")?;
                if let Some(pid) = pid {
                    write!(f, " pid={pid}")?;
                }
                write!(f, " {}", payload_text(payload))
            }
            Incoming::Disconnect { code } => write!(f, "DISCONNECT {}", code_text(*code)),
            Incoming::PingResp => f.write_str("PINGRESP"),
            Incoming::Unexpected(what) => write!(f, "unexpected packet: {what}"),
        }
    }
}

impl fmt::Display for Outgoing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outgoing::Connect {
                client_id,
                username,
                password,
                clean,
            } => {
                write!(
                    f,
                    "CONNECT client_id={client_id:?} username={}",
                    username
                        .as_deref()
                        .map_or("(none)".into(), |u| format!("{u:?}"))
                )?;
                // Shown only when not the usual token-only, clean CONNECT.
                if password.is_some() {
                    write!(f, " password=(set)")?;
                }
                if !clean {
                    write!(f, " clean=false")?;
                }
                Ok(())
            }
            Outgoing::Publish {
                topic,
                qos,
                pid,
                dup,
                payload,
            } => {
                write!(f, "PUBLISH {topic} qos={qos}")?;
                if *qos > 0 {
                    write!(f, " pid={pid}")?;
                }
                if *dup {
                    write!(f, " dup")?;
                }
                write!(f, " {}", payload_text(payload))
            }
            Outgoing::PubAck { pid } => write!(f, "PUBACK pid={pid}"),
            Outgoing::Subscribe { pid, filters } => {
                let list: Vec<String> = filters
                    .iter()
                    .map(|(t, q)| format!("{t} qos={q}"))
                    .collect();
                write!(f, "SUBSCRIBE pid={pid} [{}]", list.join(", "))
            }
            Outgoing::Unsubscribe { pid, filters } => {
                write!(f, "UNSUBSCRIBE pid={pid} [{}]", filters.join(", "))
            }
            Outgoing::PingReq => f.write_str("PINGREQ"),
            Outgoing::Disconnect => f.write_str("DISCONNECT"),
        }
    }
}

fn code_list(codes: &[u8]) -> String {
    let list: Vec<String> = codes.iter().map(|c| format!("0x{c:02X}")).collect();
    format!("[{}]", list.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_and_netty_pubacks_and_unknown_codes_are_read_exactly() {
        assert_eq!(
            decode(&[0x40, 0x02, 0x00, 0x07], Version::V5),
            Incoming::PubAck {
                pid: 7,
                code: Some(0)
            }
        );
        assert_eq!(
            decode(&[0x40, 0x04, 0x00, 0x07, 0x99, 0x00], Version::V5),
            Incoming::PubAck {
                pid: 7,
                code: Some(0x99)
            }
        );
        assert_eq!(
            decode(&[0x40, 0x03, 0x00, 0x07, 0x42], Version::V5),
            Incoming::PubAck {
                pid: 7,
                code: Some(0x42)
            }
        );
        assert_eq!(
            decode(&[0x40, 0x02, 0x00, 0x07], Version::V3),
            Incoming::PubAck { pid: 7, code: None }
        );
    }

    #[test]
    fn every_disconnect_form_keeps_its_code() {
        assert_eq!(
            decode(&[0xE0, 0x00], Version::V5),
            Incoming::Disconnect { code: 0 }
        );
        assert_eq!(
            decode(&[0xE0, 0x01, 0x8E], Version::V5),
            Incoming::Disconnect { code: 0x8E }
        );
        assert_eq!(
            decode(&[0xE0, 0x02, 0x83, 0x00], Version::V5),
            Incoming::Disconnect { code: 0x83 }
        );
    }

    #[test]
    fn subacks_skip_v5_properties() {
        assert_eq!(
            decode(&[0x90, 0x05, 0x00, 0x02, 0x00, 0x01, 0x8F], Version::V5),
            Incoming::SubAck {
                pid: 2,
                codes: vec![0x01, 0x8F]
            }
        );
        assert_eq!(
            decode(&[0x90, 0x04, 0x00, 0x02, 0x01, 0x80], Version::V3),
            Incoming::SubAck {
                pid: 2,
                codes: vec![0x01, 0x80]
            }
        );
        assert!(matches!(
            decode(&[0x90, 0x01, 0x00], Version::V3),
            Incoming::Unexpected(_)
        ));
    }

    #[test]
    fn publishes_round_trip_through_the_encoder() {
        for version in [Version::V3, Version::V5] {
            let out = Outgoing::Publish {
                topic: "v1/gateway/rpc".into(),
                qos: 1,
                pid: 9,
                dup: false,
                payload: b"{}".to_vec(),
            };
            let bytes = encode(&out, version).expect("encodes");
            // A re-delivery differs in the DUP bit of the first byte only.
            let mut again = out.clone();
            if let Outgoing::Publish { dup, .. } = &mut again {
                *dup = true;
            }
            let again = encode(&again, version).expect("encodes");
            assert_eq!((bytes[0], again[0]), (0x32, 0x3A));
            assert_eq!(bytes[1..], again[1..]);
            assert_eq!(
                decode(&bytes, version),
                Incoming::Publish {
                    topic: "v1/gateway/rpc".into(),
                    qos: 1,
                    pid: Some(9),
                    retain: false,
                    payload: b"{}".to_vec()
                }
            );
        }
    }
}
