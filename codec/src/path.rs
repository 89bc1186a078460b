//! JSON paths that name the value an error or a leniency is about: `$.device`,
//! `$["Device A"][0].values.temperature`.

use std::fmt;

/// One step into a JSON value.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Segment {
    Key(String),
    Index(usize),
}

/// A path from the payload's root, rendered in JSONPath notation.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct JsonPath(pub Vec<Segment>);

impl JsonPath {
    pub fn root() -> JsonPath {
        JsonPath(Vec::new())
    }

    pub fn segments(&self) -> &[Segment] {
        &self.0
    }
}

fn is_identifier(key: &str) -> bool {
    let mut chars = key.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl fmt::Display for JsonPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("$")?;
        for segment in &self.0 {
            match segment {
                Segment::Key(key) if is_identifier(key) => write!(f, ".{key}")?,
                Segment::Key(key) => {
                    let mut quoted = String::new();
                    crate::json::write_string(key, &mut quoted);
                    write!(f, "[{quoted}]")?
                }
                Segment::Index(i) => write!(f, "[{i}]")?,
            }
        }
        Ok(())
    }
}

/// A path under construction, kept on the stack while decoding so that the happy
/// path allocates nothing; it becomes a [`JsonPath`] only when something is reported.
#[derive(Clone, Copy)]
pub(crate) enum Trail<'p> {
    Root,
    Key(&'p Trail<'p>, &'p str),
    Index(&'p Trail<'p>, usize),
}

impl<'p> Trail<'p> {
    pub fn key(&'p self, key: &'p str) -> Trail<'p> {
        Trail::Key(self, key)
    }

    pub fn index(&'p self, index: usize) -> Trail<'p> {
        Trail::Index(self, index)
    }

    pub fn to_path(self) -> JsonPath {
        let mut segments = Vec::new();
        let mut at = self;
        loop {
            match at {
                Trail::Root => break,
                Trail::Key(parent, key) => {
                    segments.push(Segment::Key(key.to_owned()));
                    at = *parent;
                }
                Trail::Index(parent, index) => {
                    segments.push(Segment::Index(index));
                    at = *parent;
                }
            }
        }
        segments.reverse();
        JsonPath(segments)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_use_dots_and_other_keys_brackets() {
        let root = Trail::Root;
        let device = root.key("Device A");
        let first = device.index(0);
        let values = first.key("values");
        assert_eq!(values.to_path().to_string(), r#"$["Device A"][0].values"#);
        assert_eq!(JsonPath::root().to_string(), "$");
    }
}
