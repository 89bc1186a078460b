//! Inputs for `fuzz platform`: gateway→platform messages from the codec's `Arbitrary` ones
//! (their devices renamed into the case's own names, so a real ThingsBoard is cleaned up
//! after each input), encoded, then mutated at the JSON and byte level (the same mutations
//! as `fuzz gateway`) and at the MQTT level: QoS 0, 1 and 2, a second delivery (DUP, or the
//! packet id reused), topic variations, packets around ThingsBoard's 64 KiB limit, a
//! DISCONNECT and a new CONNECT in between, MQTT 3.1.1 and 5. Pure and seeded.

use arbitrary::{Arbitrary, Unstructured};
use rand::RngExt;
use serde_json::Value;
use tbgw_codec::{
    AttributeRequest, Claim, ClientAttributes, Connect, DeviceTelemetry, Direction, Json, Message,
    Object, Telemetry, TelemetryEntry,
};

use super::predict::{MAX_REMAINING_LENGTH, remaining_length};
use crate::emulator::core::Again;
use crate::fuzz::action::Action;
use crate::fuzz::mutate::Mutator;
use crate::mqtt::Version;

/// Stands for the case's run-unique prefix (`${run}`) while an input is built and predicted:
/// it has the prefix's length, so a name's length, which ThingsBoard validates, is the same.
pub const RUN: &str = "tbgw-fuzzed-0000";

/// One input: the MQTT version of its session and what the gateway does (as a corpus file:
/// `{"mqtt": "5", "actions": [...]}`).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Input {
    #[serde(rename = "mqtt")]
    pub version: Version,
    pub actions: Vec<Action>,
}

/// Keys most messages use, so that one input writes a key twice now and then.
const KEYS: [&str; 6] = ["t", "temperature", "mode", "serial", "flag", "payload"];

/// `v1/gateway…` topics ThingsBoard does not handle (it answers 0x90).
const ODD_TOPICS: [&str; 5] = [
    "v1/gateway/unknown",
    "v1/gateway/telemetry/extra",
    "v1/gateway/Telemetry",
    "v1/gateway",
    "v1/gateway/rpc/1",
];

pub struct Generator {
    mutator: Mutator,
}

impl Generator {
    pub fn new(seed: u64) -> Generator {
        Generator {
            mutator: Mutator::new(seed),
        }
    }

    /// One to four actions on one MQTT version.
    pub fn input(&mut self) -> Input {
        let version = if self.mutator.chance(0.5) {
            Version::V5
        } else {
            Version::V3
        };
        let count = 1 + self.mutator.below(4);
        let mut actions: Vec<Action> = Vec::with_capacity(count);
        for _ in 0..count {
            if !actions.is_empty() && self.mutator.chance(0.1) {
                actions.push(Action::Disconnect { reason: 0 });
                continue;
            }
            // Two quick messages of one kind: the second a variation of the first.
            let again = match actions.last() {
                Some(Action::Send { topic, payload, .. }) if self.mutator.chance(0.3) => {
                    serde_json::from_slice::<Value>(payload)
                        .ok()
                        .map(|v| (topic.clone(), v))
                }
                _ => None,
            };
            let action = match again {
                Some((topic, value)) => {
                    let payload = self.mutator.payload(value);
                    self.send(topic, payload, version)
                }
                None => self.fresh(version),
            };
            actions.push(action);
        }
        Input { version, actions }
    }

    /// Whether the next input is a variation of a corpus input (half of them, once there is
    /// a corpus).
    pub fn input_from_corpus(&mut self) -> bool {
        self.mutator.chance(0.5)
    }

    /// An index below `n` (a corpus input to vary).
    pub fn index(&mut self, n: usize) -> usize {
        self.mutator.below(n)
    }

    /// A variation of a corpus input, on its MQTT version: an action left out, one added,
    /// or one message's payload mutated again (and its QoS and second delivery drawn again).
    pub fn mutate(&mut self, base: &Input) -> Input {
        let version = base.version;
        let mut actions = base.actions.clone();
        match self.mutator.below(4) {
            0 if actions.len() > 1 => {
                let at = self.mutator.below(actions.len());
                actions.remove(at);
            }
            1 if actions.len() < 4 => {
                let at = self.mutator.below(actions.len() + 1);
                let action = self.fresh(version);
                actions.insert(at, action);
            }
            _ => {
                let sends: Vec<usize> = (0..actions.len())
                    .filter(|i| matches!(actions[*i], Action::Send { .. }))
                    .collect();
                let chosen = (!sends.is_empty()).then(|| sends[self.mutator.below(sends.len())]);
                match chosen.map(|at| (at, &actions[at])) {
                    Some((at, Action::Send { topic, payload, .. })) => {
                        let (topic, mut payload) = (topic.clone(), payload.clone());
                        let payload = match serde_json::from_slice::<Value>(&payload) {
                            Ok(value) => self.mutator.payload(value),
                            Err(_) => {
                                self.mutator.byte_mutation(&mut payload, &Value::Null);
                                payload
                            }
                        };
                        actions[at] = self.send(topic, payload, version);
                    }
                    _ => actions.push(self.fresh(version)),
                }
            }
        }
        Input { version, actions }
    }

