//! A finding as a gateway scenario (the format of `scenarios/gateway/`) that fails under
//! `tbgw check-gateway`, with what the gateway printed beside it.

use std::path::{Path, PathBuf};

use serde_json::json;

use super::action::{Action, as_scenario_text, base64_of};
use super::session::{RECONNECT_WITHIN, STORM_ALLOWANCE, Symptom};

/// A confirmed, minimized finding.
#[derive(Clone, Debug)]
pub struct Finding {
    pub signature: String,
    pub symptom: Symptom,
    /// The minimal input; empty when the gateway has the fault at rest.
    pub actions: Vec<Action>,
    /// What the gateway printed while the minimal input was replayed.
    pub output: Vec<String>,
    /// Executions before it was found.
    pub found_after: u64,
    /// How often it was hit (distinct inputs, before deduplication).
    pub hits: usize,
}

/// `fuzz/typeerror-at-tb-gateway-mqtt-py-212-in-on-message`, from the signature.
pub fn id_of(signature: &str) -> String {
    let mut slug = String::new();
    for c in signature.chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
        if slug.len() >= 70 {
            break;
        }
    }
    format!("fuzz/{}", slug.trim_end_matches('-'))
}

fn quoted(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_else(|_| "\"\"".to_owned())
}

/// The requirement the reproducer checks, in the words of the scenarios.
fn requirement(finding: &Finding) -> String {
    let what = if finding.actions.is_empty() {
        "at rest".to_owned()
    } else {
        format!(
            "after: {}",
            finding
                .actions
                .iter()
                .map(Action::describe)
                .collect::<Vec<_>>()
                .join("; ")
        )
    };
    let what: String = what.chars().take(300).collect();
    if let Symptom::ReconnectStorm { .. } = finding.symptom {
        format!("The gateway answers RPCs and does not reconnect again and again {what}.")
    } else if finding.symptom.is_liveness() {
        format!("The gateway keeps running and answering RPCs {what}.")
    } else {
        format!("What the gateway sends {what} is accepted by ThingsBoard.")
    }
}

fn step_line(action: &Action) -> String {
    match action {
        Action::Send {
            topic,
            payload,
            qos,
            again,
        } => {
            let mut fields = vec![format!("topic: {}", quoted(topic))];
            match as_scenario_text(payload) {
                Some(text) => fields.push(format!("text: {}", quoted(text))),
                None => fields.push(format!("base64: {}", quoted(&base64_of(payload)))),
            }
            if let Some(q) = qos {
                fields.push(format!("qos: {q}"));
            }
            if let Some(again) = again {
                fields.push(format!("again: {}", json!(again)));
            }
            format!("  - send: {{{}}}", fields.join(", "))
        }
        Action::Disconnect { reason } => format!("  - disconnect: {{reason: 0x{reason:02X}}}"),
        Action::DropConnection => "  - drop_connection: {}".to_owned(),
    }
}

