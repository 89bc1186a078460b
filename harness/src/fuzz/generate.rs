//! Inputs for `fuzz gateway`: a well-formed platform→gateway message built from the codec's
//! typed messages (or a device-API message of the gateway's own device), then mutated at the
//! JSON level (a field's type swapped, boundary numbers, long, deep, unicode values, a field
//! removed or added), at the byte level (cut short, a BOM, invalid UTF-8, a duplicate key,
//! not JSON at all, near ThingsBoard's 64 KiB) and at the MQTT level (QoS, a second delivery,
//! a DISCONNECT, a dropped connection), in short sequences.
//!
//! Pure and seeded: the inputs depend only on the seed and on what they are built from.
//! Never a gateway-level method (`gateway_*`: it acts on the gateway's host) and never a key
//! of the gateway's remote configuration: only the keys and methods listed here are sent.

use rand::seq::IndexedRandom;
use rand::{RngExt, SeedableRng};
use rand_xorshift::XorShiftRng;
use serde_json::{Map, Value, json};
use tbgw_codec::{
    AttributeChange, AttributeResponse, AttributeUpdate, DeviceDisconnected, Json, Message,
    ReasonCode, ResponseValues, RpcRequest,
};

use super::action::Action;
use crate::emulator::core::Again;

/// What the inputs are built for.
#[derive(Clone, Debug)]
pub struct Context {
    /// Devices the gateway announced (at least one).
    pub devices: Vec<String>,
    /// The gateway speaks MQTT 5 (the device-disconnect notice and DISCONNECT reasons).
    pub v5: bool,
    /// The method the gateway's devices answer (`--rpc-method`).
    pub rpc_method: String,
}

/// A device no gateway announced: a message for it is a sequence of its own.
pub const NEVER_ANNOUNCED: &str = "tbgw-fuzz-never-announced";

/// ThingsBoard's largest MQTT payload by default (`netty.max_payload_size`, 65 536 bytes).
pub const MAX_PAYLOAD: usize = 65_536;

/// Methods sent to devices; none acts on the gateway's host.
const METHODS: [&str; 4] = ["setValue", "getValue", "tbgwFuzz", "reboot_device"];
/// Attribute keys sent; none is one of the gateway's configuration keys.
const KEYS: [&str; 4] = ["tbgwFuzz", "targetTemperature", "mode", "deleted"];
/// MQTT 5 DISCONNECT reasons a server may send.
const DISCONNECT_REASONS: [u8; 14] = [
    0x00, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8B, 0x8D, 0x8E, 0x93, 0x97, 0x98, 0x9C,
];

/// The first RPC and request id the inputs use.
const FIRST_ID: i32 = 100_000;

pub struct Generator {
    rng: XorShiftRng,
    /// RPC and request ids count up like ThingsBoard's, so most are plausible.
    next_id: i32,
}

/// JSON the serializer cannot write (a number beyond f64, deep nesting, a lone surrogate):
/// held in the tree as a marker string and substituted into the text.
struct Raw(Vec<String>);

const RAW_MARK: &str = "\u{1}tbgw-raw-";

impl Raw {
    fn hold(&mut self, text: String) -> Value {
        self.0.push(text);
        Value::String(format!("{RAW_MARK}{}\u{1}", self.0.len() - 1))
    }

    fn substitute(&self, mut text: String) -> String {
        for (i, raw) in self.0.iter().enumerate() {
            let marker = serde_json::to_string(&format!("{RAW_MARK}{i}\u{1}")).unwrap_or_default();
            text = text.replacen(&marker, raw, 1);
        }
        text
    }
}

impl Generator {
    pub fn new(seed: u64) -> Generator {
        Generator {
            rng: XorShiftRng::seed_from_u64(seed),
            // Far above the ids ThingsBoard gives the probes, so the two never meet.
            next_id: FIRST_ID,
        }
    }

    /// Whether the next input is a corpus input mutated (else a fresh one).
    pub fn input_from_corpus(&mut self) -> bool {
        self.chance(0.5)
    }

    /// An index below `n` (a corpus input to mutate).
    pub fn index(&mut self, n: usize) -> usize {
        self.below(n)
    }

    fn chance(&mut self, p: f64) -> bool {
        self.rng.random_bool(p)
    }

    fn below(&mut self, n: usize) -> usize {
        self.rng.random_range(0..n.max(1))
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        // The lists here are constants, never empty.
        &items[self.below(items.len())]
    }

    fn device(&mut self, ctx: &Context) -> String {
        if self.chance(0.08) || ctx.devices.is_empty() {
            return NEVER_ANNOUNCED.to_owned();
        }
        ctx.devices
            .choose(&mut self.rng)
            .cloned()
            .unwrap_or_else(|| NEVER_ANNOUNCED.to_owned())
    }

