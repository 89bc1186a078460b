//! `v1/gateway/connect` and `v1/gateway/disconnect`: devices coming and going,
//! plus the MQTT 5 notice ThingsBoard sends when it drops a device.

use crate::error::{ErrorKind, TbAnswer};
use crate::json::ObjectWriter;
use crate::leniency::LeniencyKind;
use crate::parse::{Member, Node, NodeKind};
use crate::path::Trail;
use crate::read::{Ctx, Failure, Read, field, required};
use crate::reason::ReasonCode;

/// `v1/gateway/connect`: the device is behind the gateway and ready for updates and RPCs.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Connect {
    pub device: String,
    /// The device profile name; `None` means ThingsBoard's `default` profile.
    pub device_type: Option<String>,
}

/// `v1/gateway/disconnect` from the gateway: stop routing updates and RPCs for the device.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Disconnect {
    pub device: String,
}

/// `v1/gateway/disconnect` from ThingsBoard (MQTT 5 only, not in the public doc):
/// it dropped a device, with the reason (150 rate limit, 128 error, 129 bad packet id).
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct DeviceDisconnected {
    pub device: String,
    pub reason: ReasonCode,
}

/// The longest device name ThingsBoard stores (`Device.name`, `@Length` 255, counted in UTF-16 units).
pub const MAX_DEVICE_NAME: usize = 255;

/// Why ThingsBoard would refuse to create a device with this name, if it would.
pub fn device_name_problem(name: &str) -> Option<&'static str> {
    entity_name_problem(name)
}

/// Why ThingsBoard would refuse to create a device profile named `type`, if it would
/// (`DeviceProfile.name` carries the same validation as `Device.name`).
pub fn device_type_problem(device_type: &str) -> Option<&'static str> {
    entity_name_problem(device_type)
}

/// `validateString` (not blank, no 0x00), `@Length(max = 255)` in UTF-16 units, `@NoXss`.
fn entity_name_problem(name: &str) -> Option<&'static str> {
    if name.trim().is_empty() {
        return Some("it is empty or blank");
    }
    if name.contains('\0') {
        return Some("it contains the 0x00 character");
    }
    // A UTF-16 unit needs at least one UTF-8 byte, so short names need no counting.
    if name.len() > MAX_DEVICE_NAME && name.encode_utf16().count() > MAX_DEVICE_NAME {
        return Some("it is longer than 255 characters");
    }
    if looks_like_markup(name) {
        return Some("it looks like HTML or a `{{…}}` template (@NoXss validation)");
    }
    None
}

/// ThingsBoard's `@NoXss` refuses a `{{…}}` template anywhere (even across lines) and
/// whatever its HTML scanner (OWASP AntiSamy) reads as an element, a processing
/// instruction or CDATA: `<` followed by a letter, `<?`, `<![CDATA[`. A stray end tag
/// (`</b>`) and a comment are dropped without an error, so they pass.
fn looks_like_markup(name: &str) -> bool {
    if !name.bytes().any(|b| b == b'<' || b == b'{') {
        return false;
    }
    let template = name
        .find("{{")
        .is_some_and(|open| name[open + 2..].contains("}}"));
    let tag = name.match_indices('<').any(|(i, _)| {
        let rest = &name[i + 1..];
        rest.starts_with(|c: char| c.is_ascii_alphabetic() || c == '?')
            || rest.starts_with("![CDATA[")
    });
    template || tag
}

/// How ThingsBoard checks the device name of a message.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum NameCheck {
    /// Connect: an empty name fails in the handler (`checkDeviceName`); a name it cannot
    /// store fails at device creation with 0x80.
    Handler,
    /// Disconnect: an empty name fails in the handler too, but disconnect never creates a
    /// device, so any other name is acknowledged (§11.1 C4).
    HandlerOnly,
    /// Every other gateway topic: the name goes straight to get-or-create, so an empty
    /// name too fails there, with this code (0x80; 0x83 for attribute requests).
    Creation(ReasonCode),
    /// Messages ThingsBoard writes: nothing to check.
    None,
}

/// Checks a device name the way ThingsBoard's handler and device creation would.
pub(crate) fn check_device_name(
    name: &str,
    at: usize,
    trail: &Trail<'_>,
    check: NameCheck,
) -> Read<()> {
    let refused = match check {
        NameCheck::None => return Ok(()),
        NameCheck::Handler | NameCheck::HandlerOnly if name.is_empty() => {
            return Err(Failure::new(
                at,
                trail,
                ErrorKind::EmptyDeviceName,
                TbAnswer::HandlerFailed,
            ));
        }
        NameCheck::HandlerOnly => return Ok(()),
        NameCheck::Handler => ReasonCode::UNSPECIFIED_ERROR,
        NameCheck::Creation(refused) => refused,
    };
    let why = if name.is_empty() {
        Some("it is empty")
    } else {
        device_name_problem(name)
    };
    match why {
        None => Ok(()),
        Some(why) => {
            let kind = ErrorKind::DeviceNameRefused { why };
            Err(Failure::new(
                at,
                trail,
                kind,
                TbAnswer::DeviceInvalid(refused),
            ))
        }
    }
}

