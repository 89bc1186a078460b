//! ThingsBoard's REST API, the subset the gateway API needs (`reference/thingsboard-behavior.md`
//! §5–§7): the same paths, bodies, status codes and `X-Authorization: Bearer` auth, so that
//! a client written for ThingsBoard works unchanged.

//! One module per ThingsBoard controller, named after it; the route table below is the whole
//! list of what the emulator serves (`thingsboard-behavior.md` §7 and §11.4).

pub mod auth;
mod customers;
mod devices;
pub mod params;
mod profiles;
mod relations;
mod rpc;
mod telemetry;
mod tenant_profiles;

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
    let telemetry = "/api/plugins/telemetry";
    Router::new()
        // AuthController and the login endpoint
        .route("/api/auth/login", post(auth::login))
        .route("/api/auth/token", post(auth::refresh))
        .route("/api/auth/user", get(auth::current_user))
        .route("/api/auth/logout", post(auth::logout))
        // DeviceController
        .route("/api/device", post(devices::save))
        .route("/api/device/types", get(devices::types))
        .route("/api/device/info/{id}", get(devices::info))
        .route(
            "/api/device/{id}",
            get(devices::get_by_id).delete(devices::remove),
        )
        .route("/api/device/{id}/credentials", get(devices::credentials))
        .route("/api/device/credentials", post(devices::save_credentials))
        .route("/api/devices", get(devices::by_ids))
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
            post(devices::claim).delete(devices::reclaim),
        )
        .route("/api/customer/device/{id}", delete(devices::unassign))
        // CustomerController
        .route("/api/customer", post(customers::save))
        .route("/api/customers", get(customers::customers))
        .route("/api/tenant/customers", get(customers::by_title))
        .route(
            "/api/customer/{customer}",
            get(customers::by_id).delete(customers::remove),
        )
        // DeviceProfileController
        .route("/api/deviceProfile", post(profiles::save))
        .route("/api/deviceProfile/names", get(profiles::profile_names))
        .route(
            "/api/deviceProfile/{id}",
            get(profiles::profile).delete(profiles::remove),
        )
        .route(
            "/api/deviceProfileInfo/default",
            get(profiles::default_profile_info),
        )
        .route("/api/deviceProfileInfo/{id}", get(profiles::profile_info))
        .route("/api/deviceProfileInfos", get(profiles::profile_infos))
        .route("/api/deviceProfiles", get(profiles::profiles))
        // EntityRelationController
        .route(
            "/api/relations",
            get(relations::by_query).delete(relations::delete_all),
        )
        .route(
            "/api/relation",
            get(relations::one)
                .post(relations::save_v1)
                .delete(relations::delete_v1),
        )
        .route(
            "/api/v2/relation",
            post(relations::save_v2).delete(relations::delete_v2),
        )
        .route("/api/relations/from/{entity}/{id}", get(relations::from))
        .route(
            "/api/relations/from/{entity}/{id}/{relation_type}",
            get(relations::from_by_type),
        )
        .route("/api/relations/to/{entity}/{id}", get(relations::to))
        .route(
            "/api/relations/to/{entity}/{id}/{relation_type}",
            get(relations::to_by_type),
        )
        .route(
            "/api/relations/info/from/{entity}/{id}",
            get(relations::info_from),
        )
        .route(
            "/api/relations/info/to/{entity}/{id}",
            get(relations::info_to),
        )
        // TenantProfileController
        .route(
            "/api/tenantProfileInfo/default",
            get(tenant_profiles::tenant_profile_info),
        )
        .route(
            "/api/tenantProfile/{id}",
            get(tenant_profiles::tenant_profile),
        )
        .route(
            "/api/tenantProfile",
            post(tenant_profiles::save_tenant_profile),
        )
        // TelemetryController
        .route(
            &format!("{telemetry}/{{entity}}/{{id}}/values/attributes"),
            get(telemetry::attribute_values_all),
        )
        .route(
            &format!("{telemetry}/{{entity}}/{{id}}/values/attributes/{{scope}}"),
            get(telemetry::attribute_values),
        )
        .route(
            &format!("{telemetry}/{{entity}}/{{id}}/keys/attributes"),
            get(telemetry::attribute_keys_all),
        )
        .route(
            &format!("{telemetry}/{{entity}}/{{id}}/keys/attributes/{{scope}}"),
            get(telemetry::attribute_keys),
        )
        .route(
            &format!("{telemetry}/{{entity}}/{{id}}/attributes/{{scope}}"),
            post(telemetry::save_attributes),
        )
        .route(
            &format!("{telemetry}/{{entity}}/{{id}}/{{scope}}"),
            post(telemetry::save_attributes).delete(telemetry::delete_attributes),
        )
        .route(
            &format!("{telemetry}/{{entity}}/{{scope}}"),
            post(telemetry::save_device_attributes).delete(telemetry::delete_device_attributes),
        )
        .route(
            &format!("{telemetry}/{{entity}}/{{id}}/keys/timeseries"),
            get(telemetry::timeseries_keys),
        )
        .route(
            &format!("{telemetry}/{{entity}}/{{id}}/values/timeseries"),
            get(telemetry::timeseries_values),
        )
        .route(
            &format!("{telemetry}/{{entity}}/{{id}}/values/timeseries/history"),
            get(telemetry::timeseries_history),
        )
        .route(
            &format!("{telemetry}/{{entity}}/{{id}}/timeseries/delete"),
            delete(telemetry::delete_timeseries),
        )
        .route(
            &format!("{telemetry}/{{entity}}/{{id}}/timeseries/{{scope}}"),
            post(telemetry::save_timeseries),
        )
        .route(
            &format!("{telemetry}/{{entity}}/{{id}}/timeseries/{{scope}}/{{ttl}}"),
            post(telemetry::save_timeseries_with_ttl),
        )
        // RpcV2Controller and the deprecated RpcV1Controller
        .route(
            "/api/rpc/persistent/{id}",
            get(rpc::persistent).delete(rpc::delete_persistent),
        )
        .route(
            "/api/rpc/persistent/device/{id}",
            get(rpc::persistent_by_device),
        )
        .route("/api/rpc/{kind}/{id}", post(rpc::call_v2))
        .route("/api/plugins/rpc/{kind}/{id}", post(rpc::call_v1))
        .fallback(not_found_path)
        .with_state(shared)
}