    fn fresh(&mut self, version: Version) -> Action {
        if self.mutator.chance(0.03) {
            return self.near_the_limit(version);
        }
        let message = self.message();
        let topic = if self.mutator.chance(0.05) {
            (*self.mutator.pick(&ODD_TOPICS)).to_owned()
        } else {
            message.topic().to_string()
        };
        let canonical = message.encode().into_bytes();
        let payload = match serde_json::from_slice::<Value>(&canonical) {
            Ok(value) if self.mutator.chance(0.5) => self.mutator.payload(value),
            _ => canonical,
        };
        self.send(topic, payload, version)
    }

    fn send(&mut self, topic: String, payload: Vec<u8>, version: Version) -> Action {
        let qos = match self.mutator.below(20) {
            0..=3 => 0,
            4 => 2,
            _ => 1,
        };
        let mut payload = without_variables(payload);
        // Room for the packet's header: a mutation may pad to the payload limit.
        let room = MAX_REMAINING_LENGTH - remaining_length(&topic, b"", qos, version);
        if payload.len() > room && !self.mutator.chance(0.2) {
            payload.truncate(room);
        }
        // Now and then delivered twice: with DUP, or as a new PUBLISH reusing the packet id.
        let again = (qos > 0 && self.mutator.chance(0.06)).then(|| {
            if self.mutator.chance(0.5) {
                Again::Dup
            } else {
                Again::SameId
            }
        });
        Action::Send {
            topic,
            payload,
            qos: Some(qos),
            again,
        }
    }

