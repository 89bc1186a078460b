//! `TenantProfileController`: the tenant profile as a sysadmin reads and saves it: its device
//! limit (`maxDevices`) and its gateway transport rate limits.

use axum::Json;
use axum::extract::Path;
use serde_json::{Value, json};

use super::auth::Caller;
use super::{ApiError, ApiResult, State, parse_id};
use crate::emulator::core::TenantProfile;
use crate::emulator::core::entities::{Authority, entity_id};
use crate::emulator::core::rate_limits::{
    DEVICE_FIELDS, GATEWAY_DEVICE_FIELDS, GATEWAY_FIELDS, LimitConfig, RateLimit, TransportLimits,
};

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
    let gateway_device_fields = GATEWAY_DEVICE_FIELDS
        .iter()
        .zip(limits.gateway_device.values());
    let device_fields = DEVICE_FIELDS.iter().zip(limits.device.values());
    if let Some(map) = configuration.as_object_mut() {
        for (field, value) in fields.chain(gateway_device_fields).chain(device_fields) {
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

/// `POST /api/tenantProfile`: `maxDevices` and the transport rate limits of gateways and devices
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
        device: read(DEVICE_FIELDS)?,
    };
    state.with_core(|core| {
        core.tenant_profile.max_devices = max;
        core.tenant_profile.transport_limits = transport_limits;
        Ok(Json(tenant_profile_json(&core.tenant_profile)))
    })
}
