//! One thing the fuzzing platform does to the gateway, and its form as a gateway-scenario step.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};

use crate::emulator::core::Again;

/// One action; an input is a short sequence of them.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Action {
    /// A publish to the gateway on any topic with any payload.
    Send {
        topic: String,
        /// The payload, base64 in the corpus files (it may be any bytes).
        #[serde(with = "base64_bytes")]
        payload: Vec<u8>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        qos: Option<u8>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        again: Option<Again>,
    },
    /// An MQTT 5 DISCONNECT with this reason code (a plain close on 3.1.1).
    Disconnect { reason: u8 },
    /// The connection closed without a DISCONNECT.
    DropConnection,
}

impl Action {
    /// Whether the gateway's session ends with this action (it has to reconnect).
    pub fn ends_session(&self) -> bool {
        matches!(self, Action::Disconnect { .. } | Action::DropConnection)
    }

    /// One line for the console and the corpus' log.
    pub fn describe(&self) -> String {
        match self {
            Action::Send {
                topic,
                payload,
                qos,
                again,
            } => {
                let mut line = format!(
                    "publish {topic} {}",
                    crate::gateway::passive::excerpt_of(payload, 120)
                );
                if let Some(q) = qos {
                    line.push_str(&format!(" (QoS {q})"));
                }
                match again {
                    Some(Again::Dup) => line.push_str(" twice (DUP)"),
                    Some(Again::SameId) => line.push_str(" twice (same packet id)"),
                    None => {}
                }
                line
            }
            Action::Disconnect { reason } => format!("DISCONNECT 0x{reason:02X}"),
            Action::DropConnection => "connection dropped".to_owned(),
        }
    }
}

/// A payload as text a scenario can hold byte for byte: valid UTF-8 with no control
/// characters, nothing a `${…}` interpolation would touch, short enough to read.
pub fn as_scenario_text(payload: &[u8]) -> Option<&str> {
    const READABLE: usize = 4000;
    let text = std::str::from_utf8(payload).ok()?;
    let plain = text.len() <= READABLE
        && !text.contains("${")
        && !text.starts_with('\u{feff}')
        && text
            .chars()
            .all(|c| !c.is_control() && c != '\u{2028}' && c != '\u{2029}');
    plain.then_some(text)
}

pub fn base64_of(payload: &[u8]) -> String {
    BASE64.encode(payload)
}

mod base64_bytes {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD as BASE64;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&BASE64.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        BASE64
            .decode(text.trim())
            .map_err(|e| serde::de::Error::custom(format!("a base64 payload: {e}")))
    }
}

/// Decodes base64 text (the corpus' and the scenarios' form of raw payloads).
pub fn decode_base64(text: &str) -> Result<Vec<u8>, String> {
    BASE64.decode(text.trim()).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_survive_the_corpus_format_byte_for_byte() {
        let actions = vec![
            Action::Send {
                topic: "v1/gateway/rpc".into(),
                payload: vec![0xEF, 0xBB, 0xBF, b'{', 0xFF, b'}'],
                qos: Some(0),
                again: Some(Again::Dup),
            },
            Action::Disconnect { reason: 0x8B },
            Action::DropConnection,
        ];
        let text = serde_json::to_string(&actions).unwrap();
        let back: Vec<Action> = serde_json::from_str(&text).unwrap();
        assert_eq!(back, actions);
    }

    #[test]
    fn only_plain_text_is_written_as_text() {
        assert_eq!(as_scenario_text(b"{\"a\":1}"), Some("{\"a\":1}"));
        assert_eq!(as_scenario_text(b"\xEF\xBB\xBF{}"), None);
        assert_eq!(as_scenario_text(b"{\"a\":\"${x}\"}"), None);
        assert_eq!(as_scenario_text(b"\xFF"), None);
        assert_eq!(as_scenario_text(b"a\nb"), None);
    }
}
