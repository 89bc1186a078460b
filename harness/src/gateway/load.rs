//! Reading gateway scenarios (`scenarios/gateway/` by default), with every mistake reported
//! as file:line:col before the gateway is started.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::model::GatewayScenario;
use crate::scenario::load::{LoadError, Source, embedded, error_at, read_sources, yaml_error};

#[derive(Debug)]
pub struct GatewayCaseFile {
    pub file: String,
    pub scenario: GatewayScenario,
}

pub fn parse(file: &str, text: &str) -> Result<GatewayScenario, LoadError> {
    serde_saphyr::from_str::<GatewayScenario>(text).map_err(|e| yaml_error(file, &e))
}

/// Every case under `paths` (the built-in `scenarios/gateway` when none is given), sorted by
/// file (the order they run in); all mistakes together.
pub fn load(paths: &[PathBuf]) -> Result<Vec<GatewayCaseFile>, Vec<LoadError>> {
    let sources = if paths.is_empty() {
        embedded("gateway")
    } else {
        read_sources(paths)?
    };
    let mut cases = Vec::new();
    let mut errors = Vec::new();
    for Source { file, text } in sources {
        match parse(&file, &text) {
            Ok(scenario) => cases.push(GatewayCaseFile { file, scenario }),
            Err(e) => errors.push(e),
        }
    }
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    for case in &cases {
        if let Some(first) = seen.insert(case.scenario.id.clone(), case.file.clone()) {
            errors.push(error_at(
                &case.file,
                1,
                1,
                format!("id {:?} is already used by {first}", case.scenario.id),
            ));
        }
    }
    if errors.is_empty() {
        Ok(cases)
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_platform_step_in_a_gateway_case_is_reported_at_its_line() {
        let text = "id: a/b\nrequirement: r\nrefs: []\nprofile: tb\nsteps:\n  - await_devices: {count: 1}\n  - publish: {topic: t}\n";
        let err = parse("g.yaml", text).unwrap_err();
        assert_eq!(err.line, 7, "{err}");
        assert!(
            err.message
                .contains("unknown step `publish`; allowed here: expect_subscribed"),
            "{err}"
        );
    }

    #[test]
    fn a_passive_check_that_does_not_exist_is_reported_at_its_line() {
        let text = "id: a/b\nrequirement: r\nrefs: []\nprofile: tb\nsteps:\n  - await_devices: {count: 1}\n  - expect_accepted: {check: passive/acepted-whole}\n";
        let err = parse("g.yaml", text).unwrap_err();
        assert_eq!(err.line, 7, "{err}");
        assert!(
            err.message
                .contains("no passive check is called \"passive/acepted-whole\"")
                && err.message.contains("passive/accepted-whole"),
            "{err}"
        );
        let fine = text.replace("acepted", "accepted");
        assert!(parse("g.yaml", &fine).is_ok());
    }
}
