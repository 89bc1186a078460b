//! `${name}` interpolation on typed values: a string that is exactly `${name}` becomes the
//! variable's value with its type (an integer stays an integer); inside a longer string the
//! value is spliced as text. Object keys are interpolated as text.

use serde_json::{Map, Value};

#[derive(Clone, Debug, Default)]
pub struct Vars {
    values: Map<String, Value>,
}

impl Vars {
    pub fn set(&mut self, name: &str, value: Value) {
        self.values.insert(name.to_owned(), value);
    }

    pub fn get(&self, name: &str) -> Option<&Value> {
        self.values.get(name)
    }

    pub fn extend(&mut self, captures: Map<String, Value>) {
        self.values.extend(captures);
    }

    /// Interpolates text; an unknown variable is an error naming it.
    pub fn text(&self, text: &str) -> Result<String, String> {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let Some(end) = after.find('}') else {
                return Err(format!("unclosed `${{` in {text:?}"));
            };
            let name = &after[..end];
            let value = self.lookup(name)?;
            match value {
                Value::String(s) => out.push_str(s),
                other => out.push_str(&other.to_string()),
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    /// Interpolates `${…}` in bytes that need not be text; the rest is kept byte for byte.
    pub fn bytes(&self, bytes: &[u8]) -> Result<Vec<u8>, String> {
        let mut out = Vec::with_capacity(bytes.len());
        let mut rest = bytes;
        while let Some(start) = rest.windows(2).position(|w| w == b"${") {
            out.extend_from_slice(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after
                .iter()
                .position(|b| *b == b'}')
                .ok_or("unclosed `${` in a base64 payload")?;
            let name = std::str::from_utf8(&after[..end])
                .map_err(|_| "a `${…}` whose name is not UTF-8 in a base64 payload")?;
            match self.lookup(name)? {
                Value::String(s) => out.extend_from_slice(s.as_bytes()),
                other => out.extend_from_slice(other.to_string().as_bytes()),
            }
            rest = &after[end + 1..];
        }
        out.extend_from_slice(rest);
        Ok(out)
    }

    fn lookup(&self, name: &str) -> Result<&Value, String> {
        self.values.get(name).ok_or_else(|| {
            let known: Vec<&str> = self.values.keys().map(String::as_str).collect();
            format!(
                "unknown variable ${{{name}}} (known here: {})",
                known.join(", ")
            )
        })
    }

    /// Interpolates every string and key of a value.
    pub fn value(&self, value: &Value) -> Result<Value, String> {
        Ok(match value {
            Value::String(s) => match whole_variable(s) {
                Some(name) => self.lookup(name)?.clone(),
                None => Value::String(self.text(s)?),
            },
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|v| self.value(v))
                    .collect::<Result<_, _>>()?,
            ),
            Value::Object(map) => {
                let mut out = Map::new();
                for (k, v) in map {
                    // Operator arguments that name a capture are not interpolated.
                    let interpolated = if k == "$capture" || k == "$literal" {
                        v.clone()
                    } else {
                        self.value(v)?
                    };
                    out.insert(self.text(k)?, interpolated);
                }
                Value::Object(out)
            }
            other => other.clone(),
        })
    }
}

fn whole_variable(text: &str) -> Option<&str> {
    let name = text.strip_prefix("${")?.strip_suffix('}')?;
    (!name.contains('}') && !name.contains("${")).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vars() -> Vars {
        let mut v = Vars::default();
        v.set("run", json!("tbgw-1a2b-3"));
        v.set("rpc_id", json!(7));
        v
    }

    #[test]
    fn a_whole_variable_keeps_its_type_and_text_splices() {
        let out = vars()
            .value(&json!({"${run}-A": {"id": "${rpc_id}", "name": "n-${rpc_id}"}}))
            .unwrap();
        assert_eq!(out, json!({"tbgw-1a2b-3-A": {"id": 7, "name": "n-7"}}));
    }

    #[test]
    fn an_unknown_variable_is_named() {
        let err = vars().text("x-${nope}").unwrap_err();
        assert!(err.starts_with("unknown variable ${nope}"), "{err}");
    }

    #[test]
    fn bytes_are_interpolated_and_kept_byte_for_byte_around_the_variables() {
        let out = vars().bytes(b"\xff{\"${run}-A\":1}\xc3").unwrap();
        assert_eq!(out, b"\xff{\"tbgw-1a2b-3-A\":1}\xc3");
        assert!(vars().bytes(b"${run").is_err());
    }
}
