//! Reading scenario and deviation files: every mistake is reported with file:line:col and
//! what was expected there, before anything runs.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use globset::{Glob, GlobMatcher};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;
use serde_saphyr::Spanned;

use super::matcher;
use super::model::{MqttVersion, Scenario, Step};

/// A scenario and where it came from.
#[derive(Debug)]
pub struct Case {
    pub file: String,
    pub scenario: Scenario,
}

impl Case {
    /// `file:line` of a step, for failure messages.
    pub fn step_location(&self, step: &Spanned<Step>) -> String {
        format!("{}:{}", self.file, step.referenced.line())
    }
}

/// A known deviation of the target from what a case asserts (usually ThingsBoard from its
/// own doc): the case reports XFAIL while it fails, XPASS (exit 4) once it passes.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Deviation {
    /// A glob over case ids, e.g. `attributes/request-doc-*`.
    pub case: String,
    /// Why the target deviates, in one or two sentences.
    pub reason: String,
    #[serde(default)]
    pub refs: Vec<String>,
    /// Only under these MQTT versions; all when omitted.
    pub mqtt: Option<Vec<MqttVersion>>,
    /// Only on these targets (`embedded`, `remote`, `container`); all when omitted.
    pub targets: Option<Vec<String>>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeviationFile {
    pub deviations: Vec<Deviation>,
}

#[derive(Debug)]
pub struct LoadedDeviation {
    pub deviation: Deviation,
    pub matcher: GlobMatcher,
    pub file: String,
}

#[derive(Debug, Default)]
pub struct Suite {
    pub cases: Vec<Case>,
    pub deviations: Vec<LoadedDeviation>,
}

/// A mistake in a scenario or deviation file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadError {
    pub file: String,
    pub line: u64,
    pub column: u64,
    pub message: String,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file, self.message)
        } else {
            write!(
                f,
                "{}:{}:{}: {}",
                self.file, self.line, self.column, self.message
            )
        }
    }
}

pub(crate) fn error_at(
    file: &str,
    line: u64,
    column: u64,
    message: impl Into<String>,
) -> LoadError {
    LoadError {
        file: file.to_owned(),
        line,
        column,
        message: message.into(),
    }
}

/// Every `*.yaml`/`*.yml` under the given files and folders, sorted; a file under a folder
/// named `deviations` is a deviation file.
pub(crate) fn yaml_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, LoadError> {
    let mut out = Vec::new();
    for path in paths {
        if path.is_dir() {
            collect(path, &mut out).map_err(|e| {
                error_at(
                    &path.display().to_string(),
                    0,
                    0,
                    format!("cannot read the folder: {e}"),
                )
            })?;
        } else if path.is_file() {
            out.push(path.clone());
        } else {
            return Err(error_at(
                &path.display().to_string(),
                0,
                0,
                "no such file or folder (pass scenario files or folders)",
            ));
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            out.push(path);
        }
    }
    Ok(())
}

/// The suites of the repository's `scenarios/`, built into the binary (see build.rs), named
/// `scenarios/<folder>/…` as in the repository.
static EMBEDDED: &[(&str, &str)] = include!(concat!(env!("OUT_DIR"), "/embedded_scenarios.rs"));

/// One file to parse: its name for messages and its text.
pub struct Source {
    pub file: String,
    pub text: String,
}

/// The built-in files of `scenarios/<folder>/` (`platform`, `gateway`, `deviations`).
pub fn embedded(folder: &str) -> Vec<Source> {
    let prefix = format!("scenarios/{folder}/");
    EMBEDDED
        .iter()
        .filter(|(name, _)| name.starts_with(&prefix))
        .map(|(name, text)| Source {
            file: (*name).to_owned(),
            text: (*text).to_owned(),
        })
        .collect()
}

/// The files under the given paths, read; a file that cannot be read is a mistake at it.
pub(crate) fn read_sources(paths: &[PathBuf]) -> Result<Vec<Source>, Vec<LoadError>> {
    let files = yaml_files(paths).map_err(|e| vec![e])?;
    let mut sources = Vec::new();
    let mut errors = Vec::new();
    for path in files {
        let file = path.display().to_string();
        match std::fs::read_to_string(&path) {
            Ok(text) => sources.push(Source { file, text }),
            Err(e) => errors.push(error_at(&file, 0, 0, format!("cannot read: {e}"))),
        }
    }
    if errors.is_empty() {
        Ok(sources)
    } else {
        Err(errors)
    }
}

fn is_deviation_file(file: &str) -> bool {
    Path::new(file)
        .components()
        .any(|c| c.as_os_str() == "deviations")
}

