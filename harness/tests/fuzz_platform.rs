//! `tbgw fuzz platform` as a user runs it: on the embedded emulator (nothing found), and on
//! a deliberately wrong platform (the emulator behind a proxy that answers 0x80 where the
//! emulator says 0x99), where the disagreement is found, minimized into a platform scenario
//! that fails under `tbgw run` on that platform and passes on the emulator. Runs are bounded
//! by `--max-execs`, never by time.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};

#[path = "support/cli.rs"]
mod cli;
use cli::Serve;

#[test]
fn fuzz_platform_finds_nothing_on_the_embedded_emulator() {
    let dir = cli::temp_dir("fuzz-platform-clean");
    let json = dir.join("report.json").display().to_string();
    let ran = cli::tbgw(&[
        "fuzz",
        "platform",
        "--seed",
        "11",
        "--max-execs",
        "300",
        "--json",
        &json,
    ]);
    assert_eq!(ran.code, 0, "{}", ran.all());
    assert!(
        ran.stdout
            .contains("no disagreement with the model in 300 inputs"),
        "{}",
        ran.all()
    );
    let report = cli::report(Path::new(&json), &ran);
    assert_eq!(
        cli::verdicts(&report)
            .get("fuzz-platform/no-finding")
            .map(String::as_str),
        Some("PASS"),
        "{report}"
    );
}

#[test]
fn fuzz_platform_finds_a_rewritten_reason_code_and_its_reproducer_fails_there_only() {
    let serve = Serve::start(&[]);
    let proxy = rewriting_proxy(&serve.mqtt, 0x99, 0x80);
    let dir = cli::temp_dir("fuzz-platform-wrong");
    let out = dir.join("findings");
    let json = dir.join("report.json").display().to_string();
    let remote = [
        "--target",
        "remote",
        "--mqtt",
        &proxy,
        "--rest",
        &serve.rest,
    ];
    let mut args = vec!["fuzz", "platform", "--seed", "5", "--max-execs", "120"];
    args.extend(remote);
    let out_arg = out.display().to_string();
    args.extend(["--out", &out_arg, "--json", &json]);
    let ran = cli::tbgw(&args);
    assert_eq!(ran.code, 1, "{}", ran.all());
    let reproducers = yaml_files(&out);
    let rewritten: Vec<&PathBuf> = reproducers
        .iter()
        .filter(|p| {
            let text = std::fs::read_to_string(p).unwrap_or_default();
            text.contains("expected PUBACK") || text.contains("puback: 0x99")
        })
        .collect();
    assert!(
        !rewritten.is_empty(),
        "no reproducer expects 0x99: {reproducers:?}\n{}",
        ran.all()
    );
    let first = rewritten[0];
    let text = std::fs::read_to_string(first).expect("the reproducer");
    assert!(text.contains("puback: 0x99"), "{text}");
    assert!(
        text.contains("which tbgw's emulator follows"),
        "the emulator agrees with the model, so the finding is on the target's side: {text}"
    );
    let steps = text.lines().filter(|l| l.starts_with("  - ")).count();
    assert!(steps <= 4, "minimized to a few steps: {text}");
    assert!(
        ran.stdout.contains("got PUBACK pid=N 0x80"),
        "{}",
        ran.all()
    );

    let file = first.display().to_string();
    let mut there = vec!["run"];
    there.extend(remote);
    there.push(&file);
    let on_the_wrong_platform = cli::tbgw(&there);
    assert_eq!(
        on_the_wrong_platform.code,
        1,
        "{}",
        on_the_wrong_platform.all()
    );
    let on_the_emulator = cli::tbgw(&["run", &file]);
    assert_eq!(on_the_emulator.code, 0, "{}", on_the_emulator.all());
}

