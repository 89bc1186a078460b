//! `tbgw check-gateway` as a user runs it, on the reference gateway of `harness/examples/`
//! (which must pass every check), on its `--broken` variant (which must fail exactly the
//! checks it breaks), and on gateways that never connect.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `cargo test` builds the examples beside the binaries.
fn reference_gateway() -> String {
    let tbgw = Path::new(env!("CARGO_BIN_EXE_tbgw"));
    let example = tbgw
        .parent()
        .expect("target dir")
        .join("examples")
        .join("reference_gateway");
    assert!(
        example.exists(),
        "{} is missing: run the tests with `cargo test` (which builds the examples)",
        example.display()
    );
    example.display().to_string()
}

struct Checked {
    code: i32,
    stdout: String,
    verdicts: BTreeMap<String, String>,
}

fn check_gateway(command: &str, extra: &[&str], name: &str) -> Checked {
    let dir = std::env::temp_dir().join(format!("tbgw-check-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let json = dir.join("report.json");
    let junit = dir.join("junit.xml");
    let output = Command::new(env!("CARGO_BIN_EXE_tbgw"))
        .args(["check-gateway", "--cmd", command])
        .args(["--json", &json.display().to_string()])
        .args(["--junit", &junit.display().to_string()])
        .args(extra)
        .current_dir(repo())
        .output()
        .expect("tbgw runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let report: Value = serde_json::from_str(
        &std::fs::read_to_string(&json)
            .unwrap_or_else(|e| panic!("no JSON report ({e}):\n{stdout}\n{stderr}")),
    )
    .expect("the JSON report parses");
    let xml = std::fs::read_to_string(&junit).expect("the JUnit report was written");
    assert!(xml.contains("<testsuite"), "{xml}");
    let verdicts = report["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .map(|c| {
            (
                c["id"].as_str().unwrap_or_default().to_owned(),
                c["verdict"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    Checked {
        code: output.status.code().unwrap_or(-1),
        stdout,
        verdicts,
    }
}

#[test]
fn the_reference_gateway_passes_every_check() {
    let command = format!(
        "{} --host {{host}} --port {{port}} --token {{token}}",
        reference_gateway()
    );
    let checked = check_gateway(&command, &[], "reference");
    assert_eq!(checked.code, 0, "{}", checked.stdout);
    let not_passed: Vec<_> = checked
        .verdicts
        .iter()
        .filter(|(_, v)| *v != "PASS")
        .collect();
    assert!(not_passed.is_empty(), "{not_passed:?}\n{}", checked.stdout);
    // Every gateway scenario ran, plus connect, stop and the five passive checks.
    let scenarios = std::fs::read_dir(repo().join("scenarios/gateway"))
        .expect("scenarios/gateway")
        .flatten()
        .map(|area| std::fs::read_dir(area.path()).map_or(0, |files| files.count()))
        .sum::<usize>();
    assert_eq!(
        checked.verdicts.len(),
        scenarios + 7,
        "{:?}",
        checked.verdicts
    );
    assert!(
        checked.stdout.contains("gateway connected after"),
        "{}",
        checked.stdout
    );
}

#[test]
fn the_broken_reference_gateway_fails_exactly_what_it_breaks() {
    // The environment is enough: no placeholders in the command line.
    let command = format!("{} --broken", reference_gateway());
    let checked = check_gateway(&command, &["--timeout-multiplier", "0.3"], "broken");
    assert_eq!(checked.code, 1, "{}", checked.stdout);
    let expected: BTreeMap<String, String> = [
        ("gateway/connects", "PASS"),
        ("handshake/session-limits", "PASS"),
        ("handshake/subscriptions", "PASS"),
        ("devices/announced-before-data", "PASS"),
        // It answers every RPC as its first device.
        ("rpc/each-device", "FAIL"),
        ("rpc/one-way", "PASS"),
        ("rpc/same-id-two-devices", "FAIL"),
        ("attributes/responses-every-shape", "PASS"),
        ("attributes/shared-deletion", "PASS"),
        ("attributes/shared-update", "PASS"),
        // `data: 5` makes it deaf, like tb-mqtt-client 1.13: nothing is answered afterwards.
        ("robustness/data-not-an-object", "FAIL"),
        ("robustness/not-json", "FAIL"),
        ("robustness/oversized-value", "FAIL"),
        ("robustness/rpc-without-id", "FAIL"),
        ("robustness/unknown-topic", "FAIL"),
        ("session/device-disconnect-notice", "FAIL"),
        ("session/reconnect", "FAIL"),
        ("gateway/stops-on-sigint", "PASS"),
        // A null attribute value is dropped by ThingsBoard.
        ("passive/accepted-whole", "FAIL"),
        // An unquoted JSON key in its connect messages.
        ("passive/strict-form", "NON-STRICT"),
        // Telemetry for a device it never announced.
        ("passive/devices-connected-first", "NON-STRICT"),
        ("passive/rpc-replies-match", "FAIL"),
        ("passive/rpc-reply-data-is-json", "NON-STRICT"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    assert_eq!(checked.verdicts, expected, "{}", checked.stdout);
    assert!(
        checked.stdout.contains(
            "a reply for device \"Ref Sensor A\" id 0, but id 0 is outstanding for \"Ref Sensor B\""
        ),
        "{}",
        checked.stdout
    );
    assert!(
        checked.stdout.contains(
            "expected:    every device announced again: [\"Ref Sensor A\", \"Ref Sensor B\"]"
        ),
        "{}",
        checked.stdout
    );
}

#[test]
fn with_strict_a_non_strict_finding_fails() {
    let command = format!("{} --broken", reference_gateway());
    let checked = check_gateway(&command, &["--strict", "--filter", "handshake/*"], "strict");
    assert_eq!(checked.code, 1, "{}", checked.stdout);
    assert_eq!(checked.verdicts["passive/strict-form"], "FAIL");
    assert_eq!(
        checked.verdicts["passive/rpc-replies-match"], "PASS",
        "no RPC was sent"
    );
}

#[test]
fn a_gateway_that_never_connects_fails_with_its_last_output() {
    let checked = check_gateway(
        "echo 'gateway: cannot read config.yaml'; sleep 30",
        &["--connect-timeout", "1"],
        "silent",
    );
    assert_eq!(checked.code, 1, "{}", checked.stdout);
    assert_eq!(checked.verdicts["gateway/connects"], "FAIL");
    assert!(
        checked.stdout.contains("no CONNECT within 1 s")
            && checked
                .stdout
                .contains("| gateway: cannot read config.yaml"),
        "{}",
        checked.stdout
    );
    assert!(
        checked
            .verdicts
            .iter()
            .filter(|(id, _)| *id != "gateway/connects")
            .all(|(_, v)| v == "SKIP"),
        "{:?}",
        checked.verdicts
    );
}

#[test]
fn a_gateway_that_exits_at_once_fails_with_its_exit_status() {
    let checked = check_gateway("echo 'no token given' >&2; exit 7", &[], "exits");
    assert_eq!(checked.code, 1, "{}", checked.stdout);
    assert!(
        checked
            .stdout
            .contains("the gateway exited (exit status: 7) without connecting")
            && checked.stdout.contains("| no token given"),
        "{}",
        checked.stdout
    );
}

#[test]
fn a_mistake_in_a_gateway_scenario_is_exit_2_before_the_gateway_starts() {
    let dir = std::env::temp_dir().join(format!("tbgw-check-{}-typo", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("typo.yaml");
    std::fs::write(
        &file,
        "id: x/y\nrequirement: r\nrefs: []\nprofile: tb\nsteps:\n  - rpc: {devise: A}\n",
    )
    .expect("write");
    let marker = dir.join("started");
    let output = Command::new(env!("CARGO_BIN_EXE_tbgw"))
        .args([
            "check-gateway",
            "--cmd",
            &format!("touch {}", marker.display()),
        ])
        .arg(&file)
        .output()
        .expect("tbgw runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("typo.yaml:6:") && stderr.contains("devise"),
        "{stderr}"
    );
    assert!(!marker.exists(), "the gateway must not start");
}
