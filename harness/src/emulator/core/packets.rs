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
    /// Whether the CONNECT carries a password (its value is never needed: access tokens
    /// ignore it, and a refusal's code depends only on which credentials are present).
    pub has_password: bool,
    /// Clean session (3.1.1) / clean start (5).
    pub clean: bool,
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

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnAckCode {
    /// `session_present` is the inverse of the client's clean flag (§11.2), although
    /// ThingsBoard keeps no session.
    Accepted { session_present: bool },
    /// MQTT 5 0x86; MQTT 3.1.1 return code 5 (as ThingsBoard's `ReturnCodeResolver` maps it).
    BadCredentials,
    /// MQTT 5 0x85; MQTT 3.1.1 return code 2.
    ClientIdNotValid,
    /// MQTT 5 0x87; MQTT 3.1.1 return code 5.
    NotAuthorized,
}

impl ConnAckCode {
    /// The code of a refused CONNECT, chosen by which credentials it carries
    /// (`MqttTransportHandler`, §11.2): 0x86 when username, password and client id are all
    /// there or exactly one of username and password is; else 0x85 for a client id that is
    /// not blank; else 0x87.
    pub fn refusal(connect: &ConnectIn) -> ConnAckCode {
        let username = connect.username.is_some();
        let client_id = !connect.client_id.trim().is_empty();
        if (username && connect.has_password && client_id) || username != connect.has_password {
            ConnAckCode::BadCredentials
        } else if client_id {
            ConnAckCode::ClientIdNotValid
        } else {
            ConnAckCode::NotAuthorized
        }
    }

    /// The MQTT 5 reason code of the CONNACK (and of the DISCONNECT that follows a refusal).
    pub fn reason(self) -> tbgw_codec::ReasonCode {
        use tbgw_codec::ReasonCode;
        match self {
            ConnAckCode::Accepted { .. } => ReasonCode::SUCCESS,
            ConnAckCode::BadCredentials => ReasonCode::BAD_USER_NAME_OR_PASSWORD,
            ConnAckCode::ClientIdNotValid => ReasonCode::CLIENT_IDENTIFIER_NOT_VALID,
            ConnAckCode::NotAuthorized => ReasonCode::NOT_AUTHORIZED,
        }
    }
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
        /// A re-delivery (set only by a platform under test's fault injection).
        dup: bool,
    },
    PingResp,
    /// MQTT 5 only; the core never asks for it on 3.1.1.
    Disconnect(ReasonCode),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connect(username: bool, password: bool, client_id: &str) -> ConnectIn {
        ConnectIn {
            version: Version::V5,
            client_id: client_id.to_owned(),
            username: username.then(|| "WRONG".to_owned()),
            has_password: password,
            clean: true,
        }
    }

    #[test]
    fn a_refused_connect_is_coded_by_the_credentials_it_carries() {
        use ConnAckCode::*;
        for (username, password, client_id, expected) in [
            (true, true, "c", BadCredentials),
            (true, false, "c", BadCredentials),
            (true, false, "", BadCredentials),
            (false, true, "", BadCredentials),
            (false, false, "c", ClientIdNotValid),
            (true, true, "", NotAuthorized),
            (false, false, "", NotAuthorized),
            (false, false, "  ", NotAuthorized),
        ] {
            let refusal = ConnAckCode::refusal(&connect(username, password, client_id));
            assert_eq!(refusal, expected, "{username} {password} {client_id:?}");
        }
    }
}
