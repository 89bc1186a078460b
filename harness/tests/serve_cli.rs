//! `tbgw serve` as a process: it prints its addresses once ready, a taken port is exit 3
//! with the address in the message, SIGTERM stops it cleanly, and a reader that goes away
//! does not stop it.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Stdio;
use std::time::Duration;

#[path = "support/cli.rs"]
mod cli;
use cli::Serve;

#[test]
fn a_taken_port_is_exit_3_naming_the_address() {
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr").to_string();
    let ran = cli::tbgw(&["serve", "--mqtt", &addr, "--http", "127.0.0.1:0"]);
    assert_eq!(ran.code, 3, "{}", ran.all());
    assert!(
        ran.stderr
            .contains(&format!("cannot listen for MQTT on {addr}")),
        "{}",
        ran.all()
    );
}

#[test]
fn serve_stops_cleanly_on_sigterm_as_docker_stop_sends_it() {
    let mut serve = Serve::start(&["--gateway", "gw1=GW_TOKEN"]);
    cli::signal(serve.child.id(), "TERM");
    let stopped = serve.lines.recv_timeout(Duration::from_secs(10));
    assert_eq!(stopped.as_deref(), Ok("tbgw serve: stopped"));
    let status = serve.child.wait().expect("tbgw ends");
    assert_eq!(status.code(), Some(0));
}

#[test]
fn serve_prints_its_addresses_when_ready() {
    let serve = Serve::start(&["--gateway", "gw1=GW_TOKEN"]);
    assert!(
        !serve.mqtt.ends_with(":0"),
        "port 0 is replaced by the bound port: {}",
        serve.mqtt
    );
    assert!(
        serve
            .banner
            .iter()
            .any(|l| l.contains("gateway \"gw1\" with access token GW_TOKEN")),
        "{:?}",
        serve.banner
    );
}

/// An MQTT 3.1.1 CONNECT with `token` as the username; the CONNACK's return code.
fn connack_code(addr: &str, token: &str) -> Option<u8> {
    connect(addr, token).map(|(_, code)| code)
}

fn connect(addr: &str, token: &str) -> Option<(TcpStream, u8)> {
    let mut stream = TcpStream::connect(addr).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let client = b"c1";
    let mut body = vec![0, 4, b'M', b'Q', b'T', b'T', 4, 0x82, 0, 30];
    body.extend([0, client.len() as u8]);
    body.extend(client);
    body.extend([0, token.len() as u8]);
    body.extend(token.as_bytes());
    let mut packet = vec![0x10, body.len() as u8];
    packet.extend(body);
    stream.write_all(&packet).ok()?;
    let mut connack = [0u8; 4];
    stream.read_exact(&mut connack).ok()?;
    Some((stream, connack[3]))
}

/// A QoS 0 PUBLISH of `payload` on `topic`.
fn publish(stream: &mut TcpStream, topic: &str, payload: &[u8]) {
    let mut body = vec![0, topic.len() as u8];
    body.extend(topic.as_bytes());
    body.extend(payload);
    let mut packet = vec![0x30, body.len() as u8];
    packet.extend(body);
    stream.write_all(&packet).expect("publish written");
}

