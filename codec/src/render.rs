//! Human-readable views of decoded messages, for the `tbgw decode` command and reviews.

use std::fmt::Write as _;

use crate::attribute_request::{AttributeRequest, RequestedKeys, ResponseValues};
use crate::attributes::AttributeChange;
use crate::json::{Json, Object};
use crate::message::{Decoded, Message};
use crate::telemetry::TelemetryEntry;
use crate::value::{TbValue, tb_type};

/// A multi-line description: the message, field by field, then the leniencies applied.
pub fn render_decoded(decoded: &Decoded) -> String {
    let message = &decoded.message;
    let mut out = format!(
        "{} ({}, {})\n",
        kind_name(message),
        message.topic(),
        message.direction()
    );
    render_message(message, &mut out);
    if decoded.leniencies.is_empty() {
        out.push_str("leniencies: none\n");
    } else {
        let _ = writeln!(out, "leniencies ({}):", decoded.leniencies.len());
        for leniency in &decoded.leniencies {
            let _ = writeln!(out, "  {leniency}");
        }
    }
    if !decoded.acknowledged() {
        out.push_str("ThingsBoard never sends a PUBACK for this message\n");
    }
    out
}

/// The name of the message kind.
pub fn kind_name(message: &Message) -> &'static str {
    match message {
        Message::Connect(_) => "device connect",
        Message::Disconnect(_) => "device disconnect",
        Message::Telemetry(_) => "telemetry",
        Message::ClientAttributes(_) => "client attributes",
        Message::AttributeRequest(AttributeRequest::Server(_)) => "attribute request (server form)",
        Message::AttributeRequest(AttributeRequest::Doc(_)) => {
            "attribute request (public doc form)"
        }
        Message::RpcResponse(_) => "RPC reply",
        Message::Claim(_) => "claim",
        Message::AttributeResponse(_) => "attribute response",
        Message::AttributeUpdate(_) => "shared-attribute notice",
        Message::RpcRequest(_) => "RPC request",
        Message::DeviceDisconnected(_) => "device disconnected notice",
    }
}

