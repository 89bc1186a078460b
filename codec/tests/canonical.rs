//! The canonical wire text of every message kind, kept as reviewed snapshots
//! (`snapshots/codec/canonical/`), and each one decoding back to the same message.

mod support;

use tbgw_codec::*;

fn object(members: &[(&str, Json)]) -> Object {
    members.iter().map(|(k, v)| (*k, v.clone())).collect()
}

fn number(text: &str) -> Json {
    Json::Number(Number::parse(text).expect("a JSON number"))
}

/// One message of every kind and form, as a gateway or ThingsBoard would send it.
fn examples() -> Vec<(&'static str, Message)> {
    vec![
        (
            "connect",
            Message::Connect(Connect {
                device: "Device A".into(),
                device_type: None,
            }),
        ),
        (
            "connect-with-type",
            Message::Connect(Connect {
                device: "Device A".into(),
                device_type: Some("Sensor A".into()),
            }),
        ),
        (
            "disconnect",
            Message::Disconnect(Disconnect {
                device: "Device A".into(),
            }),
        ),
        (
            "telemetry",
            Message::Telemetry(Telemetry {
                devices: vec![
                    DeviceTelemetry {
                        device: "Device A".into(),
                        entries: vec![
                            TelemetryEntry {
                                ts: Some(1483228800000),
                                values: object(&[
                                    ("temperature", number("42")),
                                    ("humidity", number("80.5")),
                                ]),
                                metadata: None,
                            },
                            TelemetryEntry {
                                ts: None,
                                values: object(&[("on", Json::Bool(true))]),
                                metadata: None,
                            },
                        ],
                    },
                    DeviceTelemetry {
                        device: "Device B".into(),
                        entries: vec![TelemetryEntry {
                            ts: Some(1483228800000),
                            values: object(&[(
                                "config",
                                Json::Object(object(&[("mode", "auto".into())])),
                            )]),
                            metadata: Some(Metadata {
                                connector: "MQTT Broker Connector".into(),
                                received_ts: 1483228799990,
                                published_ts: 1483228799995,
                            }),
                        }],
                    },
                ],
            }),
        ),
        (
            "client-attributes",
            Message::ClientAttributes(ClientAttributes {
                devices: vec![DeviceAttributes {
                    device: "Device A".into(),
                    values: object(&[("fw_version", "v1.0".into()), ("battery", number("87"))]),
                }],
            }),
        ),
        (
            "attribute-request-key",
            Message::AttributeRequest(AttributeRequest::Server(ServerAttributeRequest {
                id: 1,
                device: "Device A".into(),
                client: false,
                keys: RequestedKeys::Key("targetTemperature".into()),
            })),
        ),
        (
            "attribute-request-keys",
            Message::AttributeRequest(AttributeRequest::Server(ServerAttributeRequest {
                id: 2,
                device: "Device A".into(),
                client: true,
                keys: RequestedKeys::Keys(vec!["firmware".into(), "serial".into()]),
            })),
        ),
        (
            "attribute-request-doc-form",
            Message::AttributeRequest(AttributeRequest::Doc(DocAttributeRequest {
                id: 3,
                device: "Device A".into(),
                client: Some(vec!["key1".into(), "key2".into()]),
                shared: Some(vec!["key3".into()]),
            })),
        ),
        (
            "rpc-reply",
            Message::RpcResponse(RpcResponse {
                device: "Device A".into(),
                id: 0,
                data: Json::Object(object(&[("success", Json::Bool(true))])),
            }),
        ),
        (
            "claim",
            Message::Claim(Claim {
                devices: vec![
                    DeviceClaim {
                        device: "Device A".into(),
                        secret_key: Some("value_A".into()),
                        duration_ms: Some(60000),
                    },
                    DeviceClaim {
                        device: "Device B".into(),
                        secret_key: None,
                        duration_ms: None,
                    },
                ],
            }),
        ),
        (
            "attribute-response-value",
            Message::AttributeResponse(AttributeResponse {
                id: 1,
                device: "Device A".into(),
                values: ResponseValues::Value(number("23.0")),
            }),
        ),
        (
            "attribute-response-values",
            Message::AttributeResponse(AttributeResponse {
                id: 2,
                device: "Device A".into(),
                values: ResponseValues::Values(object(&[
                    ("firmware", "1.2.3".into()),
                    ("serial", "SN-1".into()),
                ])),
            }),
        ),
        (
            "attribute-response-nothing",
            Message::AttributeResponse(AttributeResponse {
                id: 3,
                device: "Device A".into(),
                values: ResponseValues::Nothing,
            }),
        ),
        (
            "shared-attribute-update",
            Message::AttributeUpdate(AttributeUpdate {
                device: "Device A".into(),
                change: AttributeChange::Updated(object(&[("targetTemperature", number("23.0"))])),
            }),
        ),
        (
            "shared-attribute-deletion",
            Message::AttributeUpdate(AttributeUpdate {
                device: "Device A".into(),
                change: AttributeChange::Deleted(vec!["targetTemperature".into()]),
            }),
        ),
        (
            "rpc-request",
            Message::RpcRequest(RpcRequest {
                device: "Device A".into(),
                id: 0,
                method: "toggle_gpio".into(),
                params: Json::Object(object(&[("pin", number("1"))])),
            }),
        ),
        (
            "device-disconnected",
            Message::DeviceDisconnected(DeviceDisconnected {
                device: "Device A".into(),
                reason: ReasonCode::MESSAGE_RATE_TOO_HIGH,
            }),
        ),
    ]
}

#[test]
fn every_message_kind_has_a_reviewed_canonical_text() {
    let names: Vec<&str> = examples().iter().map(|(name, _)| *name).collect();
    support::assert_no_orphan_snapshots("codec/canonical", &names);
    for (name, message) in examples() {
        let wire = message.encode();
        let snapshot = format!("{} ({})\n{wire}", message.topic(), message.direction());
        insta::with_settings!({
            snapshot_path => support::snapshot_dir("codec/canonical"),
            prepend_module_to_snapshot => false,
            omit_expression => true,
        }, {
            insta::assert_snapshot!(name, snapshot);
        });
    }
}

#[test]
fn canonical_text_decodes_to_the_same_message_and_encodes_to_the_same_bytes() {
    for (name, message) in examples() {
        let wire = encode(&message);
        let decoded = decode(message.topic(), message.direction(), &wire, Mode::Strict)
            .unwrap_or_else(|e| panic!("{name}: {}", e.render()));
        assert_eq!(decoded.message, message, "{name}");
        assert!(
            decoded.leniencies.is_empty(),
            "{name}: {:?}",
            decoded.leniencies
        );
        assert_eq!(encode(&decoded.message), wire, "{name}");
    }
}

#[test]
fn every_topic_and_direction_has_an_example() {
    let covered: Vec<(Topic, Direction)> = examples()
        .iter()
        .map(|(_, m)| (m.topic(), m.direction()))
        .collect();
    for topic in Topic::ALL {
        for direction in topic.directions() {
            assert!(
                covered.contains(&(topic, direction)),
                "no canonical example for {topic} ({direction})"
            );
        }
    }
}
