//! Reports of a run: the console, JUnit XML and JSON, all from the same results.

pub mod console;
pub mod json;
pub mod junit;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::scenario::outcome::{CaseResult, Verdict};

/// What the reports say about the run besides its cases.
pub struct RunMeta<'a> {
    /// `tbgw run`, `tbgw check-gateway`.
    pub tool: &'a str,
    pub target: &'a str,
    pub elapsed: std::time::Duration,
    pub stale: &'a [String],
    /// The signal that stopped the run early, if one did.
    pub interrupted: Option<&'a str>,
}

/// Writes the JUnit and JSON reports asked for (a file, or standard output for `-`); every
/// error says which report.
pub fn write_files(
    results: &[CaseResult],
    meta: &RunMeta<'_>,
    reports: &crate::cli::common::ReportArgs,
) -> Vec<String> {
    use crate::cli::common::ReportPath;
    let write = |path: &ReportPath, text: Result<String, String>| {
        text.and_then(|text| match path {
            ReportPath::Stdout => {
                crate::output::report_to_stdout(&text);
                Ok(())
            }
            ReportPath::File(path) => std::fs::write(path, text)
                .map_err(|e| format!("cannot write {}: {e}", path.display())),
        })
    };
    let mut errors = Vec::new();
    if let Some(path) = &reports.junit
        && let Err(e) = write(path, junit::render(results, meta))
    {
        errors.push(e);
    }
    if let Some(path) = &reports.json
        && let Err(e) = write(path, json::render(results, meta))
    {
        errors.push(e);
    }
    errors
}

/// Counts per verdict.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Summary {
    pub total: usize,
    pub passed: usize,
    pub non_strict: usize,
    pub failed: usize,
    pub xfail: usize,
    pub xpass: usize,
    pub skipped: usize,
    pub errors: usize,
}

impl Summary {
    pub fn of(results: &[CaseResult]) -> Summary {
        let mut counts: BTreeMap<Verdict, usize> = BTreeMap::new();
        for r in results {
            *counts.entry(r.verdict).or_default() += 1;
        }
        let n = |v| counts.get(&v).copied().unwrap_or(0);
        Summary {
            total: results.len(),
            passed: n(Verdict::Pass),
            non_strict: n(Verdict::NonStrict),
            failed: n(Verdict::Fail),
            xfail: n(Verdict::Xfail),
            xpass: n(Verdict::Xpass),
            skipped: n(Verdict::Skip),
            errors: n(Verdict::Error),
        }
    }
}

/// The failure block's text: requirement, expected, actual, where, and the last packets.
pub fn failure_text(result: &CaseResult, last_packets: usize) -> String {
    let mut out = String::new();
    out.push_str(&format!("  requirement: {}\n", result.requirement));
    if !result.refs.is_empty() {
        out.push_str(&format!("  refs:        {}\n", result.refs.join("; ")));
    }
    if let Some(note) = &result.note {
        out.push_str(&format!("  deviation:   {note}\n"));
    }
    if let Some(f) = &result.failure {
        out.push_str(&format!("  step:        {} at {}\n", f.step, f.location));
        out.push_str(&format!("  expected:    {}\n", f.expected));
        out.push_str(&format!("  actual:      {}\n", f.actual));
    }
    let shown = result.failure.as_ref().map_or(result.wire.len(), |f| {
        f.wire_at_failure.min(result.wire.len())
    });
    let wire = &result.wire[..shown];
    if !wire.is_empty() {
        // Repeated polls count once, so the packets before them stay in view.
        let mut from = wire.len();
        let mut kept = 0;
        while from > 0 && kept < last_packets {
            from -= 1;
            if from == 0 || wire[from - 1].text != wire[from].text {
                kept += 1;
            }
        }
        out.push_str(&format!(
            "  on the wire before the failure (the last of {} entries; repeated polls folded):\n",
            wire.len()
        ));
        for line in collapsed(&wire[from..]) {
            out.push_str(&format!("    {line}\n"));
        }
    }
    out
}

/// Wire lines with runs of identical entries (REST polls) folded into one, and long lines cut.
fn collapsed(entries: &[crate::mqtt::wirelog::WireEntry]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < entries.len() {
        let mut j = i + 1;
        while j < entries.len() && entries[j].text == entries[i].text {
            j += 1;
        }
        let mut line = entries[i].line();
        if line.chars().count() > 240 {
            line = format!("{}…", line.chars().take(240).collect::<String>());
        }
        if j - i > 1 {
            line.push_str(&format!(
                "  (×{}, until +{}ms)",
                j - i,
                entries[j - 1].at_ms
            ));
        }
        out.push(line);
        i = j;
    }
    out
}