fn render_message(message: &Message, out: &mut String) {
    let mut line = |text: String| {
        out.push_str("  ");
        out.push_str(&text);
        out.push('\n');
    };
    match message {
        Message::Connect(m) => {
            line(format!("device: {:?}", m.device));
            line(match &m.device_type {
                Some(t) => format!("type:   {t:?}"),
                None => "type:   (none: the `default` profile)".into(),
            });
        }
        Message::Disconnect(m) => line(format!("device: {:?}", m.device)),
        Message::Telemetry(m) => {
            for device in &m.devices {
                line(format!(
                    "device {:?}: {} entr{}",
                    device.device,
                    device.entries.len(),
                    plural_y(device.entries.len())
                ));
                for entry in &device.entries {
                    line(format!("  {}", entry_line(entry)));
                }
            }
        }
        Message::ClientAttributes(m) => {
            for device in &m.devices {
                line(format!(
                    "device {:?}: {}",
                    device.device,
                    typed_values(&device.values)
                ));
            }
        }
        Message::AttributeRequest(AttributeRequest::Server(r)) => {
            line(format!("id:     {}", r.id));
            line(format!("device: {:?}", r.device));
            line(format!(
                "scope:  {}",
                if r.client { "client" } else { "shared" }
            ));
            line(match &r.keys {
                RequestedKeys::Key(k) => format!("key:    {k:?} (the answer carries `value`)"),
                RequestedKeys::Keys(keys) if keys.is_empty() => {
                    "keys:   [] (every client and shared attribute)".into()
                }
                RequestedKeys::Keys(keys) => format!("keys:   {keys:?}"),
            });
        }
        Message::AttributeRequest(AttributeRequest::Doc(r)) => {
            line(format!("id:     {}", r.id));
            line(format!("device: {:?}", r.device));
            line(format!(
                "client: {:?}",
                r.client.as_deref().unwrap_or_default()
            ));
            line(format!(
                "shared: {:?}",
                r.shared.as_deref().unwrap_or_default()
            ));
            line("ThingsBoard 4.3 does not accept this form: decode in thingsboard mode to see its answer".into());
        }
        Message::RpcResponse(r) => {
            line(format!("device: {:?}", r.device));
            line(format!("id:     {}", r.id));
            line(format!("data:   {}", r.data));
            if r.data_is_json_text() {
                line("note:   `data` is JSON text inside a string; the REST caller gets a string, not the object".into());
            }
        }
        Message::Claim(m) => {
            for claim in &m.devices {
                let key = claim
                    .secret_key
                    .as_deref()
                    .map_or("\"\" (default)".to_owned(), |k| format!("{k:?}"));
                let duration = claim
                    .duration_ms
                    .map_or("the server default".to_owned(), |d| format!("{d} ms"));
                line(format!(
                    "device {:?}: secret key {key}, duration {duration}",
                    claim.device
                ));
            }
        }
        Message::AttributeResponse(r) => {
            line(format!("id:     {}", r.id));
            line(format!("device: {:?}", r.device));
            line(match &r.values {
                ResponseValues::Nothing => "values: none found".into(),
                ResponseValues::Value(v) => format!("value:  {v}"),
                ResponseValues::Values(v) => format!("values: {}", Json::Object(v.clone())),
            });
        }
        Message::AttributeUpdate(u) => {
            line(format!("device:  {:?}", u.device));
            line(match &u.change {
                AttributeChange::Updated(values) => {
                    format!("updated: {}", Json::Object(values.clone()))
                }
                AttributeChange::Deleted(keys) => format!("deleted: {keys:?}"),
            });
        }
        Message::RpcRequest(r) => {
            line(format!("device: {:?}", r.device));
            line(format!("id:     {}", r.id));
            line(format!("method: {:?}", r.method));
            line(format!("params: {}", r.params));
        }
        Message::DeviceDisconnected(d) => {
            line(format!("device: {:?}", d.device));
            line(format!("reason: {}", d.reason));
        }
    }
}

fn plural_y(n: usize) -> &'static str {
    if n == 1 { "y" } else { "ies" }
}

fn entry_line(entry: &TelemetryEntry) -> String {
    let when = match entry.ts {
        Some(ts) => format!("ts {ts}"),
        None => "server time".to_owned(),
    };
    let mut text = format!("{when}: {}", typed_values(&entry.values));
    if let Some(m) = &entry.metadata {
        let _ = write!(
            text,
            " [metadata: connector {:?}, receivedTs {}, publishedTs {}]",
            m.connector, m.received_ts, m.published_ts
        );
    }
    text
}

/// `temperature = 42 (long), humidity = "80" (long 80)`
fn typed_values(values: &Object) -> String {
    if values.is_empty() {
        return "(no values)".into();
    }
    let parts: Vec<String> = values
        .iter()
        .map(|(key, value)| {
            let stored = match tb_type(value) {
                Ok(Some(stored)) => stored_label(value, &stored),
                Ok(None) => "dropped".to_owned(),
                Err(_) => "not storable".to_owned(),
            };
            format!("{key} = {value} ({stored})")
        })
        .collect();
    parts.join(", ")
}

/// The stored type alone when the value reads as sent; the stored value too when it changed.
fn stored_label(sent: &Json, stored: &TbValue) -> String {
    let as_sent = match (sent, stored) {
        (Json::String(_), TbValue::String(_))
        | (Json::Bool(_) | Json::Object(_) | Json::Array(_), _) => true,
        (Json::Number(n), TbValue::Long(l)) => n.as_str() == l.to_string(),
        (Json::Number(n), TbValue::Double(_)) => {
            n.as_str().contains('.') && !n.as_str().contains(['e', 'E'])
        }
        _ => false,
    };
    if as_sent {
        stored.type_name().to_owned()
    } else {
        stored.to_string()
    }
}
