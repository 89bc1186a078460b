//! ThingsBoard's timers in the emulator, driven through MQTT (rumqttc) and REST (reqwest)
//! with time moved by the injected clock: session inactivity expiry of a gateway and of
//! each sub-device, `active` turning false, the client-side RPC timeout, and PINGREQ's
//! activity with and without `overwriteActivityTime` (`reference/thingsboard-behavior.md`
//! §11.1 C2, C3, C8 and §11.2), and the transport rate limits on a clock that stands still
//! (so that their buckets never refill). Nothing here sleeps.

mod support;

use serde_json::{Value, json};
use support::emulator::{Client, GATEWAY_TOKEN, Protocol, Rest, Seen, start_with_clock};
use tbgw_harness::emulator::Emulator;
use tbgw_harness::emulator::core::clock::ManualClock;

/// ThingsBoard's defaults: `transport.sessions.inactivity_timeout` and
/// `state.defaultInactivityTimeoutInSec`, both 600 s.
const SESSION_TIMEOUT_MS: i64 = 600_000;
const CLIENT_RPC_TIMEOUT_MS: i64 = 60_000;
/// `transport.mqtt.timeout`: how long a direct device has to PUBACK an RPC.
const MQTT_ACK_TIMEOUT_MS: i64 = 10_000;

async fn emulator_at(start_ms: i64) -> (Emulator, ManualClock) {
    let clock = ManualClock::starting_at(start_ms);
    (start_with_clock(clock.clone()).await, clock)
}

/// Moves the clock and runs the emulator's timers at the new time.
fn advance(emulator: &Emulator, clock: &ManualClock, ms: i64) {
    clock.advance(ms);
    emulator.with_core(|core| core.tick());
}

async fn server_attributes(rest: &Rest, device: &str, keys: &str) -> Value {
    let id = rest.device_id(device).await;
    let path =
        format!("/api/plugins/telemetry/DEVICE/{id}/values/attributes/SERVER_SCOPE?keys={keys}");
    let (_, body) = rest.get(&path).await;
    let mut values = serde_json::Map::new();
    for entry in body.as_array().into_iter().flatten() {
        if let (Some(key), Some(value)) = (entry["key"].as_str(), entry.get("value")) {
            values.insert(key.to_owned(), value.clone());
        }
    }
    Value::Object(values)
}

async fn write_shared(rest: &Rest, device: &str, body: Value) {
    let id = rest.device_id(device).await;
    let path = format!("/api/plugins/telemetry/DEVICE/{id}/attributes/SHARED_SCOPE");
    rest.post(&path, body).await;
}

async fn publish_acked(gw: &mut Client, topic: &str, payload: Value) {
    gw.publish(topic, payload.to_string(), 1).await;
    assert_eq!(gw.puback().await, "Success", "{topic} {payload}");
}

#[tokio::test]
async fn a_quiet_sub_device_stops_receiving_pushes_until_the_gateway_names_it_again() {
    for protocol in [Protocol::V311, Protocol::V5] {
        let (emulator, clock) = emulator_at(1_700_000_000_000).await;
        let rest = Rest::tenant(&emulator).await;
        let mut gw = Client::connect(&emulator, protocol, GATEWAY_TOKEN).await;
        publish_acked(&mut gw, "v1/gateway/connect", json!({"device": "Quiet"})).await;
        // The gateway stays active on its own topic; the sub-device says nothing.
        advance(&emulator, &clock, SESSION_TIMEOUT_MS / 2);
        publish_acked(&mut gw, "v1/devices/me/telemetry", json!({"alive": 1})).await;
        advance(&emulator, &clock, SESSION_TIMEOUT_MS / 2);
        write_shared(&rest, "Quiet", json!({"missed": 1})).await;
        // Naming the device again reconnects it: only the later update arrives.
        publish_acked(
            &mut gw,
            "v1/gateway/telemetry",
            json!({"Quiet": [{"t": 1}]}),
        )
        .await;
        write_shared(&rest, "Quiet", json!({"seen": 2})).await;
        let (topic, update) = gw.message().await;
        assert_eq!(topic, "v1/gateway/attributes", "{protocol:?}");
        assert_eq!(
            update,
            json!({"device": "Quiet", "data": {"seen": 2}}),
            "{protocol:?}"
        );
        let missed = gw.publishes_containing("missed");
        assert!(missed.is_empty(), "{protocol:?}: {missed:?}");
        let attributes = server_attributes(&rest, "Quiet", "lastDisconnectTime").await;
        assert!(
            attributes["lastDisconnectTime"].is_i64(),
            "{protocol:?}: {attributes}"
        );
    }
}

