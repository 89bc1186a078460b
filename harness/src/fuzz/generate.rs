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

use rand::RngExt;
use rand::seq::IndexedRandom;
use serde_json::{Value, json};
use tbgw_codec::{
    AttributeChange, AttributeResponse, AttributeUpdate, DeviceDisconnected, Json, Message,
    ReasonCode, ResponseValues, RpcRequest,
};

use super::action::Action;
pub use super::mutate::MAX_PAYLOAD;
use super::mutate::Mutator;
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
    mutator: Mutator,
    /// RPC and request ids count up like ThingsBoard's, so most are plausible.
    next_id: i32,
}

impl Generator {
    pub fn new(seed: u64) -> Generator {
        Generator {
            mutator: Mutator::new(seed),
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
        self.mutator.chance(p)
    }

    fn below(&mut self, n: usize) -> usize {
        self.mutator.below(n)
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        self.mutator.pick(items)
    }

    fn device(&mut self, ctx: &Context) -> String {
        if self.chance(0.08) || ctx.devices.is_empty() {
            return NEVER_ANNOUNCED.to_owned();
        }
        ctx.devices
            .choose(&mut self.mutator.rng)
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
                match sends.choose(&mut self.mutator.rng) {
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
                self.mutator.byte_mutation(&mut bytes, &Value::Null);
                self.delivery(topic, bytes)
            }
        }
    }

    fn send(&mut self, topic: String, value: Value) -> Action {
        let mut bytes = self.mutator.payload(value);
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
            2 => format!("{}", self.mutator.rng.random_range(-1000i64..1000)),
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
}

/// The codec's JSON as serde's (for the device-API messages built here).
fn json_of(value: &Json) -> Value {
    serde_json::from_str(&value.to_string()).unwrap_or(Value::Null)
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