    fn id(&mut self) -> i32 {
        self.next_id = self.next_id.wrapping_add(1);
        self.next_id
    }

    /// A fresh input of one to three actions.
    pub fn input(&mut self, ctx: &Context) -> Vec<Action> {
        let count = match self.below(10) {
            0 => 3,
            1 | 2 => 2,
            _ => 1,
        };
        let mut actions = Vec::with_capacity(count);
        for _ in 0..count {
            let action = self.action(ctx);
            // Two quick messages of the same kind: the second a variation of the first.
            if let Some(Action::Send { topic, payload, .. }) = actions.last()
                && self.chance(0.3)
            {
                let (topic, payload) = (topic.clone(), payload.clone());
                actions.push(self.varied(topic, &payload));
            } else {
                actions.push(action);
            }
        }
        actions
    }

    /// A corpus input, changed a little: one payload mutated again, or an action added or
    /// left out.
    pub fn mutate(&mut self, base: &[Action], ctx: &Context) -> Vec<Action> {
        let mut actions = base.to_vec();
        match self.below(6) {
            0 if actions.len() > 1 => {
                let at = self.below(actions.len());
                actions.remove(at);
            }
            1 if actions.len() < 4 => {
                let at = self.below(actions.len() + 1);
                let action = self.action(ctx);
                actions.insert(at, action);
            }
            _ => {
                let sends: Vec<usize> = (0..actions.len())
                    .filter(|i| matches!(actions[*i], Action::Send { .. }))
                    .collect();
                match sends.choose(&mut self.rng) {
                    Some(&at) => {
                        if let Action::Send { topic, payload, .. } = &actions[at] {
                            let (topic, payload) = (topic.clone(), payload.clone());
                            actions[at] = self.varied(topic, &payload);
                        }
                    }
                    None => actions.push(self.action(ctx)),
                }
            }
        }
        actions
    }

    fn action(&mut self, ctx: &Context) -> Action {
        // Rare: each costs the gateway's reconnect back-off (a second or more).
        let roll = self.below(100);
        if roll < 1 {
            return Action::DropConnection;
        }
        if roll < 2 {
            let reason = *self.pick(&DISCONNECT_REASONS);
            return if ctx.v5 {
                Action::Disconnect { reason }
            } else {
                Action::DropConnection
            };
        }
        let (topic, value) = self.message(ctx);
        self.send(topic, value)
    }

    /// A payload mutated again, on the same topic.
    fn varied(&mut self, topic: String, payload: &[u8]) -> Action {
        match serde_json::from_slice::<Value>(payload) {
            Ok(value) if self.chance(0.8) => self.send(topic, value),
            _ => {
                let mut bytes = payload.to_vec();
                self.byte_mutation(&mut bytes, &Value::Null);
                self.delivery(topic, bytes)
            }
        }
    }

    fn send(&mut self, topic: String, mut value: Value) -> Action {
        let mut raw = Raw(Vec::new());
        let rounds = match self.below(10) {
            0 => 0,
            1..=6 => 1,
            7 | 8 => 2,
            _ => 3,
        };
        for _ in 0..rounds {
            self.json_mutation(&mut value, &mut raw);
        }
        let original = value.clone();
        let text = raw.substitute(value.to_string());
        let mut bytes = text.into_bytes();
        if self.chance(0.25) {
            self.byte_mutation(&mut bytes, &original);
        }
        bytes.truncate(MAX_PAYLOAD);
        if crate::gateway::steps::refuse_host_methods(&bytes).is_err() {
            // A mutation never makes a method up, but a corpus file might hold one.
            bytes = b"{}".to_vec();
        }
        self.delivery(topic, bytes)
    }

    fn delivery(&mut self, topic: String, payload: Vec<u8>) -> Action {
        let qos = match self.below(10) {
            0 => Some(0),
            1 => Some(1),
            _ => None,
        };
        let again = match self.below(20) {
            0 => Some(Again::Dup),
            1 => Some(Again::SameId),
            _ => None,
        };
        Action::Send {
            topic,
            payload,
            qos,
            again,
        }
    }

