//! Short strings stored inline. Object keys and number texts are nearly always short;
//! keeping them inline spares the allocator one call per data point.

use std::fmt;

const INLINE: usize = 22;

#[derive(Clone, PartialEq, Eq, Hash)]
pub(crate) enum SmallStr {
    Inline { len: u8, bytes: [u8; INLINE] },
    Heap(Box<str>),
}

impl SmallStr {
    pub fn new(text: &str) -> SmallStr {
        if text.len() <= INLINE {
            let mut bytes = [0u8; INLINE];
            bytes[..text.len()].copy_from_slice(text.as_bytes());
            SmallStr::Inline {
                len: text.len() as u8,
                bytes,
            }
        } else {
            SmallStr::Heap(text.into())
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            // The bytes were copied from a `&str` whole, so they are UTF-8.
            SmallStr::Inline { len, bytes } => {
                std::str::from_utf8(&bytes[..usize::from(*len)]).unwrap_or_default()
            }
            SmallStr::Heap(text) => text,
        }
    }
}

impl From<String> for SmallStr {
    fn from(text: String) -> SmallStr {
        if text.len() <= INLINE {
            SmallStr::new(&text)
        } else {
            SmallStr::Heap(text.into_boxed_str())
        }
    }
}

impl fmt::Debug for SmallStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_and_long_texts_read_back() {
        for text in [
            "",
            "temperature",
            "é😀",
            &"x".repeat(22),
            &"y".repeat(23),
            &"é".repeat(11),
        ] {
            assert_eq!(SmallStr::new(text).as_str(), text);
            assert_eq!(SmallStr::from(text.to_owned()).as_str(), text);
        }
    }
}
