//! `DeviceController`: create and update (with optimistic locking), read by id, ids or name,
//! device infos and types, credentials, delete, assignment to customers, and claiming (§6).

use axum::Json;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use uuid::Uuid;

use super::auth::Caller;
use super::params::Params;
use super::{ApiError, ApiResult, ErrorCode, State, parse_id, version_conflict};
use crate::emulator::core::claims::ClaimResult;
use crate::emulator::core::entities::{Authority, Device, device_json, entity_id, info_object};
use crate::emulator::core::{Core, DeviceFailure};

fn failure(core: &Core, error: DeviceFailure) -> ApiError {
    match error {
        // `ThingsboardEntitiesLimitExceededResponse`.
        DeviceFailure::Limit => ApiError::new(
            StatusCode::FORBIDDEN,
            "Devices limit reached",
            ErrorCode::EntitiesLimitExceeded,
        )
        .with(json!({"entityType": "DEVICE", "limit": core.tenant_profile.max_devices})),
        DeviceFailure::Refused(why) | DeviceFailure::Invalid(why) => {
            ApiError::new(StatusCode::BAD_REQUEST, why, ErrorCode::BadRequestParams)
        }
    }
}

/// The device `caller` may see, or 404 / 403 as ThingsBoard answers.
pub fn visible(core: &Core, caller: &Caller, id: Uuid) -> Result<Device, ApiError> {
    let device = core
        .device(id)
        .cloned()
        .ok_or_else(|| ApiError::not_found(&format!("device {id}")))?;
    if caller.can_see(device.customer_id) {
        Ok(device)
    } else {
        Err(ApiError::forbidden())
    }
}

/// `POST /api/device[?accessToken=]`: create, or update when the body has an `id`.
pub async fn save(
    state: State,
    caller: Caller,
    params: Params,
    body: axum::body::Bytes,
) -> ApiResult {
    caller.require_tenant()?;
    let body: Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("the device body is not JSON: {e}")))?;
    let name = body
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    if name.is_empty() {
        return Err(ApiError::bad_request("Device name should be specified!"));
    }
    let device_type = body.get("type").and_then(Value::as_str).map(str::to_owned);
    let label = body.get("label").and_then(Value::as_str).map(str::to_owned);
    let info = info_object(body.get("additionalInfo"));
    let existing = body
        .get("id")
        .and_then(|id| id.get("id"))
        .and_then(Value::as_str)
        .map(parse_id)
        .transpose()?;
    let version = body.get("version").and_then(Value::as_i64);
    let access_token = params.get("accessToken").map(str::to_owned);
    state.with_core(|core| {
        let id = match existing {
            Some(id) => {
                let current = core
                    .device(id)
                    .cloned()
                    .ok_or_else(|| ApiError::not_found("device"))?;
                if version.is_some_and(|v| v != current.version) {
                    return Err(version_conflict("Device"));
                }
                let device_type = device_type.unwrap_or_else(|| current.device_type.into());
                core.update_device(id, &name, &device_type, label, info)
                    .map_err(|e| failure(core, e))?;
                id
            }
            None => {
                let id = core
                    .create_device(&name, device_type.as_deref(), None, info, access_token)
                    .map_err(|e| failure(core, e))?;
                if let Some(d) = core.devices.get_mut(&id) {
                    d.label = label;
                }
                id
            }
        };
        let device = core
            .device(id)
            .ok_or_else(|| ApiError::not_found("device"))?;
        Ok(Json(device_json(device, core.tenant_id)))
    })
}

pub async fn get_by_id(state: State, caller: Caller, Path(id): Path<String>) -> ApiResult {
    let id = parse_id(&id)?;
    state.with_core(|core| {
        let device = visible(core, &caller, id)?;
        Ok(Json(device_json(&device, core.tenant_id)))
    })
}

pub async fn remove(
    state: State,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require_tenant()?;
    let id = parse_id(&id)?;
    if state.with_core(|core| core.delete_device(id)) {
        Ok(StatusCode::OK)
    } else {
        Err(ApiError::not_found(&format!("device {id}")))
    }
}

fn credentials_json(device: &Device) -> Value {
    json!({
        "id": {"id": device.id.to_string()},
        "createdTime": device.created_time,
        "deviceId": {"entityType": "DEVICE", "id": device.id.to_string()},
        "credentialsType": "ACCESS_TOKEN",
        "credentialsId": device.access_token,
        "credentialsValue": null,
        "version": device.credentials_version,
    })
}

