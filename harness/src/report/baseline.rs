//! Baselines: a run's verdicts and, for `tbgw run`, the answers its transcripts record,
//! kept as plain JSON that diffs well in git (sorted, no times, no run ids). A later run
//! compared with it lists every difference as drift, and drift is exit 4.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::normalize;
use crate::scenario::outcome::CaseResult;

/// The file format's version, so that a later tbgw can read (or refuse) an older file.
const FORMAT: u32 = 1;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Baseline {
    /// `tbgw-baseline` and its format version.
    pub format: String,
    /// `tbgw run` or `tbgw check-gateway`: a baseline is compared with runs of its own tool.
    pub tool: String,
    /// By `case-id [mqtt]`.
    pub cases: BTreeMap<String, Recorded>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Recorded {
    pub verdict: String,
    pub profile: String,
    /// The exchange as the transcript records it, ids and server times as placeholders
    /// (`tbgw run` only: a gateway's own messages differ from run to run).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exchange: Vec<String>,
}

/// One difference between a baseline and a run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Drift {
    /// `case-id [mqtt]`.
    pub case: String,
    pub kind: DriftKind,
    /// What the baseline says ("" for a new case).
    pub was: String,
    /// What the run says ("" for a vanished case).
    pub now: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DriftKind {
    /// The verdict changed.
    Verdict,
    /// The same verdict, but the target answered differently (first differing line).
    Answer,
    /// In the run, not in the baseline.
    New,
    /// In the baseline and selected by the run, but not run: the case is gone.
    Vanished,
}

impl DriftKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DriftKind::Verdict => "verdict changed",
            DriftKind::Answer => "answer changed",
            DriftKind::New => "new case",
            DriftKind::Vanished => "vanished case",
        }
    }
}

impl Drift {
    /// One line for the console and the reports: `id [5]: verdict changed: PASS -> FAIL`.
    pub fn summary(&self) -> String {
        match self.kind {
            DriftKind::New => format!("{}: new case ({})", self.case, self.now),
            DriftKind::Vanished => format!("{}: vanished case (was {})", self.case, self.was),
            DriftKind::Verdict | DriftKind::Answer => format!(
                "{}: {}: {} -> {}",
                self.case,
                self.kind.as_str(),
                self.was,
                self.now
            ),
        }
    }
}

/// A run compared with its baseline, for the console and the reports.
#[derive(Clone, Debug, Serialize)]
pub struct Compared {
    /// The baseline's file (given, or the closest in the folder given).
    pub baseline: String,
    pub drift: Vec<Drift>,
    /// With a folder of baselines: how far the run is from each, closest first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub candidates: Vec<Candidate>,
}

/// One baseline of a folder and how many differences the run has from it.
#[derive(Clone, Debug, Serialize)]
pub struct Candidate {
    pub baseline: String,
    pub drift: usize,
}

/// The run compared with each baseline (of a folder, or the one file): the closest one, the
/// first of the fewest drifts in file order, is the comparison; the others are listed, so
/// the run says which recorded version the target behaves like.
pub fn closest(
    baselines: &[(String, Baseline)],
    recorded: &Baseline,
    selected: impl Fn(&str, &str) -> bool,
) -> Option<Compared> {
    let mut compared: Vec<(String, Vec<Drift>)> = baselines
        .iter()
        .map(|(path, old)| (path.clone(), compare(old, recorded, &selected)))
        .collect();
    compared.sort_by_key(|(_, drift)| drift.len());
    let candidates = if compared.len() > 1 {
        compared
            .iter()
            .map(|(path, drift)| Candidate {
                baseline: path.clone(),
                drift: drift.len(),
            })
            .collect()
    } else {
        Vec::new()
    };
    let (baseline, drift) = compared.into_iter().next()?;
    Some(Compared {
        baseline,
        drift,
        candidates,
    })
}

/// The baseline in a file, or every `*.json` baseline of a folder (in name order).
pub fn read_all(path: &Path, tool: &str) -> Result<Vec<(String, Baseline)>, String> {
    if !path.is_dir() {
        return Ok(vec![(path.display().to_string(), read(path, tool)?)]);
    }
    let entries = std::fs::read_dir(path)
        .map_err(|e| format!("cannot read the baseline folder {}: {e}", path.display()))?;
    let mut files: Vec<std::path::PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(format!(
            "the baseline folder {} holds no *.json baseline; record one with --update-baseline {}/NAME.json",
            path.display(),
            path.display()
        ));
    }
    files
        .iter()
        .map(|file| Ok((file.display().to_string(), read(file, tool)?)))
        .collect()
}

