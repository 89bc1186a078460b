//! `tbgw run`, `tbgw list` and `tbgw schema` as a user runs them: exit codes, the failure
//! block, file:line:col for a mistake, and reports on disk.

use std::io::Read;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

#[path = "support/cli.rs"]
mod cli;
use cli::{Serve, repo, tbgw};

/// A scenario file in a fresh temporary folder.
fn scenario(name: &str, text: &str) -> (PathBuf, String) {
    let dir = cli::temp_dir(&format!("run-{name}"));
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
    let ran = tbgw(&["run", &file]);
    let (code, stderr) = (ran.code, ran.stderr);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains(&format!("{file}:8:")) && stderr.contains("unknown key `jsn`"),
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
    let ran = tbgw(&[
        "run",
        &file,
        "--junit",
        &junit.display().to_string(),
        "--json",
        &json.display().to_string(),
    ]);
    let (code, stdout) = (ran.code, ran.stdout.clone());
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
    cli::validate_junit(&junit);
    let xml = std::fs::read_to_string(&junit).expect("junit written");
    for expected in [
        "<failure message=\"publish (step 2): expected PUBACK pid=1 0x99 Payload format invalid; actual PUBACK pid=1 0x00 Success\" type=\"FAIL\">",
        &format!("file=\"{file}\" line=\"8\""),
        "<property name=\"requirement\" value=\"A telemetry publish is acknowledged.\"/>",
        "<property name=\"ref\" value=\"tb §1.3\"/>",
        "<property name=\"basis\" value=\"observed\"/>",
        "timestamp=\"20",
    ] {
        assert!(xml.contains(expected), "missing {expected:?} in:\n{xml}");
    }
    let report = cli::report(&json, &ran);
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
    let ran = tbgw(&["run", &dir.display().to_string()]);
    let (code, stdout) = (ran.code, ran.stdout);
    assert_eq!(code, 4, "{stdout}");
    assert!(stdout.contains("XPASS check/one [5]"), "{stdout}");
}

