//! The console report: one line per case in the plan's order (so two logs diff), a block for
//! each failure at the end, the list of what failed, and a summary line.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::{Summary, failure_text};
use crate::outln;
use crate::output::{self, Level};
use crate::scenario::load::Suite;
use crate::scenario::outcome::{CaseResult, Verdict};
use crate::scenario::runner::Planned;

/// How many wire entries a failure block shows (all of them with `--verbose`).
pub const LAST_PACKETS: usize = 12;

pub fn case_line(result: &CaseResult) -> String {
    let mut line = format!(
        "{}  {}  ({} ms)",
        output::verdict(result.verdict, 5),
        result.name(),
        result.duration_ms
    );
    if matches!(
        result.verdict,
        Verdict::Xfail | Verdict::Skip | Verdict::NonStrict
    ) && let Some(note) = &result.note
    {
        line.push_str(&format!("  — {}", first_sentence(note)));
    }
    output::fit(&line, output::width())
}

fn first_sentence(text: &str) -> &str {
    let end = text.find(". ").map_or(text.len(), |i| i + 1);
    &text[..end]
}

fn is_reported(verdict: Verdict) -> bool {
    matches!(
        verdict,
        Verdict::Fail | Verdict::Error | Verdict::Xpass | Verdict::NonStrict
    )
}

pub fn failure_blocks(results: &[CaseResult]) -> String {
    let packets = if output::level() == Level::Verbose {
        usize::MAX
    } else {
        LAST_PACKETS
    };
    let mut out = String::new();
    for r in results.iter().filter(|r| is_reported(r.verdict)) {
        out.push_str(&format!(
            "\n{} {}\n",
            output::verdict(r.verdict, 0),
            r.name()
        ));
        if r.verdict == Verdict::Xpass {
            out.push_str(
                "  this case is listed as a known deviation but now passes: remove or narrow the entry in scenarios/deviations/\n",
            );
        }
        out.push_str(&failure_text(r, packets));
    }
    out
}

/// `FAIL errors/invalid-json-qos1 [3.1.1, 5]`: one line per case that failed, its MQTT
/// versions folded, in the plan's order.
pub fn failed_list(results: &[CaseResult]) -> Vec<String> {
    let mut order: Vec<(Verdict, &str)> = Vec::new();
    let mut versions: BTreeMap<(Verdict, &str), Vec<&str>> = BTreeMap::new();
    for r in results
        .iter()
        .filter(|r| matches!(r.verdict, Verdict::Fail | Verdict::Error | Verdict::Xpass))
    {
        let key = (r.verdict, r.id.as_str());
        if !versions.contains_key(&key) {
            order.push(key);
        }
        versions.entry(key).or_default().push(&r.mqtt);
    }
    order
        .into_iter()
        .map(|key| {
            format!(
                "  {} {} [{}]",
                output::verdict(key.0, 5),
                key.1,
                versions[&key].join(", ")
            )
        })
        .collect()
}

/// The end of a run's console report: the failure blocks, the failed list and, after an
/// interrupt, how far it got.
pub fn print_end(results: &[CaseResult], interrupted: Option<(&str, usize)>) {
    if output::level() > Level::Quiet || results.iter().any(|r| is_reported(r.verdict)) {
        output::text(&failure_blocks(results));
    }
    let failed = failed_list(results);
    if !failed.is_empty() {
        outln!("\nfailed ({}):", failed.len());
        for line in failed {
            outln!("{line}");
        }
    }
    if let Some((signal, planned)) = interrupted {
        outln!(
            "\ninterrupted by {signal}: {} of {planned} case runs finished; the others were not run",
            results.len()
        );
    }
}

/// The drift from `--baseline`, old and new side by side, or that there is none.
pub fn print_drift(compared: &super::baseline::Compared) {
    outln!("{}", drift_text(compared));
}

pub fn drift_text(compared: &super::baseline::Compared) -> String {
    let mut out = String::new();
    if !compared.candidates.is_empty() {
        out.push_str(&format!(
            "\nthe target behaves most like the baseline {}; drift from each:",
            compared.baseline
        ));
        for candidate in &compared.candidates {
            out.push_str(&format!(
                "\n  {:>4}  {}",
                candidate.drift, candidate.baseline
            ));
        }
    }
    if compared.drift.is_empty() {
        out.push_str(&format!(
            "\nno drift from the baseline {}",
            compared.baseline
        ));
        return out;
    }
    out.push_str(&format!(
        "\nDRIFT from the baseline {} ({} change(s)):",
        compared.baseline,
        compared.drift.len()
    ));
    for drift in &compared.drift {
        out.push_str(&format!("\n  {}: {}", drift.case, drift.kind.as_str()));
        if !drift.was.is_empty() {
            out.push_str(&format!("\n    was: {}", drift.was));
        }
        if !drift.now.is_empty() {
            out.push_str(&format!("\n    now: {}", drift.now));
        }
    }
    out
}

