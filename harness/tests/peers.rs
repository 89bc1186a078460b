//! The real gateways from PyPI under `tbgw check-gateway`, each with the verdicts it gets, so
//! that a change in the checker (or in a peer) shows. They need the venvs that
//! `harness/tests/peers/setup.sh` installs, so a plain `cargo test` lists them as ignored;
//! `.ci/run` runs them:
//!
//! ```sh
//! bash harness/tests/peers/setup.sh
//! cargo test -p tbgw-harness --test peers -- --ignored
//! ```

use std::collections::BTreeMap;

#[path = "support/cli.rs"]
mod cli;
use cli::repo;

struct Checked {
    code: i32,
    stdout: String,
    /// id → (verdict, the failing step if any).
    cases: BTreeMap<String, (String, String)>,
}

impl Checked {
    fn verdicts(&self) -> BTreeMap<&str, &str> {
        self.cases
            .iter()
            .map(|(id, (verdict, _))| (id.as_str(), verdict.as_str()))
            .collect()
    }

    fn failed_step(&self, id: &str) -> &str {
        self.cases.get(id).map_or("", |(_, step)| step.as_str())
    }
}

/// Runs check-gateway on a peer: `venv` under .venv-peers, `script` under harness/tests/peers.
fn check_peer(venv: &str, script: &str, extra: &[&str]) -> Checked {
    let python = repo().join(".venv-peers").join(venv).join("bin/python");
    assert!(
        python.exists(),
        "{} is missing: run `bash harness/tests/peers/setup.sh` first",
        python.display()
    );
    let command = format!(
        "{} harness/tests/peers/{script} --host {{host}} --port {{port}} --token {{token}}",
        python.display()
    );
    let report = cli::temp_dir(&format!("peer-{venv}")).join("report.json");
    let report_arg = report.display().to_string();
    let mut args = vec!["check-gateway", "--grace", "10", "--cmd", &command];
    args.extend(["--json", &report_arg]);
    args.extend_from_slice(extra);
    let ran = cli::tbgw(&args);
    let json = cli::report(&report, &ran);
    let cases = json["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .map(|c| {
            (
                c["id"].as_str().unwrap_or_default().to_owned(),
                (
                    c["verdict"].as_str().unwrap_or_default().to_owned(),
                    c["failure"]["step"].as_str().unwrap_or_default().to_owned(),
                ),
            )
        })
        .collect();
    Checked {
        code: ran.code,
        stdout: ran.stdout,
        cases,
    }
}

fn expect(pairs: &[(&'static str, &'static str)]) -> BTreeMap<&'static str, &'static str> {
    pairs.iter().copied().collect()
}

/// The cases every peer passes: connecting, the handshake it performs, stopping on SIGINT,
/// and reading its socket (none is ever sent enough to pile up, even once its thread died:
/// the kernel's socket buffers take what the suite sends).
const COMMON_PASSES: [&str; 4] = [
    "gateway/connects",
    "handshake/subscriptions",
    "gateway/stops-on-sigint",
    "passive/reads-its-socket",
];

#[test]
#[ignore = "needs the PyPI gateways: bash harness/tests/peers/setup.sh"]
fn tb_mqtt_client_1_13_dies_silently_on_an_attribute_update_with_data_5() {
    // Short deadlines: past the bug, every case waits for an RPC reply that never comes.
    let checked = check_peer(
        "tbmc-1.13",
        "tb_mqtt_client_gateway.py",
        &["--timeout-multiplier", "0.5"],
    );
    assert_eq!(checked.code, 1, "{}", checked.stdout);
    let mut wanted = expect(&[
        ("handshake/session-limits", "PASS"),
        ("devices/announced-before-data", "PASS"),
        ("rpc/each-device", "PASS"),
        ("rpc/one-way", "PASS"),
        ("rpc/same-id-two-devices", "PASS"),
        ("attributes/responses-every-shape", "PASS"),
        ("attributes/shared-deletion", "PASS"),
        ("attributes/shared-update", "PASS"),
        // gateway-peers.md §1.6: `{"device": D, "data": 5}` kills paho's network thread; the
        // client goes on publishing telemetry but never handles a message again.
        ("robustness/data-not-an-object", "FAIL"),
        ("robustness/not-json", "FAIL"),
        ("robustness/oversized-value", "FAIL"),
        ("robustness/rpc-without-id", "FAIL"),
        ("robustness/unknown-topic", "FAIL"),
        ("session/device-disconnect-notice", "FAIL"),
        ("session/reconnect", "FAIL"),
        // The cases of the fuzzing findings: it is long deaf by then.
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
        ("passive/accepted-whole", "PASS"),
        ("passive/strict-form", "PASS"),
        ("passive/devices-connected-first", "PASS"),
        ("passive/rpc-replies-match", "PASS"),
        ("passive/rpc-reply-data-is-json", "PASS"),
    ]);
    wanted.extend(COMMON_PASSES.map(|id| (id, "PASS")));
    assert_eq!(checked.verdicts(), wanted, "{}", checked.stdout);
    // It answered right before the malformed update and never after it.
    assert_eq!(
        checked.failed_step("robustness/data-not-an-object"),
        "rpc (step 4)"
    );
    for later in [
        "robustness/not-json",
        "robustness/unknown-topic",
        "session/device-disconnect-notice",
    ] {
        assert_eq!(checked.failed_step(later), "rpc (step 2)", "{later}");
    }
    assert_eq!(
        checked.failed_step("session/reconnect"),
        "expect_reconnect (step 3)"
    );
}

