//! `POST /api/customer/device/{deviceName}/claim` as a customer user, and reclaiming (§6).

use axum::Json;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::auth::Caller;
use super::{ApiError, ErrorCode, State};
use crate::emulator::core::claims::ClaimResult;
use crate::emulator::core::entities::{Authority, device_json};

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
