//! `v1/gateway/claim`: open a claiming window for devices.

use crate::entries::{EntryShape, decode_devices};
use crate::error::TbAnswer;
use crate::json::ObjectWriter;
use crate::leniency::LeniencyKind;
use crate::parse::{Member, NodeKind};
use crate::read::{Ctx, Read, field};

/// `{"Device A": {"secretKey": "…", "durationMs": 60000}, …}`
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Claim {
    /// One entry per device, in wire order; device names are unique.
    pub devices: Vec<DeviceClaim>,
}

#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct DeviceClaim {
    pub device: String,
    /// `None`: ThingsBoard uses the empty string.
    pub secret_key: Option<String>,
    /// `None`: ThingsBoard uses `security.claim.duration` (24 h by default).
    pub duration_ms: Option<i64>,
}

const FAIL: TbAnswer = TbAnswer::DeviceDataInvalid;

impl Claim {
    pub(crate) fn decode(ctx: &mut Ctx, members: &[Member<'_>], at: usize) -> Read<Claim> {
        let devices = decode_devices(ctx, members, EntryShape::Object, at, |ctx, entry, trail| {
            let fields = match entry.value.kind {
                NodeKind::Object(fields) => fields,
                _ => &[],
            };
            let secret_key = match field(fields, "secretKey") {
                Some(node) => Some(ctx.string(node, &trail.key("secretKey"), FAIL)?),
                None => None,
            };
            let duration_ms = match field(fields, "durationMs") {
                Some(node) => {
                    let duration_trail = trail.key("durationMs");
                    let duration_ms = ctx.long(node, &duration_trail, FAIL)?;
                    if duration_ms <= 0 {
                        let kind = LeniencyKind::NonPositiveClaimDuration { duration_ms };
                        ctx.forgive(node.at, &duration_trail, kind)?;
                    }
                    Some(duration_ms)
                }
                None => None,
            };
            ctx.unknown_fields(fields, &["secretKey", "durationMs"], trail)?;
            Ok(DeviceClaim {
                device: entry.key.to_owned(),
                secret_key,
                duration_ms,
            })
        })?;
        Ok(Claim { devices })
    }

    pub(crate) fn encode(&self, out: &mut String) {
        let mut object = ObjectWriter::new(out);
        for device in &self.devices {
            let mut fields = ObjectWriter::new(object.key(&device.device));
            if let Some(secret_key) = &device.secret_key {
                fields.string("secretKey", secret_key);
            }
            if let Some(duration_ms) = device.duration_ms {
                fields.integer("durationMs", duration_ms);
            }
            fields.finish();
        }
        object.finish();
    }
}