/// What `tbgw run` and `tbgw list` load: the given files and folders, or the built-in
/// platform suite; plus the built-in known deviations when none of the paths holds any.
/// All mistakes are returned together.
pub fn load(paths: &[PathBuf]) -> Result<Suite, Vec<LoadError>> {
    let mut sources = if paths.is_empty() {
        embedded("platform")
    } else {
        read_sources(paths)?
    };
    if !sources.iter().any(|s| is_deviation_file(&s.file)) {
        sources.extend(embedded("deviations"));
    }
    load_sources(sources)
}

/// Parses and checks every scenario and deviation file.
pub fn load_sources(sources: Vec<Source>) -> Result<Suite, Vec<LoadError>> {
    let mut suite = Suite::default();
    let mut errors = Vec::new();
    for Source { file, text } in sources {
        if is_deviation_file(&file) {
            match parse_deviations(&file, &text) {
                Ok(list) => suite.deviations.extend(list),
                Err(e) => errors.push(e),
            }
        } else {
            match parse_scenario(&file, &text) {
                Ok(scenario) => {
                    errors.extend(validate(&file, &scenario));
                    errors.extend(undefined_variables(&file, &text, &scenario));
                    suite.cases.push(Case { file, scenario });
                }
                Err(e) => errors.push(e),
            }
        }
    }
    errors.extend(duplicate_ids(&suite.cases));
    if errors.is_empty() {
        Ok(suite)
    } else {
        Err(errors)
    }
}

pub(crate) fn yaml_error(file: &str, error: &serde_saphyr::Error) -> LoadError {
    let (line, column) = error.location().map_or((0, 0), |l| (l.line(), l.column()));
    let message = error.to_string();
    // serde-saphyr appends its own location and a snippet; keep the first line, which says
    // what was expected.
    let first = message.lines().next().unwrap_or("invalid YAML").trim();
    let first = first
        .split(" at line ")
        .next()
        .unwrap_or(first)
        .trim_start_matches("error: ");
    // and drop a leading "line N column M: ", already in the file:line:col prefix.
    let first = match first.split_once(": ") {
        Some((head, rest)) if head.starts_with("line ") && head.contains(" column ") => rest,
        _ => first,
    };
    error_at(file, line, column, plain_words(first))
}

/// serde's wording made plain, with a "did you mean" for a misspelt key or name.
pub(crate) fn plain_words(message: &str) -> String {
    let quoted = |text: &str| {
        let start = text.find('`')? + 1;
        let end = start + text[start..].find('`')?;
        Some(text[start..end].to_owned())
    };
    let choices = |text: &str| -> Vec<String> {
        text.split_once("expected one of ")
            .map(|(_, list)| {
                list.split(", ")
                    .map(|c| c.trim_matches('`').to_owned())
                    .collect()
            })
            .unwrap_or_default()
    };
    for (serde, plain) in [("unknown field", "key"), ("unknown variant", "name")] {
        if message.starts_with(serde)
            && let Some(word) = quoted(message)
        {
            let allowed = choices(message);
            let hint = did_you_mean(&word, allowed.iter().map(String::as_str))
                .map(|d| format!(" (did you mean `{d}`?)"))
                .unwrap_or_default();
            let is_step = |a: &String| a == "publish" || a == "expect_publish";
            let plain = if plain == "name" && allowed.iter().any(is_step) {
                "step"
            } else {
                plain
            };
            let what = if plain == "key" {
                "the keys allowed here"
            } else {
                "allowed here"
            };
            return if allowed.is_empty() {
                format!("unknown {plain} `{word}`{hint}")
            } else {
                format!(
                    "unknown {plain} `{word}`{hint}; {what}: {}",
                    allowed.join(", ")
                )
            };
        }
    }
    if let Some(field) = message.strip_prefix("missing field ") {
        return format!("the required key {field} is missing");
    }
    match message {
        "expected sequence start" => "expected a list here, e.g. `[a, b]`".to_owned(),
        "expected mapping start" => "expected `key: value` pairs here".to_owned(),
        other => match other.strip_prefix("invalid type: ") {
            Some(rest) => match rest.split_once(", expected ") {
                Some((found, wanted)) => format!("found {found} where {wanted} was expected"),
                None => other.to_owned(),
            },
            None => other.to_owned(),
        },
    }
}

pub fn parse_scenario(file: &str, text: &str) -> Result<Scenario, LoadError> {
    serde_saphyr::from_str::<Scenario>(text).map_err(|e| yaml_error(file, &e))
}

fn parse_deviations(file: &str, text: &str) -> Result<Vec<LoadedDeviation>, LoadError> {
    let parsed: DeviationFile = serde_saphyr::from_str(text).map_err(|e| yaml_error(file, &e))?;
    parsed
        .deviations
        .into_iter()
        .map(|deviation| {
            let matcher = Glob::new(&deviation.case)
                .map_err(|e| {
                    error_at(
                        file,
                        0,
                        0,
                        format!("bad case glob {:?}: {e}", deviation.case),
                    )
                })?
                .compile_matcher();
            Ok(LoadedDeviation {
                deviation,
                matcher,
                file: file.to_owned(),
            })
        })
        .collect()
}

