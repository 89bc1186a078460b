//! Shrinking a finding's input while it still reproduces: delta debugging over its actions,
//! then over each payload's JSON (members and elements left out, a container replaced by a
//! child, long strings halved), or over its bytes when it is not JSON. Every candidate is
//! judged by the test passed in, which replays it on a fresh gateway; `budget` bounds how
//! many replays a finding may cost.

use serde_json::Value;

use super::action::Action;

/// Replays a candidate; `true` when it gives the same finding.
pub trait Reproduces {
    fn reproduces(&mut self, actions: &[Action]) -> impl Future<Output = bool>;
}

/// The smallest input found within `budget` replays that still reproduces.
pub async fn minimize(
    actions: Vec<Action>,
    test: &mut impl Reproduces,
    budget: usize,
) -> (Vec<Action>, usize) {
    let mut spent = 0;
    let actions = sequence(actions, test, budget, &mut spent).await;
    let actions = deliveries(actions, test, budget, &mut spent).await;
    let actions = payloads(actions, test, budget, &mut spent).await;
    (actions, spent)
}

/// ddmin over the actions: drop chunks, halving their size until single actions.
async fn sequence(
    actions: Vec<Action>,
    test: &mut impl Reproduces,
    budget: usize,
    spent: &mut usize,
) -> Vec<Action> {
    ddmin(actions, budget, spent, async |candidate: &[Action]| {
        test.reproduces(candidate).await
    })
    .await
}

/// Delta debugging (ddmin's removal half): leave out chunks of `items` while the rest still
/// reproduces, halving the chunk size down to single items. Stops when `spent` reaches
/// `budget`.
async fn ddmin<T: Clone>(
    mut items: Vec<T>,
    budget: usize,
    spent: &mut usize,
    mut reproduces: impl AsyncFnMut(&[T]) -> bool,
) -> Vec<T> {
    let mut chunk = items.len().div_ceil(2).max(1);
    while !items.is_empty() && *spent < budget {
        let mut removed = false;
        let mut start = 0;
        while start < items.len() && *spent < budget {
            let end = (start + chunk).min(items.len());
            let candidate: Vec<T> = items[..start]
                .iter()
                .chain(&items[end..])
                .cloned()
                .collect();
            *spent += 1;
            if reproduces(&candidate).await {
                items = candidate;
                removed = true;
            } else {
                start = end;
            }
        }
        if !removed {
            if chunk == 1 {
                break;
            }
            chunk = chunk.div_ceil(2);
        }
    }
    items
}

/// A QoS or a second delivery that is not needed is left out.
async fn deliveries(
    mut actions: Vec<Action>,
    test: &mut impl Reproduces,
    budget: usize,
    spent: &mut usize,
) -> Vec<Action> {
    for at in 0..actions.len() {
        let mut plain = actions.clone();
        match plain.get_mut(at) {
            Some(Action::Send { qos, again, .. }) if qos.is_some() || again.is_some() => {
                *qos = None;
                *again = None;
            }
            _ => continue,
        }
        if *spent >= budget {
            break;
        }
        *spent += 1;
        if test.reproduces(&plain).await {
            actions = plain;
        }
    }
    actions
}

async fn payloads(
    mut actions: Vec<Action>,
    test: &mut impl Reproduces,
    budget: usize,
    spent: &mut usize,
) -> Vec<Action> {
    for at in 0..actions.len() {
        let Action::Send { payload, .. } = &actions[at] else {
            continue;
        };
        let Ok(mut tree) = serde_json::from_slice::<Value>(payload) else {
            // Not JSON to serde (cut short, invalid UTF-8, a number beyond f64): its bytes
            // are cut instead of its tree.
            let bytes = payload.clone();
            actions = shorter_bytes(actions, at, bytes, test, budget, spent).await;
            continue;
        };
        // The compact form first: a payload whose bytes matter (a duplicate key, spacing)
        // keeps them.
        let compact = tree.to_string().into_bytes();
        if compact != *payload {
            if *spent >= budget {
                break;
            }
            *spent += 1;
            if !test.reproduces(&with_payload(&actions, at, compact)).await {
                continue;
            }
        }
        let mut improved = true;
        while improved && *spent < budget {
            improved = false;
            for candidate in smaller_trees(&tree) {
                if *spent >= budget {
                    break;
                }
                *spent += 1;
                let bytes = candidate.to_string().into_bytes();
                if test.reproduces(&with_payload(&actions, at, bytes)).await {
                    tree = candidate;
                    improved = true;
                    break;
                }
            }
        }
        actions = with_payload(&actions, at, tree.to_string().into_bytes());
    }
    actions
}

