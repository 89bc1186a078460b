//! Running the `tbgw` binary as a user does, for the CLI tests: one helper to run it and
//! read its exit code and output, one to read its JSON report, and a `tbgw serve` process
//! for the remote target. Included by path (`#[path = "support/cli.rs"] mod cli;`), so a test
//! binary compiles only this; each uses a part of it.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

/// The repository's root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// What a finished `tbgw` said.
#[derive(Debug)]
pub struct Ran {
    /// The exit code, or -1 when a signal ended it.
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Ran {
    /// Both streams, for assertion messages.
    pub fn all(&self) -> String {
        format!(
            "exit {}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// `tbgw` with its working directory at the repository's root.
pub fn command() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tbgw"));
    command.current_dir(repo());
    command
}

pub fn ran(output: std::process::Output) -> Ran {
    Ran {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Runs `tbgw ARGS` from the repository's root, with nothing on standard input.
pub fn tbgw(args: &[&str]) -> Ran {
    tbgw_env(args, &[])
}

pub fn tbgw_env(args: &[&str], env: &[(&str, &str)]) -> Ran {
    let output = command()
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("tbgw runs");
    ran(output)
}

/// Runs `tbgw ARGS` feeding `stdin` (a closed pipe, when tbgw exits before reading, is fine).
pub fn tbgw_stdin(args: &[&str], stdin: &[u8]) -> Ran {
    let mut child = command()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("tbgw starts");
    match child.stdin.take().expect("piped stdin").write_all(stdin) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        written => written.expect("payload written"),
    }
    ran(child.wait_with_output().expect("tbgw finishes"))
}

/// A fresh, empty temporary folder for one test.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tbgw-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// A JSON report, parsed; the panic shows what tbgw printed.
pub fn report(path: &Path, ran: &Ran) -> Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("no JSON report at {} ({e}):\n{}", path.display(), ran.all()));
    serde_json::from_str(&text).expect("the JSON report parses")
}

/// `case id [mqtt]` → verdict, from a JSON report.
pub fn verdicts(report: &Value) -> BTreeMap<String, String> {
    report["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .map(|c| {
            (
                c["id"].as_str().unwrap_or_default().to_owned(),
                c["verdict"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// A `tbgw serve` process on free ports, killed when dropped.
pub struct Serve {
    pub child: Child,
    pub mqtt: String,
    pub rest: String,
    /// The lines it printed up to "ready".
    pub banner: Vec<String>,
    /// Its later stdout lines.
    pub lines: mpsc::Receiver<String>,
}

impl Serve {
    pub fn start(extra: &[&str]) -> Serve {
        Serve::start_with_env(extra, &[])
    }

    /// With ThingsBoard's environment variables set (`NAME`, `value`).
    pub fn start_with_env(extra: &[&str], env: &[(&str, &str)]) -> Serve {
        let mut child = command()
            .args(["serve", "--mqtt", "127.0.0.1:0", "--http", "127.0.0.1:0"])
            .args(extra)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .spawn()
            .expect("tbgw serve runs");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut banner = Vec::new();
        while !banner.iter().any(|l: &String| l.ends_with("ready")) {
            match lines.recv_timeout(Duration::from_secs(10)) {
                Ok(line) => banner.push(line),
                Err(_) => {
                    let _ = child.kill();
                    panic!("tbgw serve never said it was ready; printed: {banner:?}");
                }
            }
        }
        let after = |prefix: &str| {
            banner
                .iter()
                .find_map(|l| l.strip_prefix(prefix))
                .and_then(|rest| rest.split_whitespace().next())
                .unwrap_or_else(|| panic!("no `{prefix}` line in {banner:?}"))
                .to_owned()
        };
        let mqtt = after("tbgw serve: MQTT on ");
        let rest = after("tbgw serve: REST on ");
        Serve {
            child,
            mqtt,
            rest,
            banner,
            lines,
        }
    }

    /// The arguments that point `tbgw run` at this process.
    pub fn remote_args(&self) -> Vec<String> {
        vec![
            "--target".into(),
            "remote".into(),
            "--mqtt".into(),
            self.mqtt.clone(),
            "--rest".into(),
            self.rest.clone(),
        ]
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends `signal` (`INT`, `TERM`) to a process.
pub fn signal(pid: u32, signal: &str) {
    let sent = Command::new("kill")
        .args([format!("-{signal}"), pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(sent.success(), "kill -{signal} {pid}");
}

/// Reads lines from a child's stdout on a thread, to wait on them with a deadline.
pub fn line_reader(stream: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Waits for a line containing `needle`; every line seen is returned either way.
pub fn wait_for_line(
    lines: &mpsc::Receiver<String>,
    needle: &str,
    within: Duration,
) -> (bool, Vec<String>) {
    let deadline = std::time::Instant::now() + within;
    let mut seen = Vec::new();
    while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
        match lines.recv_timeout(left) {
            Ok(line) => {
                let found = line.contains(needle);
                seen.push(line);
                if found {
                    return (true, seen);
                }
            }
            Err(_) => break,
        }
    }
    (false, seen)
}

/// Validates a JUnit report against `tests/schemas/junit.xsd` with xmllint (Debian's
/// libxml2-utils). Without xmllint it prints SKIP past libtest's capture and returns;
/// `TBGW_REQUIRE_XMLLINT=1` (set by .ci/run) makes that a failure.
pub fn validate_junit(report: &Path) {
    let schema = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/schemas/junit.xsd");
    match Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(&schema)
        .arg(report)
        .output()
    {
        Ok(output) => assert!(
            output.status.success(),
            "{} does not match {}:\n{}",
            report.display(),
            schema.display(),
            String::from_utf8_lossy(&output.stderr)
        ),
        Err(e) if std::env::var("TBGW_REQUIRE_XMLLINT").is_ok_and(|v| v == "1") => {
            panic!(
                "TBGW_REQUIRE_XMLLINT=1 but xmllint cannot run ({e}): apt-get install libxml2-utils"
            )
        }
        Err(e) => {
            let _ = writeln!(
                std::io::stderr(),
                "SKIP: the JUnit schema check of {}: xmllint cannot run ({e}); apt-get install libxml2-utils",
                report.display()
            );
        }
    }
}

/// `cargo test` builds the examples beside the binaries.
pub fn reference_gateway() -> String {
    let tbgw = Path::new(env!("CARGO_BIN_EXE_tbgw"));
    let example = tbgw
        .parent()
        .expect("target dir")
        .join("examples")
        .join("reference_gateway");
    assert!(
        example.exists(),
        "{} is missing: run the tests with `cargo test` (which builds the examples)",
        example.display()
    );
    example.display().to_string()
}
