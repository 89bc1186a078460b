//! The JSON report: the summary, stale deviation entries and every case with its
//! transcript and wire log.

use std::time::Duration;

use serde::Serialize;

use super::Summary;
use crate::scenario::outcome::CaseResult;

#[derive(Serialize)]
struct JsonReport<'a> {
    tool: &'static str,
    version: &'static str,
    target: &'a str,
    duration_ms: u64,
    summary: Summary,
    stale_deviations: &'a [String],
    cases: &'a [CaseResult],
}

pub fn render(
    results: &[CaseResult],
    target: &str,
    elapsed: Duration,
    stale_deviations: &[String],
) -> Result<String, String> {
    let report = JsonReport {
        tool: "tbgw",
        version: env!("CARGO_PKG_VERSION"),
        target,
        duration_ms: u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
        summary: Summary::of(results),
        stale_deviations,
        cases: results,
    };
    serde_json::to_string_pretty(&report).map_err(|e| format!("cannot write the JSON report: {e}"))
}
