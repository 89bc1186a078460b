//! The `emulator_core` fuzz target's inputs as ordinary tests: every regression and seed
//! replays through the same oracle (`tbgw_harness::emulator::fuzzing`).
#![cfg(feature = "arbitrary")]

use std::path::{Path, PathBuf};

use arbitrary::{Arbitrary, Unstructured};
use tbgw_harness::emulator::fuzzing::{Script, run};

fn inputs(dir: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz")
        .join(dir);
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.is_file() && path.extension().is_none_or(|ext| ext != "md"))
        .collect();
    paths.sort();
    paths
}

fn replay(path: &Path) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    // libFuzzer's `fuzz_target!` builds the input the same way.
    if let Ok(script) = Script::arbitrary_take_rest(Unstructured::new(&bytes)) {
        run(&script);
    }
}

#[test]
fn emulator_core_seeds_and_regressions_replay() {
    let mut all = inputs("seeds/emulator_core");
    assert!(!all.is_empty(), "fuzz/seeds/emulator_core holds no input");
    all.extend(inputs("regressions/emulator_core"));
    for path in &all {
        replay(path);
    }
}
