//! Device profiles, relations, customers and the tenant profile (its device limit and its
//! gateway transport rate limits).

use axum::Json;
use axum::extract::{Path, Query};
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::Caller;
use super::{ApiError, ApiResult, State, page, parse_id};
use crate::emulator::core::TenantProfile;
use crate::emulator::core::entities::{
    Authority, entity_id, profile_info_json, profile_json, relation_json,
};
use crate::emulator::core::rate_limits::{
    GATEWAY_DEVICE_FIELDS, GATEWAY_FIELDS, LimitConfig, RateLimit, TransportLimits,
};

#[derive(Deserialize)]
pub struct PageQuery {
    #[serde(rename = "pageSize")]
    page_size: Option<usize>,
    page: Option<usize>,
    /// ThingsBoard's case-insensitive "contains" search on the name or title.
    #[serde(rename = "textSearch")]
    text_search: Option<String>,
}

impl PageQuery {
    fn finds(&self, name: &str) -> bool {
        self.text_search
            .as_ref()
            .is_none_or(|t| name.to_lowercase().contains(&t.to_lowercase()))
    }
}

pub async fn profile(state: State, _caller: Caller, Path(id): Path<String>) -> ApiResult {
    let id = parse_id(&id)?;
    state.with_core(|core| {
        core.profiles
            .iter()
            .find(|p| p.id == id)
            .map(|p| Json(profile_json(p, core.tenant_id)))
            .ok_or_else(|| ApiError::not_found("device profile"))
    })
}

pub async fn profile_info(state: State, _caller: Caller, Path(id): Path<String>) -> ApiResult {
    let id = parse_id(&id)?;
    state.with_core(|core| {
        core.profiles
            .iter()
            .find(|p| p.id == id)
            .map(|p| Json(profile_info_json(p, core.tenant_id)))
            .ok_or_else(|| ApiError::not_found("device profile"))
    })
}

pub async fn default_profile_info(state: State, _caller: Caller) -> ApiResult {
    state.with_core(|core| {
        core.profiles
            .iter()
            .find(|p| p.is_default)
            .map(|p| Json(profile_info_json(p, core.tenant_id)))
            .ok_or_else(|| ApiError::not_found("default device profile"))
    })
}

pub async fn profiles(state: State, _caller: Caller, Query(query): Query<PageQuery>) -> ApiResult {
    state.with_core(|core| {
        let items = core
            .profiles
            .iter()
            .filter(|p| query.finds(&p.name))
            .map(|p| profile_json(p, core.tenant_id))
            .collect();
        Ok(Json(page(items, query.page_size, query.page)))
    })
}

pub async fn profile_names(state: State, _caller: Caller) -> ApiResult {
    state.with_core(|core| {
        let names: Vec<Value> = core
            .profiles
            .iter()
            .map(|p| json!({"id": entity_id("DEVICE_PROFILE", p.id), "name": p.name}))
            .collect();
        Ok(Json(Value::Array(names)))
    })
}

#[derive(Deserialize)]
pub struct RelationQuery {
    #[serde(rename = "fromId")]
    from_id: Option<String>,
    #[serde(rename = "toId")]
    to_id: Option<String>,
    #[serde(rename = "relationType")]
    relation_type: Option<String>,
    #[serde(rename = "relationTypeGroup")]
    relation_type_group: Option<String>,
}

/// `GET /api/relations?fromId=&fromType=` (or `toId=&toType=`), optionally by type.
pub async fn relations(
    state: State,
    _caller: Caller,
    Query(query): Query<RelationQuery>,
) -> ApiResult {
    let from = query.from_id.as_deref().map(parse_id).transpose()?;
    let to = query.to_id.as_deref().map(parse_id).transpose()?;
    if from.is_none() && to.is_none() {
        return Err(ApiError::bad_request("fromId or toId is required"));
    }
    if query
        .relation_type_group
        .as_deref()
        .is_some_and(|g| g != "COMMON")
    {
        return Ok(Json(json!([])));
    }
    state.with_core(|core| {
        let found: Vec<Value> = core
            .relations
            .iter()
            .filter(|r| from.is_none_or(|f| r.from == f))
            .filter(|r| to.is_none_or(|t| r.to == t))
            .filter(|r| {
                query
                    .relation_type
                    .as_ref()
                    .is_none_or(|t| &r.relation_type == t)
            })
            .map(relation_json)
            .collect();
        Ok(Json(Value::Array(found)))
    })
}

