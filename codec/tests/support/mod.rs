//! Shared by the codec's integration tests: the payload corpus files and outcome rendering.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use tbgw_codec::render::render_decoded;
use tbgw_codec::{DecodeError, Decoded, Direction, Topic};

/// One payload of a corpus file.
pub struct Case {
    pub name: String,
    pub topic: Topic,
    pub direction: Direction,
    pub source: String,
    pub payload: Vec<u8>,
}

pub fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

/// Where reviewed snapshots live: `snapshots/` at the top of the repository.
pub fn snapshot_dir(area: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../snapshots")
        .join(area)
}

/// Reads a corpus file (format described at the top of `tests/data/bad-payloads.txt`).
pub fn load(file: &str) -> Vec<Case> {
    let path = data_dir().join(file);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let mut cases = Vec::new();
    for block in text.split("\n=== ").skip(1) {
        let (name, rest) = block.split_once('\n').unwrap_or((block, ""));
        let mut topic = None;
        let mut direction = None;
        let mut source = String::new();
        let mut payload_lines = Vec::new();
        for line in rest.lines() {
            if payload_lines.is_empty() {
                if let Some(t) = line.strip_prefix("topic: ") {
                    topic = Some(t.parse::<Topic>().unwrap_or_else(|e| panic!("{name}: {e}")));
                    continue;
                }
                if let Some(f) = line.strip_prefix("from: ") {
                    direction = Some(match f {
                        "gateway" => Direction::GatewayToPlatform,
                        "platform" => Direction::PlatformToGateway,
                        other => panic!("{name}: unknown `from: {other}`"),
                    });
                    continue;
                }
                if let Some(s) = line.strip_prefix("source: ") {
                    source = s.to_owned();
                    continue;
                }
            }
            payload_lines.push(line);
        }
        cases.push(Case {
            name: name.trim().to_owned(),
            topic: topic.unwrap_or_else(|| panic!("{name}: no topic")),
            direction: direction.unwrap_or_else(|| panic!("{name}: no `from`")),
            source,
            payload: unescape_bytes(&payload_lines.join("\n")),
        });
    }
    cases
}

/// `\xNN` is one raw byte; everything else is UTF-8 text.
fn unescape_bytes(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i..].starts_with(b"\\x")
            && i + 4 <= bytes.len()
            && let Ok(b) = u8::from_str_radix(&text[i + 2..i + 4], 16)
        {
            out.push(b);
            i += 4;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

/// A decode outcome as a reviewer reads it.
pub fn render_outcome(result: &Result<Decoded, DecodeError>) -> String {
    match result {
        Ok(decoded) => format!(
            "{}canonical: {}\n",
            render_decoded(decoded),
            decoded.message.encode()
        ),
        Err(error) => error.render(),
    }
}

/// Fails on snapshot files no test writes any more (insta's `--unreferenced=reject`, without cargo-insta).
pub fn assert_no_orphan_snapshots(area: &str, names: &[&str]) {
    let dir = snapshot_dir(area);
    for entry in
        std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
    {
        let path = entry.expect("a directory entry").path();
        let Some(name) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".snap"))
        else {
            continue;
        };
        assert!(
            names.contains(&name),
            "{} belongs to no test any more: delete it",
            path.display()
        );
    }
}