#[test]
fn an_unreachable_remote_target_is_exit_3_with_the_address() {
    let ran = tbgw(&[
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
    assert_eq!(ran.code, 3, "{}", ran.all());
    assert!(ran.stderr.contains("127.0.0.1:1"), "{}", ran.all());
}

#[test]
fn list_shows_cases_and_their_known_deviations() {
    let ran = tbgw(&["list", "--filter", "attribute-request/doc-*"]);
    let (code, stdout) = (ran.code, ran.stdout);
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
        let ran = tbgw(&args);
        let (code, stdout) = (ran.code, ran.stdout);
        assert_eq!(code, 0);
        let committed = std::fs::read_to_string(repo().join(file)).expect("schema committed");
        assert_eq!(
            stdout,
            committed,
            "{file} is stale: regenerate it with `tbgw {}`",
            args.join(" ")
        );
    }
}

/// The bug: `tbgw run --mqtt H:P --rest URL` without `--target remote` tested the embedded
/// emulator and exited 0.
#[test]
fn remote_addresses_without_target_remote_are_exit_2_naming_the_target() {
    let ran = tbgw(&[
        "run",
        "--mqtt",
        "127.0.0.1:1883",
        "--rest",
        "http://127.0.0.1:8080",
    ]);
    assert_eq!(ran.code, 2, "{}", ran.all());
    assert!(
        ran.stderr.contains("--mqtt belongs to --target remote")
            && ran.stderr.contains("add the --target you mean"),
        "{}",
        ran.all()
    );
    assert!(ran.stdout.is_empty(), "nothing may run: {}", ran.all());
}

#[test]
fn usage_mistakes_are_exit_2_before_anything_runs() {
    for (args, says) in [
        (vec!["run", "--jobs", "0"], "--jobs"),
        (
            vec!["run", "--target", "remote"],
            "--target remote needs --mqtt",
        ),
        (
            vec![
                "run", "--target", "remote", "--mqtt", "h:1883", "--rest", "h:8080",
            ],
            "--rest needs the scheme: http://h:8080",
        ),
        (
            vec!["run", "--junit", "/nonexistent-tbgw-dir/junit.xml"],
            "--junit /nonexistent-tbgw-dir/junit.xml: cannot be written",
        ),
        (
            vec!["run", "--timeout-multiplier", "0"],
            "--timeout-multiplier",
        ),
        (vec!["check-gateway", "--cmd", ""], "--cmd is empty"),
        (
            vec!["run", "--json", "-", "--junit", "-"],
            "cannot both write",
        ),
    ] {
        let ran = tbgw(&args);
        assert_eq!(ran.code, 2, "{args:?}: {}", ran.all());
        assert!(ran.stderr.contains(says), "{args:?}: {}", ran.all());
        assert!(
            !ran.stdout.contains("PASS"),
            "{args:?} ran cases: {}",
            ran.all()
        );
    }
}

#[test]
fn gateway_cases_given_to_run_are_named_as_such() {
    let ran = tbgw(&["run", "scenarios/gateway"]);
    assert_eq!(ran.code, 2, "{}", ran.all());
    assert!(
        ran.stderr.contains("scenarios/gateway holds gateway cases")
            && ran.stderr.contains("tbgw check-gateway --cmd"),
        "{}",
        ran.all()
    );
}

/// Runs `tbgw ARGS` whose reader reads `read_first` bytes and goes away, as `head` does;
/// its exit code and standard error.
fn with_stdout_closed_after(args: &[&str], read_first: usize) -> (Option<i32>, String) {
    let mut child = cli::command()
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("tbgw runs");
    let mut stdout = child.stdout.take().expect("stdout");
    let mut first = vec![0u8; read_first];
    stdout.read_exact(&mut first).expect("a first line");
    drop(stdout);
    let output = child.wait_with_output().expect("tbgw ends");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (output.status.code(), stderr)
}

/// The bug: `tbgw list | head -2` panicked with a backtrace on the closed pipe.
#[test]
fn a_closed_stdout_ends_list_quietly() {
    let (code, stderr) = with_stdout_closed_after(&["list"], 16);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(code, Some(0), "{stderr}");
}

#[test]
fn json_to_standard_output_leaves_the_console_on_standard_error() {
    let ran = tbgw(&[
        "run",
        "--filter",
        "connect/auto-create-default-profile",
        "--json",
        "-",
    ]);
    assert_eq!(ran.code, 0, "{}", ran.all());
    let report: serde_json::Value = serde_json::from_str(&ran.stdout).expect("stdout is the JSON");
    assert_eq!(report["summary"]["passed"], 2, "{}", ran.all());
    assert!(
        ran.stderr
            .contains("PASS   connect/auto-create-default-profile [3.1.1]"),
        "{}",
        ran.all()
    );
}

#[test]
fn the_failed_list_folds_mqtt_versions_and_lines_keep_the_plan_order() {
    let (dir, _) = scenario(
        "two",
        &format!("{HEADER}  - expect_message: {{topic: nothing/arrives/here, within: 100ms}}\n")
            .replace("mqtt: [5]", "mqtt: [3.1.1, 5]"),
    );
    let ran = tbgw(&["run", &dir.display().to_string(), "--color", "never"]);
    assert_eq!(ran.code, 1, "{}", ran.all());
    assert!(
        ran.stdout
            .contains("failed (1):\n  FAIL  check/one [3.1.1, 5]"),
        "{}",
        ran.all()
    );
    let v3 = ran
        .stdout
        .find("FAIL   check/one [3.1.1]")
        .expect("3.1.1 line");
    let v5 = ran.stdout.find("FAIL   check/one [5]").expect("5 line");
    assert!(v3 < v5, "{}", ran.all());
}

/// Ctrl-C during a run against a remote platform: the cases in flight stop and clean up,
/// the partial summary and the reports are written, the exit code is 130, and nothing the
/// run created is left on the target.
#[test]
fn an_interrupted_remote_run_cleans_up_and_writes_its_reports() {
    let serve = Serve::start(&[]);
    let dir = cli::temp_dir("interrupted");
    let json = dir.join("report.json");
    let mut child = cli::command()
        .arg("run")
        .args(serve.remote_args())
        .args(["--json", &json.display().to_string(), "--jobs", "4"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("tbgw runs");
    let lines = cli::line_reader(child.stdout.take().expect("stdout"));
    let (started, seen) = cli::wait_for_line(&lines, "PASS", Duration::from_secs(60));
    assert!(started, "no case finished: {seen:?}");
    cli::signal(child.id(), "INT");
    let output = child.wait_with_output().expect("tbgw ends");
    let rest: Vec<String> = lines.try_iter().collect();
    let stdout = format!("{}\n{}", seen.join("\n"), rest.join("\n"));
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(130), "{stdout}\n{stderr}");
    assert!(stdout.contains("interrupted by SIGINT:"), "{stdout}");
    assert!(stdout.contains("tbgw run: "), "no summary line: {stdout}");
    let ran = cli::Ran {
        code: 130,
        stdout,
        stderr,
    };
    let report = cli::report(&json, &ran);
    assert_eq!(report["interrupted_by"], "SIGINT", "{}", ran.all());
    let left = tbgw(&["clean", "--rest", &serve.rest, "--dry-run"]);
    assert_eq!(left.code, 0, "{}", left.all());
    assert!(
        left.stdout.contains("would remove 0 device(s)"),
        "the run left devices behind: {}",
        left.all()
    );
}

#[test]
fn clean_removes_the_devices_of_one_run_and_nothing_else() {
    let serve = Serve::start(&[
        "--gateway",
        "tbgw-abc123-0001-gw=T1",
        "--gateway",
        "tbgw-def456-0002-gw=T2",
        "--gateway",
        "my-gateway=T3",
    ]);
    let ran = tbgw(&["clean", "--rest", &serve.rest, "--run", "tbgw-abc123"]);
    assert_eq!(ran.code, 0, "{}", ran.all());
    assert!(
        ran.stdout.contains("removed device tbgw-abc123-0001-gw")
            && ran
                .stdout
                .contains("removed 1 device(s) of run tbgw-abc123"),
        "{}",
        ran.all()
    );
    let left = tbgw(&["clean", "--rest", &serve.rest, "--dry-run"]);
    assert!(
        left.stdout
            .contains("would remove device tbgw-def456-0002-gw")
            && !left.stdout.contains("my-gateway"),
        "{}",
        left.all()
    );
}

#[test]
fn version_names_the_thingsboard_release_and_the_commit() {
    let ran = tbgw(&["--version"]);
    assert_eq!(ran.code, 0);
    assert!(
        ran.stdout.contains("models ThingsBoard 4.3.1.3") && ran.stdout.contains("(commit "),
        "{}",
        ran.all()
    );
}

#[test]
fn completions_and_the_man_page_come_from_the_cli_definition() {
    let bash = tbgw(&["completions", "bash"]);
    assert_eq!(bash.code, 0);
    assert!(bash.stdout.contains("check-gateway"), "{}", bash.all());
    let man = tbgw(&["man"]);
    assert_eq!(man.code, 0);
    assert!(man.stdout.starts_with(".ie"), "{}", man.all());
    assert!(man.stdout.contains("check\\-gateway"), "{}", man.all());
}

#[test]
fn scenario_mistakes_are_said_in_plain_words_with_a_suggestion() {
    let (dir, _) = scenario(
        "plain",
        "id: a/b\nrequirement: r\nrefs: []\nprofil: tb\nsteps:\n  - connect: {}\n",
    );
    std::fs::write(
        dir.join("step.yaml"),
        "id: a/c\nrequirement: r\nrefs: []\nprofile: tb\nsteps:\n  - timeserie: {device: x}\n",
    )
    .expect("write");
    std::fs::write(
        dir.join("var.yaml"),
        "id: a/d\nrequirement: r\nrefs: []\nprofile: tb\nsteps:\n  - connect: {}\n  - publish: {topic: \"${gatway}/x\", json: {}}\n",
    )
    .expect("write");
    let ran = tbgw(&["run", &dir.display().to_string()]);
    assert_eq!(ran.code, 2, "{}", ran.all());
    for expected in [
        "plain.yaml:4:1: unknown key `profil` (did you mean `profile`?)",
        "step.yaml:6:5: unknown step `timeserie` (did you mean `timeseries`?)",
        "var.yaml:7:5: publish: ${gatway} is not defined here (did you mean ${gateway}?)",
    ] {
        assert!(
            ran.stderr.contains(expected),
            "missing {expected:?}: {}",
            ran.all()
        );
    }
}

#[test]
fn a_single_mqtt_version_may_be_written_without_a_list() {
    let (dir, _) = scenario("scalar", &HEADER.replace("mqtt: [5]", "mqtt: 5"));
    let ran = tbgw(&["run", &dir.display().to_string()]);
    assert_eq!(ran.code, 0, "{}", ran.all());
    assert!(ran.stdout.contains("PASS   check/one [5]"), "{}", ran.all());
}

/// A plain HTTP server on a free port answering every request with 404 `nope`, for as long
/// as the test runs.
fn plain_http_server() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { break };
            let mut request = [0u8; 4096];
            let _ = std::io::Read::read(&mut stream, &mut request);
            let _ = std::io::Write::write_all(
                &mut stream,
                b"HTTP/1.1 404 Not Found\r\ncontent-length: 4\r\nconnection: close\r\n\r\nnope",
            );
        }
    });
    addr
}

