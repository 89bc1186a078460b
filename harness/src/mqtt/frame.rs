//! MQTT framing: where the next whole packet ends in a byte buffer (fixed header plus the
//! variable-length "remaining length").

#[derive(Debug, PartialEq, Eq)]
pub enum Frame {
    /// More bytes are needed.
    Incomplete,
    /// A whole packet of this many bytes is at the front of the buffer.
    Complete(usize),
    /// The remaining length is over the limit (the value read).
    TooLarge(usize),
    /// The remaining-length field is malformed.
    Invalid,
}

/// Finds the first packet in `buf`; a remaining length over `max` is `TooLarge`, read from
/// the header alone so that the body is never buffered.
pub fn next_frame(buf: &[u8], max: usize) -> Frame {
    let mut remaining: usize = 0;
    let mut shift = 0;
    for i in 1..=4 {
        let Some(byte) = buf.get(i) else {
            return Frame::Incomplete;
        };
        remaining |= usize::from(byte & 0x7F) << shift;
        if byte & 0x80 == 0 {
            if remaining > max {
                return Frame::TooLarge(remaining);
            }
            let total = 1 + i + remaining;
            return if buf.len() >= total {
                Frame::Complete(total)
            } else {
                Frame::Incomplete
            };
        }
        shift += 7;
    }
    Frame::Invalid
}

/// The remaining-length field for `len`.
pub fn remaining_length(len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(4);
    let mut rest = len;
    loop {
        let digit = (rest % 128) as u8;
        rest /= 128;
        out.push(if rest > 0 { digit | 0x80 } else { digit });
        if rest == 0 {
            return out;
        }
    }
}

/// A whole packet: the first header byte, the remaining length, then `body`.
pub fn packet(first: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![first];
    out.extend(remaining_length(body.len()));
    out.extend_from_slice(body);
    out
}
