//! `--corpus DIR`: inputs kept as JSON files (one input per file: a list of actions for
//! `fuzz gateway`, a version and its actions for `fuzz platform`), replayed first and grown
//! with inputs that made the gateway or the platform do something new.

use std::hash::{Hash, Hasher};
use std::path::Path;

use serde::Serialize;
use serde::de::DeserializeOwned;

/// Every input in `dir` (none when it does not exist yet), in file-name order; files that are
/// not inputs are reported, not fatal.
pub fn load<Input: DeserializeOwned>(dir: &Path) -> Result<(Vec<Input>, Vec<String>), String> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), Vec::new())),
        Err(e) => return Err(format!("cannot read --corpus {}: {e}", dir.display())),
    };
    let mut paths: Vec<_> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    let mut inputs = Vec::new();
    let mut skipped = Vec::new();
    for path in paths {
        let read = std::fs::read_to_string(&path)
            .map_err(|e| e.to_string())
            .and_then(|text| serde_json::from_str::<Input>(&text).map_err(|e| e.to_string()));
        match read {
            Ok(input) => inputs.push(input),
            Err(e) => skipped.push(format!("{}: {e}", path.display())),
        }
    }
    Ok((inputs, skipped))
}

/// Saves an input under a name made from its content (saving it twice is one file).
pub fn save<Input: Serialize + ?Sized>(dir: &Path, input: &Input) -> Result<(), String> {
    std::fs::create_dir_all(dir)
        .map_err(|e| format!("cannot create --corpus {}: {e}", dir.display()))?;
    let text = serde_json::to_string_pretty(input).map_err(|e| e.to_string())?;
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    text.hash(&mut hasher);
    let path = dir.join(format!("{:016x}.json", hasher.finish()));
    std::fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fuzz::action::Action;

    #[test]
    fn saved_inputs_load_back_and_other_files_are_reported() {
        let dir = std::env::temp_dir().join(format!("tbgw-corpus-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(
            load::<Vec<Action>>(&dir).unwrap().0.len(),
            0,
            "a corpus not made yet is empty"
        );
        let input = vec![Action::DropConnection, Action::Disconnect { reason: 0x8B }];
        save(&dir, &input).unwrap();
        save(&dir, &input).unwrap();
        std::fs::write(dir.join("broken.json"), "{").unwrap();
        let (inputs, skipped) = load::<Vec<Action>>(&dir).unwrap();
        assert_eq!(inputs, vec![input]);
        assert_eq!(skipped.len(), 1, "{skipped:?}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
