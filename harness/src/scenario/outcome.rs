//! What running a case gives: a verdict, and for a failure everything needed to understand it
//! without opening the scenario.

use serde::Serialize;

use crate::mqtt::wirelog::WireEntry;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Verdict {
    Pass,
    /// Works with ThingsBoard only through one of its leniencies (check-gateway); a failure
    /// with `--strict`.
    #[serde(rename = "NON-STRICT")]
    NonStrict,
    /// A listed deviation that still happens.
    Xfail,
    /// Not applicable to this target or profile.
    Skip,
    Fail,
    /// A listed deviation that no longer happens: the list must be updated.
    Xpass,
    /// The infrastructure failed (the target, REST login, the harness), not the target's
    /// conformance.
    Error,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "PASS",
            Verdict::NonStrict => "NON-STRICT",
            Verdict::Xfail => "XFAIL",
            Verdict::Skip => "SKIP",
            Verdict::Fail => "FAIL",
            Verdict::Xpass => "XPASS",
            Verdict::Error => "ERROR",
        }
    }
}

/// Why a step failed.
#[derive(Clone, Debug, Serialize)]
pub struct Failure {
    /// The step's verb and its position: `publish (step 3)`.
    pub step: String,
    /// `scenarios/platform/x.yaml:12`.
    pub location: String,
    pub expected: String,
    pub actual: String,
    /// How many wire-log entries there were when the step failed (the clean-up's calls
    /// come after).
    pub wire_at_failure: usize,
}

#[derive(Clone, Debug, Serialize)]
pub struct CaseResult {
    pub id: String,
    pub mqtt: String,
    pub profile: String,
    pub requirement: String,
    pub refs: Vec<String>,
    pub file: String,
    /// `derived` when the expectation was read from ThingsBoard's code but never seen on a
    /// server; `observed` (or unstated) otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub basis: Option<String>,
    pub verdict: Verdict,
    /// When the case started, in milliseconds since the Unix epoch.
    pub started_ms: u64,
    pub duration_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<Failure>,
    /// For XFAIL/XPASS: the deviation's reason; for SKIP: why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The exchange, step by step, with the run's name prefix written `${run}` (entity ids
    /// and timestamps are as they were).
    pub transcript: Vec<String>,
    /// Every packet and REST call, as it happened.
    pub wire: Vec<WireEntry>,
    /// check-gateway: what the gateway printed during the case, with the time since the case
    /// started (the same clock as `wire`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub output: Vec<OutputLine>,
}

/// A line a gateway printed, `at_ms` after its case started.
#[derive(Clone, Debug, Serialize)]
pub struct OutputLine {
    pub at_ms: u64,
    pub text: String,
}

impl CaseResult {
    /// `telemetry/multi-device-ts [5]`.
    pub fn name(&self) -> String {
        format!("{} [{}]", self.id, self.mqtt)
    }

    /// The line a report points at: the failing step's, else the file's first.
    pub fn line(&self) -> u64 {
        self.failure
            .as_ref()
            .and_then(|f| f.location.rsplit_once(':'))
            .and_then(|(_, line)| line.parse().ok())
            .unwrap_or(1)
    }
}

/// Milliseconds since the Unix epoch, now.
pub fn now_unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
