//! `EntityRelationController`: the relations a gateway's devices have (gateway → device,
//! type `Created`, group `COMMON`), read from either end, with names (`info`) or one at a time.

use axum::Json;
use axum::extract::Path;
use serde_json::Value;
use uuid::Uuid;

use super::auth::Caller;
use super::params::Params;
use super::{ApiError, ApiResult, State, parse_id};
use crate::emulator::core::Core;
use crate::emulator::core::entities::{Relation, relation_info_json, relation_json};

/// Which relations a read asks for.
#[derive(Default)]
struct Wanted {
    from: Option<Uuid>,
    to: Option<Uuid>,
    relation_type: Option<String>,
}

/// Every relation the emulator keeps joins two devices, so any other entity type has none;
/// a group other than COMMON has none either.
fn select<'a>(
    core: &'a Core,
    wanted: &'a Wanted,
    types: &[&str],
    params: &Params,
) -> Vec<&'a Relation> {
    let only_devices = types.iter().all(|t| *t == "DEVICE");
    let group_ok = params
        .get("relationTypeGroup")
        .is_none_or(|g| g.is_empty() || g == "COMMON");
    if !only_devices || !group_ok {
        return Vec::new();
    }
    core.relations
        .iter()
        .filter(|r| wanted.from.is_none_or(|f| r.from == f))
        .filter(|r| wanted.to.is_none_or(|t| r.to == t))
        .filter(|r| {
            wanted
                .relation_type
                .as_ref()
                .is_none_or(|t| &r.relation_type == t)
        })
        .collect()
}

fn plain(relations: Vec<&Relation>) -> ApiResult {
    Ok(Json(Value::Array(
        relations.into_iter().map(relation_json).collect(),
    )))
}

fn with_names(core: &Core, relations: Vec<&Relation>) -> ApiResult {
    let name = |id: Uuid| core.device(id).map_or("", |d| d.name.as_str());
    Ok(Json(Value::Array(
        relations
            .into_iter()
            .map(|r| relation_info_json(r, name(r.from), name(r.to)))
            .collect(),
    )))
}

/// `GET /api/relations?fromId=&fromType=` (or `toId=&toType=`), optionally by type.
pub async fn by_query(state: State, _caller: Caller, params: Params) -> ApiResult {
    let from = params.get("fromId").map(parse_id).transpose()?;
    let to = params.get("toId").map(parse_id).transpose()?;
    if from.is_none() && to.is_none() {
        return Err(ApiError::bad_request("fromId or toId is required"));
    }
    let wanted = Wanted {
        from,
        to,
        relation_type: params.get("relationType").map(str::to_owned),
    };
    let types: Vec<&str> = ["fromType", "toType"]
        .iter()
        .filter_map(|k| params.get(k))
        .collect();
    state.with_core(|core| plain(select(core, &wanted, &types, &params)))
}

/// `GET /api/relation?fromId&fromType&relationType&toId&toType`: the one relation, or 404.
pub async fn one(state: State, _caller: Caller, params: Params) -> ApiResult {
    let required = |name: &str| {
        params
            .get(name)
            .ok_or_else(|| ApiError::bad_request(format!("{name} is required")))
    };
    let wanted = Wanted {
        from: Some(parse_id(required("fromId")?)?),
        to: Some(parse_id(required("toId")?)?),
        relation_type: Some(required("relationType")?.to_owned()),
    };
    let types = [required("fromType")?, required("toType")?];
    state.with_core(|core| {
        select(core, &wanted, &types, &params)
            .first()
            .map(|r| Json(relation_json(r)))
            .ok_or_else(|| ApiError::not_found("relation"))
    })
}

/// Plain relations, or with the names of both ends.
#[derive(Clone, Copy)]
enum Form {
    Plain,
    Info,
}

impl Wanted {
    fn from(id: &str, relation_type: Option<String>) -> Result<Wanted, ApiError> {
        Ok(Wanted {
            from: Some(parse_id(id)?),
            relation_type,
            ..Wanted::default()
        })
    }

    fn to(id: &str, relation_type: Option<String>) -> Result<Wanted, ApiError> {
        Ok(Wanted {
            to: Some(parse_id(id)?),
            relation_type,
            ..Wanted::default()
        })
    }
}

/// The relations at one end of an entity of type `entity`.
fn answer(state: &State, entity: &str, wanted: Wanted, params: &Params, form: Form) -> ApiResult {
    state.with_core(|core| {
        let found = select(core, &wanted, &[entity], params);
        match form {
            Form::Plain => plain(found),
            Form::Info => with_names(core, found),
        }
    })
}

type EntityPath = Path<(String, String)>;
type TypedPath = Path<(String, String, String)>;

/// `GET /api/relations/from/{type}/{id}`.
pub async fn from(state: State, _: Caller, Path((e, id)): EntityPath, params: Params) -> ApiResult {
    answer(&state, &e, Wanted::from(&id, None)?, &params, Form::Plain)
}

/// `GET /api/relations/from/{type}/{id}/{relationType}`.
pub async fn from_by_type(
    state: State,
    _: Caller,
    Path((e, id, relation_type)): TypedPath,
    params: Params,
) -> ApiResult {
    let wanted = Wanted::from(&id, Some(relation_type))?;
    answer(&state, &e, wanted, &params, Form::Plain)
}

/// `GET /api/relations/to/{type}/{id}`.
pub async fn to(state: State, _: Caller, Path((e, id)): EntityPath, params: Params) -> ApiResult {
    answer(&state, &e, Wanted::to(&id, None)?, &params, Form::Plain)
}

/// `GET /api/relations/to/{type}/{id}/{relationType}`.
pub async fn to_by_type(
    state: State,
    _: Caller,
    Path((e, id, relation_type)): TypedPath,
    params: Params,
) -> ApiResult {
    let wanted = Wanted::to(&id, Some(relation_type))?;
    answer(&state, &e, wanted, &params, Form::Plain)
}

/// `GET /api/relations/info/from/{type}/{id}`.
pub async fn info_from(
    state: State,
    _: Caller,
    Path((e, id)): EntityPath,
    params: Params,
) -> ApiResult {
    answer(&state, &e, Wanted::from(&id, None)?, &params, Form::Info)
}

/// `GET /api/relations/info/to/{type}/{id}`.
pub async fn info_to(
    state: State,
    _: Caller,
    Path((e, id)): EntityPath,
    params: Params,
) -> ApiResult {
    answer(&state, &e, Wanted::to(&id, None)?, &params, Form::Info)
}
