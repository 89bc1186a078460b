//! How ThingsBoard types a telemetry or attribute value (`reference/thingsboard-behavior.md` §1.3,
//! `JsonConverter` with the default `transport.json.type_cast_enabled=true`).

use std::fmt;

use crate::json::{Json, Number};

/// A value as ThingsBoard stores it.
#[derive(Clone, Debug, PartialEq)]
pub enum TbValue {
    Boolean(bool),
    Long(i64),
    Double(f64),
    String(String),
    /// An object or array, stored as its compact JSON text.
    Json(String),
}

impl TbValue {
    pub fn type_name(&self) -> &'static str {
        match self {
            TbValue::Boolean(_) => "boolean",
            TbValue::Long(_) => "long",
            TbValue::Double(_) => "double",
            TbValue::String(_) => "string",
            TbValue::Json(_) => "JSON",
        }
    }
}

impl fmt::Display for TbValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TbValue::Boolean(b) => write!(f, "boolean {b}"),
            TbValue::Long(n) => write!(f, "long {n}"),
            TbValue::Double(x) => write!(f, "double {}", java_double(*x)),
            TbValue::String(s) => write!(f, "string {s:?}"),
            TbValue::Json(text) => write!(f, "JSON {text}"),
        }
    }
}

/// Java's `Double.toString` spelling for the common range (`42.0`, `1.0E10`), the way
/// ThingsBoard writes doubles back to gateways.
pub fn java_double(x: f64) -> String {
    if x.is_nan() {
        return "NaN".into();
    }
    if x.is_infinite() {
        return if x > 0.0 {
            "Infinity".into()
        } else {
            "-Infinity".into()
        };
    }
    let magnitude = x.abs();
    if magnitude == 0.0 || (1e-3..1e7).contains(&magnitude) {
        let text = format!("{x:?}");
        return if text.contains('.') {
            text
        } else {
            format!("{text}.0")
        };
    }
    // Rust's `{:e}` is the shortest round-trip digits: `1e10`, `1.5e-7`.
    let text = format!("{x:e}");
    let (mantissa, exponent) = text.split_once('e').unwrap_or((&text, "0"));
    let mantissa = if mantissa.contains('.') {
        mantissa.to_owned()
    } else {
        format!("{mantissa}.0")
    };
    format!("{mantissa}E{exponent}")
}

/// Why a value could not be typed at all.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TypingError {
    /// The exponent is too large to expand; tbgw's limit, where ThingsBoard would exhaust memory.
    ExponentTooLarge,
}

/// A decimal number split into digits and a power of ten: value = digits × 10^-scale.
pub(crate) struct Decimal {
    negative: bool,
    /// Digits without leading zeros; empty means zero.
    digits: String,
    scale: i64,
}

/// Larger exponents are refused rather than expanded.
const MAX_EXPONENT: i64 = 10_000;

impl Decimal {
    /// Reads `-?digits(.digits)?([eE][+-]?digits)?` (also `.5` and `0042`), as `java.math.BigDecimal` does.
    pub(crate) fn parse(text: &str) -> Option<Result<Decimal, TypingError>> {
        let (negative, rest) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let (mantissa, exponent) = match rest.find(['e', 'E']) {
            Some(i) => (&rest[..i], Some(&rest[i + 1..])),
            None => (rest, None),
        };
        let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if int_part.len() + frac_part.len() == 0 || !all_digits(int_part) || !all_digits(frac_part)
        {
            return None;
        }
        let exponent: i64 = match exponent {
            None => 0,
            Some(e) => {
                let unsigned = e.strip_prefix(['+', '-']).unwrap_or(e);
                if unsigned.is_empty() || !all_digits(unsigned) {
                    return None;
                }
                match e.parse::<i64>() {
                    Ok(v) if v.unsigned_abs() <= MAX_EXPONENT as u64 => v,
                    _ => return Some(Err(TypingError::ExponentTooLarge)),
                }
            }
        };
        let digits: String = format!("{int_part}{frac_part}")
            .trim_start_matches('0')
            .to_owned();
        Some(Ok(Decimal {
            negative,
            digits,
            scale: frac_part.len() as i64 - exponent,
        }))
    }

