//! Line and column of a byte offset, for messages a person reads.

use std::fmt;

/// A place in the payload text: 1-based line, and 1-based column counted in characters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Position {
    pub line: u32,
    pub column: u32,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// The position of `offset` in `src` (an offset past the end is clamped to the end).
pub fn position_of(src: &str, offset: usize) -> Position {
    let offsets = [offset];
    let mut out = [Position { line: 1, column: 1 }];
    positions_of(src, &offsets, &mut out);
    out[0]
}

/// Positions of many offsets in one pass over `src`; `offsets` must be sorted ascending.
/// An offset inside a character gets the next character's position.
///
/// Bytes, not `char`s: a column counts the bytes that start a character (every byte but a
/// UTF-8 continuation byte), so no character is decoded. Every error and leniency has a
/// position, so this pass runs on most decodes (it was a fifth of the time of the fuzz
/// target `decode_bytes`).
pub(crate) fn positions_of(src: &str, offsets: &[usize], out: &mut [Position]) {
    let bytes = src.as_bytes();
    let (mut line, mut column) = (1u32, 1u32);
    let mut scanned = 0;
    for (slot, &offset) in out.iter_mut().zip(offsets) {
        let offset = offset.clamp(scanned, bytes.len());
        for &byte in &bytes[scanned..offset] {
            if byte == b'\n' {
                line += 1;
                column = 1;
            } else if byte & 0xC0 != 0x80 {
                column += 1;
            }
        }
        scanned = offset;
        // Inside a character its start byte was counted: the position is the next one's.
        *slot = Position { line, column };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_count_characters_not_bytes() {
        let src = "{\"é\":\n  x}";
        assert_eq!(position_of(src, 0), Position { line: 1, column: 1 });
        assert_eq!(
            position_of(src, src.find('x').unwrap()),
            Position { line: 2, column: 3 }
        );
        assert_eq!(position_of(src, 4), Position { line: 1, column: 4 });
    }

    /// The byte scan gives what walking the characters gives, for every offset of texts
    /// with multi-byte characters and newlines, inside characters and past the end too.
    #[test]
    fn the_byte_scan_agrees_with_walking_the_characters() {
        fn by_chars(src: &str, offset: usize) -> Position {
            let (mut line, mut column) = (1u32, 1u32);
            for (i, c) in src.char_indices() {
                if i >= offset {
                    return Position { line, column };
                }
                if c == '\n' {
                    line += 1;
                    column = 1;
                } else {
                    column += 1;
                }
            }
            Position { line, column }
        }
        for src in ["", "{\"é\":\n  x}", "a\n\nb😀c\r\nd", "名前\n€x"] {
            let offsets: Vec<usize> = (0..=src.len() + 2).collect();
            let mut out = vec![Position { line: 0, column: 0 }; offsets.len()];
            positions_of(src, &offsets, &mut out);
            for (&offset, got) in offsets.iter().zip(&out) {
                assert_eq!(*got, by_chars(src, offset), "{src:?} at {offset}");
            }
        }
    }
}
