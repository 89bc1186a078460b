//! # tbgw-codec
//!
//! Every topic and payload of the ThingsBoard Gateway MQTT API as typed messages, in both
//! directions, with two decode modes:
//!
//! - [`Mode::Strict`]: only the clean, documented forms: RFC 8259 JSON, exact types, no
//!   unknown or repeated keys, nothing ThingsBoard would skip or coerce.
//! - [`Mode::ThingsBoard`]: exactly what ThingsBoard 4.3 accepts, parsed the way its Gson
//!   calls parse it, with every [`Leniency`] it applied on the way.
//!
//! A [`DecodeError`] names the problem, the JSON path and the line:column, and says what
//! ThingsBoard answers for the payload ([`DecodeError::reason_code`]).
//!
//! ```
//! use tbgw_codec::{decode, Direction, Mode, ReasonCode, Topic};
//!
//! let ok = decode(Topic::Connect, Direction::GatewayToPlatform, br#"{"device":"Device A"}"#, Mode::Strict).unwrap();
//! assert_eq!(ok.message.encode(), r#"{"device":"Device A"}"#);
//!
//! let err = decode(Topic::Connect, Direction::GatewayToPlatform, br#"{"device":}"#, Mode::ThingsBoard).unwrap_err();
//! assert_eq!(err.reason_code(), Some(ReasonCode::PAYLOAD_FORMAT_INVALID));
//! ```
//!
//! ThingsBoard stores some clean payloads differently than they were sent; both modes say so:
//!
//! ```
//! use tbgw_codec::{decode, Direction, Mode, Topic};
//!
//! let payload = br#"{"Device A":[{"ts":1700000000000,"values":{"temperature":23.5,"serial":"0042"}}]}"#;
//! let decoded = decode(Topic::Telemetry, Direction::GatewayToPlatform, payload, Mode::ThingsBoard).unwrap();
//! let notes: Vec<String> = decoded.leniencies.iter().map(|l| l.to_string()).collect();
//! assert_eq!(notes, [r#"1:72 $["Device A"][0].values.serial: the string value of `serial` is stored as long 42"#]);
//! assert_eq!(decoded.message.encode().as_bytes(), payload);
//! ```
//!
//! The crate is pure: no I/O, no async.

pub mod attribute_request;
pub mod attributes;
pub mod claim;
pub mod device;
mod entries;
pub mod error;
pub mod fuzzing;
pub mod json;
pub mod leniency;
mod message;
pub mod parse;
pub mod path;
pub mod position;
mod read;
pub mod reason;
pub mod render;
pub mod rpc;
pub mod telemetry;
pub mod topic;
mod validate;
pub mod value;

use std::fmt;
use std::str::FromStr;

pub use attribute_request::{
    AttributeRequest, AttributeResponse, DocAttributeRequest, RequestedKeys, ResponseValues,
    ServerAttributeRequest,
};
pub use attributes::{AttributeChange, AttributeUpdate, ClientAttributes, DeviceAttributes};
pub use claim::{Claim, DeviceClaim};
pub use device::{Connect, DeviceDisconnected, Disconnect};
pub use error::{DecodeError, ErrorKind, TbAnswer};
pub use json::{Json, JsonKind, Number, Object};
pub use leniency::{Leniency, LeniencyKind};
pub use message::{Decoded, Message, decode, device_parts, encode};
pub use path::JsonPath;
pub use position::Position;
pub use reason::ReasonCode;
pub use rpc::{RpcRequest, RpcResponse};
pub use telemetry::{DeviceTelemetry, Metadata, Telemetry, TelemetryEntry};
pub use topic::{Direction, Topic};
pub use value::TbValue;

/// How forgiving a decode is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Mode {
    /// Only the clean, documented forms.
    Strict,
    /// What ThingsBoard 4.3 accepts, with the leniencies it applied.
    ThingsBoard,
}

impl Mode {
    pub const ALL: [Mode; 2] = [Mode::Strict, Mode::ThingsBoard];
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::Strict => "strict",
            Mode::ThingsBoard => "thingsboard",
        })
    }
}

impl FromStr for Mode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "strict" => Ok(Mode::Strict),
            "thingsboard" | "tb" => Ok(Mode::ThingsBoard),
            other => Err(format!(
                "unknown mode `{other}`; expected `strict` or `thingsboard`"
            )),
        }
    }
}

/// Parses RFC 8259 JSON text; `None` if it is not JSON.
pub fn parse_json(text: &str) -> Option<Json> {
    let mut notes = Vec::new();
    let arena = parse::arena_for(text.len());
    let node = parse::parse_document(text, parse::Grammar::Rfc8259, &arena, &mut notes).ok()??;
    Some(read::to_json(&node))
}
