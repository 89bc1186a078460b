//! `tbgw serve` as a process: it prints its addresses once ready, and a taken port is exit 3
//! with the address in the message.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

fn tbgw() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tbgw"))
}

#[test]
fn a_taken_port_is_exit_3_naming_the_address() {
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr");
    let output = tbgw()
        .args([
            "serve",
            "--mqtt",
            &addr.to_string(),
            "--http",
            "127.0.0.1:0",
        ])
        .output()
        .expect("tbgw runs");
    assert_eq!(output.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("cannot listen for MQTT on {addr}")),
        "{stderr}"
    );
}

/// Starts `tbgw serve` on free ports; returns it, its remaining stdout lines and the lines
/// up to "ready".
fn start_serve() -> (Child, mpsc::Receiver<String>, Vec<String>) {
    let mut child = tbgw()
        .args([
            "serve",
            "--mqtt",
            "127.0.0.1:0",
            "--http",
            "127.0.0.1:0",
            "--gateway",
            "gw1=GW_TOKEN",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .expect("tbgw runs");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    while !lines.iter().any(|l: &String| l.ends_with("ready")) {
        match rx.recv_timeout(Duration::from_secs(10)) {
            Ok(line) => lines.push(line),
            Err(_) => {
                let _ = child.kill();
                panic!("tbgw serve never said it was ready; printed: {lines:?}");
            }
        }
    }
    (child, rx, lines)
}

#[test]
fn serve_stops_cleanly_on_sigterm_as_docker_stop_sends_it() {
    let (mut child, rx, _) = start_serve();
    let sent = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(sent.success());
    let stopped = rx.recv_timeout(Duration::from_secs(10));
    if stopped.is_err() {
        let _ = child.kill();
    }
    assert_eq!(stopped.as_deref(), Ok("tbgw serve: stopped"));
    let status = child.wait().expect("tbgw ends");
    assert_eq!(status.code(), Some(0));
}

#[test]
fn serve_prints_its_addresses_when_ready_and_answers_mqtt() {
    let (mut child, _rx, lines) = start_serve();
    let mqtt = lines
        .iter()
        .find_map(|l| l.strip_prefix("tbgw serve: MQTT on "))
        .and_then(|rest| rest.split(' ').next())
        .map(str::to_owned);
    let _ = child.kill();
    let _ = child.wait();
    let mqtt = mqtt.unwrap_or_else(|| panic!("no MQTT address in {lines:?}"));
    assert!(
        !mqtt.ends_with(":0"),
        "port 0 is replaced by the bound port: {mqtt}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("gateway \"gw1\" with access token GW_TOKEN")),
        "{lines:?}"
    );
}
