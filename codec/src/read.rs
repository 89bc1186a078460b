//! Reading fields of a parsed payload the way ThingsBoard's Gson calls read them
//! (`getAsString`, `getAsInt`, `getAsLong`, `getAsBoolean`), with every conversion
//! reported as a leniency, or, in strict mode, refused.

use crate::Mode;
use crate::error::{ErrorKind, TbAnswer};
use crate::json::{Json, JsonKind, Number, Object};
use crate::leniency::LeniencyKind;
use crate::parse::{Member, Node, NodeKind};
use crate::path::{JsonPath, Trail};
use crate::value::{Decimal, TypingError};

/// A decode failure before it is placed (line:column) and labelled with its topic.
#[derive(Debug)]
pub(crate) struct Failure {
    pub at: usize,
    pub path: JsonPath,
    pub kind: ErrorKind,
    pub answer: TbAnswer,
    pub hint: Option<&'static str>,
}

impl Failure {
    pub fn new(at: usize, trail: &Trail<'_>, kind: ErrorKind, answer: TbAnswer) -> Failure {
        Failure {
            at,
            path: trail.to_path(),
            kind,
            answer,
            hint: None,
        }
    }

    pub fn with_hint(mut self, hint: &'static str) -> Failure {
        self.hint = Some(hint);
        self
    }
}

/// A leniency with its byte offset, placed once decoding is done.
#[derive(Debug)]
pub(crate) struct Note {
    pub at: usize,
    pub path: Option<JsonPath>,
    pub kind: LeniencyKind,
}

/// Decoding state: the mode, and the leniencies applied so far.
pub(crate) struct Ctx {
    pub mode: Mode,
    pub notes: Vec<Note>,
    /// No Gson conversions: for messages ThingsBoard writes, which have exact types.
    pub exact_types: bool,
}

pub(crate) type Read<T> = Result<T, Failure>;

impl Ctx {
    pub fn new(mode: Mode, exact_types: bool) -> Ctx {
        Ctx {
            mode,
            notes: Vec::new(),
            exact_types,
        }
    }

    /// Records a leniency in ThingsBoard mode; refuses it in strict mode (typing notes excepted).
    pub fn forgive(&mut self, at: usize, trail: &Trail<'_>, kind: LeniencyKind) -> Read<()> {
        match self.mode {
            Mode::ThingsBoard => {
                self.notes.push(Note {
                    at,
                    path: Some(trail.to_path()),
                    kind,
                });
                Ok(())
            }
            Mode::Strict if kind.is_typing_note() => {
                self.notes.push(Note {
                    at,
                    path: Some(trail.to_path()),
                    kind,
                });
                Ok(())
            }
            // The answer is replaced by ThingsBoard's own once the error is finished.
            Mode::Strict => Err(Failure::new(
                at,
                trail,
                ErrorKind::NotStrict(kind),
                TbAnswer::Accepts,
            )),
        }
    }

