//! Reading gateway scenarios (`scenarios/gateway/` by default), with every mistake reported
//! as file:line:col before the gateway is started.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::model::GatewayScenario;
use crate::scenario::load::{LoadError, default_root, error_at, yaml_error, yaml_files};

#[derive(Debug)]
pub struct GatewayCaseFile {
    pub file: String,
    pub scenario: GatewayScenario,
}

/// The given paths, or `scenarios/gateway`.
pub fn paths_to_load(given: &[PathBuf]) -> Vec<PathBuf> {
    if given.is_empty() {
        vec![default_root().join("gateway")]
    } else {
        given.to_vec()
    }
}

pub fn parse(file: &str, text: &str) -> Result<GatewayScenario, LoadError> {
    serde_saphyr::from_str::<GatewayScenario>(text).map_err(|e| yaml_error(file, &e))
}

/// Every case under `paths`, sorted by file (the order they run in); all mistakes together.
pub fn load(paths: &[PathBuf]) -> Result<Vec<GatewayCaseFile>, Vec<LoadError>> {
    let files = yaml_files(paths).map_err(|e| vec![e])?;
    let mut cases = Vec::new();
    let mut errors = Vec::new();
    for path in files {
        let file = path.display().to_string();
        match std::fs::read_to_string(&path) {
            Ok(text) => match parse(&file, &text) {
                Ok(scenario) => cases.push(GatewayCaseFile { file, scenario }),
                Err(e) => errors.push(e),
            },
            Err(e) => errors.push(error_at(&file, 0, 0, format!("cannot read: {e}"))),
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
        assert!(err.message.contains("unknown variant `publish`"), "{err}");
    }
}
