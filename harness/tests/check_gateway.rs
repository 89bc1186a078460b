//! `tbgw check-gateway` as a user runs it, on the reference gateway of `harness/examples/`
//! (which must pass every check), on its `--broken` variant (which must fail exactly the
//! checks it breaks), and on gateways that never connect.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

#[path = "support/cli.rs"]
mod cli;
use cli::reference_gateway;

struct Checked {
    code: i32,
    stdout: String,
    verdicts: BTreeMap<String, String>,
}

fn check_gateway(command: &str, extra: &[&str], name: &str) -> Checked {
    let dir = cli::temp_dir(&format!("check-{name}"));
    let json = dir.join("report.json");
    let junit = dir.join("junit.xml");
    let (json_arg, junit_arg) = (json.display().to_string(), junit.display().to_string());
    let mut args = vec!["check-gateway", "--cmd", command, "--json", &json_arg];
    args.extend(["--junit", &junit_arg]);
    args.extend_from_slice(extra);
    let ran = cli::tbgw(&args);
    let report = cli::report(&json, &ran);
    let xml = std::fs::read_to_string(&junit).expect("the JUnit report was written");
    assert!(xml.contains("<testsuite"), "{xml}");
    cli::validate_junit(&junit);
    Checked {
        code: ran.code,
        stdout: ran.stdout,
        verdicts: cli::verdicts(&report),
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
    let scenarios = std::fs::read_dir(cli::repo().join("scenarios/gateway"))
        .expect("scenarios/gateway")
        .flatten()
        .map(|area| std::fs::read_dir(area.path()).map_or(0, |files| files.count()))
        .sum::<usize>();
    assert_eq!(
        checked.verdicts.len(),
        scenarios + 8,
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
        // The cases of the PyPI gateways' fuzzing findings: it is long deaf by then.
        ("fuzz/attribute-response-for-no-request", "FAIL"),
        ("fuzz/attribute-response-id-not-a-number", "FAIL"),
        ("fuzz/attribute-response-not-an-object", "FAIL"),
        ("fuzz/attribute-update-device-not-a-string", "FAIL"),
        ("fuzz/attribute-update-not-an-object", "FAIL"),
        ("fuzz/disconnect-notice-not-an-object", "FAIL"),
        ("fuzz/own-attribute-response-for-no-request", "FAIL"),
        ("fuzz/own-attribute-response-not-json", "FAIL"),
        ("fuzz/own-attribute-response-shared-not-an-object", "FAIL"),
        ("fuzz/own-attributes-not-an-object", "FAIL"),
        ("gateway/stops-on-sigint", "PASS"),
        // A null attribute value is dropped by ThingsBoard.
        ("passive/accepted-whole", "FAIL"),
        // An unquoted JSON key in its connect messages.
        ("passive/strict-form", "NON-STRICT"),
        // Telemetry for a device it never announced.
        ("passive/devices-connected-first", "NON-STRICT"),
        ("passive/rpc-replies-match", "FAIL"),
        ("passive/rpc-reply-data-is-json", "NON-STRICT"),
        ("passive/reads-its-socket", "PASS"),
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
    // The deaf gateway's later failures point at the case that made it deaf, which says so.
    assert!(
        checked.stdout.contains(
            "the gateway has not answered an RPC since robustness/data-not-an-object failed"
        ) && checked
            .stdout
            .contains("the gateway answered no RPC after this failure: the likely cause of the 16 later failure(s)"),
        "{}",
        checked.stdout
    );
    assert!(
        checked.stdout.contains("more time(s) (numbers aside)"),
        "its repeated telemetry is folded: {}",
        checked.stdout
    );
}

#[test]
fn the_handshake_and_every_packet_are_in_the_wire_log_and_the_gateway_log_keeps_all_output() {
    let dir = cli::temp_dir("check-wire");
    let json = dir.join("report.json");
    let log = dir.join("gateway.log");
    let ran = cli::tbgw(&[
        "check-gateway",
        "--cmd",
        &format!(
            "{} --host {{host}} --port {{port}} --token {{token}}",
            reference_gateway()
        ),
        "--filter",
        "handshake/*",
        "--json",
        &json.display().to_string(),
        "--gateway-log",
        &log.display().to_string(),
    ]);
    assert_eq!(ran.code, 0, "{}", ran.all());
    let report = cli::report(&json, &ran);
    // The connect check holds the CONNECT; the first case what followed it.
    let wire: Vec<String> = report["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .take(2)
        .flat_map(|c| c["wire"].as_array().cloned().unwrap_or_default())
        .map(|e| {
            format!(
                "{} {}",
                e["direction"],
                e["text"].as_str().unwrap_or_default()
            )
        })
        .collect();
    for expected in [
        "\"received\" CONNECT client_id=",
        "\"sent\" CONNACK 0x00 Success",
        "\"received\" SUBSCRIBE pid=",
        "\"sent\" SUBACK pid=",
    ] {
        assert!(
            wire.iter().any(|w| w.starts_with(expected)),
            "no {expected:?} in {wire:#?}"
        );
    }
    let kept = std::fs::read_to_string(&log).expect("the gateway log was written");
    assert!(!kept.trim().is_empty(), "the gateway printed nothing?");
}

#[test]
fn refused_connects_are_reported_with_their_username_and_the_token_to_use() {
    let checked = check_gateway(
        &format!(
            "{} --host {{host}} --port {{port}} --token WRONG",
            reference_gateway()
        ),
        &["--connect-timeout", "2", "--filter", "handshake/*"],
        "wrong-token",
    );
    assert_eq!(checked.code, 1, "{}", checked.stdout);
    assert!(
        checked
            .stdout
            .contains("with username \"WRONG\" refused with CONNACK 0x86")
            && checked
                .stdout
                .contains("the gateway device's access token is \"tbgw-"),
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
    let dir = cli::temp_dir("check-typo");
    let file = dir.join("typo.yaml");
    std::fs::write(
        &file,
        "id: x/y\nrequirement: r\nrefs: []\nprofile: tb\nsteps:\n  - rpc: {devise: A}\n",
    )
    .expect("write");
    let marker = dir.join("started");
    let ran = cli::tbgw(&[
        "check-gateway",
        "--cmd",
        &format!("touch {}", marker.display()),
        &file.display().to_string(),
    ]);
    let stderr = ran.stderr;
    assert_eq!(ran.code, 2, "{stderr}");
    assert!(
        stderr.contains("typo.yaml:6:") && stderr.contains("devise"),
        "{stderr}"
    );
    assert!(!marker.exists(), "the gateway must not start");
}

#[test]
fn a_gateway_command_that_does_not_exist_is_exit_3_not_a_failure() {
    let ran = cli::tbgw(&[
        "check-gateway",
        "--cmd",
        "no-such-gateway-binary --port {port}",
    ]);
    assert_eq!(ran.code, 3, "{}", ran.all());
    assert!(
        ran.stderr
            .contains("could not be run: sh says it is not found (exit 127)")
            && ran.stderr.contains("no-such-gateway-binary: not found"),
        "{}",
        ran.all()
    );
}

/// A gateway whose process ignores SIGINT and SIGTERM, started through a wrapper shell that
/// does not: its pid comes through a FIFO once it runs.
fn stubborn_gateway(dir: &Path) -> (String, std::sync::mpsc::Receiver<u32>) {
    let fifo = dir.join("pid");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo runs");
    assert!(made.success());
    let command = format!(
        "sh -c 'trap \"\" INT TERM; echo $$ > {}; exec sleep 1000'; echo the wrapper is done",
        fifo.display()
    );
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        if let Ok(text) = std::fs::read_to_string(&fifo)
            && let Ok(pid) = text.trim().parse()
        {
            let _ = tx.send(pid);
        }
    });
    (command, rx)
}

fn alive(pid: u32) -> bool {
    std::process::Command::new("kill")
        .args(["-0", &pid.to_string()])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The bug: check-gateway waited for the `sh -c` wrapper only; when the wrapper died and the
/// gateway trapped SIGTERM, the report said "stopped by SIGTERM" and the gateway lived on.
#[test]
fn sigterm_to_tbgw_stops_the_gateways_whole_group_and_writes_the_reports() {
    let dir = cli::temp_dir("check-sigterm");
    let (command, pid) = stubborn_gateway(&dir);
    let json = dir.join("report.json");
    let child = cli::command()
        .args(["check-gateway", "--grace", "0.3", "--cmd", &command])
        .args(["--json", &json.display().to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("tbgw runs");
    let gateway = pid
        .recv_timeout(Duration::from_secs(30))
        .expect("the gateway started");
    assert!(alive(gateway));
    cli::signal(child.id(), "TERM");
    let ran = cli::ran(child.wait_with_output().expect("tbgw ends"));
    assert_eq!(ran.code, 143, "{}", ran.all());
    assert!(
        ran.stdout.contains("gateway stopped by") || ran.stdout.contains("interrupted by SIGTERM"),
        "{}",
        ran.all()
    );
    assert!(!alive(gateway), "the gateway {gateway} is still running");
    let report = cli::report(&json, &ran);
    assert_eq!(report["interrupted_by"], "SIGTERM", "{}", ran.all());
}

/// A second signal while tbgw stops the gateway gracefully ends tbgw at once, the gateway's
/// group killed, instead of waiting out the grace.
#[test]
fn a_second_sigterm_exits_at_once_and_still_kills_the_gateways_group() {
    let dir = cli::temp_dir("check-second-sigterm");
    let (command, pid) = stubborn_gateway(&dir);
    let mut child = cli::command()
        .args(["check-gateway", "--grace", "600", "--cmd", &command])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("tbgw runs");
    let stderr = cli::line_reader(child.stderr.take().expect("stderr"));
    let gateway = pid
        .recv_timeout(Duration::from_secs(30))
        .expect("the gateway started");
    cli::signal(child.id(), "TERM");
    // The first signal starts the graceful stop (the gateway ignores SIGTERM, so it would
    // take the whole 600 s grace); tbgw says so before it waits.
    let (stopping, seen) =
        cli::wait_for_line(&stderr, "again to exit at once", Duration::from_secs(30));
    assert!(stopping, "{seen:?}");
    cli::signal(child.id(), "TERM");
    let status = child.wait().expect("tbgw ends");
    // The rest of what it said, up to the pipe's end (or a deadline, should a process still
    // hold it).
    let mut rest = Vec::new();
    while let Ok(line) = stderr.recv_timeout(Duration::from_secs(10)) {
        rest.push(line);
    }
    assert_eq!(status.code(), Some(143), "{seen:?} {rest:?}");
    assert!(
        rest.iter()
            .any(|l| l.contains("SIGTERM again: exiting at once")),
        "{seen:?} {rest:?}"
    );
    assert!(!alive(gateway), "the gateway {gateway} is still running");
}

/// A storm and a refused reply, each triggered by one message, checked by the steps that
/// `tbgw fuzz gateway`'s reproducers end with.
const SESSIONS_AND_ACCEPTED: [(&str, &str); 2] = [
    (
        "storm.yaml",
        "id: t/keeps-its-session\nrequirement: r\nrefs: []\nprofile: tb\nsteps:\n  - await_devices: {count: 1}\n  - send: {topic: v1/gateway/rpc, json: {device: \"${device}\", data: {id: \"7\", method: echo}}}\n  - expect_sessions: {at_most: 2, during: 3s}\n",
    ),
    (
        "refused.yaml",
        "id: t/reply-accepted\nrequirement: r\nrefs: []\nprofile: tb\nsteps:\n  - await_devices: {count: 1}\n  - send: {topic: v1/gateway/rpc, json: {device: \"${device}\", data: {id: 7, method: echo, params: s}}}\n  - rpc: {params: {after: 1}}\n  - expect_accepted: {check: passive/accepted-whole}\n",
    ),
];

fn sessions_and_accepted(mode: &str, name: &str) -> Checked {
    let dir = cli::temp_dir(&format!("check-{name}-cases"));
    let mut args: Vec<String> = vec!["--grace".into(), "2".into()];
    for (file, text) in SESSIONS_AND_ACCEPTED {
        let path = dir.join(file);
        std::fs::write(&path, text).expect("write a case");
        args.push(path.display().to_string());
    }
    let command = format!(
        "{} {mode} --host {{host}} --port {{port}} --token {{token}}",
        reference_gateway()
    );
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    check_gateway(&command, &args, name)
}

#[test]
fn expect_sessions_fails_on_a_reconnect_storm_and_expect_accepted_on_a_refused_reply() {
    let fragile = sessions_and_accepted("--fragile", "fragile-steps");
    assert_eq!(fragile.code, 1, "{}", fragile.stdout);
    for id in ["t/keeps-its-session", "t/reply-accepted"] {
        assert_eq!(
            fragile.verdicts.get(id).map(String::as_str),
            Some("FAIL"),
            "{id}: {}",
            fragile.stdout
        );
    }
    assert!(
        fragile
            .stdout
            .contains("expected:    at most 2 new session(s) since the case began"),
        "{}",
        fragile.stdout
    );
    assert!(
        fragile
            .stdout
            .contains("passive/accepted-whole: v1/gateway/rpc: refused: 1:1 $: the required field `id` is missing"),
        "{}",
        fragile.stdout
    );
    // The same messages leave the sound gateway's session and replies alone.
    let sound = sessions_and_accepted("", "sound-steps");
    for id in ["t/keeps-its-session", "t/reply-accepted"] {
        assert_eq!(
            sound.verdicts.get(id).map(String::as_str),
            Some("PASS"),
            "{id}: {}",
            sound.stdout
        );
    }
}

#[test]
fn expect_accepted_counts_a_non_strict_finding_only_when_told_to() {
    let dir = cli::temp_dir("check-accepted-strict-cases");
    let case = |strict: bool| {
        format!(
            "id: t/reply-data-{strict}\nrequirement: r\nrefs: []\nprofile: tb\nsteps:\n  - await_devices: {{count: 1}}\n  - rpc: {{params: {{a: 1}}}}\n  - expect_accepted: {{check: passive/rpc-reply-data-is-json, strict: {strict}}}\n"
        )
    };
    let mut args: Vec<String> = vec!["--grace".into(), "2".into()];
    for strict in [false, true] {
        let path = dir.join(format!("{strict}.yaml"));
        std::fs::write(&path, case(strict)).expect("write a case");
        args.push(path.display().to_string());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    // --broken answers every RPC with `data` as JSON text: NON-STRICT.
    let command = format!(
        "{} --broken --host {{host}} --port {{port}} --token {{token}}",
        reference_gateway()
    );
    let checked = check_gateway(&command, &args, "accepted-strict");
    let verdict = |id: &str| checked.verdicts.get(id).cloned().unwrap_or_default();
    assert_eq!(verdict("t/reply-data-false"), "PASS", "{}", checked.stdout);
    assert_eq!(verdict("t/reply-data-true"), "FAIL", "{}", checked.stdout);
}
