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
pub(crate) fn positions_of(src: &str, offsets: &[usize], out: &mut [Position]) {
    let (mut line, mut column) = (1u32, 1u32);
    let mut next = 0;
    for (i, c) in src.char_indices() {
        while next < offsets.len() && offsets[next] <= i {
            out[next] = Position { line, column };
            next += 1;
        }
        if next == offsets.len() {
            return;
        }
        if c == '\n' {
            line += 1;
            column = 1;
        } else {
            column += 1;
        }
    }
    for slot in &mut out[next..] {
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
}
