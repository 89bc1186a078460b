//! Expected documents with holes: a pattern is a JSON value where an object with a single
//! `$`-key is an operator.
//!
//! | operator | matches |
//! |---|---|
//! | `{$type: integer}` | any value of that type: `integer`, `number`, `string`, `boolean`, `object`, `array`, `null`, `any` |
//! | `{$regex: "^v[0-9]+$"}` | a string the regular expression finds a match in |
//! | `{$any_of: [p1, p2]}` | a value matching one of the patterns |
//! | `{$absent: true}` | (as an object member) the key is missing |
//! | `{$subset: {...}}` / `{$exact: {...}}` | an object that may / may not have more keys |
//! | `{$unordered: [...]}` | an array with these elements in any order |
//! | `{$json: p}` | a string holding JSON text that matches `p` |
//! | `{$capture: name}` | anything; binds `${name}` for later steps |
//! | `{$literal: v}` | exactly `v`, operators included |
//!
//! Everything else matches exactly; numbers keep their kind (`42` is not `42.0`).

use serde_json::{Map, Value};

/// How objects without `$subset`/`$exact` match.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Objects {
    /// No keys beyond the pattern's (MQTT payloads).
    Exact,
    /// More keys allowed (REST responses).
    Subset,
}

/// Where and how a value differs from its pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mismatch {
    /// The JSON path, `$.data.id`.
    pub path: String,
    pub why: String,
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "at {}: {}", self.path, self.why)
    }
}

/// Captured values, by name.
pub type Captures = Map<String, Value>;

pub fn check(pattern: &Value, actual: &Value, objects: Objects) -> Result<Captures, Mismatch> {
    let mut captures = Captures::new();
    walk(pattern, actual, objects, "$", &mut captures)?;
    Ok(captures)
}

fn operator(pattern: &Value) -> Option<(&str, &Value)> {
    match pattern {
        Value::Object(map) if map.len() == 1 => map
            .iter()
            .next()
            .filter(|(k, _)| k.starts_with('$'))
            .map(|(k, v)| (k.as_str(), v)),
        _ => None,
    }
}

/// Whether `pattern` is `{$absent: true}`.
pub fn is_absent(pattern: &Value) -> bool {
    matches!(operator(pattern), Some(("$absent", Value::Bool(true))))
}

fn short(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() > 200 {
        format!("{}…", text.chars().take(200).collect::<String>())
    } else {
        text
    }
}

