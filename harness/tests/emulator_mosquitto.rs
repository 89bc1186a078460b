//! The public doc's own `mosquitto_pub` commands, run verbatim against the emulator (only
//! the host, port and token filled in), with every effect checked through the REST API.
//!
//! Needs `mosquitto_pub` (Debian's mosquitto-clients). Without it the tests print SKIP and
//! pass, unless `TBGW_REQUIRE_MOSQUITTO=1` (set by `.ci/run`) makes them fail.

mod support;

use reqwest::StatusCode;
use serde_json::json;
use support::emulator::{GATEWAY_TOKEN, Rest, start, urlencode};
use tbgw_harness::emulator::Emulator;

/// The doc's examples, in the doc's order (`reference/gateway-api-doc.md`).
const DOC_COMMANDS: [&str; 6] = [
    r#"mosquitto_pub -h "{{mqttHostName}}" -t "v1/gateway/connect" -u "$ACCESS_TOKEN" -m '{"device": "Device A"}'"#,
    r#"mosquitto_pub -h "{{mqttHostName}}" -t "v1/gateway/connect" -u "$ACCESS_TOKEN" -m '{"device": "Device A", "type": "Sensor A"}'"#,
    r#"mosquitto_pub -h "{{mqttHostName}}" -t "v1/gateway/disconnect" -u "$ACCESS_TOKEN" -m '{"device": "Device A"}'"#,
    r#"mosquitto_pub -h "{{mqttHostName}}" -t "v1/gateway/attributes" -u "$ACCESS_TOKEN" -m '{"Device A": { "fw_version": "1.0", "battery": 87 }}'"#,
    r#"mosquitto_pub -h "{{mqttHostName}}" -t "v1/gateway/telemetry" -u "$ACCESS_TOKEN" -m '{"Device A": [{"ts": 1700000000000, "values": {"temperature": 23.5, "humidity": 61 }}]}'"#,
    r#"mosquitto_pub -h "{{mqttHostName}}" -t "v1/gateway/claim" -u "$ACCESS_TOKEN" -m '{"Device A": {"secretKey": "mySecret", "durationMs": 60000}}'"#,
];

fn mosquitto_available() -> bool {
    let found = std::process::Command::new("mosquitto_pub")
        .arg("--help")
        .output()
        .is_ok();
    if !found {
        assert!(
            std::env::var_os("TBGW_REQUIRE_MOSQUITTO").is_none(),
            "TBGW_REQUIRE_MOSQUITTO is set but mosquitto_pub is not installed (apt-get install mosquitto-clients)"
        );
        eprintln!("SKIP: mosquitto_pub is not installed (apt-get install mosquitto-clients)");
    }
    found
}

/// Runs a doc command line through the shell with the placeholders filled in.
async fn run(emulator: &Emulator, command: &str, extra: &str) -> (bool, String) {
    let line = command.replace("{{mqttHostName}}", &emulator.mqtt_addr.ip().to_string());
    let line = line.replacen(
        "mosquitto_pub ",
        &format!("mosquitto_pub -p {} {extra} ", emulator.mqtt_addr.port()),
        1,
    );
    let output = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(&line)
        .env("ACCESS_TOKEN", GATEWAY_TOKEN)
        .output()
        .await
        .expect("sh runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

#[tokio::test]
async fn the_docs_mosquitto_commands_work_verbatim() {
    if !mosquitto_available() {
        return;
    }
    let emulator = start().await;
    let rest = Rest::tenant(&emulator).await;
    for command in DOC_COMMANDS {
        let (ok, output) = run(&emulator, command, "").await;
        assert!(ok, "{command}\n{output}");
    }
    let device = rest.device("Device A").await;
    // The second example's `type` is ignored: the first example already created the device.
    assert_eq!(device["type"], "default");
    let id = device["id"]["id"].as_str().unwrap_or_default().to_owned();
    let attributes = rest
        .until(
            &format!("/api/plugins/telemetry/DEVICE/{id}/values/attributes/CLIENT_SCOPE"),
            |_, b| b.as_array().is_some_and(|a| a.len() == 2),
        )
        .await;
    let value = |key: &str| {
        attributes
            .as_array()
            .into_iter()
            .flatten()
            .find(|a| a["key"] == key)
            .map(|a| a["value"].clone())
    };
    // The doc's string "1.0" is stored as the double 1.0.
    assert_eq!(value("fw_version"), Some(json!(1.0)));
    assert_eq!(value("battery"), Some(json!(87)));
    let series = rest
        .until(
            &format!(
                "/api/plugins/telemetry/DEVICE/{id}/values/timeseries?keys=temperature,humidity"
            ),
            |_, b| b.get("humidity").is_some(),
        )
        .await;
    assert_eq!(
        series["temperature"][0],
        json!({"ts": 1700000000000_i64, "value": "23.5"})
    );
    assert_eq!(
        series["humidity"][0],
        json!({"ts": 1700000000000_i64, "value": "61"})
    );
    let customer = Rest::login(&emulator, "customer@thingsboard.org", "customer").await;
    let (status, claimed) = customer
        .post(
            &format!("/api/customer/device/{}/claim", urlencode("Device A")),
            json!({"secretKey": "mySecret"}),
        )
        .await;
    assert_eq!(
        (status, &claimed["response"]),
        (StatusCode::OK, &json!("SUCCESS"))
    );
}

#[tokio::test]
async fn mosquitto_pub_sees_thingsboard_reason_codes_on_mqtt_5() {
    if !mosquitto_available() {
        return;
    }
    let emulator = start().await;
    let cases = [
        (
            r#"-t "v1/gateway/telemetry" -m '{"Device A": [{"ts": }]}'"#,
            "RC:153",
        ),
        (r#"-t "v1/gateway/foo" -m '{}'"#, "RC:144"),
        (
            r#"-t "v1/gateway/connect" -m '{"device": "Device B"}'"#,
            "RC:0",
        ),
    ];
    for (arguments, expected) in cases {
        let command =
            format!(r#"mosquitto_pub -h "{{{{mqttHostName}}}}" -u "$ACCESS_TOKEN" {arguments}"#);
        let (_, output) = run(&emulator, &command, "-V mqttv5 -q 1 -d").await;
        assert!(
            output.contains(&format!("received PUBACK (Mid: 1, {expected})")),
            "{command}\n{output}"
        );
    }
    let (ok, output) = run(
        &emulator,
        r#"mosquitto_pub -h "{{mqttHostName}}" -t "v1/gateway/connect" -u "WRONG" -m '{}'"#,
        "-V mqttv311",
    )
    .await;
    assert!(!ok, "a bad token is refused:\n{output}");
    assert!(
        output.to_lowercase().contains("not authorised") || output.contains("Connection Refused"),
        "{output}"
    );
}