#[tokio::test]
async fn a_quiet_gateway_session_is_closed_with_disconnect_0x83() {
    for (protocol, expected) in [
        (Protocol::V5, "Disconnect(\"ImplementationSpecificError\")"),
        (Protocol::V311, "Closed"),
    ] {
        let (emulator, clock) = emulator_at(1_700_000_000_000).await;
        let mut gw = Client::connect(&emulator, protocol, GATEWAY_TOKEN).await;
        publish_acked(&mut gw, "v1/gateway/connect", json!({"device": "D"})).await;
        advance(&emulator, &clock, SESSION_TIMEOUT_MS - 1);
        publish_acked(&mut gw, "v1/gateway/telemetry", json!({"D": [{"t": 1}]})).await;
        advance(&emulator, &clock, SESSION_TIMEOUT_MS);
        let end = gw
            .until("the end of the session", |s| {
                matches!(s, Seen::Disconnect(_) | Seen::Closed(_))
            })
            .await;
        assert!(
            format!("{end:?}").starts_with(expected),
            "{protocol:?}: {end:?}"
        );
        let violations = emulator.violations();
        assert!(
            violations
                .iter()
                .any(|v| v.problem.contains("transport.sessions.inactivity_timeout")),
            "{violations:?}"
        );
    }
}

#[tokio::test]
async fn active_stays_true_after_a_disconnect_and_turns_false_after_the_inactivity_timeout() {
    let (emulator, clock) = emulator_at(1_700_000_000_000).await;
    let rest = Rest::tenant(&emulator).await;
    let mut gw = Client::connect(&emulator, Protocol::V5, GATEWAY_TOKEN).await;
    publish_acked(&mut gw, "v1/gateway/connect", json!({"device": "Sensor"})).await;
    publish_acked(
        &mut gw,
        "v1/gateway/disconnect",
        json!({"device": "Sensor"}),
    )
    .await;
    let keys = "active,lastDisconnectTime,inactivityAlarmTime";
    let after_disconnect = server_attributes(&rest, "Sensor", keys).await;
    assert_eq!(
        after_disconnect["active"],
        json!(true),
        "{after_disconnect}"
    );
    assert!(
        after_disconnect["lastDisconnectTime"].is_i64(),
        "{after_disconnect}"
    );
    assert!(
        after_disconnect.get("inactivityAlarmTime").is_none(),
        "{after_disconnect}"
    );
    // The state check runs every 60 s: not yet inactive one minute before the timeout.
    advance(&emulator, &clock, SESSION_TIMEOUT_MS - 60_000);
    assert_eq!(
        server_attributes(&rest, "Sensor", "active").await["active"],
        json!(true)
    );
    // The gateway keeps its own session; the device says nothing.
    publish_acked(&mut gw, "v1/devices/me/telemetry", json!({"alive": 1})).await;
    advance(&emulator, &clock, 120_000);
    let later = server_attributes(&rest, "Sensor", keys).await;
    assert_eq!(later["active"], json!(false), "{later}");
    assert!(later["inactivityAlarmTime"].is_i64(), "{later}");
    // Activity makes it active again.
    publish_acked(&mut gw, "v1/gateway/connect", json!({"device": "Sensor"})).await;
    assert_eq!(
        server_attributes(&rest, "Sensor", "active").await["active"],
        json!(true)
    );
}

