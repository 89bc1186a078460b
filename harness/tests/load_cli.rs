//! `tbgw load` end to end: the binary against the embedded emulator, a `tbgw serve` process
//! (remote, sharded), a plain MQTT broker (Debian's mosquitto) and dead targets. The
//! figures are read from `--json -`; nothing here is timed.

#[path = "support/cli.rs"]
mod cli;

use cli::{Serve, tbgw, temp_dir};
use serde_json::Value;

fn json_of(ran: &cli::Ran) -> Value {
    serde_json::from_str(&ran.stdout)
        .unwrap_or_else(|e| panic!("--json - is not JSON ({e}): {}", ran.all()))
}

fn lossless_run(version: &str) {
    // 200 gateways × 50 devices; each message names 10 devices with 2 points each, and
    // 2 000 messages name every device 20 times per gateway... 20 000 messages in all.
    let ran = tbgw(&[
        "load",
        "--gateways",
        "200",
        "--devices-per-gateway",
        "50",
        "--devices-per-message",
        "10",
        "--points-per-message",
        "20",
        "--messages",
        "20000",
        "--window",
        "4",
        "--mqtt-version",
        version,
        "--json",
        "-",
    ]);
    assert_eq!(ran.code, 0, "{}", ran.all());
    let result = json_of(&ran);
    assert_eq!(result["sent"], 20_000, "{result}");
    assert_eq!(result["acknowledged"], 20_000);
    assert_eq!(result["unanswered"], 0);
    assert_eq!(result["errors"], serde_json::json!({}));
    // Every device got 20 messages of 2 points.
    let stored = &result["stored"];
    assert_eq!(stored["acknowledged"], 200 * 50 * 20 * 2, "{stored}");
    assert_eq!(stored["found"], stored["acknowledged"]);
    assert_eq!(
        (stored["lost"].clone(), stored["unexpected"].clone()),
        (0.into(), 0.into())
    );
    assert!(ran.stderr.contains("PASS"), "{}", ran.all());
    // 20 000 messages cost tbgw's process (client and emulator) some CPU, and it says how much.
    let cpu = result["cpu_seconds"].as_f64().unwrap_or(0.0);
    assert!(cpu > 0.0, "{result}");
    assert!(
        ran.stderr
            .contains("in tbgw's process (the load client and the emulator)"),
        "{}",
        ran.all()
    );
}

#[test]
fn every_acknowledged_point_of_200_gateways_by_50_devices_is_stored_once_on_mqtt_3_1_1() {
    lossless_run("3.1.1");
}

#[test]
fn every_acknowledged_point_of_200_gateways_by_50_devices_is_stored_once_on_mqtt_5() {
    lossless_run("5");
}