/// The scenario's text.
pub fn scenario_text(finding: &Finding, found_by: &str, probe_within_s: f64) -> String {
    let v5_only = finding.actions.iter().any(|a| match a {
        Action::Disconnect { .. } => true,
        Action::Send { topic, .. } => topic == "v1/gateway/disconnect",
        Action::DropConnection => false,
    });
    let reconnects = finding.actions.iter().any(Action::ends_session);
    let within = probe_within_s
        + if reconnects {
            RECONNECT_WITHIN.as_secs_f64()
        } else {
            0.0
        };
    let mut lines = vec![
        format!("# Found by {found_by}."),
        format!("# {}", finding.symptom.describe().replace('\n', " ")),
        format!("id: {}", id_of(&finding.signature)),
        format!("requirement: {}", quoted(&requirement(finding))),
        "refs: [\"tbgw fuzz gateway\"]".to_owned(),
        "profile: tb".to_owned(),
    ];
    if v5_only {
        lines.push("mqtt: 5".to_owned());
    }
    lines.push("steps:".to_owned());
    lines.push("  - await_devices: {count: 1}".to_owned());
    lines.push(
        "  - rpc: {params: {before: fuzz}}   # alive before: a failure further down is the input's"
            .to_owned(),
    );
    lines.extend(finding.actions.iter().map(step_line));
    lines.push(format!(
        "  - rpc: {{params: {{after: fuzz}}, within: {within}s}}"
    ));
    // Both checked after the probe, as the fuzzer judged them: a storm or a refused message
    // may be the gateway's reaction to the probe itself.
    match &finding.symptom {
        Symptom::ReconnectStorm { .. } => {
            // The same bound as the fuzzer's: one new session per action that ends one, and
            // two more for a gateway's own retries.
            let ended = finding.actions.iter().filter(|a| a.ends_session()).count();
            lines.push(format!(
                "  - expect_sessions: {{at_most: {}}}",
                ended + STORM_ALLOWANCE
            ));
        }
        // At rest, what was refused came before any case began: the passive check, which
        // watches the whole run, is what fails.
        Symptom::Refused { .. } if finding.actions.is_empty() => {}
        Symptom::Refused {
            check, strict_only, ..
        } => {
            let strict = if *strict_only { ", strict: true" } else { "" };
            lines.push(format!(
                "  - expect_accepted: {{check: {}{strict}}}",
                quoted(check)
            ));
        }
        Symptom::Exited { .. } | Symptom::Unresponsive { .. } => {}
    }
    let mut text = lines.join("\n");
    text.push('\n');
    text
}

