//! The `fuzz platform` loop. Inputs are generated in batches; each becomes a platform
//! scenario holding the model's predictions, and the batch runs through the scenario runner
//! (its cases in parallel, each with its own gateway device and names, cleaned up after).
//! A failing case is a disagreement: replayed once to confirm it, minimized (every
//! candidate replayed), kept once per signature. A case that errors is followed by a
//! liveness check: a target that no longer answers a CONNECT is a finding and ends the run.
//! With `--corpus`, its inputs run first, and an input whose answers from the platform were
//! new (a reason code, a DISCONNECT or a close after a topic, per version) is kept and varied.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::generate::{Generator, Input};
use super::scenario::{names_are_the_case_s, plannable, scenario_text};
use crate::emulator::core::settings::Settings;
use crate::fuzz::action::Action;
use crate::fuzz::corpus::Corpus;
use crate::fuzz::minimize::{Reproduces, minimize};
use crate::mqtt::wirelog::Direction as WireDirection;
use crate::process::interrupt::Interrupt;
use crate::scenario::load::{Source, load_sources, parse_scenario};
use crate::scenario::model::Step;
use crate::scenario::outcome::{CaseResult, Verdict};
use crate::scenario::runner::{self, RunOptions, TimerCases};
use crate::target::{Platform, TargetKind, check_mqtt};

#[derive(Clone, Debug)]
pub struct PlatformFuzzOptions {
    pub seed: u64,
    pub duration: Option<Duration>,
    pub max_execs: Option<u64>,
    /// Inputs run at once.
    pub jobs: usize,
    /// Replays one finding's minimizing may cost.
    pub minimize_budget: usize,
    pub timeout_multiplier: f64,
    pub interrupt: Interrupt,
    /// Replayed first, grown with inputs the platform answered in a new way.
    pub corpus: Option<PathBuf>,
}

/// Which side of the comparison a finding may be on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Side {
    /// Against the embedded emulator: tbgw's codec model and its emulator disagree.
    Tbgw,
    /// The target differs from the model and the emulator agrees with the model: either
    /// ThingsBoard's behaviour is not what the model says (tbgw's mistake), or the server
    /// has a bug.
    ModelOrServer,
    /// The target and the emulator both differ from the model: the model's prediction is
    /// most likely wrong.
    Model,
    /// The target stopped answering a CONNECT.
    Liveness,
}

impl Side {
    pub fn describe(&self) -> &'static str {
        match self {
            Side::Tbgw => {
                "tbgw's own model (the codec's prediction) and its emulator disagree: a tbgw bug; please report it with the reproducer"
            }
            Side::ModelOrServer => {
                "the target differs from tbgw's model of ThingsBoard, which tbgw's emulator follows: either the model is wrong about ThingsBoard (check reference §3) or the server has a bug"
            }
            Side::Model => {
                "the target and tbgw's emulator both differ from the model's prediction: most likely the model is wrong (a tbgw bug)"
            }
            Side::Liveness => "the target stopped accepting MQTT connections",
        }
    }
}

/// A confirmed, minimized disagreement.
#[derive(Clone, Debug)]
pub struct Finding {
    pub signature: String,
    pub input: Input,
    /// The reproducer: the minimal input's scenario.
    pub scenario: String,
    /// The minimal input's failing case (its failure, transcript and wire log).
    pub result: CaseResult,
    pub side: Side,
    /// Inputs run before it was found.
    pub found_after: u64,
    /// Distinct inputs that hit it.
    pub hits: usize,
}

