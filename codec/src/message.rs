//! One `Message` type over every topic and direction, `decode` and canonical `encode`.

use std::borrow::Cow;

use crate::Mode;
use crate::attribute_request::{AttributeRequest, AttributeResponse};
use crate::attributes::{AttributeUpdate, ClientAttributes};
use crate::claim::Claim;
use crate::device::{Connect, DeviceDisconnected, Disconnect};
use crate::error::{DecodeError, ErrorKind, TbAnswer};
use crate::leniency::{Leniency, LeniencyKind};
use crate::parse::{
    Grammar, SyntaxError, SyntaxLeniency, SyntaxProblem, arena_for, parse_document,
};
use crate::path::JsonPath;
use crate::position::{Position, position_of, positions_of};
use crate::read::{Ctx, Failure, Note, kind_of, members, to_json};
use crate::rpc::{RpcRequest, RpcResponse};
use crate::telemetry::Telemetry;
use crate::topic::{Direction, Topic};

/// A gateway API message, typed.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Message {
    /// `v1/gateway/connect`, gateway → platform.
    Connect(Connect),
    /// `v1/gateway/disconnect`, gateway → platform.
    Disconnect(Disconnect),
    /// `v1/gateway/telemetry`, gateway → platform.
    Telemetry(Telemetry),
    /// `v1/gateway/attributes`, gateway → platform.
    ClientAttributes(ClientAttributes),
    /// `v1/gateway/attributes/request`, gateway → platform.
    AttributeRequest(AttributeRequest),
    /// `v1/gateway/rpc`, gateway → platform.
    RpcResponse(RpcResponse),
    /// `v1/gateway/claim`, gateway → platform.
    Claim(Claim),
    /// `v1/gateway/attributes/response`, platform → gateway.
    AttributeResponse(AttributeResponse),
    /// `v1/gateway/attributes`, platform → gateway.
    AttributeUpdate(AttributeUpdate),
    /// `v1/gateway/rpc`, platform → gateway.
    RpcRequest(RpcRequest),
    /// `v1/gateway/disconnect`, platform → gateway (MQTT 5 only).
    DeviceDisconnected(DeviceDisconnected),
}

impl Message {
    pub fn topic(&self) -> Topic {
        match self {
            Message::Connect(_) => Topic::Connect,
            Message::Disconnect(_) | Message::DeviceDisconnected(_) => Topic::Disconnect,
            Message::Telemetry(_) => Topic::Telemetry,
            Message::ClientAttributes(_) | Message::AttributeUpdate(_) => Topic::Attributes,
            Message::AttributeRequest(_) => Topic::AttributesRequest,
            Message::AttributeResponse(_) => Topic::AttributesResponse,
            Message::RpcResponse(_) | Message::RpcRequest(_) => Topic::Rpc,
            Message::Claim(_) => Topic::Claim,
        }
    }

    pub fn direction(&self) -> Direction {
        match self {
            Message::AttributeResponse(_)
            | Message::AttributeUpdate(_)
            | Message::RpcRequest(_)
            | Message::DeviceDisconnected(_) => Direction::PlatformToGateway,
            _ => Direction::GatewayToPlatform,
        }
    }

    /// The canonical payload: compact JSON, fields in the documented order, numbers as sent.
    pub fn encode(&self) -> String {
        let mut out = String::with_capacity(64);
        match self {
            Message::Connect(m) => m.encode(&mut out),
            Message::Disconnect(m) => m.encode(&mut out),
            Message::Telemetry(m) => m.encode(&mut out),
            Message::ClientAttributes(m) => m.encode(&mut out),
            Message::AttributeRequest(m) => m.encode(&mut out),
            Message::RpcResponse(m) => m.encode(&mut out),
            Message::Claim(m) => m.encode(&mut out),
            Message::AttributeResponse(m) => m.encode(&mut out),
            Message::AttributeUpdate(m) => m.encode(&mut out),
            Message::RpcRequest(m) => m.encode(&mut out),
            Message::DeviceDisconnected(m) => m.encode(&mut out),
        }
        out
    }
}

/// A decoded message and the leniencies applied to get it. Strict mode applies none; its
/// list holds only typing notes (see [`LeniencyKind::is_typing_note`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Decoded {
    pub message: Message,
    pub leniencies: Vec<Leniency>,
}