    /// A well-formed message: the topic and its JSON.
    fn message(&mut self, ctx: &Context) -> (String, Value) {
        let device = self.device(ctx);
        let typed = match self.below(12) {
            0..=3 => Some(Message::RpcRequest(RpcRequest {
                device,
                id: self.id(),
                method: if self.chance(0.5) {
                    ctx.rpc_method.clone()
                } else {
                    (*self.pick(&METHODS)).to_owned()
                },
                params: self.params(),
            })),
            4 | 5 => Some(Message::AttributeUpdate(AttributeUpdate {
                device,
                change: AttributeChange::Updated(self.attributes()),
            })),
            6 => Some(Message::AttributeUpdate(AttributeUpdate {
                device,
                change: AttributeChange::Deleted(vec![(*self.pick(&KEYS)).to_owned()]),
            })),
            7 => Some(Message::AttributeResponse(AttributeResponse {
                id: self.id(),
                device,
                values: match self.below(3) {
                    0 => ResponseValues::Nothing,
                    1 => ResponseValues::Value(self.params()),
                    _ => ResponseValues::Values(self.attributes()),
                },
            })),
            8 if ctx.v5 => Some(Message::DeviceDisconnected(DeviceDisconnected {
                device,
                reason: ReasonCode(*self.pick(&DISCONNECT_REASONS)),
            })),
            _ => None,
        };
        if let Some(message) = typed {
            let topic = message.topic().to_string();
            let value = serde_json::from_str(&message.encode()).unwrap_or(Value::Null);
            return (topic, value);
        }
        self.device_api_message(ctx)
    }

    /// The gateway's own device: an RPC to it, a shared-attribute update of it, an attribute
    /// response, or a topic it never subscribed to.
    fn device_api_message(&mut self, ctx: &Context) -> (String, Value) {
        let id = self.id();
        let key = *self.pick(&KEYS);
        match self.below(4) {
            0 => (
                format!("v1/devices/me/rpc/request/{id}"),
                json!({"method": *self.pick(&METHODS), "params": json_of(&self.params())}),
            ),
            1 => (
                "v1/devices/me/attributes".to_owned(),
                json!({key: json_of(&self.params())}),
            ),
            2 => (
                format!("v1/devices/me/attributes/response/{id}"),
                json!({"client": {key: 1}, "shared": {key: json_of(&self.params())}}),
            ),
            _ => {
                let topic = *self.pick(&[
                    "v1/gateway/unknown",
                    "v1/gateway/rpc/extra",
                    "v1/devices/me/rpc/request",
                    "v1/gateway",
                    "tbgw/fuzz/unsubscribed",
                ]);
                let device = self.device(ctx);
                (topic.to_owned(), json!({"device": device, "data": {}}))
            }
        }
    }

    fn params(&mut self) -> Json {
        let text = match self.below(6) {
            0 => "{}".to_owned(),
            1 => "true".to_owned(),
            2 => format!("{}", self.rng.random_range(-1000i64..1000)),
            3 => "\"on\"".to_owned(),
            4 => r#"{"pin": 7, "value": 21.5, "tags": ["a", "b"]}"#.to_owned(),
            _ => r#"{"nested": {"deeper": {"list": [1, {"x": null}]}}}"#.to_owned(),
        };
        tbgw_codec::parse_json(&text).unwrap_or(Json::Null)
    }

    fn attributes(&mut self) -> tbgw_codec::Object {
        let mut object = tbgw_codec::Object::new();
        let key = *self.pick(&KEYS[..3]);
        object.insert(key, self.params());
        object
    }

    /// One change at one node of the tree.
    fn json_mutation(&mut self, root: &mut Value, raw: &mut Raw) {
        let paths = paths_of(root);
        // Half the time one of the message's own fields (`device`, `data`, `data.id`,
        // `data.method`, `data.params`): their types are what gateways trust.
        let fields: Vec<&Vec<Step>> = paths
            .iter()
            .filter(|p| (1..=2).contains(&p.len()))
            .collect();
        let path = if !fields.is_empty() && self.chance(0.5) {
            fields.choose(&mut self.rng).map(|p| (*p).clone())
        } else {
            paths.choose(&mut self.rng).cloned()
        }
        .unwrap_or_default();
        let Some(node) = node_at(root, &path) else {
            return;
        };
        let original = node.clone();
        // Deep nesting is rare: a gateway it breaks would be broken by most inputs otherwise.
        match self.below(16) {
            0 | 1 if !path.is_empty() => {
                remove_at(root, &path);
                return;
            }
            2 | 3 => {
                if let Value::Object(members) = node {
                    let odd = self.odd_value(&original, raw);
                    members.insert("tbgwExtra".to_owned(), odd);
                    return;
                }
                *node = self.odd_value(&original, raw);
            }
            4 | 5 => *node = self.long_string(),
            6 => *node = self.deep(raw),
            _ => *node = self.odd_value(&original, raw),
        }
        if self.chance(0.05) {
            pad_to_limit(root);
        }
    }