/// A payload serde cannot read: long runs of one byte (padding, long strings) are halved
/// first, a cheap cut of most of the size, then ddmin over the bytes that are left.
async fn shorter_bytes(
    mut actions: Vec<Action>,
    at: usize,
    mut bytes: Vec<u8>,
    test: &mut impl Reproduces,
    budget: usize,
    spent: &mut usize,
) -> Vec<Action> {
    while *spent < budget {
        let Some((start, length)) = longest_run(&bytes) else {
            break;
        };
        let mut shorter = bytes.clone();
        shorter.drain(start..start + length / 2);
        *spent += 1;
        let candidate = with_payload(&actions, at, shorter.clone());
        if !test.reproduces(&candidate).await {
            break;
        }
        bytes = shorter;
        actions = candidate;
    }
    let bytes = ddmin(bytes, budget, spent, async |candidate: &[u8]| {
        test.reproduces(&with_payload(&actions, at, candidate.to_vec()))
            .await
    })
    .await;
    with_payload(&actions, at, bytes)
}

/// The longest run of one repeated byte, when it is worth halving (16 bytes or more).
fn longest_run(bytes: &[u8]) -> Option<(usize, usize)> {
    let mut best: Option<(usize, usize)> = None;
    let mut start = 0;
    for i in 1..=bytes.len() {
        if i == bytes.len() || bytes[i] != bytes[start] {
            let length = i - start;
            if length >= 16 && best.is_none_or(|(_, l)| length > l) {
                best = Some((start, length));
            }
            start = i;
        }
    }
    best
}

fn with_payload(actions: &[Action], at: usize, bytes: Vec<u8>) -> Vec<Action> {
    let mut actions = actions.to_vec();
    if let Some(Action::Send { payload, .. }) = actions.get_mut(at) {
        *payload = bytes;
    }
    actions
}

/// Every tree one step smaller than `root`, the biggest cuts first.
pub fn smaller_trees(root: &Value) -> Vec<Value> {
    let mut cuts: Vec<(usize, Value)> = Vec::new();
    visit(root, &mut |path, node| {
        let size = node.to_string().len();
        if !path.is_empty() {
            cuts.push((size, replaced(root, path, None)));
        }
        match node {
            Value::Object(members) => {
                for child in members.values() {
                    if child.is_object() || child.is_array() {
                        cuts.push((size, replaced(root, path, Some(child.clone()))));
                    }
                }
            }
            Value::Array(items) => {
                for child in items.iter().filter(|c| c.is_object() || c.is_array()) {
                    cuts.push((size, replaced(root, path, Some(child.clone()))));
                }
            }
            Value::String(text) if text.chars().count() > 8 => {
                let half: String = text.chars().take(text.chars().count() / 2).collect();
                cuts.push((size / 2, replaced(root, path, Some(Value::String(half)))));
            }
            _ => {}
        }
    });
    cuts.sort_by_key(|cut| std::cmp::Reverse(cut.0));
    cuts.into_iter().map(|(_, tree)| tree).collect()
}

/// A path into a tree: keys of objects, indexes of arrays.
type Path = Vec<PathStep>;

#[derive(Clone, Debug)]
enum PathStep {
    Key(String),
    Index(usize),
}

fn visit(root: &Value, f: &mut impl FnMut(&Path, &Value)) {
    let mut stack: Vec<(Path, &Value)> = vec![(Vec::new(), root)];
    while let Some((path, node)) = stack.pop() {
        f(&path, node);
        match node {
            Value::Object(members) => {
                for (key, child) in members {
                    let mut p = path.clone();
                    p.push(PathStep::Key(key.clone()));
                    stack.push((p, child));
                }
            }
            Value::Array(items) => {
                for (i, child) in items.iter().enumerate() {
                    let mut p = path.clone();
                    p.push(PathStep::Index(i));
                    stack.push((p, child));
                }
            }
            _ => {}
        }
    }
}

