//! The fuzz corpus as ordinary tests: every input in `fuzz/regressions/` replays through the
//! same oracle as its fuzz target, and `fuzz/seeds/` stays the set made from the snapshot payloads.
//!
//! `TBGW_WRITE_SEEDS=1 cargo test --test fuzz_corpus` rewrites the seeds after a snapshot change.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use tbgw_codec::fuzzing::{decode_bytes, selector};
use tbgw_codec::{Direction, Mode, Topic};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.is_file() && path.extension().is_none_or(|ext| ext != "md"))
        .collect();
    paths.sort();
    paths
}

#[test]
fn decode_bytes_regressions_replay() {
    let inputs = files(&fuzz_dir().join("regressions/decode_bytes"));
    assert!(
        !inputs.is_empty(),
        "fuzz/regressions/decode_bytes holds no input"
    );
    for path in inputs {
        let data = std::fs::read(&path).expect("a regression input");
        let outcome = std::panic::catch_unwind(|| decode_bytes(&data));
        assert!(outcome.is_ok(), "regression {} fails again", path.display());
    }
}

#[cfg(feature = "arbitrary")]
#[test]
fn roundtrip_message_regressions_replay() {
    use arbitrary::{Arbitrary, Unstructured};
    for path in files(&fuzz_dir().join("regressions/roundtrip_message")) {
        let data = std::fs::read(&path).expect("a regression input");
        // libfuzzer-sys builds a typed input exactly this way.
        if let Ok(message) = tbgw_codec::Message::arbitrary_take_rest(Unstructured::new(&data)) {
            let outcome = std::panic::catch_unwind(|| tbgw_codec::fuzzing::round_trip(&message));
            assert!(outcome.is_ok(), "regression {} fails again", path.display());
        }
    }
}

/// Seeds: every bad payload and every canonical text, in both modes, prefixed with the
/// byte that routes it to its topic and direction.
fn expected_seeds() -> BTreeMap<String, Vec<u8>> {
    let mut seeds = BTreeMap::new();
    let mut add = |name: &str, topic: Topic, direction: Direction, payload: &[u8]| {
        for (mode, suffix) in [(Mode::Strict, "strict"), (Mode::ThingsBoard, "tb")] {
            let mut input = vec![selector(topic, direction, mode)];
            input.extend_from_slice(payload);
            seeds.insert(format!("{name}.{suffix}"), input);
        }
    };
    for case in support::load("bad-payloads.txt") {
        add(
            &format!("bad-{}", case.name),
            case.topic,
            case.direction,
            &case.payload,
        );
    }
    for path in files(&support::snapshot_dir("codec/canonical")) {
        let text = std::fs::read_to_string(&path).expect("a snapshot");
        let body: Vec<&str> = text
            .splitn(3, "---\n")
            .nth(2)
            .expect("an insta header")
            .lines()
            .collect();
        let [heading, payload] = body[..] else {
            panic!("{}: expected a heading and a payload", path.display())
        };
        let (topic, rest) = heading.split_once(' ').expect("`topic (direction)`");
        let topic: Topic = topic.parse().expect("a gateway topic");
        let direction = if rest.contains("gateway → platform") {
            Direction::GatewayToPlatform
        } else {
            Direction::PlatformToGateway
        };
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .expect("a file name");
        add(
            &format!("canonical-{name}"),
            topic,
            direction,
            payload.as_bytes(),
        );
    }
    seeds
}

#[test]
fn seeds_are_made_from_the_snapshot_payloads() {
    let dir = fuzz_dir().join("seeds/decode_bytes");
    let expected = expected_seeds();
    if std::env::var_os("TBGW_WRITE_SEEDS").is_some() {
        for path in files(&dir) {
            std::fs::remove_file(path).expect("an old seed removed");
        }
        for (name, bytes) in &expected {
            std::fs::write(dir.join(name), bytes).expect("a seed written");
        }
    }
    let actual: BTreeMap<String, Vec<u8>> = files(&dir)
        .into_iter()
        .map(|path| {
            let name = path
                .file_name()
                .and_then(|s| s.to_str())
                .expect("a file name")
                .to_owned();
            (name, std::fs::read(&path).expect("a seed"))
        })
        .collect();
    assert!(
        actual == expected,
        "fuzz/seeds/decode_bytes is out of date with the snapshot payloads: run TBGW_WRITE_SEEDS=1 cargo test --test fuzz_corpus"
    );
}