fn shard_run(serve: &Serve, shard: Option<&str>, out: &std::path::Path) -> Value {
    let mut args: Vec<String> = [
        "load",
        "--gateways",
        "6",
        "--devices-per-gateway",
        "3",
        "--messages",
        "60",
        "--window",
        "2",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(serve.remote_args());
    if let Some(shard) = shard {
        args.extend(["--shard".into(), shard.into()]);
    }
    args.extend(["--json".into(), out.display().to_string()]);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let ran = tbgw(&refs);
    assert_eq!(ran.code, 0, "{}", ran.all());
    serde_json::from_str(&std::fs::read_to_string(out).unwrap_or_default()).unwrap_or_default()
}

#[test]
fn sharded_runs_merge_exactly_into_the_totals_of_one_run() {
    let serve = Serve::start(&[]);
    let dir = temp_dir("load-shards");
    let files: Vec<std::path::PathBuf> = (0..3)
        .map(|i| dir.join(format!("shard-{i}.json")))
        .collect();
    let shards: Vec<Value> = (0..3)
        .map(|i| shard_run(&serve, Some(&format!("{i}/3")), &files[i]))
        .collect();
    assert_eq!(
        shards[0]["sent"], 20,
        "gateways 0 and 3, 10 messages each: {}",
        shards[0]
    );
    let whole = shard_run(&serve, None, &dir.join("whole.json"));
    let mut args = vec!["load".to_owned(), "merge".to_owned()];
    args.extend(files.iter().map(|f| f.display().to_string()));
    args.extend(["--json".into(), "-".into()]);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let merged_run = tbgw(&refs);
    assert_eq!(merged_run.code, 0, "{}", merged_run.all());
    let merged = json_of(&merged_run);
    for field in ["sent", "acknowledged", "points_sent", "unanswered"] {
        assert_eq!(
            merged[field], whole[field],
            "{field}: merged {merged} whole {whole}"
        );
    }
    assert_eq!(merged["stored"]["found"], whole["stored"]["found"]);
    assert_eq!(merged["shards"].as_array().map(Vec::len), Some(3));
    assert!(
        merged_run.stderr.contains("60 acknowledged"),
        "{}",
        merged_run.all()
    );
    // One shard twice is refused.
    let twice = tbgw(&[
        "load",
        "merge",
        &files[0].display().to_string(),
        &files[0].display().to_string(),
    ]);
    assert_eq!(twice.code, 2, "{}", twice.all());
}

#[test]
fn a_load_against_a_dead_target_is_exit_3_naming_the_address() {
    let remote = tbgw(&[
        "load",
        "--target",
        "remote",
        "--mqtt",
        "127.0.0.1:9",
        "--rest",
        "http://127.0.0.1:9",
        "--messages",
        "1",
    ]);
    assert_eq!(remote.code, 3, "{}", remote.all());
    assert!(remote.stderr.contains("127.0.0.1:9"), "{}", remote.all());
    let broker = tbgw(&[
        "load",
        "--target",
        "mqtt",
        "--mqtt",
        "127.0.0.1:9",
        "--messages",
        "1",
    ]);
    assert_eq!(broker.code, 3, "{}", broker.all());
    assert!(broker.stderr.contains("127.0.0.1:9"), "{}", broker.all());
}

#[test]
fn options_that_do_not_fit_the_target_or_the_shape_are_usage_errors() {
    for args in [
        &["load", "--target", "mqtt", "--messages", "1"][..],
        &["load", "--mqtt", "127.0.0.1:1883"][..],
        &[
            "load",
            "--target",
            "mqtt",
            "--mqtt",
            "127.0.0.1:1883",
            "--rpc-rate",
            "5",
        ][..],
        &[
            "load",
            "--target",
            "mqtt",
            "--mqtt",
            "127.0.0.1:1883",
            "--attribute-rate",
            "5",
        ][..],
        &[
            "load",
            "--devices-per-message",
            "3",
            "--devices-per-gateway",
            "2",
        ][..],
        &["load", "--shard", "3/3"][..],
        &["load", "--duration", "soon"][..],
        &["load", "--rate", "10", "--window", "2"][..],
    ] {
        let ran = tbgw(args);
        assert_eq!(ran.code, 2, "{args:?}: {}", ran.all());
    }
    let run = tbgw(&["run", "--target", "mqtt", "--mqtt", "127.0.0.1:1883"]);
    assert_eq!(
        run.code,
        2,
        "a plain broker is not a platform for `run`: {}",
        run.all()
    );
}

#[test]
fn rpcs_and_shared_attributes_mixed_into_the_load_each_reach_their_own_call_and_gateway() {
    let ran = tbgw(&[
        "load",
        "--gateways",
        "4",
        "--devices-per-gateway",
        "5",
        "--rate",
        "400",
        "--duration",
        "2s",
        "--rpc-rate",
        "50",
        "--attribute-rate",
        "50",
        "--json",
        "-",
    ]);
    assert_eq!(ran.code, 0, "{}", ran.all());
    let result = json_of(&ran);
    let rpcs = &result["rpcs"];
    assert!(rpcs["sent"].as_u64().unwrap_or(0) >= 50, "{rpcs}");
    assert_eq!(rpcs["matched"], rpcs["sent"]);
    let attributes = &result["attributes"];
    assert!(
        attributes["written"].as_u64().unwrap_or(0) >= 50,
        "{attributes}"
    );
    assert_eq!(attributes["delivered"], attributes["written"]);
    assert_eq!(attributes["missing"], 0);
    assert_eq!(result["mode"], "open-loop 400/s");
    assert!(result["acknowledged"].as_u64().unwrap_or(0) > 0);
}

/// Debian's mosquitto on a free port, or `None` (a SKIP, a failure under
/// TBGW_REQUIRE_MOSQUITTO) when it is not installed.
fn mosquitto() -> Option<(std::process::Child, u16)> {
    let binary = ["/usr/sbin/mosquitto", "/usr/bin/mosquitto"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists());
    let Some(binary) = binary else {
        assert!(
            std::env::var_os("TBGW_REQUIRE_MOSQUITTO").is_none(),
            "TBGW_REQUIRE_MOSQUITTO is set but mosquitto is not installed (apt-get install mosquitto)"
        );
        eprintln!("SKIP: mosquitto is not installed (apt-get install mosquitto)");
        return None;
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .ok()?
        .local_addr()
        .ok()?
        .port();
    let config = temp_dir("load-mosquitto").join("mosquitto.conf");
    let text = format!(
        "listener {port} 127.0.0.1\nallow_anonymous true\nlog_dest stderr\nlog_type information\n"
    );
    std::fs::write(&config, text).ok()?;
    let mut child = std::process::Command::new(binary)
        .arg("-c")
        .arg(&config)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("mosquitto starts");
    let lines = cli::line_reader(child.stderr.take().expect("stderr"));
    let (running, seen) = cli::wait_for_line(&lines, "running", std::time::Duration::from_secs(10));
    assert!(running, "mosquitto did not start: {seen:?}");
    Some((child, port))
}

#[test]
fn a_plain_broker_gets_the_same_publish_load_without_a_read_back() {
    let Some((mut broker, port)) = mosquitto() else {
        return;
    };
    let addr = format!("127.0.0.1:{port}");
    let ran = tbgw(&[
        "load",
        "--target",
        "mqtt",
        "--mqtt",
        &addr,
        "--gateways",
        "3",
        "--messages",
        "300",
        "--window",
        "8",
        "--mqtt-version",
        "5",
        "--json",
        "-",
    ]);
    let _ = broker.kill();
    let _ = broker.wait();
    assert_eq!(ran.code, 0, "{}", ran.all());
    let result = json_of(&ran);
    assert_eq!(result["acknowledged"], 300, "{result}");
    assert_eq!(
        result["stored"],
        Value::Null,
        "nothing to read back from a broker"
    );
    assert_eq!(result["target"], "mqtt");
}

/// The platform refuses devices past its limit: on MQTT 5 with PUBACK 0x97, which the
/// load counts; on 3.1.1, where a PUBACK carries no code, the read-back finds the
/// acknowledged points that were never stored. Either way the load fails (exit 1).
#[test]
fn a_platform_that_refuses_devices_fails_the_load_with_what_it_refused_or_lost() {
    for version in ["5", "3.1.1"] {
        let serve = Serve::start(&["--max-devices", "4"]);
        let mut args: Vec<String> = [
            "load",
            "--gateways",
            "2",
            "--devices-per-gateway",
            "3",
            "--messages",
            "10",
            "--mqtt-version",
            version,
            "--json",
            "-",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.extend(serve.remote_args());
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let ran = tbgw(&refs);
        assert_eq!(ran.code, 1, "{version}: {}", ran.all());
        let result = json_of(&ran);
        assert!(ran.stderr.contains("FAIL"), "{}", ran.all());
        if version == "5" {
            // Four announces and six messages of the four refused devices.
            assert_eq!(result["errors"]["PUBACK 0x97"], 10, "{result}");
            assert_eq!(result["stored"]["lost"], 0);
        } else {
            assert_eq!(result["acknowledged"], 10, "{result}");
            assert_eq!(
                result["stored"]["lost"], 12,
                "6 messages × 2 points: {result}"
            );
        }
    }
}

/// The bug: the embedded target kept only its default 10 000 points per key, so a longer
/// load read the evicted ones back as lost. While `tbgw load` verifies it keeps them all.
#[test]
fn a_load_past_the_default_retention_on_the_embedded_target_finds_every_point() {
    let ran = tbgw(&[
        "load",
        "--messages",
        "10050",
        "--window",
        "32",
        "--points-per-message",
        "1",
        "--json",
        "-",
    ]);
    assert_eq!(ran.code, 0, "{}", ran.all());
    let stored = &json_of(&ran)["stored"];
    assert_eq!(stored["acknowledged"], 10_050, "{stored}");
    assert_eq!(stored["lost"], 0, "{stored}");
}