    /// `BigDecimal.longValue()`: the fraction truncated, the low 64 bits of the integer kept.
    pub(crate) fn low_64_bits(&self) -> i64 {
        let digits = self.digits.as_bytes();
        let kept = match usize::try_from(self.scale) {
            Ok(dropped) => &digits[..digits.len().saturating_sub(dropped)],
            Err(_) => digits,
        };
        let mut value: u64 = 0;
        for d in kept {
            value = value.wrapping_mul(10).wrapping_add(u64::from(d - b'0'));
        }
        // 10^64 is a multiple of 2^64: more zeros leave nothing in the low bits.
        for _ in 0..(-self.scale).clamp(0, 64) {
            value = value.wrapping_mul(10);
        }
        (if self.negative {
            value.wrapping_neg()
        } else {
            value
        }) as i64
    }

    /// `stripTrailingZeros().scale()`.
    fn stripped_scale(&self) -> i64 {
        let zeros = self.digits.len() - self.digits.trim_end_matches('0').len();
        if self.digits.is_empty() {
            0
        } else {
            self.scale - zeros as i64
        }
    }

    /// `toPlainString()` of the value with its own scale.
    fn plain(&self) -> String {
        let sign = if self.negative && !self.digits.is_empty() {
            "-"
        } else {
            ""
        };
        let digits = if self.digits.is_empty() {
            "0"
        } else {
            &self.digits
        };
        if self.scale <= 0 {
            let zeros = if self.digits.is_empty() {
                0
            } else {
                (-self.scale) as usize
            };
            return format!("{sign}{digits}{}", "0".repeat(zeros));
        }
        let scale = self.scale as usize;
        if digits.len() > scale {
            let (int, frac) = digits.split_at(digits.len() - scale);
            format!("{sign}{int}.{frac}")
        } else {
            format!("{sign}0.{}{digits}", "0".repeat(scale - digits.len()))
        }
    }

    /// The value when it is an integer in the `long` range.
    fn as_long(&self) -> Option<i64> {
        let text = self.plain();
        let integer = text.split_once('.').map_or(text.as_str(), |(int, _)| int);
        integer.parse().ok()
    }
}

/// `buildNumericKeyValueProto`: a number (or numeric string) becomes long, double or string.
fn type_number(text: &str, decimal: &Decimal) -> TbValue {
    let simple_double = text.contains('.') && !text.contains(['e', 'E']);
    if decimal.stripped_scale() > 0 || simple_double {
        let own_scale = decimal.scale.max(0);
        if own_scale <= 16 {
            // `BigDecimal` has no negative zero: `-0.0` is stored as 0.0.
            TbValue::Double(text.parse::<f64>().unwrap_or(0.0) + 0.0)
        } else {
            TbValue::String(decimal.plain())
        }
    } else {
        match decimal.as_long() {
            Some(n) => TbValue::Long(n),
            None => TbValue::String(decimal.plain()),
        }
    }
}

/// commons-lang3 `NumberUtils.isParsable`: an optional `-`, digits with at most one `.`, not ending in `.`.
pub fn is_parsable(s: &str) -> bool {
    let body = s.strip_prefix('-').unwrap_or(s);
    !body.is_empty()
        && !s.ends_with('.')
        && body.bytes().filter(|&b| b == b'.').count() <= 1
        && body.bytes().all(|b| b.is_ascii_digit() || b == b'.')
}

