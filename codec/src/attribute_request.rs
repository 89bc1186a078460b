//! `v1/gateway/attributes/request` and `v1/gateway/attributes/response`.
//!
//! The request has two documented forms that disagree: the server's
//! (`client: bool` with `key` or `keys`) and the public doc's (`client: [..]`,
//! `shared: [..]`), which ThingsBoard 4.3 rejects. Strict mode decodes both;
//! ThingsBoard mode decodes what the server does.

use crate::device::{NameCheck, device_field};
use crate::error::TbAnswer;
use crate::json::{Json, Object, ObjectWriter};
use crate::leniency::LeniencyKind;
use crate::parse::{Member, Node, NodeKind};
use crate::path::Trail;
use crate::read::{Ctx, Failure, Read, field, required, to_json, wrong_type};
use crate::reason::ReasonCode;

#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum AttributeRequest {
    /// The form ThingsBoard parses (`reference/thingsboard-behavior.md` §1.6).
    Server(ServerAttributeRequest),
    /// The form of the public doc, which ThingsBoard 4.3 answers with 0x83.
    Doc(DocAttributeRequest),
}

/// `{"id": 1, "device": "A", "client": true, "key": "k"}` or `… "keys": ["k1", "k2"]}`.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct ServerAttributeRequest {
    pub id: i32,
    pub device: String,
    /// `true`: client-side attributes; `false`: shared attributes.
    pub client: bool,
    pub keys: RequestedKeys,
}

#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum RequestedKeys {
    /// `"key": "k"`: a single key; the response carries `value`.
    Key(String),
    /// `"keys": [..]`; an empty list asks for every client and shared attribute.
    Keys(Vec<String>),
}

/// `{"id": 1, "device": "A", "client": ["k1"], "shared": ["k2"]}` (public doc).
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct DocAttributeRequest {
    pub id: i32,
    pub device: String,
    pub client: Option<Vec<String>>,
    pub shared: Option<Vec<String>>,
}

/// `{"id": 1, "device": "A"}` with `"value": v`, `"values": {…}`, or neither.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct AttributeResponse {
    pub id: i32,
    pub device: String,
    pub values: ResponseValues,
}

#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum ResponseValues {
    /// No requested attribute exists.
    Nothing,
    /// One key was requested and found: its value, without its name.
    Value(Json),
    /// Several keys were requested (or all): those found.
    Values(Object),
}

const DOC_FORM_HINT: &str = "this is the public doc's form (`client`/`shared` arrays); ThingsBoard 4.3 reads `client` as a boolean and needs `key` or `keys`: send {\"id\":1,\"device\":\"A\",\"client\":false,\"keys\":[\"k\"]}";

