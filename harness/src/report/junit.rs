//! JUnit XML as CI systems read it: one testcase per case and MQTT version, with `file` and
//! `line` (the failing step's line, else the file's first), its `timestamp`, and the
//! requirement, refs, basis and profile as properties. XFAIL and SKIP are `skipped` with the
//! reason; FAIL and XPASS are `failure`, ERROR is `error`, each with a one-line `message` and
//! the whole failure block as the body. NON-STRICT passes, with a `verdict` property and its
//! findings in `system-out`, since JUnit has no warning status.

use std::time::{Duration, UNIX_EPOCH};

use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};

use super::{RunMeta, failure_text};
use crate::scenario::outcome::{CaseResult, Verdict};

/// How many wire entries the body of a failure shows.
const WIRE_IN_BODY: usize = 40;
/// A `message` longer than this is cut: the body has it whole.
const MESSAGE_CHARS: usize = 300;

pub fn render(results: &[CaseResult], meta: &RunMeta<'_>) -> Result<String, String> {
    let mut suite = TestSuite::new(format!("{} ({})", meta.tool, meta.target));
    for r in results {
        suite.add_test_case(test_case(r));
    }
    if let Some(signal) = meta.interrupted {
        suite.add_property(Property::new("interrupted-by", signal));
    }
    if let Some(first) = results.iter().map(|r| r.started_ms).min() {
        suite.set_timestamp(timestamp(first));
    }
    suite.set_time(meta.elapsed);
    let mut report = Report::new("tbgw");
    report.set_time(meta.elapsed);
    report.add_test_suite(suite);
    if let Some(compared) = meta.baseline {
        report.add_test_suite(drift_suite(compared));
    }
    report
        .to_string()
        .map_err(|e| format!("cannot write the JUnit report: {e}"))
}

/// The comparison with `--baseline`: a failed testcase per drift, so CI shows each change.
fn drift_suite(compared: &super::baseline::Compared) -> TestSuite {
    let mut suite = TestSuite::new(format!("baseline {}", compared.baseline));
    for drift in &compared.drift {
        let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
        status.set_type("DRIFT");
        status.set_message(one_line(&drift.summary()));
        status.set_description(format!("was: {}\nnow: {}", drift.was, drift.now));
        let mut case = TestCase::new(format!("drift: {}", drift.case), status);
        case.set_classname("baseline");
        case.add_properties([
            Property::new("drift", drift.kind.as_str()),
            Property::new("was", drift.was.as_str()),
            Property::new("now", drift.now.as_str()),
        ]);
        suite.add_test_case(case);
    }
    suite
}

fn test_case(r: &CaseResult) -> TestCase {
    let mut status = match r.verdict {
        Verdict::Pass | Verdict::NonStrict => TestCaseStatus::success(),
        Verdict::Xfail | Verdict::Skip => {
            let mut s = TestCaseStatus::skipped();
            s.set_message(one_line(&format!(
                "{}: {}",
                r.verdict.as_str(),
                r.note.clone().unwrap_or_default()
            )));
            s
        }
        Verdict::Fail | Verdict::Xpass => TestCaseStatus::non_success(NonSuccessKind::Failure),
        Verdict::Error => TestCaseStatus::non_success(NonSuccessKind::Error),
    };
    if matches!(r.verdict, Verdict::Fail | Verdict::Xpass | Verdict::Error) {
        status.set_message(message(r));
        status.set_type(r.verdict.as_str());
        status.set_description(failure_text(r, WIRE_IN_BODY));
    }
    let mut case = TestCase::new(r.name(), status);
    if r.verdict == Verdict::NonStrict {
        case.set_system_out(format!("NON-STRICT\n{}", failure_text(r, WIRE_IN_BODY)));
    }
    case.set_classname(r.id.split('/').next().unwrap_or("tbgw"));
    case.set_time(Duration::from_millis(r.duration_ms));
    case.set_timestamp(timestamp(r.started_ms));
    case.extra.insert("file".into(), r.file.clone().into());
    case.extra
        .insert("line".into(), r.line().to_string().into());
    let mut properties = vec![
        Property::new("verdict", r.verdict.as_str()),
        Property::new("requirement", r.requirement.as_str()),
        Property::new("profile", r.profile.as_str()),
        Property::new("mqtt", r.mqtt.as_str()),
        Property::new("basis", r.basis.as_deref().unwrap_or("observed")),
    ];
    properties.extend(r.refs.iter().map(|x| Property::new("ref", x.as_str())));
    properties.extend(
        r.refs
            .iter()
            .filter_map(|x| super::refs::link(x))
            .map(|link| Property::new("ref-link", link)),
    );
    case.add_properties(properties);
    case
}

/// `step 3 (publish): expected PUBACK 0x83; actual PUBACK 0x99`, on one line.
fn message(r: &CaseResult) -> String {
    match (&r.failure, r.verdict) {
        (_, Verdict::Xpass) => "XPASS: a listed deviation no longer happens".to_owned(),
        (Some(f), _) => one_line(&format!(
            "{}: expected {}; actual {}",
            f.step, f.expected, f.actual
        )),
        (None, _) => r.verdict.as_str().to_owned(),
    }
}

fn one_line(text: &str) -> String {
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() > MESSAGE_CHARS {
        format!("{}…", flat.chars().take(MESSAGE_CHARS).collect::<String>())
    } else {
        flat
    }
}

fn timestamp(unix_ms: u64) -> chrono::DateTime<chrono::FixedOffset> {
    let at = UNIX_EPOCH + Duration::from_millis(unix_ms);
    chrono::DateTime::<chrono::Utc>::from(at).fixed_offset()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_is_one_line_and_short() {
        let long = format!("a\nb   c {}", "x".repeat(400));
        let line = one_line(&long);
        assert!(!line.contains('\n'));
        assert!(line.starts_with("a b c x"));
        assert_eq!(line.chars().count(), MESSAGE_CHARS + 1);
    }
}