    /// Reports every member whose key is not in `known` as a field ThingsBoard does not read.
    pub fn unknown_fields(
        &mut self,
        members: &[Member<'_>],
        known: &[&str],
        trail: &Trail<'_>,
    ) -> Read<()> {
        for member in members.iter().filter(|m| !known.contains(&m.key)) {
            let kind = LeniencyKind::UnknownField {
                field: member.key.to_owned(),
            };
            self.forgive(member.key_at, &trail.key(member.key), kind)?;
        }
        Ok(())
    }

    /// A required field read with one of the readers below, e.g. `ctx.read_required(Ctx::int, …)`.
    pub fn read_required<T>(
        &mut self,
        read: fn(&mut Ctx, &Node<'_>, &Trail<'_>, TbAnswer) -> Read<T>,
        members: &[Member<'_>],
        name: &'static str,
        at: usize,
        trail: &Trail<'_>,
        fail: TbAnswer,
    ) -> Read<T> {
        let node = required(members, name, at, trail, fail)?;
        read(self, node, &trail.key(name), fail)
    }

    /// `getAsString()`: strings as they are; numbers and booleans as their text.
    pub fn string(&mut self, node: &Node<'_>, trail: &Trail<'_>, fail: TbAnswer) -> Read<String> {
        match &node.kind {
            NodeKind::String(s) => Ok((*s).to_owned()),
            _ if self.exact_types => Err(wrong_type(node, trail, "a string", fail)),
            NodeKind::Number(text) => {
                self.converted(
                    node,
                    trail,
                    JsonKind::Number,
                    text,
                    format!("the string {text:?}"),
                )?;
                Ok((*text).to_owned())
            }
            NodeKind::Bool(b) => {
                let text = b.to_string();
                self.converted(
                    node,
                    trail,
                    JsonKind::Bool,
                    &text,
                    format!("the string {text:?}"),
                )?;
                Ok(text)
            }
            NodeKind::Array(items) if items.len() == 1 => {
                self.forgive(node.at, trail, LeniencyKind::SingleElementArray)?;
                self.string(&items[0], trail, fail)
            }
            _ => Err(wrong_type(node, trail, "a string", fail)),
        }
    }

    /// `getAsInt()`: numbers truncated and wrapped to 32 bits, strings through `Integer.parseInt`.
    pub fn int(&mut self, node: &Node<'_>, trail: &Trail<'_>, fail: TbAnswer) -> Read<i32> {
        self.integer(node, trail, fail)
    }

    /// `getAsLong()`: numbers truncated and wrapped to 64 bits, strings through `Long.parseLong`.
    pub fn long(&mut self, node: &Node<'_>, trail: &Trail<'_>, fail: TbAnswer) -> Read<i64> {
        self.integer(node, trail, fail)
    }

    fn integer<T: JavaInteger>(
        &mut self,
        node: &Node<'_>,
        trail: &Trail<'_>,
        fail: TbAnswer,
    ) -> Read<T> {
        let (from, original, value) = match &node.kind {
            NodeKind::Number(text) => {
                if let Some(value) = plain_integer(text).and_then(T::exact) {
                    return Ok(value);
                }
                (JsonKind::Number, *text, java_long_value(text).map(T::wrap))
            }
            NodeKind::String(s) => (JsonKind::String, *s, T::parse(s)),
            NodeKind::Array(items) if items.len() == 1 && !self.exact_types => {
                self.forgive(node.at, trail, LeniencyKind::SingleElementArray)?;
                return self.integer(&items[0], trail, fail);
            }
            _ => return Err(wrong_type(node, trail, "an integer", fail)),
        };
        match value {
            Some(value) if !self.exact_types => {
                self.converted(node, trail, from, original, format!("the integer {value}"))?;
                Ok(value)
            }
            _ => Err(wrong_type(node, trail, "an integer", fail)),
        }
    }

    /// `getAsBoolean()`: booleans as they are; any other primitive is true only if its text is `true` in any case.
    pub fn boolean(&mut self, node: &Node<'_>, trail: &Trail<'_>, fail: TbAnswer) -> Read<bool> {
        let (from, text) = match &node.kind {
            NodeKind::Bool(b) => return Ok(*b),
            _ if self.exact_types => return Err(wrong_type(node, trail, "a boolean", fail)),
            NodeKind::String(s) => (JsonKind::String, *s),
            NodeKind::Number(text) => (JsonKind::Number, *text),
            NodeKind::Array(items) if items.len() == 1 => {
                self.forgive(node.at, trail, LeniencyKind::SingleElementArray)?;
                return self.boolean(&items[0], trail, fail);
            }
            _ => return Err(wrong_type(node, trail, "a boolean", fail)),
        };
        let value = text.eq_ignore_ascii_case("true");
        self.converted(node, trail, from, text, format!("the boolean {value}"))?;
        Ok(value)
    }

    fn converted(
        &mut self,
        node: &Node<'_>,
        trail: &Trail<'_>,
        from: JsonKind,
        original: &str,
        read_as: String,
    ) -> Read<()> {
        let kind = LeniencyKind::Converted {
            from,
            original: original.to_owned(),
            read_as,
        };
        self.forgive(node.at, trail, kind)
    }
}

/// The members of an object node, or `None` for any other kind.
pub(crate) fn members<'n, 'a>(node: &'n Node<'a>) -> Option<&'n [Member<'a>]> {
    match &node.kind {
        NodeKind::Object(members) => Some(members),
        _ => None,
    }
}

/// A required field: absent fails with `fail` (ThingsBoard's NullPointerException path).
pub(crate) fn required<'n, 'a>(
    members: &'n [Member<'a>],
    name: &'static str,
    at: usize,
    trail: &Trail<'_>,
    fail: TbAnswer,
) -> Read<&'n Node<'a>> {
    field(members, name)
        .ok_or_else(|| Failure::new(at, trail, ErrorKind::MissingField { field: name }, fail))
}

/// `JsonObject.get(name)`.
pub(crate) fn field<'n, 'a>(members: &'n [Member<'a>], name: &str) -> Option<&'n Node<'a>> {
    members.iter().find(|m| m.key == name).map(|m| &m.value)
}

pub(crate) fn kind_of(node: &Node<'_>) -> JsonKind {
    match node.kind {
        NodeKind::Null => JsonKind::Null,
        NodeKind::Bool(_) => JsonKind::Bool,
        NodeKind::Number(_) => JsonKind::Number,
        NodeKind::String(_) => JsonKind::String,
        NodeKind::Array(_) => JsonKind::Array,
        NodeKind::Object(_) => JsonKind::Object,
    }
}