impl AttributeRequest {
    pub(crate) fn decode(
        ctx: &mut Ctx,
        members: &[Member<'_>],
        at: usize,
    ) -> Read<AttributeRequest> {
        let client_is_array = matches!(
            field(members, "client"),
            Some(Node {
                kind: NodeKind::Array(_),
                ..
            })
        );
        let doc_form = client_is_array
            || (field(members, "shared").is_some() && field(members, "client").is_none());
        if doc_form && ctx.mode == crate::Mode::Strict {
            return DocAttributeRequest::decode(ctx, members, at).map(AttributeRequest::Doc);
        }
        let decoded =
            ServerAttributeRequest::decode(ctx, members, at).map(AttributeRequest::Server);
        if doc_form {
            decoded.map_err(|failure| failure.with_hint(DOC_FORM_HINT))
        } else {
            decoded
        }
    }

    pub fn id(&self) -> i32 {
        match self {
            AttributeRequest::Server(r) => r.id,
            AttributeRequest::Doc(r) => r.id,
        }
    }

    pub fn device(&self) -> &str {
        match self {
            AttributeRequest::Server(r) => &r.device,
            AttributeRequest::Doc(r) => &r.device,
        }
    }

    pub(crate) fn encode(&self, out: &mut String) {
        let mut object = ObjectWriter::new(out);
        match self {
            AttributeRequest::Server(r) => {
                object
                    .integer("id", i64::from(r.id))
                    .string("device", &r.device)
                    .boolean("client", r.client);
                match &r.keys {
                    RequestedKeys::Key(key) => object.string("key", key),
                    RequestedKeys::Keys(keys) => object.strings("keys", keys),
                };
            }
            AttributeRequest::Doc(r) => {
                object
                    .integer("id", i64::from(r.id))
                    .string("device", &r.device);
                if let Some(client) = &r.client {
                    object.strings("client", client);
                }
                if let Some(shared) = &r.shared {
                    object.strings("shared", shared);
                }
            }
        }
        object.finish();
    }
}

const FAIL: TbAnswer = TbAnswer::HandlerFailed;

impl ServerAttributeRequest {
    /// In ThingsBoard's order: `id`, `device`, `client`, then `key` or `keys`.
    fn decode(ctx: &mut Ctx, members: &[Member<'_>], at: usize) -> Read<ServerAttributeRequest> {
        let root = Trail::Root;
        let (id, device) = id_and_device(ctx, members, at)?;
        let client = ctx.read_required(Ctx::boolean, members, "client", at, &root, FAIL)?;
        let keys = match field(members, "key") {
            Some(node) => {
                let key = ctx.string(node, &root.key("key"), FAIL)?;
                if let Some(keys) = field(members, "keys") {
                    ctx.forgive(keys.at, &root.key("keys"), LeniencyKind::KeyOverridesKeys)?;
                }
                RequestedKeys::Key(key)
            }
            None => RequestedKeys::Keys(key_list(
                ctx,
                required(members, "keys", at, &root, FAIL)?,
                &root.key("keys"),
            )?),
        };
        ctx.unknown_fields(members, &["id", "device", "client", "key", "keys"], &root)?;
        Ok(ServerAttributeRequest {
            id,
            device,
            client,
            keys,
        })
    }
}

/// `id`, then `device`, as both request forms start.
fn id_and_device(ctx: &mut Ctx, members: &[Member<'_>], at: usize) -> Read<(i32, String)> {
    let root = Trail::Root;
    let id = ctx.read_required(Ctx::int, members, "id", at, &root, FAIL)?;
    // A device that cannot be connected gets 0x83 here, not 0x80 as on other topics.
    let refused = ReasonCode::IMPLEMENTATION_SPECIFIC_ERROR;
    let device = device_field(ctx, members, at, &root, FAIL, NameCheck::Creation(refused))?;
    Ok((id, device))
}

/// `"keys": [..]`: each element read with `getAsString`; ThingsBoard asks for each key once.
fn key_list(ctx: &mut Ctx, node: &Node<'_>, trail: &Trail<'_>) -> Read<Vec<String>> {
    let NodeKind::Array(items) = &node.kind else {
        return Err(wrong_type(node, trail, "an array of keys", FAIL));
    };
    let mut keys: Vec<String> = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let item_trail = trail.index(i);
        let key = ctx.string(item, &item_trail, FAIL)?;
        if keys.contains(&key) {
            ctx.forgive(
                item.at,
                &item_trail,
                LeniencyKind::RepeatedRequestKey { key },
            )?;
        } else {
            keys.push(key);
        }
    }
    Ok(keys)
}

impl DocAttributeRequest {
    /// Strict mode only: ThingsBoard itself never reads this form.
    fn decode(ctx: &mut Ctx, members: &[Member<'_>], at: usize) -> Read<DocAttributeRequest> {
        let root = Trail::Root;
        let (id, device) = id_and_device(ctx, members, at)?;
        let mut list = |name: &'static str| -> Read<Option<Vec<String>>> {
            match field(members, name) {
                None => Ok(None),
                Some(node) => key_list(ctx, node, &root.key(name)).map(Some),
            }
        };
        let client = list("client")?;
        let shared = list("shared")?;
        ctx.unknown_fields(members, &["id", "device", "client", "shared"], &root)?;
        Ok(DocAttributeRequest {
            id,
            device,
            client,
            shared,
        })
    }
}

impl AttributeResponse {
    pub(crate) fn decode(
        ctx: &mut Ctx,
        members: &[Member<'_>],
        at: usize,
    ) -> Read<AttributeResponse> {
        let root = Trail::Root;
        let fail = TbAnswer::NotSentByThingsBoard;
        let id = ctx.read_required(Ctx::int, members, "id", at, &root, fail)?;
        let device = device_field(ctx, members, at, &root, fail, NameCheck::None)?;
        let values = match (field(members, "value"), field(members, "values")) {
            (None, None) => ResponseValues::Nothing,
            (Some(value), None) => ResponseValues::Value(to_json(value)),
            (None, Some(values)) => match to_json(values) {
                Json::Object(values) => ResponseValues::Values(values),
                _ => return Err(wrong_type(values, &root.key("values"), "an object", fail)),
            },
            (Some(_), Some(values)) => {
                let kind = crate::error::ErrorKind::WrongType {
                    expected: "either `value` or `values`",
                    found: "both".into(),
                };
                return Err(Failure::new(values.at, &root.key("values"), kind, fail));
            }
        };
        ctx.unknown_fields(members, &["id", "device", "value", "values"], &root)?;
        Ok(AttributeResponse { id, device, values })
    }

    pub(crate) fn encode(&self, out: &mut String) {
        let mut object = ObjectWriter::new(out);
        object
            .integer("id", i64::from(self.id))
            .string("device", &self.device);
        match &self.values {
            ResponseValues::Nothing => {}
            ResponseValues::Value(value) => {
                object.json("value", value);
            }
            ResponseValues::Values(values) => ObjectWriter::new(object.key("values"))
                .members(values)
                .finish(),
        }
        object.finish();
    }
}