pub async fn credentials(state: State, caller: Caller, Path(id): Path<String>) -> ApiResult {
    let id = parse_id(&id)?;
    state.with_core(|core| Ok(Json(credentials_json(&visible(core, &caller, id)?))))
}

/// `POST /api/device/credentials`: a new access token; the device's sessions end (0x98).
pub async fn save_credentials(state: State, caller: Caller, body: axum::body::Bytes) -> ApiResult {
    caller.require_tenant()?;
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let id = body
        .pointer("/deviceId/id")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::bad_request("deviceId.id is required"))?;
    let id = parse_id(id)?;
    let token = body
        .get("credentialsId")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::bad_request("credentialsId (the access token) is required"))?
        .to_owned();
    let version = body.get("version").and_then(Value::as_i64);
    state.with_core(|core| {
        let current = visible(core, &caller, id)?.credentials_version;
        if version.is_some_and(|v| v != current) {
            // Credentials have no `EntityType`, so `doSave` names them "Entity".
            return Err(version_conflict("Entity"));
        }
        core.set_access_token(id, token)
            .map_err(|e| failure(core, e))?;
        let device = core
            .device(id)
            .ok_or_else(|| ApiError::not_found("device"))?;
        Ok(Json(credentials_json(device)))
    })
}

fn listing(core: &Core, params: &Params, owner: Option<Option<Uuid>>) -> ApiResult {
    let mut devices: Vec<&Device> = core
        .devices
        .values()
        .filter(|d| owner.is_none_or(|o| d.customer_id == o))
        .filter(|d| params.get("type").is_none_or(|t| d.device_type == t))
        .filter(|d| params.finds(&d.name))
        .collect();
    // Without sortProperty, the order devices were created in.
    devices.sort_by(|a, b| {
        a.created_time
            .cmp(&b.created_time)
            .then(a.name.cmp(&b.name))
    });
    let items = devices
        .into_iter()
        .map(|d| device_json(d, core.tenant_id))
        .collect();
    Ok(Json(params.page(items)?))
}

/// `GET /api/tenant/devices?deviceName=` (one device, 404 when absent) or a page of devices.
pub async fn tenant_devices(state: State, caller: Caller, params: Params) -> ApiResult {
    caller.require_tenant()?;
    state.with_core(|core| match params.get("deviceName") {
        Some(name) => core
            .device_by_name(name)
            .map(|d| Json(device_json(d, core.tenant_id)))
            .ok_or_else(|| ApiError::not_found(&format!("device {name:?}"))),
        None => listing(core, &params, None),
    })
}

pub async fn customer_devices(
    state: State,
    caller: Caller,
    Path(customer): Path<String>,
    params: Params,
) -> ApiResult {
    let customer = parse_id(&customer)?;
    if !caller.can_see(Some(customer)) {
        return Err(ApiError::forbidden());
    }
    state.with_core(|core| listing(core, &params, Some(Some(customer))))
}

/// `GET /api/devices?deviceIds=a,b`: the ones the caller may see, unknown ids left out.
pub async fn by_ids(state: State, caller: Caller, params: Params) -> ApiResult {
    let ids = params
        .get("deviceIds")
        .ok_or_else(|| ApiError::bad_request("deviceIds is required"))?
        .split(',')
        .map(str::trim)
        .filter(|id| !id.is_empty())
        .map(parse_id)
        .collect::<Result<Vec<Uuid>, ApiError>>()?;
    state.with_core(|core| {
        let found = ids
            .iter()
            .filter_map(|id| core.device(*id))
            .filter(|d| caller.can_see(d.customer_id))
            .map(|d| device_json(d, core.tenant_id))
            .collect();
        Ok(Json(Value::Array(found)))
    })
}

/// `GET /api/device/types`: the profile names devices use, as `EntitySubtype`s.
pub async fn types(state: State, caller: Caller) -> ApiResult {
    state.with_core(|core| {
        let mut names: Vec<&str> = core
            .devices
            .values()
            .filter(|d| caller.can_see(d.customer_id))
            .map(|d| d.device_type.as_str())
            .collect();
        names.sort_unstable();
        names.dedup();
        let tenant = entity_id("TENANT", core.tenant_id);
        let types = names
            .into_iter()
            .map(|t| json!({"tenantId": tenant, "entityType": "DEVICE", "type": t}))
            .collect();
        Ok(Json(Value::Array(types)))
    })
}

