//! Which typed messages have a canonical form: those strict mode decodes back unchanged.
//!
//! The types allow more than the wire can carry (an empty device list, a device name
//! ThingsBoard refuses, a flat telemetry element with a `ts` key…). `strict_problem`
//! names the first such problem, so builders of messages (scenarios, the reference
//! gateway, fuzz targets) can tell before they send.

use crate::attribute_request::{AttributeRequest, RequestedKeys};
use crate::attributes::AttributeChange;
use crate::device::{device_name_problem, device_type_problem};
use crate::json::{Json, Object};
use crate::message::Message;
use crate::telemetry::TelemetryEntry;
use crate::value::{TypingError, tb_type};

impl Message {
    /// `None` when `decode(encode(self), Strict)` gives back `self`; otherwise why not.
    pub fn strict_problem(&self) -> Option<String> {
        match self {
            Message::Connect(m) => device(&m.device).or_else(|| {
                let device_type = m.device_type.as_deref()?;
                let why = device_type_problem(device_type)?;
                Some(format!("`type` {device_type:?}: {why} (leave it out for the default profile)"))
            }),
            Message::Disconnect(m) => device(&m.device),
            Message::Telemetry(m) => {
                let names = m.devices.iter().map(|d| d.device.as_str());
                device_map(names).or_else(|| {
                    m.devices.iter().find_map(|d| {
                        if d.entries.is_empty() {
                            return Some(format!("device `{}` has no telemetry entry", d.device));
                        }
                        d.entries.iter().find_map(entry)
                    })
                })
            }
            Message::ClientAttributes(m) => device_map(m.devices.iter().map(|d| d.device.as_str()))
                .or_else(|| m.devices.iter().find_map(|d| stored(&d.values))),
            Message::AttributeRequest(AttributeRequest::Server(r)) => device(&r.device).or_else(|| match &r.keys {
                RequestedKeys::Keys(keys) => unique(keys),
                RequestedKeys::Key(_) => None,
            }),
            Message::AttributeRequest(AttributeRequest::Doc(r)) => device(&r.device)
                .or_else(|| (r.client.is_none() && r.shared.is_none()).then(|| "neither `client` nor `shared`".into()))
                .or_else(|| r.client.as_deref().and_then(unique))
                .or_else(|| r.shared.as_deref().and_then(unique)),
            Message::RpcResponse(r) => device(&r.device),
            Message::Claim(m) => device_map(m.devices.iter().map(|d| d.device.as_str())).or_else(|| {
                m.devices.iter().find_map(|d| match d.duration_ms {
                    Some(ms) if ms <= 0 => Some(format!("claim duration {ms} is not positive")),
                    _ => None,
                })
            }),
            Message::AttributeUpdate(u) => match &u.change {
                AttributeChange::Updated(values) if looks_like_deletion(values) => {
                    Some("an update of one attribute named `deleted` holding strings reads as a deletion".into())
                }
                _ => None,
            },
            Message::AttributeResponse(_) | Message::RpcRequest(_) | Message::DeviceDisconnected(_) => None,
        }
    }
}

fn device(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("an empty device name".into());
    }
    device_name_problem(name).map(|why| format!("device name `{name}`: {why}"))
}

fn device_map<'a>(names: impl Iterator<Item = &'a str>) -> Option<String> {
    let names: Vec<&str> = names.collect();
    if names.is_empty() {
        return Some("no device entry".into());
    }
    names.iter().find_map(|n| device(n)).or_else(|| {
        let strings: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        unique(&strings).map(|_| "a device appears twice".to_owned())
    })
}

fn unique(keys: &[String]) -> Option<String> {
    let mut seen = std::collections::HashSet::new();
    keys.iter()
        .find(|k| !seen.insert(k.as_str()))
        .map(|k| format!("`{k}` appears twice"))
}

fn entry(entry: &TelemetryEntry) -> Option<String> {
    let reserved = ["ts", "values", "metadata"];
    if entry.ts.is_none()
        && let Some(key) = reserved.into_iter().find(|k| entry.values.get(k).is_some())
    {
        return Some(format!(
            "a flat telemetry element cannot carry the key `{key}`"
        ));
    }
    stored(&entry.values)
}

/// Stored values: no null (dropped), no number too large to store.
fn stored(values: &Object) -> Option<String> {
    values
        .iter()
        .find_map(|(key, value)| match (value, tb_type(value)) {
            (Json::Null, _) => Some(format!("`{key}` is null, which ThingsBoard drops")),
            (_, Err(TypingError::ExponentTooLarge)) => {
                Some(format!("`{key}` has an exponent too large to store"))
            }
            _ => None,
        })
}

fn looks_like_deletion(values: &Object) -> bool {
    values.len() == 1
        && matches!(values.get("deleted"), Some(Json::Array(items)) if items.iter().all(|i| matches!(i, Json::String(_))))
}