/// The baseline of these results; `with_exchange` keeps each case's normalized transcript
/// (server times counted from when the case started).
pub fn record(results: &[CaseResult], tool: &str, with_exchange: bool) -> Baseline {
    let cases = results
        .iter()
        .map(|r| {
            let exchange = if with_exchange {
                r.transcript
                    .iter()
                    .map(|l| normalize::line(l, r.started_ms))
                    .collect()
            } else {
                Vec::new()
            };
            let recorded = Recorded {
                verdict: r.verdict.as_str().to_owned(),
                profile: r.profile.clone(),
                exchange,
            };
            (r.name(), recorded)
        })
        .collect();
    Baseline {
        format: format!("tbgw-baseline {FORMAT}"),
        tool: tool.to_owned(),
        cases,
    }
}

/// Every difference from `old` to `new`. `selected` says whether the run meant to include a
/// baseline case (by id and profile), so that a filtered run does not call the rest vanished.
pub fn compare(
    old: &Baseline,
    new: &Baseline,
    selected: impl Fn(&str, &str) -> bool,
) -> Vec<Drift> {
    let mut drift = Vec::new();
    for (case, now) in &new.cases {
        let Some(was) = old.cases.get(case) else {
            drift.push(Drift {
                case: case.clone(),
                kind: DriftKind::New,
                was: String::new(),
                now: now.verdict.clone(),
            });
            continue;
        };
        if was.verdict != now.verdict {
            drift.push(Drift {
                case: case.clone(),
                kind: DriftKind::Verdict,
                was: was.verdict.clone(),
                now: now.verdict.clone(),
            });
        } else if let Some((was_line, now_line)) = first_difference(&was.exchange, &now.exchange) {
            drift.push(Drift {
                case: case.clone(),
                kind: DriftKind::Answer,
                was: was_line,
                now: now_line,
            });
        }
    }
    for (case, was) in &old.cases {
        let id = case.rsplit_once(" [").map_or(case.as_str(), |(id, _)| id);
        if !new.cases.contains_key(case) && selected(id, &was.profile) {
            drift.push(Drift {
                case: case.clone(),
                kind: DriftKind::Vanished,
                was: was.verdict.clone(),
                now: String::new(),
            });
        }
    }
    drift
}

/// The first line where two exchanges differ ("(none)" past the end of the shorter one).
/// Both empty (a check-gateway baseline) is no difference.
fn first_difference(was: &[String], now: &[String]) -> Option<(String, String)> {
    let at = (0..was.len().max(now.len())).find(|&i| was.get(i) != now.get(i))?;
    let line = |lines: &[String]| {
        lines
            .get(at)
            .map_or_else(|| "(none)".to_owned(), |l| format!("line {}: {l}", at + 1))
    };
    Some((line(was), line(now)))
}

/// Reads a baseline recorded by `--update-baseline`; the error says what to do.
pub fn read(path: &Path, tool: &str) -> Result<Baseline, String> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        format!(
            "cannot read the baseline {}: {e}; record one with --update-baseline {}",
            path.display(),
            path.display()
        )
    })?;
    let baseline: Baseline = serde_json::from_str(&text).map_err(|e| {
        format!(
            "{} is not a tbgw baseline ({e}); record one with --update-baseline",
            path.display()
        )
    })?;
    if baseline.format != format!("tbgw-baseline {FORMAT}") {
        return Err(format!(
            "{} is a baseline of format {:?}; this tbgw reads \"tbgw-baseline {FORMAT}\": record it again with --update-baseline",
            path.display(),
            baseline.format
        ));
    }
    if baseline.tool != tool {
        return Err(format!(
            "{} was recorded by `{}`, not `{tool}`: give a baseline of the same command",
            path.display(),
            baseline.tool
        ));
    }
    Ok(baseline)
}