#[test]
fn the_corpus_grows_with_new_answers_and_is_replayed_first() {
    let dir = cli::temp_dir("fuzz-platform-corpus");
    let corpus = dir.join("corpus");
    let corpus_arg = corpus.display().to_string();
    let grown = cli::tbgw(&[
        "fuzz",
        "platform",
        "--seed",
        "21",
        "--max-execs",
        "80",
        "--corpus",
        &corpus_arg,
    ]);
    assert_eq!(grown.code, 0, "{}", grown.all());
    let kept = std::fs::read_dir(&corpus).map_or(0, |files| files.count());
    assert!(
        (1..80).contains(&kept),
        "some inputs, not all, were new: {kept}"
    );

    // One input the model answers with 0x99 (invalid JSON on MQTT 5, QoS 1), and a file
    // that is not an input. With one execution, only a corpus replayed first can reach the
    // rewritten reason code.
    let replayed = dir.join("replayed");
    std::fs::create_dir_all(&replayed).expect("a corpus folder");
    std::fs::write(
        replayed.join("0-invalid-json.json"),
        r#"{"mqtt": "5", "actions": [{"send": {"topic": "v1/gateway/telemetry", "payload": "eyJhIjp9", "qos": 1}}]}"#,
    )
    .expect("write an input");
    std::fs::write(replayed.join("1-not-an-input.json"), "[1, 2]").expect("write");
    let serve = Serve::start(&[]);
    let proxy = rewriting_proxy(&serve.mqtt, 0x99, 0x80);
    let replayed_arg = replayed.display().to_string();
    let ran = cli::tbgw(&[
        "fuzz",
        "platform",
        "--seed",
        "1",
        "--max-execs",
        "1",
        "--jobs",
        "1",
        "--corpus",
        &replayed_arg,
        "--target",
        "remote",
        "--mqtt",
        &proxy,
        "--rest",
        &serve.rest,
        "--minimize-budget",
        "2",
    ]);
    assert_eq!(ran.code, 1, "{}", ran.all());
    assert!(
        ran.stdout.contains("got PUBACK pid=N 0x80"),
        "{}",
        ran.all()
    );
    assert!(
        ran.stdout.contains("corpus file skipped") && ran.stdout.contains("1-not-an-input.json"),
        "{}",
        ran.all()
    );
}

fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// A TCP proxy in front of `upstream` that rewrites the reason code of every MQTT 5 PUBACK
/// from `from` to `to` (the platform under test is wrong in exactly one way); its address.
fn rewriting_proxy(upstream: &str, from: u8, to: u8) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
    let address = listener.local_addr().expect("address").to_string();
    let upstream = upstream.to_owned();
    std::thread::spawn(move || {
        for client in listener.incoming().map_while(Result::ok) {
            let Ok(server) = TcpStream::connect(&upstream) else {
                continue;
            };
            let (Ok(client_in), Ok(server_out)) = (client.try_clone(), server.try_clone()) else {
                continue;
            };
            std::thread::spawn(move || copy(client_in, server_out));
            std::thread::spawn(move || rewrite(server, client, from, to));
        }
    });
    address
}

fn copy(mut from: TcpStream, mut to: TcpStream) {
    let _ = std::io::copy(&mut from, &mut to);
    let _ = to.shutdown(Shutdown::Write);
}

/// Server → client, packet by packet.
fn rewrite(mut from: TcpStream, mut to: TcpStream, code: u8, into: u8) {
    loop {
        let mut header = [0u8; 1];
        if from.read_exact(&mut header).is_err() {
            break;
        }
        let mut length_bytes = Vec::new();
        let mut length = 0usize;
        for shift in 0..4 {
            let mut byte = [0u8; 1];
            if from.read_exact(&mut byte).is_err() {
                let _ = to.shutdown(Shutdown::Both);
                return;
            }
            length_bytes.push(byte[0]);
            length |= usize::from(byte[0] & 0x7F) << (7 * shift);
            if byte[0] & 0x80 == 0 {
                break;
            }
        }
        let mut body = vec![0u8; length];
        if from.read_exact(&mut body).is_err() {
            break;
        }
        // PUBACK: packet id, then (MQTT 5) the reason code.
        if header[0] == 0x40 && body.len() >= 3 && body[2] == code {
            body[2] = into;
        }
        let packet: Vec<u8> = header
            .iter()
            .chain(&length_bytes)
            .chain(&body)
            .copied()
            .collect();
        if to.write_all(&packet).is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Both);
}