#[tokio::test]
async fn an_unanswered_client_side_rpc_of_the_gateway_gets_error_timeout() {
    for protocol in [Protocol::V311, Protocol::V5] {
        let (emulator, clock) = emulator_at(1_700_000_000_000).await;
        let mut gw = Client::connect(&emulator, protocol, GATEWAY_TOKEN).await;
        gw.subscribe("v1/devices/me/rpc/response/+", 1).await;
        gw.until("SUBACK", |s| matches!(s, Seen::SubAck(_))).await;
        let request = json!({"method": "getCurrentTime", "params": {}});
        publish_acked(&mut gw, "v1/devices/me/rpc/request/7", request).await;
        advance(&emulator, &clock, CLIENT_RPC_TIMEOUT_MS - 1);
        publish_acked(&mut gw, "v1/devices/me/telemetry", json!({"mark": 1})).await;
        advance(&emulator, &clock, 1);
        let (topic, answer) = gw.message().await;
        assert_eq!(topic, "v1/devices/me/rpc/response/7", "{protocol:?}");
        assert_eq!(answer, json!({"error": "timeout"}), "{protocol:?}");
        // Nothing was published before the timeout (the PUBACK of `mark` came first).
        let before: Vec<&Seen> = gw
            .seen
            .iter()
            .filter(|s| matches!(s, Seen::Publish { .. }))
            .collect();
        assert_eq!(before.len(), 1, "{protocol:?}: {:?}", gw.seen);
    }
}

#[tokio::test]
async fn a_client_side_rpc_request_that_is_not_json_is_0x99() {
    let (emulator, _clock) = emulator_at(1_700_000_000_000).await;
    let mut gw = Client::connect(&emulator, Protocol::V5, GATEWAY_TOKEN).await;
    gw.publish("v1/devices/me/rpc/request/1", "not json", 1)
        .await;
    assert_eq!(gw.puback().await, "PayloadFormatInvalid");
}

/// A gateway whose `overwriteActivityTime` is as given, created through REST; its token.
async fn gateway_with_overwrite(rest: &Rest, name: &str, overwrite: bool) -> String {
    let token = format!("{name}-TOKEN");
    let body = json!({
        "name": name,
        "type": "default",
        "additionalInfo": {"gateway": true, "overwriteActivityTime": overwrite}
    });
    let (status, _) = rest
        .post(&format!("/api/device?accessToken={token}"), body)
        .await;
    assert!(status.is_success(), "{status}");
    token
}

#[tokio::test]
async fn pingreq_keeps_sub_devices_alive_only_with_overwrite_activity_time() {
    let (emulator, clock) = emulator_at(1_700_000_000_000).await;
    let rest = Rest::tenant(&emulator).await;
    let mut kept = Vec::new();
    for overwrite in [false, true] {
        let name = format!("gw-overwrite-{overwrite}");
        let token = gateway_with_overwrite(&rest, &name, overwrite).await;
        let mut gw = Client::connect_pinging(&emulator, &token).await;
        let device = format!("Sub of {name}");
        publish_acked(&mut gw, "v1/gateway/connect", json!({"device": device})).await;
        kept.push((overwrite, gw, device));
    }
    // Only PINGREQs keep the gateways active from here on.
    for _ in 0..4 {
        advance(&emulator, &clock, SESSION_TIMEOUT_MS / 4);
        for (_, gw, _) in &mut kept {
            gw.until("PINGRESP", |s| *s == Seen::PingResp).await;
        }
    }
    advance(&emulator, &clock, 1);
    for (overwrite, gw, device) in &mut kept {
        write_shared(&rest, device, json!({"after": 1})).await;
        // A marker the gateway gets either way, after the update if that was delivered
        // (`message` skips the PUBACK, which `puback` would read past the update).
        gw.publish("v1/devices/me/attributes/request/1", "{}", 1)
            .await;
        let (topic, _) = gw.message().await;
        let delivered = topic == "v1/gateway/attributes";
        assert_eq!(
            delivered, *overwrite,
            "overwriteActivityTime={overwrite}: {:?}",
            gw.seen
        );
    }
}

