//! Reports of a run: the console, JUnit XML and JSON, all from the same results.

pub mod baseline;
pub mod console;
pub mod html;
pub mod json;
pub mod junit;
pub mod normalize;
pub mod refs;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::mqtt::wirelog::{Direction, WireEntry};
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
    /// The comparison with `--baseline`, when one was given.
    pub baseline: Option<&'a baseline::Compared>,
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
    if let Some(path) = &reports.html
        && let Err(e) = write(path, Ok(html::render(results, meta)))
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
    for (i, reference) in refs::with_links(&result.refs).iter().enumerate() {
        let label = if i == 0 { "refs:" } else { "" };
        out.push_str(&format!("  {label:<12} {reference}\n"));
    }
    if result.basis.as_deref() == Some("derived") {
        out.push_str(
            "  basis:       derived: read from ThingsBoard's source, never seen on a server; on a real ThingsBoard, check the server's behaviour before the case\n",
        );
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
        let lines = collapsed(wire);
        let kept = lines.len().min(last_packets);
        let first_kept = lines.len() - kept;
        out.push_str(&format!(
            "  on the wire before the failure ({WIRE_LEGEND}; {} entries, repeats folded):\n",
            wire.len()
        ));
        // What the platform sent the gateway is the stimulus: it stays in view.
        let mut skipped = 0;
        for (i, (line, stimulus)) in lines.iter().enumerate() {
            if i >= first_kept || *stimulus {
                if skipped > 0 {
                    out.push_str(&format!("    … {skipped} more\n"));
                    skipped = 0;
                }
                out.push_str(&format!("    {line}\n"));
            } else {
                skipped += 1;
            }
        }
    }
    out
}

/// How wire lines read, in `tbgw run` and `tbgw check-gateway` alike.
pub const WIRE_LEGEND: &str = "→ sent by tbgw, ← received by tbgw, ⇄ a REST call";

/// Whether an entry is a message the platform (tbgw) sent a gateway under test.
fn is_stimulus(entry: &WireEntry) -> bool {
    entry.channel.starts_with("gateway")
        && entry.direction == Direction::Sent
        && entry.text.starts_with("PUBLISH")
}

/// A line's shape: its text with every number written `#`, so a gateway's telemetry with
/// changing values and timestamps folds like a repeated poll.
fn shape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_number = false;
    for c in text.chars() {
        if c.is_ascii_digit() {
            if !in_number {
                out.push('#');
            }
            in_number = true;
        } else {
            in_number = false;
            out.push(c);
        }
    }
    out
}

/// An acknowledgement tbgw sent, which belongs to the run of messages around it.
fn is_our_ack(entry: &WireEntry) -> bool {
    entry.direction == Direction::Sent && entry.text.starts_with("PUBACK")
}

/// The longest cycle of messages a gateway repeats that folds (two devices' telemetry
/// alternating is a cycle of 2).
const MAX_CYCLE: usize = 4;

/// A run of wire entries as reports show it.
pub enum Folded<'w> {
    /// One entry, or the same entry `times` times in a row (REST polls), the last at `until_ms`.
    Entry {
        entry: &'w WireEntry,
        times: usize,
        until_ms: u64,
    },
    /// A gateway repeating a cycle of messages of the same shape: the first cycle, and how
    /// many times it ran in all.
    Cycle {
        cycle: Vec<&'w WireEntry>,
        times: usize,
        until_ms: u64,
    },
}

/// Wire entries with runs folded: identical entries (REST polls) become one, and a gateway
/// repeating a cycle of messages of the same shape (its telemetry, with tbgw's PUBACKs
/// between them) shows one cycle and a count.
pub fn fold(entries: &[WireEntry]) -> Vec<Folded<'_>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < entries.len() {
        if let Some((cycle, end, times)) = repeated_cycle(entries, i) {
            out.push(Folded::Cycle {
                cycle,
                times,
                until_ms: entries[end - 1].at_ms,
            });
            i = end;
            continue;
        }
        let mut j = i + 1;
        while j < entries.len() && entries[j].text == entries[i].text {
            j += 1;
        }
        out.push(Folded::Entry {
            entry: &entries[i],
            times: j - i,
            until_ms: entries[j - 1].at_ms,
        });
        i = j;
    }
    out
}

/// Folded wire lines for the console, long lines cut; each says whether it is a stimulus
/// (see [`is_stimulus`]).
fn collapsed(entries: &[WireEntry]) -> Vec<(String, bool)> {
    let cut = |mut line: String| {
        if line.chars().count() > 240 {
            line = format!("{}…", line.chars().take(240).collect::<String>());
        }
        line
    };
    let mut out = Vec::new();
    for folded in fold(entries) {
        match folded {
            Folded::Cycle {
                cycle,
                times,
                until_ms,
            } => {
                for entry in &cycle {
                    out.push((cut(entry.line()), false));
                }
                out.push((
                    format!(
                        "… the same {} message(s) {} more time(s) (numbers aside), until +{until_ms}ms",
                        cycle.len(),
                        times - 1,
                    ),
                    false,
                ));
            }
            Folded::Entry {
                entry,
                times,
                until_ms,
            } => {
                let mut line = cut(entry.line());
                if times > 1 {
                    line.push_str(&format!("  (×{times}, until +{until_ms}ms)"));
                }
                out.push((line, is_stimulus(entry)));
            }
        }
    }
    out
}

/// At `start`, a gateway's messages repeating a cycle at least twice (tbgw's acks between
/// them ignored): the cycle's first occurrence, where the run ends, and how many times it
/// ran. The cycle that covers the most entries wins.
fn repeated_cycle(entries: &[WireEntry], start: usize) -> Option<(Vec<&WireEntry>, usize, usize)> {
    let from_gateway =
        |e: &WireEntry| e.channel.starts_with("gateway") && e.direction == Direction::Received;
    if !from_gateway(&entries[start]) {
        return None;
    }
    // Indices of the gateway's messages from `start`, stopping at anything else.
    let mut messages = Vec::new();
    for (i, e) in entries.iter().enumerate().skip(start) {
        if from_gateway(e) {
            messages.push(i);
        } else if !is_our_ack(e) {
            break;
        }
    }
    let shapes: Vec<String> = messages.iter().map(|&i| shape(&entries[i].text)).collect();
    let mut best: Option<(usize, usize)> = None; // (period, matched messages)
    for period in 1..=MAX_CYCLE.min(shapes.len() / 2) {
        let matched = (period..shapes.len())
            .take_while(|&k| shapes[k] == shapes[k - period])
            .count()
            + period;
        let whole = matched / period * period;
        if whole / period >= 2 && best.is_none_or(|(_, m)| whole > m) {
            best = Some((period, whole));
        }
    }
    let (period, matched) = best?;
    let last = messages[matched - 1];
    // The acks right after the last message belong to the run.
    let mut end = last + 1;
    while end < entries.len() && is_our_ack(&entries[end]) {
        end += 1;
    }
    let cycle = messages[..period].iter().map(|&i| &entries[i]).collect();
    Some((cycle, end, matched / period))
}
