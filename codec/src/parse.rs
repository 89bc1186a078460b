//! The JSON reader behind every decode, with source offsets on every node.
//!
//! Two grammars: RFC 8259 for strict mode, and the lenient grammar of the Gson
//! `JsonReader` that ThingsBoard parses gateway payloads with
//! (`reference/thingsboard-behavior.md` §3.1): single quotes, unquoted names and values,
//! `//`, `#` and `/* */` comments, `=`/`=>` and `;` separators, empty array slots read as
//! null, case-insensitive keywords. Everything the lenient grammar accepts beyond RFC 8259
//! is reported as a [`SyntaxLeniency`], so a checker can say what only ThingsBoard forgives.
//!
//! No crate offers both grammars with byte offsets, raw number text and duplicate-key
//! visibility, so this one is written here; it is small and fuzzed.

use std::collections::HashSet;
use std::fmt;

use bumpalo::Bump;

use crate::json::number_len;
use crate::path::Segment;

/// Deeper nesting is refused. ThingsBoard has no such limit, but no gateway payload
/// comes near it, it keeps recursion bounded on hostile input, and it is the limit
/// serde_json uses too.
pub const MAX_DEPTH: usize = 128;

/// Gson gives up on a number that fills its 1024-character read buffer and reads it as an
/// unquoted string instead (`JsonReader.peekNumber`).
const GSON_NUMBER_BUFFER: usize = 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Grammar {
    Rfc8259,
    Gson,
}

/// A parsed value with the byte offset where it starts. The tree lives in a bump arena
/// that is freed in one go: nothing in it needs dropping.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Node<'a> {
    pub at: usize,
    pub kind: NodeKind<'a>,
}

#[derive(Clone, Copy, Debug)]
pub(crate) enum NodeKind<'a> {
    Null,
    Bool(bool),
    /// Number text, always RFC 8259 grammar.
    Number(&'a str),
    /// The text, borrowed from the payload, or unescaped into the arena.
    String(&'a str),
    Array(&'a [Node<'a>]),
    Object(&'a [Member<'a>]),
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct Member<'a> {
    pub key: &'a str,
    pub key_at: usize,
    pub value: Node<'a>,
}

/// What is wrong with a payload's JSON text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SyntaxProblem {
    EmptyPayload,
    UnexpectedEnd { expected: &'static str },
    UnexpectedChar { found: char, expected: &'static str },
    UnterminatedString,
    UnterminatedComment,
    InvalidEscape { found: char },
    InvalidUnicodeEscape,
    LoneSurrogate,
    ControlCharacterInString { code: u32 },
    InvalidUtf8,
    DuplicateKey { key: String },
    TrailingData,
    TooDeep,
}

impl fmt::Display for SyntaxProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SyntaxProblem::EmptyPayload => f.write_str("the payload is empty"),
            SyntaxProblem::UnexpectedEnd { expected } => {
                write!(f, "the payload ends where {expected} was expected")
            }
            SyntaxProblem::UnexpectedChar { found, expected } => {
                write!(
                    f,
                    "found {} where {expected} was expected",
                    describe_char(*found)
                )
            }
            SyntaxProblem::UnterminatedString => f.write_str("a string is not closed"),
            SyntaxProblem::UnterminatedComment => f.write_str("a /* comment is not closed"),
            SyntaxProblem::InvalidEscape { found } => {
                write!(f, "`\\{}` is not a JSON escape", found.escape_debug())
            }
            SyntaxProblem::InvalidUnicodeEscape => {
                f.write_str("`\\u` must be followed by four hex digits")
            }
            SyntaxProblem::LoneSurrogate => f.write_str(
                "a `\\u` escape encodes half of a UTF-16 surrogate pair without the other half",
            ),
            SyntaxProblem::ControlCharacterInString { code } => {
                write!(
                    f,
                    "control character U+{code:04X} must be escaped inside a string"
                )
            }
            SyntaxProblem::InvalidUtf8 => f.write_str("the payload is not valid UTF-8"),
            SyntaxProblem::DuplicateKey { key } => {
                write!(f, "key `{key}` appears twice in one object")
            }
            SyntaxProblem::TrailingData => f.write_str("there is more text after the JSON value"),
            SyntaxProblem::TooDeep => write!(f, "values are nested deeper than {MAX_DEPTH} levels"),
        }
    }
}

