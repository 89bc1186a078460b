//! The emulator driven by rumqttc (MQTT 3.1.1 and 5) as a gateway, every effect checked
//! through ThingsBoard's REST API with reqwest (`reference/thingsboard-behavior.md` §0–§7).

mod support;

use reqwest::StatusCode;
use serde_json::{Value, json};
use support::emulator::{
    Client, GATEWAY_TOKEN, Protocol, Rest, Seen, start, start_with, urlencode,
};
use tbgw_harness::emulator::{Emulator, Traffic};

const BOTH: [Protocol; 2] = [Protocol::V311, Protocol::V5];

fn telemetry_path(id: &str, query: &str) -> String {
    format!("/api/plugins/telemetry/DEVICE/{id}/values/timeseries?{query}")
}

#[tokio::test]
async fn connect_creates_the_device_with_its_profile_relation_and_gateway() {
    let emulator = start().await;
    let rest = Rest::tenant(&emulator).await;
    let gateway_id = rest.device_id("gw1").await;
    for protocol in BOTH {
        let name = format!("Device A {protocol:?}");
        let mut gw = Client::connect(&emulator, protocol, GATEWAY_TOKEN).await;
        gw.publish(
            "v1/gateway/connect",
            json!({"device": name, "type": "Sensor A"}).to_string(),
            1,
        )
        .await;
        assert_eq!(gw.puback().await, "Success");
        let device = rest.device(&name).await;
        assert_eq!(device["type"], "Sensor A");
        assert_eq!(
            device["customerId"]["id"],
            "13814000-1dd2-11b2-8080-808080808080"
        );
        assert_eq!(
            device["additionalInfo"]["lastConnectedGateway"],
            gateway_id.as_str()
        );
        let id = device["id"]["id"].as_str().unwrap_or_default().to_owned();
        let (_, relations) = rest
            .get(&format!(
                "/api/relations?fromId={gateway_id}&fromType=DEVICE&relationType=Created"
            ))
            .await;
        assert!(
            relations
                .as_array()
                .into_iter()
                .flatten()
                .any(|r| r["to"]["id"] == id.as_str()),
            "no Created relation to {name}: {relations}"
        );
        let (_, active) = rest
            .get(&format!(
                "/api/plugins/telemetry/DEVICE/{id}/values/attributes/SERVER_SCOPE?keys=active"
            ))
            .await;
        assert_eq!(active[0]["value"], true);

        // An existing device is reused: the type of a later connect is ignored.
        gw.publish(
            "v1/gateway/disconnect",
            json!({"device": name}).to_string(),
            1,
        )
        .await;
        assert_eq!(gw.puback().await, "Success");
        gw.publish(
            "v1/gateway/connect",
            json!({"device": name, "type": "Other"}).to_string(),
            1,
        )
        .await;
        assert_eq!(gw.puback().await, "Success");
        assert_eq!(rest.device(&name).await["type"], "Sensor A");
    }
    let (_, names) = rest.get("/api/deviceProfile/names").await;
    let names: Vec<&str> = names
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert!(
        names.contains(&"Sensor A") && !names.contains(&"Other"),
        "{names:?}"
    );
}

#[tokio::test]
async fn telemetry_is_stored_with_thingsboard_typing_for_several_devices() {
    let emulator = start().await;
    let rest = Rest::tenant(&emulator).await;
    let mut gw = Client::connect(&emulator, Protocol::V5, GATEWAY_TOKEN).await;
    let payload = r#"{"T1":[{"ts":1700000000000,"values":{"long":4,"double":3.0,"numeric":"4","text":"x","gone":null,"obj":{"a":1}}}],
                      "T2":[{"flat":true}], "skipped": 5}"#;
    gw.publish("v1/gateway/telemetry", payload, 1).await;
    assert_eq!(gw.puback().await, "Success");
    let t1 = rest.device_id("T1").await;
    let strict = rest
        .until(&telemetry_path(&t1, "useStrictDataTypes=true"), |_, b| {
            b.get("long").is_some()
        })
        .await;
    assert_eq!(
        strict["long"][0],
        json!({"ts": 1700000000000_i64, "value": 4})
    );
    assert_eq!(strict["double"][0]["value"], json!(3.0));
    assert_eq!(strict["numeric"][0]["value"], json!(4));
    assert_eq!(strict["text"][0]["value"], "x");
    assert_eq!(strict["obj"][0]["value"], r#"{"a":1}"#);
    assert!(strict.get("gone").is_none(), "null is dropped: {strict}");
    let (_, plain) = rest.get(&telemetry_path(&t1, "keys=long,double")).await;
    assert_eq!(
        plain["double"][0]["value"], "3.0",
        "values are strings by default"
    );
    let t2 = rest.device_id("T2").await;
    let (_, flat) = rest.get(&telemetry_path(&t2, "keys=flat")).await;
    assert_eq!(flat["flat"][0]["value"], "true");
    let (status, _) = rest.get("/api/tenant/devices?deviceName=skipped").await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "a non-array entry is skipped"
    );
}