#[test]
fn a_remote_address_that_is_not_thingsboard_says_what_to_fix() {
    let serve = Serve::start(&[]);
    let http = plain_http_server();
    let rest_host = serve.rest.trim_start_matches("http://").to_owned();
    for (mqtt, rest, says) in [
        // The REST address given as the MQTT one.
        (
            rest_host.clone(),
            serve.rest.clone(),
            "does not speak MQTT: it answered a CONNECT with",
        ),
        // The MQTT port given as the REST address.
        (
            serve.mqtt.clone(),
            format!("http://{}", serve.mqtt),
            "is this ThingsBoard's HTTP port (8080 by default)?",
        ),
        // Some other web server.
        (
            serve.mqtt.clone(),
            format!("http://{http}"),
            "answers HTTP but is not ThingsBoard's REST API: POST /api/auth/login -> 404 nope",
        ),
    ] {
        let ran = tbgw(&[
            "run", "--target", "remote", "--mqtt", &mqtt, "--rest", &rest,
        ]);
        assert_eq!(ran.code, 3, "{mqtt} {rest}: {}", ran.all());
        assert!(ran.stderr.contains(says), "{mqtt} {rest}: {}", ran.all());
    }
}

#[test]
fn junit_json_and_console_carry_the_same_verdicts_and_junit_matches_its_schema() {
    let dir = cli::temp_dir("reports-agree");
    let (junit, json) = (dir.join("junit.xml"), dir.join("report.json"));
    let ran = tbgw(&[
        "run",
        "--filter",
        "attribute-request/*",
        "--color",
        "never",
        "--junit",
        &junit.display().to_string(),
        "--json",
        &json.display().to_string(),
    ]);
    assert_eq!(ran.code, 0, "{}", ran.all());
    cli::validate_junit(&junit);
    let report = cli::report(&json, &ran);
    let xml = std::fs::read_to_string(&junit).expect("junit written");
    let cases = report["cases"].as_array().expect("cases");
    assert!(
        cases.iter().any(|c| c["verdict"] == "XFAIL"),
        "an XFAIL to compare"
    );
    for case in cases {
        let name = format!(
            "{} [{}]",
            case["id"].as_str().unwrap_or(""),
            case["mqtt"].as_str().unwrap_or("")
        );
        let verdict = case["verdict"].as_str().unwrap_or("");
        let at = xml
            .find(&format!("<testcase name=\"{name}\""))
            .unwrap_or_else(|| panic!("{name} is not in the JUnit report"));
        let end = xml[at..].find("</testcase>").map_or(xml.len(), |e| at + e);
        assert!(
            xml[at..end].contains(&format!("<property name=\"verdict\" value=\"{verdict}\"/>")),
            "{name}: JUnit disagrees with JSON's {verdict}"
        );
        assert!(
            ran.stdout.contains(&format!("{verdict:<5}  {name}")),
            "{name}: the console disagrees with JSON's {verdict}"
        );
    }
}

