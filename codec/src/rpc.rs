//! `v1/gateway/rpc`: requests from ThingsBoard to a device, and the gateway's replies.
//!
//! ThingsBoard numbers RPCs per device from 0, so two devices can both have RPC 0
//! outstanding: a reply is identified by (device, id).

use crate::device::{NameCheck, device_field};
use crate::error::TbAnswer;
use crate::json::{Json, ObjectWriter};
use crate::parse::Member;
use crate::path::Trail;
use crate::read::{Ctx, Read, members, required, to_json, wrong_type};
use crate::reason::ReasonCode;

/// `{"device": "A", "data": {"id": 0, "method": "m", "params": …}}`
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct RpcRequest {
    pub device: String,
    pub id: i32,
    pub method: String,
    /// The REST call's `params`, re-parsed as JSON (an object, or a primitive such as `true`).
    pub params: Json,
}

/// `{"device": "A", "id": 0, "data": …}`
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct RpcResponse {
    pub device: String,
    pub id: i32,
    /// The reply; ThingsBoard forwards its JSON text to the REST caller.
    pub data: Json,
}

impl RpcResponse {
    /// True when `data` is a string that itself holds JSON (thingsboard-gateway's one-way
    /// acks): the REST caller gets a JSON string, not the object the device meant.
    pub fn data_is_json_text(&self) -> bool {
        match &self.data {
            Json::String(text) => {
                let trimmed = text.trim_start();
                (trimmed.starts_with('{') || trimmed.starts_with('['))
                    && crate::parse_json(text).is_some()
            }
            _ => false,
        }
    }

    pub(crate) fn decode(ctx: &mut Ctx, members: &[Member<'_>], at: usize) -> Read<RpcResponse> {
        let root = Trail::Root;
        let fail = TbAnswer::HandlerFailed;
        let device = device_field(
            ctx,
            members,
            at,
            &root,
            fail,
            NameCheck::Creation(ReasonCode::UNSPECIFIED_ERROR),
        )?;
        let id = ctx.read_required(Ctx::int, members, "id", at, &root, fail)?;
        let data = to_json(required(members, "data", at, &root, fail)?);
        ctx.unknown_fields(members, &["device", "id", "data"], &root)?;
        Ok(RpcResponse { device, id, data })
    }

    pub(crate) fn encode(&self, out: &mut String) {
        ObjectWriter::new(out)
            .string("device", &self.device)
            .integer("id", i64::from(self.id))
            .json("data", &self.data)
            .finish();
    }
}

impl RpcRequest {
    pub(crate) fn decode(ctx: &mut Ctx, members: &[Member<'_>], at: usize) -> Read<RpcRequest> {
        let root = Trail::Root;
        let fail = TbAnswer::NotSentByThingsBoard;
        let device = device_field(ctx, members, at, &root, fail, NameCheck::None)?;
        let data = required(members, "data", at, &root, fail)?;
        let data_trail = root.key("data");
        let Some(fields) = self::members(data) else {
            return Err(wrong_type(
                data,
                &data_trail,
                "an object with id, method and params",
                fail,
            ));
        };
        let id = ctx.read_required(Ctx::int, fields, "id", data.at, &data_trail, fail)?;
        let method =
            ctx.read_required(Ctx::string, fields, "method", data.at, &data_trail, fail)?;
        let params = to_json(required(fields, "params", data.at, &data_trail, fail)?);
        ctx.unknown_fields(fields, &["id", "method", "params"], &data_trail)?;
        ctx.unknown_fields(members, &["device", "data"], &root)?;
        Ok(RpcRequest {
            device,
            id,
            method,
            params,
        })
    }

    pub(crate) fn encode(&self, out: &mut String) {
        let mut object = ObjectWriter::new(out);
        object.string("device", &self.device);
        ObjectWriter::new(object.key("data"))
            .integer("id", i64::from(self.id))
            .string("method", &self.method)
            .json("params", &self.params)
            .finish();
        object.finish();
    }
}