async fn not_found_path(
    state: State,
    method: axum::http::Method,
    uri: axum::http::Uri,
) -> ApiError {
    if state.log_unserved {
        // One line, so a user sees at once what the emulator does not serve.
        crate::errln!(
            "tbgw serve: 404 {method} {}: not served by the emulator",
            uri.path()
        );
    }
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
    BadRequestParams = 31,
    ItemNotFound = 32,
    VersionConflict = 35,
    EntitiesLimitExceeded = 41,
}

/// An error answered with ThingsBoard's body: `{"status","message","errorCode","timestamp"}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
    code: ErrorCode,
    /// The body is the message as plain text, not ThingsBoard's JSON error object.
    plain_text: bool,
    /// Fields some errors add to the body (the device limit's `entityType` and `limit`).
    extra: Option<Value>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>, code: ErrorCode) -> ApiError {
        ApiError {
            status,
            message: message.into(),
            code,
            plain_text: false,
            extra: None,
        }
    }

    /// The same error with more fields in its body.
    pub fn with(self, extra: Value) -> ApiError {
        ApiError {
            extra: Some(extra),
            ..self
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

    /// ThingsBoard's JSON error body (not used for a plain-text error).
    pub fn body(&self) -> Value {
        let timestamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let mut body = json!({
            "status": self.status.as_u16(),
            "message": self.message,
            "errorCode": self.code as u8,
            "timestamp": timestamp,
        });
        if let (Some(map), Some(Value::Object(extra))) = (body.as_object_mut(), &self.extra) {
            map.extend(extra.clone());
        }
        body
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.plain_text {
            return (self.status, self.message).into_response();
        }
        (self.status, axum::Json(self.body())).into_response()
    }
}

pub type ApiResult<T = axum::Json<Value>> = Result<T, ApiError>;

/// A UUID from a path or a parameter, or ThingsBoard's 400 (`BaseController.toUUID`:
/// BAD_REQUEST_PARAMS, 31).
pub fn parse_id(text: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(text).map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("Invalid UUID string: {text}"),
            ErrorCode::BadRequestParams,
        )
    })
}

/// A save whose `version` is not the stored one (`JpaAbstractDao.doSave`).
pub fn version_conflict(entity: &str) -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        format!("{entity} was already changed by someone else"),
        ErrorCode::VersionConflict,
    )
}