#[test]
fn colour_is_never_written_into_a_pipe_unless_asked_and_quiet_keeps_the_summary() {
    let case = ["run", "--filter", "telemetry/null-dropped"];
    let always = tbgw(&[&case[..], &["--color", "always"]].concat());
    assert!(always.stdout.contains("\u{1b}["), "{}", always.all());
    let auto = tbgw(&case);
    assert!(!auto.stdout.contains('\u{1b}'), "{}", auto.all());
    let never = tbgw(&[&case[..], &["--color", "never"]].concat());
    assert!(!never.stdout.contains('\u{1b}'), "{}", never.all());
    let quiet = tbgw(&[&case[..], &["--quiet"]].concat());
    assert_eq!(quiet.code, 0, "{}", quiet.all());
    assert!(
        !quiet.stdout.contains("PASS   telemetry/null-dropped"),
        "{}",
        quiet.all()
    );
    assert!(quiet.stdout.contains("2 passed"), "{}", quiet.all());
    assert!(
        auto.stdout.contains("PASS   telemetry/null-dropped"),
        "{}",
        auto.all()
    );
}

/// The bug: `tbgw run | head -1` ended with a panic and a backtrace once head exited.
#[test]
fn a_closed_stdout_ends_run_quietly() {
    let (code, stderr) = with_stdout_closed_after(&["run", "--filter", "telemetry/*"], 0);
    assert!(!stderr.contains("panicked"), "{stderr}");
    // The run goes on to its end and its verdict, the lines nobody reads dropped.
    assert_eq!(code, Some(0), "{stderr}");
}

/// A failure of a case whose expectation was only read from ThingsBoard's code says so, so
/// that a first run against a real ThingsBoard tells which verdicts to double-check.
#[test]
fn a_failing_derived_case_says_its_expectation_is_derived() {
    let text = HEADER.replace("profile: tb\n", "profile: tb\nbasis: derived\n");
    let (_dir, file) = scenario(
        "derived",
        &format!(
            "{text}  - publish: {{topic: v1/gateway/telemetry, json: {{\"${{run}}-A\": [{{a: 1}}]}}, expect: {{puback: 0x99}}}}\n"
        ),
    );
    let ran = tbgw(&["run", &file]);
    assert_eq!(ran.code, 1, "{}", ran.all());
    assert!(
        ran.stdout
            .contains("  basis:       derived: read from ThingsBoard's source"),
        "{}",
        ran.all()
    );
}