#[tokio::test]
async fn deleting_time_series_takes_a_range_and_removes_keeps_or_rewrites_the_latest() {
    let (_emulator, rest, gw, id) = gateway_with_device("D1").await;
    let points: Vec<Value> = (1..=3)
        .map(|n| json!({"ts": n * 1000, "values": {"a": n, "b": n, "c": n}}))
        .collect();
    let telemetry = json!({ "D1": points }).to_string();
    gw.publish("v1/gateway/telemetry", telemetry, 1).await;
    rest.until(&telemetry_path(&id, "keys=c"), |_, b| b.get("c").is_some())
        .await;
    let delete =
        |query: &str| format!("/api/plugins/telemetry/DEVICE/{id}/timeseries/delete?{query}");
    let latest = |key: &str| telemetry_path(&id, &format!("keys={key}&useStrictDataTypes=true"));
    let history = |key: &str| {
        telemetry_path(
            &id,
            &format!("keys={key}&startTs=0&endTs=9999&useStrictDataTypes=true"),
        )
    };

    // [2000, 3001) of `a`: the latest (3000) is in the range and goes.
    let (status, _) = rest.delete(&delete("keys=a&startTs=2000&endTs=3001")).await;
    assert_eq!(status, StatusCode::OK);
    let (_, left) = rest.get(&history("a")).await;
    assert_eq!(left, json!({"a": [{"ts": 1000, "value": 1}]}));
    let (_, now) = rest.get(&latest("a")).await;
    assert_eq!(now, json!({}), "the latest was in the range");
    let (_, keys) = rest
        .get(&format!(
            "/api/plugins/telemetry/DEVICE/{id}/keys/timeseries"
        ))
        .await;
    assert_eq!(
        keys,
        json!(["b", "c"]),
        "a key without a latest is not listed"
    );

    // The same for `b` with the latest kept, and for `c` rewritten to the newest point left.
    rest.delete(&delete("keys=b&startTs=2000&endTs=3001&deleteLatest=False"))
        .await;
    let (_, kept) = rest.get(&latest("b")).await;
    assert_eq!(kept, json!({"b": [{"ts": 3000, "value": 3}]}));
    rest.delete(&delete(
        "keys=c&startTs=2000&endTs=3001&rewriteLatestIfDeleted=yes",
    ))
    .await;
    let (_, rewritten) = rest.get(&latest("c")).await;
    assert_eq!(rewritten, json!({"c": [{"ts": 1000, "value": 1}]}));

    // Everything of a key up to now; then the 400s ThingsBoard answers.
    rest.delete(&delete("keys=c&deleteAllDataForKeys=true"))
        .await;
    let (_, gone) = rest.get(&history("c")).await;
    assert_eq!(gone, json!({}));
    let (status, body) = rest.delete(&delete("keys=b")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        Value::from(
            "When deleteAllDataForKeys is false, start and end timestamp values shouldn't be empty"
        )
    );
    let (status, body) = rest.delete(&delete("startTs=0&endTs=1")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["errorCode"], 31, "{body}");
}

