//! Mutations shared by both fuzzers: a JSON tree changed at one node (a field's type swapped,
//! boundary numbers, long, deep, unicode values, a field removed or added), then its bytes
//! (cut short, a BOM, invalid UTF-8, a duplicate key, not JSON at all, near ThingsBoard's
//! 64 KiB). Pure and seeded: one random stream, so a seed gives the same mutations.

use rand::seq::IndexedRandom;
use rand::{RngExt, SeedableRng};
use rand_xorshift::XorShiftRng;
use serde_json::{Map, Value, json};

/// ThingsBoard's largest MQTT payload by default (`netty.max_payload_size`, 65 536 bytes).
pub const MAX_PAYLOAD: usize = 65_536;

pub struct Mutator {
    pub(crate) rng: XorShiftRng,
}

/// JSON the serializer cannot write (a number beyond f64, deep nesting, a lone surrogate):
/// held in the tree as a marker string and substituted into the text.
pub struct Raw(pub Vec<String>);

const RAW_MARK: &str = "\u{1}tbgw-raw-";

impl Raw {
    pub fn hold(&mut self, text: String) -> Value {
        self.0.push(text);
        Value::String(format!("{RAW_MARK}{}\u{1}", self.0.len() - 1))
    }

    pub fn substitute(&self, mut text: String) -> String {
        for (i, raw) in self.0.iter().enumerate() {
            let marker = serde_json::to_string(&format!("{RAW_MARK}{i}\u{1}")).unwrap_or_default();
            text = text.replacen(&marker, raw, 1);
        }
        text
    }
}

impl Mutator {
    pub fn new(seed: u64) -> Mutator {
        Mutator {
            rng: XorShiftRng::seed_from_u64(seed),
        }
    }

    pub fn chance(&mut self, p: f64) -> bool {
        self.rng.random_bool(p)
    }

    pub fn below(&mut self, n: usize) -> usize {
        self.rng.random_range(0..n.max(1))
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        // The lists here are constants, never empty.
        &items[self.below(items.len())]
    }

    /// A well-formed JSON payload after zero to three JSON mutations and, a quarter of the
    /// time, a byte mutation; never over [`MAX_PAYLOAD`].
    pub fn payload(&mut self, mut value: Value) -> Vec<u8> {
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
        bytes
    }

    /// One change at one node of the tree.
    pub fn json_mutation(&mut self, root: &mut Value, raw: &mut Raw) {
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
    pub fn byte_mutation(&mut self, bytes: &mut Vec<u8>, tree: &Value) {
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
