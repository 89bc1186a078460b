//! Every JSON example of the public gateway API doc (`reference/gateway-api-doc.md`)
//! decodes; `$request_id` placeholders are replaced by a number.

use tbgw_codec::*;

const G2P: Direction = Direction::GatewayToPlatform;
const P2G: Direction = Direction::PlatformToGateway;

/// (doc section, topic, direction, example as printed in the doc)
const EXAMPLES: &[(&str, Topic, Direction, &str)] = &[
    (
        "Device connect API: payload",
        Topic::Connect,
        G2P,
        r#"{"device": "Device A", "type": "Sensor A"}"#,
    ),
    (
        "Device connect API: example 1",
        Topic::Connect,
        G2P,
        r#"{"device": "Device A"}"#,
    ),
    (
        "Device disconnect API",
        Topic::Disconnect,
        G2P,
        r#"{"device": "Device A"}"#,
    ),
    (
        "Publish attribute to ThingsBoard: payload",
        Topic::Attributes,
        G2P,
        r#"{
  "Device A": {
    "attribute1": "value1",
    "attribute2": 42
  },
  "Device B": {
    "attribute1": "value1",
    "attribute2": 42
  }
}"#,
    ),
    (
        "Publish attribute to ThingsBoard: example",
        Topic::Attributes,
        G2P,
        r#"{"Device A": { "fw_version": "1.0", "battery": 87 }}"#,
    ),
    (
        "Request attribute values from ThingsBoard",
        Topic::AttributesRequest,
        G2P,
        r#"{
  "id": $request_id,
  "device": "Device A",
  "client": ["key1", "key2"],
  "shared": ["key3", "key4"]
}"#,
    ),
    (
        "Subscribe to attribute updates from ThingsBoard",
        Topic::Attributes,
        P2G,
        r#"{
  "device": "Device A",
  "data": {
    "attribute1": "value1",
    "attribute2": 42
  }
}"#,
    ),
    (
        "Telemetry upload API: payload",
        Topic::Telemetry,
        G2P,
        r#"{
  "Device A": [
    {
      "ts": 1483228800000,
      "values": {
        "temperature": 42,
        "humidity": 80
      }
    },
    {
      "ts": 1483228801000,
      "values": {
        "temperature": 43,
        "humidity": 82
      }
    }
  ],
  "Device B": [
    {
      "ts": 1483228800000,
      "values": {
        "temperature": 42,
        "humidity": 80
      }
    }
  ]
}"#,
    ),
    (
        "Telemetry upload API: example",
        Topic::Telemetry,
        G2P,
        r#"{"Device A": [{"ts": 1700000000000, "values": {"temperature": 23.5, "humidity": 61 }}]}"#,
    ),
    (
        "Server-side RPC: request",
        Topic::Rpc,
        P2G,
        r#"{"device": "Device A", "data": {"id": $request_id, "method": "toggle_gpio", "params": {"pin": 1}}}"#,
    ),
    (
        "Server-side RPC: response",
        Topic::Rpc,
        G2P,
        r#"{"device": "Device A", "id": $request_id, "data": {"success": true}}"#,
    ),
    (
        "Claiming devices API: payload",
        Topic::Claim,
        G2P,
        r#"{
  "Device A": {
    "secretKey": "value_A",
    "durationMs": 60000
  },
  "Device B": {
    "secretKey": "value_B",
    "durationMs": 60000
  }
}"#,
    ),
    (
        "Claiming devices API: example",
        Topic::Claim,
        G2P,
        r#"{"Device A": {"secretKey": "mySecret", "durationMs": 60000}}"#,
    ),
];

fn payload(example: &str) -> Vec<u8> {
    example.replace("$request_id", "42").into_bytes()
}

#[test]
fn every_doc_example_decodes_in_strict_mode() {
    for (section, topic, direction, example) in EXAMPLES {
        let decoded = decode(*topic, *direction, &payload(example), Mode::Strict);
        assert!(
            decoded.is_ok(),
            "{section}: {}",
            decoded.unwrap_err().render()
        );
    }
}

#[test]
fn every_doc_example_but_the_array_form_request_decodes_in_thingsboard_mode() {
    for (section, topic, direction, example) in EXAMPLES {
        if *topic == Topic::AttributesRequest {
            continue;
        }
        let decoded = decode(*topic, *direction, &payload(example), Mode::ThingsBoard);
        assert!(
            decoded.is_ok(),
            "{section}: {}",
            decoded.unwrap_err().render()
        );
    }
}

#[test]
fn the_docs_array_form_attribute_request_is_rejected_by_thingsboard_with_0x83() {
    let (_, topic, direction, example) = EXAMPLES
        .iter()
        .find(|(_, topic, ..)| *topic == Topic::AttributesRequest)
        .expect("the doc has a request example");
    let strict = decode(*topic, *direction, &payload(example), Mode::Strict)
        .expect("strict mode reads the doc's form");
    assert!(matches!(
        strict.message,
        Message::AttributeRequest(AttributeRequest::Doc(_))
    ));

    let error = decode(*topic, *direction, &payload(example), Mode::ThingsBoard).unwrap_err();
    assert_eq!(
        error.reason_code(),
        Some(ReasonCode::IMPLEMENTATION_SPECIFIC_ERROR)
    );
    assert_eq!(error.thingsboard, TbAnswer::HandlerFailed);
    assert_eq!(error.path.to_string(), "$.client");
    assert!(
        error.hint.is_some_and(|h| h.contains("keys")),
        "{}",
        error.render()
    );
}

#[test]
fn the_docs_fw_version_example_is_stored_as_a_double_by_thingsboard() {
    // The doc's own example sends "1.0" as a string; ThingsBoard's type cast stores 1.0.
    let example = r#"{"Device A": { "fw_version": "1.0", "battery": 87 }}"#;
    let decoded = decode(Topic::Attributes, G2P, example.as_bytes(), Mode::Strict).unwrap();
    let [note] = decoded.leniencies.as_slice() else {
        panic!("{:?}", decoded.leniencies)
    };
    assert_eq!(
        note.kind,
        LeniencyKind::StringTypedAsNumber {
            key: "fw_version".into(),
            stored: TbValue::Double(1.0)
        }
    );
    assert_eq!(
        note.path.as_ref().map(|p| p.to_string()).as_deref(),
        Some(r#"$["Device A"].fw_version"#)
    );
}
