//! The console report: one line per case as it finishes, a block for each failure at the
//! end, and a summary line.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::{Summary, failure_text};
use crate::scenario::outcome::{CaseResult, Verdict};

/// How many wire entries a failure block shows.
pub const LAST_PACKETS: usize = 12;

pub fn case_line(result: &CaseResult) -> String {
    let mut line = format!(
        "{:<5}  {}  ({} ms)",
        result.verdict.as_str(),
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
    line
}

fn first_sentence(text: &str) -> &str {
    let end = text.find(". ").map_or(text.len(), |i| i + 1);
    &text[..end]
}

pub fn failure_blocks(results: &[CaseResult]) -> String {
    let mut out = String::new();
    for r in results {
        if matches!(
            r.verdict,
            Verdict::Fail | Verdict::Error | Verdict::Xpass | Verdict::NonStrict
        ) {
            out.push_str(&format!("\n{} {}\n", r.verdict.as_str(), r.name()));
            if r.verdict == Verdict::Xpass {
                out.push_str(
                    "  this case is listed as a known deviation but now passes: remove or narrow the entry in scenarios/deviations/\n",
                );
            }
            out.push_str(&failure_text(r, LAST_PACKETS));
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

/// A progress bar on an interactive terminal, shown once a run has lasted a second; case
/// lines go through it so they do not tear the bar.
pub struct Progress {
    bar: ProgressBar,
    visible: bool,
}

impl Progress {
    pub fn new(total: usize) -> Progress {
        let bar = ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::hidden());
        if let Ok(style) = ProgressStyle::with_template("{bar:30} {pos}/{len} cases  {elapsed}") {
            bar.set_style(style);
        }
        Progress {
            bar,
            visible: std::io::stderr().is_terminal(),
        }
    }

    pub fn finished(&self, result: &CaseResult) {
        if self.visible && self.bar.is_hidden() && self.bar.elapsed() >= Duration::from_secs(1) {
            self.bar.set_draw_target(ProgressDrawTarget::stderr());
        }
        self.bar.inc(1);
        self.bar.suspend(|| println!("{}", case_line(result)));
    }

    pub fn clear(&self) {
        self.bar.finish_and_clear();
    }
}