impl Decoded {
    /// False when ThingsBoard takes the message but never sends a PUBACK for it.
    pub fn acknowledged(&self) -> bool {
        !self
            .leniencies
            .iter()
            .any(|l| matches!(l.kind, LeniencyKind::EmptyTelemetryList { .. }))
    }
}

/// The canonical bytes of `message`.
pub fn encode(message: &Message) -> Vec<u8> {
    message.encode().into_bytes()
}

/// Decodes `payload` published on `topic` in `direction`.
///
/// In strict mode a gateway → platform error also says what ThingsBoard does with the same
/// bytes (it may accept them through a leniency), found by decoding them in ThingsBoard mode.
pub fn decode(
    topic: Topic,
    direction: Direction,
    payload: &[u8],
    mode: Mode,
) -> Result<Decoded, DecodeError> {
    let result = decode_in_mode(topic, direction, payload, mode);
    match result {
        Err(mut error) if mode == Mode::Strict && direction == Direction::GatewayToPlatform => {
            error.thingsboard = match decode_in_mode(topic, direction, payload, Mode::ThingsBoard) {
                Ok(decoded) if decoded.acknowledged() => TbAnswer::Accepts,
                Ok(_) => TbAnswer::AcceptsWithoutPuback,
                Err(thingsboard) => {
                    error.hint = error.hint.or(thingsboard.hint);
                    thingsboard.thingsboard
                }
            };
            Err(error)
        }
        other => other,
    }
}

/// The device entries of a gateway → platform payload keyed by device name (telemetry,
/// attributes, claim), each as its own one-device payload, in wire order; a repeated name
/// keeps its first place and its last value, as in Gson's `JsonObject`.
///
/// ThingsBoard converts each device of such a message on its own: when one device's data
/// is refused, the others are still stored. Decoding the parts one by one reproduces that.
/// `None` when the payload is not a JSON object in ThingsBoard's grammar.
pub fn device_parts(payload: &[u8]) -> Option<Vec<(String, Vec<u8>)>> {
    let text = String::from_utf8_lossy(payload);
    let arena = arena_for(text.len());
    let mut notes = Vec::new();
    let root = parse_document(&text, Grammar::Gson, &arena, &mut notes).ok()??;
    let fields = members(&root)?;
    let mut parts: Vec<(String, Vec<u8>)> = Vec::with_capacity(fields.len());
    for member in fields {
        let mut part = String::new();
        let mut object = crate::json::ObjectWriter::new(&mut part);
        object.json(member.key, &to_json(&member.value));
        object.finish();
        parts.push((member.key.to_owned(), part.into_bytes()));
    }
    Some(parts)
}