/// A short description of a value for "found …" in error messages.
pub(crate) fn describe(node: &Node<'_>) -> String {
    const MAX: usize = 40;
    let clip = |s: &str| {
        if s.chars().count() > MAX {
            format!("{}…", s.chars().take(MAX).collect::<String>())
        } else {
            s.to_owned()
        }
    };
    match &node.kind {
        NodeKind::Null => "null".into(),
        NodeKind::Bool(b) => format!("the boolean {b}"),
        NodeKind::Number(n) => format!("the number {}", clip(n)),
        NodeKind::String(s) => format!("the string {:?}", clip(s)),
        NodeKind::Array(items) => match items.len() {
            0 => "an empty array".into(),
            1 => "an array of 1 value".into(),
            n => format!("an array of {n} values"),
        },
        NodeKind::Object(_) => "an object".into(),
    }
}

pub(crate) fn wrong_type(
    node: &Node<'_>,
    trail: &Trail<'_>,
    expected: &'static str,
    fail: TbAnswer,
) -> Failure {
    Failure::new(
        node.at,
        trail,
        ErrorKind::WrongType {
            expected,
            found: describe(node),
        },
        fail,
    )
}

/// The owned value of a node.
pub(crate) fn to_json(node: &Node<'_>) -> Json {
    match &node.kind {
        NodeKind::Null => Json::Null,
        NodeKind::Bool(b) => Json::Bool(*b),
        NodeKind::Number(text) => Json::Number(Number::from_valid_text(text)),
        NodeKind::String(s) => Json::String((*s).to_owned()),
        NodeKind::Array(items) => Json::Array(items.iter().map(to_json).collect()),
        NodeKind::Object(members) => {
            let mut object = Object::with_capacity(members.len());
            for m in *members {
                // The parser already resolved repeated keys.
                object.push_unique(m.key, to_json(&m.value));
            }
            Json::Object(object)
        }
    }
}

/// A number written as a plain integer (`-?digits`) that fits an `i64`.
fn plain_integer(text: &str) -> Option<i64> {
    let digits = text.strip_prefix('-').unwrap_or(text);
    if digits.bytes().all(|b| b.is_ascii_digit()) {
        text.parse().ok()
    } else {
        None
    }
}

/// Java `Long.parseLong`: an optional sign and ASCII digits, in range.
pub(crate) fn java_parse_long(s: &str) -> Option<i64> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Java's `int` and `long` as Gson reads them.
trait JavaInteger: Copy + std::fmt::Display {
    /// The value of a plain integer that fits.
    fn exact(n: i64) -> Option<Self>;
    /// The low bits of a wider value: Java's `(int)` cast, or the long itself.
    fn wrap(n: i64) -> Self;
    /// `Integer.parseInt` / `Long.parseLong`.
    fn parse(s: &str) -> Option<Self>;
}

impl JavaInteger for i32 {
    fn exact(n: i64) -> Option<i32> {
        i32::try_from(n).ok()
    }

    fn wrap(n: i64) -> i32 {
        n as i32
    }

    fn parse(s: &str) -> Option<i32> {
        java_parse_long(s).and_then(|n| i32::try_from(n).ok())
    }
}

impl JavaInteger for i64 {
    fn exact(n: i64) -> Option<i64> {
        Some(n)
    }

    fn wrap(n: i64) -> i64 {
        n
    }

    fn parse(s: &str) -> Option<i64> {
        java_parse_long(s)
    }
}

/// `LazilyParsedNumber.longValue()`: `Long.parseLong`, else `BigDecimal.longValue()`,
/// which truncates the fraction and keeps the low 64 bits. `None` when the exponent is too large.
pub(crate) fn java_long_value(text: &str) -> Option<i64> {
    match Decimal::parse(text)? {
        Ok(decimal) => Some(decimal.low_64_bits()),
        Err(TypingError::ExponentTooLarge) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_long_value_truncates_and_wraps_like_bigdecimal() {
        assert_eq!(java_long_value("1.5"), Some(1));
        assert_eq!(java_long_value("-1.5"), Some(-1));
        assert_eq!(java_long_value("1e2"), Some(100));
        assert_eq!(java_long_value("1.23e1"), Some(12));
        assert_eq!(java_long_value("18446744073709551617"), Some(1));
        assert_eq!(java_long_value("1e64"), Some(0));
        assert_eq!(java_long_value("1e-5"), Some(0));
        assert_eq!(java_long_value("1e99999"), None);
        // Regression (found by fuzzing): `abs()` of an exponent of i64::MIN overflowed.
        assert_eq!(java_long_value("4e-9223372036854775808"), None);
        assert_eq!(java_long_value("4294967297").map(|n| n as i32), Some(1));
    }

    #[test]
    fn java_parse_long_takes_a_sign_and_digits_only() {
        assert_eq!(java_parse_long("+5"), Some(5));
        assert_eq!(java_parse_long("-5"), Some(-5));
        for bad in ["", "+", "1.5", " 5", "5 ", "1e2", "9223372036854775808"] {
            assert_eq!(java_parse_long(bad), None, "{bad}");
        }
    }
}
