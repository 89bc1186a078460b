//! `tbgw decode` as a user runs it: output and exit codes, kept as reviewed snapshots.

use std::path::Path;

#[path = "support/cli.rs"]
mod cli;

/// Runs `tbgw` with `args`, feeding `stdin`; returns (exit code, stdout, stderr).
fn tbgw(args: &[&str], stdin: &[u8]) -> (i32, String, String) {
    let ran = cli::tbgw_stdin(args, stdin);
    (ran.code, ran.stdout, ran.stderr)
}

fn snapshot(name: &str, args: &[&str], stdin: &[u8]) -> i32 {
    let (code, stdout, stderr) = tbgw(args, stdin);
    let text = format!("$ tbgw {}\nexit: {code}\n{stdout}{stderr}", args.join(" "));
    insta::with_settings!({
        snapshot_path => Path::new(env!("CARGO_MANIFEST_DIR")).join("../snapshots/cli"),
        prepend_module_to_snapshot => false,
        omit_expression => true,
    }, {
        insta::assert_snapshot!(name, text);
    });
    code
}

#[test]
fn a_clean_payload_prints_the_typed_message_and_exits_0() {
    let payload = br#"{"Device A": [{"ts": 1700000000000, "values": {"temperature": 23.5, "humidity": 61 }}]}"#;
    assert_eq!(
        snapshot(
            "decode-telemetry",
            &["decode", "--topic", "v1/gateway/telemetry"],
            payload
        ),
        0
    );
}

#[test]
fn a_syntax_error_prints_line_column_path_and_0x99_and_exits_2() {
    let payload =
        b"{\"Device A\": [\n  {\"ts\": 1700000000000, \"values\": {\"temperature\": }}\n]}";
    assert_eq!(
        snapshot(
            "decode-syntax-error",
            &["decode", "--topic", "v1/gateway/telemetry", "-"],
            payload
        ),
        2
    );
}

/// The public doc's attribute request, which ThingsBoard 4.3 does not parse.
const DOC_FORM_REQUEST: &[u8] =
    br#"{"id": 1, "device": "Device A", "client": ["key1", "key2"], "shared": ["key3", "key4"]}"#;

#[test]
fn the_docs_array_form_request_is_rejected_with_0x83_in_thingsboard_mode() {
    let payload = DOC_FORM_REQUEST;
    let args = [
        "decode",
        "--topic",
        "v1/gateway/attributes/request",
        "--mode",
        "thingsboard",
    ];
    assert_eq!(
        snapshot("decode-doc-form-request-thingsboard", &args, payload),
        2
    );
    let (code, stdout, _) = tbgw(&args, payload);
    assert_eq!(code, 2);
    assert!(
        stdout.contains("0x83 Implementation specific error"),
        "{stdout}"
    );
}

#[test]
fn the_docs_array_form_request_decodes_in_strict_mode() {
    let payload = DOC_FORM_REQUEST;
    let args = [
        "decode",
        "--topic",
        "v1/gateway/attributes/request",
        "--mode",
        "strict",
    ];
    assert_eq!(
        snapshot("decode-doc-form-request-strict", &args, payload),
        0
    );
}

#[test]
fn a_leniency_is_listed_in_thingsboard_mode_and_refused_in_strict_mode() {
    let payload = br#"{"device":Sensor1}"#;
    assert_eq!(
        snapshot(
            "decode-unquoted-name-thingsboard",
            &["decode", "-t", "v1/gateway/connect"],
            payload
        ),
        0
    );
    assert_eq!(
        snapshot(
            "decode-unquoted-name-strict",
            &["decode", "-t", "v1/gateway/connect", "--mode", "strict"],
            payload
        ),
        2
    );
}

#[test]
fn platform_messages_are_decoded_with_from_platform() {
    let payload = br#"{"device":"P1","data":5}"#;
    let args = [
        "decode",
        "-t",
        "v1/gateway/attributes",
        "--from",
        "platform",
    ];
    assert_eq!(
        snapshot("decode-shared-update-data-number", &args, payload),
        2
    );
}

#[test]
fn an_unknown_gateway_topic_names_0x90() {
    assert_eq!(
        snapshot(
            "decode-unknown-topic",
            &["decode", "-t", "v1/gateway/foo"],
            b"{}"
        ),
        2
    );
}

#[test]
fn a_missing_file_is_a_usage_error() {
    let (code, stdout, stderr) = tbgw(
        &[
            "decode",
            "-t",
            "v1/gateway/connect",
            "/nonexistent/payload.json",
        ],
        b"",
    );
    assert_eq!(code, 2);
    assert!(stdout.is_empty());
    assert!(stderr.contains("/nonexistent/payload.json"), "{stderr}");
}

#[test]
fn bad_arguments_are_a_usage_error() {
    let (code, _, stderr) = tbgw(
        &["decode", "-t", "v1/gateway/connect", "--mode", "lenient"],
        b"{}",
    );
    assert_eq!(code, 2);
    assert!(stderr.contains("lenient"), "{stderr}");
}

fn telemetry_with_value_of(chars: usize) -> Vec<u8> {
    format!(
        r#"{{"Device A": [{{"ts": 1700000000000, "values": {{"blob": "{}"}}}}]}}"#,
        "x".repeat(chars)
    )
    .into_bytes()
}

#[test]
fn a_payload_over_thingsboards_packet_limit_is_reported_as_disconnect_0x81() {
    let (code, stdout, _) = tbgw(
        &["decode", "--topic", "v1/gateway/telemetry"],
        &telemetry_with_value_of(70_000),
    );
    assert_eq!(code, 2, "{stdout}");
    assert!(
        stdout.contains("over ThingsBoard's limit of 65536")
            && stdout.contains("0x81 Malformed Packet")
            && stdout.contains("DISCONNECT 0x81"),
        "{stdout}"
    );
    assert!(stdout.len() < 2_000, "{} bytes of output", stdout.len());
}

#[test]
fn a_big_payload_under_the_limit_decodes_with_short_output() {
    let payload = telemetry_with_value_of(60_000);
    let (code, stdout, _) = tbgw(&["decode", "--topic", "v1/gateway/telemetry"], &payload);
    assert_eq!(code, 0, "{stdout}");
    assert!(stdout.len() < 3_000, "{} bytes of output", stdout.len());
    assert!(
        stdout.contains("more characters") && stdout.contains("--full prints all of it"),
        "{stdout}"
    );
    let (_, full, _) = tbgw(
        &["decode", "--topic", "v1/gateway/telemetry", "--full"],
        &payload,
    );
    assert!(full.len() > 60_000, "--full keeps everything");
}