pub fn summary_line(summary: &Summary, target: &str, elapsed: Duration) -> String {
    summary_line_of("tbgw run", "case runs against", summary, target, elapsed)
}

/// `tool: N <what> <target>: … passed, … failed, …`.
pub fn summary_line_of(
    tool: &str,
    what: &str,
    summary: &Summary,
    target: &str,
    elapsed: Duration,
) -> String {
    let non_strict = if summary.non_strict > 0 {
        format!(", {} non-strict", summary.non_strict)
    } else {
        String::new()
    };
    format!(
        "{tool}: {} {what} {target}: {} passed{non_strict}, {} failed, {} xfail, {} xpass, {} skipped, {} errors in {:.2}s",
        summary.total,
        summary.passed,
        summary.failed,
        summary.xfail,
        summary.xpass,
        summary.skipped,
        summary.errors,
        elapsed.as_secs_f64()
    )
}

/// Case lines in the plan's order as the cases finish (a finished case waits for the ones
/// planned before it), under a progress bar on an interactive terminal that shows the
/// oldest case still running.
pub struct Progress {
    bar: ProgressBar,
    visible: bool,
    state: Mutex<Ordered>,
}

struct Ordered {
    /// The plan's case names, to show what is still running.
    names: Vec<String>,
    next: usize,
    finished: BTreeMap<usize, CaseResult>,
}

impl Progress {
    pub fn new(suite: &Suite, planned: &[Planned]) -> Progress {
        let names = planned
            .iter()
            .map(|p| {
                format!(
                    "{} [{}]",
                    suite.cases[p.case].scenario.id,
                    p.version.as_str()
                )
            })
            .collect();
        Progress::named(names)
    }

    /// A progress of cases known by name only (check-gateway).
    pub fn named(names: Vec<String>) -> Progress {
        let total = names.len() as u64;
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::hidden());
        if let Ok(style) =
            ProgressStyle::with_template("{bar:30} {pos}/{len} cases  {elapsed}  {wide_msg}")
        {
            bar.set_style(style);
        }
        Progress {
            bar,
            visible: std::io::stderr().is_terminal() && output::level() > Level::Quiet,
            state: Mutex::new(Ordered {
                names,
                next: 0,
                finished: BTreeMap::new(),
            }),
        }
    }

    /// A line printed above the bar.
    pub fn line(&self, text: &str) {
        self.bar.suspend(|| outln!("{text}"));
    }

    /// What the bar says is going on (check-gateway: "waiting for the RPC reply").
    pub fn doing(&self, what: &str) {
        self.show();
        self.bar.set_message(what.to_owned());
    }

    fn show(&self) {
        if self.visible && self.bar.is_hidden() && self.bar.elapsed() >= Duration::from_secs(1) {
            self.bar.set_draw_target(ProgressDrawTarget::stderr());
        }
    }

    /// A case finished: its line and those of every earlier case now complete are printed.
    pub fn finished(&self, slot: usize, result: &CaseResult) {
        self.show();
        self.bar.inc(1);
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        state.finished.insert(slot, result.clone());
        let mut lines = Vec::new();
        loop {
            let next = state.next;
            let Some(done) = state.finished.remove(&next) else {
                break;
            };
            state.next += 1;
            if output::level() > Level::Quiet || !crate::cli::run::is_green(done.verdict) {
                lines.push(case_line(&done));
            }
        }
        if let Some(name) = state.names.get(state.next) {
            self.bar.set_message(format!("running {name}"));
        }
        drop(state);
        self.bar.suspend(|| {
            for line in &lines {
                outln!("{line}");
            }
        });
    }

    /// Prints what finished but waits on a case that never ran (after an interrupt).
    pub fn clear(&self) {
        self.bar.finish_and_clear();
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        for (_, done) in std::mem::take(&mut state.finished) {
            if output::level() > Level::Quiet || !crate::cli::run::is_green(done.verdict) {
                outln!("{}", case_line(&done));
            }
        }
    }
}