fn patterns_of(step: &Step) -> Vec<&Value> {
    let mut out = Vec::new();
    match step {
        Step::ExpectMessage(s) => out.extend(s.json.iter()),
        Step::ExpectNoMessage(s) => out.extend(s.json.iter()),
        Step::Rest(s) => out.extend(s.expect.json.iter()),
        Step::Device(s) => out.extend(s.expect.iter()),
        Step::Attributes(s) => out.push(&s.expect),
        Step::Timeseries(s) => out.push(&s.expect),
        Step::RpcResult(s) => out.extend(s.expect.json.iter()),
        Step::Claim(s) => out.extend(s.expect.json.iter()),
        _ => {}
    }
    out
}

/// Mistakes serde cannot see: one payload per publish, valid QoS, known pattern operators,
/// an id of the form `area/name`.
fn validate(file: &str, scenario: &Scenario) -> Vec<LoadError> {
    let mut errors = Vec::new();
    if !scenario.id.contains('/') || scenario.id.contains(char::is_whitespace) {
        errors.push(error_at(
            file,
            1,
            1,
            format!(
                "id {:?} must look like `area/name` (no spaces)",
                scenario.id
            ),
        ));
    }
    if scenario.steps.is_empty() {
        errors.push(error_at(file, 1, 1, "a scenario needs at least one step"));
    }
    for step in &scenario.steps {
        let at = |message: String| {
            error_at(
                file,
                step.referenced.line(),
                step.referenced.column(),
                message,
            )
        };
        if let Step::Publish(p) = &step.value {
            let payloads = [
                p.json.is_some(),
                p.text.is_some(),
                p.filler.is_some(),
                p.base64.is_some(),
            ]
            .iter()
            .filter(|b| **b)
            .count();
            if payloads != 1 {
                errors.push(at(
                    "publish needs exactly one payload: `json`, `text`, `filler` or `base64`"
                        .into(),
                ));
            }
            if p.qos > 2 {
                errors.push(at(format!("qos {} is not an MQTT QoS (0, 1 or 2)", p.qos)));
            }
            if p.again.is_some() && p.qos == 0 {
                errors.push(at(
                    "`again` re-delivers by packet id, which a QoS 0 PUBLISH does not have: give `qos: 1` or `qos: 2`".into(),
                ));
            }
        }
        if matches!(step.value, Step::Idle(_)) && !scenario.timers {
            errors.push(at(
                "idle waits for ThingsBoard's timers (10 minutes on a real server): the case needs `timers: true`".into(),
            ));
        }
        if let Step::Subscribe(s) = &step.value
            && s.expect.as_ref().is_some_and(|e| e.len() != s.topics.len())
        {
            errors.push(at("subscribe: `expect` needs one code per topic".into()));
        }
        for pattern in patterns_of(&step.value) {
            for op in matcher::unknown_operators(pattern) {
                errors.push(at(format!("{}: {op}", step.value.verb())));
            }
        }
    }
    errors
}

/// The variables every case has before its first step.
const BUILT_IN_VARIABLES: [&str; 5] = ["run", "mqtt", "gateway", "gateway_id", "gateway_token"];

/// `${name}` used by a step before any step defines it (built in, or bound by `$capture`):
/// known when the file loads, so it is a mistake at the step, not a failure an hour in.
fn undefined_variables(file: &str, text: &str, scenario: &Scenario) -> Vec<LoadError> {
    let Ok(document) = serde_saphyr::from_str::<Value>(text) else {
        return Vec::new();
    };
    let Some(steps) = document.get("steps").and_then(Value::as_array) else {
        return Vec::new();
    };
    let mut defined: Vec<String> = BUILT_IN_VARIABLES.iter().map(|v| (*v).to_owned()).collect();
    let mut errors = Vec::new();
    for (step, spanned) in steps.iter().zip(&scenario.steps) {
        // A capture binds for the steps after it (and this one's later fields).
        captures_in(step, &mut defined);
        let mut used = Vec::new();
        references_in(step, &mut used);
        for name in used {
            if !defined.contains(&name) {
                let hint = did_you_mean(&name, defined.iter().map(String::as_str))
                    .map(|d| format!(" (did you mean ${{{d}}}?)"))
                    .unwrap_or_default();
                errors.push(error_at(
                    file,
                    spanned.referenced.line(),
                    spanned.referenced.column(),
                    format!(
                        "{}: ${{{name}}} is not defined here{hint}; defined are {}, and what an earlier step binds with `$capture`",
                        spanned.value.verb(),
                        defined.iter().map(|d| format!("${{{d}}}")).collect::<Vec<_>>().join(", ")
                    ),
                ));
            }
        }
    }
    errors
}

