//! `EntityRelationController`: relations between the entities the emulator keeps (devices,
//! customers, device profiles, the tenant), read from either end (plain, or with both ends'
//! names as `info`) or one at a time, saved and deleted. A gateway's `Created` relation to
//! each device it creates is one of them. The group is `COMMON` unless a request names another.

use axum::Json;
use axum::body::Bytes;
use axum::extract::Path;
use axum::http::StatusCode;
use serde_json::Value;

use super::auth::Caller;
use super::devices::visible;
use super::params::Params;
use super::{ApiError, ApiResult, State, parse_id};
use crate::emulator::core::Core;
use crate::emulator::core::entities::{
    COMMON_GROUP, EntityRef, Relation, relation_info_json, relation_json,
};

/// Which relations a read asks for.
struct Wanted {
    from: Option<EntityRef>,
    to: Option<EntityRef>,
    relation_type: Option<String>,
    group: String,
}

impl Wanted {
    fn new(params: &Params) -> Wanted {
        Wanted {
            from: None,
            to: None,
            relation_type: None,
            group: group(params),
        }
    }

    fn matches(&self, relation: &Relation) -> bool {
        self.from.as_ref().is_none_or(|f| relation.from == *f)
            && self.to.as_ref().is_none_or(|t| relation.to == *t)
            && self
                .relation_type
                .as_ref()
                .is_none_or(|t| relation.relation_type == *t)
            && relation.type_group == self.group
    }
}

/// `relationTypeGroup`, `COMMON` when absent or empty.
fn group(params: &Params) -> String {
    params
        .get("relationTypeGroup")
        .filter(|g| !g.is_empty())
        .unwrap_or(COMMON_GROUP)
        .to_owned()
}

fn entity(entity_type: &str, id: &str) -> Result<EntityRef, ApiError> {
    Ok(EntityRef {
        entity_type: entity_type.into(),
        id: parse_id(id)?,
    })
}

/// A query parameter ThingsBoard requires, with Spring's 400 when it is missing.
fn required<'a>(params: &'a Params, name: &str) -> Result<&'a str, ApiError> {
    params.get(name).ok_or_else(|| {
        ApiError::bad_request(format!(
            "Required request parameter '{name}' for method parameter type String is not present"
        ))
    })
}

/// An end a request names, from its `…Id` and `…Type` parameters, when both are there.
fn end(params: &Params, side: &str) -> Result<Option<EntityRef>, ApiError> {
    match (
        params.get(&format!("{side}Id")),
        params.get(&format!("{side}Type")),
    ) {
        (Some(id), Some(entity_type)) => entity(entity_type, id).map(Some),
        _ => Ok(None),
    }
}

/// The key of one relation, from `fromId&fromType&relationType[&relationTypeGroup]&toId&toType`.
fn key(params: &Params) -> Result<Relation, ApiError> {
    Ok(Relation {
        from: entity(required(params, "fromType")?, required(params, "fromId")?)?,
        to: entity(required(params, "toType")?, required(params, "toId")?)?,
        relation_type: required(params, "relationType")?.into(),
        type_group: group(params).into(),
        additional_info: Value::Null,
        version: 0,
    })
}

/// The caller may read and write relations of this entity: it exists, and a customer user
/// sees only its customer's devices and the customer itself.
fn check(core: &Core, caller: &Caller, entity: &EntityRef) -> Result<(), ApiError> {
    if entity.entity_type == "DEVICE" {
        return visible(core, caller, entity.id).map(|_| ());
    }
    if core.entity_name(entity).is_none() {
        return Err(ApiError::not_found(&format!(
            "{} {}",
            entity.entity_type, entity.id
        )));
    }
    let own_customer = entity.entity_type == "CUSTOMER" && caller.can_see(Some(entity.id));
    if caller.is_tenant() || own_customer {
        Ok(())
    } else {
        Err(ApiError::forbidden())
    }
}

