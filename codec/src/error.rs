//! Decode errors: what is wrong, where (JSON path and line:column), and what
//! ThingsBoard answers for it, as one mapping the emulator and every check share.

use std::fmt;

use crate::Mode;
use crate::json::JsonKind;
use crate::leniency::LeniencyKind;
use crate::parse::SyntaxProblem;
use crate::path::JsonPath;
use crate::position::Position;
use crate::reason::ReasonCode;
use crate::topic::{Direction, Topic};

/// Why a payload does not decode.
#[derive(Clone, Debug, PartialEq)]
pub enum ErrorKind {
    /// Not JSON in the mode's grammar (RFC 8259 for strict, Gson's lenient reader for ThingsBoard).
    Syntax(SyntaxProblem),
    /// The payload is valid JSON but not an object; `None` for an empty payload.
    NotAnObject {
        found: Option<JsonKind>,
    },
    MissingField {
        field: &'static str,
    },
    /// A field of a type that cannot be read as `expected`; `found` describes the value.
    WrongType {
        expected: &'static str,
        found: String,
    },
    EmptyDeviceName,
    /// A device name ThingsBoard refuses to create (`Device.name` validation).
    DeviceNameRefused {
        why: &'static str,
    },
    /// No entry of the message can be used (every device entry skipped, or none at all).
    NoUsableEntries {
        expected: &'static str,
    },
    /// A value ThingsBoard cannot store (a number too large to expand).
    UnstorableValue {
        key: String,
    },
    /// Strict mode only: ThingsBoard would accept this, but only through a leniency.
    NotStrict(LeniencyKind),
    /// The topic does not carry messages in this direction.
    WrongDirection,
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorKind::Syntax(problem) => write!(f, "invalid JSON: {problem}"),
            ErrorKind::NotAnObject { found: None } => {
                f.write_str("the payload is empty; a JSON object is required")
            }
            ErrorKind::NotAnObject { found: Some(kind) } => {
                write!(f, "the payload is {kind}; a JSON object is required")
            }
            ErrorKind::MissingField { field } => {
                write!(f, "the required field `{field}` is missing")
            }
            ErrorKind::WrongType { expected, found } => {
                write!(f, "expected {expected}, found {found}")
            }
            ErrorKind::EmptyDeviceName => f.write_str("the device name is empty"),
            ErrorKind::DeviceNameRefused { why } => {
                write!(f, "ThingsBoard refuses this device name: {why}")
            }
            ErrorKind::NoUsableEntries { expected } => {
                write!(f, "no usable device entry: every value must be {expected}")
            }
            ErrorKind::UnstorableValue { key } => {
                write!(f, "the number `{key}` has an exponent too large to store")
            }
            ErrorKind::NotStrict(leniency) => write!(f, "not strict: {leniency}"),
            ErrorKind::WrongDirection => {
                f.write_str("no message travels on this topic in this direction")
            }
        }
    }
}

/// What ThingsBoard 4.3 does with a gateway payload (`reference/thingsboard-behavior.md` §3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TbAnswer {
    /// It parses the payload and answers PUBACK 0x00: the defect is one only strict mode rejects.
    Accepts,
    /// It takes the data but never sends a PUBACK (an empty telemetry array).
    AcceptsWithoutPuback,
    /// Unparsable JSON (AdaptorException): PUBACK 0x99 on MQTT 5, connection kept;
    /// MQTT 3.1.1 closes the connection.
    InvalidPayload,
    /// A device's data cannot be converted: PUBACK 0x99 on MQTT 5 (other devices of the
    /// message are still processed); MQTT 3.1.1 closes without a PUBACK.
    DeviceDataInvalid,
    /// The handler throws: PUBACK 0x83 then DISCONNECT 0x83 on MQTT 5; PUBACK then close on 3.1.1.
    HandlerFailed,
    /// The device cannot be created: PUBACK with this code, connection kept.
    DeviceRefused(ReasonCode),
    /// The device's name or `type` fails ThingsBoard's validation: PUBACK with this code and
    /// the connection kept, but 10–20 s late, since the validation error escapes the
    /// transport API, which never answers: the request fails when it times out (§11.1 C3).
    DeviceInvalid(ReasonCode),
    /// A gateway publish to a `v1/gateway…` topic ThingsBoard does not handle:
    /// PUBACK 0x90, connection kept.
    TopicInvalid,
    /// A platform → gateway message ThingsBoard would never send; a receiving
    /// MQTT 5 gateway should answer 0x99.
    NotSentByThingsBoard,
}