    /// A value of another type, a boundary number, an odd string.
    fn odd_value(&mut self, original: &Value, raw: &mut Raw) -> Value {
        match self.below(22) {
            0 => Value::Null,
            1 => json!(true),
            2 => json!(0),
            3 => json!(-1),
            4 => json!(i64::from(i32::MAX) + 1),
            5 => json!(i64::MIN),
            6 => json!(u64::MAX),
            7 => json!(1.5),
            8 => json!(""),
            9 => json!([]),
            10 => json!({}),
            11 => json!([original]),
            12 => json!({"value": original}),
            13 => Value::String(original.to_string()),
            14 => raw.hold("1e400".to_owned()),
            15 => raw.hold("-0".to_owned()),
            16 => raw.hold("NaN".to_owned()),
            17 => raw.hold(r#""\ud800""#.to_owned()),
            18 => json!("\u{0}"),
            19 => json!("\u{feff}x"),
            20 => json!("\u{202e}olleh 😀 名前"),
            _ => json!(-9.007_199_254_740_993e15),
        }
    }

    fn long_string(&mut self) -> Value {
        let length = *self.pick(&[256, 4096, 60_000]);
        let unit = *self.pick(&["x", "€", "😀"]);
        Value::String(unit.repeat(length / unit.len()))
    }

    fn deep(&mut self, raw: &mut Raw) -> Value {
        let depth = *self.pick(&[64, 500, 2000, 10_000]);
        let text = if self.chance(0.5) {
            format!("{}{}", "[".repeat(depth), "]".repeat(depth))
        } else {
            format!("{}1{}", r#"{"a":"#.repeat(depth), "}".repeat(depth))
        };
        raw.hold(text)
    }

    /// A change to the bytes: cut short, a BOM, invalid UTF-8, a duplicate key, not JSON.
    fn byte_mutation(&mut self, bytes: &mut Vec<u8>, tree: &Value) {
        match self.below(7) {
            0 if !bytes.is_empty() => {
                let at = self.below(bytes.len());
                bytes.truncate(at);
            }
            1 => {
                bytes.splice(0..0, [0xEF, 0xBB, 0xBF]);
            }
            2 => {
                let at = self.below(bytes.len() + 1);
                let invalid: &[u8] = self.pick::<&[u8]>(&[
                    &[0xFF][..],
                    &[0xC3][..],
                    &[0xC0, 0xAF][..],
                    &[0xED, 0xA0, 0x80][..],
                ]);
                bytes.splice(at..at, invalid.iter().copied());
            }
            3 => {
                // The first key again, with another value (Gson keeps the last; some parsers fail).
                if let Value::Object(members) = tree
                    && let Some(key) = members.keys().next()
                    && let Some(brace) = bytes.iter().position(|b| *b == b'{')
                {
                    let duplicate = format!("{}:{},", json!(key), json!(["duplicate"]));
                    bytes.splice(brace + 1..brace + 1, duplicate.bytes());
                }
            }
            _ => {
                let replacement: &str = self.pick::<&str>(&[
                    "",
                    "null",
                    "[]",
                    "1",
                    "\"text\"",
                    "not json {",
                    "{",
                    "{}",
                    "[{}]",
                ]);
                *bytes = replacement.as_bytes().to_vec();
            }
        }
    }
}

/// The codec's JSON as serde's (for the device-API messages built here).
fn json_of(value: &Json) -> Value {
    serde_json::from_str(&value.to_string()).unwrap_or(Value::Null)
}

/// A step into a JSON tree.
#[derive(Clone, Debug, PartialEq)]
enum Step {
    Key(String),
    Index(usize),
}

/// Every node's path, the root first.
fn paths_of(root: &Value) -> Vec<Vec<Step>> {
    let mut paths = Vec::new();
    let mut stack = vec![(root, Vec::new())];
    while let Some((node, path)) = stack.pop() {
        match node {
            Value::Object(members) => {
                for (key, child) in members {
                    let mut p = path.clone();
                    p.push(Step::Key(key.clone()));
                    stack.push((child, p));
                }
            }
            Value::Array(items) => {
                for (i, child) in items.iter().enumerate() {
                    let mut p = path.clone();
                    p.push(Step::Index(i));
                    stack.push((child, p));
                }
            }
            _ => {}
        }
        paths.push(path);
    }
    paths
}

fn node_at<'v>(root: &'v mut Value, path: &[Step]) -> Option<&'v mut Value> {
    let mut node = root;
    for step in path {
        node = match (step, node) {
            (Step::Key(k), Value::Object(m)) => m.get_mut(k)?,
            (Step::Index(i), Value::Array(a)) => a.get_mut(*i)?,
            _ => return None,
        };
    }
    Some(node)
}