pub enum Event<'a> {
    Progress(&'a Stats),
    Found(&'a Finding),
    /// A failure that did not come back on a replay (timing, or the platform's state): not a
    /// finding, but its scenario is kept for whoever looks into it.
    Unconfirmed {
        signature: &'a str,
        scenario: &'a str,
    },
    Note(String),
}

#[derive(Clone, Debug, Default)]
pub struct Stats {
    pub execs: u64,
    /// PUBLISHes sent (replays included).
    pub messages: u64,
    /// Messages not sent: ThingsBoard would answer them only after its request timeout, or
    /// they name a device that is not the case's own.
    pub left_out: u64,
    pub elapsed: Duration,
    pub findings: usize,
    /// Failures that did not come back on a replay.
    pub unconfirmed: usize,
    /// Cases the harness could not run (an ERROR with the target still answering).
    pub errors: usize,
    /// Inputs kept in this run for what was new in the platform's answers (replays
    /// included), with `--corpus`.
    pub corpus: usize,
}

impl Stats {
    pub fn execs_per_second(&self) -> f64 {
        self.execs as f64 / self.elapsed.as_secs_f64().max(0.001)
    }
}

pub struct PlatformFuzzRun {
    pub findings: Vec<Finding>,
    pub stats: Stats,
}

const PROGRESS_EVERY: Duration = Duration::from_secs(10);

/// What a case's failure says, without what changes from one input to the next (packet
/// ids, names, values): distinct bugs, not distinct inputs.
pub fn signature_of(result: &CaseResult, failed_topic: Option<&str>) -> String {
    let Some(failure) = &result.failure else {
        return "pass".to_owned();
    };
    let verb = failure.step.split(" (").next().unwrap_or(&failure.step);
    let first = |text: &str| shape_of(text.split("; ").next().unwrap_or(text), 160);
    let on = failed_topic.map(|t| format!(" {t}")).unwrap_or_default();
    format!(
        "{verb}{on} [{}]: expected {}; got {}",
        result.mqtt,
        first(&failure.expected),
        first(&failure.actual)
    )
}

/// Why a corpus input (read from disk, so anything) cannot be played as the fuzzer plays
/// its own: a QoS that is not MQTT's, a second delivery without a packet id, or `${` in a
/// topic or payload, which its scenario would read as a variable.
fn unplayable(input: &Input) -> Option<String> {
    input.actions.iter().find_map(|action| match action {
        Action::Send {
            topic,
            payload,
            qos,
            again,
        } => {
            let qos = qos.unwrap_or(1);
            if qos > 2 {
                Some(format!("QoS {qos} on {topic:?} is not an MQTT QoS"))
            } else if again.is_some() && qos == 0 {
                Some(format!("a second delivery at QoS 0 on {topic:?}"))
            } else if topic.contains("${") || payload.windows(2).any(|w| w == b"${") {
                Some(format!("`${{` in a message on {topic:?}"))
            } else {
                None
            }
        }
        Action::Disconnect { .. } | Action::DropConnection => None,
    })
}

/// What the platform did in a case, as the corpus counts novelty: each packet or close it
/// sent, in the shape of its text (names, values and packet ids left out), after the topic
/// and QoS of the gateway's last PUBLISH, per MQTT version.
pub fn features_of(result: &CaseResult) -> Vec<String> {
    let mut after = String::from("(connect)");
    let mut features = Vec::new();
    for entry in &result.wire {
        match entry.direction {
            WireDirection::Sent if entry.text.starts_with("PUBLISH ") => {
                let mut words = entry.text.split(' ').skip(1);
                let topic = NUMBER.replace_all(words.next().unwrap_or_default(), "N");
                after = format!("{topic} {}", words.next().unwrap_or_default());
            }
            WireDirection::Sent if entry.text.starts_with("CONNECT ") => {
                after = String::from("(connect)");
            }
            // How a close was seen (the peer's FIN, a reset, the OS error) is timing.
            WireDirection::Received if entry.text.starts_with("(closed") => {
                features.push(format!("[{}] {after} -> (closed)", result.mqtt));
            }
            WireDirection::Received => {
                let shape = shape_of(&entry.text, 120);
                features.push(format!("[{}] {after} -> {shape}", result.mqtt));
            }
            _ => {}
        }
    }
    features
}

/// A text with its quoted strings and numbers replaced, cut to `most` characters: what stays
/// the same from one input to the next.
fn shape_of(text: &str, most: usize) -> String {
    let text = QUOTED.replace_all(text, "\"…\"");
    let text = NUMBER.replace_all(&text, "N");
    text.chars().take(most).collect()
}

static QUOTED: std::sync::LazyLock<regex::Regex> =
    std::sync::LazyLock::new(|| regex::Regex::new(r#""(?:[^"\\]|\\.)*""#).expect("a valid regex"));
static NUMBER: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
    regex::Regex::new(r"\b-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?\b").expect("a valid regex")
});

/// One case's outcome, with the topic of the step that failed.
struct Judged {
    result: CaseResult,
    failed_topic: Option<String>,
}

impl Judged {
    fn signature(&self) -> String {
        signature_of(&self.result, self.failed_topic.as_deref())
    }
}

/// Runs these inputs as scenarios on the platform, in parallel; one outcome per input, in
/// order (`None`: its scenario did not load, a tbgw bug, told through `tell`).
async fn execute(
    platform: &Arc<Platform>,
    inputs: &[Input],
    options: &PlatformFuzzOptions,
    tell: &(dyn Fn(Event<'_>) + Sync),
) -> Vec<Option<Judged>> {
    let mut sources = Vec::new();
    let mut slots = Vec::new();
    for (i, input) in inputs.iter().enumerate() {
        let id = format!("fuzz/input-{i:04}");
        let text = scenario_text(&id, "The platform answers as the model predicts.", input);
        let file = format!("fuzz-input-{i:04}.yaml");
        match parse_scenario(&file, &text) {
            Ok(_) => {
                sources.push(Source { file, text });
                slots.push(Some(id));
            }
            Err(e) => {
                tell(Event::Note(format!(
                    "tbgw wrote a scenario it cannot load (a tbgw bug): {}:{}:{}: {}",
                    e.file, e.line, e.column, e.message
                )));
                slots.push(None);
            }
        }
    }
    let suite = match load_sources(sources) {
        Ok(suite) => suite,
        Err(errors) => {
            for e in errors {
                tell(Event::Note(format!(
                    "tbgw wrote a scenario it cannot load (a tbgw bug): {}:{}:{}: {}",
                    e.file, e.line, e.column, e.message
                )));
            }
            return inputs.iter().map(|_| None).collect();
        }
    };
    // The topic of each publish step, by the location a failure at it names.
    let topics: BTreeMap<String, String> = suite
        .cases
        .iter()
        .flat_map(|case| {
            case.scenario
                .steps
                .iter()
                .filter_map(move |step| match &step.value {
                    Step::Publish(p) => {
                        Some((case.step_location(step), p.topic.replace("${run}", "…")))
                    }
                    _ => None,
                })
        })
        .collect();
    let planned = runner::plan(&suite, None, None);
    let run_options = RunOptions {
        timeout_multiplier: options.timeout_multiplier,
        jobs: options.jobs.max(1),
        profile: None,
        run_id: runner::new_run_id(),
        interrupt: options.interrupt.clone(),
        timer_cases: TimerCases::Skip,
    };
    let results = runner::run(
        Arc::new(suite),
        planned,
        Arc::clone(platform),
        run_options,
        |_, _| {},
    )
    .await;
    let mut by_id: BTreeMap<String, CaseResult> =
        results.into_iter().map(|r| (r.id.clone(), r)).collect();
    slots
        .into_iter()
        .map(|slot| {
            let id = slot?;
            let result = by_id.remove(&id)?;
            let failed_topic = result
                .failure
                .as_ref()
                .and_then(|f| topics.get(&f.location).cloned());
            Some(Judged {
                result,
                failed_topic,
            })
        })
        .collect()
}

fn messages_in(input: &Input) -> u64 {
    input
        .actions
        .iter()
        .filter(|a| matches!(a, Action::Send { .. }))
        .count() as u64
}

/// Replays a candidate input on the platform: the same signature comes back.
struct Replay<'a> {
    platform: &'a Arc<Platform>,
    version: crate::mqtt::Version,
    signature: &'a str,
    options: &'a PlatformFuzzOptions,
    stats: &'a mut Stats,
}

impl Reproduces for Replay<'_> {
    async fn reproduces(&mut self, actions: &[Action]) -> bool {
        if actions.is_empty() {
            return false;
        }
        let input = Input {
            version: self.version,
            actions: actions.to_vec(),
        };
        if !names_are_the_case_s(&input) {
            return false;
        }
        self.stats.messages += messages_in(&input);
        let quiet = |_: Event<'_>| {};
        let judged = execute(self.platform, &[input], self.options, &quiet).await;
        matches!(judged.first(), Some(Some(j)) if j.result.verdict == Verdict::Fail && j.signature() == self.signature)
    }
}

pub async fn fuzz(
    platform: Arc<Platform>,
    options: &PlatformFuzzOptions,
    tell: &(dyn Fn(Event<'_>) + Sync),
) -> PlatformFuzzRun {
    let started = Instant::now();
    let mut stats = Stats::default();
    let mut generator = Generator::new(options.seed);
    let mut findings: BTreeMap<String, Finding> = BTreeMap::new();
    let mut reference: Option<Arc<Platform>> = None;
    let mut last_progress = Instant::now();
    let batch = options.jobs.max(1) * 2;
    let mut note = |line: String| tell(Event::Note(line));
    let mut corpus = Corpus::<Input>::open(options.corpus.as_deref(), &mut note);
    corpus.drop_replays(unplayable, &mut note);
    'fuzzing: loop {
        let over = |stats: &Stats| {
            options.interrupt.caught().is_some()
                || options.duration.is_some_and(|d| started.elapsed() >= d)
                || options.max_execs.is_some_and(|n| stats.execs >= n)
        };
        if over(&stats) {
            break;
        }
        let room = options
            .max_execs
            .map_or(batch as u64, |n| (n - stats.execs).min(batch as u64));
        let inputs: Vec<Input> = (0..room)
            .map(|_| {
                let input = match corpus.next_replay() {
                    Some(input) => input,
                    // Only with --corpus: which inputs are kept depends on the platform's
                    // answers, so without it a seed gives the same inputs in the same order.
                    None if !corpus.kept().is_empty() && generator.input_from_corpus() => {
                        let at = generator.index(corpus.kept().len());
                        generator.mutate(&corpus.kept()[at])
                    }
                    None => generator.input(),
                };
                let planned = plannable(&input);
                stats.left_out += messages_in(&input) - messages_in(&planned);
                planned
            })
            .filter(|i| !i.actions.is_empty())
            .collect();
        stats.execs += room;
        stats.messages += inputs.iter().map(messages_in).sum::<u64>();
        let judged = execute(&platform, &inputs, options, tell).await;
        for (input, judged) in inputs.iter().zip(judged) {
            let Some(judged) = judged else { continue };
            corpus.keep_if_new(input, || features_of(&judged.result), &mut note);
            stats.corpus = corpus.kept().len();
            match judged.result.verdict {
                Verdict::Fail => {}
                Verdict::Error => {
                    if options.interrupt.caught().is_some() {
                        break 'fuzzing;
                    }
                    if let Err(why) = check_mqtt(&platform.mqtt).await {
                        let finding = liveness_finding(input, judged, why, stats.execs);
                        tell(Event::Found(&finding));
                        findings.insert(finding.signature.clone(), finding);
                        stats.findings = findings.len();
                        break 'fuzzing;
                    }
                    stats.errors += 1;
                    if let Some(f) = &judged.result.failure {
                        tell(Event::Note(format!(
                            "a case could not run (the target still answers): {}: {}",
                            f.step, f.actual
                        )));
                    }
                    continue;
                }
                _ => continue,
            }
            let signature = judged.signature();
            if let Some(known) = findings.get_mut(&signature) {
                known.hits += 1;
                continue;
            }
            let mut replay = Replay {
                platform: &platform,
                version: input.version,
                signature: &signature,
                options,
                stats: &mut stats,
            };
            if !replay.reproduces(&input.actions).await {
                stats.unconfirmed += 1;
                let scenario = scenario_text(&id_of(&signature), &requirement(input), input);
                tell(Event::Unconfirmed {
                    signature: &signature,
                    scenario: &scenario,
                });
                continue;
            }
            let (actions, _) =
                minimize(input.actions.clone(), &mut replay, options.minimize_budget).await;
            let minimal = Input {
                version: input.version,
                actions,
            };
            let Some(finding) = finished(
                &platform,
                &mut reference,
                minimal,
                signature.clone(),
                judged,
                stats.execs,
                options,
            )
            .await
            else {
                continue;
            };
            tell(Event::Found(&finding));
            findings.insert(signature, finding);
            stats.findings = findings.len();
        }
        stats.elapsed = started.elapsed();
        if last_progress.elapsed() >= PROGRESS_EVERY {
            last_progress = Instant::now();
            tell(Event::Progress(&stats));
        }
    }
    stats.elapsed = started.elapsed();
    PlatformFuzzRun {
        findings: findings.into_values().collect(),
        stats,
    }
}

/// The minimal input's own run (its failure and transcript for the report) and the side
/// the finding is on: on a real platform, the reproducer is also run on an emulator.
async fn finished(
    platform: &Arc<Platform>,
    reference: &mut Option<Arc<Platform>>,
    minimal: Input,
    signature: String,
    found: Judged,
    found_after: u64,
    options: &PlatformFuzzOptions,
) -> Option<Finding> {
    let quiet = |_: Event<'_>| {};
    let again = execute(platform, std::slice::from_ref(&minimal), options, &quiet).await;
    let result = match again.into_iter().next().flatten() {
        Some(j) if j.result.verdict == Verdict::Fail => j.result,
        _ => found.result,
    };
    let side = if platform.kind == TargetKind::Embedded {
        Side::Tbgw
    } else {
        if reference.is_none() {
            *reference = Platform::embedded(Settings::for_suite_runs())
                .await
                .ok()
                .map(Arc::new);
        }
        match reference {
            Some(emulator) => {
                let there =
                    execute(emulator, std::slice::from_ref(&minimal), options, &quiet).await;
                match there.first() {
                    Some(Some(j)) if j.result.verdict == Verdict::Pass => Side::ModelOrServer,
                    _ => Side::Model,
                }
            }
            None => Side::ModelOrServer,
        }
    };
    let scenario = scenario_text(&id_of(&signature), &requirement(&minimal), &minimal);
    Some(Finding {
        signature,
        input: minimal,
        scenario,
        result,
        side,
        found_after,
        hits: 1,
    })
}

fn liveness_finding(input: &Input, judged: Judged, why: String, found_after: u64) -> Finding {
    let signature = "the target stopped accepting MQTT connections".to_owned();
    let mut result = judged.result;
    if let Some(failure) = &mut result.failure {
        failure.actual = format!("{}; then the liveness check: {why}", failure.actual);
    }
    Finding {
        scenario: scenario_text(&id_of(&signature), &requirement(input), input),
        signature,
        input: input.clone(),
        result,
        side: Side::Liveness,
        found_after,
        hits: 1,
    }
}

/// `fuzz-platform/publish-v1-gateway-telemetry-5-expected-puback-…`, from the signature.
pub fn id_of(signature: &str) -> String {
    let slug = crate::fuzz::reproducer::id_of(signature);
    slug.replacen("fuzz/", "fuzz-platform/", 1)
}

/// The requirement a reproducer checks.
pub fn requirement(input: &Input) -> String {
    let what: Vec<String> = input
        .actions
        .iter()
        .map(|a| a.describe().replace(super::generate::RUN, "${run}"))
        .collect();
    let what: String = what.join("; ").chars().take(300).collect();
    format!(
        "The platform answers and stores what the model of ThingsBoard predicts (MQTT {}) for: {what}",
        input.version.as_str()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::outcome::Failure;

    fn failed(expected: &str, actual: &str) -> CaseResult {
        CaseResult {
            id: "x".into(),
            mqtt: "5".into(),
            profile: "tb".into(),
            requirement: String::new(),
            refs: Vec::new(),
            file: String::new(),
            basis: None,
            verdict: Verdict::Fail,
            started_ms: 0,
            duration_ms: 0,
            failure: Some(Failure {
                step: "publish (step 4)".into(),
                location: String::new(),
                expected: expected.into(),
                actual: actual.into(),
                wire_at_failure: 0,
            }),
            note: None,
            transcript: Vec::new(),
            wire: Vec::new(),
            output: Vec::new(),
        }
    }

    #[test]
    fn a_signature_keeps_the_codes_and_drops_packet_ids_names_and_values() {
        let a = failed(
            "PUBACK pid=3 0x99",
            "PUBACK pid=3 0x80 Unspecified error; seen: lots",
        );
        let b = failed(
            "PUBACK pid=17 0x99",
            "PUBACK pid=17 0x80 Unspecified error; seen: other",
        );
        let t = Some("v1/gateway/telemetry");
        assert_eq!(signature_of(&a, t), signature_of(&b, t));
        assert_eq!(
            signature_of(&a, t),
            "publish v1/gateway/telemetry [5]: expected PUBACK pid=N 0x99; got PUBACK pid=N 0x80 Unspecified error"
        );
        let c = failed("PUBACK pid=3 0x99", "PUBACK pid=3 0x83");
        assert_ne!(signature_of(&a, t), signature_of(&c, t));
    }

    fn wire(entries: &[(WireDirection, &str)]) -> CaseResult {
        let mut result = failed("", "");
        result.failure = None;
        result.wire = entries
            .iter()
            .map(|(direction, text)| crate::mqtt::wirelog::WireEntry {
                at_ms: 0,
                channel: "gw".into(),
                direction: *direction,
                text: (*text).into(),
                bytes: None,
            })
            .collect();
        result
    }

    #[test]
    fn features_are_the_platform_s_answers_after_a_topic_without_ids_or_values() {
        use WireDirection::{Received, Sent};
        let a = wire(&[
            (Received, "CONNACK 0x00 Success"),
            (
                Sent,
                "PUBLISH v1/gateway/telemetry qos=1 pid=3 {\"tbgw-1-d0\":[]}",
            ),
            (Received, "PUBACK pid=3 0x99 Payload format invalid"),
        ]);
        let b = wire(&[
            (Received, "CONNACK 0x00 Success"),
            (
                Sent,
                "PUBLISH v1/gateway/telemetry qos=1 pid=9 {\"other\":1}",
            ),
            (Received, "PUBACK pid=9 0x99 Payload format invalid"),
        ]);
        assert_eq!(
            features_of(&a),
            [
                "[5] (connect) -> CONNACK 0x00 Success",
                "[5] v1/gateway/telemetry qos=1 -> PUBACK pid=N 0x99 Payload format invalid"
            ]
        );
        assert_eq!(features_of(&a), features_of(&b));
        let c = wire(&[
            (Sent, "PUBLISH v1/gateway/attributes qos=1 pid=3 {}"),
            (Received, "PUBACK pid=3 0x99 Payload format invalid"),
        ]);
        assert_ne!(features_of(&a)[1], features_of(&c)[0]);
    }

    #[test]
    fn a_corpus_input_that_cannot_be_played_says_why() {
        let send = |topic: &str, payload: &[u8], qos: Option<u8>, again| Action::Send {
            topic: topic.into(),
            payload: payload.to_vec(),
            qos,
            again,
        };
        let input = |action| Input {
            version: crate::mqtt::Version::V5,
            actions: vec![Action::DropConnection, action],
        };
        let t = "v1/gateway/telemetry";
        assert_eq!(unplayable(&input(send(t, b"{}", Some(1), None))), None);
        assert_eq!(unplayable(&input(send(t, b"{}", None, None))), None);
        let qos_3 = unplayable(&input(send(t, b"{}", Some(3), None)));
        assert!(qos_3.is_some_and(|w| w.contains("QoS 3")));
        let again = Some(crate::emulator::core::Again::Dup);
        assert!(unplayable(&input(send(t, b"{}", Some(0), again))).is_some());
        assert!(unplayable(&input(send(t, b"{\"${x}\":1}", Some(1), None))).is_some());
    }
}
