//! Build-time facts for the `tbgw` binary: the commit it was built from (for `--version`) and
//! the suites of `scenarios/`, embedded so that an installed `tbgw` runs them from any
//! folder with the source tree gone.

use std::path::{Path, PathBuf};

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let scenarios = manifest.join("../scenarios");
    println!("cargo:rerun-if-changed={}", scenarios.display());
    let mut files = Vec::new();
    collect(&scenarios, &mut files);
    files.sort();
    let mut table = String::from("&[\n");
    for file in &files {
        let relative = file.strip_prefix(&scenarios).unwrap_or(file);
        let name = format!("scenarios/{}", relative.display());
        table.push_str(&format!(
            "    ({name:?}, include_str!({:?})),\n",
            file.display().to_string()
        ));
    }
    table.push(']');
    let out = PathBuf::from(std::env::var_os("OUT_DIR").unwrap_or_default());
    let _ = std::fs::write(out.join("embedded_scenarios.rs"), table);

    let git = manifest.join("../.git");
    println!("cargo:rerun-if-changed={}", git.join("HEAD").display());
    println!("cargo:rerun-if-changed={}", git.join("refs").display());
    let commit = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(&manifest)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=TBGW_COMMIT={commit}");
}

/// Every YAML file below `dir` (the schemas and the guide are not suites).
fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(&path, out);
        } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            out.push(path);
        }
    }
}