fn remove_at(root: &mut Value, path: &[Step]) {
    let Some((last, parent)) = path.split_last() else {
        return;
    };
    match (last, node_at(root, parent)) {
        (Step::Key(k), Some(Value::Object(m))) => {
            m.shift_remove(k);
        }
        (Step::Index(i), Some(Value::Array(a))) if *i < a.len() => {
            a.remove(*i);
        }
        _ => {}
    }
}

/// A member that brings the payload to just under ThingsBoard's limit.
fn pad_to_limit(root: &mut Value) {
    if let Value::Object(members) = root {
        let now = Value::Object(members.clone()).to_string().len();
        let room = MAX_PAYLOAD.saturating_sub(now + 16);
        members.insert("tbgwPad".to_owned(), Value::String("x".repeat(room)));
    } else {
        let mut wrapped = Map::new();
        wrapped.insert("value".to_owned(), root.take());
        *root = Value::Object(wrapped);
        pad_to_limit(root);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context() -> Context {
        Context {
            devices: vec!["Sensor A".into(), "Sensor B".into()],
            v5: true,
            rpc_method: "echo".into(),
        }
    }

    fn inputs(seed: u64, n: usize) -> Vec<Vec<Action>> {
        let mut generator = Generator::new(seed);
        (0..n).map(|_| generator.input(&context())).collect()
    }

    #[test]
    fn the_same_seed_gives_the_same_inputs() {
        assert_eq!(inputs(7, 200), inputs(7, 200));
        assert_ne!(inputs(7, 50), inputs(8, 50));
    }

    #[test]
    fn no_input_calls_a_gateway_level_method_or_exceeds_the_payload_limit() {
        for input in inputs(1, 3000) {
            for action in input {
                if let Action::Send { payload, .. } = &action {
                    assert!(payload.len() <= MAX_PAYLOAD);
                    assert!(crate::gateway::steps::refuse_host_methods(payload).is_ok());
                }
            }
        }
    }

    #[test]
    fn the_mutations_reach_every_kind_of_fault() {
        let all: Vec<Action> = inputs(3, 3000).into_iter().flatten().collect();
        let payloads: Vec<&[u8]> = all
            .iter()
            .filter_map(|a| match a {
                Action::Send { payload, .. } => Some(payload.as_slice()),
                _ => None,
            })
            .collect();
        let any = |f: &dyn Fn(&[u8]) -> bool| payloads.iter().any(|p| f(p));
        assert!(any(&|p| std::str::from_utf8(p).is_err()), "invalid UTF-8");
        assert!(any(&|p| p.starts_with(&[0xEF, 0xBB, 0xBF])), "a BOM");
        assert!(any(&|p| p.is_empty()), "an empty payload");
        assert!(
            any(&|p| p.windows(6).any(|w| w == b"[[[[[[")),
            "deep nesting"
        );
        assert!(
            any(&|p| p.windows(5).any(|w| w == b"1e400")),
            "a huge number"
        );
        assert!(any(&|p| p.len() > 60_000), "near 64 KiB");
        assert!(
            any(&|p| serde_json::from_slice::<Value>(p)
                .ok()
                .and_then(|v| v.get("device").cloned())
                .is_some_and(|d| d.is_array() || d.is_object())),
            "a device that is a list or an object"
        );
        assert!(all.iter().any(|a| matches!(a, Action::Disconnect { .. })));
        assert!(all.iter().any(|a| matches!(a, Action::DropConnection)));
        assert!(all.iter().any(|a| matches!(
            a,
            Action::Send {
                again: Some(Again::Dup),
                ..
            }
        )));
        let topics: std::collections::BTreeSet<&str> = all
            .iter()
            .filter_map(|a| match a {
                Action::Send { topic, .. } => Some(topic.as_str()),
                _ => None,
            })
            .collect();
        for topic in [
            "v1/gateway/rpc",
            "v1/gateway/attributes",
            "v1/gateway/attributes/response",
            "v1/gateway/disconnect",
            "v1/devices/me/attributes",
        ] {
            assert!(topics.contains(topic), "{topic} in {topics:?}");
        }
    }

    #[test]
    fn without_mqtt_5_there_is_no_disconnect_notice_or_reason() {
        let mut generator = Generator::new(5);
        let ctx = Context {
            v5: false,
            ..context()
        };
        for _ in 0..2000 {
            for action in generator.input(&ctx) {
                assert!(!matches!(action, Action::Disconnect { .. }));
                if let Action::Send { topic, .. } = action {
                    assert_ne!(topic, "v1/gateway/disconnect");
                }
            }
        }
    }
}