/// How ThingsBoard stores `value`; `Ok(None)` for null, which it drops.
pub fn tb_type(value: &Json) -> Result<Option<TbValue>, TypingError> {
    Ok(Some(match value {
        Json::Null => return Ok(None),
        Json::Bool(b) => TbValue::Boolean(*b),
        Json::Number(n) => type_json_number(n)?,
        Json::String(s) => type_string(s),
        Json::Array(_) | Json::Object(_) => TbValue::Json(value.to_canonical()),
    }))
}

fn type_json_number(n: &Number) -> Result<TbValue, TypingError> {
    type_number_text(n.as_str())
}

/// How ThingsBoard types number text (a JSON number, or a string `is_parsable` accepts).
pub(crate) fn type_number_text(text: &str) -> Result<TbValue, TypingError> {
    if let Some(typed) = type_plain_number(text) {
        return Ok(typed);
    }
    match Decimal::parse(text) {
        Some(Ok(decimal)) => Ok(type_number(text, &decimal)),
        Some(Err(e)) => Err(e),
        // Not a number after all: ThingsBoard keeps the text.
        None => Ok(TbValue::String(text.to_owned())),
    }
}

/// The common spellings typed without building a [`Decimal`]: `-?digits` that fit a long,
/// and `-?digits.digits` with at most 16 fraction digits and no exponent (a double). `None`
/// for anything else, which the general path types; both agree wherever this answers (unit
/// test `the_plain_path_types_as_the_decimal_path_does`).
fn type_plain_number(text: &str) -> Option<TbValue> {
    let body = text.strip_prefix('-').unwrap_or(text);
    let (int_part, frac_part) = match body.split_once('.') {
        Some((int, frac)) => (int, Some(frac)),
        None => (body, None),
    };
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(int_part) {
        return None;
    }
    match frac_part {
        // `i64`'s parser takes a leading `+`, which `body` cannot have here.
        None => text.parse::<i64>().ok().map(TbValue::Long),
        Some(frac) if all_digits(frac) && frac.len() <= 16 => {
            // `BigDecimal` has no negative zero: `-0.0` is stored as 0.0.
            text.parse::<f64>().ok().map(|x| TbValue::Double(x + 0.0))
        }
        Some(_) => None,
    }
}

