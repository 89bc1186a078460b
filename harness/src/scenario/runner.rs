//! Running a suite: every selected case under each of its MQTT versions, in parallel (each
//! with its own gateway device and run-unique names), cases that change the tenant alone at
//! the end; then known deviations turn FAIL into XFAIL and PASS into XPASS.

use std::sync::Arc;
use std::time::{Duration, Instant};

use globset::GlobMatcher;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::case::CaseRun;
use super::load::{LoadedDeviation, Suite};
use super::model::{Profile, Step};
use super::outcome::{CaseResult, Failure, Verdict};
use crate::emulator::core::settings::{FOR_TIMER_CASES, Settings};
use crate::mqtt::Version;
use crate::process::interrupt::Interrupt;
use crate::target::{Platform, TargetKind};

#[derive(Clone, Debug)]
pub struct RunOptions {
    pub timeout_multiplier: f64,
    /// Cases running at once.
    pub jobs: usize,
    /// Only cases of this profile; all when `None`.
    pub profile: Option<Profile>,
    /// `tbgw-xxxxxx`: the prefix of every name the run creates (see [`new_run_id`]).
    pub run_id: String,
    /// On Ctrl-C, cases not started are not run and running ones stop and clean up.
    pub interrupt: Interrupt,
    /// Where the cases marked `timers: true` run.
    pub timer_cases: TimerCases,
}

/// Where the cases that wait for ThingsBoard's timers run.
#[derive(Clone)]
pub enum TimerCases {
    /// Not at all: SKIP, saying how to run them.
    Skip,
    /// On the target, with room for ThingsBoard's real timeouts (`--timers`).
    OnTarget,
    /// On an emulator of their own whose timers are shortened (the embedded target).
    OnEmulator(Arc<Platform>),
}

impl std::fmt::Debug for TimerCases {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TimerCases::Skip => "Skip",
            TimerCases::OnTarget => "OnTarget",
            TimerCases::OnEmulator(_) => "OnEmulator",
        })
    }
}

impl TimerCases {
    /// The embedded target starts an emulator of their own (ThingsBoard's timer variables
    /// in seconds, [`FOR_TIMER_CASES`]) when the plan has such cases; other targets run them
    /// only when asked.
    pub async fn for_target(
        kind: TargetKind,
        asked: bool,
        suite: &Suite,
        planned: &[Planned],
    ) -> Result<TimerCases, String> {
        let any = planned.iter().any(|p| suite.cases[p.case].scenario.timers);
        match kind {
            // Nothing will ask for it.
            TargetKind::Embedded if !any => Ok(TimerCases::Skip),
            TargetKind::Embedded => {
                let own = Platform::embedded(Settings::with(&FOR_TIMER_CASES)).await?;
                Ok(TimerCases::OnEmulator(Arc::new(own)))
            }
            _ if asked => Ok(TimerCases::OnTarget),
            _ => Ok(TimerCases::Skip),
        }
    }
}

/// A case waiting for ThingsBoard's timers may take this long on a real server (scaled):
/// the 600 s inactivity timeouts plus the 60 s state check and some room.
const TIMER_CASE_LIMIT: Duration = Duration::from_secs(900);

/// A run-unique prefix for the names a run creates; `tbgw clean --run` takes it.
pub fn new_run_id() -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("tbgw-{}", &id[..6])
}

/// One case under one MQTT version, as planned.
#[derive(Clone, Copy, Debug)]
pub struct Planned {
    pub case: usize,
    pub version: Version,
}

/// The cases whose id matches `filter` (all when `None`), each under its versions.
pub fn plan(suite: &Suite, filter: Option<&GlobMatcher>, profile: Option<Profile>) -> Vec<Planned> {
    let mut out = Vec::new();
    for (index, case) in suite.cases.iter().enumerate() {
        if filter.is_some_and(|f| !f.is_match(&case.scenario.id)) {
            continue;
        }
        if profile.is_some_and(|p| p != case.scenario.profile) {
            continue;
        }
        let mut versions: Vec<Version> = case.scenario.mqtt.iter().map(|v| v.0).collect();
        versions.sort();
        versions.dedup();
        for version in versions {
            out.push(Planned {
                case: index,
                version,
            });
        }
    }
    out
}

