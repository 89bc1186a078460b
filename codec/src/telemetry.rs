//! `v1/gateway/telemetry`: time series for one or more devices.

use crate::entries::{EntryShape, decode_devices, stored_values};
use crate::error::{ErrorKind, TbAnswer};
use crate::json::{Object, ObjectWriter};
use crate::leniency::LeniencyKind;
use crate::parse::{Member, Node, NodeKind};
use crate::path::Trail;
use crate::read::{Ctx, Failure, Read, field, members, wrong_type};

/// `{"Device A": [ {"ts": …, "values": {…}} | {k: v, …} ], …}`
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Telemetry {
    /// One entry per device, in wire order; device names are unique.
    pub devices: Vec<DeviceTelemetry>,
}

#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct DeviceTelemetry {
    pub device: String,
    pub entries: Vec<TelemetryEntry>,
}

/// One element of a device's telemetry array.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct TelemetryEntry {
    /// `Some` for the `{"ts", "values"}` form; `None` for a flat object stamped with server time.
    pub ts: Option<i64>,
    /// The data points, as sent (nulls, which ThingsBoard drops, are not kept).
    pub values: Object,
    /// Gateway latency metadata (thingsboard-gateway's debug mode), removed before storage.
    pub metadata: Option<Metadata>,
}

/// `"metadata": {"connector", "receivedTs", "publishedTs"}`; ThingsBoard requires all three.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Metadata {
    pub connector: String,
    pub received_ts: i64,
    pub published_ts: i64,
}

const FAIL: TbAnswer = TbAnswer::DeviceDataInvalid;

impl Telemetry {
    pub(crate) fn decode(ctx: &mut Ctx, members: &[Member<'_>], at: usize) -> Read<Telemetry> {
        let devices = decode_devices(ctx, members, EntryShape::Array, at, |ctx, entry, trail| {
            let items = match entry.value.kind {
                NodeKind::Array(items) => items,
                _ => &[],
            };
            if items.is_empty() {
                let kind = LeniencyKind::EmptyTelemetryList {
                    device: entry.key.to_owned(),
                };
                ctx.forgive(entry.value.at, trail, kind)?;
            }
            let mut entries = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                entries.push(TelemetryEntry::decode(ctx, item, &trail.index(i))?);
            }
            Ok(DeviceTelemetry {
                device: entry.key.to_owned(),
                entries,
            })
        })?;
        Ok(Telemetry { devices })
    }

    pub(crate) fn encode(&self, out: &mut String) {
        let mut object = ObjectWriter::new(out);
        for device in &self.devices {
            let out = object.key(&device.device);
            out.push('[');
            for (i, entry) in device.entries.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                entry.encode(out);
            }
            out.push(']');
        }
        object.finish();
    }
}

impl TelemetryEntry {
    fn decode(ctx: &mut Ctx, node: &Node<'_>, trail: &Trail<'_>) -> Read<TelemetryEntry> {
        let Some(members) = members(node) else {
            return Err(wrong_type(node, trail, "an object", FAIL));
        };
        // ThingsBoard removes `metadata` before it looks at the rest.
        let metadata = match field(members, "metadata") {
            Some(node) => Some(Metadata::decode(ctx, node, &trail.key("metadata"))?),
            None => None,
        };
        match (field(members, "ts"), field(members, "values")) {
            (Some(ts), Some(values)) => {
                let ts = ctx.long(ts, &trail.key("ts"), FAIL)?;
                let values_trail = trail.key("values");
                let Some(value_members) = self::members(values) else {
                    return Err(wrong_type(values, &values_trail, "an object", FAIL));
                };
                let values = stored_values(ctx, value_members, &values_trail)?;
                ctx.unknown_fields(members, &["ts", "values", "metadata"], trail)?;
                Ok(TelemetryEntry {
                    ts: Some(ts),
                    values,
                    metadata,
                })
            }
            _ => {
                let data = || members.iter().filter(|m| m.key != "metadata");
                for member in data() {
                    if let Some(key) = ["ts", "values"].into_iter().find(|k| member.key == *k) {
                        ctx.forgive(
                            member.key_at,
                            &trail.key(key),
                            LeniencyKind::ReservedKeyStoredAsData { key },
                        )?;
                    }
                }
                let values = stored_values(ctx, data(), trail)?;
                Ok(TelemetryEntry {
                    ts: None,
                    values,
                    metadata,
                })
            }
        }
    }

    fn encode(&self, out: &mut String) {
        let mut object = ObjectWriter::new(out);
        match self.ts {
            Some(ts) => {
                object.integer("ts", ts);
                ObjectWriter::new(object.key("values"))
                    .members(&self.values)
                    .finish();
            }
            None => {
                object.members(&self.values);
            }
        }
        if let Some(metadata) = &self.metadata {
            metadata.encode(object.key("metadata"));
        }
        object.finish();
    }
}

impl Metadata {
    fn decode(ctx: &mut Ctx, node: &Node<'_>, trail: &Trail<'_>) -> Read<Metadata> {
        let Some(members) = members(node) else {
            return Err(wrong_type(
                node,
                trail,
                "an object with connector, receivedTs and publishedTs",
                FAIL,
            ));
        };
        let present = |name: &'static str| match field(members, name) {
            Some(Node {
                kind: NodeKind::Null,
                ..
            })
            | None => Err(Failure::new(
                node.at,
                trail,
                ErrorKind::MissingField { field: name },
                FAIL,
            )),
            Some(value) => Ok(value),
        };
        let connector = ctx.string(present("connector")?, &trail.key("connector"), FAIL)?;
        let received_ts = ctx.long(present("receivedTs")?, &trail.key("receivedTs"), FAIL)?;
        let published_ts = ctx.long(present("publishedTs")?, &trail.key("publishedTs"), FAIL)?;
        ctx.unknown_fields(members, &["connector", "receivedTs", "publishedTs"], trail)?;
        Ok(Metadata {
            connector,
            received_ts,
            published_ts,
        })
    }

    fn encode(&self, out: &mut String) {
        ObjectWriter::new(out)
            .string("connector", &self.connector)
            .integer("receivedTs", self.received_ts)
            .integer("publishedTs", self.published_ts)
            .finish();
    }
}