/// The `device` field of connect, disconnect, attribute requests and RPC replies.
pub(crate) fn device_field(
    ctx: &mut Ctx,
    members: &[Member<'_>],
    at: usize,
    trail: &Trail<'_>,
    fail: TbAnswer,
    check: NameCheck,
) -> Read<String> {
    let node = required(members, "device", at, trail, fail)?;
    let device_trail = trail.key("device");
    let device = ctx.string(node, &device_trail, fail)?;
    check_device_name(&device, node.at, &device_trail, check)?;
    Ok(device)
}

impl Connect {
    pub(crate) fn decode(ctx: &mut Ctx, members: &[Member<'_>], at: usize) -> Read<Connect> {
        let root = Trail::Root;
        let fail = TbAnswer::HandlerFailed;
        let device = device_field(ctx, members, at, &root, fail, NameCheck::Handler)?;
        let device_type = match field(members, "type") {
            None => None,
            Some(Node {
                kind: NodeKind::Null,
                at,
            }) => {
                ctx.forgive(*at, &root.key("type"), LeniencyKind::NullTypeIsDefault)?;
                None
            }
            Some(node) => {
                let device_type = ctx.string(node, &root.key("type"), fail)?;
                if let Some(why) = device_type_problem(&device_type) {
                    let kind = LeniencyKind::DeviceTypeRefused { why };
                    ctx.forgive(node.at, &root.key("type"), kind)?;
                }
                Some(device_type)
            }
        };
        ctx.unknown_fields(members, &["device", "type"], &root)?;
        Ok(Connect {
            device,
            device_type,
        })
    }

    pub(crate) fn encode(&self, out: &mut String) {
        let mut object = ObjectWriter::new(out);
        object.string("device", &self.device);
        if let Some(device_type) = &self.device_type {
            object.string("type", device_type);
        }
        object.finish();
    }
}

impl Disconnect {
    pub(crate) fn decode(ctx: &mut Ctx, members: &[Member<'_>], at: usize) -> Read<Disconnect> {
        let root = Trail::Root;
        let fail = TbAnswer::HandlerFailed;
        let device = device_field(ctx, members, at, &root, fail, NameCheck::HandlerOnly)?;
        ctx.unknown_fields(members, &["device"], &root)?;
        Ok(Disconnect { device })
    }

    pub(crate) fn encode(&self, out: &mut String) {
        ObjectWriter::new(out)
            .string("device", &self.device)
            .finish();
    }
}

impl DeviceDisconnected {
    pub(crate) fn decode(
        ctx: &mut Ctx,
        members: &[Member<'_>],
        at: usize,
    ) -> Read<DeviceDisconnected> {
        let root = Trail::Root;
        let fail = TbAnswer::NotSentByThingsBoard;
        let device = device_field(ctx, members, at, &root, fail, NameCheck::None)?;
        let node = required(members, "reason", at, &root, fail)?;
        let reason_trail = root.key("reason");
        let reason = ctx.int(node, &reason_trail, fail)?;
        let reason = u8::try_from(reason).map_err(|_| {
            let found = format!("the number {reason}");
            Failure::new(
                node.at,
                &reason_trail,
                ErrorKind::WrongType {
                    expected: "a reason code from 0 to 255",
                    found,
                },
                fail,
            )
        })?;
        ctx.unknown_fields(members, &["device", "reason"], &root)?;
        Ok(DeviceDisconnected {
            device,
            reason: ReasonCode(reason),
        })
    }

    pub(crate) fn encode(&self, out: &mut String) {
        ObjectWriter::new(out)
            .string("device", &self.device)
            .integer("reason", i64::from(self.reason.0))
            .finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Direction, Message, Mode, Topic, decode};

    fn thingsboard_reads(topic: Topic, payload: &str) -> Result<Message, TbAnswer> {
        decode(
            topic,
            Direction::GatewayToPlatform,
            payload.as_bytes(),
            Mode::ThingsBoard,
        )
        .map(|decoded| decoded.message)
        .map_err(|error| error.thingsboard)
    }

    #[test]
    fn disconnect_of_a_name_that_cannot_be_stored_is_accepted() {
        let long = format!(r#"{{"device":"{}"}}"#, "x".repeat(256));
        for payload in [
            r#"{"device":"<b>x</b>"}"#,
            r#"{"device":"   "}"#,
            long.as_str(),
        ] {
            let read = thingsboard_reads(Topic::Disconnect, payload);
            assert!(
                matches!(read, Ok(Message::Disconnect(_))),
                "{payload}: {read:?}"
            );
        }
        let empty = thingsboard_reads(Topic::Disconnect, r#"{"device":""}"#);
        assert_eq!(empty.err(), Some(TbAnswer::HandlerFailed));
        let connect = thingsboard_reads(Topic::Connect, r#"{"device":"<b>x</b>"}"#);
        assert_eq!(
            connect.err(),
            Some(TbAnswer::DeviceInvalid(ReasonCode::UNSPECIFIED_ERROR))
        );
    }

    #[test]
    fn names_thingsboard_cannot_store_are_named() {
        assert_eq!(device_name_problem("Device A"), None);
        assert_eq!(device_name_problem("1 < 2"), None);
        assert_eq!(device_name_problem("a>b &amp; a</b> <!-- x -->"), None);
        assert!(device_name_problem("<b>x</b>").is_some());
        assert!(device_name_problem("a<b").is_some());
        assert!(device_name_problem("<?xml?>").is_some());
        assert!(device_name_problem("x<![CDATA[y]]>").is_some());
        assert!(device_name_problem("{{a\nb}}").is_some());
        assert!(device_name_problem("").is_some());
        assert!(device_name_problem("   ").is_some());
        assert!(device_name_problem("a\0b").is_some());
        assert!(device_name_problem("{{7*7}}").is_some());
        assert!(device_name_problem(&"x".repeat(256)).is_some());
        assert_eq!(device_name_problem(&"x".repeat(255)), None);
        // One emoji is two UTF-16 units, as Java counts them.
        assert!(device_name_problem(&"😀".repeat(128)).is_some());
    }
}
