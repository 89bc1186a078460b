//! Devices: create and update, read by id or name, credentials, delete, customers.

use axum::Json;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::auth::Caller;
use super::{ApiError, ApiResult, ErrorCode, State, page, parse_id};
use crate::emulator::core::entities::{Device, device_json, info_object};
use crate::emulator::core::{Core, DeviceFailure};

#[derive(Deserialize)]
pub struct SaveQuery {
    #[serde(rename = "accessToken")]
    access_token: Option<String>,
}

fn failure(error: DeviceFailure) -> ApiError {
    match error {
        DeviceFailure::Limit => ApiError::new(
            StatusCode::FORBIDDEN,
            "Can't create more then N devices! (the tenant's maxDevices)",
            ErrorCode::PermissionDenied,
        ),
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
    Query(query): Query<SaveQuery>,
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
    state.with_core(|core| {
        let id = match existing {
            Some(id) => {
                let current = core
                    .device(id)
                    .cloned()
                    .ok_or_else(|| ApiError::not_found("device"))?;
                let device_type = device_type.unwrap_or(current.device_type);
                core.update_device(id, &name, &device_type, label, info)
                    .map_err(failure)?;
                id
            }
            None => {
                let id = core
                    .create_device(
                        &name,
                        device_type.as_deref(),
                        None,
                        info,
                        query.access_token,
                    )
                    .map_err(failure)?;
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
        "version": 1,
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
    state.with_core(|core| {
        core.set_access_token(id, token).map_err(failure)?;
        let device = core
            .device(id)
            .ok_or_else(|| ApiError::not_found("device"))?;
        Ok(Json(credentials_json(device)))
    })
}

#[derive(Deserialize)]
pub struct DeviceQuery {
    #[serde(rename = "deviceName")]
    device_name: Option<String>,
    #[serde(rename = "pageSize")]
    page_size: Option<usize>,
    page: Option<usize>,
    #[serde(rename = "textSearch")]
    text_search: Option<String>,
    #[serde(rename = "type")]
    device_type: Option<String>,
}

fn listing(core: &Core, query: &DeviceQuery, owner: Option<Option<Uuid>>) -> Value {
    let mut devices: Vec<&Device> = core
        .devices
        .values()
        .filter(|d| owner.is_none_or(|o| d.customer_id == o))
        .filter(|d| {
            query
                .device_type
                .as_ref()
                .is_none_or(|t| &d.device_type == t)
        })
        .filter(|d| {
            query
                .text_search
                .as_ref()
                .is_none_or(|t| d.name.to_lowercase().contains(&t.to_lowercase()))
        })
        .collect();
    devices.sort_by(|a, b| {
        a.created_time
            .cmp(&b.created_time)
            .then(a.name.cmp(&b.name))
    });
    let items = devices
        .into_iter()
        .map(|d| device_json(d, core.tenant_id))
        .collect();
    page(items, query.page_size, query.page)
}

/// `GET /api/tenant/devices?deviceName=` (one device, 404 when absent) or a page of devices.
pub async fn tenant_devices(
    state: State,
    caller: Caller,
    Query(query): Query<DeviceQuery>,
) -> ApiResult {
    caller.require_tenant()?;
    state.with_core(|core| match &query.device_name {
        Some(name) => core
            .device_by_name(name)
            .map(|d| Json(device_json(d, core.tenant_id)))
            .ok_or_else(|| ApiError::not_found(&format!("device {name:?}"))),
        None => Ok(Json(listing(core, &query, None))),
    })
}

pub async fn customer_devices(
    state: State,
    caller: Caller,
    Path(customer): Path<String>,
    Query(query): Query<DeviceQuery>,
) -> ApiResult {
    let customer = parse_id(&customer)?;
    if !caller.can_see(Some(customer)) {
        return Err(ApiError::forbidden());
    }
    state.with_core(|core| Ok(Json(listing(core, &query, Some(Some(customer))))))
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
        let device = device.clone();
        Ok(Json(device_json(&device, core.tenant_id)))
    })
}
