//! JUnit XML: one testcase per case and MQTT version. XFAIL and SKIP are `skipped` (with
//! the reason), FAIL and XPASS are `failure`, ERROR is `error`.

use std::time::Duration;

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use super::failure_text;
use crate::scenario::outcome::{CaseResult, Verdict};

pub fn render(results: &[CaseResult], target: &str, elapsed: Duration) -> Result<String, String> {
    let mut suite = TestSuite::new(format!("tbgw run ({target})"));
    for r in results {
        let mut status = match r.verdict {
            Verdict::Pass | Verdict::NonStrict => TestCaseStatus::success(),
            Verdict::Xfail | Verdict::Skip => {
                let mut s = TestCaseStatus::skipped();
                s.set_message(format!(
                    "{}: {}",
                    r.verdict.as_str(),
                    r.note.clone().unwrap_or_default()
                ));
                s
            }
            Verdict::Fail | Verdict::Xpass => TestCaseStatus::non_success(NonSuccessKind::Failure),
            Verdict::Error => TestCaseStatus::non_success(NonSuccessKind::Error),
        };
        if matches!(r.verdict, Verdict::Fail | Verdict::Xpass | Verdict::Error) {
            let message = match (&r.failure, r.verdict) {
                (_, Verdict::Xpass) => "XPASS: a listed deviation no longer happens".to_owned(),
                (Some(f), _) => format!("expected {}; actual {}", f.expected, f.actual),
                (None, _) => r.verdict.as_str().to_owned(),
            };
            status.set_message(message);
            status.set_description(failure_text(r, 40));
        }
        let mut case = TestCase::new(r.name(), status);
        if r.verdict == Verdict::NonStrict {
            // JUnit has no warning status: a pass, with what was lenient in its output.
            case.set_system_out(format!("NON-STRICT\n{}", failure_text(r, 40)));
        }
        case.set_classname(r.id.split('/').next().unwrap_or("tbgw"));
        case.set_time(Duration::from_millis(r.duration_ms));
        suite.add_test_case(case);
    }
    suite.set_time(elapsed);
    let mut report = Report::new("tbgw");
    report.set_time(elapsed);
    report.add_test_suite(suite);
    report
        .to_string()
        .map_err(|e| format!("cannot write the JUnit report: {e}"))
}
