//! The harness's own MQTT client: wire-exact (every reason code and short encoding is seen as
//! sent, each PUBACK is matched to its PUBLISH by packet id), with a log of every packet.
//! Framing and the protocol version are shared with the emulator.

pub mod client;
pub mod frame;
pub mod packet;
pub mod wirelog;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Version {
    /// MQTT 3.1 (`MQIsdp`) and 3.1.1; ThingsBoard treats them alike.
    V3,
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
