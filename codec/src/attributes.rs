//! `v1/gateway/attributes`: client attributes from the gateway, and shared-attribute
//! updates and deletions from ThingsBoard.

use crate::device::{NameCheck, device_field};
use crate::entries::{EntryShape, decode_devices, stored_values};
use crate::error::TbAnswer;
use crate::json::{Object, ObjectWriter};
use crate::parse::{Member, NodeKind};
use crate::path::Trail;
use crate::read::{Ctx, Read, members, required, to_json, wrong_type};

/// `{"Device A": {"attribute": value, …}, …}`: stored as client attributes.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct ClientAttributes {
    /// One entry per device, in wire order; device names are unique.
    pub devices: Vec<DeviceAttributes>,
}

#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct DeviceAttributes {
    pub device: String,
    /// The attributes as sent (nulls, which ThingsBoard drops, are not kept).
    pub values: Object,
}

/// `{"device": …, "data": {…}}` or `{"device": …, "data": {"deleted": [..]}}`.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct AttributeUpdate {
    pub device: String,
    pub change: AttributeChange,
}

#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum AttributeChange {
    /// Shared attributes set to new values.
    Updated(Object),
    /// Shared attributes deleted, by key.
    ///
    /// The wire cannot tell this from an update of one shared attribute named `deleted`
    /// whose value is an array of strings; such an update decodes as a deletion.
    Deleted(Vec<String>),
}

impl ClientAttributes {
    pub(crate) fn decode(
        ctx: &mut Ctx,
        members: &[Member<'_>],
        at: usize,
    ) -> Read<ClientAttributes> {
        let devices = decode_devices(ctx, members, EntryShape::Object, at, |ctx, entry, trail| {
            let attributes = match entry.value.kind {
                NodeKind::Object(attributes) => attributes,
                _ => &[],
            };
            let values = stored_values(ctx, attributes, trail)?;
            Ok(DeviceAttributes {
                device: entry.key.to_owned(),
                values,
            })
        })?;
        Ok(ClientAttributes { devices })
    }

    pub(crate) fn encode(&self, out: &mut String) {
        let mut object = ObjectWriter::new(out);
        for device in &self.devices {
            ObjectWriter::new(object.key(&device.device))
                .members(&device.values)
                .finish();
        }
        object.finish();
    }
}

impl AttributeUpdate {
    pub(crate) fn decode(
        ctx: &mut Ctx,
        members: &[Member<'_>],
        at: usize,
    ) -> Read<AttributeUpdate> {
        let root = Trail::Root;
        let fail = TbAnswer::NotSentByThingsBoard;
        let device = device_field(ctx, members, at, &root, fail, NameCheck::None)?;
        let data = required(members, "data", at, &root, fail)?;
        let data_trail = root.key("data");
        let Some(data_members) = self::members(data) else {
            return Err(wrong_type(data, &data_trail, "an object", fail));
        };
        let change = match deleted_keys(data_members) {
            Some(keys) => AttributeChange::Deleted(keys),
            None => match to_json(data) {
                crate::json::Json::Object(values) => AttributeChange::Updated(values),
                _ => return Err(wrong_type(data, &data_trail, "an object", fail)),
            },
        };
        ctx.unknown_fields(members, &["device", "data"], &root)?;
        Ok(AttributeUpdate { device, change })
    }

    pub(crate) fn encode(&self, out: &mut String) {
        let mut object = ObjectWriter::new(out);
        object.string("device", &self.device);
        match &self.change {
            AttributeChange::Updated(values) => ObjectWriter::new(object.key("data"))
                .members(values)
                .finish(),
            AttributeChange::Deleted(keys) => ObjectWriter::new(object.key("data"))
                .strings("deleted", keys)
                .finish(),
        }
        object.finish();
    }
}

/// `{"deleted": ["k", …]}` and nothing else is ThingsBoard's deletion notice.
fn deleted_keys(members: &[Member<'_>]) -> Option<Vec<String>> {
    let [only] = members else { return None };
    let NodeKind::Array(items) = &only.value.kind else {
        return None;
    };
    if only.key != "deleted" {
        return None;
    }
    items
        .iter()
        .map(|item| match &item.kind {
            NodeKind::String(s) => Some((*s).to_owned()),
            _ => None,
        })
        .collect()
}
