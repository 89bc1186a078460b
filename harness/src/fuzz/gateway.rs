//! The `fuzz gateway` loop. One gateway process at a time: inputs (the corpus first, then
//! generated or mutated from the corpus) are played on it, each followed by a probe RPC.
//! When one breaks it, the process group is stopped, the input is replayed on a fresh
//! process to confirm it, minimized (every candidate on a fresh process again), and kept
//! once per signature; then a fresh process goes on.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::action::Action;
use super::corpus::Corpus;
use super::generate::Generator;
use super::minimize::{Reproduces, minimize};
use super::reproducer::Finding;
use super::session::{Session, SessionOptions, StartFailure, Symptom};
use crate::mqtt::Version;
use crate::process::interrupt::Interrupt;

#[derive(Clone, Debug)]
pub struct FuzzOptions {
    pub session: SessionOptions,
    pub seed: u64,
    /// Stop after this long (the minimizing of a finding found before counts too).
    pub duration: Option<Duration>,
    pub max_execs: Option<u64>,
    pub corpus: Option<PathBuf>,
    /// Replays one finding's minimizing may cost.
    pub minimize_budget: usize,
    pub interrupt: Interrupt,
}

/// What the loop tells as it goes.
pub enum Event<'a> {
    /// Every few seconds.
    Progress(&'a Stats),
    /// A confirmed, minimized finding.
    Found(&'a Finding),
    /// Something worth a line: a corpus file skipped, an unconfirmed symptom.
    Note(String),
}

#[derive(Clone, Debug, Default)]
pub struct Stats {
    pub execs: u64,
    pub elapsed: Duration,
    pub findings: usize,
    /// Symptoms that did not come back on a fresh process (timing, or state built up over
    /// many inputs).
    pub unconfirmed: usize,
    pub corpus: usize,
    /// Gateway processes started (the first, after each symptom, each replay).
    pub starts: u64,
    /// Probe latency, microseconds.
    pub probe: Option<hdrhistogram::Histogram<u64>>,
}

impl Stats {
    pub fn execs_per_second(&self) -> f64 {
        self.execs as f64 / self.elapsed.as_secs_f64().max(0.001)
    }

    pub fn probe_ms(&self, quantile: f64) -> Option<f64> {
        self.probe
            .as_ref()
            .filter(|h| !h.is_empty())
            .map(|h| h.value_at_quantile(quantile) as f64 / 1000.0)
    }
}

pub struct FuzzRun {
    pub findings: Vec<Finding>,
    pub stats: Stats,
    pub version: Version,
    /// The signal that cut the run short.
    pub interrupted: bool,
}

/// A gateway that cannot be fuzzed at all (it never gets to answering a probe).
#[derive(Debug)]
pub struct CannotFuzz(pub StartFailure);

const PROGRESS_EVERY: Duration = Duration::from_secs(10);

pub async fn fuzz(
    options: &FuzzOptions,
    tell: &(dyn Fn(Event<'_>) + Sync),
) -> Result<FuzzRun, CannotFuzz> {
    let started = Instant::now();
    let mut stats = Stats {
        probe: hdrhistogram::Histogram::new(3).ok(),
        ..Stats::default()
    };
    let mut session = Session::start(&options.session).await.map_err(CannotFuzz)?;
    stats.starts += 1;
    let version = session.version();
    let mut findings: BTreeMap<String, Finding> = BTreeMap::new();
    // Findings the gateway has before any input: reported with an empty input.
    let at_rest = session.rest_findings.clone();
    for found in &at_rest {
        let symptom = Symptom::Refused {
            check: found.check.id().to_owned(),
            what: found.to_string(),
            strict_only: found.severity == crate::gateway::passive::Severity::NonStrict,
        };
        let signature = format!("at rest: {}", symptom.signature());
        if let Some(known) = findings.get_mut(&signature) {
            known.hits += 1;
            continue;
        }
        let finding = Finding {
            signature: signature.clone(),
            symptom,
            actions: Vec::new(),
            output: session.process().output.last(60),
            found_after: 0,
            hits: 1,
        };
        tell(Event::Found(&finding));
        findings.insert(signature, finding);
    }
    let mut note = |line: String| tell(Event::Note(line));
    let mut corpus = Corpus::<Vec<Action>>::open(options.corpus.as_deref(), &mut note);
    let mut generator = Generator::new(options.seed);
    let mut last_progress = Instant::now();
    let deadline = options.duration.map(|d| started + d);
    let over = |stats: &Stats| {
        options.max_execs.is_some_and(|m| stats.execs >= m)
            || deadline.is_some_and(|d| Instant::now() >= d)
            || options.interrupt.caught().is_some()
    };
    while !over(&stats) {
        let context = session.context();
        let input = match corpus.next_replay() {
            Some(input) => input,
            // Inputs are kept only with --corpus: feedback depends on what the gateway printed
            // and when, so without it a seed gives the same inputs in the same order.
            None if !corpus.kept().is_empty() && generator.input_from_corpus() => {
                let at = generator.index(corpus.kept().len());
                generator.mutate(&corpus.kept()[at], &context)
            }
            None => generator.input(&context),
        };
        let played = tokio::select! {
            played = session.play(&input) => played,
            _ = options.interrupt.wait() => break,
        };
        stats.execs += 1;
        if let (Some(h), Some(took)) = (stats.probe.as_mut(), played.probe) {
            let _ = h.record(u64::try_from(took.as_micros()).unwrap_or(u64::MAX));
        }
        corpus.keep_if_new(&input, || played.features.iter().cloned(), &mut note);
        stats.corpus = corpus.kept().len();
        if let Some(symptom) = played.symptom {
            let (stopped, _) = session.stop().await;
            if stopped.by == crate::process::group::EndedBy::NotStopped {
                tell(Event::Note(
                    "a member of the gateway's process group survived SIGKILL".to_owned(),
                ));
            }
            let signature = symptom.signature();
            match findings.get_mut(&signature) {
                Some(known) => known.hits += 1,
                None => {
                    let mut replay = Replay {
                        options: &options.session,
                        signature: signature.clone(),
                        output: played.output.clone(),
                        symptom: symptom.clone(),
                        starts: 0,
                        interrupt: &options.interrupt,
                        cutoff: None,
                    };
                    if replay.reproduces(&input).await {
                        // Minimizing may run a minute past --duration, not more.
                        replay.cutoff = deadline.map(|d| d + MINIMIZE_PAST_DEADLINE);
                        let (actions, _) =
                            minimize(input.clone(), &mut replay, options.minimize_budget).await;
                        replay.cutoff = None;
                        // The minimal input's own output and symptom, from one more replay.
                        let confirmed = replay.reproduces(&actions).await;
                        let actions = if confirmed { actions } else { input.clone() };
                        if !confirmed {
                            let _ = replay.reproduces(&actions).await;
                        }
                        let finding = Finding {
                            signature: signature.clone(),
                            symptom: replay.symptom.clone(),
                            actions,
                            output: replay.output.clone(),
                            found_after: stats.execs,
                            hits: 1,
                        };
                        tell(Event::Found(&finding));
                        findings.insert(signature, finding);
                    } else {
                        stats.unconfirmed += 1;
                        tell(Event::Note(format!(
                            "not confirmed on a fresh gateway (left out): {}",
                            symptom.describe()
                        )));
                    }
                    stats.starts += replay.starts;
                }
            }
            stats.findings = findings.len();
            if over(&stats) {
                stats.elapsed = started.elapsed();
                return Ok(FuzzRun {
                    findings: findings.into_values().collect(),
                    stats,
                    version,
                    interrupted: options.interrupt.caught().is_some(),
                });
            }
            session = Session::start(&options.session).await.map_err(CannotFuzz)?;
            stats.starts += 1;
        }
        if last_progress.elapsed() >= PROGRESS_EVERY {
            last_progress = Instant::now();
            stats.elapsed = started.elapsed();
            tell(Event::Progress(&stats));
        }
    }
    let _ = session.stop().await;
    stats.elapsed = started.elapsed();
    stats.findings = findings.len();
    Ok(FuzzRun {
        findings: findings.into_values().collect(),
        stats,
        version,
        interrupted: options.interrupt.caught().is_some(),
    })
}

/// Replays candidates on fresh gateway processes: the confirmation and minimizing test.
struct Replay<'a> {
    options: &'a SessionOptions,
    signature: String,
    /// The output and symptom of the last replay that reproduced.
    output: Vec<String>,
    symptom: Symptom,
    starts: u64,
    interrupt: &'a Interrupt,
    /// No more replays after this (they fail, which ends minimizing).
    cutoff: Option<Instant>,
}

const MINIMIZE_PAST_DEADLINE: Duration = Duration::from_secs(60);

impl Reproduces for Replay<'_> {
    async fn reproduces(&mut self, actions: &[Action]) -> bool {
        if self.interrupt.caught().is_some() || self.cutoff.is_some_and(|c| Instant::now() >= c) {
            return false;
        }
        self.starts += 1;
        let Ok(mut session) = Session::start(self.options).await else {
            return false;
        };
        let played = session.play(actions).await;
        let _ = session.stop().await;
        match played.symptom {
            Some(symptom) if symptom.signature() == self.signature => {
                self.output = played.output;
                self.symptom = symptom;
                true
            }
            _ => false,
        }
    }
}