/// Deviation entries whose glob matches no case at all: the list is out of date.
pub fn stale_deviations(suite: &Suite) -> Vec<&LoadedDeviation> {
    suite
        .deviations
        .iter()
        .filter(|d| {
            !suite
                .cases
                .iter()
                .any(|c| d.matcher.is_match(&c.scenario.id))
        })
        .collect()
}

fn changes_the_tenant(suite: &Suite, planned: &Planned) -> bool {
    suite.cases[planned.case]
        .scenario
        .steps
        .iter()
        .any(|s| matches!(s.value, Step::DeviceLimit(_) | Step::RateLimits(_)))
}

/// Runs the plan; `done` is called with the plan's index as each case finishes (for
/// progress). Results come back in plan order; after an interrupt, only the cases that ran.
pub async fn run(
    suite: Arc<Suite>,
    planned: Vec<Planned>,
    platform: Arc<Platform>,
    options: RunOptions,
    done: impl Fn(usize, &CaseResult) + Send + Sync + 'static,
) -> Vec<CaseResult> {
    let run_id = options.run_id.clone();
    let done = Arc::new(done);
    let (exclusive, mut shared): (Vec<_>, Vec<_>) = planned
        .iter()
        .copied()
        .enumerate()
        .partition(|(_, p)| changes_the_tenant(&suite, p));
    // The timer cases are the longest and wait on an emulator of their own: started first,
    // they no longer finish alone at the end of the run (results keep the plan's order).
    shared.sort_by_key(|(_, p)| !suite.cases[p.case].scenario.timers);
    let mut results: Vec<Option<CaseResult>> = vec![None; planned.len()];
    for (batch, jobs) in [(shared, options.jobs.max(1)), (exclusive, 1)] {
        let permits = Arc::new(Semaphore::new(jobs));
        let mut set = JoinSet::new();
        for (slot, item) in batch {
            let suite = Arc::clone(&suite);
            let platform = Arc::clone(&platform);
            let permits = Arc::clone(&permits);
            let options = options.clone();
            let done = Arc::clone(&done);
            // Fixed width, so that no case's prefix is a prefix of another's (clean-up
            // deletes by prefix).
            let prefix = format!("{run_id}-{slot:04}");
            set.spawn(async move {
                let _permit = permits.acquire().await;
                if options.interrupt.caught().is_some() {
                    return (slot, None);
                }
                let result = run_one(&suite, item, &platform, &options, prefix).await;
                done(slot, &result);
                (slot, Some(result))
            });
        }
        while let Some(joined) = set.join_next().await {
            if let Ok((slot, result)) = joined {
                results[slot] = result;
            }
        }
    }
    results.into_iter().flatten().collect()
}

/// SKIP for a case that would wait minutes for ThingsBoard's timers on this target.
fn skipped_for_timers(suite: &Suite, planned: Planned, started_ms: u64) -> CaseResult {
    let note = "waits for ThingsBoard's timers (up to about 11 minutes on a real server); run it with --timers";
    CaseResult {
        note: Some(note.into()),
        ..result_of(suite, planned, Verdict::Skip, started_ms)
    }
}

/// What a result says of its case, with nothing run yet: no time, failure, note or wire.
fn result_of(suite: &Suite, planned: Planned, verdict: Verdict, started_ms: u64) -> CaseResult {
    let case = &suite.cases[planned.case];
    CaseResult {
        id: case.scenario.id.clone(),
        mqtt: planned.version.as_str().to_owned(),
        profile: case.scenario.profile.as_str().to_owned(),
        requirement: case.scenario.requirement.trim().to_owned(),
        refs: case.scenario.refs.clone(),
        file: case.file.clone(),
        basis: Some(case.scenario.basis.as_str().to_owned()),
        verdict,
        started_ms,
        duration_ms: 0,
        failure: None,
        note: None,
        transcript: Vec::new(),
        wire: Vec::new(),
        output: Vec::new(),
    }
}