/// Strings that look like numbers are stored as numbers (type cast); on any failure, as the string.
fn type_string(s: &str) -> TbValue {
    match is_parsable(s).then(|| type_number_text(s)) {
        Some(Ok(stored)) => stored,
        _ => TbValue::String(s.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn typed(json: &str) -> TbValue {
        let value = if let Some(n) = Number::parse(json) {
            Json::Number(n)
        } else {
            Json::String(json.trim_matches('"').to_owned())
        };
        tb_type(&value).unwrap().unwrap()
    }

    #[test]
    fn numbers_follow_thingsboard_typing() {
        assert_eq!(typed("4"), TbValue::Long(4));
        assert_eq!(typed("3.0"), TbValue::Double(3.0));
        assert_eq!(typed("1e2"), TbValue::Long(100));
        assert_eq!(typed("1.5e1"), TbValue::Long(15));
        assert_eq!(typed("1.25e1"), TbValue::Double(12.5));
        assert_eq!(typed("-0"), TbValue::Long(0));
        let TbValue::Double(zero) = typed("-0.0") else {
            panic!("a double")
        };
        assert!(
            zero == 0.0 && zero.is_sign_positive(),
            "BigDecimal has no negative zero"
        );
        assert_eq!(typed("9223372036854775807"), TbValue::Long(i64::MAX));
        assert_eq!(
            typed("9223372036854775808"),
            TbValue::String("9223372036854775808".into())
        );
        assert_eq!(
            typed("0.12345678901234567"),
            TbValue::String("0.12345678901234567".into())
        );
        assert_eq!(
            typed("1e-20"),
            TbValue::String("0.00000000000000000001".into())
        );
        assert_eq!(
            typed("1e20"),
            TbValue::String("100000000000000000000".into())
        );
    }

    #[test]
    fn the_plain_path_types_as_the_decimal_path_does() {
        let slow = |text: &str| match Decimal::parse(text) {
            Some(Ok(decimal)) => type_number(text, &decimal),
            _ => unreachable!("{text} is a number"),
        };
        let texts = [
            "0",
            "-0",
            "7",
            "-7",
            "0042",
            "-0042",
            "12345678901234567",
            "9223372036854775807",
            "-9223372036854775808",
            "9223372036854775808",
            "-9223372036854775809",
            "99999999999999999999",
            "0.0",
            "-0.0",
            "3.0",
            "22.10",
            "0.1234567890123456",
            "0.12345678901234567",
            "-1.5",
            "1.0000000000000000",
            "00.5",
            "123456789.123",
        ];
        for text in texts {
            let want = slow(text);
            match type_plain_number(text) {
                Some(TbValue::Double(x)) => {
                    let TbValue::Double(y) = want else {
                        panic!("{text}: {want:?}")
                    };
                    assert_eq!(x.to_bits(), y.to_bits(), "{text}");
                }
                Some(fast) => assert_eq!(fast, want, "{text}"),
                None => assert!(
                    !matches!(want, TbValue::Long(_)),
                    "{text}: the plain path left a long to the slow one"
                ),
            }
        }
        for passed_on in [
            "1e5",
            "-",
            "",
            ".5",
            "5.",
            "1.2.3",
            "+5",
            "1.12345678901234567",
        ] {
            assert_eq!(type_plain_number(passed_on), None, "{passed_on}");
        }
    }

    proptest::proptest! {
        #[test]
        fn the_plain_path_agrees_on_any_plain_number(text in "-?[0-9]{1,21}(\\.[0-9]{1,18})?") {
            if let (Some(fast), Some(Ok(decimal))) = (type_plain_number(&text), Decimal::parse(&text)) {
                let slow = type_number(&text, &decimal);
                match (&fast, &slow) {
                    (TbValue::Double(x), TbValue::Double(y)) => proptest::prop_assert_eq!(x.to_bits(), y.to_bits()),
                    _ => proptest::prop_assert_eq!(fast, slow),
                }
            }
        }
    }

    #[test]
    fn numeric_strings_become_numbers() {
        assert_eq!(typed("\"42\""), TbValue::Long(42));
        assert_eq!(typed("\"0042\""), TbValue::Long(42));
        assert_eq!(typed("\".5\""), TbValue::Double(0.5));
        assert_eq!(typed("\"22.10\""), TbValue::Double(22.1));
        for stays in ["5.", "-", "1e5", "+5", " 5", "0x10", "", "1.2.3", "abc"] {
            assert_eq!(
                typed(&format!("\"{stays}\"")),
                TbValue::String(stays.into()),
                "{stays}"
            );
        }
    }

    #[test]
    fn null_is_dropped_and_containers_are_json() {
        assert_eq!(tb_type(&Json::Null), Ok(None));
        let array = Json::Array(vec![Json::from(1), Json::Null]);
        assert_eq!(tb_type(&array), Ok(Some(TbValue::Json("[1,null]".into()))));
    }

    #[test]
    fn an_exponent_of_i64_min_is_refused_not_overflowed() {
        // Regression (found by fuzzing): `abs()` of i64::MIN overflowed.
        let n = Json::Number(Number::parse("4e-9223372036854775808").unwrap());
        assert_eq!(tb_type(&n), Err(TypingError::ExponentTooLarge));
    }

    #[test]
    fn huge_exponents_are_refused_not_expanded() {
        let n = Json::Number(Number::parse("1e999999").unwrap());
        assert_eq!(tb_type(&n), Err(TypingError::ExponentTooLarge));
    }

    #[test]
    fn doubles_print_like_java() {
        assert_eq!(java_double(42.0), "42.0");
        assert_eq!(java_double(1e10), "1.0E10");
        assert_eq!(java_double(1.5e-7), "1.5E-7");
        assert_eq!(java_double(0.001), "0.001");
    }
}
