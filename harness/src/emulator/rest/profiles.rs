//! `DeviceProfileController`: device profiles by id, infos, names, pages, and creating one
//! (a gateway's `type` then names it).

use axum::Json;
use axum::extract::Path;
use serde_json::{Value, json};
use uuid::Uuid;

use super::auth::Caller;
use super::params::Params;
use super::{ApiError, ApiResult, State, parse_id, version_conflict};
use crate::emulator::core::Core;
use crate::emulator::core::entities::{DeviceProfile, entity_id, profile_info_json, profile_json};

fn find(core: &Core, id: Uuid) -> Result<&DeviceProfile, ApiError> {
    core.profiles
        .iter()
        .find(|p| p.id == id)
        .ok_or_else(|| ApiError::not_found(&format!("device profile {id}")))
}

pub async fn profile(state: State, _caller: Caller, Path(id): Path<String>) -> ApiResult {
    let id = parse_id(&id)?;
    state.with_core(|core| Ok(Json(profile_json(find(core, id)?, core.tenant_id))))
}

pub async fn profile_info(state: State, _caller: Caller, Path(id): Path<String>) -> ApiResult {
    let id = parse_id(&id)?;
    state.with_core(|core| Ok(Json(profile_info_json(find(core, id)?, core.tenant_id))))
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

/// `GET /api/deviceProfiles?pageSize&page[&textSearch&sortProperty&sortOrder]`.
pub async fn profiles(state: State, _caller: Caller, params: Params) -> ApiResult {
    state.with_core(|core| {
        let items = core
            .profiles
            .iter()
            .filter(|p| params.finds(&p.name))
            .map(|p| profile_json(p, core.tenant_id))
            .collect();
        Ok(Json(params.page(items)?))
    })
}

/// `GET /api/deviceProfileInfos?pageSize&page[&textSearch…]`.
pub async fn profile_infos(state: State, _caller: Caller, params: Params) -> ApiResult {
    state.with_core(|core| {
        let items = core
            .profiles
            .iter()
            .filter(|p| params.finds(&p.name))
            .map(|p| profile_info_json(p, core.tenant_id))
            .collect();
        Ok(Json(params.page(items)?))
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

/// `POST /api/deviceProfile`: creates a profile, or updates the one its `id` names (with
/// optimistic locking on `version`). Names are unique in the tenant.
pub async fn save(state: State, caller: Caller, body: axum::body::Bytes) -> ApiResult {
    caller.require_tenant()?;
    let body: Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("the device profile is not JSON: {e}")))?;
    let name = body
        .get("name")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ApiError::bad_request("Device profile name should be specified!"))?
        .to_owned();
    let description = body
        .get("description")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let existing = body
        .pointer("/id/id")
        .and_then(Value::as_str)
        .map(parse_id)
        .transpose()?;
    let version = body.get("version").and_then(Value::as_i64);
    state.with_core(|core| {
        if core
            .profiles
            .iter()
            .any(|p| p.name == name && Some(p.id) != existing)
        {
            return Err(ApiError::bad_request(
                "Device profile with such name already exists!",
            ));
        }
        let now = core.now();
        let index = match existing {
            Some(id) => {
                let index = core
                    .profiles
                    .iter()
                    .position(|p| p.id == id)
                    .ok_or_else(|| ApiError::not_found(&format!("device profile {id}")))?;
                let profile = &mut core.profiles[index];
                if version.is_some_and(|v| v != profile.version) {
                    return Err(version_conflict("Device profile"));
                }
                profile.name = name;
                if let Some(description) = description {
                    profile.description = description;
                }
                profile.version = profile.version.saturating_add(1);
                index
            }
            None => {
                core.profiles.push(DeviceProfile {
                    id: Uuid::new_v4(),
                    name,
                    description: description.unwrap_or_default(),
                    is_default: false,
                    created_time: now,
                    version: 1,
                });
                core.profiles.len() - 1
            }
        };
        Ok(Json(profile_json(&core.profiles[index], core.tenant_id)))
    })
}

/// `DELETE /api/deviceProfile/{id}`: refused for the default profile and for one devices use.
pub async fn remove(
    state: State,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<axum::http::StatusCode, ApiError> {
    caller.require_tenant()?;
    let id = parse_id(&id)?;
    state.with_core(|core| {
        let profile = core
            .profiles
            .iter()
            .find(|p| p.id == id)
            .ok_or_else(|| ApiError::not_found(&format!("device profile {id}")))?;
        if profile.is_default {
            return Err(ApiError::bad_request(
                "Deletion of Default Device Profile is prohibited!",
            ));
        }
        if core.devices.values().any(|d| d.profile_id == id) {
            return Err(ApiError::bad_request(
                "The device profile referenced by the devices cannot be deleted!",
            ));
        }
        core.profiles.retain(|p| p.id != id);
        Ok(axum::http::StatusCode::OK)
    })
}