/// A whole case must end within this (scaled): a hung step cannot stall the suite.
const CASE_LIMIT: Duration = Duration::from_secs(120);

async fn run_one(
    suite: &Suite,
    planned: Planned,
    platform: &Platform,
    options: &RunOptions,
    prefix: String,
) -> CaseResult {
    let case = &suite.cases[planned.case];
    let started = Instant::now();
    let started_ms = super::outcome::now_unix_ms();
    let (platform, case_limit) = match (&options.timer_cases, case.scenario.timers) {
        (_, false) => (platform, CASE_LIMIT),
        (TimerCases::Skip, true) => return skipped_for_timers(suite, planned, started_ms),
        (TimerCases::OnTarget, true) => (platform, TIMER_CASE_LIMIT),
        (TimerCases::OnEmulator(own), true) => (own.as_ref(), CASE_LIMIT),
    };
    let mut run = CaseRun::new(
        case,
        planned.version,
        platform,
        options.timeout_multiplier,
        prefix,
    );
    let limit = case_limit.mul_f64(options.timeout_multiplier);
    let steps = tokio::time::timeout(limit, async {
        if let Err(message) = run.set_up().await {
            return Err((
                Failure {
                    step: "set-up (creating the case's gateway device)".into(),
                    location: case.file.clone(),
                    expected: "the gateway device to be created through REST".into(),
                    actual: message,
                    wire_at_failure: run.log.len(),
                },
                true,
            ));
        }
        run.run_steps().await
    });
    let outcome = tokio::select! {
        finished = steps => finished,
        caught = options.interrupt.wait() => Ok(Err((
            Failure {
                step: "the whole case".into(),
                location: case.file.clone(),
                expected: "the case to finish".into(),
                actual: format!("interrupted by {} before it finished; what it created was cleaned up", caught.name()),
                wire_at_failure: usize::MAX,
            },
            true,
        ))),
    }
    .unwrap_or_else(|_| {
        Err((
            Failure {
                step: "the whole case".into(),
                location: case.file.clone(),
                expected: format!("the case to finish within {} s", limit.as_secs()),
                actual: "it did not".into(),
                wire_at_failure: usize::MAX,
            },
            true,
        ))
    });
    let cleanup_problem = run.clean_up().await;
    let (mut verdict, failure) = match outcome {
        Ok(()) => (Verdict::Pass, None),
        Err((failure, true)) => (Verdict::Error, Some(failure)),
        Err((failure, false)) => (Verdict::Fail, Some(failure)),
    };
    let mut note = None;
    if let Some(deviation) = deviation_for(
        suite,
        &case.scenario.id,
        planned.version,
        platform.kind.as_str(),
    ) {
        note = Some(deviation.deviation.reason.trim().to_owned());
        verdict = match verdict {
            Verdict::Pass => Verdict::Xpass,
            Verdict::Fail => Verdict::Xfail,
            other => other,
        };
    }
    if let (Some(problem), Verdict::Pass) = (&cleanup_problem, verdict) {
        note = Some(format!("clean-up: {problem}"));
    }
    CaseResult {
        duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        failure,
        note,
        transcript: run.transcript.clone(),
        wire: run.log.entries(),
        ..result_of(suite, planned, verdict, started_ms)
    }
}

fn deviation_for<'s>(
    suite: &'s Suite,
    id: &str,
    version: Version,
    target: &str,
) -> Option<&'s LoadedDeviation> {
    suite.deviations.iter().find(|d| {
        d.matcher.is_match(id)
            && d.deviation
                .mqtt
                .as_ref()
                .is_none_or(|v| v.iter().any(|m| m.0 == version))
            && d.deviation
                .targets
                .as_ref()
                .is_none_or(|t| t.iter().any(|x| x == target))
    })
}
