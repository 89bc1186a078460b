//! Properties over generated messages of every kind:
//! `decode(encode(m)) == m` in both modes, and canonical bytes re-encode to themselves.

use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use tbgw_codec::device::{device_name_problem, device_type_problem};
use tbgw_codec::*;

fn number() -> impl Strategy<Value = Number> {
    prop_oneof![
        any::<i64>().prop_map(Number::from),
        any::<f64>().prop_filter_map("finite", Number::from_f64),
        Just(i64::MIN).prop_map(Number::from),
        Just(i64::MAX).prop_map(Number::from),
        prop::sample::select(vec![
            "0",
            "-0",
            "0.0",
            "1e308",
            "-1.7976931348623157e308",
            "5e-324",
            "1E+2",
            "1.50",
            "123456789012345678901234567890",
            "0.12345678901234567",
            "1e-400",
            "9223372036854775808",
        ])
        .prop_map(|text| Number::parse(text).expect("a valid JSON number")),
    ]
}

/// Text of every kind: control characters, quotes, escapes, astral planes, long runs.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[a-zA-Z0-9 _.-]{0,12}",
        Just(String::new()),
        "\\PC{200,300}",
        Just("\"\\/\u{0}\u{1f}\u{7f}\u{2028}😀".to_owned()),
    ]
}

fn json() -> impl Strategy<Value = Json> {
    let leaf = prop_oneof![
        Just(Json::Null),
        any::<bool>().prop_map(Json::Bool),
        number().prop_map(Json::Number),
        text().prop_map(Json::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(Json::Array),
            vec((text(), inner), 0..6)
                .prop_map(|members| Json::Object(members.into_iter().collect())),
        ]
    })
}

/// Device names ThingsBoard can store: unicode, up to the 255-unit limit, never empty.
fn device_name() -> impl Strategy<Value = String> {
    prop_oneof![
        "[A-Za-z][A-Za-z0-9 _-]{0,20}",
        "\\PC{1,40}",
        "\\PC{200,255}",
        Just("x".repeat(255)),
        Just("😀".repeat(127)),
    ]
    .prop_filter("a name ThingsBoard stores", |name| {
        !name.is_empty() && device_name_problem(name).is_none()
    })
}

/// Stored values: anything but null at the top level (ThingsBoard drops it).
fn stored_value() -> impl Strategy<Value = Json> {
    json().prop_filter("not null", |v| *v != Json::Null)
}

fn values(exclude: &'static [&'static str]) -> impl Strategy<Value = Object> {
    vec((text(), stored_value()), 0..8).prop_map(move |members| {
        members
            .into_iter()
            .filter(|(k, _)| !exclude.contains(&k.as_str()))
            .collect()
    })
}

fn device_map<T: std::fmt::Debug + Clone>(
    entry: impl Strategy<Value = T>,
) -> impl Strategy<Value = Vec<(String, T)>> {
    btree_map(device_name(), entry, 1..4).prop_map(|map| map.into_iter().collect())
}

fn key_list() -> impl Strategy<Value = Vec<String>> {
    prop::collection::btree_set(text(), 0..5).prop_map(|keys| keys.into_iter().collect())
}

fn telemetry_entry() -> impl Strategy<Value = TelemetryEntry> {
    let metadata = || {
        prop::option::of((text(), any::<i64>(), any::<i64>()).prop_map(
            |(connector, received_ts, published_ts)| Metadata {
                connector,
                received_ts,
                published_ts,
            },
        ))
    };
    prop_oneof![
        (any::<i64>(), values(&[]), metadata()).prop_map(|(ts, values, metadata)| TelemetryEntry {
            ts: Some(ts),
            values,
            metadata
        }),
        // A flat element must not use the keys that make it the other form.
        (values(&["ts", "values", "metadata"]), metadata()).prop_map(|(values, metadata)| {
            TelemetryEntry {
                ts: None,
                values,
                metadata,
            }
        }),
    ]
}