fn fail<T>(path: &str, why: String) -> Result<T, Mismatch> {
    Err(Mismatch {
        path: path.to_owned(),
        why,
    })
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_f64() => "number (floating point)",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn walk(
    pattern: &Value,
    actual: &Value,
    objects: Objects,
    path: &str,
    captures: &mut Captures,
) -> Result<(), Mismatch> {
    if let Some((op, arg)) = operator(pattern) {
        return apply(op, arg, actual, objects, path, captures);
    }
    match (pattern, actual) {
        (Value::Object(expected), Value::Object(got)) => {
            match_object(expected, got, objects, path, captures)
        }
        (Value::Array(expected), Value::Array(got)) => {
            if expected.len() != got.len() {
                return fail(
                    path,
                    format!(
                        "expected an array of {} elements, got {}: {}",
                        expected.len(),
                        got.len(),
                        short(actual)
                    ),
                );
            }
            for (i, (p, a)) in expected.iter().zip(got).enumerate() {
                walk(p, a, objects, &format!("{path}[{i}]"), captures)?;
            }
            Ok(())
        }
        _ if pattern == actual => Ok(()),
        _ => fail(
            path,
            format!(
                "expected {} ({}), got {} ({})",
                short(pattern),
                type_name(pattern),
                short(actual),
                type_name(actual)
            ),
        ),
    }
}

fn match_object(
    expected: &Map<String, Value>,
    got: &Map<String, Value>,
    objects: Objects,
    path: &str,
    captures: &mut Captures,
) -> Result<(), Mismatch> {
    for (key, p) in expected {
        let member = format!("{path}.{key}");
        match got.get(key) {
            None if is_absent(p) => {}
            None => {
                return fail(&member, format!("missing (expected {})", short(p)));
            }
            Some(value) if is_absent(p) => {
                return fail(
                    &member,
                    format!("expected no such key, got {}", short(value)),
                );
            }
            Some(value) => walk(p, value, objects, &member, captures)?,
        }
    }
    if objects == Objects::Exact {
        let extra: Vec<&str> = got
            .keys()
            .filter(|k| !expected.contains_key(*k))
            .map(String::as_str)
            .collect();
        if !extra.is_empty() {
            return fail(
                path,
                format!(
                    "unexpected key(s) {} (use $subset to allow more keys)",
                    extra.join(", ")
                ),
            );
        }
    }
    Ok(())
}

fn apply(
    op: &str,
    arg: &Value,
    actual: &Value,
    objects: Objects,
    path: &str,
    captures: &mut Captures,
) -> Result<(), Mismatch> {
    match op {
        "$type" => {
            let wanted = arg.as_str().unwrap_or("");
            let ok = match wanted {
                "any" => true,
                "integer" => actual.is_i64() || actual.is_u64(),
                "number" => actual.is_number(),
                "string" => actual.is_string(),
                "boolean" => actual.is_boolean(),
                "object" => actual.is_object(),
                "array" => actual.is_array(),
                "null" => actual.is_null(),
                other => {
                    return fail(path, format!("unknown $type {other:?}"));
                }
            };
            if ok {
                Ok(())
            } else {
                fail(
                    path,
                    format!(
                        "expected any {wanted}, got {} ({})",
                        short(actual),
                        type_name(actual)
                    ),
                )
            }
        }
        "$regex" => {
            let text = arg.as_str().unwrap_or("");
            let regex = regex::Regex::new(text).map_err(|e| Mismatch {
                path: path.to_owned(),
                why: format!("bad $regex {text:?}: {e}"),
            })?;
            match actual.as_str() {
                Some(s) if regex.is_match(s) => Ok(()),
                _ => fail(
                    path,
                    format!("expected a string matching /{text}/, got {}", short(actual)),
                ),
            }
        }
        "$any_of" => {
            let options = arg.as_array().map(Vec::as_slice).unwrap_or_default();
            let mut reasons = Vec::new();
            for option in options {
                let mut local = captures.clone();
                match walk(option, actual, objects, path, &mut local) {
                    Ok(()) => {
                        *captures = local;
                        return Ok(());
                    }
                    Err(m) => reasons.push(m.why),
                }
            }
            fail(
                path,
                format!(
                    "matches none of {} alternatives: {}",
                    options.len(),
                    reasons.join("; ")
                ),
            )
        }
        "$absent" => fail(path, format!("expected no value, got {}", short(actual))),
        "$subset" => walk_with(arg, actual, Objects::Subset, path, captures),
        "$exact" => walk_with(arg, actual, Objects::Exact, path, captures),
        "$unordered" => unordered(arg, actual, objects, path, captures),
        "$json" => {
            let parsed = actual
                .as_str()
                .and_then(|s| serde_json::from_str::<Value>(s).ok());
            match parsed {
                Some(inner) => walk(arg, &inner, objects, &format!("{path}(json)"), captures),
                None => fail(
                    path,
                    format!("expected a string holding JSON, got {}", short(actual)),
                ),
            }
        }
        "$capture" => {
            let name = arg.as_str().unwrap_or("");
            captures.insert(name.to_owned(), actual.clone());
            Ok(())
        }
        "$literal" => {
            if arg == actual {
                Ok(())
            } else {
                fail(
                    path,
                    format!("expected {}, got {}", short(arg), short(actual)),
                )
            }
        }
        other => fail(path, format!("unknown pattern operator {other}")),
    }
}

fn walk_with(
    pattern: &Value,
    actual: &Value,
    objects: Objects,
    path: &str,
    captures: &mut Captures,
) -> Result<(), Mismatch> {
    match (pattern, actual) {
        (Value::Object(expected), Value::Object(got)) => {
            match_object(expected, got, objects, path, captures)
        }
        _ => walk(pattern, actual, objects, path, captures),
    }
}

fn unordered(
    arg: &Value,
    actual: &Value,
    objects: Objects,
    path: &str,
    captures: &mut Captures,
) -> Result<(), Mismatch> {
    let expected = arg.as_array().map(Vec::as_slice).unwrap_or_default();
    let Some(got) = actual.as_array() else {
        return fail(path, format!("expected an array, got {}", short(actual)));
    };
    if expected.len() != got.len() {
        return fail(
            path,
            format!(
                "expected {} elements in any order, got {}: {}",
                expected.len(),
                got.len(),
                short(actual)
            ),
        );
    }
    let mut used = vec![false; got.len()];
    for (i, p) in expected.iter().enumerate() {
        let found = got.iter().enumerate().find_map(|(j, a)| {
            if used[j] {
                return None;
            }
            let mut local = captures.clone();
            walk(p, a, objects, path, &mut local)
                .ok()
                .map(|()| (j, local))
        });
        match found {
            Some((j, local)) => {
                used[j] = true;
                *captures = local;
            }
            None => {
                return fail(
                    &format!("{path}[{i}]"),
                    format!("no element matches {} in {}", short(p), short(actual)),
                );
            }
        }
    }
    Ok(())
}

/// Mistakes in a pattern (unknown operators, bad regular expressions), found when the
/// scenario loads.
pub fn unknown_operators(pattern: &Value) -> Vec<String> {
    const KNOWN: [&str; 10] = [
        "$type",
        "$regex",
        "$any_of",
        "$absent",
        "$subset",
        "$exact",
        "$unordered",
        "$json",
        "$capture",
        "$literal",
    ];
    let mut out = Vec::new();
    collect_unknown(pattern, &KNOWN, &mut out);
    out
}

fn collect_unknown(pattern: &Value, known: &[&str], out: &mut Vec<String>) {
    if let Some((op, arg)) = operator(pattern) {
        if !known.contains(&op) {
            out.push(format!(
                "unknown pattern operator {op} (known: {})",
                known.join(", ")
            ));
        }
        if op == "$regex"
            && let Err(e) = regex::Regex::new(arg.as_str().unwrap_or(""))
        {
            out.push(format!("bad $regex {arg}: {e}"));
        }
        if op != "$literal" {
            collect_unknown(arg, known, out);
        }
        return;
    }
    match pattern {
        Value::Object(map) => map.values().for_each(|v| collect_unknown(v, known, out)),
        Value::Array(items) => items.iter().for_each(|v| collect_unknown(v, known, out)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn exact_objects_refuse_extra_keys_and_subset_allows_them() {
        let p = json!({"device": "A"});
        let v = json!({"device": "A", "data": 1});
        assert!(check(&p, &v, Objects::Exact).is_err());
        assert!(check(&p, &v, Objects::Subset).is_ok());
        assert!(check(&json!({"$subset": {"device": "A"}}), &v, Objects::Exact).is_ok());
    }

    #[test]
    fn numbers_keep_their_kind() {
        let err = check(&json!(42), &json!(42.0), Objects::Exact).unwrap_err();
        assert_eq!(
            err.why,
            "expected 42 (integer), got 42.0 (number (floating point))"
        );
        assert!(check(&json!({"$type": "number"}), &json!(42.0), Objects::Exact).is_ok());
        assert!(check(&json!({"$type": "integer"}), &json!(42.0), Objects::Exact).is_err());
    }

    #[test]
    fn captures_bind_and_absent_requires_a_missing_key() {
        let p = json!({"data": {"id": {"$capture": "rpc_id"}, "x": {"$absent": true}}});
        let captures = check(&p, &json!({"data": {"id": 0}}), Objects::Exact).unwrap();
        assert_eq!(captures.get("rpc_id"), Some(&json!(0)));
        let err = check(&p, &json!({"data": {"id": 0, "x": 1}}), Objects::Exact).unwrap_err();
        assert_eq!(err.path, "$.data.x");
    }

    #[test]
    fn any_of_regex_unordered_and_json_text() {
        assert!(check(&json!({"$any_of": [1, "1"]}), &json!("1"), Objects::Exact).is_ok());
        assert!(check(&json!({"$regex": "^v\\d$"}), &json!("v2"), Objects::Exact).is_ok());
        assert!(check(&json!({"$regex": "^v\\d$"}), &json!("v22"), Objects::Exact).is_err());
        assert!(
            check(
                &json!({"$unordered": [2, 1]}),
                &json!([1, 2]),
                Objects::Exact
            )
            .is_ok()
        );
        assert!(
            check(
                &json!({"$unordered": [2, 2]}),
                &json!([1, 2]),
                Objects::Exact
            )
            .is_err()
        );
        assert!(
            check(
                &json!({"$json": {"a": 1}}),
                &json!("{\"a\":1}"),
                Objects::Exact
            )
            .is_ok()
        );
    }

    #[test]
    fn unknown_operators_are_found_before_running() {
        let p = json!({"a": {"$typo": 1}, "b": {"$regex": "("}});
        let found = unknown_operators(&p);
        assert_eq!(found.len(), 2);
        assert!(
            found[0].starts_with("unknown pattern operator $typo"),
            "{found:?}"
        );
        assert!(found[1].starts_with("bad $regex"), "{found:?}");
    }
}
