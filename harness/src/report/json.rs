//! The JSON report: the summary, stale deviation entries and every case with its
//! transcript and wire log.

use serde::Serialize;

use super::{RunMeta, Summary};
use crate::scenario::outcome::CaseResult;

#[derive(Serialize)]
struct JsonReport<'a> {
    tool: &'a str,
    version: &'static str,
    target: &'a str,
    duration_ms: u64,
    summary: Summary,
    #[serde(skip_serializing_if = "Option::is_none")]
    interrupted_by: Option<&'a str>,
    stale_deviations: &'a [String],
    /// The comparison with `--baseline`, when one was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    baseline: Option<&'a super::baseline::Compared>,
    cases: Vec<JsonCase<'a>>,
}

/// A case with a link for each of its references that has one.
#[derive(Serialize)]
struct JsonCase<'a> {
    #[serde(flatten)]
    case: &'a CaseResult,
    ref_links: std::collections::BTreeMap<&'a str, String>,
}

pub fn render(results: &[CaseResult], meta: &RunMeta<'_>) -> Result<String, String> {
    let report = JsonReport {
        tool: meta.tool,
        version: env!("CARGO_PKG_VERSION"),
        target: meta.target,
        duration_ms: u64::try_from(meta.elapsed.as_millis()).unwrap_or(u64::MAX),
        summary: Summary::of(results),
        interrupted_by: meta.interrupted,
        stale_deviations: meta.stale,
        baseline: meta.baseline,
        cases: results
            .iter()
            .map(|case| JsonCase {
                case,
                ref_links: case
                    .refs
                    .iter()
                    .filter_map(|r| super::refs::link(r).map(|l| (r.as_str(), l)))
                    .collect(),
            })
            .collect(),
    };
    serde_json::to_string_pretty(&report).map_err(|e| format!("cannot write the JSON report: {e}"))
}