/// `queue.transport_api.max_requests_timeout`, ThingsBoard's default.
const TRANSPORT_API_TIMEOUT_MS: i64 = 10_000;

#[tokio::test]
async fn a_device_name_that_fails_validation_is_answered_when_its_request_times_out() {
    let (emulator, clock) = emulator_at(1_700_000_000_000).await;
    let mut gw = Client::connect(&emulator, Protocol::V5, GATEWAY_TOKEN).await;
    let invalid = json!({"device": "<b>bold</b>"}).to_string();
    // Each refusal is followed by a message answered at once, whose PUBACK shows that the
    // emulator has read the refused one before the clock moves.
    gw.publish("v1/gateway/connect", invalid.clone(), 1).await;
    publish_acked(&mut gw, "v1/devices/me/telemetry", json!({"mark": 0})).await;
    advance(&emulator, &clock, TRANSPORT_API_TIMEOUT_MS / 2);
    // A later message naming the same device waits on the same request; another device
    // is answered at once.
    gw.publish("v1/gateway/connect", invalid, 1).await;
    publish_acked(&mut gw, "v1/gateway/connect", json!({"device": "Fine"})).await;
    advance(&emulator, &clock, TRANSPORT_API_TIMEOUT_MS / 2 - 1);
    publish_acked(&mut gw, "v1/devices/me/telemetry", json!({"mark": 1})).await;
    advance(&emulator, &clock, 1);
    let late: Vec<String> = [gw.puback().await, gw.puback().await].into();
    assert_eq!(
        late,
        ["UnspecifiedError", "UnspecifiedError"],
        "{:?}",
        gw.seen
    );
    let acks: Vec<u16> = gw
        .seen
        .iter()
        .filter_map(|s| match s {
            Seen::PubAck { pkid, .. } => Some(*pkid),
            _ => None,
        })
        .collect();
    // Everything else first, then the two refusals together, 10 s after the first.
    assert_eq!(acks, [2, 4, 5, 1, 3], "{:?}", gw.seen);
    let answers: Vec<String> = emulator
        .violations()
        .iter()
        .map(|v| v.answer.clone())
        .collect();
    assert!(
        answers
            .iter()
            .any(|a| a.contains("once the device request timed out")),
        "{answers:?}"
    );
}

/// Sets transport rate limits on the tenant profile, as a system administrator would.
async fn set_rate_limits(emulator: &Emulator, limits: Value) {
    let sysadmin = Rest::login(emulator, "sysadmin@thingsboard.org", "sysadmin").await;
    let (_, info) = sysadmin.get("/api/tenantProfileInfo/default").await;
    let id = info["id"]["id"].as_str().unwrap_or_default().to_owned();
    let (_, mut profile) = sysadmin.get(&format!("/api/tenantProfile/{id}")).await;
    if let (Some(configuration), Some(limits)) = (
        profile["profileData"]["configuration"].as_object_mut(),
        limits.as_object(),
    ) {
        configuration.extend(limits.clone());
    }
    let (status, saved) = sysadmin.post("/api/tenantProfile", profile).await;
    assert!(status.is_success(), "{status} {saved}");
}