fn select<'a>(core: &'a Core, wanted: &Wanted) -> Vec<&'a Relation> {
    core.relations
        .iter()
        .filter(|r| wanted.matches(r))
        .collect()
}

fn plain(relations: Vec<&Relation>) -> ApiResult {
    Ok(Json(Value::Array(
        relations.into_iter().map(relation_json).collect(),
    )))
}

fn with_names(core: &Core, relations: Vec<&Relation>) -> ApiResult {
    let name = |e: &EntityRef| core.entity_name(e).unwrap_or("").to_owned();
    Ok(Json(Value::Array(
        relations
            .into_iter()
            .map(|r| relation_info_json(r, &name(&r.from), &name(&r.to)))
            .collect(),
    )))
}

/// `GET /api/relations?fromId=&fromType=` (or `toId=&toType=`), optionally by type.
pub async fn by_query(state: State, _caller: Caller, params: Params) -> ApiResult {
    let mut wanted = Wanted::new(&params);
    wanted.from = end(&params, "from")?;
    wanted.to = end(&params, "to")?;
    if wanted.from.is_none() && wanted.to.is_none() {
        return Err(ApiError::bad_request(
            "Required request parameter 'fromId' for method parameter type String is not present",
        ));
    }
    wanted.relation_type = params.get("relationType").map(str::to_owned);
    state.with_core(|core| plain(select(core, &wanted)))
}

/// `GET /api/relation?fromId&fromType&relationType&toId&toType`: the one relation, or 404.
pub async fn one(state: State, _caller: Caller, params: Params) -> ApiResult {
    let key = key(&params)?;
    state.with_core(|core| {
        core.relations
            .iter()
            .find(|r| r.same_key(&key))
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

/// The relations at one end of an entity.
fn answer(state: &State, wanted: Wanted, form: Form) -> ApiResult {
    state.with_core(|core| {
        let found = select(core, &wanted);
        match form {
            Form::Plain => plain(found),
            Form::Info => with_names(core, found),
        }
    })
}

/// Which end of the relations a path names.
#[derive(Clone, Copy)]
enum Side {
    From,
    To,
}

fn at(
    side: Side,
    (entity_type, id): (String, String),
    relation_type: Option<String>,
    params: &Params,
) -> Result<Wanted, ApiError> {
    let mut wanted = Wanted::new(params);
    let end = Some(entity(&entity_type, &id)?);
    match side {
        Side::From => wanted.from = end,
        Side::To => wanted.to = end,
    }
    wanted.relation_type = relation_type;
    Ok(wanted)
}

type EntityPath = Path<(String, String)>;
type TypedPath = Path<(String, String, String)>;

/// `GET /api/relations/from/{type}/{id}`.
pub async fn from(state: State, _: Caller, Path(e): EntityPath, params: Params) -> ApiResult {
    answer(&state, at(Side::From, e, None, &params)?, Form::Plain)
}

/// `GET /api/relations/from/{type}/{id}/{relationType}`.
pub async fn from_by_type(
    state: State,
    _: Caller,
    Path((t, id, relation_type)): TypedPath,
    params: Params,
) -> ApiResult {
    let wanted = at(Side::From, (t, id), Some(relation_type), &params)?;
    answer(&state, wanted, Form::Plain)
}

/// `GET /api/relations/to/{type}/{id}`.
pub async fn to(state: State, _: Caller, Path(e): EntityPath, params: Params) -> ApiResult {
    answer(&state, at(Side::To, e, None, &params)?, Form::Plain)
}

/// `GET /api/relations/to/{type}/{id}/{relationType}`.
pub async fn to_by_type(
    state: State,
    _: Caller,
    Path((t, id, relation_type)): TypedPath,
    params: Params,
) -> ApiResult {
    let wanted = at(Side::To, (t, id), Some(relation_type), &params)?;
    answer(&state, wanted, Form::Plain)
}

/// `GET /api/relations/info/from/{type}/{id}`.
pub async fn info_from(state: State, _: Caller, Path(e): EntityPath, params: Params) -> ApiResult {
    answer(&state, at(Side::From, e, None, &params)?, Form::Info)
}

/// `GET /api/relations/info/to/{type}/{id}`.
pub async fn info_to(state: State, _: Caller, Path(e): EntityPath, params: Params) -> ApiResult {
    answer(&state, at(Side::To, e, None, &params)?, Form::Info)
}

/// An `EntityRelation` body: both ends and the type are required; the group defaults to
/// `COMMON`.
fn relation_from_body(body: &[u8]) -> Result<Relation, ApiError> {
    let body: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("the relation body is not JSON: {e}")))?;
    let end = |name: &str| {
        let id = body.pointer(&format!("/{name}/id")).and_then(Value::as_str);
        let entity_type = body
            .pointer(&format!("/{name}/entityType"))
            .and_then(Value::as_str);
        match (entity_type, id) {
            (Some(entity_type), Some(id)) => entity(entity_type, id),
            _ => Err(ApiError::bad_request(format!(
                "Relation {name} entity should be specified!"
            ))),
        }
    };
    let relation_type = body
        .get("type")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::bad_request("Relation type should be specified!"))?;
    let type_group = body
        .get("typeGroup")
        .and_then(Value::as_str)
        .unwrap_or(COMMON_GROUP);
    Ok(Relation {
        from: end("from")?,
        to: end("to")?,
        relation_type: relation_type.into(),
        type_group: type_group.into(),
        additional_info: body.get("additionalInfo").cloned().unwrap_or(Value::Null),
        version: 0,
    })
}