#[test]
#[ignore = "needs the PyPI gateways: bash harness/tests/peers/setup.sh"]
fn tb_mqtt_client_1_4_1_sends_timestamped_telemetry_as_an_object() {
    let checked = check_peer(
        "tbmc-1.4.1",
        "tb_mqtt_client_gateway.py",
        &["--timeout-multiplier", "0.5"],
    );
    assert_eq!(checked.code, 1, "{}", checked.stdout);
    let mut wanted = expect(&[
        // 1.4.1 predates getSessionLimits.
        ("handshake/session-limits", "FAIL"),
        ("devices/announced-before-data", "PASS"),
        // gateway-peers.md §1.3: `{"Dev": {"ts": …, "values": …}}` is refused; ThingsBoard
        // closes a 3.1.1 connection on it and paho re-sends it first after every reconnect, so
        // no RPC is ever answered.
        ("passive/accepted-whole", "FAIL"),
        ("rpc/each-device", "FAIL"),
        ("rpc/one-way", "FAIL"),
        ("rpc/same-id-two-devices", "FAIL"),
        ("attributes/responses-every-shape", "FAIL"),
        ("attributes/shared-deletion", "FAIL"),
        ("attributes/shared-update", "FAIL"),
        ("robustness/data-not-an-object", "FAIL"),
        ("robustness/not-json", "FAIL"),
        ("robustness/oversized-value", "FAIL"),
        ("robustness/rpc-without-id", "FAIL"),
        ("robustness/unknown-topic", "FAIL"),
        // The notice exists only on MQTT 5.
        ("session/device-disconnect-notice", "SKIP"),
        ("session/reconnect", "FAIL"),
        // The cases of the fuzzing findings: it never answers an RPC; the notice is MQTT 5 only.
        ("fuzz/attribute-response-for-no-request", "FAIL"),
        ("fuzz/attribute-response-id-not-a-number", "FAIL"),
        ("fuzz/attribute-response-not-an-object", "FAIL"),
        ("fuzz/attribute-update-device-not-a-string", "FAIL"),
        ("fuzz/attribute-update-not-an-object", "FAIL"),
        ("fuzz/disconnect-notice-not-an-object", "SKIP"),
        ("fuzz/own-attribute-response-for-no-request", "FAIL"),
        ("fuzz/own-attribute-response-not-json", "FAIL"),
        ("fuzz/own-attribute-response-shared-not-an-object", "FAIL"),
        ("fuzz/own-attributes-not-an-object", "FAIL"),
        ("passive/strict-form", "PASS"),
        ("passive/devices-connected-first", "PASS"),
        ("passive/rpc-replies-match", "PASS"),
        ("passive/rpc-reply-data-is-json", "PASS"),
    ]);
    wanted.extend(COMMON_PASSES.map(|id| (id, "PASS")));
    assert_eq!(checked.verdicts(), wanted, "{}", checked.stdout);
    assert!(
        checked.stdout.contains("gateway connected after")
            && checked.stdout.contains("(MQTT 3.1.1)"),
        "{}",
        checked.stdout
    );
    assert!(
        checked.stdout.contains("every value must be an array"),
        "the refused telemetry is named: {}",
        checked.stdout
    );
}