fn gateway_message() -> impl Strategy<Value = Message> {
    prop_oneof![
        (
            device_name(),
            prop::option::of(
                text().prop_filter("a profile name", |t| device_type_problem(t).is_none())
            )
        )
            .prop_map(|(device, device_type)| Message::Connect(Connect {
                device,
                device_type
            })),
        device_name().prop_map(|device| Message::Disconnect(Disconnect { device })),
        device_map(vec(telemetry_entry(), 1..4)).prop_map(|devices| {
            Message::Telemetry(Telemetry {
                devices: devices
                    .into_iter()
                    .map(|(device, entries)| DeviceTelemetry { device, entries })
                    .collect(),
            })
        }),
        device_map(values(&[])).prop_map(|devices| {
            Message::ClientAttributes(ClientAttributes {
                devices: devices
                    .into_iter()
                    .map(|(device, values)| DeviceAttributes { device, values })
                    .collect(),
            })
        }),
        (
            any::<i32>(),
            device_name(),
            any::<bool>(),
            prop_oneof![
                text().prop_map(RequestedKeys::Key),
                key_list().prop_map(RequestedKeys::Keys),
            ]
        )
            .prop_map(|(id, device, client, keys)| {
                Message::AttributeRequest(AttributeRequest::Server(ServerAttributeRequest {
                    id,
                    device,
                    client,
                    keys,
                }))
            }),
        (any::<i32>(), device_name(), json())
            .prop_map(|(id, device, data)| Message::RpcResponse(RpcResponse { device, id, data })),
        device_map((prop::option::of(text()), prop::option::of(1..=i64::MAX))).prop_map(
            |devices| {
                Message::Claim(Claim {
                    devices: devices
                        .into_iter()
                        .map(|(device, (secret_key, duration_ms))| DeviceClaim {
                            device,
                            secret_key,
                            duration_ms,
                        })
                        .collect(),
                })
            }
        ),
    ]
}

fn doc_form_request() -> impl Strategy<Value = Message> {
    (
        any::<i32>(),
        device_name(),
        prop::option::of(key_list()),
        prop::option::of(key_list()),
    )
        .prop_filter("has client or shared", |(_, _, client, shared)| {
            client.is_some() || shared.is_some()
        })
        .prop_map(|(id, device, client, shared)| {
            Message::AttributeRequest(AttributeRequest::Doc(DocAttributeRequest {
                id,
                device,
                client,
                shared,
            }))
        })
}

fn platform_message() -> impl Strategy<Value = Message> {
    prop_oneof![
        (any::<i32>(), device_name(), prop_oneof![
            Just(ResponseValues::Nothing),
            json().prop_map(ResponseValues::Value),
            values(&[]).prop_map(ResponseValues::Values),
        ])
            .prop_map(|(id, device, values)| Message::AttributeResponse(AttributeResponse { id, device, values })),
        (device_name(), values(&[]))
            .prop_filter("not a deletion notice", |(_, values)| {
                !(values.len() == 1 && values.get("deleted").is_some_and(|v| matches!(v, Json::Array(items) if items.iter().all(|i| matches!(i, Json::String(_))))))
            })
            .prop_map(|(device, values)| Message::AttributeUpdate(AttributeUpdate { device, change: AttributeChange::Updated(values) })),
        (device_name(), vec(text(), 0..4))
            .prop_map(|(device, keys)| Message::AttributeUpdate(AttributeUpdate { device, change: AttributeChange::Deleted(keys) })),
        (device_name(), any::<i32>(), text(), json())
            .prop_map(|(device, id, method, params)| Message::RpcRequest(RpcRequest { device, id, method, params })),
        (device_name(), any::<u8>())
            .prop_map(|(device, reason)| Message::DeviceDisconnected(DeviceDisconnected { device, reason: ReasonCode(reason) })),
    ]
}