/// `GET /api/device/info/{id}`: the device with its customer's title, its profile's name and
/// whether it is active.
pub async fn info(state: State, caller: Caller, Path(id): Path<String>) -> ApiResult {
    let id = parse_id(&id)?;
    state.with_core(|core| {
        let device = visible(core, &caller, id)?;
        let mut json = device_json(&device, core.tenant_id);
        let customer = device
            .customer_id
            .and_then(|c| core.customers.iter().find(|x| x.id == c));
        let profile = core.profiles.iter().find(|p| p.id == device.profile_id);
        let active = core
            .store
            .device(id)
            .and_then(|d| d.attribute(crate::emulator::core::store::Scope::Server, "active"))
            .is_some_and(|a| a.value == tbgw_codec::TbValue::Boolean(true));
        if let Some(map) = json.as_object_mut() {
            map.insert("customerTitle".into(), json!(customer.map(|c| &c.title)));
            map.insert("customerIsPublic".into(), json!(false));
            map.insert("deviceProfileName".into(), json!(profile.map(|p| &p.name)));
            map.insert("active".into(), json!(active));
        }
        Ok(Json(json))
    })
}

/// `POST /api/customer/{customerId}/device/{deviceId}`: the customer owns the device.
pub async fn assign(
    state: State,
    caller: Caller,
    Path((customer, id)): Path<(String, String)>,
) -> ApiResult {
    caller.require_tenant()?;
    let (customer, id) = (parse_id(&customer)?, parse_id(&id)?);
    state.with_core(|core| {
        if !core.customers.iter().any(|c| c.id == customer) {
            return Err(ApiError::not_found(&format!("customer {customer}")));
        }
        let device = core
            .devices
            .get_mut(&id)
            .ok_or_else(|| ApiError::not_found("device"))?;
        device.customer_id = Some(customer);
        device.record_save();
        let device = device.clone();
        Ok(Json(device_json(&device, core.tenant_id)))
    })
}

/// `DELETE /api/customer/device/{deviceId}`: no customer owns it any more.
pub async fn unassign(state: State, caller: Caller, Path(id): Path<String>) -> ApiResult {
    caller.require_tenant()?;
    let id = parse_id(&id)?;
    state.with_core(|core| {
        let device = core
            .devices
            .get_mut(&id)
            .ok_or_else(|| ApiError::not_found("device"))?;
        device.customer_id = None;
        device.record_save();
        let device = device.clone();
        Ok(Json(device_json(&device, core.tenant_id)))
    })
}

/// `POST /api/customer/device/{deviceName}/claim` as a customer user (§6).
pub async fn claim(
    state: State,
    caller: Caller,
    Path(name): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let Some(customer) = caller
        .customer_id
        .filter(|_| caller.authority == Authority::CustomerUser)
    else {
        return ApiError::forbidden().into_response();
    };
    // ThingsBoard dereferences the body: no body is a server error, `{}` means "".
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the claim request needs a JSON body such as {\"secretKey\":\"...\"}",
            ErrorCode::General,
        )
        .into_response();
    };
    let secret = request
        .get("secretKey")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    state.with_core(|core| {
        let Some(id) = core.device_by_name(&name).map(|d| d.id) else {
            return ApiError::not_found(&format!("device {name:?}")).into_response();
        };
        match core.claim(id, customer, &secret) {
            ClaimResult::Success => {
                let device = core.device(id).map(|d| device_json(d, core.tenant_id));
                Json(json!({"device": device, "response": "SUCCESS"})).into_response()
            }
            other => (StatusCode::BAD_REQUEST, Json(Value::from(other.as_str()))).into_response(),
        }
    })
}

/// `DELETE /api/customer/device/{deviceName}/claim`: the device has no customer again.
pub async fn reclaim(state: State, caller: Caller, Path(name): Path<String>) -> Response {
    state.with_core(|core| {
        let Some(device) = core.device_by_name(&name).cloned() else {
            return ApiError::not_found(&format!("device {name:?}")).into_response();
        };
        if !caller.can_see(device.customer_id) {
            return ApiError::forbidden().into_response();
        }
        core.reclaim(device.id);
        let device = core
            .device(device.id)
            .map(|d| device_json(d, core.tenant_id));
        Json(json!(device)).into_response()
    })
}
