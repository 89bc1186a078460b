//! `tbgw run`, `tbgw list` and `tbgw schema` as a user runs them: exit codes, the failure
//! block, file:line:col for a mistake, and reports on disk.

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

fn tbgw(args: &[&str]) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_tbgw"))
        .args(args)
        .current_dir(repo(""))
        .output()
        .expect("tbgw runs");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// A scenario file in a fresh temporary folder.
fn scenario(name: &str, text: &str) -> (PathBuf, String) {
    let dir = std::env::temp_dir().join(format!("tbgw-run-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join(format!("{name}.yaml"));
    std::fs::write(&file, text).expect("write scenario");
    (dir, file.display().to_string())
}

const HEADER: &str = "id: check/one\nrequirement: A telemetry publish is acknowledged.\nrefs: [\"tb §1.3\"]\nprofile: tb\nmqtt: [5]\nsteps:\n  - connect: {}\n";

#[test]
fn a_mistake_in_a_scenario_is_exit_2_with_file_line_column() {
    let (_dir, file) = scenario(
        "typo",
        &format!("{HEADER}  - publish: {{topic: v1/gateway/telemetry, jsn: {{}}}}\n"),
    );
    let (code, _, stderr) = tbgw(&["run", &file]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains(&format!("{file}:8:")) && stderr.contains("unknown field `jsn`"),
        "{stderr}"
    );
}

#[test]
fn a_conformance_failure_is_exit_1_with_the_failure_block_and_reports() {
    let (dir, file) = scenario(
        "wrong",
        &format!(
            "{HEADER}  - publish: {{topic: v1/gateway/telemetry, json: {{\"${{run}}-A\": [{{t: 1}}]}}, expect: {{puback: 0x99}}}}\n"
        ),
    );
    let junit = dir.join("junit.xml");
    let json = dir.join("report.json");
    let (code, stdout, _) = tbgw(&[
        "run",
        &file,
        "--junit",
        &junit.display().to_string(),
        "--json",
        &json.display().to_string(),
    ]);
    assert_eq!(code, 1, "{stdout}");
    for expected in [
        "FAIL check/one [5]",
        "requirement: A telemetry publish is acknowledged.",
        "expected:    PUBACK pid=1 0x99 Payload format invalid",
        "actual:      PUBACK pid=1 0x00 Success",
        &format!("at {file}:8"),
        "gw → PUBLISH v1/gateway/telemetry qos=1 pid=1",
        "1 case runs against embedded: 0 passed, 1 failed",
    ] {
        assert!(
            stdout.contains(expected),
            "missing {expected:?} in:\n{stdout}"
        );
    }
    let xml = std::fs::read_to_string(junit).expect("junit written");
    assert!(
        xml.contains("<failure message=\"expected PUBACK pid=1 0x99"),
        "{xml}"
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(json).expect("json written")).expect("json");
    assert_eq!(report["summary"]["failed"], 1);
    assert_eq!(report["cases"][0]["verdict"], "FAIL");
    assert!(
        report["cases"][0]["wire"]
            .as_array()
            .is_some_and(|w| w.len() >= 4)
    );
}

#[test]
fn a_listed_deviation_that_passes_is_xpass_and_exit_4() {
    let (dir, _file) = scenario(
        "xpass",
        &format!(
            "{HEADER}  - publish: {{topic: v1/gateway/telemetry, json: {{\"${{run}}-A\": [{{t: 1}}]}}}}\n"
        ),
    );
    let deviations = dir.join("deviations");
    std::fs::create_dir_all(&deviations).expect("dir");
    std::fs::write(
        deviations.join("list.yaml"),
        "deviations:\n  - case: check/*\n    reason: Pretend the target refuses this.\n",
    )
    .expect("write deviations");
    let (code, stdout, _) = tbgw(&["run", &dir.display().to_string()]);
    assert_eq!(code, 4, "{stdout}");
    assert!(stdout.contains("XPASS check/one [5]"), "{stdout}");
}

#[test]
fn an_unreachable_remote_target_is_exit_3_with_the_address() {
    let (code, _, stderr) = tbgw(&[
        "run",
        "--target",
        "remote",
        "--mqtt",
        "127.0.0.1:1",
        "--rest",
        "http://127.0.0.1:1",
        "--filter",
        "telemetry/*",
    ]);
    assert_eq!(code, 3);
    assert!(stderr.contains("127.0.0.1:1"), "{stderr}");
}

#[test]
fn list_shows_cases_and_their_known_deviations() {
    let (code, stdout, _) = tbgw(&["list", "--filter", "attribute-request/doc-*"]);
    assert_eq!(code, 0);
    assert!(
        stdout.contains("attribute-request/doc-array-form  [3.1.1, 5]  doc"),
        "{stdout}"
    );
    assert!(
        stdout.contains("known deviation: ThingsBoard 4.3 reads `client` as a boolean"),
        "{stdout}"
    );
}

#[test]
fn the_committed_json_schemas_are_current() {
    for (args, file) in [
        (vec!["schema"], "scenarios/scenario.schema.json"),
        (
            vec!["schema", "--deviations"],
            "scenarios/deviations.schema.json",
        ),
        (vec!["schema", "--gateway"], "scenarios/gateway.schema.json"),
    ] {
        let (code, stdout, _) = tbgw(&args);
        assert_eq!(code, 0);
        let committed = std::fs::read_to_string(repo(file)).expect("schema committed");
        assert_eq!(
            stdout,
            committed,
            "{file} is stale: regenerate it with `tbgw {}`",
            args.join(" ")
        );
    }
}