/// Writes the baseline, pretty and with a final newline (a reviewable file).
pub fn write(path: &Path, baseline: &Baseline) -> Result<(), String> {
    let mut text = serde_json::to_string_pretty(baseline)
        .map_err(|e| format!("cannot write the baseline: {e}"))?;
    text.push('\n');
    std::fs::write(path, text)
        .map_err(|e| format!("cannot write the baseline {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn baseline(cases: &[(&str, &str, &[&str])]) -> Baseline {
        Baseline {
            format: format!("tbgw-baseline {FORMAT}"),
            tool: "tbgw run".into(),
            cases: cases
                .iter()
                .map(|(case, verdict, exchange)| {
                    let recorded = Recorded {
                        verdict: (*verdict).into(),
                        profile: "tb".into(),
                        exchange: exchange.iter().map(|l| (*l).to_owned()).collect(),
                    };
                    ((*case).to_owned(), recorded)
                })
                .collect(),
        }
    }

    #[test]
    fn the_same_verdicts_and_answers_are_no_drift() {
        let old = baseline(&[("a/b [5]", "PASS", &["gw <- PUBACK pid=1 0x00 Success"])]);
        assert!(compare(&old, &old.clone(), |_, _| true).is_empty());
    }

    #[test]
    fn a_changed_verdict_a_changed_answer_a_new_and_a_vanished_case_are_each_drift() {
        let old = baseline(&[
            ("a/verdict [5]", "PASS", &[]),
            ("a/answer [5]", "PASS", &["gw <- PUBACK pid=1 0x00 Success"]),
            ("a/gone [5]", "FAIL", &[]),
        ]);
        let new = baseline(&[
            ("a/verdict [5]", "FAIL", &[]),
            (
                "a/answer [5]",
                "PASS",
                &["gw <- PUBACK pid=1 0x99 Payload format invalid"],
            ),
            ("a/new [3.1.1]", "PASS", &[]),
        ]);
        let drift = compare(&old, &new, |_, _| true);
        let lines: Vec<String> = drift.iter().map(Drift::summary).collect();
        assert_eq!(
            lines,
            [
                "a/answer [5]: answer changed: line 1: gw <- PUBACK pid=1 0x00 Success -> line 1: gw <- PUBACK pid=1 0x99 Payload format invalid",
                "a/new [3.1.1]: new case (PASS)",
                "a/verdict [5]: verdict changed: PASS -> FAIL",
                "a/gone [5]: vanished case (was FAIL)",
            ]
        );
    }

    #[test]
    fn a_case_the_run_did_not_select_is_not_vanished() {
        let old = baseline(&[("telemetry/x [5]", "PASS", &[]), ("rpc/y [5]", "PASS", &[])]);
        let new = baseline(&[("telemetry/x [5]", "PASS", &[])]);
        let drift = compare(&old, &new, |id, _| id.starts_with("telemetry/"));
        assert!(drift.is_empty(), "{drift:?}");
    }

    #[test]
    fn a_shorter_exchange_is_an_answer_drift_at_its_end() {
        let old = baseline(&[("a/b [5]", "PASS", &["x", "y"])]);
        let new = baseline(&[("a/b [5]", "PASS", &["x"])]);
        let drift = compare(&old, &new, |_, _| true);
        assert_eq!(drift[0].was, "line 2: y");
        assert_eq!(drift[0].now, "(none)");
    }

    #[test]
    fn a_baseline_round_trips_and_is_read_only_by_its_own_tool() {
        let dir = std::env::temp_dir().join(format!("tbgw-baseline-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("b.json");
        let written = baseline(&[("a/b [5]", "PASS", &["gw <- CONNACK 0x00 Success"])]);
        write(&path, &written).unwrap();
        assert_eq!(read(&path, "tbgw run").unwrap(), written);
        let error = read(&path, "tbgw check-gateway").unwrap_err();
        assert!(error.contains("recorded by `tbgw run`"), "{error}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_missing_baseline_says_how_to_record_one() {
        let error = read(Path::new("/nonexistent/b.json"), "tbgw run").unwrap_err();
        assert!(
            error.contains("--update-baseline /nonexistent/b.json"),
            "{error}"
        );
    }

    #[test]
    fn the_closest_of_several_baselines_is_the_comparison_and_the_others_are_listed() {
        let run = baseline(&[("a/b [5]", "PASS", &[]), ("a/c [5]", "FAIL", &[])]);
        let far = baseline(&[("a/b [5]", "FAIL", &[]), ("a/c [5]", "PASS", &[])]);
        let near = baseline(&[("a/b [5]", "PASS", &[]), ("a/c [5]", "PASS", &[])]);
        let folder = [
            ("tb-4.2.json".to_owned(), far),
            ("tb-4.3.json".to_owned(), near),
        ];
        let compared = closest(&folder, &run, |_, _| true).unwrap();
        assert_eq!(compared.baseline, "tb-4.3.json");
        assert_eq!(compared.drift.len(), 1);
        let listed: Vec<(&str, usize)> = compared
            .candidates
            .iter()
            .map(|c| (c.baseline.as_str(), c.drift))
            .collect();
        assert_eq!(listed, [("tb-4.3.json", 1), ("tb-4.2.json", 2)]);
    }
}