/// Writes `NN-slug.yaml` and `NN-slug.output.txt` into `dir`; the scenario's path.
pub fn write(
    dir: &Path,
    number: usize,
    finding: &Finding,
    found_by: &str,
    probe_within_s: f64,
) -> Result<PathBuf, String> {
    std::fs::create_dir_all(dir)
        .map_err(|e| format!("cannot create --out {}: {e}", dir.display()))?;
    let id = id_of(&finding.signature);
    let slug = id.trim_start_matches("fuzz/");
    let scenario = dir.join(format!("{number:02}-{slug}.yaml"));
    std::fs::write(&scenario, scenario_text(finding, found_by, probe_within_s))
        .map_err(|e| format!("cannot write {}: {e}", scenario.display()))?;
    let output = dir.join(format!("{number:02}-{slug}.output.txt"));
    let mut text = finding.output.join("\n");
    text.push('\n');
    std::fs::write(&output, text).map_err(|e| format!("cannot write {}: {e}", output.display()))?;
    Ok(scenario)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emulator::core::Again;
    use crate::gateway::model::GatewayStep;

    fn finding(actions: Vec<Action>) -> Finding {
        Finding {
            signature: "TypeError at tb_gateway_mqtt.py:212 in _on_message".into(),
            symptom: Symptom::Unresponsive {
                within: std::time::Duration::from_secs(5),
                why: crate::fuzz::session::Silence::Hang,
                crash: None,
            },
            actions,
            output: vec![],
            found_after: 3,
            hits: 1,
        }
    }

    #[test]
    fn ids_are_slugs_of_the_signature() {
        assert_eq!(
            id_of("TypeError at tb_gateway_mqtt.py:212 in _on_message"),
            "fuzz/typeerror-at-tb-gateway-mqtt-py-212-in-on-message"
        );
    }

    #[test]
    fn a_reproducer_loads_as_a_gateway_scenario_with_the_same_bytes() {
        let actions = vec![
            Action::Send {
                topic: "v1/gateway/rpc".into(),
                payload: br#"{"device":["A"],"data":{"id":1,"method":"echo"}}"#.to_vec(),
                qos: Some(0),
                again: Some(Again::SameId),
            },
            Action::Send {
                topic: "v1/gateway/attributes".into(),
                payload: vec![0xEF, 0xBB, 0xBF, b'{', 0xFF],
                qos: None,
                again: None,
            },
            Action::Disconnect { reason: 0x8B },
            Action::DropConnection,
        ];
        let text = scenario_text(&finding(actions.clone()), "a test", 5.0);
        let scenario = crate::gateway::load::parse("f.yaml", &text).unwrap();
        assert_eq!(scenario.mqtt.as_ref().map(Vec::len), Some(1), "{text}");
        let played: Vec<&GatewayStep> = scenario.steps.iter().map(|s| &s.value).collect();
        assert_eq!(played.len(), 2 + actions.len() + 1, "{text}");
        match played[2] {
            GatewayStep::Send(s) => {
                assert_eq!(
                    s.text.as_deref().map(str::as_bytes),
                    Some(&br#"{"device":["A"],"data":{"id":1,"method":"echo"}}"#[..])
                );
                assert_eq!(s.qos, Some(0));
                assert_eq!(s.again, Some(Again::SameId));
            }
            other => panic!("{other:?}"),
        }
        match played[3] {
            GatewayStep::Send(s) => assert_eq!(
                crate::fuzz::action::decode_base64(s.base64.as_deref().unwrap()).unwrap(),
                vec![0xEF, 0xBB, 0xBF, b'{', 0xFF]
            ),
            other => panic!("{other:?}"),
        }
        assert!(
            matches!(played[4], GatewayStep::Disconnect(d) if d.reason.map(|c| c.0) == Some(0x8B))
        );
        assert!(matches!(played[5], GatewayStep::DropConnection(_)));
        match played[6] {
            GatewayStep::Rpc(r) => assert_eq!(r.within.map(|w| w.0.as_secs()), Some(35)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_reconnect_storm_reproducer_fails_on_its_sessions_before_the_probe() {
        let mut storm = finding(vec![
            Action::Send {
                topic: "v1/gateway/rpc".into(),
                payload: br#"{"device":"A","data":{"id":"7","method":"echo"}}"#.to_vec(),
                qos: None,
                again: None,
            },
            Action::DropConnection,
        ]);
        storm.symptom = Symptom::ReconnectStorm {
            sessions: 5,
            crash: None,
        };
        let text = scenario_text(&storm, "a test", 5.0);
        let scenario = crate::gateway::load::parse("f.yaml", &text).unwrap();
        let played: Vec<&GatewayStep> = scenario.steps.iter().map(|s| &s.value).collect();
        assert!(matches!(played[4], GatewayStep::Rpc(_)), "{text}");
        match played[5] {
            // One session for the dropped connection, and the fuzzer's allowance of two.
            GatewayStep::ExpectSessions(s) => {
                assert_eq!(s.at_most, 1 + STORM_ALLOWANCE, "{text}");
                assert_eq!(s.during, None);
            }
            other => panic!("{other:?}\n{text}"),
        }
        assert_eq!(played.len(), 6, "{text}");
        assert!(
            text.contains("does not reconnect again and again"),
            "{text}"
        );
    }

    #[test]
    fn a_refused_reply_reproducer_checks_what_was_sent_after_the_probe() {
        let mut refused = finding(vec![Action::Send {
            topic: "v1/gateway/rpc".into(),
            payload: br#"{"device":"A","data":{"id":1,"method":"echo","params":"s"}}"#.to_vec(),
            qos: None,
            again: None,
        }]);
        refused.symptom = Symptom::Refused {
            check: "passive/accepted-whole".into(),
            what: "v1/gateway/rpc: refused".into(),
            strict_only: false,
        };
        let text = scenario_text(&refused, "a test", 5.0);
        let scenario = crate::gateway::load::parse("f.yaml", &text).unwrap();
        let played: Vec<&GatewayStep> = scenario.steps.iter().map(|s| &s.value).collect();
        assert!(matches!(played[3], GatewayStep::Rpc(_)), "{text}");
        match played[4] {
            GatewayStep::ExpectAccepted(s) => {
                assert_eq!(s.check, Some(crate::gateway::passive::Check::Accepted));
                assert!(!s.strict);
            }
            other => panic!("{other:?}\n{text}"),
        }
        assert_eq!(played.len(), 5, "{text}");
        // A NON-STRICT finding (found under --strict) counts in its reproducer too.
        if let Symptom::Refused { strict_only, .. } = &mut refused.symptom {
            *strict_only = true;
        }
        let text = scenario_text(&refused, "a test", 5.0);
        assert!(text.contains("strict: true"), "{text}");
        // At rest, no case sees it: the passive check does.
        refused.actions.clear();
        let text = scenario_text(&refused, "a test", 5.0);
        assert!(!text.contains("expect_accepted"), "{text}");
    }
}
