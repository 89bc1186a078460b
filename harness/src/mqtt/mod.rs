//! The harness's own MQTT client: wire-exact (every reason code and short encoding is seen as
//! sent, each PUBACK is matched to its PUBLISH by packet id), with a log of every packet.
//! Framing and the protocol version are shared with the emulator.

#[cfg(feature = "cli")]
pub mod client;
pub mod frame;
pub mod packet;
#[cfg(feature = "cli")]
pub mod wirelog;

use mqtt_proto::{Pid, QoS, QosPid};

#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum Version {
    /// MQTT 3.1 (`MQIsdp`) and 3.1.1; ThingsBoard treats them alike.
    #[serde(rename = "3.1.1")]
    V3,
    #[serde(rename = "5")]
    V5,
}

impl Version {
    pub fn as_str(self) -> &'static str {
        match self {
            Version::V3 => "3.1.1",
            Version::V5 => "5",
        }
    }
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// mqtt-proto's packet id; 0 (not a valid id) becomes its default.
pub fn pid(value: u16) -> Pid {
    Pid::try_from(value).unwrap_or_default()
}

/// A QoS as its number, 0 to 2.
pub fn qos_number(qos: QoS) -> u8 {
    match qos {
        QoS::Level0 => 0,
        QoS::Level1 => 1,
        QoS::Level2 => 2,
    }
}

/// A QoS from its number (3 and above read as 2).
pub fn qos_level(level: u8) -> QoS {
    match level {
        0 => QoS::Level0,
        1 => QoS::Level1,
        _ => QoS::Level2,
    }
}

/// The QoS and packet id of a PUBLISH (the id is dropped at QoS 0).
pub fn qos_pid(level: u8, packet_id: u16) -> QosPid {
    match qos_level(level) {
        QoS::Level0 => QosPid::Level0,
        QoS::Level1 => QosPid::Level1(pid(packet_id)),
        QoS::Level2 => QosPid::Level2(pid(packet_id)),
    }
}