fn assert_round_trip(message: &Message, modes: &[Mode]) -> Result<(), TestCaseError> {
    prop_assert_eq!(
        message.strict_problem(),
        None,
        "the generator made a message without a canonical form"
    );
    let wire = encode(message);
    for &mode in modes {
        let decoded = decode(message.topic(), message.direction(), &wire, mode);
        let decoded = decoded.map_err(|e| {
            TestCaseError::fail(format!(
                "{mode}: {}\n{}",
                e.render(),
                String::from_utf8_lossy(&wire)
            ))
        })?;
        prop_assert_eq!(&decoded.message, message, "{} mode", mode);
        prop_assert!(
            decoded.leniencies.iter().all(|l| l.kind.is_typing_note()),
            "{} mode applied leniencies to canonical bytes: {:?}",
            mode,
            decoded.leniencies
        );
        prop_assert_eq!(
            encode(&decoded.message),
            wire.clone(),
            "canonical bytes changed in {} mode",
            mode
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn gateway_messages_round_trip(message in gateway_message()) {
        assert_round_trip(&message, &Mode::ALL)?;
    }

    #[test]
    fn platform_messages_round_trip(message in platform_message()) {
        assert_round_trip(&message, &Mode::ALL)?;
    }

    #[test]
    fn doc_form_requests_round_trip_in_strict_mode(message in doc_form_request()) {
        assert_round_trip(&message, &[Mode::Strict])?;
    }

    #[test]
    fn json_values_round_trip_through_text(value in json()) {
        let text = value.to_canonical();
        prop_assert_eq!(parse_json(&text), Some(value));
    }

    #[test]
    fn decoding_never_panics_on_arbitrary_bytes(
        bytes in vec(any::<u8>(), 0..256),
        topic in prop::sample::select(Topic::ALL.to_vec()),
        from_platform in any::<bool>(),
        strict in any::<bool>(),
    ) {
        let direction = if from_platform { Direction::PlatformToGateway } else { Direction::GatewayToPlatform };
        let mode = if strict { Mode::Strict } else { Mode::ThingsBoard };
        if let Ok(decoded) = decode(topic, direction, &bytes, mode) {
            let again = decode(topic, direction, &encode(&decoded.message), mode).expect("a decoded message re-encodes to a decodable payload");
            prop_assert_eq!(again.message, decoded.message);
        }
    }
}

proptest! {
    #[test]
    fn the_byte_fuzz_oracle_holds_on_generated_payloads(message in gateway_message(), strict in any::<bool>(), noise in vec(any::<u8>(), 0..4)) {
        let mode = if strict { Mode::Strict } else { Mode::ThingsBoard };
        let mut input = vec![tbgw_codec::fuzzing::selector(message.topic(), message.direction(), mode)];
        input.extend_from_slice(&encode(&message));
        tbgw_codec::fuzzing::decode_bytes(&input);
        // Damaged copies must not break the oracle either.
        let cut = input.len().saturating_sub(noise.len());
        input.truncate(cut.max(1));
        input.extend_from_slice(&noise);
        tbgw_codec::fuzzing::decode_bytes(&input);
    }
}

#[test]
fn a_message_without_canonical_form_is_named_and_does_not_round_trip() {
    let update = Message::AttributeUpdate(AttributeUpdate {
        device: "Device A".into(),
        change: AttributeChange::Updated(
            [("deleted", Json::Array(vec![Json::from("k")]))]
                .into_iter()
                .collect(),
        ),
    });
    assert!(
        update
            .strict_problem()
            .is_some_and(|p| p.contains("deletion"))
    );
    let decoded = decode(
        update.topic(),
        update.direction(),
        &encode(&update),
        Mode::Strict,
    )
    .unwrap();
    assert!(matches!(
        decoded.message,
        Message::AttributeUpdate(AttributeUpdate {
            change: AttributeChange::Deleted(_),
            ..
        })
    ));

    let flat_ts = Message::Telemetry(Telemetry {
        devices: vec![DeviceTelemetry {
            device: "D".into(),
            entries: vec![TelemetryEntry {
                ts: None,
                values: [("ts", Json::from(5))].into_iter().collect(),
                metadata: None,
            }],
        }],
    });
    assert!(flat_ts.strict_problem().is_some_and(|p| p.contains("`ts`")));
    assert!(
        decode(
            flat_ts.topic(),
            flat_ts.direction(),
            &encode(&flat_ts),
            Mode::Strict
        )
        .is_err()
    );
}
