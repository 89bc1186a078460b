//! JSON as the gateway API carries it: an owned value that keeps number text exactly
//! as sent, objects in wire order, and the canonical writer every encoder uses.
//!
//! Parsing lives in [`crate::parse`]; this module is the value model and the output.

use std::fmt::{self, Write as _};

use compact_str::CompactString;

/// A JSON value. Numbers keep their text (`3.0` and `3` differ, as they do for
/// ThingsBoard's typing); objects keep their members in wire order.
#[derive(Clone, Debug, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    Number(Number),
    String(String),
    Array(Vec<Json>),
    Object(Object),
}

impl Json {
    /// What kind of JSON value this is, for error messages.
    pub fn kind(&self) -> JsonKind {
        match self {
            Json::Null => JsonKind::Null,
            Json::Bool(_) => JsonKind::Bool,
            Json::Number(_) => JsonKind::Number,
            Json::String(_) => JsonKind::String,
            Json::Array(_) => JsonKind::Array,
            Json::Object(_) => JsonKind::Object,
        }
    }

    /// The canonical text: compact, members in order, minimal escapes, numbers as sent.
    pub fn to_canonical(&self) -> String {
        let mut out = String::new();
        write_json(self, &mut out);
        out
    }
}

impl fmt::Display for Json {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_canonical())
    }
}

impl From<&str> for Json {
    fn from(s: &str) -> Self {
        Json::String(s.to_owned())
    }
}

impl From<String> for Json {
    fn from(s: String) -> Self {
        Json::String(s)
    }
}

impl From<bool> for Json {
    fn from(b: bool) -> Self {
        Json::Bool(b)
    }
}

impl From<i64> for Json {
    fn from(n: i64) -> Self {
        Json::Number(Number::from(n))
    }
}

impl From<Object> for Json {
    fn from(o: Object) -> Self {
        Json::Object(o)
    }
}

/// The kinds of JSON value, named the way error messages name them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum JsonKind {
    Null,
    Bool,
    Number,
    String,
    Array,
    Object,
}

impl fmt::Display for JsonKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            JsonKind::Null => "null",
            JsonKind::Bool => "a boolean",
            JsonKind::Number => "a number",
            JsonKind::String => "a string",
            JsonKind::Array => "an array",
            JsonKind::Object => "an object",
        })
    }
}

/// A JSON number, kept as its text (inline when short), which always follows the RFC 8259 grammar
/// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Number(CompactString);

impl Number {
    /// The number for `text`, or `None` when `text` is not an RFC 8259 number.
    pub fn parse(text: &str) -> Option<Number> {
        (number_len(text.as_bytes()) == Some(text.len())).then(|| Number::from_valid_text(text))
    }

    /// A finite `f64` written the shortest way that reads back the same; `None` for NaN and infinities.
    pub fn from_f64(value: f64) -> Option<Number> {
        if !value.is_finite() {
            return None;
        }
        let text = format!("{value:?}");
        // Rust writes `1e300` and `1.5e-7`; both are valid JSON.
        Number::parse(&text)
    }

    /// The text as sent.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// True when the text is a plain integer (no fraction, no exponent).
    pub fn is_integer_literal(&self) -> bool {
        !self.as_str().contains(['.', 'e', 'E'])
    }

    /// The value as an `i64` when the text is a plain integer within range.
    pub fn as_i64(&self) -> Option<i64> {
        if self.is_integer_literal() {
            self.as_str().parse().ok()
        } else {
            None
        }
    }

    /// The nearest `f64`.
    pub fn as_f64(&self) -> f64 {
        // The grammar is a subset of what Rust's float parser reads.
        self.as_str().parse().unwrap_or(f64::NAN)
    }

    /// Wraps text the caller has already checked against the grammar.
    pub(crate) fn from_valid_text(text: &str) -> Number {
        Number(CompactString::new(text))
    }
}

impl fmt::Debug for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Number({})", self.as_str())
    }
}

impl From<i64> for Number {
    fn from(n: i64) -> Self {
        Number::from_valid_text(&n.to_string())
    }
}

impl From<i32> for Number {
    fn from(n: i32) -> Self {
        Number::from(i64::from(n))
    }
}

