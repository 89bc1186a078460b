//! An input and the model's predictions, written as a platform scenario
//! (`scenarios/platform/` format): each PUBLISH with the answer the model predicts, a new
//! CONNECT after each close, then what the accepted messages stored, read back through
//! REST. The fuzzer runs exactly this text, so a finding's reproducer is the scenario that
//! failed. Pure.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::json;
use tbgw_codec::{TbValue, Topic};

use super::generate::{Input, RUN};
use super::predict::{Ends, Prediction, Stored, device_names, predict, serde_device_names};
use crate::emulator::core::Again;
use crate::fuzz::action::{Action, base64_of};
use crate::mqtt::Version;

/// An input with the messages ThingsBoard answers only after its request timeout left out
/// (see [`Prediction::Late`]), and those naming a device that is not the case's.
pub fn plannable(input: &Input) -> Input {
    let actions = input
        .actions
        .iter()
        .filter(|a| match a {
            Action::Send {
                topic,
                payload,
                qos,
                ..
            } => {
                names_only_the_case_s(topic, payload)
                    && predict(topic, payload, qos.unwrap_or(1), input.version) != Prediction::Late
            }
            _ => true,
        })
        .cloned()
        .collect();
    Input {
        version: input.version,
        actions,
    }
}

/// How long a PUBACK that must not come is watched for.
const QUIET: &str = "300ms";
/// ThingsBoard's history query range (the scenario's `history: true`).
const HISTORY: std::ops::RangeInclusive<i64> = 0..=4_102_444_800_000;

/// The scenario text for this input; `id` and `requirement` head it.
pub fn scenario_text(id: &str, requirement: &str, input: &Input) -> String {
    let mut out = String::new();
    out.push_str(&format!("id: {}\n", quoted(id)));
    out.push_str(&format!("requirement: {}\n", quoted(requirement)));
    out.push_str("refs: [\"tb §0\", \"tb §3\", \"tb §11\"]\nprofile: tb\nbasis: derived\n");
    out.push_str(&format!("mqtt: [{}]\nsteps:\n", input.version.as_str()));
    out.push_str("  - connect: {}\n");
    let mut open = true;
    let mut stored = Vec::new();
    // Devices a partly refused message may have written to: their values are not checked.
    let mut tainted: BTreeSet<String> = BTreeSet::new();
    let mut unknown_writes = false;
    for action in &input.actions {
        match action {
            Action::Send {
                topic,
                payload,
                qos,
                again,
            } => {
                let qos = qos.unwrap_or(1);
                let Prediction::Answer {
                    wire,
                    stored: kept,
                    partial,
                    ..
                } = predict(topic, payload, qos, input.version)
                else {
                    continue;
                };
                if !open {
                    out.push_str("  - connect: {}\n");
                }
                // ThingsBoard keeps no state of a client's packet ids: a second delivery
                // is handled and answered as the first (and, unless the first ended the
                // session, stores its values again).
                let again = again.filter(|_| qos > 0);
                out.push_str(&publish_step(
                    topic,
                    payload,
                    qos,
                    again,
                    wire,
                    input.version,
                ));
                if again.is_some() && wire.ends == Ends::Kept {
                    stored.extend(kept.iter().cloned());
                }
                open = wire.ends == Ends::Kept;
                if partial {
                    match Topic::from_name(topic).and_then(|t| serde_device_names(t, payload)) {
                        Some(names) => tainted.extend(names),
                        None => unknown_writes = true,
                    }
                }
                stored.extend(kept);
            }
            Action::Disconnect { .. } | Action::DropConnection => {
                if open {
                    out.push_str("  - disconnect: {}\n");
                    open = false;
                }
            }
        }
    }
    if !unknown_writes {
        out.push_str(&storage_steps(&stored, &tainted));
    }
    out
}

fn publish_step(
    topic: &str,
    payload: &[u8],
    qos: u8,
    again: Option<Again>,
    wire: super::predict::WireAnswer,
    version: Version,
) -> String {
    let mut step = format!("  - publish:\n      topic: {}\n", named(&quoted(topic)));
    match std::str::from_utf8(payload) {
        Ok(text) => step.push_str(&format!("      text: {}\n", named(&quoted(text)))),
        Err(_) => {
            let bytes = replace_bytes(payload, RUN.as_bytes(), b"${run}");
            step.push_str(&format!("      base64: {}\n", base64_of(&bytes)));
        }
    }
    step.push_str(&format!("      qos: {qos}\n"));
    if let Some(again) = again {
        step.push_str(&format!("      again: {}\n", json!(again)));
    }
    let mut expect = Vec::new();
    match wire.puback {
        Some(code) if qos > 0 => expect.push(format!("puback: 0x{:02X}", code.0)),
        _ if qos > 0 || wire.ends != Ends::Kept => expect.push("puback: none".to_owned()),
        _ => {}
    }
    match (wire.ends, version) {
        (Ends::Kept, _) => {
            if wire.puback.is_none() && qos > 0 {
                expect.push(format!("within: {QUIET}"));
            }
        }
        (Ends::Disconnect(code), Version::V5) => {
            expect.push(format!("disconnect: 0x{:02X}", code.0))
        }
        (Ends::Disconnect(_) | Ends::Closed, _) => expect.push("closed: true".to_owned()),
    }
    if !expect.is_empty() {
        step.push_str(&format!("      expect: {{{}}}\n", expect.join(", ")));
    }
    step
}

