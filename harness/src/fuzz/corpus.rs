//! `--corpus DIR`: inputs kept as JSON files (one input per file: a list of actions for
//! `fuzz gateway`, a version and its actions for `fuzz platform`), replayed first and grown
//! with inputs that made the gateway or the platform do something new.

use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;

/// A fuzzer's corpus in one run: the inputs of `--corpus` still to replay, the inputs kept to
/// vary, and every feature seen. Without `--corpus` it is empty and never grows, so that a
/// seed gives the same inputs in the same order.
pub struct Corpus<Input> {
    dir: Option<PathBuf>,
    /// Next replay last.
    replays: Vec<Input>,
    kept: Vec<Input>,
    seen: HashSet<String>,
}

impl<Input: Serialize + DeserializeOwned + Clone> Corpus<Input> {
    /// The inputs in `dir`, to replay in file-name order; every file that is not read is a
    /// note, and so is a folder that cannot be read.
    pub fn open(dir: Option<&Path>, note: &mut impl FnMut(String)) -> Corpus<Input> {
        let mut replays = Vec::new();
        if let Some(dir) = dir {
            match load::<Input>(dir) {
                Ok((inputs, skipped)) => {
                    for s in skipped {
                        note(format!("corpus file skipped: {s}"));
                    }
                    replays = inputs;
                    replays.reverse();
                }
                Err(e) => note(e),
            }
        }
        Corpus {
            dir: dir.map(Path::to_path_buf),
            replays,
            kept: Vec::new(),
            seen: HashSet::new(),
        }
    }

    /// Leaves out the replays `unusable` says why it cannot play.
    pub fn drop_replays(
        &mut self,
        mut unusable: impl FnMut(&Input) -> Option<String>,
        note: &mut impl FnMut(String),
    ) {
        self.replays.retain(|input| match unusable(input) {
            None => true,
            Some(why) => {
                note(format!("corpus input skipped: {why}"));
                false
            }
        });
    }

    pub fn next_replay(&mut self) -> Option<Input> {
        self.replays.pop()
    }

    /// The inputs kept so far in this run, to vary.
    pub fn kept(&self) -> &[Input] {
        &self.kept
    }

    /// Keeps `input` (saved to the folder) when one of its features was not seen before;
    /// without `--corpus` the features are not even asked for. A file that cannot be written
    /// is a note.
    pub fn keep_if_new<F: IntoIterator<Item = String>>(
        &mut self,
        input: &Input,
        features: impl FnOnce() -> F,
        note: &mut impl FnMut(String),
    ) {
        let Some(dir) = &self.dir else {
            return;
        };
        let mut new = false;
        for feature in features() {
            new |= self.seen.insert(feature);
        }
        if new {
            if let Err(e) = save(dir, input) {
                note(e);
            }
            self.kept.push(input.clone());
        }
    }
}

/// Every input in `dir` (none when it does not exist yet), in file-name order; files that are
/// not inputs are reported, not fatal.
fn load<Input: DeserializeOwned>(dir: &Path) -> Result<(Vec<Input>, Vec<String>), String> {
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
fn save<Input: Serialize + ?Sized>(dir: &Path, input: &Input) -> Result<(), String> {
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

    #[test]
    fn an_input_is_kept_when_a_feature_is_new_and_only_with_a_folder() {
        let dir = std::env::temp_dir().join(format!("tbgw-corpus-keep-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut notes = Vec::new();
        let mut note = |n: String| notes.push(n);
        let input = vec![Action::DropConnection];
        let mut corpus = Corpus::<Vec<Action>>::open(Some(&dir), &mut note);
        let features = || vec!["a".to_owned(), "b".to_owned()];
        corpus.keep_if_new(&input, features, &mut note);
        corpus.keep_if_new(&input, || vec!["b".to_owned()], &mut note);
        assert_eq!(
            corpus.kept().len(),
            1,
            "only the first brought something new"
        );
        let mut reopened = Corpus::<Vec<Action>>::open(Some(&dir), &mut note);
        assert_eq!(reopened.next_replay(), Some(input.clone()));
        assert_eq!(reopened.next_replay(), None);

        let mut without = Corpus::<Vec<Action>>::open(None, &mut note);
        without.keep_if_new(&input, || -> Vec<String> { panic!("not asked") }, &mut note);
        assert!(without.kept().is_empty());
        assert!(notes.is_empty(), "{notes:?}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