impl fmt::Display for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The length of the RFC 8259 number at the start of `bytes`, if one starts there.
pub(crate) fn number_len(bytes: &[u8]) -> Option<usize> {
    let digits = |from: usize| {
        bytes[from..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count()
    };
    let mut i = 0;
    if bytes.first() == Some(&b'-') {
        i += 1;
    }
    match bytes.get(i) {
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => i += digits(i),
        _ => return None,
    }
    if bytes.get(i) == Some(&b'.') {
        let n = digits(i + 1);
        if n == 0 {
            return None;
        }
        i += 1 + n;
    }
    if matches!(bytes.get(i), Some(b'e' | b'E')) {
        let mut j = i + 1;
        if matches!(bytes.get(j), Some(b'+' | b'-')) {
            j += 1;
        }
        let n = digits(j);
        if n == 0 {
            return None;
        }
        i = j + n;
    }
    Some(i)
}

/// A JSON object with unique keys in wire order. Keys are kept inline when short (as
/// nearly all are), which spares the allocator one call per data point.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Object(Vec<(CompactString, Json)>);

impl Object {
    pub fn new() -> Object {
        Object(Vec::new())
    }

    pub fn with_capacity(capacity: usize) -> Object {
        Object(Vec::with_capacity(capacity))
    }

    /// Sets `key` to `value`. An existing key keeps its place and takes the new value,
    /// which is how ThingsBoard's parser treats a repeated key.
    pub fn insert(&mut self, key: impl Into<String>, value: Json) {
        let key = key.into();
        match self.0.iter_mut().find(|(k, _)| k.as_str() == key) {
            Some((_, slot)) => *slot = value,
            None => self.0.push((CompactString::from(key), value)),
        }
    }

    pub fn get(&self, key: &str) -> Option<&Json> {
        self.0
            .iter()
            .find(|(k, _)| k.as_str() == key)
            .map(|(_, v)| v)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &Json)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v))
    }

    pub fn keys(&self) -> impl ExactSizeIterator<Item = &str> {
        self.0.iter().map(|(k, _)| k.as_str())
    }

    /// Appends without looking for an existing key; the caller guarantees uniqueness.
    pub(crate) fn push_unique(&mut self, key: &str, value: Json) {
        self.0.push((CompactString::new(key), value));
    }
}

impl<K: Into<String>> FromIterator<(K, Json)> for Object {
    fn from_iter<I: IntoIterator<Item = (K, Json)>>(iter: I) -> Self {
        let mut object = Object::new();
        for (k, v) in iter {
            object.insert(k, v);
        }
        object
    }
}

type IntoMember = fn((CompactString, Json)) -> (String, Json);

impl IntoIterator for Object {
    type Item = (String, Json);
    type IntoIter = std::iter::Map<std::vec::IntoIter<(CompactString, Json)>, IntoMember>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter().map(|(k, v)| (k.into_string(), v))
    }
}

/// Writes `value` in canonical form.
pub fn write_json(value: &Json, out: &mut String) {
    match value {
        Json::Null => out.push_str("null"),
        Json::Bool(true) => out.push_str("true"),
        Json::Bool(false) => out.push_str("false"),
        Json::Number(n) => out.push_str(n.as_str()),
        Json::String(s) => write_string(s, out),
        Json::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(item, out);
            }
            out.push(']');
        }
        Json::Object(object) => ObjectWriter::new(out).members(object).finish(),
    }
}

/// Writes an object member by member, in the order the calls come.
pub struct ObjectWriter<'o> {
    out: &'o mut String,
    empty: bool,
}

impl<'o> ObjectWriter<'o> {
    pub fn new(out: &'o mut String) -> ObjectWriter<'o> {
        out.push('{');
        ObjectWriter { out, empty: true }
    }

    /// Writes `"key":` and hands back the output for the value.
    pub fn key(&mut self, key: &str) -> &mut String {
        if !self.empty {
            self.out.push(',');
        }
        self.empty = false;
        write_string(key, self.out);
        self.out.push(':');
        self.out
    }

    pub fn string(&mut self, key: &str, value: &str) -> &mut Self {
        write_string(value, self.key(key));
        self
    }

    pub fn integer(&mut self, key: &str, value: i64) -> &mut Self {
        let _ = write!(self.key(key), "{value}");
        self
    }

    pub fn boolean(&mut self, key: &str, value: bool) -> &mut Self {
        self.key(key).push_str(if value { "true" } else { "false" });
        self
    }

    pub fn json(&mut self, key: &str, value: &Json) -> &mut Self {
        write_json(value, self.key(key));
        self
    }

    pub fn strings(&mut self, key: &str, values: &[String]) -> &mut Self {
        let out = self.key(key);
        out.push('[');
        for (i, v) in values.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            write_string(v, out);
        }
        out.push(']');
        self
    }

