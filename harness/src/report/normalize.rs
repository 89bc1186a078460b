//! What differs from run to run in an exchange, written as placeholders: entity ids
//! (`[uuid]`) and server times near the run (`[ts]`). Fixed timestamps a scenario writes,
//! years away from now, stay as they are.

use std::sync::LazyLock;

use regex::Regex;

static UUID: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
        .expect("a fixed, valid pattern")
});
static MILLIS: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\b1\d{12}\b").expect("a fixed, valid pattern"));

/// How far from the run a time may be and still count as the server's (10 days).
const NEAR_MS: i64 = 10 * 86_400_000;

/// `line` with ids, and times within ten days of `around_ms` (the run's), replaced.
pub fn line(line: &str, around_ms: u64) -> String {
    let around = i64::try_from(around_ms).unwrap_or(i64::MAX);
    let line = UUID.replace_all(line, "[uuid]");
    MILLIS
        .replace_all(&line, |c: &regex::Captures| {
            let value: i64 = c[0].parse().unwrap_or(0);
            if (value - around).abs() < NEAR_MS {
                "[ts]".to_owned()
            } else {
                c[0].to_owned()
            }
        })
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_times_near_the_run_are_placeholders_and_fixed_times_stay() {
        let now = 1_764_000_000_000;
        let text = r#"{"id":"0b6a2c4e-1f3d-4a5b-8c7d-9e0f1a2b3c4d","ts":1764000001234,"fixed":1483228800000}"#;
        assert_eq!(
            line(text, now),
            r#"{"id":"[uuid]","ts":[ts],"fixed":1483228800000}"#
        );
    }
}
