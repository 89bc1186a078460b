//! ThingsBoard's REST API, the subset the gateway API needs (`reference/thingsboard-behavior.md`
//! §5–§7): the same paths, bodies, status codes and `X-Authorization: Bearer` auth, so that
//! a client written for ThingsBoard works unchanged.

pub mod auth;
mod claim;
mod devices;
mod entities;
mod rpc;
mod telemetry;

use std::sync::Arc;

use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use serde_json::{Value, json};
use uuid::Uuid;

use super::Shared;

pub type State = axum::extract::State<Arc<Shared>>;

pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/api/auth/login", post(auth::login))
        .route("/api/auth/token", post(auth::refresh))
        .route("/api/auth/user", get(auth::current_user))
        .route("/api/auth/logout", post(auth::logout))
        .route("/api/device", post(devices::save))
        .route(
            "/api/device/{id}",
            get(devices::get_by_id).delete(devices::remove),
        )
        .route("/api/device/{id}/credentials", get(devices::credentials))
        .route("/api/device/credentials", post(devices::save_credentials))
        .route("/api/tenant/devices", get(devices::tenant_devices))
        .route("/api/tenant/device", get(devices::tenant_devices))
        .route(
            "/api/customer/{customer}/devices",
            get(devices::customer_devices),
        )
        .route(
            "/api/customer/{customer}/device/{id}",
            post(devices::assign),
        )
        .route(
            "/api/customer/device/{name}/claim",
            post(claim::claim).delete(claim::reclaim),
        )
        .route("/api/customer/device/{id}", delete(devices::unassign))
        .route("/api/customers", get(entities::customers))
        .route("/api/deviceProfile/names", get(entities::profile_names))
        .route("/api/deviceProfile/{id}", get(entities::profile))
        .route(
            "/api/deviceProfileInfo/default",
            get(entities::default_profile_info),
        )
        .route("/api/deviceProfileInfo/{id}", get(entities::profile_info))
        .route("/api/deviceProfiles", get(entities::profiles))
        .route("/api/relations", get(entities::relations))
        .route(
            "/api/tenantProfileInfo/default",
            get(entities::tenant_profile_info),
        )
        .route("/api/tenantProfile/{id}", get(entities::tenant_profile))
        .route("/api/tenantProfile", post(entities::save_tenant_profile))
        .route(
            "/api/plugins/telemetry/{entity}/{id}/values/attributes",
            get(telemetry::attribute_values_all),
        )
        .route(
            "/api/plugins/telemetry/{entity}/{id}/values/attributes/{scope}",
            get(telemetry::attribute_values),
        )
        .route(
            "/api/plugins/telemetry/{entity}/{id}/keys/attributes",
            get(telemetry::attribute_keys_all),
        )
        .route(
            "/api/plugins/telemetry/{entity}/{id}/keys/attributes/{scope}",
            get(telemetry::attribute_keys),
        )
        .route(
            "/api/plugins/telemetry/{entity}/{id}/attributes/{scope}",
            post(telemetry::save_attributes),
        )
        .route(
            "/api/plugins/telemetry/{entity}/{id}/{scope}",
            post(telemetry::save_attributes).delete(telemetry::delete_attributes),
        )
        .route(
            "/api/plugins/telemetry/{entity}/{id}/keys/timeseries",
            get(telemetry::timeseries_keys),
        )
        .route(
            "/api/plugins/telemetry/{entity}/{id}/values/timeseries",
            get(telemetry::timeseries_values),
        )
        .route("/api/rpc/{kind}/{id}", post(rpc::call_v2))
        .route("/api/plugins/rpc/{kind}/{id}", post(rpc::call_v1))
        .fallback(not_found_path)
        .with_state(shared)
}

async fn not_found_path(uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!("tbgw's emulator does not serve {}", uri.path()),
        ErrorCode::ItemNotFound,
    )
}

/// ThingsBoard's `ThingsboardErrorCode` values used here.
#[derive(Clone, Copy, Debug)]
pub enum ErrorCode {
    General = 2,
    Authentication = 10,
    PermissionDenied = 20,
    InvalidArguments = 30,
    BadRequestParams = 31,
    ItemNotFound = 32,
}

/// An error answered with ThingsBoard's body: `{"status","message","errorCode","timestamp"}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
    code: ErrorCode,
    /// The body is the message as plain text, not ThingsBoard's JSON error object.
    plain_text: bool,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>, code: ErrorCode) -> ApiError {
        ApiError {
            status,
            message: message.into(),
            code,
            plain_text: false,
        }
    }

    /// The few controllers that answer with a bare string (the RPC controller's 404).
    pub fn plain_text(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            plain_text: true,
            ..ApiError::new(status, message, ErrorCode::General)
        }
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            message,
            ErrorCode::BadRequestParams,
        )
    }

    pub fn not_found(what: &str) -> ApiError {
        let message = format!("Requested item wasn't found! ({what})");
        ApiError::new(StatusCode::NOT_FOUND, message, ErrorCode::ItemNotFound)
    }

    pub fn forbidden() -> ApiError {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "You don't have permission to perform this operation!",
            ErrorCode::PermissionDenied,
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.plain_text {
            return (self.status, self.message).into_response();
        }
        let timestamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let body = json!({
            "status": self.status.as_u16(),
            "message": self.message,
            "errorCode": self.code as u8,
            "timestamp": timestamp,
        });
        (self.status, axum::Json(body)).into_response()
    }
}

pub type ApiResult<T = axum::Json<Value>> = Result<T, ApiError>;

/// A UUID from a path, or ThingsBoard's 400.
pub fn parse_id(text: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(text).map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("Invalid UUID string: {text}"),
            ErrorCode::InvalidArguments,
        )
    })
}

/// ThingsBoard's page: `{"data", "totalPages", "totalElements", "hasNext"}`.
pub fn page(items: Vec<Value>, page_size: Option<usize>, page: Option<usize>) -> Value {
    let size = page_size.unwrap_or(items.len().max(1)).max(1);
    let index = page.unwrap_or(0);
    let total = items.len();
    let data: Vec<Value> = items
        .into_iter()
        .skip(index.saturating_mul(size))
        .take(size)
        .collect();
    let total_pages = total.div_ceil(size);
    json!({
        "data": data,
        "totalPages": total_pages,
        "totalElements": total,
        "hasNext": index + 1 < total_pages,
    })
}