fn describe_char(c: char) -> String {
    if c.is_ascii_graphic() {
        format!("`{c}`")
    } else {
        format!("U+{:04X}", c as u32)
    }
}

/// A syntax error at a byte offset, with the path of the value it is inside.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SyntaxError {
    pub at: usize,
    pub problem: SyntaxProblem,
    /// Innermost segment last once [`SyntaxError::finish_path`] ran; built while unwinding.
    pub path: Vec<Segment>,
}

impl SyntaxError {
    fn new(at: usize, problem: SyntaxProblem) -> SyntaxError {
        SyntaxError {
            at,
            problem,
            path: Vec::new(),
        }
    }

    fn inside(mut self, segment: Segment) -> SyntaxError {
        self.path.push(segment);
        self
    }

    fn finish_path(mut self) -> SyntaxError {
        self.path.reverse();
        self
    }
}

/// Something the Gson grammar accepts that RFC 8259 does not.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SyntaxLeniency {
    SingleQuotedString,
    UnquotedName,
    UnquotedString,
    Comment,
    EqualsSeparator,
    SemicolonSeparator,
    EmptyArraySlot,
    NonExecutePrefix,
    ByteOrderMark,
    KeywordCase,
    EscapedApostrophe,
    EscapedNewline,
    ControlCharacterInString,
    LoneSurrogate,
    DuplicateKey,
    InvalidUtf8,
    EmptyPayload,
    DataAfterNull,
}

impl fmt::Display for SyntaxLeniency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SyntaxLeniency::SingleQuotedString => "a single-quoted string",
            SyntaxLeniency::UnquotedName => "an unquoted object key",
            SyntaxLeniency::UnquotedString => "an unquoted string value",
            SyntaxLeniency::Comment => "a comment",
            SyntaxLeniency::EqualsSeparator => "`=` or `=>` between a key and its value",
            SyntaxLeniency::SemicolonSeparator => "`;` as a separator",
            SyntaxLeniency::EmptyArraySlot => "an empty array slot, read as null",
            SyntaxLeniency::NonExecutePrefix => "the `)]}'` prefix",
            SyntaxLeniency::ByteOrderMark => {
                "a byte order mark before the JSON text (RFC 8259 §8.1: must not be sent)"
            }
            SyntaxLeniency::KeywordCase => "a keyword not in lower case",
            SyntaxLeniency::EscapedApostrophe => "the escape `\\'`",
            SyntaxLeniency::EscapedNewline => "a backslash before a line break",
            SyntaxLeniency::ControlCharacterInString => {
                "an unescaped control character in a string"
            }
            SyntaxLeniency::LoneSurrogate => "half a surrogate pair, stored as U+FFFD",
            SyntaxLeniency::DuplicateKey => "a repeated key (the last value wins)",
            SyntaxLeniency::InvalidUtf8 => "bytes that are not UTF-8, replaced by U+FFFD",
            SyntaxLeniency::EmptyPayload => "an empty payload, read as null",
            SyntaxLeniency::DataAfterNull => "text after a top-level null, ignored",
        })
    }
}

/// Parses a whole document into `arena`. `Ok(None)` is an empty payload, which only the
/// Gson grammar accepts.
pub(crate) fn parse_document<'a>(
    src: &'a str,
    grammar: Grammar,
    arena: &'a Bump,
    notes: &mut Vec<(usize, SyntaxLeniency)>,
) -> Result<Option<Node<'a>>, SyntaxError> {
    let mut parser = Parser {
        src,
        arena,
        bytes: src.as_bytes(),
        pos: 0,
        grammar,
        depth: 0,
        notes,
        // Sized from the payload: small messages should not pay for a big stack.
        stack: Vec::with_capacity((src.len() / 16).clamp(4, 32)),
    };
    parser.document().map_err(SyntaxError::finish_path)
}

/// An arena big enough for the tree of most payloads of `len` bytes in one allocation.
pub(crate) fn arena_for(len: usize) -> Bump {
    Bump::with_capacity((len * 4).clamp(256, 64 * 1024))
}