fn captures_in(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                if key == "$capture"
                    && let Some(name) = inner.as_str()
                {
                    out.push(name.to_owned());
                } else {
                    captures_in(inner, out);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| captures_in(v, out)),
        _ => {}
    }
}

fn references_in(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(text) => references_in_text(text, out),
        Value::Object(map) => {
            for (key, inner) in map {
                references_in_text(key, out);
                if key != "$literal" && key != "$capture" {
                    references_in(inner, out);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| references_in(v, out)),
        _ => {}
    }
}

fn references_in_text(text: &str, out: &mut Vec<String>) {
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else { break };
        let name = after[..end].to_owned();
        if !out.contains(&name) {
            out.push(name);
        }
        rest = &after[end + 1..];
    }
}

/// The closest of `known` to `word` when it is close enough to be a typo.
pub fn did_you_mean<'a>(word: &str, known: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    known
        .map(|k| (strsim::levenshtein(word, k), k))
        .filter(|(d, k)| *d > 0 && *d <= (k.len() / 3).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

fn duplicate_ids(cases: &[Case]) -> Vec<LoadError> {
    let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
    let mut errors = Vec::new();
    for case in cases {
        if let Some(first) = seen.insert(&case.scenario.id, &case.file) {
            errors.push(error_at(
                &case.file,
                1,
                1,
                format!("id {:?} is already used by {first}", case.scenario.id),
            ));
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_misspelled_field_is_reported_at_its_line_and_column() {
        let text = "id: a/b\nrequirement: r\nrefs: []\nprofile: tb\nsteps:\n  - publish:\n      topic: t\n      jsn: {}\n";
        let err = parse_scenario("x.yaml", text).unwrap_err();
        assert_eq!((err.line, err.column), (8, 7), "{err}");
        assert!(
            err.message
                .starts_with("unknown key `jsn` (did you mean `json`?); the keys allowed here: session, topic, json"),
            "{err}"
        );
    }

    #[test]
    fn hex_reason_codes_and_versions_parse() {
        let text = "id: a/b\nrequirement: r\nrefs: []\nprofile: tb\nmqtt: [3.1.1, 5]\nsteps:\n  - publish:\n      topic: t\n      text: x\n      expect: {puback: 0x99, disconnect: 0x83}\n";
        let scenario = parse_scenario("x.yaml", text).unwrap();
        let Step::Publish(p) = &scenario.steps[0].value else {
            panic!("a publish step")
        };
        let answer = p.expect.as_ref().unwrap();
        assert_eq!(
            answer.puback,
            Some(super::super::model::PubAckExpect::Code(0x99))
        );
        assert_eq!(answer.disconnect.map(|c| c.0), Some(0x83));
        assert_eq!(scenario.mqtt.len(), 2);
    }

    #[test]
    fn a_publish_without_payload_is_refused_with_its_line() {
        let text = "id: a/b\nrequirement: r\nrefs: []\nprofile: tb\nsteps:\n  - connect: {}\n  - publish: {topic: t}\n";
        let scenario = parse_scenario("x.yaml", text).unwrap();
        let errors = validate("x.yaml", &scenario);
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].line, 7);
    }

    #[test]
    fn a_second_delivery_at_qos_0_is_refused_with_its_line() {
        let head = "id: a/b\nrequirement: r\nrefs: []\nprofile: tb\nsteps:\n  - connect: {}\n";
        let at_qos_0 = format!("{head}  - publish: {{topic: t, text: x, qos: 0, again: dup}}\n");
        let scenario = parse_scenario("x.yaml", &at_qos_0).unwrap();
        let errors = validate("x.yaml", &scenario);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].line, 7);
        assert!(errors[0].message.contains("QoS 0"), "{}", errors[0].message);
        let at_qos_1 = at_qos_0.replace("qos: 0", "qos: 1");
        let scenario = parse_scenario("x.yaml", &at_qos_1).unwrap();
        assert!(validate("x.yaml", &scenario).is_empty());
    }

    #[test]
    fn idle_outside_a_timers_case_is_refused_with_its_line() {
        let head = "id: a/b\nrequirement: r\nrefs: []\nprofile: tb\n";
        let steps = "steps:\n  - connect: {}\n  - idle: {past: session_inactivity}\n";
        let plain = parse_scenario("x.yaml", &format!("{head}{steps}")).unwrap();
        let errors = validate("x.yaml", &plain);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].line, 7);
        assert!(errors[0].message.contains("timers: true"), "{}", errors[0]);
        let timed = parse_scenario("x.yaml", &format!("{head}timers: true\n{steps}")).unwrap();
        assert!(validate("x.yaml", &timed).is_empty());
    }
}