/// The bug: `tbgw serve | grep -m1 ready` killed the server once grep exited.
#[test]
fn serve_keeps_serving_when_its_stdout_reader_goes_away() {
    let mut child = cli::command()
        .args(["serve", "--mqtt", "127.0.0.1:0", "--http", "127.0.0.1:0"])
        .args(["--gateway", "gw1=GW_TOKEN"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("tbgw serve runs");
    let lines = cli::line_reader(child.stdout.take().expect("stdout"));
    let (ready, banner) = cli::wait_for_line(&lines, "ready", Duration::from_secs(10));
    assert!(ready, "{banner:?}");
    let mqtt = banner
        .iter()
        .find_map(|l| l.strip_prefix("tbgw serve: MQTT on "))
        .and_then(|r| r.split_whitespace().next())
        .expect("the MQTT address")
        .to_owned();
    // The reader goes away, as grep -m1 does; every invalid payload makes serve print a
    // violation line, the first into a pipe nobody reads any more.
    drop(lines);
    for round in 0..10 {
        let (mut session, code) = connect(&mqtt, "GW_TOKEN")
            .unwrap_or_else(|| panic!("serve stopped answering in round {round}"));
        assert_eq!(code, 0);
        publish(&mut session, "v1/gateway/telemetry", b"{not json");
        // On 3.1.1 ThingsBoard closes the connection on it: the violation has been reported
        // once the close arrives.
        let mut rest = Vec::new();
        let _ = session.read_to_end(&mut rest);
    }
    assert_eq!(connack_code(&mqtt, "WRONG"), Some(5), "still answering");
    assert_eq!(connack_code(&mqtt, "GW_TOKEN"), Some(0), "still serving");
    assert!(child.try_wait().expect("status").is_none(), "serve died");
    let _ = child.kill();
    let output = child.wait_with_output().expect("ends");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn thingsboards_environment_variables_configure_serve() {
    let env = [("NETTY_MAX_PAYLOAD_SIZE", "100")];
    let serve = Serve::start_with_env(&["--gateway", "gw1=GW_TOKEN"], &env);
    assert!(
        serve
            .banner
            .iter()
            .any(|l| l.ends_with("settings from the environment: NETTY_MAX_PAYLOAD_SIZE=100")),
        "{:?}",
        serve.banner
    );
    // A packet of 112 bytes after its header: far under ThingsBoard's default limit, over
    // the configured one (and short enough for `publish`'s one-byte remaining length).
    let (mut session, code) = connect(&serve.mqtt, "GW_TOKEN").expect("connected");
    assert_eq!(code, 0);
    let payload = format!(r#"{{"Device A": [{{"note": "{}"}}]}}"#, "x".repeat(62));
    assert_eq!(payload.len(), 90);
    publish(&mut session, "v1/gateway/telemetry", payload.as_bytes());
    let mut rest = Vec::new();
    let _ = session.read_to_end(&mut rest);
    let violation = serve.lines.recv_timeout(Duration::from_secs(10));
    let violation = violation.unwrap_or_default();
    assert!(
        violation.contains("over ThingsBoard's limit of 100 (max_payload_size)"),
        "{violation}"
    );
}

#[test]
fn a_thingsboard_variable_that_is_not_a_number_is_exit_2_naming_it() {
    let ran = cli::tbgw_env(
        &["serve", "--mqtt", "127.0.0.1:0", "--http", "127.0.0.1:0"],
        &[("DEFAULT_INACTIVITY_TIMEOUT", "ten minutes")],
    );
    assert_eq!(ran.code, 2, "{}", ran.all());
    assert!(
        ran.stderr
            .contains("DEFAULT_INACTIVITY_TIMEOUT=\"ten minutes\"")
            && ran.stderr.contains("state.defaultInactivityTimeoutInSec"),
        "{}",
        ran.all()
    );
}

#[test]
fn serve_help_lists_thingsboards_environment_variables_with_their_defaults() {
    let ran = cli::tbgw(&["serve", "--help"]);
    assert_eq!(ran.code, 0, "{}", ran.all());
    for (name, default) in [
        ("TB_TRANSPORT_SESSIONS_INACTIVITY_TIMEOUT", "600000 ms"),
        ("DEFAULT_INACTIVITY_TIMEOUT", "600 s"),
        ("CLIENT_SIDE_RPC_TIMEOUT", "60000 ms"),
        ("NETTY_MAX_PAYLOAD_SIZE", "65536 bytes"),
    ] {
        let line = ran.stdout.lines().find(|l| l.contains(name));
        assert!(
            line.is_some_and(|l| l.contains(default)),
            "{name}: {line:?}\n{}",
            ran.stdout
        );
    }
}

/// A REST path the emulator does not serve is 404 with a body naming it, and serve says so
/// on stderr in one line, so a user sees at once what is missing.
#[test]
fn an_unserved_rest_path_is_404_naming_it_and_one_line_on_stderr() {
    let mut child = cli::command()
        .args(["serve", "--mqtt", "127.0.0.1:0", "--http", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("tbgw serve runs");
    let lines = cli::line_reader(child.stdout.take().expect("stdout"));
    let errors = cli::line_reader(child.stderr.take().expect("stderr"));
    let (ready, banner) = cli::wait_for_line(&lines, "ready", Duration::from_secs(10));
    assert!(ready, "{banner:?}");
    let rest = banner
        .iter()
        .find_map(|l| l.strip_prefix("tbgw serve: REST on http://"))
        .and_then(|r| r.split_whitespace().next())
        .expect("the REST address")
        .to_owned();
    let mut stream = TcpStream::connect(&rest).expect("REST answers");
    let request = format!(
        "GET /api/alarms/unserved?x=1 HTTP/1.1\r\nHost: {rest}\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).expect("request sent");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("answer read");
    let _ = child.kill();
    let _ = child.wait();
    assert!(answer.starts_with("HTTP/1.1 404"), "{answer}");
    assert!(
        answer.contains(r#""message":"tbgw's emulator does not serve /api/alarms/unserved""#),
        "{answer}"
    );
    let (logged, seen) = cli::wait_for_line(
        &errors,
        "404 GET /api/alarms/unserved",
        Duration::from_secs(5),
    );
    assert!(logged, "stderr: {seen:?}");
}