/// The read-backs: each key written once (more writes leave which one survives to
/// timestamps and ordering the model does not fix), and each device's existence.
fn storage_steps(stored: &[Stored], tainted: &BTreeSet<String>) -> String {
    let mut writes: HashMap<(&str, &str, bool), usize> = HashMap::new();
    for s in stored {
        match s {
            Stored::Point { device, key, .. } => {
                *writes.entry((device, key, true)).or_default() += 1
            }
            Stored::Attribute { device, key, .. } => {
                *writes.entry((device, key, false)).or_default() += 1
            }
            Stored::Device(_) => {}
        }
    }
    let once = |device: &str, key: &str, series: bool| {
        writes.get(&(device, key, series)) == Some(&1)
            && !tainted.contains(device)
            && checkable_key(key)
    };
    let mut series: BTreeMap<&str, Vec<(String, String)>> = BTreeMap::new();
    let mut attributes: BTreeMap<&str, Vec<(String, String)>> = BTreeMap::new();
    let mut devices: BTreeSet<&str> = BTreeSet::new();
    for s in stored {
        match s {
            Stored::Point {
                device,
                key,
                ts,
                value,
            } if once(device, key, true) => {
                let Some(value) = value_pattern(value, true) else {
                    continue;
                };
                let ts = match ts {
                    Some(ts) if HISTORY.contains(ts) => ts.to_string(),
                    Some(_) => continue,
                    None => "{$type: integer}".to_owned(),
                };
                let point = format!("[{{ts: {ts}, value: {value}}}]");
                series.entry(device).or_default().push((key.clone(), point));
            }
            Stored::Attribute { device, key, value } if once(device, key, false) => {
                if let Some(value) = value_pattern(value, false) {
                    attributes
                        .entry(device)
                        .or_default()
                        .push((key.clone(), value));
                }
            }
            Stored::Device(device) => {
                devices.insert(device);
            }
            _ => {}
        }
    }
    let mut out = String::new();
    let list = |pairs: &[(String, String)]| {
        let keys: Vec<String> = pairs.iter().map(|(k, _)| quoted(k)).collect();
        let expect: Vec<String> = pairs
            .iter()
            .map(|(k, v)| format!("{}: {v}", quoted(k)))
            .collect();
        (keys.join(", "), expect.join(", "))
    };
    for (device, pairs) in &series {
        let (keys, expect) = list(pairs);
        let device = named(&quoted(device));
        out.push_str(&format!(
            "  - timeseries: {{device: {device}, keys: [{keys}], history: true, expect: {{{expect}}}}}\n"
        ));
    }
    for (device, pairs) in &attributes {
        let (keys, expect) = list(pairs);
        let device = named(&quoted(device));
        out.push_str(&format!(
            "  - attributes: {{device: {device}, scope: client, keys: [{keys}], expect: {{{expect}}}}}\n"
        ));
    }
    for device in devices {
        if !series.contains_key(device) && !attributes.contains_key(device) {
            out.push_str(&format!(
                "  - device: {{name: {}}}\n",
                named(&quoted(device))
            ));
        }
    }
    out
}

/// A key the read-back can ask for: REST takes keys as a comma-separated list whose items
/// are trimmed (the emulator's `getKeys`), and the scenario interpolates `${…}` and reads a
/// lone `$key` as an operator.
fn checkable_key(key: &str) -> bool {
    !key.is_empty()
        && key.trim() == key
        && key.chars().count() <= 64
        && !key.contains(',')
        && !key.starts_with('$')
        && !key.contains("${")
        && !key.chars().any(char::is_control)
}

/// The value as a pattern; `None` when the model does not fix how REST shows it.
fn value_pattern(value: &TbValue, series: bool) -> Option<String> {
    Some(match value {
        TbValue::Boolean(b) => b.to_string(),
        TbValue::Long(n) => n.to_string(),
        TbValue::Double(x) if x.is_finite() => float_literal(*x),
        TbValue::Double(_) => return None,
        TbValue::String(s) if s.contains("${") => return None,
        TbValue::String(s) => quoted(s),
        // Stored as JSON text; ThingsBoard's own spelling of it may differ from the codec's.
        TbValue::Json(_) if series => "{$type: string}".to_owned(),
        TbValue::Json(_) => return None,
    })
}

/// A YAML float that reads back as exactly `x`.
fn float_literal(x: f64) -> String {
    let text = format!("{x:?}");
    match text.split_once('e') {
        Some((mantissa, exponent)) if !mantissa.contains('.') => {
            format!("{mantissa}.0e{exponent}")
        }
        _ => text,
    }
}

