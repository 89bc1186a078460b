//! The MQTT packets the core reads and writes, independent of the protocol version: the
//! shell decodes MQTT 3.1.1 and 5 into these and encodes them back.

use tbgw_codec::ReasonCode;

/// One TCP connection of the MQTT server.
pub type ConnId = u64;

pub use crate::mqtt::Version;

#[derive(Clone, Debug)]
pub struct ConnectIn {
    pub version: Version,
    pub client_id: String,
    pub username: Option<String>,
}

#[derive(Clone, Debug)]
pub struct PublishIn {
    pub topic: String,
    pub qos: u8,
    /// `None` for QoS 0.
    pub pid: Option<u16>,
    pub payload: Vec<u8>,
    /// The DUP flag: a re-delivery of a QoS 1 message the client sent before.
    pub dup: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConnAckCode {
    Accepted,
    /// MQTT 5 0x86; MQTT 3.1.1 return code 5 (as ThingsBoard's `ReturnCodeResolver` maps it).
    BadCredentials,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SubGrant {
    Qos(u8),
    /// MQTT 5 0x8F Topic Filter invalid; MQTT 3.1.1 0x80 Failure.
    FilterInvalid,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Outbound {
    ConnAck(ConnAckCode),
    /// MQTT 3.1.1 carries no reason code; the shell drops it.
    PubAck {
        pid: u16,
        reason: ReasonCode,
    },
    SubAck {
        pid: u16,
        grants: Vec<SubGrant>,
    },
    UnsubAck {
        pid: u16,
        reasons: Vec<ReasonCode>,
    },
    Publish {
        topic: String,
        qos: u8,
        pid: u16,
        payload: Vec<u8>,
    },
    PingResp,
    /// MQTT 5 only; the core never asks for it on 3.1.1.
    Disconnect(ReasonCode),
}
