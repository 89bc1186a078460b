//! Fuzz oracles, shared by the cargo-fuzz targets in `fuzz/` and by the ordinary test that
//! replays `fuzz/regressions/`. Each function panics when an invariant breaks; that panic
//! is the finding.

use crate::Mode;
use crate::attribute_request::AttributeRequest;
use crate::message::{Decoded, Message, decode, encode};
use crate::topic::{Direction, Topic};

/// Where a byte-level fuzz input goes: its first byte picks topic, direction and mode.
pub fn split_input(data: &[u8]) -> Option<(Topic, Direction, Mode, &[u8])> {
    let (&selector, payload) = data.split_first()?;
    let topic = Topic::ALL[usize::from(selector % 8)];
    let direction = Direction::ALL[usize::from((selector / 8) % 2)];
    let mode = Mode::ALL[usize::from((selector / 16) % 2)];
    Some((topic, direction, mode, payload))
}

/// The first byte of a fuzz input that [`split_input`] maps to these.
pub fn selector(topic: Topic, direction: Direction, mode: Mode) -> u8 {
    let topic = Topic::ALL.iter().position(|t| *t == topic).unwrap_or(0) as u8;
    let direction = Direction::ALL
        .iter()
        .position(|d| *d == direction)
        .unwrap_or(0) as u8;
    let mode = Mode::ALL.iter().position(|m| *m == mode).unwrap_or(0) as u8;
    topic + 8 * direction + 16 * mode
}

/// Decodes arbitrary bytes. Invariants: no panic; a decoded message re-encodes to
/// canonical bytes that decode to the same message; strict and ThingsBoard mode agree
/// wherever neither applies a leniency.
pub fn decode_bytes(data: &[u8]) {
    let Some((topic, direction, mode, payload)) = split_input(data) else {
        return;
    };
    let Ok(decoded) = decode(topic, direction, payload, mode) else {
        return;
    };
    assert_stable(topic, direction, mode, &decoded.message);

    let other = match mode {
        Mode::Strict => Mode::ThingsBoard,
        Mode::ThingsBoard => Mode::Strict,
    };
    let clean = decoded.leniencies.iter().all(|l| l.kind.is_typing_note());
    if clean && !is_doc_form(&decoded.message) {
        match decode(topic, direction, payload, other) {
            Ok(again) => assert_eq!(
                again.message, decoded.message,
                "{mode} and {other} mode disagree"
            ),
            Err(error) => panic!(
                "{mode} mode decodes without a leniency but {other} mode fails: {}",
                error.render()
            ),
        }
    }
}

/// Encodes a typed message. Invariants: no panic; a message with a canonical form decodes
/// back unchanged in strict mode (and in ThingsBoard mode, which reads the doc's request
/// form differently); any other message still re-encodes stably once decoded.
pub fn round_trip(message: &Message) {
    let wire = encode(message);
    let (topic, direction) = (message.topic(), message.direction());
    if message.strict_problem().is_none() {
        for mode in Mode::ALL {
            if mode == Mode::ThingsBoard && is_doc_form(message) {
                continue;
            }
            match decode(topic, direction, &wire, mode) {
                Ok(Decoded {
                    message: decoded, ..
                }) => assert_eq!(&decoded, message, "{mode} mode"),
                Err(error) => panic!("canonical bytes fail in {mode} mode: {}", error.render()),
            }
        }
    }
    for mode in Mode::ALL {
        if let Ok(decoded) = decode(topic, direction, &wire, mode) {
            assert_stable(topic, direction, mode, &decoded.message);
        }
    }
}

fn assert_stable(topic: Topic, direction: Direction, mode: Mode, message: &Message) {
    let wire = encode(message);
    match decode(topic, direction, &wire, mode) {
        Ok(again) => {
            assert_eq!(
                &again.message, message,
                "re-encoding changed the message in {mode} mode"
            );
            assert_eq!(
                encode(&again.message),
                wire,
                "canonical bytes are not stable in {mode} mode"
            );
        }
        Err(error) => panic!(
            "a decoded message re-encodes to bytes that fail in {mode} mode: {}",
            error.render()
        ),
    }
}

fn is_doc_form(message: &Message) -> bool {
    matches!(message, Message::AttributeRequest(AttributeRequest::Doc(_)))
}