/// A YAML double-quoted scalar that reads back as exactly `text`: everything but printable
/// ASCII escaped, so no character YAML forbids in a stream appears raw.
pub fn quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            ' '..='~' => out.push(c),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) <= 0xFFFF => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push_str(&format!("\\U{:08X}", c as u32)),
        }
    }
    out.push('"');
    out
}

/// The stand-in prefix written as the scenario's `${run}`.
fn named(text: &str) -> String {
    text.replace(RUN, "${run}")
}

fn replace_bytes(bytes: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i..].starts_with(from) {
            out.extend_from_slice(to);
            i += from.len();
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}

/// Whether every device a message names is the case's own (`${run}-…`): a message naming
/// another device is not sent (a mutation turned the name into `0`, `""` or a quoted
/// copy), since nothing would clean up what it creates on a real platform.
pub fn names_only_the_case_s(topic: &str, payload: &[u8]) -> bool {
    device_names(topic, payload)
        .iter()
        .all(|name| name.starts_with(RUN))
}

/// [`names_only_the_case_s`] for every message of the input.
pub fn names_are_the_case_s(input: &Input) -> bool {
    input.actions.iter().all(|a| match a {
        Action::Send { topic, payload, .. } => names_only_the_case_s(topic, payload),
        _ => true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::load::parse_scenario;

    fn send(topic: &str, payload: &[u8], qos: u8) -> Action {
        Action::Send {
            topic: topic.into(),
            payload: payload.to_vec(),
            qos: Some(qos),
            again: None,
        }
    }

    #[test]
    fn a_scenario_says_each_answer_reconnects_after_a_close_and_reads_back_what_was_stored() {
        let telemetry =
            format!(r#"{{"{RUN}-d0":[{{"ts":1700000000000,"values":{{"t":21.5,"s":"on"}}}}]}}"#);
        let input = Input {
            version: Version::V5,
            actions: vec![
                send("v1/gateway/telemetry", b"[]", 1),
                send("v1/gateway/telemetry", telemetry.as_bytes(), 1),
                send("v1/gateway/telemetry", b"\xff", 1),
            ],
        };
        let text = scenario_text("fuzz/x", "r", &input);
        assert!(
            text.contains("expect: {puback: 0x83, disconnect: 0x83}"),
            "{text}"
        );
        assert_eq!(text.matches("- connect: {}").count(), 2, "{text}");
        assert!(text.contains("base64: /w=="), "{text}");
        assert!(
            text.contains(r#"expect: {"t": [{ts: 1700000000000, value: 21.5}], "s": [{ts: 1700000000000, value: "on"}]}"#),
            "{text}"
        );
        assert!(text.contains(r#"device: "${run}-d0""#), "{text}");
        parse_scenario("fuzz.yaml", &text).expect("the scenario loads");
    }

    #[test]
    fn a_second_delivery_expects_the_answer_twice_and_its_values_are_not_read_back() {
        let telemetry = format!(r#"{{"{RUN}-d0":[{{"ts":1700000000000,"values":{{"t":1}}}}]}}"#);
        let mut again = send("v1/gateway/telemetry", telemetry.as_bytes(), 1);
        if let Action::Send { again: a, .. } = &mut again {
            *a = Some(Again::Dup);
        }
        let mut once = send(
            "v1/gateway/attributes",
            format!(r#"{{"{RUN}-d1":{{"a":2}}}}"#).as_bytes(),
            1,
        );
        if let Action::Send { again: a, qos, .. } = &mut once {
            // At QoS 0 there is no packet id to deliver again by: sent once.
            *a = Some(Again::SameId);
            *qos = Some(0);
        }
        let input = Input {
            version: Version::V5,
            actions: vec![again, once],
        };
        let text = scenario_text("fuzz/x", "r", &input);
        assert_eq!(text.matches("again: ").count(), 1, "{text}");
        assert!(text.contains("again: \"dup\""), "{text}");
        assert!(!text.contains("- timeseries:"), "written twice: {text}");
        assert!(text.contains("- attributes:"), "written once: {text}");
        let scenario = parse_scenario("fuzz.yaml", &text).expect("the scenario loads");
        assert!(scenario.steps.iter().any(|s| matches!(
            &s.value,
            crate::scenario::model::Step::Publish(p) if p.again == Some(Again::Dup)
        )));
    }

    #[test]
    fn quoting_survives_yaml_for_every_kind_of_character() {
        for text in [
            "plain",
            "quote \" and \\",
            "tab\tnew\nline",
            "\u{feff}bom",
            "\u{0}",
            "😀 名前 \u{202e}",
            "\u{85}",
        ] {
            let yaml = format!("v: {}", quoted(text));
            let value: std::collections::BTreeMap<String, String> =
                serde_saphyr::from_str(&yaml).expect("parses");
            assert_eq!(value["v"], text);
        }
    }

    #[test]
    fn floats_read_back_as_floats() {
        for x in [5.0, 0.1, 1e300, -2.5e-8] {
            let value: f64 = serde_saphyr::from_str(&float_literal(x)).expect("parses");
            assert_eq!(value, x);
            assert!(float_literal(x).contains('.'));
        }
    }
}
