//! `RpcV2Controller` and the deprecated `RpcV1Controller`: server-side RPC over REST,
//! `POST /api/rpc/{oneway|twoway}/{deviceId}` and `/api/plugins/rpc/...`, with ThingsBoard's
//! statuses (§5); persistent RPCs read, listed and deleted under `/api/rpc/persistent`.

use axum::Json;
use axum::body::Body;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use uuid::Uuid;

use super::auth::Caller;
use super::devices::visible;
use super::params::Params;
use super::{ApiError, ApiResult, State, parse_id};
use crate::emulator::core::PersistentRequest;
use crate::emulator::core::rpc::RpcOutcome;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Api {
    V1,
    V2,
}

pub async fn call_v2(
    state: State,
    caller: Caller,
    Path((kind, id)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Response {
    call(state, caller, &kind, &id, &body, Api::V2)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

pub async fn call_v1(
    state: State,
    caller: Caller,
    Path((kind, id)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Response {
    call(state, caller, &kind, &id, &body, Api::V1)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn call(
    state: State,
    caller: Caller,
    kind: &str,
    id: &str,
    body: &[u8],
    api: Api,
) -> Result<Response, ApiError> {
    let oneway = match kind {
        "oneway" => true,
        "twoway" => false,
        other => return Err(ApiError::not_found(&format!("RPC kind {other:?}"))),
    };
    let device = parse_id(id)?;
    let request: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("the RPC body is not JSON: {e}")))?;
    let method = request
        .get("method")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::bad_request("method is required"))?
        .to_owned();
    let persistent = request.get("persistent").and_then(Value::as_bool) == Some(true);
    let params = request.get("params").cloned().unwrap_or(Value::Null);
    let asked_timeout = request.get("timeout").and_then(Value::as_i64);
    let call = Uuid::new_v4();
    let waiter = state.wait_rpc(call);
    let deadline_ms = state.with_core(|core| {
        let now = core.now();
        visible(core, &caller, device).map_err(|e| {
            if core.device(device).is_none() {
                // A bare string, as `AbstractRpcController` writes it (§11.1 C11).
                ApiError::plain_text(
                    StatusCode::NOT_FOUND,
                    "Device with requested id wasn't found!",
                )
            } else {
                e
            }
        })?;
        // `server.rest.server_side_rpc.default_timeout` and `min_timeout`.
        let settings = &core.settings;
        let timeout = asked_timeout
            .unwrap_or(settings.default_server_side_rpc_timeout_ms)
            .max(settings.min_server_side_rpc_timeout_ms);
        let expires_at = request
            .get("expirationTime")
            .and_then(Value::as_i64)
            .unwrap_or_else(|| now.saturating_add(timeout));
        if persistent {
            let request = PersistentRequest {
                method,
                params,
                oneway,
                expires_at,
                retries: request.get("retries").and_then(Value::as_i64),
                additional_info: request
                    .get("additionalInfo")
                    .cloned()
                    .unwrap_or(Value::Null),
            };
            core.submit_persistent_rpc(call, device, request);
        } else {
            core.submit_rpc(call, device, &method, params, oneway, expires_at);
        }
        Ok::<i64, ApiError>(expires_at.saturating_sub(now).max(0))
    });
    if persistent {
        // Answered at once; the call's status is read with GET /api/rpc/persistent/{rpcId}.
        state.forget_waiter(call);
        deadline_ms?;
        return Ok(Json(serde_json::json!({"rpcId": call.to_string()})).into_response());
    }
    let deadline_ms = match deadline_ms {
        Ok(ms) => ms,
        Err(error) => {
            state.forget_rpc(call);
            return Err(error);
        }
    };
    let wait = std::time::Duration::from_millis(u64::try_from(deadline_ms).unwrap_or(0));
    match tokio::time::timeout(wait, waiter).await {
        Ok(Ok(RpcOutcome::Delivered)) => Ok(StatusCode::OK.into_response()),
        Ok(Ok(RpcOutcome::Replied(data))) => Ok(reply(&data)),
        Ok(Err(_)) | Err(_) => {
            let connected = state.with_core(|core| core.is_connected(device));
            state.forget_rpc(call);
            // v2 answers 504 for both; v1 tells a timeout (408) from no connection (409).
            let status = match api {
                Api::V2 => StatusCode::GATEWAY_TIMEOUT,
                Api::V1 if connected => StatusCode::REQUEST_TIMEOUT,
                Api::V1 => StatusCode::CONFLICT,
            };
            Ok(status.into_response())
        }
    }
}

/// The device's `data` as the body: 200 with its JSON, 200 empty for no data, 406 when it is not JSON.
fn reply(data: &str) -> Response {
    if data.trim().is_empty() {
        return StatusCode::OK.into_response();
    }
    match serde_json::from_str::<Value>(data) {
        Ok(_) => Response::builder()
            .status(StatusCode::OK)
            .header("content-type", "application/json")
            .body(Body::from(data.to_owned()))
            .unwrap_or_else(|_| StatusCode::OK.into_response()),
        Err(_) => StatusCode::NOT_ACCEPTABLE.into_response(),
    }
}

/// `GET /api/rpc/persistent/{rpcId}`.
pub async fn persistent(state: State, caller: Caller, Path(id): Path<String>) -> ApiResult {
    let id = parse_id(&id)?;
    state.with_core(|core| {
        let record = core
            .rpc
            .persistent
            .get(&id)
            .cloned()
            .ok_or_else(|| ApiError::not_found(&format!("RPC {id}")))?;
        visible(core, &caller, record.device)?;
        Ok(Json(record.to_json(core.tenant_id)))
    })
}

/// `GET /api/rpc/persistent/device/{deviceId}?pageSize&page[&rpcStatus&sortProperty…]`.
pub async fn persistent_by_device(
    state: State,
    caller: Caller,
    Path(device): Path<String>,
    params: Params,
) -> ApiResult {
    let device = parse_id(&device)?;
    state.with_core(|core| {
        visible(core, &caller, device)?;
        let wanted = params.get("rpcStatus").map(str::to_ascii_uppercase);
        let mut records: Vec<_> = core
            .rpc
            .persistent
            .values()
            .filter(|r| r.device == device)
            .filter(|r| wanted.as_deref().is_none_or(|s| r.status.as_str() == s))
            .collect();
        records.sort_by_key(|r| (r.created_time, r.id));
        let items = records
            .into_iter()
            .map(|r| r.to_json(core.tenant_id))
            .collect();
        Ok(Json(params.page(items)?))
    })
}

/// `DELETE /api/rpc/persistent/{rpcId}`: the record goes, and the call if still pending.
pub async fn delete_persistent(
    state: State,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require_tenant()?;
    let id = parse_id(&id)?;
    state.with_core(|core| {
        if core.rpc.persistent.remove(&id).is_none() {
            return Err(ApiError::not_found(&format!("RPC {id}")));
        }
        core.expire_rpc(id);
        Ok(StatusCode::OK)
    })
}