    /// Telemetry whose PUBLISH is a byte or two either side of ThingsBoard's limit.
    fn near_the_limit(&mut self, version: Version) -> Action {
        let topic = "v1/gateway/telemetry";
        let delta = self.mutator.below(4) as isize - 1;
        let frame = format!(r#"{{"{RUN}-d0":[{{"pad":""}}]}}"#);
        let header = remaining_length(topic, frame.as_bytes(), 1, version);
        let fill = (MAX_REMAINING_LENGTH as isize - header as isize + delta).max(0) as usize;
        let payload = format!(r#"{{"{RUN}-d0":[{{"pad":"{}"}}]}}"#, "x".repeat(fill));
        Action::Send {
            topic: topic.to_owned(),
            payload: payload.into_bytes(),
            qos: Some(1),
            again: None,
        }
    }

    /// A gateway→platform message from the codec's `Arbitrary`, its devices and most of its
    /// keys renamed.
    fn message(&mut self) -> Message {
        for _ in 0..8 {
            let length = 16 + self.mutator.below(240);
            let bytes: Vec<u8> = (0..length)
                .map(|_| self.mutator.rng.random::<u8>())
                .collect();
            let mut u = Unstructured::new(&bytes);
            if let Ok(mut message) = Message::arbitrary(&mut u)
                && message.direction() == Direction::GatewayToPlatform
            {
                self.rename(&mut message);
                return message;
            }
        }
        let mut values = Object::new();
        values.insert("t", Json::Bool(true));
        Message::Telemetry(Telemetry {
            devices: vec![DeviceTelemetry {
                device: format!("{RUN}-d0"),
                entries: vec![TelemetryEntry {
                    ts: None,
                    values,
                    metadata: None,
                }],
            }],
        })
    }

    fn device(&mut self, original: &str) -> String {
        if self.mutator.chance(0.15) {
            let own: String = original.chars().take(40).collect();
            return format!("{RUN}-{own}");
        }
        format!("{RUN}-d{}", self.mutator.below(3))
    }

    fn keys(&mut self, values: &Object) -> Object {
        let mut renamed = Object::with_capacity(values.len());
        for (key, value) in values.iter() {
            let key = if self.mutator.chance(0.3) {
                key.to_owned()
            } else {
                (*self.mutator.pick(&KEYS)).to_owned()
            };
            renamed.insert(key, value.clone());
        }
        renamed
    }

    fn rename(&mut self, message: &mut Message) {
        match message {
            Message::Connect(Connect { device, .. }) => *device = self.device(device),
            Message::Disconnect(m) => m.device = self.device(&m.device),
            Message::Telemetry(m) => {
                for d in &mut m.devices {
                    d.device = self.device(&d.device);
                    for entry in &mut d.entries {
                        entry.values = self.keys(&entry.values);
                    }
                }
            }
            Message::ClientAttributes(ClientAttributes { devices }) => {
                for d in devices {
                    d.device = self.device(&d.device);
                    d.values = self.keys(&d.values);
                }
            }
            Message::AttributeRequest(AttributeRequest::Server(r)) => {
                r.device = self.device(&r.device)
            }
            Message::AttributeRequest(AttributeRequest::Doc(r)) => {
                r.device = self.device(&r.device)
            }
            Message::RpcResponse(m) => m.device = self.device(&m.device),
            Message::Claim(Claim { devices }) => {
                for d in devices {
                    d.device = self.device(&d.device);
                }
            }
            Message::AttributeResponse(_)
            | Message::AttributeUpdate(_)
            | Message::RpcRequest(_)
            | Message::DeviceDisconnected(_) => {}
        }
    }
}

/// The payload with every `${` broken up (`$ {`), so that the only variables its scenario
/// interpolates are the `${run}` of its names.
fn without_variables(payload: Vec<u8>) -> Vec<u8> {
    if !payload.windows(2).any(|w| w == b"${") {
        return payload;
    }
    let mut out = Vec::with_capacity(payload.len() + 4);
    for (i, byte) in payload.iter().enumerate() {
        out.push(*byte);
        if *byte == b'$' && payload.get(i + 1) == Some(&b'{') {
            out.push(b' ');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs(seed: u64, n: usize) -> Vec<Input> {
        let mut generator = Generator::new(seed);
        (0..n).map(|_| generator.input()).collect()
    }

    #[test]
    fn the_same_seed_gives_the_same_inputs() {
        assert_eq!(inputs(4, 200), inputs(4, 200));
        assert_ne!(inputs(4, 50), inputs(5, 50));
    }

    #[test]
    fn a_variation_keeps_its_version_and_differs_from_its_base_within_four_actions() {
        let mut generator = Generator::new(9);
        let bases = inputs(8, 200);
        let mut changed = 0;
        for base in &bases {
            let varied = generator.mutate(base);
            assert_eq!(varied.version, base.version);
            assert!((1..=5).contains(&varied.actions.len()), "{varied:?}");
            changed += usize::from(varied != *base);
            for action in &varied.actions {
                if let Action::Send { payload, .. } = action {
                    assert!(!String::from_utf8_lossy(payload).contains("${"));
                }
            }
        }
        assert!(changed > 190, "{changed} of 200 changed");
    }

    #[test]
    fn an_input_saved_in_a_corpus_reads_back_the_same() {
        for input in inputs(3, 50) {
            let text = serde_json::to_string(&input).unwrap();
            assert!(text.starts_with(r#"{"mqtt":""#), "{text}");
            assert_eq!(serde_json::from_str::<Input>(&text).unwrap(), input);
        }
    }

    #[test]
    fn every_name_is_the_case_s_and_no_payload_holds_another_variable() {
        for input in inputs(1, 2000) {
            for action in &input.actions {
                if let Action::Send { payload, .. } = action {
                    let text = String::from_utf8_lossy(payload);
                    assert!(!text.contains("${"), "{text}");
                }
            }
        }
    }

    #[test]
    fn the_inputs_reach_every_topic_both_versions_every_qos_and_the_size_limit() {
        let all = inputs(2, 3000);
        let sends: Vec<(&str, &[u8], u8, Version)> = all
            .iter()
            .flat_map(|i| {
                i.actions.iter().filter_map(move |a| match a {
                    Action::Send {
                        topic,
                        payload,
                        qos,
                        ..
                    } => Some((
                        topic.as_str(),
                        payload.as_slice(),
                        qos.unwrap_or(1),
                        i.version,
                    )),
                    _ => None,
                })
            })
            .collect();
        for topic in [
            "v1/gateway/connect",
            "v1/gateway/disconnect",
            "v1/gateway/telemetry",
            "v1/gateway/attributes",
            "v1/gateway/attributes/request",
            "v1/gateway/rpc",
            "v1/gateway/claim",
            "v1/gateway/unknown",
        ] {
            assert!(sends.iter().any(|s| s.0 == topic), "{topic}");
        }
        for qos in 0..=2 {
            assert!(sends.iter().any(|s| s.2 == qos), "QoS {qos}");
        }
        for version in [Version::V3, Version::V5] {
            assert!(sends.iter().any(|s| s.3 == version));
        }
        let at = |delta: isize| {
            sends.iter().any(|(t, p, q, v)| {
                remaining_length(t, p, *q, *v) as isize == MAX_REMAINING_LENGTH as isize + delta
            })
        };
        assert!(at(0) && at(1), "a packet at and one over the limit");
        assert!(sends.iter().any(|s| std::str::from_utf8(s.1).is_err()));
        for again in [Again::Dup, Again::SameId] {
            assert!(
                all.iter().flat_map(|i| &i.actions).any(|a| matches!(
                    a,
                    Action::Send { again: Some(g), qos: Some(q), .. } if *g == again && *q > 0
                )),
                "{again:?}"
            );
        }
        assert!(all.iter().flat_map(|i| &i.actions).all(|a| !matches!(
            a,
            Action::Send {
                again: Some(_),
                qos: Some(0),
                ..
            }
        )));
        assert!(
            all.iter()
                .any(|i| i.actions.contains(&Action::Disconnect { reason: 0 }))
        );
    }
}
