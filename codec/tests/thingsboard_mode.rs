//! ThingsBoard mode against `reference/thingsboard-behavior.md` §1 and §3: what the server
//! accepts, how it converts, and what it answers when it refuses.

use tbgw_codec::*;

const G2P: Direction = Direction::GatewayToPlatform;

fn tb(topic: Topic, payload: &str) -> Result<Decoded, DecodeError> {
    decode(topic, G2P, payload.as_bytes(), Mode::ThingsBoard)
}

fn answer(topic: Topic, payload: &str) -> TbAnswer {
    match tb(topic, payload) {
        Ok(decoded) => panic!("{payload} decoded: {decoded:?}"),
        Err(error) => error.thingsboard,
    }
}

#[test]
fn refusals_carry_the_answer_of_section_3() {
    let cases: &[(Topic, &str, TbAnswer)] = &[
        (Topic::Connect, r#"{"device":}"#, TbAnswer::InvalidPayload),
        (
            Topic::Connect,
            r#"{"device":"A"} x"#,
            TbAnswer::InvalidPayload,
        ),
        (Topic::Connect, "", TbAnswer::HandlerFailed),
        (Topic::Connect, "[]", TbAnswer::HandlerFailed),
        (Topic::Connect, "42", TbAnswer::HandlerFailed),
        (Topic::Connect, r#"{"type":"t"}"#, TbAnswer::HandlerFailed),
        (Topic::Connect, r#"{"device":""}"#, TbAnswer::HandlerFailed),
        // `checkDeviceName` lets a blank name through; device creation refuses it, late (C3).
        (
            Topic::Connect,
            r#"{"device":"  "}"#,
            TbAnswer::DeviceInvalid(ReasonCode::UNSPECIFIED_ERROR),
        ),
        (
            Topic::Connect,
            r#"{"device":{"a":1}}"#,
            TbAnswer::HandlerFailed,
        ),
        (
            Topic::Connect,
            r#"{"device":["A","B"]}"#,
            TbAnswer::HandlerFailed,
        ),
        (
            Topic::Connect,
            r#"{"device":"<script>x</script>"}"#,
            TbAnswer::DeviceInvalid(ReasonCode::UNSPECIFIED_ERROR),
        ),
        (
            Topic::Disconnect,
            r#"{"name":"A"}"#,
            TbAnswer::HandlerFailed,
        ),
        (
            Topic::Telemetry,
            r#"{"A":{"ts":1,"values":{}}}"#,
            TbAnswer::HandlerFailed,
        ),
        (Topic::Telemetry, "{}", TbAnswer::HandlerFailed),
        (
            Topic::Telemetry,
            r#"{"A":[1]}"#,
            TbAnswer::DeviceDataInvalid,
        ),
        (
            Topic::Telemetry,
            r#"{"A":[{"ts":"x","values":{}}]}"#,
            TbAnswer::DeviceDataInvalid,
        ),
        (
            Topic::Telemetry,
            r#"{"A":[{"ts":1,"values":5}]}"#,
            TbAnswer::DeviceDataInvalid,
        ),
        (
            Topic::Telemetry,
            r#"{"A":[{"t":1,"metadata":5}]}"#,
            TbAnswer::DeviceDataInvalid,
        ),
        (
            Topic::Telemetry,
            r#"{"A":[{"t":1,"metadata":{"connector":"c","receivedTs":1,"publishedTs":null}}]}"#,
            TbAnswer::DeviceDataInvalid,
        ),
        (
            Topic::Telemetry,
            r#"{"":[{"t":1}]}"#,
            TbAnswer::DeviceInvalid(ReasonCode::UNSPECIFIED_ERROR),
        ),
        (
            Topic::Rpc,
            r#"{"device":"","id":1,"data":1}"#,
            TbAnswer::DeviceInvalid(ReasonCode::UNSPECIFIED_ERROR),
        ),
        (
            Topic::AttributesRequest,
            r#"{"id":1,"device":"","client":true,"key":"k"}"#,
            TbAnswer::DeviceInvalid(ReasonCode::IMPLEMENTATION_SPECIFIC_ERROR),
        ),
        (
            Topic::Attributes,
            r#"{"A":[{"k":1}]}"#,
            TbAnswer::HandlerFailed,
        ),
        (
            Topic::AttributesRequest,
            r#"{"id":1,"device":"A","client":true}"#,
            TbAnswer::HandlerFailed,
        ),
        (
            Topic::AttributesRequest,
            r#"{"id":1,"device":"A","keys":["k"]}"#,
            TbAnswer::HandlerFailed,
        ),
        (
            Topic::AttributesRequest,
            r#"{"id":"x","device":"A","client":true,"key":"k"}"#,
            TbAnswer::HandlerFailed,
        ),
        (
            Topic::AttributesRequest,
            r#"{"id":1,"device":"A","client":true,"keys":[null]}"#,
            TbAnswer::HandlerFailed,
        ),
        (
            Topic::AttributesRequest,
            r#"{"id":1,"device":"<b>A</b>","client":true,"key":"k"}"#,
            TbAnswer::DeviceInvalid(ReasonCode::IMPLEMENTATION_SPECIFIC_ERROR),
        ),
        (
            Topic::Rpc,
            r#"{"device":"A","id":1}"#,
            TbAnswer::HandlerFailed,
        ),
        (
            Topic::Rpc,
            r#"{"device":"A","data":1}"#,
            TbAnswer::HandlerFailed,
        ),
        (Topic::Claim, r#"{"A":5}"#, TbAnswer::HandlerFailed),
        (
            Topic::Claim,
            r#"{"A":{"durationMs":"soon"}}"#,
            TbAnswer::DeviceDataInvalid,
        ),
        (
            Topic::AttributesResponse,
            r#"{"id":1,"device":"A"}"#,
            TbAnswer::TopicInvalid,
        ),
    ];
    for (topic, payload, expected) in cases {
        assert_eq!(answer(*topic, payload), *expected, "{topic} {payload}");
    }
}

#[test]
fn reason_codes_follow_the_answers() {
    assert_eq!(
        TbAnswer::InvalidPayload.reason_code(),
        Some(ReasonCode::PAYLOAD_FORMAT_INVALID)
    );
    assert_eq!(
        TbAnswer::DeviceDataInvalid.reason_code(),
        Some(ReasonCode::PAYLOAD_FORMAT_INVALID)
    );
    assert_eq!(
        TbAnswer::HandlerFailed.reason_code(),
        Some(ReasonCode::IMPLEMENTATION_SPECIFIC_ERROR)
    );
    assert!(TbAnswer::HandlerFailed.disconnects());
    assert!(!TbAnswer::InvalidPayload.disconnects());
    assert_eq!(
        TbAnswer::TopicInvalid.reason_code(),
        Some(ReasonCode::TOPIC_NAME_INVALID)
    );
    assert_eq!(TbAnswer::AcceptsWithoutPuback.reason_code(), None);
    assert_eq!(TbAnswer::Accepts.reason_code(), Some(ReasonCode::SUCCESS));
}

#[test]
fn gson_conversions_read_fields_as_thingsboard_does() {
    let Message::AttributeRequest(AttributeRequest::Server(r)) = tb(
        Topic::AttributesRequest,
        r#"{"id":1.9,"device":17,"client":"yes","keys":["a","a",5]}"#,
    )
    .unwrap()
    .message
    else {
        panic!("a server-form request")
    };
    assert_eq!(r.id, 1, "getAsInt truncates");
    assert_eq!(r.device, "17", "getAsString reads a number's text");
    assert!(!r.client, "getAsBoolean is true only for the text `true`");
    assert_eq!(
        r.keys,
        RequestedKeys::Keys(vec!["a".into(), "5".into()]),
        "keys collapse like a HashSet"
    );

    let Message::Connect(c) = tb(Topic::Connect, r#"{"device":[["A"]],"type":null}"#)
        .unwrap()
        .message
    else {
        panic!("a connect")
    };
    assert_eq!((c.device.as_str(), c.device_type), ("A", None));

    let Message::RpcResponse(r) = tb(Topic::Rpc, r#"{"device":"A","id":4294967297,"data":null}"#)
        .unwrap()
        .message
    else {
        panic!("an RPC reply")
    };
    assert_eq!(
        (r.id, r.data),
        (1, Json::Null),
        "ids wrap to 32 bits; null data is data"
    );

    let Message::AttributeRequest(AttributeRequest::Server(r)) = tb(
        Topic::AttributesRequest,
        r#"{"id":1,"device":"A","client":true,"key":"k","keys":["x"]}"#,
    )
    .unwrap()
    .message
    else {
        panic!("a server-form request")
    };
    assert_eq!(
        r.keys,
        RequestedKeys::Key("k".into()),
        "`key` wins over `keys`"
    );
}

#[test]
fn telemetry_keeps_what_thingsboard_keeps() {
    let decoded = tb(
        Topic::Telemetry,
        r#"{"A":[{"t":1,"n":null},{"values":{"x":1}},{"ts":"5","values":{"y":2},"extra":true}],"B":{"ts":1},"C":[]}"#,
    )
    .unwrap();
    let Message::Telemetry(t) = &decoded.message else {
        panic!("telemetry")
    };
    let devices: Vec<&str> = t.devices.iter().map(|d| d.device.as_str()).collect();
    assert_eq!(devices, ["A", "C"], "the non-array entry of B is skipped");
    let a = &t.devices[0].entries;
    assert_eq!(
        a[0].values.keys().collect::<Vec<_>>(),
        ["t"],
        "null is dropped"
    );
    assert_eq!(a[1].ts, None, "`values` without `ts` is a flat element");
    assert!(
        a[1].values.get("values").is_some(),
        "…whose key `values` is stored as data"
    );
    assert_eq!(a[2].ts, Some(5));
    let kinds: Vec<String> = decoded
        .leniencies
        .iter()
        .map(|l| format!("{:?}", l.kind))
        .collect();
    for expected in [
        "NullDropped",
        "ReservedKeyStoredAsData",
        "Converted",
        "UnknownField",
        "EntrySkipped",
        "EmptyTelemetryList",
    ] {
        assert!(
            kinds.iter().any(|k| k.starts_with(expected)),
            "{expected} missing from {kinds:?}"
        );
    }
    assert!(
        !decoded.acknowledged(),
        "an empty telemetry array means no PUBACK at all"
    );
}

#[test]
fn repeated_keys_keep_the_last_value() {
    let Message::Connect(c) = tb(Topic::Connect, r#"{"device":"A","device":"B"}"#)
        .unwrap()
        .message
    else {
        panic!("a connect")
    };
    assert_eq!(c.device, "B");
}

#[test]
fn strict_mode_names_what_thingsboard_would_do() {
    let error = decode(Topic::Telemetry, G2P, br#"{"A":[]}"#, Mode::Strict).unwrap_err();
    assert_eq!(error.thingsboard, TbAnswer::AcceptsWithoutPuback);
    assert_eq!(error.reason_code(), None);

    let error = decode(Topic::Connect, G2P, br#"{'device':'A'}"#, Mode::Strict).unwrap_err();
    assert_eq!(error.thingsboard, TbAnswer::Accepts);
    assert_eq!(error.position, Position { line: 1, column: 2 });

    let error = decode(Topic::Connect, G2P, b"", Mode::Strict).unwrap_err();
    assert_eq!(
        error.thingsboard,
        TbAnswer::HandlerFailed,
        "Gson reads an empty payload as null, not as a syntax error"
    );
}

#[test]
fn platform_messages_are_read_with_exact_types() {
    let p2g = Direction::PlatformToGateway;
    for payload in [
        r#"{"device":"A","data":{"id":"1","method":"m","params":{}}}"#,
        r#"{"device":5,"data":{"id":1,"method":"m","params":{}}}"#,
    ] {
        let error = decode(Topic::Rpc, p2g, payload.as_bytes(), Mode::ThingsBoard).unwrap_err();
        assert_eq!(
            error.thingsboard,
            TbAnswer::NotSentByThingsBoard,
            "{payload}"
        );
        assert_eq!(
            error.reason_code(),
            Some(ReasonCode::PAYLOAD_FORMAT_INVALID)
        );
    }
    let decoded = decode(
        Topic::Rpc,
        p2g,
        br#"{"device":"A","data":{"id":0,"method":"m","params":true,"timeout":5}}"#,
        Mode::ThingsBoard,
    )
    .unwrap();
    assert!(
        matches!(&decoded.leniencies[0].kind, LeniencyKind::UnknownField { field } if field == "timeout")
    );
}

#[test]
fn device_parts_split_a_multi_device_payload_with_the_last_value_in_the_first_place() {
    let parts =
        tbgw_codec::device_parts(br#"{A:[{t:1}], "B": {"x": 2}, "A": [{"t": 3.0}]}"#).unwrap();
    let parts: Vec<(String, String)> = parts
        .into_iter()
        .map(|(device, bytes)| (device, String::from_utf8(bytes).unwrap()))
        .collect();
    assert_eq!(
        parts,
        [
            ("A".to_owned(), r#"{"A":[{"t":3.0}]}"#.to_owned()),
            ("B".to_owned(), r#"{"B":{"x":2}}"#.to_owned()),
        ]
    );
    assert_eq!(tbgw_codec::device_parts(b"[1]"), None);
    assert_eq!(tbgw_codec::device_parts(b"{\"a\":"), None);
}
