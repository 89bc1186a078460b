//! What ThingsBoard forgives: every conversion, skip and coercion the `ThingsBoard`
//! decode mode applied, so a checker can warn about data that was changed or lost.

use std::fmt;

use crate::json::JsonKind;
use crate::parse::SyntaxLeniency;
use crate::path::JsonPath;
use crate::position::Position;
use crate::value::TbValue;

/// One leniency applied at one place of the payload.
#[derive(Clone, Debug, PartialEq)]
pub struct Leniency {
    pub kind: LeniencyKind,
    pub path: Option<JsonPath>,
    pub position: Position,
}

impl fmt::Display for Leniency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.position)?;
        if let Some(path) = &self.path {
            write!(f, " {path}")?;
        }
        write!(f, ": {}", self.kind)
    }
}

/// A leniency: something accepted only because ThingsBoard's parser is forgiving.
#[derive(Clone, Debug, PartialEq)]
pub enum LeniencyKind {
    /// JSON text beyond RFC 8259 that Gson's lenient reader accepts.
    Syntax(SyntaxLeniency),
    /// A field of another JSON type read through Gson's conversions (`"id":"5"`, `"device":123`).
    Converted {
        from: JsonKind,
        original: String,
        read_as: String,
    },
    /// A one-element array read as its element (Gson `JsonArray.getAsString()` and friends).
    SingleElementArray,
    /// A field ThingsBoard does not read.
    UnknownField { field: String },
    /// A device entry of the wrong JSON type, skipped with its data.
    EntrySkipped {
        device: String,
        expected: &'static str,
        found: JsonKind,
    },
    /// A `null` value, dropped without a word.
    NullDropped { key: String },
    /// A string that ThingsBoard stores as a number (`transport.json.type_cast_enabled`).
    StringTypedAsNumber { key: String, stored: TbValue },
    /// A number that ThingsBoard stores as a string (out of the long range, or over 16 decimals).
    NumberStoredAsString { key: String, stored: String },
    /// A flat telemetry element with `ts` but no `values` (or the reverse): the key is stored as data.
    ReservedKeyStoredAsData { key: &'static str },
    /// Both `key` and `keys` in an attribute request: `key` wins, `keys` is ignored.
    KeyOverridesKeys,
    /// A key asked for twice in one attribute request; ThingsBoard asks once.
    RepeatedRequestKey { key: String },
    /// `"type": null` in a connect message, read as the `default` profile.
    NullTypeIsDefault,
    /// A `type` no device profile can be named (empty, blank, too long, markup): a new device
    /// cannot be created with it (PUBACK 0x80); an existing device is used as is.
    DeviceTypeRefused { why: &'static str },
    /// A device with an empty telemetry array: connected, but ThingsBoard never sends a PUBACK.
    EmptyTelemetryList { device: String },
    /// A claim duration of zero or less, replaced by the server's `security.claim.duration`.
    NonPositiveClaimDuration { duration_ms: i64 },
}

impl LeniencyKind {
    /// True for notes about how a well-formed value is stored (a numeric string stored as a
    /// number, a huge number stored as a string). Strict mode reports these too instead of
    /// refusing them: the payload is clean, the server's typing is what changes the data.
    pub fn is_typing_note(&self) -> bool {
        matches!(
            self,
            LeniencyKind::StringTypedAsNumber { .. } | LeniencyKind::NumberStoredAsString { .. }
        )
    }
}

impl fmt::Display for LeniencyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LeniencyKind::Syntax(what) => write!(f, "not RFC 8259 JSON: {what}"),
            LeniencyKind::Converted {
                from,
                original,
                read_as,
            } => {
                write!(f, "{from} `{original}` is read as {read_as}")
            }
            LeniencyKind::SingleElementArray => {
                f.write_str("a one-element array is read as its element")
            }
            LeniencyKind::UnknownField { field } => {
                write!(f, "field `{field}` is not read by ThingsBoard")
            }
            LeniencyKind::EntrySkipped {
                device,
                expected,
                found,
            } => write!(
                f,
                "the entry for device `{device}` is {found}, not {expected}: ThingsBoard skips it and its data"
            ),
            LeniencyKind::NullDropped { key } => write!(f, "`{key}` is null: ThingsBoard drops it"),
            LeniencyKind::StringTypedAsNumber { key, stored } => {
                write!(f, "the string value of `{key}` is stored as {stored}")
            }
            LeniencyKind::NumberStoredAsString { key, stored } => {
                write!(
                    f,
                    "the number `{key}` does not fit a long or double and is stored as the string {stored:?}"
                )
            }
            LeniencyKind::ReservedKeyStoredAsData { key } => write!(
                f,
                "`{key}` without its partner (`ts` needs `values`) is stored as a telemetry key named `{key}`"
            ),
            LeniencyKind::KeyOverridesKeys => {
                f.write_str("both `key` and `keys`: ThingsBoard uses `key` and ignores `keys`")
            }
            LeniencyKind::RepeatedRequestKey { key } => write!(f, "key `{key}` is requested twice"),
            LeniencyKind::NullTypeIsDefault => {
                f.write_str("`type` is null and is read as the `default` profile")
            }
            LeniencyKind::DeviceTypeRefused { why } => write!(
                f,
                "no device profile can be named after this `type` ({why}): ThingsBoard cannot create a new device with it (PUBACK 0x80) and ignores it for an existing one"
            ),
            LeniencyKind::EmptyTelemetryList { device } => write!(
                f,
                "device `{device}` has an empty telemetry array: ThingsBoard connects it but never sends a PUBACK"
            ),
            LeniencyKind::NonPositiveClaimDuration { duration_ms } => write!(
                f,
                "`durationMs` {duration_ms} is not positive: the server's default claim duration (24 h) is used"
            ),
        }
    }
}