/// `root` with the node at `path` replaced by `with`, or left out when `None`.
fn replaced(root: &Value, path: &Path, with: Option<Value>) -> Value {
    let mut tree = root.clone();
    let Some((last, parents)) = path.split_last() else {
        return with.unwrap_or(Value::Null);
    };
    let mut node = &mut tree;
    for step in parents {
        node = match (step, node) {
            (PathStep::Key(k), Value::Object(m)) => match m.get_mut(k) {
                Some(n) => n,
                None => return tree,
            },
            (PathStep::Index(i), Value::Array(a)) => match a.get_mut(*i) {
                Some(n) => n,
                None => return tree,
            },
            _ => return tree,
        };
    }
    match (last, node, with) {
        (PathStep::Key(k), Value::Object(m), Some(v)) => {
            m.insert(k.clone(), v);
        }
        (PathStep::Key(k), Value::Object(m), None) => {
            m.shift_remove(k);
        }
        (PathStep::Index(i), Value::Array(a), Some(v)) if *i < a.len() => a[*i] = v,
        (PathStep::Index(i), Value::Array(a), None) if *i < a.len() => {
            a.remove(*i);
        }
        _ => {}
    }
    tree
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Reproduces when a publish on v1/gateway/rpc has a `device` that is not a string.
    struct DeviceNotAString {
        replays: usize,
    }

    impl Reproduces for DeviceNotAString {
        async fn reproduces(&mut self, actions: &[Action]) -> bool {
            self.replays += 1;
            actions.iter().any(|a| match a {
                Action::Send { topic, payload, .. } if topic == "v1/gateway/rpc" => {
                    serde_json::from_slice::<Value>(payload)
                        .ok()
                        .and_then(|v| v.get("device").cloned())
                        .is_some_and(|d| !d.is_string())
                }
                _ => false,
            })
        }
    }

    fn send(topic: &str, payload: Value) -> Action {
        Action::Send {
            topic: topic.into(),
            payload: payload.to_string().into_bytes(),
            qos: Some(0),
            again: Some(crate::emulator::core::Again::Dup),
        }
    }

    #[tokio::test]
    async fn a_finding_shrinks_to_its_one_action_and_the_fields_that_matter() {
        let input = vec![
            send(
                "v1/gateway/attributes",
                json!({"device": "A", "data": {"k": 1}}),
            ),
            Action::DropConnection,
            send(
                "v1/gateway/rpc",
                json!({"device": ["A", {"x": "yyyyyyyyyyyyyyyyyyyy"}], "data": {"id": 1, "method": "echo", "params": {"deep": {"deeper": [1, 2, 3]}}}}),
            ),
            send("v1/gateway/rpc", json!({"device": "A", "data": {"id": 2}})),
        ];
        let mut test = DeviceNotAString { replays: 0 };
        let (minimal, spent) = minimize(input, &mut test, 200).await;
        assert_eq!(spent, test.replays);
        assert_eq!(minimal.len(), 1, "{minimal:?}");
        let Action::Send {
            payload,
            qos,
            again,
            ..
        } = &minimal[0]
        else {
            panic!("{minimal:?}")
        };
        assert_eq!(
            (qos, again),
            (&None, &None),
            "deliveries that do not matter go"
        );
        let tree: Value = serde_json::from_slice(payload).unwrap();
        assert!(!tree["device"].is_string());
        assert!(tree.get("data").is_none(), "{tree}");
        assert!(payload.len() <= 16, "{}", String::from_utf8_lossy(payload));
    }

    #[tokio::test]
    async fn the_budget_bounds_the_replays() {
        let input = vec![send(
            "v1/gateway/rpc",
            json!({"device": [1, 2, 3, 4, 5, 6]}),
        )];
        let mut test = DeviceNotAString { replays: 0 };
        let (_, spent) = minimize(input, &mut test, 3).await;
        assert_eq!(spent, 3);
        assert_eq!(test.replays, 3);
    }

    /// Reproduces when the payload still holds the huge number.
    struct HugeNumber;

    impl Reproduces for HugeNumber {
        async fn reproduces(&mut self, actions: &[Action]) -> bool {
            actions.iter().any(|a| {
                matches!(a, Action::Send { payload, .. } if payload.windows(5).any(|w| w == b"1e400"))
            })
        }
    }

    #[tokio::test]
    async fn a_payload_serde_cannot_read_loses_its_padding() {
        let payload = format!("{{\"mode\":1e400,\"pad\":\"{}\"}}", "x".repeat(60_000));
        let input = vec![Action::Send {
            topic: "v1/devices/me/attributes".into(),
            payload: payload.into_bytes(),
            qos: None,
            again: None,
        }];
        let (minimal, spent) = minimize(input, &mut HugeNumber, 40).await;
        let Action::Send { payload, .. } = &minimal[0] else {
            panic!("{minimal:?}")
        };
        assert!(
            payload.len() < 64,
            "{} bytes after {spent} replays",
            payload.len()
        );
    }

    /// Reproduces while the payload holds an invalid UTF-8 byte after a quote.
    struct QuoteThenInvalidByte;

    impl Reproduces for QuoteThenInvalidByte {
        async fn reproduces(&mut self, actions: &[Action]) -> bool {
            actions.iter().any(|a| {
                matches!(a, Action::Send { payload, .. } if payload.windows(2).any(|w| w == b"\"\xff"))
            })
        }
    }

    #[tokio::test]
    async fn a_payload_serde_cannot_read_is_cut_down_to_the_bytes_that_matter() {
        let mut payload =
            br#"{"device": "Device A", "data": {"temperature": 21.5, "name": ""#.to_vec();
        payload.push(0xff);
        payload.extend_from_slice(br#"xyz", "humidity": 40}}"#);
        let input = vec![Action::Send {
            topic: "v1/gateway/attributes".into(),
            payload,
            qos: None,
            again: None,
        }];
        let (minimal, spent) = minimize(input, &mut QuoteThenInvalidByte, 500).await;
        let Action::Send { payload, .. } = &minimal[0] else {
            panic!("{minimal:?}")
        };
        assert_eq!(payload, b"\"\xff", "after {spent} replays");
    }

    #[test]
    fn smaller_trees_leave_out_members_and_unwrap_containers() {
        let trees = smaller_trees(&json!({"a": {"b": [1]}, "c": "x"}));
        assert!(trees.contains(&json!({"c": "x"})));
        assert!(trees.contains(&json!({"a": {"b": [1]}})));
        assert!(trees.contains(&json!({"a": [1], "c": "x"})));
        assert!(trees.contains(&json!({"a": {}, "c": "x"})));
    }
}