fn save(state: &State, caller: &Caller, body: &[u8]) -> Result<Relation, ApiError> {
    let relation = relation_from_body(body)?;
    state.with_core(|core| {
        check(core, caller, &relation.from)?;
        check(core, caller, &relation.to)?;
        Ok(core.save_relation(relation))
    })
}

/// `POST /api/v2/relation`: saves and answers the relation.
pub async fn save_v2(state: State, caller: Caller, body: Bytes) -> ApiResult {
    save(&state, &caller, &body).map(|r| Json(relation_json(&r)))
}

/// `POST /api/relation`: the older form, 200 without a body.
pub async fn save_v1(state: State, caller: Caller, body: Bytes) -> Result<StatusCode, ApiError> {
    save(&state, &caller, &body).map(|_| StatusCode::OK)
}

fn delete(state: &State, caller: &Caller, params: &Params) -> Result<Relation, ApiError> {
    let key = key(params)?;
    state.with_core(|core| {
        check(core, caller, &key.from)?;
        check(core, caller, &key.to)?;
        core.delete_relation(&key)
            .ok_or_else(|| ApiError::not_found("relation"))
    })
}

/// `DELETE /api/v2/relation?fromId&fromType&relationType[&relationTypeGroup]&toId&toType`:
/// the deleted relation, or 404.
pub async fn delete_v2(state: State, caller: Caller, params: Params) -> ApiResult {
    delete(&state, &caller, &params).map(|r| Json(relation_json(&r)))
}

/// `DELETE /api/relation?…`: the older form, 200 without a body.
pub async fn delete_v1(
    state: State,
    caller: Caller,
    params: Params,
) -> Result<StatusCode, ApiError> {
    delete(&state, &caller, &params).map(|_| StatusCode::OK)
}

/// `DELETE /api/relations?entityId&entityType`: every `COMMON` relation from or to it.
pub async fn delete_all(
    state: State,
    caller: Caller,
    params: Params,
) -> Result<StatusCode, ApiError> {
    let entity = entity(
        required(&params, "entityType")?,
        required(&params, "entityId")?,
    )?;
    state.with_core(|core| {
        check(core, &caller, &entity)?;
        core.delete_common_relations(&entity);
        Ok(StatusCode::OK)
    })
}