struct Parser<'a, 'n> {
    src: &'a str,
    arena: &'a Bump,
    bytes: &'a [u8],
    pos: usize,
    grammar: Grammar,
    depth: usize,
    notes: &'n mut Vec<(usize, SyntaxLeniency)>,
    /// Members of the objects (and, keyless, items of the arrays) being parsed, innermost
    /// last; each container takes its own off the top when it closes, so it is allocated
    /// once, at its final size.
    stack: Vec<Member<'a>>,
}

/// Characters that end a Gson unquoted literal (`JsonReader.isLiteral`).
fn ends_literal(c: u8) -> bool {
    matches!(
        c,
        b'/' | b'\\'
            | b';'
            | b'#'
            | b'='
            | b'{'
            | b'}'
            | b'['
            | b']'
            | b':'
            | b','
            | b' '
            | b'\t'
            | 0x0C
            | b'\r'
            | b'\n'
    )
}

impl<'a> Parser<'a, '_> {
    fn lenient(&self) -> bool {
        self.grammar == Grammar::Gson
    }

    fn note(&mut self, at: usize, what: SyntaxLeniency) {
        self.notes.push((at, what));
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn char_at(&self, at: usize) -> char {
        self.src[at..].chars().next().unwrap_or('\u{FFFD}')
    }

    fn unexpected(&self, expected: &'static str) -> SyntaxError {
        let problem = if self.pos >= self.bytes.len() {
            SyntaxProblem::UnexpectedEnd { expected }
        } else {
            SyntaxProblem::UnexpectedChar {
                found: self.char_at(self.pos),
                expected,
            }
        };
        SyntaxError::new(self.pos, problem)
    }

    fn document(&mut self) -> Result<Option<Node<'a>>, SyntaxError> {
        // Gson's reader drops a byte order mark that starts the text (`JsonReader.fillBuffer`).
        if self.lenient() && self.src.starts_with('\u{FEFF}') {
            self.note(0, SyntaxLeniency::ByteOrderMark);
            self.pos = '\u{FEFF}'.len_utf8();
        }
        self.skip_whitespace()?;
        if self.lenient() && self.bytes[self.pos..].starts_with(b")]}'\n") {
            self.note(self.pos, SyntaxLeniency::NonExecutePrefix);
            self.pos += 5;
            self.skip_whitespace()?;
        }
        if self.pos == self.bytes.len() {
            return if self.lenient() {
                self.note(0, SyntaxLeniency::EmptyPayload);
                Ok(None)
            } else {
                Err(SyntaxError::new(0, SyntaxProblem::EmptyPayload))
            };
        }
        let value = self.value()?;
        self.skip_whitespace()?;
        if self.pos < self.bytes.len() {
            // Gson's JsonParser skips its end-of-document check after a top-level null.
            if self.lenient() && matches!(value.kind, NodeKind::Null) {
                self.note(self.pos, SyntaxLeniency::DataAfterNull);
            } else {
                return Err(SyntaxError::new(self.pos, SyntaxProblem::TrailingData));
            }
        }
        Ok(Some(value))
    }

    /// Skips whitespace, and in the Gson grammar comments too.
    #[inline]
    fn skip_whitespace(&mut self) -> Result<(), SyntaxError> {
        while let Some(&c) = self.bytes.get(self.pos) {
            match c {
                b' ' | b'\t' | b'\n' | b'\r' => self.pos += 1,
                b'#' | b'/' if self.lenient() => {
                    if !self.skip_comment()? {
                        return Ok(());
                    }
                }
                _ => return Ok(()),
            }
        }
        Ok(())
    }

    /// Skips one comment at `self.pos`; false when the `/` there starts no comment.
    #[cold]
    fn skip_comment(&mut self) -> Result<bool, SyntaxError> {
        let start = self.pos;
        match (self.bytes[start], self.bytes.get(start + 1)) {
            (b'#', _) | (b'/', Some(b'/')) => {
                self.note(start, SyntaxLeniency::Comment);
                self.skip_line();
            }
            (b'/', Some(b'*')) => {
                self.note(start, SyntaxLeniency::Comment);
                match find(&self.bytes[start + 2..], b"*/") {
                    Some(end) => self.pos = start + 2 + end + 2,
                    None => {
                        return Err(SyntaxError::new(start, SyntaxProblem::UnterminatedComment));
                    }
                }
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    fn skip_line(&mut self) {
        while let Some(c) = self.peek() {
            self.pos += 1;
            if c == b'\n' || c == b'\r' {
                return;
            }
        }
    }

    /// A value at `self.pos`; the caller has skipped whitespace.
    fn value(&mut self) -> Result<Node<'a>, SyntaxError> {
        let at = self.pos;
        let kind = match self.peek() {
            None => return Err(self.unexpected("a value")),
            Some(b'{') => self.nested(Self::object)?,
            Some(b'[') => self.nested(Self::array)?,
            Some(b'"') => NodeKind::String(self.string(b'"')?),
            Some(b'\'') if self.lenient() => {
                self.note(at, SyntaxLeniency::SingleQuotedString);
                NodeKind::String(self.string(b'\'')?)
            }
            Some(_) => self.scalar()?,
        };
        Ok(Node { at, kind })
    }

    fn nested(
        &mut self,
        parse: fn(&mut Self) -> Result<NodeKind<'a>, SyntaxError>,
    ) -> Result<NodeKind<'a>, SyntaxError> {
        if self.depth >= MAX_DEPTH {
            return Err(SyntaxError::new(self.pos, SyntaxProblem::TooDeep));
        }
        self.depth += 1;
        self.pos += 1;
        let kind = parse(self);
        self.depth -= 1;
        kind
    }

    /// A keyword, a number, or (Gson only) an unquoted string.
    fn scalar(&mut self) -> Result<NodeKind<'a>, SyntaxError> {
        let at = self.pos;
        let rest = &self.bytes[at..];
        if rest[0] == b'-' || rest[0].is_ascii_digit() {
            if let Some(len) = number_len(rest)
                && rest
                    .get(len)
                    .is_none_or(|&c| !self.lenient() || ends_literal(c))
                && (!self.lenient() || len < GSON_NUMBER_BUFFER)
            {
                self.pos += len;
                return Ok(NodeKind::Number(&self.src[at..at + len]));
            }
            return self.unquoted(at);
        }
        for (word, kind) in [
            ("true", NodeKind::Bool(true)),
            ("false", NodeKind::Bool(false)),
            ("null", NodeKind::Null),
        ] {
            let Some(candidate) = rest.get(..word.len()) else {
                continue;
            };
            let exact = candidate == word.as_bytes();
            let ends = rest
                .get(word.len())
                .is_none_or(|&c| !self.lenient() || ends_literal(c));
            if exact && ends {
                self.pos += word.len();
                return Ok(kind);
            }
            if self.lenient() && ends && candidate.eq_ignore_ascii_case(word.as_bytes()) {
                self.note(at, SyntaxLeniency::KeywordCase);
                self.pos += word.len();
                return Ok(kind);
            }
        }
        self.unquoted(at)
    }

    /// Gson reads anything else that starts with a literal character as an unquoted string.
    fn unquoted(&mut self, at: usize) -> Result<NodeKind<'a>, SyntaxError> {
        if self.lenient() && !ends_literal(self.bytes[at]) {
            self.note(at, SyntaxLeniency::UnquotedString);
            return Ok(NodeKind::String(self.literal()));
        }
        Err(self.unexpected("a value"))
    }

    /// A Gson unquoted literal, up to the next character that ends one.
    fn literal(&mut self) -> &'a str {
        let start = self.pos;
        while self.peek().is_some_and(|c| !ends_literal(c)) {
            self.pos += 1;
        }
        &self.src[start..self.pos]
    }

    fn array(&mut self) -> Result<NodeKind<'a>, SyntaxError> {
        self.skip_whitespace()?;
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(NodeKind::Array(&[]));
        }
        let start = self.stack.len();
        loop {
            self.skip_whitespace()?;
            let index = self.stack.len() - start;
            let at = self.pos;
            let value = if self.lenient() && matches!(self.peek(), Some(b',' | b';' | b']')) {
                self.note(at, SyntaxLeniency::EmptyArraySlot);
                Node {
                    at,
                    kind: NodeKind::Null,
                }
            } else {
                self.value().map_err(|e| e.inside(Segment::Index(index)))?
            };
            self.stack.push(Member {
                key: "",
                key_at: at,
                value,
            });
            self.skip_whitespace()?;
            match self.peek() {
                Some(b']') => {
                    self.pos += 1;
                    let items = self.stack.drain(start..).map(|item| item.value);
                    return Ok(NodeKind::Array(self.arena.alloc_slice_fill_iter(items)));
                }
                Some(b',') => self.pos += 1,
                Some(b';') if self.lenient() => {
                    self.note(self.pos, SyntaxLeniency::SemicolonSeparator);
                    self.pos += 1;
                }
                _ => return Err(self.unexpected("`,` or `]`")),
            }
        }
    }

    fn object(&mut self) -> Result<NodeKind<'a>, SyntaxError> {
        self.skip_whitespace()?;
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(NodeKind::Object(&[]));
        }
        let start = self.stack.len();
        loop {
            self.skip_whitespace()?;
            let key_at = self.pos;
            let key = match self.peek() {
                Some(b'"') => self.string(b'"')?,
                Some(b'\'') if self.lenient() => {
                    self.note(key_at, SyntaxLeniency::SingleQuotedString);
                    self.string(b'\'')?
                }
                Some(c) if self.lenient() && !ends_literal(c) => {
                    self.note(key_at, SyntaxLeniency::UnquotedName);
                    self.literal()
                }
                _ => return Err(self.unexpected("a key in double quotes")),
            };
            self.skip_whitespace()?;
            match self.peek() {
                Some(b':') => self.pos += 1,
                Some(b'=') if self.lenient() => {
                    self.note(self.pos, SyntaxLeniency::EqualsSeparator);
                    self.pos += 1;
                    if self.peek() == Some(b'>') {
                        self.pos += 1;
                    }
                }
                _ => return Err(self.unexpected("`:`")),
            }
            self.skip_whitespace()?;
            let value = self
                .value()
                .map_err(|e| e.inside(Segment::Key(key.to_owned())))?;
            self.stack.push(Member { key, key_at, value });
            self.skip_whitespace()?;
            match self.peek() {
                Some(b'}') => {
                    self.pos += 1;
                    break;
                }
                Some(b',') => self.pos += 1,
                Some(b';') if self.lenient() => {
                    self.note(self.pos, SyntaxLeniency::SemicolonSeparator);
                    self.pos += 1;
                }
                _ => return Err(self.unexpected("`,` or `}`")),
            }
        }
        self.resolve_duplicates(start)?;
        let members = self.stack.drain(start..);
        Ok(NodeKind::Object(self.arena.alloc_slice_fill_iter(members)))
    }

    /// RFC grammar: a repeated key is an error. Gson: the first place keeps the last value.
    /// Works on the members of the object being closed: `self.stack[start..]`.
    fn resolve_duplicates(&mut self, start: usize) -> Result<(), SyntaxError> {
        let Some(first_repeat) = first_repeated_key(&self.stack[start..]) else {
            return Ok(());
        };
        if !self.lenient() {
            let repeat = &self.stack[start + first_repeat];
            let problem = SyntaxProblem::DuplicateKey {
                key: repeat.key.to_owned(),
            };
            return Err(SyntaxError::new(repeat.key_at, problem));
        }
        let mut kept: Vec<Member<'a>> = Vec::with_capacity(self.stack.len() - start);
        for member in self.stack.drain(start..) {
            match kept.iter_mut().find(|m| m.key == member.key) {
                Some(earlier) => {
                    self.notes
                        .push((member.key_at, SyntaxLeniency::DuplicateKey));
                    earlier.value = member.value;
                }
                None => kept.push(member),
            }
        }
        self.stack.extend(kept);
        Ok(())
    }

    /// A quoted string; the opening quote is at `self.pos`.
    fn string(&mut self, quote: u8) -> Result<&'a str, SyntaxError> {
        let open = self.pos;
        self.pos += 1;
        let start = self.pos;
        // Fast path: no escapes and no control characters means the text borrows.
        while let Some(c) = self.peek() {
            if c == quote {
                self.pos += 1;
                return Ok(&self.src[start..self.pos - 1]);
            }
            if c == b'\\' || c < 0x20 {
                break;
            }
            self.pos += 1;
        }
        let mut text = String::from(&self.src[start..self.pos]);
        loop {
            let Some(c) = self.peek() else {
                return Err(SyntaxError::new(open, SyntaxProblem::UnterminatedString));
            };
            match c {
                _ if c == quote => {
                    self.pos += 1;
                    return Ok(self.arena.alloc_str(&text));
                }
                b'\\' => self.escape(&mut text)?,
                0x00..=0x1F => {
                    if !self.lenient() {
                        let problem =
                            SyntaxProblem::ControlCharacterInString { code: u32::from(c) };
                        return Err(SyntaxError::new(self.pos, problem));
                    }
                    self.note(self.pos, SyntaxLeniency::ControlCharacterInString);
                    text.push(char::from(c));
                    self.pos += 1;
                }
                _ => {
                    let run_start = self.pos;
                    while self
                        .peek()
                        .is_some_and(|b| b != quote && b != b'\\' && b >= 0x20)
                    {
                        self.pos += 1;
                    }
                    text.push_str(&self.src[run_start..self.pos]);
                }
            }
        }
    }

    /// One escape sequence; the backslash is at `self.pos`.
    fn escape(&mut self, text: &mut String) -> Result<(), SyntaxError> {
        let at = self.pos;
        self.pos += 1;
        let Some(c) = self.peek() else {
            return Err(SyntaxError::new(at, SyntaxProblem::UnterminatedString));
        };
        self.pos += 1;
        let decoded = match c {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => return self.unicode_escape(at, text),
            b'\'' if self.lenient() => {
                self.note(at, SyntaxLeniency::EscapedApostrophe);
                '\''
            }
            b'\n' if self.lenient() => {
                self.note(at, SyntaxLeniency::EscapedNewline);
                '\n'
            }
            _ => {
                let found = self.char_at(self.pos - 1);
                return Err(SyntaxError::new(at, SyntaxProblem::InvalidEscape { found }));
            }
        };
        text.push(decoded);
        Ok(())
    }

    fn hex4(&mut self, escape_at: usize) -> Result<u16, SyntaxError> {
        let digits = self
            .bytes
            .get(self.pos..self.pos + 4)
            .filter(|d| d.iter().all(u8::is_ascii_hexdigit));
        let Some(digits) = digits else {
            return Err(SyntaxError::new(
                escape_at,
                SyntaxProblem::InvalidUnicodeEscape,
            ));
        };
        self.pos += 4;
        // Four ASCII hex digits always parse.
        let text = std::str::from_utf8(digits).unwrap_or("0");
        Ok(u16::from_str_radix(text, 16).unwrap_or(0))
    }

    fn unicode_escape(&mut self, at: usize, text: &mut String) -> Result<(), SyntaxError> {
        let unit = self.hex4(at)?;
        let decoded = match unit {
            0xD800..=0xDBFF if self.bytes[self.pos..].starts_with(b"\\u") => {
                let save = self.pos;
                self.pos += 2;
                let low = self.hex4(save)?;
                if (0xDC00..=0xDFFF).contains(&low) {
                    let code =
                        0x10000 + ((u32::from(unit) - 0xD800) << 10) + (u32::from(low) - 0xDC00);
                    char::from_u32(code)
                } else {
                    self.pos = save;
                    None
                }
            }
            _ => char::from_u32(u32::from(unit)),
        };
        match decoded {
            Some(c) => text.push(c),
            None if self.lenient() => {
                // Java keeps the lone surrogate; it becomes U+FFFD once ThingsBoard writes it as UTF-8.
                self.note(at, SyntaxLeniency::LoneSurrogate);
                text.push('\u{FFFD}');
            }
            None => return Err(SyntaxError::new(at, SyntaxProblem::LoneSurrogate)),
        }
        Ok(())
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn first_repeated_key(members: &[Member<'_>]) -> Option<usize> {
    const SMALL: usize = 16;
    if members.len() < 2 {
        None
    } else if members.len() <= SMALL {
        // Compare cheap fingerprints first: most keys differ in length or at their ends.
        let mut prints = [0u64; SMALL];
        for (i, m) in members.iter().enumerate() {
            prints[i] = fingerprint(m.key);
        }
        (1..members.len())
            .find(|&i| (0..i).any(|j| prints[j] == prints[i] && members[j].key == members[i].key))
    } else {
        let mut seen = HashSet::with_capacity(members.len());
        members.iter().position(|m| !seen.insert(&m.key))
    }
}

/// Length and the first and last eight bytes of a key, mixed into one word.
fn fingerprint(key: &str) -> u64 {
    let bytes = key.as_bytes();
    let word = |chunk: &[u8]| chunk.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
    let head = word(&bytes[..bytes.len().min(8)]);
    let tail = word(&bytes[bytes.len().saturating_sub(8)..]);
    (bytes.len() as u64) ^ head.rotate_left(17) ^ tail.rotate_left(41)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(
        src: &str,
        grammar: Grammar,
    ) -> (Result<Option<Node<'_>>, SyntaxError>, Vec<SyntaxLeniency>) {
        let mut notes = Vec::new();
        // The tree borrows its arena; a test may keep it as long as it likes.
        let arena: &'static Bump = Box::leak(Box::new(Bump::new()));
        let result = parse_document(src, grammar, arena, &mut notes);
        (result, notes.into_iter().map(|(_, n)| n).collect())
    }

    fn problem(src: &str, grammar: Grammar) -> SyntaxProblem {
        parse(src, grammar).0.expect_err(src).problem
    }

    #[test]
    fn rfc_grammar_rejects_every_gson_extension() {
        for src in [
            "{'a':1}",
            "{a:1}",
            "{\"a\":b}",
            "{\"a\":1;\"b\":2}",
            "{\"a\"=1}",
            "[1,,2]",
            "[1,]",
            "// c\n{}",
            "# c\n{}",
            "/* c */{}",
            "{\"a\":TRUE}",
            "{\"a\":\"\\'\"}",
            "",
            "{\"a\":1,\"a\":2}",
            "{\"a\":\"\u{1}\"}",
            "{\"a\":\"\\ud800\"}",
            ")]}'\n{}",
            "null x",
        ] {
            assert!(parse(src, Grammar::Rfc8259).0.is_err(), "{src:?}");
        }
    }

    #[test]
    fn gson_grammar_accepts_its_extensions_and_names_them() {
        let cases: [(&str, SyntaxLeniency); 14] = [
            ("{'a':1}", SyntaxLeniency::SingleQuotedString),
            ("{a:1}", SyntaxLeniency::UnquotedName),
            ("{\"a\":b}", SyntaxLeniency::UnquotedString),
            ("{\"a\":1;\"b\":2}", SyntaxLeniency::SemicolonSeparator),
            ("{\"a\"=>1}", SyntaxLeniency::EqualsSeparator),
            ("[1,,2]", SyntaxLeniency::EmptyArraySlot),
            ("# c\n{}", SyntaxLeniency::Comment),
            ("/* c */{}", SyntaxLeniency::Comment),
            ("{\"a\":TRUE}", SyntaxLeniency::KeywordCase),
            ("{\"a\":\"\\'\"}", SyntaxLeniency::EscapedApostrophe),
            ("", SyntaxLeniency::EmptyPayload),
            ("{\"a\":1,\"a\":2}", SyntaxLeniency::DuplicateKey),
            ("{\"a\":\"\\ud800\"}", SyntaxLeniency::LoneSurrogate),
            (")]}'\n{}", SyntaxLeniency::NonExecutePrefix),
        ];
        for (src, expected) in cases {
            let (result, notes) = parse(src, Grammar::Gson);
            assert!(result.is_ok(), "{src:?}: {result:?}");
            assert!(notes.contains(&expected), "{src:?}: {notes:?}");
        }
    }

    #[test]
    fn gson_drops_a_leading_byte_order_mark_and_rfc_refuses_it() {
        let (result, notes) = parse("\u{FEFF}{}", Grammar::Gson);
        assert!(matches!(
            result,
            Ok(Some(Node {
                kind: NodeKind::Object(_),
                ..
            }))
        ));
        assert_eq!(notes, [SyntaxLeniency::ByteOrderMark]);
        assert!(parse("\u{FEFF}{}", Grammar::Rfc8259).0.is_err());
        // Only at the very start: elsewhere it is an ordinary (literal) character.
        assert!(parse(" \u{FEFF}{}", Grammar::Gson).0.is_err());
    }

    #[test]
    fn gson_reads_number_lookalikes_as_unquoted_strings() {
        for src in ["01", "1.", "+1", ".5", "NaN", "-Infinity", "12abc", "0x10"] {
            let doc = format!("[{src}]");
            let (result, _) = parse(&doc, Grammar::Gson);
            let Ok(Some(Node {
                kind: NodeKind::Array(items),
                ..
            })) = result
            else {
                panic!("{src}")
            };
            assert!(
                matches!(&items[0].kind, NodeKind::String(s) if *s == src),
                "{src}: {:?}",
                items[0]
            );
        }
    }

    #[test]
    fn gson_reads_a_number_of_1024_characters_as_a_string() {
        let long = "1".repeat(1024);
        let (result, _) = parse(&long, Grammar::Gson);
        assert!(matches!(
            result,
            Ok(Some(Node {
                kind: NodeKind::String(_),
                ..
            }))
        ));
        let (result, _) = parse(&long[..1023], Grammar::Gson);
        assert!(matches!(
            result,
            Ok(Some(Node {
                kind: NodeKind::Number(_),
                ..
            }))
        ));
        let (result, _) = parse(&long, Grammar::Rfc8259);
        assert!(matches!(
            result,
            Ok(Some(Node {
                kind: NodeKind::Number(_),
                ..
            }))
        ));
    }

    #[test]
    fn gson_empty_slots_are_nulls() {
        let (result, _) = parse("[,1,]", Grammar::Gson);
        let Ok(Some(Node {
            kind: NodeKind::Array(items),
            ..
        })) = result
        else {
            panic!()
        };
        let kinds: Vec<bool> = items
            .iter()
            .map(|n| matches!(n.kind, NodeKind::Null))
            .collect();
        assert_eq!(kinds, [true, false, true]);
    }

    #[test]
    fn both_grammars_reject_trailing_commas_in_objects_and_trailing_data() {
        for grammar in [Grammar::Rfc8259, Grammar::Gson] {
            assert!(matches!(
                problem("{\"a\":1,}", grammar),
                SyntaxProblem::UnexpectedChar { found: '}', .. }
            ));
            assert_eq!(problem("{} {}", grammar), SyntaxProblem::TrailingData);
        }
    }

    #[test]
    fn duplicate_keys_keep_first_place_last_value_in_gson() {
        let (result, _) = parse(r#"{"a":1,"b":2,"a":3}"#, Grammar::Gson);
        let Ok(Some(Node {
            kind: NodeKind::Object(members),
            ..
        })) = result
        else {
            panic!()
        };
        let view: Vec<(&str, &str)> = members
            .iter()
            .map(|m| match &m.value.kind {
                NodeKind::Number(n) => (m.key, *n),
                _ => panic!(),
            })
            .collect();
        assert_eq!(view, [("a", "3"), ("b", "2")]);
    }

    #[test]
    fn syntax_errors_carry_the_path_of_the_enclosing_value() {
        let err = parse(
            r#"{"Device A":[{"ts":1,"values":{"t":}}]}"#,
            Grammar::Rfc8259,
        )
        .0
        .unwrap_err();
        let path: Vec<String> = err.path.iter().map(|s| format!("{s:?}")).collect();
        assert_eq!(path.len(), 4, "{path:?}");
        assert_eq!(err.at, 35);
    }

    #[test]
    fn nesting_is_bounded() {
        let deep = "[".repeat(MAX_DEPTH + 1);
        assert_eq!(problem(&deep, Grammar::Gson), SyntaxProblem::TooDeep);
        let ok = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert!(parse(&ok, Grammar::Rfc8259).0.is_ok());
    }

    #[test]
    fn escapes_and_surrogate_pairs_decode() {
        let (result, _) = parse(r#""a\u00e9\ud83d\ude00\n""#, Grammar::Rfc8259);
        let Ok(Some(Node {
            kind: NodeKind::String(s),
            ..
        })) = result
        else {
            panic!()
        };
        assert_eq!(s, "aé😀\n");
    }
}