fn decode_in_mode(
    topic: Topic,
    direction: Direction,
    payload: &[u8],
    mode: Mode,
) -> Result<Decoded, DecodeError> {
    let from_platform = direction == Direction::PlatformToGateway;
    // ThingsBoard parses what gateways send with Gson's lenient reader; it writes plain JSON.
    let grammar = if mode == Mode::ThingsBoard && !from_platform {
        Grammar::Gson
    } else {
        Grammar::Rfc8259
    };
    let handler_failed = if from_platform {
        TbAnswer::NotSentByThingsBoard
    } else {
        TbAnswer::HandlerFailed
    };
    let invalid_payload = if from_platform {
        TbAnswer::NotSentByThingsBoard
    } else {
        TbAnswer::InvalidPayload
    };
    let error = |text: &str, at: usize, path: JsonPath, kind: ErrorKind, thingsboard: TbAnswer| {
        DecodeError {
            topic,
            direction,
            mode,
            kind,
            path,
            position: position_of(text, at),
            thingsboard,
            hint: None,
        }
    };

    let mut syntax_notes = Vec::new();
    let text: Cow<'_, str> = match std::str::from_utf8(payload) {
        Ok(text) => Cow::Borrowed(text),
        Err(bad) if grammar == Grammar::Gson => {
            // Java decodes the bytes with U+FFFD for every malformed sequence before parsing.
            syntax_notes.push((bad.valid_up_to(), SyntaxLeniency::InvalidUtf8));
            String::from_utf8_lossy(payload)
        }
        Err(bad) => {
            let valid = std::str::from_utf8(&payload[..bad.valid_up_to()]).unwrap_or_default();
            let kind = ErrorKind::Syntax(SyntaxProblem::InvalidUtf8);
            return Err(error(
                valid,
                bad.valid_up_to(),
                JsonPath::root(),
                kind,
                invalid_payload,
            ));
        }
    };
    if !topic.carries(direction) {
        let answer = if from_platform {
            TbAnswer::NotSentByThingsBoard
        } else {
            TbAnswer::TopicInvalid
        };
        return Err(error(
            &text,
            0,
            JsonPath::root(),
            ErrorKind::WrongDirection,
            answer,
        ));
    }
    let arena = arena_for(text.len());
    let root = parse_document(&text, grammar, &arena, &mut syntax_notes).map_err(
        |SyntaxError { at, problem, path }| {
            error(
                &text,
                at,
                JsonPath(path),
                ErrorKind::Syntax(problem),
                invalid_payload,
            )
        },
    )?;
    let Some(root) = root else {
        return Err(error(
            &text,
            0,
            JsonPath::root(),
            ErrorKind::NotAnObject { found: None },
            handler_failed,
        ));
    };
    let Some(fields) = members(&root) else {
        let kind = ErrorKind::NotAnObject {
            found: Some(kind_of(&root)),
        };
        return Err(error(
            &text,
            root.at,
            JsonPath::root(),
            kind,
            handler_failed,
        ));
    };

    let mut ctx = Ctx::new(mode, from_platform);
    let at = root.at;
    let message = match (topic, direction) {
        (Topic::Connect, _) => Connect::decode(&mut ctx, fields, at).map(Message::Connect),
        (Topic::Disconnect, Direction::GatewayToPlatform) => {
            Disconnect::decode(&mut ctx, fields, at).map(Message::Disconnect)
        }
        (Topic::Disconnect, Direction::PlatformToGateway) => {
            DeviceDisconnected::decode(&mut ctx, fields, at).map(Message::DeviceDisconnected)
        }
        (Topic::Telemetry, _) => Telemetry::decode(&mut ctx, fields, at).map(Message::Telemetry),
        (Topic::Attributes, Direction::GatewayToPlatform) => {
            ClientAttributes::decode(&mut ctx, fields, at).map(Message::ClientAttributes)
        }
        (Topic::Attributes, Direction::PlatformToGateway) => {
            AttributeUpdate::decode(&mut ctx, fields, at).map(Message::AttributeUpdate)
        }
        (Topic::AttributesRequest, _) => {
            AttributeRequest::decode(&mut ctx, fields, at).map(Message::AttributeRequest)
        }
        (Topic::AttributesResponse, _) => {
            AttributeResponse::decode(&mut ctx, fields, at).map(Message::AttributeResponse)
        }
        (Topic::Rpc, Direction::GatewayToPlatform) => {
            RpcResponse::decode(&mut ctx, fields, at).map(Message::RpcResponse)
        }
        (Topic::Rpc, Direction::PlatformToGateway) => {
            RpcRequest::decode(&mut ctx, fields, at).map(Message::RpcRequest)
        }
        (Topic::Claim, _) => Claim::decode(&mut ctx, fields, at).map(Message::Claim),
    };
    let message = message.map_err(
        |Failure {
             at,
             path,
             kind,
             answer,
             hint,
         }| DecodeError {
            hint,
            ..error(&text, at, path, kind, answer)
        },
    )?;

    let notes = syntax_notes
        .into_iter()
        .map(|(at, what)| Note {
            at,
            path: None,
            kind: LeniencyKind::Syntax(what),
        })
        .chain(ctx.notes);
    Ok(Decoded {
        message,
        leniencies: place(&text, notes.collect()),
    })
}

/// Turns offsets into line:column in one pass, keeping the notes in payload order.
fn place(text: &str, mut notes: Vec<Note>) -> Vec<Leniency> {
    notes.sort_by_key(|note| note.at);
    let offsets: Vec<usize> = notes.iter().map(|note| note.at).collect();
    let mut positions = vec![Position { line: 1, column: 1 }; offsets.len()];
    positions_of(text, &offsets, &mut positions);
    notes
        .into_iter()
        .zip(positions)
        .map(|(note, position)| Leniency {
            kind: note.kind,
            path: note.path,
            position,
        })
        .collect()
}