pub async fn customers(state: State, caller: Caller, Query(query): Query<PageQuery>) -> ApiResult {
    caller.require_tenant()?;
    state.with_core(|core| {
        let items = core
            .customers
            .iter()
            .filter(|c| query.finds(&c.title))
            .map(|c| {
                json!({
                    "id": entity_id("CUSTOMER", c.id),
                    "createdTime": c.created_time,
                    "tenantId": entity_id("TENANT", core.tenant_id),
                    "title": c.title,
                    "name": c.title,
                })
            })
            .collect();
        Ok(Json(page(items, query.page_size, query.page)))
    })
}

fn require_sysadmin(caller: &Caller) -> Result<(), ApiError> {
    if caller.authority == Authority::SysAdmin {
        Ok(())
    } else {
        Err(ApiError::forbidden())
    }
}

fn tenant_profile_json(profile: &TenantProfile) -> Value {
    let mut configuration = json!({"type": "DEFAULT", "maxDevices": profile.max_devices});
    let limits = &profile.transport_limits;
    let fields = GATEWAY_FIELDS.iter().zip(limits.gateway.values());
    let device_fields = GATEWAY_DEVICE_FIELDS
        .iter()
        .zip(limits.gateway_device.values());
    if let Some(map) = configuration.as_object_mut() {
        for (field, value) in fields.chain(device_fields) {
            map.insert((*field).to_owned(), json!(value));
        }
    }
    json!({
        "id": entity_id("TENANT_PROFILE", profile.id),
        "name": "Default",
        "description": "Default tenant profile",
        "default": true,
        "isolatedTbRuleEngine": false,
        "profileData": {"configuration": configuration}
    })
}

pub async fn tenant_profile_info(state: State, caller: Caller) -> ApiResult {
    require_sysadmin(&caller)?;
    let id = state.with_core(|core| core.tenant_profile.id);
    Ok(Json(
        json!({"id": entity_id("TENANT_PROFILE", id), "name": "Default"}),
    ))
}

pub async fn tenant_profile(state: State, caller: Caller, Path(id): Path<String>) -> ApiResult {
    require_sysadmin(&caller)?;
    let id = parse_id(&id)?;
    state.with_core(|core| {
        if core.tenant_profile.id != id {
            return Err(ApiError::not_found("tenant profile"));
        }
        Ok(Json(tenant_profile_json(&core.tenant_profile)))
    })
}

/// `POST /api/tenantProfile`: `maxDevices` and the gateway transport rate limits
/// (`"count:seconds,…"`, null for none) take effect; a limit that does not parse is 400.
pub async fn save_tenant_profile(
    state: State,
    caller: Caller,
    body: axum::body::Bytes,
) -> ApiResult {
    require_sysadmin(&caller)?;
    let body: Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("the tenant profile is not JSON: {e}")))?;
    let configuration = body.pointer("/profileData/configuration");
    let max = configuration
        .and_then(|c| c.get("maxDevices"))
        .and_then(Value::as_u64)
        .unwrap_or(0);
    let limit = |field: &str| -> Result<Option<String>, ApiError> {
        match configuration.and_then(|c| c.get(field)) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(text)) if text.trim().is_empty() => Ok(None),
            Some(Value::String(text)) => RateLimit::parse(text, 0)
                .map(|_| Some(text.clone()))
                .map_err(|why| ApiError::bad_request(format!("{field}: {why}"))),
            Some(other) => Err(ApiError::bad_request(format!(
                "{field}: expected a string such as \"10:1,300:60\", got {other}"
            ))),
        }
    };
    let read = |fields: [&str; 3]| -> Result<LimitConfig, ApiError> {
        let [a, b, c] = fields;
        Ok(LimitConfig::from_values([limit(a)?, limit(b)?, limit(c)?]))
    };
    let transport_limits = TransportLimits {
        gateway: read(GATEWAY_FIELDS)?,
        gateway_device: read(GATEWAY_DEVICE_FIELDS)?,
    };
    state.with_core(|core| {
        core.tenant_profile.max_devices = max;
        core.tenant_profile.transport_limits = transport_limits;
        Ok(Json(tenant_profile_json(&core.tenant_profile)))
    })
}