#[tokio::test]
async fn a_message_over_a_gateway_rate_limit_is_puback_0x97_then_a_close_without_disconnect() {
    // The clock stands still, so the buckets never refill.
    let (emulator, _clock) = emulator_at(1_700_000_000_000).await;
    set_rate_limits(
        &emulator,
        json!({"transportGatewayTelemetryMsgRateLimit": "2:60"}),
    )
    .await;
    let mut gw = Client::connect(&emulator, Protocol::V5, GATEWAY_TOKEN).await;
    publish_acked(&mut gw, "v1/gateway/connect", json!({"device": "Limited"})).await;
    publish_acked(
        &mut gw,
        "v1/gateway/telemetry",
        json!({"Limited": [{"t": 0}]}),
    )
    .await;
    // Attributes count as telemetry messages (their keys as data points); a connect is a
    // message of another kind, which this limit leaves alone.
    publish_acked(
        &mut gw,
        "v1/gateway/attributes",
        json!({"Limited": {"a": 1}}),
    )
    .await;
    publish_acked(&mut gw, "v1/gateway/connect", json!({"device": "Other"})).await;
    gw.publish("v1/gateway/telemetry", r#"{"Limited":[{"t":2}]}"#, 1)
        .await;
    assert_eq!(gw.puback().await, "QuotaExceeded");
    let end = gw
        .until("the close", |s| {
            matches!(s, Seen::Disconnect(_) | Seen::Closed(_))
        })
        .await;
    assert!(
        matches!(end, Seen::Closed(_)),
        "no DISCONNECT before the close: {end:?}"
    );
    // A new session has full buckets, and getSessionLimits reports the configured limits.
    let mut again = Client::connect(&emulator, Protocol::V5, GATEWAY_TOKEN).await;
    again.subscribe("v1/devices/me/rpc/response/+", 1).await;
    again
        .until("SUBACK", |s| matches!(s, Seen::SubAck(_)))
        .await;
    let request = json!({"method": "getSessionLimits", "params": {}});
    publish_acked(&mut again, "v1/devices/me/rpc/request/1", request).await;
    let (_, limits) = again.message().await;
    assert_eq!(
        limits["gatewayRateLimits"]["telemetryMessages"],
        json!("2:60"),
        "{limits}"
    );
    assert_eq!(
        limits["rateLimits"]["telemetryMessages"],
        Value::Null,
        "{limits}"
    );
}

/// The next PUBACK, DISCONNECT or close is a DISCONNECT with this reason.
async fn assert_disconnected_with(client: &mut Client, reason: &str) {
    let end = client
        .until("the end", |s| {
            matches!(
                s,
                Seen::Disconnect(_) | Seen::Closed(_) | Seen::PubAck { .. }
            )
        })
        .await;
    assert_eq!(end, Seen::Disconnect(reason.into()), "{:?}", client.seen);
}

#[tokio::test]
async fn a_rate_limited_message_that_would_create_a_device_is_disconnect_0x8b() {
    let (emulator, _clock) = emulator_at(1_700_000_000_000).await;
    set_rate_limits(&emulator, json!({"transportGatewayMsgRateLimit": "1:60"})).await;
    let mut gw = Client::connect(&emulator, Protocol::V5, GATEWAY_TOKEN).await;
    publish_acked(
        &mut gw,
        "v1/gateway/telemetry",
        json!({"First": [{"t": 1}]}),
    )
    .await;
    gw.publish("v1/gateway/telemetry", r#"{"Second":[{"t":1}]}"#, 1)
        .await;
    assert_disconnected_with(&mut gw, "ServerShuttingDown").await;
    let rest = Rest::tenant(&emulator).await;
    let (status, _) = rest.get("/api/tenant/devices?deviceName=Second").await;
    assert_eq!(
        status,
        reqwest::StatusCode::NOT_FOUND,
        "the limited device was not created"
    );
}

#[tokio::test]
async fn all_sub_devices_of_a_gateway_share_its_rate_limit_buckets() {
    let (emulator, _clock) = emulator_at(1_700_000_000_000).await;
    set_rate_limits(
        &emulator,
        json!({"transportGatewayTelemetryDataPointsRateLimit": "3:60"}),
    )
    .await;
    let mut gw = Client::connect(&emulator, Protocol::V5, GATEWAY_TOKEN).await;
    // Two points for A and one for B use up the gateway's three, whoever names them.
    let first = json!({"A": [{"t": 1, "u": 2}], "B": [{"t": 1}]});
    publish_acked(&mut gw, "v1/gateway/telemetry", first).await;
    gw.publish("v1/gateway/telemetry", r#"{"C":[{"t":1}]}"#, 1)
        .await;
    assert_eq!(gw.puback().await, "QuotaExceeded");
}

#[tokio::test]
async fn a_device_api_message_over_its_own_limit_is_disconnect_0x83_without_a_puback() {
    let (emulator, _clock) = emulator_at(1_700_000_000_000).await;
    // The gateway's own messages take from transportGatewayDevice…, a plain device's from
    // transportDevice….
    set_rate_limits(
        &emulator,
        json!({"transportGatewayDeviceTelemetryMsgRateLimit": "1:60", "transportDeviceMsgRateLimit": "1:60"}),
    )
    .await;
    let mut gw = Client::connect(&emulator, Protocol::V5, GATEWAY_TOKEN).await;
    publish_acked(&mut gw, "v1/devices/me/telemetry", json!({"t": 1})).await;
    // Its sub-devices' telemetry is not counted there.
    publish_acked(&mut gw, "v1/gateway/telemetry", json!({"A": [{"t": 1}]})).await;
    gw.publish("v1/devices/me/telemetry", r#"{"t":2}"#, 1).await;
    assert_disconnected_with(&mut gw, "ImplementationSpecificError").await;

    let rest = Rest::tenant(&emulator).await;
    rest.create_device("plain", "PLAIN_TOKEN").await;
    let mut device = Client::connect(&emulator, Protocol::V5, "PLAIN_TOKEN").await;
    device.subscribe("v1/devices/me/rpc/response/+", 1).await;
    device
        .until("SUBACK", |s| matches!(s, Seen::SubAck(_)))
        .await;
    // getSessionLimits is the transport's own answer: it costs nothing, and shows the limit.
    let request = json!({"method": "getSessionLimits", "params": {}});
    publish_acked(&mut device, "v1/devices/me/rpc/request/1", request).await;
    let (_, limits) = device.message().await;
    assert_eq!(limits["rateLimits"]["messages"], json!("1:60"), "{limits}");
    assert!(limits.get("gatewayRateLimits").is_none(), "{limits}");
    publish_acked(&mut device, "v1/devices/me/attributes/request/1", json!({})).await;
    device
        .publish("v1/devices/me/attributes/request/2", "{}", 1)
        .await;
    assert_disconnected_with(&mut device, "ImplementationSpecificError").await;
}

#[tokio::test]
async fn a_rate_limit_that_is_not_count_colon_seconds_is_refused_with_400() {
    let (emulator, _clock) = emulator_at(1_700_000_000_000).await;
    let sysadmin = Rest::login(&emulator, "sysadmin@thingsboard.org", "sysadmin").await;
    let (_, info) = sysadmin.get("/api/tenantProfileInfo/default").await;
    let id = info["id"]["id"].as_str().unwrap_or_default().to_owned();
    let (_, mut profile) = sysadmin.get(&format!("/api/tenantProfile/{id}")).await;
    profile["profileData"]["configuration"]["transportGatewayMsgRateLimit"] = json!("ten");
    let (status, body) = sysadmin.post("/api/tenantProfile", profile).await;
    assert_eq!(status, reqwest::StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("count:seconds"),
        "{body}"
    );
}

/// A persistent RPC to `device` through REST; its rpcId.
async fn persistent_rpc(rest: &Rest, kind: &str, device: &str, body: Value) -> String {
    let (status, answer) = rest.post(&format!("/api/rpc/{kind}/{device}"), body).await;
    assert_eq!(status, reqwest::StatusCode::OK, "{answer}");
    answer["rpcId"].as_str().unwrap_or_default().to_owned()
}

async fn rpc_record(rest: &Rest, rpc_id: &str) -> Value {
    rest.get(&format!("/api/rpc/persistent/{rpc_id}")).await.1
}

async fn next_rpc_request(device: &mut Client) -> String {
    let seen = device
        .until("an RPC request", |s| matches!(s, Seen::Publish { .. }))
        .await;
    seen.into_publish().0
}

#[tokio::test]
async fn a_persistent_rpc_a_direct_device_does_not_puback_times_out_is_sent_again_then_fails() {
    for protocol in [Protocol::V311, Protocol::V5] {
        let (emulator, clock) = emulator_at(1_700_000_000_000).await;
        let rest = Rest::tenant(&emulator).await;
        rest.create_device("Silent", "silent-token").await;
        let id = rest.device_id("Silent").await;
        let mut device = Client::connect_never_acking(&emulator, protocol, "silent-token").await;
        device.subscribe("v1/devices/me/rpc/request/+", 1).await;
        let body = json!({"method": "m", "params": {}, "persistent": true, "retries": 1, "timeout": 3_600_000});
        let rpc = persistent_rpc(&rest, "twoway", &id, body).await;
        assert_eq!(
            next_rpc_request(&mut device).await,
            "v1/devices/me/rpc/request/0"
        );
        assert_eq!(rpc_record(&rest, &rpc).await["status"], "SENT");

        advance(&emulator, &clock, MQTT_ACK_TIMEOUT_MS - 1);
        assert_eq!(rpc_record(&rest, &rpc).await["status"], "SENT", "not yet");
        advance(&emulator, &clock, 1);
        let record = rpc_record(&rest, &rpc).await;
        assert_eq!(record["status"], "TIMEOUT");
        assert_eq!(
            record["request"]["retries"], 1,
            "the stored retries do not count"
        );

        // Nothing is sent again until the device subscribes again (BURST), then with its id.
        device.subscribe("v1/devices/me/rpc/request/+", 1).await;
        assert_eq!(
            next_rpc_request(&mut device).await,
            "v1/devices/me/rpc/request/0"
        );
        assert_eq!(rpc_record(&rest, &rpc).await["status"], "SENT");
        advance(&emulator, &clock, MQTT_ACK_TIMEOUT_MS);
        let record = rpc_record(&rest, &rpc).await;
        assert_eq!(record["status"], "FAILED", "{protocol:?}");
        assert_eq!(
            record["response"],
            json!({"error": "There was a Timeout and all retry attempts have been exhausted. Retry attempts set: 1"})
        );
        device.subscribe("v1/devices/me/rpc/request/+", 1).await;
        let unexpected = device
            .until("the SUBACK", |s| {
                matches!(s, Seen::SubAck(_) | Seen::Publish { .. })
            })
            .await;
        assert!(
            matches!(unexpected, Seen::SubAck(_)),
            "a failed call is not sent: {unexpected:?}"
        );
    }
}

#[tokio::test]
async fn a_direct_devices_puback_makes_a_persistent_rpc_delivered_and_a_one_way_call_ends_there() {
    let (emulator, clock) = emulator_at(1_700_000_000_000).await;
    let rest = Rest::tenant(&emulator).await;
    rest.create_device("Acking", "acking-token").await;
    let id = rest.device_id("Acking").await;
    let mut device = Client::connect(&emulator, Protocol::V5, "acking-token").await;
    device.subscribe("v1/devices/me/rpc/request/+", 1).await;
    let twoway = json!({"method": "get", "params": {}, "persistent": true, "timeout": 60_000});
    let rpc = persistent_rpc(&rest, "twoway", &id, twoway).await;
    next_rpc_request(&mut device).await;
    let record = rest
        .until(&format!("/api/rpc/persistent/{rpc}"), |_, r| {
            r["status"] != "SENT"
        })
        .await;
    assert_eq!(record["status"], "DELIVERED", "rumqttc PUBACKs the request");
    device
        .publish("v1/devices/me/rpc/response/0", r#"{"ok":true}"#, 1)
        .await;
    let record = rest
        .until(&format!("/api/rpc/persistent/{rpc}"), |_, r| {
            r["status"] != "DELIVERED"
        })
        .await;
    assert_eq!(record["status"], "SUCCESSFUL");
    assert_eq!(record["response"], json!({"ok": true}));

    let oneway = json!({"method": "set", "params": 1, "persistent": true, "timeout": 60_000});
    let rpc = persistent_rpc(&rest, "oneway", &id, oneway).await;
    next_rpc_request(&mut device).await;
    rest.until(&format!("/api/rpc/persistent/{rpc}"), |_, r| {
        r["status"] == "DELIVERED"
    })
    .await;
    advance(&emulator, &clock, 60_000);
    assert_eq!(
        rpc_record(&rest, &rpc).await["status"],
        "DELIVERED",
        "a delivered one-way call has ended and does not expire"
    );
}