#[tokio::test]
async fn relations_are_saved_between_kept_entities_read_from_either_end_and_deleted() {
    let (_emulator, rest, _gw, device) = gateway_with_device("R1").await;
    let gateway = rest.device_id("gw1").await;
    let (_, customers) = rest.get("/api/customers?pageSize=10&page=0").await;
    let customer = customers["data"][0]["id"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let title = customers["data"][0]["title"].clone();
    let manages = |info: Value| {
        json!({"from": {"entityType": "CUSTOMER", "id": customer},
               "to": {"entityType": "DEVICE", "id": device},
               "type": "Manages", "additionalInfo": info})
    };
    let (status, saved) = rest
        .post("/api/v2/relation", manages(json!({"n": 1})))
        .await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    let mut expected = manages(json!({"n": 1}));
    expected["typeGroup"] = json!("COMMON");
    expected["version"] = json!(1);
    assert_eq!(saved, expected, "answered with its group and version");

    // Saving the same key again replaces it.
    let (_, again) = rest
        .post("/api/v2/relation", manages(json!({"n": 2})))
        .await;
    assert_eq!(again["version"], 2, "a save of the same key counts");
    let (_, infos) = rest
        .get(&format!("/api/relations/info/to/DEVICE/{device}"))
        .await;
    let infos = infos.as_array().cloned().unwrap_or_default();
    assert_eq!(infos.len(), 2, "Created and Manages: {infos:?}");
    let by_customer = infos.iter().find(|r| r["type"] == "Manages");
    assert_eq!(by_customer.map(|r| r["fromName"].clone()), Some(title));
    assert_eq!(
        by_customer.map(|r| r["additionalInfo"]["n"].clone()),
        Some(json!(2))
    );
    let one = format!(
        "fromId={customer}&fromType=CUSTOMER&relationType=Manages&toId={device}&toType=DEVICE"
    );
    let (status, _) = rest.get(&format!("/api/relation?{one}")).await;
    assert_eq!(status, StatusCode::OK);
    let (_, from_customer) = rest
        .get(&format!("/api/relations/from/CUSTOMER/{customer}/Manages"))
        .await;
    assert_eq!(from_customer.as_array().map(Vec::len), Some(1));
    let (_, other_group) = rest
        .get(&format!(
            "/api/relations/from/CUSTOMER/{customer}?relationTypeGroup=EDGE"
        ))
        .await;
    assert_eq!(other_group, json!([]), "another group has none");

    // Both ends must exist.
    let mut dangling = manages(Value::Null);
    dangling["to"]["id"] = json!(uuid::Uuid::new_v4().to_string());
    let (status, _) = rest.post("/api/v2/relation", dangling).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Deleted one at a time (the deleted relation answered, then 404), then all of an entity.
    let (status, deleted) = rest.delete(&format!("/api/v2/relation?{one}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(deleted["additionalInfo"], json!({"n": 2}));
    let (status, _) = rest.delete(&format!("/api/v2/relation?{one}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = rest
        .delete(&format!(
            "/api/relations?entityId={gateway}&entityType=DEVICE"
        ))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, left) = rest
        .get(&format!("/api/relations/to/DEVICE/{device}"))
        .await;
    assert_eq!(
        left,
        json!([]),
        "the gateway's Created relation went with it"
    );
    let (status, body) = rest.delete("/api/relations?entityType=DEVICE").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["errorCode"], 31, "{body}");
}

#[tokio::test]
async fn customers_and_device_credentials_are_saved_with_optimistic_locking() {
    let emulator = start().await;
    let rest = Rest::tenant(&emulator).await;
    let (status, created) = rest.post("/api/customer", json!({"title": "Acme"})).await;
    assert_eq!(status, StatusCode::OK, "{created}");
    assert_eq!(created["version"], 1);
    let (status, listed) = rest.get("/api/tenant/customers?customerTitle=Acme").await;
    assert_eq!(
        (status, listed["id"].clone()),
        (StatusCode::OK, created["id"].clone())
    );
    let mut edit = created.clone();
    edit["title"] = json!("Acme Inc");
    let (status, saved) = rest.post("/api/customer", edit.clone()).await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    assert_eq!(
        (saved["title"].clone(), saved["version"].clone()),
        (json!("Acme Inc"), json!(2))
    );
    edit["title"] = json!("stale");
    let (status, stale) = rest.post("/api/customer", edit).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(stale["errorCode"], 35);
    assert_eq!(
        stale["message"],
        "Customer was already changed by someone else"
    );
    let (status, twin) = rest
        .post("/api/customer", json!({"title": "Acme Inc"}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(twin["message"], "Customer with such title already exists!");
    let customer = created["id"]["id"].as_str().unwrap_or_default();
    let (status, _) = rest.delete(&format!("/api/customer/{customer}")).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = rest.get(&format!("/api/customer/{customer}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "deleted");

    rest.create_device("Locked", "locked-token").await;
    let id = rest.device_id("Locked").await;
    let (_, credentials) = rest.get(&format!("/api/device/{id}/credentials")).await;
    assert_eq!(credentials["version"], 1);
    let mut change = credentials.clone();
    change["credentialsId"] = json!("new-token");
    let (status, saved) = rest.post("/api/device/credentials", change.clone()).await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    assert_eq!(saved["version"], 2);
    change["credentialsId"] = json!("newer-token");
    let (status, stale) = rest.post("/api/device/credentials", change).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(stale["errorCode"], 35);
    let (_, kept) = rest.get(&format!("/api/device/{id}/credentials")).await;
    assert_eq!(
        kept["credentialsId"], "new-token",
        "the stale save changed nothing"
    );
}

#[tokio::test]
async fn a_device_profile_is_deleted_unless_it_is_the_default_or_devices_use_it() {
    let emulator = start().await;
    let rest = Rest::tenant(&emulator).await;
    let (_, spare) = rest
        .post(
            "/api/deviceProfile",
            json!({"name": "spare", "type": "DEFAULT"}),
        )
        .await;
    let spare = spare["id"]["id"].as_str().unwrap_or_default().to_owned();
    let (_, used) = rest
        .post(
            "/api/deviceProfile",
            json!({"name": "used", "type": "DEFAULT"}),
        )
        .await;
    let used = used["id"]["id"].as_str().unwrap_or_default().to_owned();
    let (status, _) = rest
        .post(
            "/api/device?accessToken=used-token",
            json!({"name": "User", "type": "used"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, refused) = rest.delete(&format!("/api/deviceProfile/{used}")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        refused["message"],
        "The device profile referenced by the devices cannot be deleted!"
    );
    let (_, default) = rest.get("/api/deviceProfileInfo/default").await;
    let default = default["id"]["id"].as_str().unwrap_or_default().to_owned();
    let (status, refused) = rest.delete(&format!("/api/deviceProfile/{default}")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        refused["message"],
        "Deletion of Default Device Profile is prohibited!"
    );
    let (status, _) = rest.delete(&format!("/api/deviceProfile/{spare}")).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = rest.get(&format!("/api/deviceProfile/{spare}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn attribute_requests_answer_value_values_or_neither() {
    let emulator = start().await;
    let rest = Rest::tenant(&emulator).await;
    for protocol in BOTH {
        let device = format!("Attr {protocol:?}");
        let mut gw = Client::connect(&emulator, protocol, GATEWAY_TOKEN).await;
        gw.subscribe("v1/gateway/attributes/response", 1).await;
        gw.until("SUBACK", |s| matches!(s, Seen::SubAck(_))).await;
        gw.publish(
            "v1/gateway/attributes",
            json!({device.clone(): {"fw": "1.0", "battery": 87}}).to_string(),
            1,
        )
        .await;
        assert_eq!(gw.puback().await, "Success");
        let id = rest.device_id(&device).await;
        let (status, _) = rest
            .post(
                &format!("/api/plugins/telemetry/DEVICE/{id}/attributes/SHARED_SCOPE"),
                json!({"mode": "eco"}),
            )
            .await;
        assert_eq!(status, StatusCode::OK);

        let requests = [
            (
                json!({"id": 1, "device": device, "client": true, "key": "battery"}),
                json!({"id": 1, "device": device, "value": 87}),
            ),
            (
                json!({"id": 2, "device": device, "client": true, "keys": ["fw", "battery"]}),
                json!({"id": 2, "device": device, "values": {"fw": 1.0, "battery": 87}}),
            ),
            (
                json!({"id": 3, "device": device, "client": true, "keys": ["fw", "missing"]}),
                json!({"id": 3, "device": device, "values": {"fw": 1.0}}),
            ),
            (
                json!({"id": 4, "device": device, "client": true, "key": "missing"}),
                json!({"id": 4, "device": device}),
            ),
            (
                json!({"id": 5, "device": device, "client": false, "key": "mode", "keys": ["x", "y"]}),
                json!({"id": 5, "device": device, "value": "eco"}),
            ),
        ];
        for (request, expected) in requests {
            gw.publish("v1/gateway/attributes/request", request.to_string(), 1)
                .await;
            assert_eq!(
                gw.puback().await,
                "Success",
                "the PUBACK comes before the response"
            );
            let (topic, response) = gw.message().await;
            assert_eq!(topic, "v1/gateway/attributes/response");
            assert_eq!(response, expected, "for {request}");
        }
    }
}

/// An emulator, the tenant's REST client, the gateway connected over MQTT 5 and one
/// sub-device it connected, with that device's id.
async fn gateway_with_device(name: &str) -> (Emulator, Rest, Client, String) {
    let emulator = start().await;
    let rest = Rest::tenant(&emulator).await;
    let mut gw = Client::connect(&emulator, Protocol::V5, GATEWAY_TOKEN).await;
    let connect = json!({ "device": name }).to_string();
    gw.publish("v1/gateway/connect", connect, 1).await;
    assert_eq!(gw.puback().await, "Success");
    let id = rest.device_id(name).await;
    (emulator, rest, gw, id)
}

#[tokio::test]
async fn shared_attribute_updates_and_deletions_reach_the_gateway_without_a_subscription() {
    let (_emulator, rest, mut gw, id) = gateway_with_device("S1").await;
    rest.post(
        &format!("/api/plugins/telemetry/DEVICE/{id}/attributes/SHARED_SCOPE"),
        json!({"target": 21.5, "on": true}),
    )
    .await;
    let (topic, update) = gw.message().await;
    assert_eq!(topic, "v1/gateway/attributes");
    assert_eq!(
        update,
        json!({"device": "S1", "data": {"target": 21.5, "on": true}})
    );
    let (status, _) = rest
        .delete(&format!(
            "/api/plugins/telemetry/DEVICE/{id}/SHARED_SCOPE?keys=target"
        ))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, deletion) = gw.message().await;
    assert_eq!(
        deletion,
        json!({"device": "S1", "data": {"deleted": ["target"]}})
    );
}

/// Starts a two-way RPC through REST in the background.
fn twoway(
    rest: &std::sync::Arc<Rest>,
    id: &str,
    method: &str,
    timeout_ms: u64,
) -> tokio::task::JoinHandle<(StatusCode, Value)> {
    let rest = rest.clone();
    let (path, body) = (
        format!("/api/rpc/twoway/{id}"),
        json!({"method": method, "params": {"pin": 1}, "timeout": timeout_ms}),
    );
    tokio::spawn(async move { rest.post(&path, body).await })
}

#[tokio::test]
async fn rpc_ids_count_per_device_and_replies_are_matched_by_device_and_id() {
    let emulator = start().await;
    let rest = std::sync::Arc::new(Rest::tenant(&emulator).await);
    let mut gw = Client::connect(&emulator, Protocol::V5, GATEWAY_TOKEN).await;
    for device in ["R1", "R2"] {
        gw.publish(
            "v1/gateway/connect",
            json!({"device": device}).to_string(),
            1,
        )
        .await;
        assert_eq!(gw.puback().await, "Success");
    }
    let (r1, r2) = (rest.device_id("R1").await, rest.device_id("R2").await);
    let call1 = twoway(&rest, &r1, "toggle", 5000);
    let (_, first) = gw.message().await;
    let call2 = twoway(&rest, &r2, "toggle", 5000);
    let (_, second) = gw.message().await;
    assert_eq!(
        first,
        json!({"device": "R1", "data": {"id": 0, "method": "toggle", "params": {"pin": 1}}})
    );
    assert_eq!(
        second,
        json!({"device": "R2", "data": {"id": 0, "method": "toggle", "params": {"pin": 1}}})
    );

    // Answer R2 first; each reply reaches its own caller.
    gw.publish(
        "v1/gateway/rpc",
        r#"{"device":"R2","id":0,"data":{"who":"R2"}}"#,
        1,
    )
    .await;
    assert_eq!(gw.puback().await, "Success");
    gw.publish("v1/gateway/rpc", r#"{"device":"R1","id":0,"data":"ok"}"#, 1)
        .await;
    assert_eq!(gw.puback().await, "Success");
    assert_eq!(
        call2.await.expect("call 2"),
        (StatusCode::OK, json!({"who": "R2"}))
    );
    assert_eq!(call1.await.expect("call 1"), (StatusCode::OK, json!("ok")));

    // A stale id is acknowledged and ignored, and reported.
    gw.publish("v1/gateway/rpc", r#"{"device":"R1","id":0,"data":{}}"#, 1)
        .await;
    assert_eq!(gw.puback().await, "Success");
    assert!(
        emulator
            .violations()
            .iter()
            .any(|v| v.problem.contains("matches no outstanding request"))
    );

    // The next RPC to R1 has id 1; a one-way RPC answers 200 with an empty body once sent.
    let oneway = {
        let rest = rest.clone();
        let path = format!("/api/rpc/oneway/{r1}");
        tokio::spawn(async move {
            rest.post(&path, json!({"method": "blink", "params": {}}))
                .await
        })
    };
    let (_, request) = gw.message().await;
    assert_eq!(request["data"]["id"], 1);
    assert_eq!(
        oneway.await.expect("one-way"),
        (StatusCode::OK, Value::Null)
    );
}

#[tokio::test]
async fn rpc_to_an_offline_device_waits_and_is_delivered_when_it_connects() {
    let emulator = start().await;
    let rest = std::sync::Arc::new(Rest::tenant(&emulator).await);
    let mut gw = Client::connect(&emulator, Protocol::V5, GATEWAY_TOKEN).await;
    gw.publish("v1/gateway/connect", r#"{"device":"P1"}"#, 1)
        .await;
    assert_eq!(gw.puback().await, "Success");
    gw.publish("v1/gateway/disconnect", r#"{"device":"P1"}"#, 1)
        .await;
    assert_eq!(gw.puback().await, "Success");
    let id = rest.device_id("P1").await;
    let now = emulator.with_core(|core| core.now());

    // Past its expiration time, an RPC that never reached the device is 504.
    let body = json!({"method": "m", "params": {}, "expirationTime": now + 300});
    let (status, _) = rest.post(&format!("/api/rpc/twoway/{id}"), body).await;
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT);
    let (status, _) = rest
        .post(
            "/api/rpc/twoway/00000000-0000-0000-0000-000000000001",
            json!({"method": "m", "params": {}}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // A pending RPC is delivered when the gateway connects the device again.
    let call = twoway(&rest, &id, "late", 5000);
    while !emulator.with_core(|core| {
        !core
            .rpc
            .to_send(uuid::Uuid::parse_str(&id).unwrap_or_default(), now)
            .is_empty()
    }) {
        tokio::task::yield_now().await;
    }
    gw.publish("v1/gateway/connect", r#"{"device":"P1"}"#, 1)
        .await;
    let (_, request) = gw.message().await;
    assert_eq!(request["data"]["method"], "late");
    let reply = json!({"device": "P1", "id": request["data"]["id"], "data": {"done": true}});
    gw.publish("v1/gateway/rpc", reply.to_string(), 1).await;
    assert_eq!(
        call.await.expect("call"),
        (StatusCode::OK, json!({"done": true}))
    );
}

#[tokio::test]
async fn claiming_answers_failure_success_then_claimed() {
    let emulator = start().await;
    let rest = Rest::tenant(&emulator).await;
    let customer = Rest::login(&emulator, "customer@thingsboard.org", "customer").await;
    let mut gw = Client::connect(&emulator, Protocol::V311, GATEWAY_TOKEN).await;
    gw.publish(
        "v1/gateway/claim",
        r#"{"C1": {"secretKey": "s3cret", "durationMs": 60000}, "C2": {}}"#,
        1,
    )
    .await;
    assert_eq!(gw.puback().await, "Success");
    rest.device("C1").await;
    let path = format!("/api/customer/device/{}/claim", urlencode("C1"));
    assert_eq!(
        customer.post(&path, json!({"secretKey": "wrong"})).await,
        (StatusCode::BAD_REQUEST, json!("FAILURE"))
    );
    // A failed attempt evicts the registration: the right key now fails too.
    assert_eq!(
        customer.post(&path, json!({"secretKey": "s3cret"})).await,
        (StatusCode::BAD_REQUEST, json!("FAILURE"))
    );
    gw.publish("v1/gateway/claim", r#"{"C1": {"secretKey": "s3cret"}}"#, 1)
        .await;
    assert_eq!(gw.puback().await, "Success");
    let unclaimed = rest.device("C1").await;
    let (status, body) = customer.post(&path, json!({"secretKey": "s3cret"})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["response"], "SUCCESS");
    // Claiming saves the device: optimistic locking's version moves on.
    let claimed = rest.device("C1").await;
    assert_eq!(
        claimed["version"],
        json!(unclaimed["version"].as_i64().unwrap() + 1)
    );
    assert_ne!(
        body["device"]["customerId"]["id"],
        "13814000-1dd2-11b2-8080-808080808080"
    );
    assert_eq!(
        customer.post(&path, json!({"secretKey": "s3cret"})).await,
        (StatusCode::BAD_REQUEST, json!("CLAIMED"))
    );
    // `{}` registers the empty key with the default duration.
    let c2 = format!("/api/customer/device/{}/claim", urlencode("C2"));
    assert_eq!(customer.post(&c2, json!({})).await.1["response"], "SUCCESS");
}

#[tokio::test]
async fn errors_are_answered_as_thingsboard_does_on_each_protocol_version() {
    let emulator = start().await;
    // MQTT 5: invalid JSON is PUBACK 0x99 and the connection stays.
    let mut v5 = Client::connect(&emulator, Protocol::V5, GATEWAY_TOKEN).await;
    v5.publish("v1/gateway/telemetry", r#"{"D":[{"a":}]}"#, 1)
        .await;
    assert_eq!(v5.puback().await, "PayloadFormatInvalid");
    v5.publish("v1/gateway/foo", "{}", 1).await;
    assert_eq!(v5.puback().await, "TopicNameInvalid");
    // A valid JSON that is not an object: PUBACK 0x83, then DISCONNECT 0x83.
    v5.publish("v1/gateway/connect", "[1]", 1).await;
    assert_eq!(v5.puback().await, "ImplementationSpecificError");
    assert_eq!(
        v5.next("DISCONNECT").await,
        Seen::Disconnect("ImplementationSpecificError".into())
    );

    // MQTT 3.1.1: invalid JSON closes without a PUBACK.
    let mut v3 = Client::connect(&emulator, Protocol::V311, GATEWAY_TOKEN).await;
    v3.publish("v1/gateway/telemetry", r#"{"D":[{"a":}]}"#, 1)
        .await;
    assert!(
        matches!(v3.next("the close").await, Seen::Closed(_)),
        "{:?}",
        v3.seen
    );
    // A missing field: a plain PUBACK, then the close.
    let mut v3 = Client::connect(&emulator, Protocol::V311, GATEWAY_TOKEN).await;
    v3.publish("v1/gateway/connect", r#"{"type":"x"}"#, 1).await;
    assert_eq!(v3.puback().await, "Success");
    assert!(
        matches!(v3.next("the close").await, Seen::Closed(_)),
        "{:?}",
        v3.seen
    );
    let logged = emulator.violations();
    assert!(
        logged
            .iter()
            .any(|v| v.topic == "v1/gateway/connect" && v.problem.contains("`device`")),
        "{logged:?}"
    );
}

#[tokio::test]
async fn subscriptions_are_granted_only_for_thingsboard_filters() {
    let emulator = start().await;
    for (protocol, refused) in [
        (Protocol::V5, "TopicFilterInvalid"),
        (Protocol::V311, "Failure"),
    ] {
        let mut gw = Client::connect(&emulator, protocol, GATEWAY_TOKEN).await;
        gw.subscribe("v1/gateway/rpc", 2).await;
        let granted = gw.until("SUBACK", |s| matches!(s, Seen::SubAck(_))).await;

        assert_eq!(
            granted,
            Seen::SubAck(vec!["Success(AtLeastOnce)".into()]),
            "QoS 2 is granted as 1"
        );
        gw.subscribe("v1/gateway/#", 1).await;
        let refused_ack = gw.until("SUBACK", |s| matches!(s, Seen::SubAck(_))).await;
        assert_eq!(refused_ack, Seen::SubAck(vec![refused.into()]));
    }
}

#[tokio::test]
async fn a_device_that_is_not_a_gateway_gets_no_answer_on_gateway_topics() {
    let emulator = start().await;
    let rest = Rest::tenant(&emulator).await;
    rest.create_device("plain", "PLAIN_TOKEN").await;
    let mut device = Client::connect(&emulator, Protocol::V5, "PLAIN_TOKEN").await;
    device
        .publish("v1/gateway/connect", r#"{"device":"X"}"#, 1)
        .await;
    device
        .publish("v1/devices/me/telemetry", r#"{"t":1}"#, 1)
        .await;
    // The first PUBACK is the telemetry's (packet id 2): the gateway publish got none.
    assert_eq!(
        device
            .until("PUBACK", |s| matches!(s, Seen::PubAck { .. }))
            .await,
        Seen::PubAck {
            pkid: 2,
            reason: "Success".into()
        }
    );
    let (status, _) = rest.get("/api/tenant/devices?deviceName=X").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_device_limit_is_0x97_and_0x83_for_attribute_requests() {
    // The gateway is device 1 of 2.
    let emulator = start_with(2).await;
    let mut gw = Client::connect(&emulator, Protocol::V5, GATEWAY_TOKEN).await;
    gw.publish("v1/gateway/connect", r#"{"device":"L1"}"#, 1)
        .await;
    assert_eq!(gw.puback().await, "Success");
    gw.publish("v1/gateway/connect", r#"{"device":"L2"}"#, 1)
        .await;
    assert_eq!(gw.puback().await, "QuotaExceeded");
    // Through REST, ThingsBoard's ThingsboardEntitiesLimitExceededResponse.
    let rest = Rest::tenant(&emulator).await;
    let (status, body) = rest
        .post("/api/device", json!({"name": "L9", "type": "default"}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["errorCode"], 41, "{body}");
    assert_eq!(body["entityType"], "DEVICE", "{body}");
    assert_eq!(body["limit"], 2, "{body}");
    gw.publish(
        "v1/gateway/attributes/request",
        r#"{"id":1,"device":"L3","client":true,"key":"k"}"#,
        1,
    )
    .await;
    assert_eq!(gw.puback().await, "ImplementationSpecificError");
    // The connection is kept.
    gw.publish("v1/gateway/connect", r#"{"device":"L1"}"#, 1)
        .await;
    assert_eq!(gw.puback().await, "Success");
}

#[tokio::test]
async fn get_session_limits_is_answered_on_the_device_rpc_topic() {
    let emulator = start().await;
    let mut gw = Client::connect(&emulator, Protocol::V5, GATEWAY_TOKEN).await;
    gw.subscribe("v1/devices/me/rpc/response/+", 1).await;
    gw.until("SUBACK", |s| matches!(s, Seen::SubAck(_))).await;
    gw.publish(
        "v1/devices/me/rpc/request/1",
        r#"{"method":"getSessionLimits","params":{"timeout":5000}}"#,
        1,
    )
    .await;
    let (topic, limits) = gw.message().await;
    assert_eq!(topic, "v1/devices/me/rpc/response/1");
    assert_eq!(limits["maxPayloadSize"], 65536);
    assert_eq!(limits["maxInflightMessages"], 100);
    assert!(
        limits["gatewayRateLimits"].is_object() && limits["rateLimits"].is_object(),
        "{limits}"
    );
}

#[tokio::test]
async fn a_packet_over_64_kib_is_disconnect_0x81() {
    let emulator = start().await;
    let mut gw = Client::connect(&emulator, Protocol::V5, GATEWAY_TOKEN).await;
    let big = format!(r#"{{"D":[{{"v":"{}"}}]}}"#, "x".repeat(70_000));
    gw.publish("v1/gateway/telemetry", big, 1).await;
    assert_eq!(
        gw.until("DISCONNECT", |s| matches!(
            s,
            Seen::Disconnect(_) | Seen::Closed(_)
        ))
        .await,
        Seen::Disconnect("MalformedPacket".into())
    );
}

#[tokio::test]
async fn rest_needs_a_token_and_a_customer_sees_only_its_devices() {
    let emulator = start().await;
    let rest = Rest::tenant(&emulator).await;
    let gateway = rest.device_id("gw1").await;
    let anonymous = reqwest::get(format!(
        "http://{}/api/device/{gateway}",
        emulator.http_addr
    ))
    .await
    .expect("request");
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let customer = Rest::login(&emulator, "customer@thingsboard.org", "customer").await;
    assert_eq!(
        customer.get(&format!("/api/device/{gateway}")).await.0,
        StatusCode::FORBIDDEN
    );
    let (status, credentials) = rest
        .get(&format!("/api/device/{gateway}/credentials"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(credentials["credentialsId"], GATEWAY_TOKEN);
}

#[tokio::test]
async fn a_bad_token_is_refused_in_the_connack() {
    let emulator = start().await;
    for (protocol, refused) in [
        (Protocol::V5, "BadUserNamePassword"),
        (Protocol::V311, "NotAuthorized"),
    ] {
        let mut client = Client::open(&emulator, protocol, "NOT_A_TOKEN").await;
        let seen = client.next("the refusal").await;
        assert!(
            matches!(&seen, Seen::ConnAck(code) | Seen::Closed(code) if code.contains(refused)),
            "{protocol:?}: {seen:?}"
        );
    }
}

#[tokio::test]
async fn qos_0_success_is_silent_and_qos_0_invalid_json_is_disconnect_0x99_on_mqtt_5() {
    let emulator = start().await;
    let rest = Rest::tenant(&emulator).await;
    let mut gw = Client::connect(&emulator, Protocol::V5, GATEWAY_TOKEN).await;
    gw.publish("v1/gateway/connect", r#"{"device":"Q0"}"#, 0)
        .await;
    gw.subscribe("v1/gateway/rpc", 1).await;
    // The SUBACK is the next packet: the QoS 0 connect got no PUBACK.
    assert!(
        matches!(gw.next("SUBACK").await, Seen::SubAck(_)),
        "{:?}",
        gw.seen
    );
    rest.device("Q0").await;
    gw.publish("v1/gateway/telemetry", r#"{"Q0":[{"a":}]}"#, 0)
        .await;
    assert_eq!(
        gw.next("DISCONNECT").await,
        Seen::Disconnect("PayloadFormatInvalid".into())
    );
}

#[tokio::test]
async fn a_second_session_of_the_gateway_takes_over_the_first_with_0x8e() {
    let emulator = start().await;
    let mut first = Client::connect(&emulator, Protocol::V5, GATEWAY_TOKEN).await;
    let _second = Client::connect(&emulator, Protocol::V5, GATEWAY_TOKEN).await;
    assert_eq!(
        first.next("DISCONNECT").await,
        Seen::Disconnect("SessionTakenOver".into())
    );
}

#[tokio::test]
async fn deleting_a_sub_device_tells_its_gateway_over_the_device_rpc_topic() {
    let emulator = start().await;
    let rest = Rest::tenant(&emulator).await;
    let mut gw = Client::connect(&emulator, Protocol::V5, GATEWAY_TOKEN).await;
    gw.subscribe("v1/devices/me/rpc/request/+", 1).await;
    gw.until("SUBACK", |s| matches!(s, Seen::SubAck(_))).await;
    gw.publish("v1/gateway/connect", r#"{"device":"Doomed"}"#, 1)
        .await;
    assert_eq!(gw.puback().await, "Success");
    let id = rest.device_id("Doomed").await;
    assert_eq!(
        rest.delete(&format!("/api/device/{id}")).await.0,
        StatusCode::OK
    );
    let (topic, notice) = gw.message().await;
    assert_eq!(topic, "v1/devices/me/rpc/request/0");
    assert_eq!(
        notice,
        json!({"method": "gateway_device_deleted", "params": "Doomed"})
    );
    // The next message naming it creates a new device.
    gw.publish("v1/gateway/telemetry", r#"{"Doomed":[{"t":1}]}"#, 1)
        .await;
    assert_eq!(gw.puback().await, "Success");
    assert_ne!(rest.device_id("Doomed").await, id);
}

/// An MQTT 3.1.1 CONNECT as bytes: clean session, keep-alive 60 s, client id "e", `token` as
/// the username.
fn raw_connect_v311(token: &str) -> Vec<u8> {
    let token = token.as_bytes();
    let mut connect = vec![0x10, (10 + 2 + 1 + 2 + token.len()) as u8, 0, 4];
    connect.extend_from_slice(b"MQTT");
    connect.extend_from_slice(&[4, 0x82, 0, 60, 0, 1, b'e', 0, token.len() as u8]);
    connect.extend_from_slice(token);
    connect
}

#[tokio::test]
async fn packets_sent_before_the_connect_are_handled_after_it() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let emulator = start().await;
    let mut stream = tokio::net::TcpStream::connect(emulator.mqtt_addr)
        .await
        .expect("connect");
    // PUBLISH QoS 1, packet id 5, on v1/gateway/connect, sent before the CONNECT (MQTT 3.1.1).
    let topic = b"v1/gateway/connect";
    let payload = br#"{"device":"Early"}"#;
    let mut publish = vec![
        0x32,
        (2 + topic.len() + 2 + payload.len()) as u8,
        0,
        topic.len() as u8,
    ];
    publish.extend_from_slice(topic);
    publish.extend_from_slice(&[0, 5]);
    publish.extend_from_slice(payload);
    let connect = raw_connect_v311(GATEWAY_TOKEN);
    stream
        .write_all(&[publish, connect].concat())
        .await
        .expect("write");
    let mut answer = [0u8; 8];
    tokio::time::timeout(support::emulator::DEADLINE, stream.read_exact(&mut answer))
        .await
        .expect("an answer within the deadline")
        .expect("read");
    // CONNACK accepted, then the queued publish's PUBACK for packet id 5.
    assert_eq!(answer, [0x20, 0x02, 0x00, 0x00, 0x40, 0x02, 0x00, 0x05]);
}

#[tokio::test]
async fn unsubscribe_of_a_filter_never_held_is_0x11_even_for_a_refused_wildcard() {
    let emulator = start().await;
    let mut gw = Client::connect(&emulator, Protocol::V5, GATEWAY_TOKEN).await;
    gw.subscribe("v1/gateway/attributes", 1).await;
    gw.until("SUBACK", |s| matches!(s, Seen::SubAck(_))).await;
    for (filter, expected) in [
        ("v1/gateway/attributes", "Success"),
        ("v1/gateway/attributes", "NoSubscriptionExisted"),
        ("v1/gateway/#", "NoSubscriptionExisted"),
        ("not/a/gateway/topic", "NoSubscriptionExisted"),
    ] {
        gw.unsubscribe(filter).await;
        let ack = gw
            .until("UNSUBACK", |s| matches!(s, Seen::UnsubAck(_)))
            .await;
        assert_eq!(ack, Seen::UnsubAck(vec![expected.into()]), "{filter}");
    }
}

#[tokio::test]
async fn new_credentials_end_the_gateways_session_with_0x98() {
    let emulator = start().await;
    let rest = Rest::tenant(&emulator).await;
    let gateway = rest.device_id("gw1").await;
    let mut gw = Client::connect(&emulator, Protocol::V5, GATEWAY_TOKEN).await;
    let body = json!({"deviceId": {"entityType": "DEVICE", "id": gateway}, "credentialsType": "ACCESS_TOKEN", "credentialsId": "NEW_TOKEN"});
    assert_eq!(
        rest.post("/api/device/credentials", body).await.0,
        StatusCode::OK
    );
    assert_eq!(
        gw.next("DISCONNECT").await,
        Seen::Disconnect("AdministrativeAction".into())
    );
    Client::connect(&emulator, Protocol::V311, "NEW_TOKEN").await;
}

#[tokio::test]
async fn a_sub_devices_new_credentials_drop_it_from_its_gateway_until_named_again() {
    let (_emulator, rest, mut gw, id) = gateway_with_device("Sub").await;
    let body = json!({"deviceId": {"entityType": "DEVICE", "id": id}, "credentialsType": "ACCESS_TOKEN", "credentialsId": "SUB_TOKEN_2"});
    assert_eq!(
        rest.post("/api/device/credentials", body).await.0,
        StatusCode::OK
    );
    let shared = format!("/api/plugins/telemetry/DEVICE/{id}/attributes/SHARED_SCOPE");
    rest.post(&shared, json!({"missed": 1})).await;
    // The gateway's connection lives on; naming the device again brings its pushes back.
    gw.publish("v1/gateway/telemetry", r#"{"Sub":[{"t":1}]}"#, 1)
        .await;
    assert_eq!(gw.puback().await, "Success");
    rest.post(&shared, json!({"seen": 2})).await;
    let (_, update) = gw.message().await;
    assert_eq!(update, json!({"device": "Sub", "data": {"seen": 2}}));
    let missed = gw.publishes_containing("missed");
    assert!(missed.is_empty(), "{missed:?}");
}

#[tokio::test]
async fn an_empty_key_list_returns_every_client_and_shared_attribute() {
    let emulator = start().await;
    let rest = Rest::tenant(&emulator).await;
    let mut gw = Client::connect(&emulator, Protocol::V5, GATEWAY_TOKEN).await;
    gw.publish("v1/gateway/attributes", r#"{"E":{"c1":1,"c2":"two"}}"#, 1)
        .await;
    assert_eq!(gw.puback().await, "Success");
    let id = rest.device_id("E").await;
    rest.post(
        &format!("/api/plugins/telemetry/DEVICE/{id}/attributes/SHARED_SCOPE"),
        json!({"s1": true, "s2": 2.5}),
    )
    .await;
    // The shared update is pushed first; skip it.
    gw.message().await;
    gw.publish(
        "v1/gateway/attributes/request",
        r#"{"id":7,"device":"E","client":true,"keys":[]}"#,
        1,
    )
    .await;
    assert_eq!(gw.puback().await, "Success");
    let (_, response) = gw.message().await;
    assert_eq!(
        response,
        json!({"id": 7, "device": "E", "values": {"c1": 1, "c2": "two", "s1": true, "s2": 2.5}})
    );
}

#[tokio::test]
async fn devices_a_gateway_creates_belong_to_the_gateways_customer() {
    let emulator = start().await;
    let rest = Rest::tenant(&emulator).await;
    let gateway = rest.device_id("gw1").await;
    let (_, customers) = rest.get("/api/customers?pageSize=10&page=0").await;
    let customer = customers["data"][0]["id"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let (status, _) = rest
        .post(
            &format!("/api/customer/{customer}/device/{gateway}"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let mut gw = Client::connect(&emulator, Protocol::V5, GATEWAY_TOKEN).await;
    gw.publish("v1/gateway/connect", r#"{"device":"Owned"}"#, 1)
        .await;
    assert_eq!(gw.puback().await, "Success");
    assert_eq!(
        rest.device("Owned").await["customerId"]["id"],
        customer.as_str()
    );
    // An owned device cannot be claimed.
    gw.publish("v1/gateway/claim", r#"{"Owned":{"secretKey":"k"}}"#, 1)
        .await;
    assert_eq!(gw.puback().await, "Success");
    let other = Rest::login(&emulator, "customerB@thingsboard.org", "customer").await;
    let (status, body) = other
        .post(
            "/api/customer/device/Owned/claim",
            json!({"secretKey": "k"}),
        )
        .await;
    assert_eq!((status, body), (StatusCode::BAD_REQUEST, json!("CLAIMED")));
}

#[tokio::test]
async fn a_renamed_sub_device_keeps_its_old_name_in_its_gateways_session() {
    for protocol in BOTH {
        let emulator = start().await;
        let rest = Rest::tenant(&emulator).await;
        let mut gw = Client::connect(&emulator, protocol, GATEWAY_TOKEN).await;
        gw.publish("v1/gateway/connect", r#"{"device":"Old"}"#, 1)
            .await;
        assert_eq!(gw.puback().await, "Success");
        let mut device = rest.device("Old").await;
        device["name"] = json!("New");
        let (status, _) = rest.post("/api/device", device.clone()).await;
        assert_eq!(status, StatusCode::OK, "{protocol:?}");
        let id = device["id"]["id"].as_str().unwrap_or_default().to_owned();
        rest.post(
            &format!("/api/plugins/telemetry/DEVICE/{id}/attributes/SHARED_SCOPE"),
            json!({"k": 1}),
        )
        .await;
        let (topic, update) = gw
            .until(
                "the shared update",
                |s| matches!(s, Seen::Publish { topic, .. } if topic == "v1/gateway/attributes"),
            )
            .await
            .into_publish();
        assert_eq!(topic, "v1/gateway/attributes");
        assert_eq!(
            update,
            json!({"device": "Old", "data": {"k": 1}}),
            "{protocol:?}"
        );
        // Data under the old name still reaches the renamed device.
        gw.publish("v1/gateway/telemetry", r#"{"Old":[{"t":5}]}"#, 1)
            .await;
        assert_eq!(gw.puback().await, "Success");
        let (_, values) = rest.get(&telemetry_path(&id, "keys=t")).await;
        // Without useStrictDataTypes ThingsBoard answers values as strings.
        assert_eq!(
            values["t"][0]["value"],
            json!("5"),
            "{protocol:?}: {values}"
        );
        let (status, _) = rest.get("/api/tenant/devices?deviceName=Old").await;
        assert_eq!(
            status,
            StatusCode::NOT_FOUND,
            "no device was created under the old name"
        );
    }
}

#[tokio::test]
async fn a_second_connect_on_one_connection_is_answered_again() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let emulator = start().await;
    let mut stream = tokio::net::TcpStream::connect(emulator.mqtt_addr)
        .await
        .expect("connect");
    // MQTT 3.1.1 CONNECT, clean session, client id "e", the gateway's token; then the same
    // again, then a PINGREQ: ThingsBoard answers both CONNECTs and keeps the connection.
    let connect = raw_connect_v311(GATEWAY_TOKEN);
    stream
        .write_all(&[connect.clone(), connect, vec![0xC0, 0x00]].concat())
        .await
        .expect("write");
    let mut answer = [0u8; 10];
    tokio::time::timeout(support::emulator::DEADLINE, stream.read_exact(&mut answer))
        .await
        .expect("an answer within the deadline")
        .expect("read");
    // CONNACK accepted, CONNACK accepted, PINGRESP.
    assert_eq!(
        answer,
        [0x20, 0x02, 0x00, 0x00, 0x20, 0x02, 0x00, 0x00, 0xD0, 0x00]
    );
    let violations = emulator.violations();
    assert!(
        violations
            .iter()
            .any(|v| v.problem.contains("second CONNECT")),
        "{violations:?}"
    );
}

#[tokio::test]
async fn a_gateway_that_stops_reading_is_closed_at_1000_queued_messages_with_a_violation() {
    use tokio::io::AsyncWriteExt;
    let emulator = start().await;
    let mut violations = emulator.watch_violations();
    let mut traffic = emulator.watch_traffic();
    let mut stream = tokio::net::TcpStream::connect(emulator.mqtt_addr)
        .await
        .expect("connect");
    // CONNECT, then SUBSCRIBE to the gateway's own shared attributes; then it never reads.
    let topic = b"v1/devices/me/attributes";
    let mut subscribe = vec![0x82, (2 + 2 + topic.len() + 1) as u8, 0, 1, 0];
    subscribe.push(topic.len() as u8);
    subscribe.extend_from_slice(topic);
    subscribe.push(1);
    let connect = raw_connect_v311(GATEWAY_TOKEN);
    stream
        .write_all(&[connect, subscribe].concat())
        .await
        .expect("write");
    let rest = Rest::tenant(&emulator).await;
    let id = rest.device_id("gw1").await;
    let path = format!("/api/plugins/telemetry/DEVICE/{id}/attributes/SHARED_SCOPE");
    // 8 KB a message: the socket's buffers fill after some hundreds, then the queue grows.
    let value = "x".repeat(8 * 1024);
    let mut found = None;
    for n in 0..20_000 {
        let (status, _) = rest.post(&path, json!({ "big": value, "n": n })).await;
        assert!(status.is_success(), "{status}");
        while let Ok(violation) = violations.try_recv() {
            if violation.problem.contains("stopped reading") {
                found = Some(violation);
            }
        }
        if found.is_some() {
            break;
        }
    }
    let violation = found.expect("the stuck gateway was never dropped");
    assert_eq!(
        violation.problem,
        "the gateway stopped reading its socket: 1000 messages queued"
    );
    assert_eq!(violation.answer, "connection closed");
    // Observers (check-gateway's passive check `passive/reads-its-socket`) are told too.
    let mut told = None;
    while let Ok(event) = traffic.try_recv() {
        if let Traffic::StoppedReading { queued, .. } = event {
            told = Some(queued);
        }
    }
    assert_eq!(
        told,
        Some(1000),
        "no StoppedReading event reached the observers"
    );
    // The server goes on: nothing more is queued for it, and a new session works.
    let (status, _) = rest.post(&path, json!({ "after": true })).await;
    assert!(status.is_success(), "{status}");
    let mut gw = Client::connect(&emulator, Protocol::V311, GATEWAY_TOKEN).await;
    gw.publish("v1/gateway/connect", r#"{"device":"Fresh"}"#, 1)
        .await;
    assert_eq!(gw.puback().await, "Success");
    drop(stream);
}