#[test]
#[ignore = "needs the PyPI gateways: bash harness/tests/peers/setup.sh"]
fn thingsboard_gateway_3_8_5_restarts_its_connection_and_never_announces_again() {
    let checked = check_peer("tbgw-3.8.5", "run_thingsboard_gateway.py", &[]);
    assert_eq!(checked.code, 1, "{}", checked.stdout);
    let mut wanted = expect(&[
        ("handshake/session-limits", "PASS"),
        ("devices/announced-before-data", "PASS"),
        ("rpc/each-device", "PASS"),
        ("rpc/one-way", "PASS"),
        ("rpc/same-id-two-devices", "PASS"),
        ("attributes/responses-every-shape", "PASS"),
        ("attributes/shared-deletion", "PASS"),
        ("attributes/shared-update", "PASS"),
        // gateway-peers.md §2.5: `data: 5` and a non-JSON payload kill paho's thread; its
        // supervisor reconnects seconds later, and the RPC sent in between is lost.
        ("robustness/data-not-an-object", "FAIL"),
        ("robustness/not-json", "FAIL"),
        ("robustness/oversized-value", "PASS"),
        ("robustness/rpc-without-id", "PASS"),
        ("robustness/unknown-topic", "PASS"),
        ("session/device-disconnect-notice", "PASS"),
        // After a reconnect it sends its devices' data without announcing them again.
        ("session/reconnect", "FAIL"),
        // The cases of the fuzzing findings (scenarios/gateway/7-fuzz): each but the two
        // responses to no request kills paho's thread again, and the RPC sent meanwhile is lost.
        ("fuzz/attribute-response-for-no-request", "PASS"),
        ("fuzz/attribute-response-id-not-a-number", "FAIL"),
        ("fuzz/attribute-response-not-an-object", "FAIL"),
        ("fuzz/attribute-update-device-not-a-string", "FAIL"),
        ("fuzz/attribute-update-not-an-object", "FAIL"),
        ("fuzz/disconnect-notice-not-an-object", "FAIL"),
        ("fuzz/own-attribute-response-for-no-request", "PASS"),
        ("fuzz/own-attribute-response-not-json", "FAIL"),
        ("fuzz/own-attribute-response-shared-not-an-object", "FAIL"),
        ("fuzz/own-attributes-not-an-object", "FAIL"),
        ("passive/devices-connected-first", "NON-STRICT"),
        ("passive/accepted-whole", "PASS"),
        ("passive/strict-form", "PASS"),
        ("passive/rpc-replies-match", "PASS"),
        ("passive/rpc-reply-data-is-json", "PASS"),
    ]);
    wanted.extend(COMMON_PASSES.map(|id| (id, "PASS")));
    assert_eq!(checked.verdicts(), wanted, "{}", checked.stdout);
    assert_eq!(
        checked.failed_step("robustness/data-not-an-object"),
        "rpc (step 4)"
    );
    assert_eq!(
        checked.failed_step("session/reconnect"),
        "expect_reconnect (step 3)"
    );
    // Each fuzzing finding breaks it on its own: it answered the RPC just before.
    assert_eq!(
        checked.failed_step("fuzz/attribute-update-not-an-object"),
        "rpc (step 4)"
    );
}

/// ThingsBoard's own Python clients (tb-rest-client 4.4, tb-mqtt-client 1.13.14) drive
/// `tbgw serve` as their documentation shows: provisioning, a gateway with several devices,
/// reads back (latest and history, strict types), shared attributes written and deleted,
/// two-way, one-way and persistent RPC (to the gateway and to a direct device), relations
/// saved, read and deleted, profiles, customers, a claim, time series deleted, paging, sorting,
/// optimistic locking and error bodies. Every check's result is asserted by the script.
#[test]
#[ignore = "needs the venvs of harness/tests/peers/setup.sh; run by .ci/run"]
fn thingsboards_own_clients_work_against_serve_unchanged() {
    let python = repo().join(".venv-peers/tb-clients/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run `bash harness/tests/peers/setup.sh` first",
        python.display()
    );
    let serve = cli::Serve::start(&[]);
    let (host, port) = serve.mqtt.rsplit_once(':').expect("host:port");
    let ran = std::process::Command::new(&python)
        .arg(repo().join("harness/tests/peers/tb_clients.py"))
        .args([
            "--rest",
            &serve.rest,
            "--mqtt-host",
            host,
            "--mqtt-port",
            port,
        ])
        .output()
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&ran.stdout);
    let stderr = String::from_utf8_lossy(&ran.stderr);
    let passed = stdout.lines().filter(|l| l.starts_with("ok ")).count();
    assert!(
        ran.status.success() && !stdout.contains("\nFAIL ") && stdout.ends_with("all passed\n"),
        "tb_clients.py failed:\n{stdout}\n{stderr}"
    );
    // The script's checks, so that one silently skipped cannot pass.
    assert_eq!(passed, 33, "checks that passed:\n{stdout}");
}