    /// Writes every member of `object` into this one.
    pub fn members(&mut self, object: &Object) -> &mut Self {
        for (k, v) in object.iter() {
            self.json(k, v);
        }
        self
    }

    pub fn finish(&mut self) {
        self.out.push('}');
    }
}

/// Writes a JSON string: `"` and `\` escaped, control characters as `\n`-style or `\u00XX`,
/// everything else (including non-ASCII) as UTF-8.
pub fn write_string(s: &str, out: &mut String) {
    out.push('"');
    let mut plain_from = 0;
    for (i, b) in s.bytes().enumerate() {
        let escape = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0C => "\\f",
            0x00..=0x1F => "",
            _ => continue,
        };
        out.push_str(&s[plain_from..i]);
        if escape.is_empty() {
            let _ = write!(out, "\\u{b:04x}");
        } else {
            out.push_str(escape);
        }
        plain_from = i + 1;
    }
    out.push_str(&s[plain_from..]);
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn number_grammar_is_rfc_8259() {
        for ok in ["0", "-0", "12", "1.5", "1e2", "1E+2", "-3.25e-7"] {
            assert!(Number::parse(ok).is_some(), "{ok}");
        }
        for bad in [
            "", "-", "01", "1.", ".5", "+1", "1e", "1e+", "NaN", "0x10", "1 ",
        ] {
            assert!(Number::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn strings_escape_only_what_json_requires() {
        let mut out = String::new();
        write_string("a\"b\\c\n\u{1}é/", &mut out);
        assert_eq!(out, r#""a\"b\\c\n\u0001é/""#);
    }

    #[test]
    fn repeated_insert_keeps_first_place_and_last_value() {
        let mut o = Object::new();
        o.insert("a", Json::from(1));
        o.insert("b", Json::from(2));
        o.insert("a", Json::from(3));
        assert_eq!(Json::Object(o).to_canonical(), r#"{"a":3,"b":2}"#);
    }

    #[test]
    fn floats_are_written_shortest() {
        assert_eq!(Number::from_f64(23.5).unwrap().as_str(), "23.5");
        assert_eq!(Number::from_f64(1e300).unwrap().as_str(), "1e300");
        assert!(Number::from_f64(f64::NAN).is_none());
    }
}

/// Generators for structure-aware fuzzing: valid numbers, bounded nesting.
#[cfg(feature = "arbitrary")]
mod arbitrary_impls {
    use arbitrary::{Arbitrary, Result, Unstructured};

    use super::{Json, Number, Object};

    const MAX_DEPTH: u32 = 4;
    const MAX_ITEMS: usize = 8;

    impl<'a> Arbitrary<'a> for Number {
        fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
            Ok(if u.arbitrary()? {
                Number::from(u.arbitrary::<i64>()?)
            } else {
                Number::from_f64(u.arbitrary()?).unwrap_or_else(|| Number::from(0i64))
            })
        }
    }

    impl<'a> Arbitrary<'a> for Json {
        fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
            json(u, 0)
        }
    }

    impl<'a> Arbitrary<'a> for Object {
        fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
            object(u, 0)
        }
    }

    fn json(u: &mut Unstructured<'_>, depth: u32) -> Result<Json> {
        let last = if depth < MAX_DEPTH { 5 } else { 3 };
        Ok(match u.int_in_range(0..=last)? {
            0 => Json::Null,
            1 => Json::Bool(u.arbitrary()?),
            2 => Json::Number(u.arbitrary()?),
            3 => Json::String(u.arbitrary()?),
            4 => {
                let len = u.arbitrary_len::<u8>()?.min(MAX_ITEMS);
                Json::Array(
                    (0..len)
                        .map(|_| json(u, depth + 1))
                        .collect::<Result<_>>()?,
                )
            }
            _ => Json::Object(object(u, depth + 1)?),
        })
    }

    fn object(u: &mut Unstructured<'_>, depth: u32) -> Result<Object> {
        let len = u.arbitrary_len::<u8>()?.min(MAX_ITEMS);
        let mut object = Object::new();
        for _ in 0..len {
            let key: String = u.arbitrary()?;
            object.insert(key, json(u, depth)?);
        }
        Ok(object)
    }
}