impl TbAnswer {
    /// The MQTT 5 PUBACK reason code; `None` when no PUBACK is ever sent.
    pub fn reason_code(self) -> Option<ReasonCode> {
        Some(match self {
            TbAnswer::Accepts => ReasonCode::SUCCESS,
            TbAnswer::AcceptsWithoutPuback => return None,
            TbAnswer::InvalidPayload
            | TbAnswer::DeviceDataInvalid
            | TbAnswer::NotSentByThingsBoard => ReasonCode::PAYLOAD_FORMAT_INVALID,
            TbAnswer::HandlerFailed => ReasonCode::IMPLEMENTATION_SPECIFIC_ERROR,
            TbAnswer::DeviceRefused(code) | TbAnswer::DeviceInvalid(code) => code,
            TbAnswer::TopicInvalid => ReasonCode::TOPIC_NAME_INVALID,
        })
    }

    /// Whether ThingsBoard (MQTT 5) follows the PUBACK with DISCONNECT and closes the connection.
    pub fn disconnects(self) -> bool {
        self == TbAnswer::HandlerFailed
    }
}

impl fmt::Display for TbAnswer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TbAnswer::Accepts => f.write_str("ThingsBoard accepts it: PUBACK 0x00 Success"),
            TbAnswer::AcceptsWithoutPuback => f.write_str("ThingsBoard takes it but never sends a PUBACK"),
            TbAnswer::InvalidPayload => f.write_str(
                "ThingsBoard answers PUBACK 0x99 Payload format invalid (MQTT 5) and keeps the connection; MQTT 3.1.1: it closes the connection",
            ),
            TbAnswer::DeviceDataInvalid => f.write_str(
                "ThingsBoard answers PUBACK 0x99 Payload format invalid (MQTT 5), other devices are still processed; MQTT 3.1.1: it closes the connection without a PUBACK",
            ),
            TbAnswer::HandlerFailed => f.write_str(
                "ThingsBoard answers PUBACK 0x83 Implementation specific error, then DISCONNECT 0x83 (MQTT 5); MQTT 3.1.1: PUBACK, then it closes the connection",
            ),
            TbAnswer::DeviceRefused(code) => {
                write!(f, "ThingsBoard answers PUBACK {code} and keeps the connection")
            }
            TbAnswer::DeviceInvalid(code) => write!(
                f,
                "ThingsBoard answers PUBACK {code} 10–20 s late (when its request for the device times out) and keeps the connection"
            ),
            TbAnswer::TopicInvalid => {
                f.write_str("ThingsBoard answers PUBACK 0x90 Topic Name invalid and keeps the connection")
            }
            TbAnswer::NotSentByThingsBoard => f.write_str(
                "ThingsBoard never sends this; an MQTT 5 gateway should answer PUBACK 0x99 Payload format invalid",
            ),
        }
    }
}

/// A payload that does not decode.
#[derive(Clone, Debug, PartialEq)]
pub struct DecodeError {
    pub topic: Topic,
    pub direction: Direction,
    pub mode: Mode,
    pub kind: ErrorKind,
    pub path: JsonPath,
    pub position: Position,
    /// What ThingsBoard does with the same bytes (in strict mode, found by decoding them in ThingsBoard mode).
    pub thingsboard: TbAnswer,
    /// A line of advice for the person who sent the payload.
    pub hint: Option<&'static str>,
}

impl DecodeError {
    /// The MQTT 5 PUBACK reason code ThingsBoard answers; `None` when it sends no PUBACK.
    pub fn reason_code(&self) -> Option<ReasonCode> {
        self.thingsboard.reason_code()
    }

    /// A multi-line report: what, where, ThingsBoard's answer and advice.
    pub fn render(&self) -> String {
        let mut out = format!(
            "error: {}\n  topic:    {} ({}, {} mode)\n  at:       {}  {}\n",
            self.kind, self.topic, self.direction, self.mode, self.position, self.path
        );
        match self.reason_code() {
            Some(code) => out.push_str(&format!("  reason:   {code}\n")),
            None => out.push_str("  reason:   none (no PUBACK)\n"),
        }
        out.push_str(&format!("  answer:   {}\n", self.thingsboard));
        if let Some(hint) = self.hint {
            out.push_str(&format!("  hint:     {hint}\n"));
        }
        out
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.position, self.path, self.kind)?;
        match self.reason_code() {
            Some(code) => write!(f, " (ThingsBoard answers {code})"),
            None => write!(f, " (ThingsBoard sends no PUBACK)"),
        }
    }
}

impl std::error::Error for DecodeError {}
