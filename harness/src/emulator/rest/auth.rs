//! `POST /api/auth/login`, tokens, and the caller of each request.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{ApiError, ApiResult, ErrorCode, State};
use crate::emulator::Shared;
use crate::emulator::core::entities::{Authority, User};

/// The lifetime ThingsBoard gives an access token (`security.jwt.tokenExpirationTime`).
const TOKEN_SECONDS: u64 = 9000;

/// Who made a request.
#[derive(Clone, Debug)]
pub struct Caller {
    pub user_id: Uuid,
    pub email: String,
    pub authority: Authority,
    pub customer_id: Option<Uuid>,
}

impl Caller {
    pub fn is_tenant(&self) -> bool {
        self.authority == Authority::TenantAdmin
    }

    /// Tenant admins see every device; a customer user only its customer's.
    pub fn can_see(&self, owner: Option<Uuid>) -> bool {
        match self.authority {
            Authority::TenantAdmin => true,
            Authority::CustomerUser => owner.is_some() && owner == self.customer_id,
            Authority::SysAdmin => false,
        }
    }

    pub fn require_tenant(&self) -> Result<(), ApiError> {
        if self.is_tenant() {
            Ok(())
        } else {
            Err(ApiError::forbidden())
        }
    }
}

/// Issued tokens: access and refresh.
#[derive(Default)]
pub struct Tokens {
    access: Mutex<HashMap<String, Caller>>,
    refresh: Mutex<HashMap<String, Caller>>,
}

impl Tokens {
    fn issue(&self, caller: &Caller, tenant_id: Uuid) -> Value {
        let token = jwt(caller, tenant_id, TOKEN_SECONDS);
        let refresh = jwt(caller, tenant_id, 7 * 24 * 3600);
        lock(&self.access).insert(token.clone(), caller.clone());
        lock(&self.refresh).insert(refresh.clone(), caller.clone());
        json!({"token": token, "refreshToken": refresh})
    }

    fn caller(&self, token: &str) -> Option<Caller> {
        lock(&self.access).get(token).cloned()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A JWT-shaped token with ThingsBoard's claims, so clients that read them work; the
/// emulator only checks that it issued it.
fn jwt(caller: &Caller, tenant_id: Uuid, seconds: u64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let header = json!({"alg": "HS512"});
    let claims = json!({
        "sub": caller.email,
        "userId": caller.user_id.to_string(),
        "scopes": [caller.authority.as_str()],
        "sessionId": Uuid::new_v4().to_string(),
        "iss": "thingsboard.io",
        "iat": now,
        "exp": now + seconds,
        "enabled": true,
        "isPublic": false,
        "tenantId": tenant_id.to_string(),
        "customerId": caller.customer_id.unwrap_or(crate::emulator::core::entities::NULL_UUID).to_string(),
    });
    let part = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
    let signature = URL_SAFE_NO_PAD.encode(Uuid::new_v4().as_bytes());
    format!("{}.{}.{}", part(&header), part(&claims), signature)
}

fn caller_of(user: &User) -> Caller {
    Caller {
        user_id: user.id,
        email: user.email.clone(),
        authority: user.authority,
        customer_id: user.customer_id,
    }
}

fn authentication_failed(message: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, message, ErrorCode::Authentication)
}

pub async fn login(state: State, body: axum::body::Bytes) -> ApiResult {
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let username = request
        .get("username")
        .and_then(Value::as_str)
        .unwrap_or("");
    let password = request
        .get("password")
        .and_then(Value::as_str)
        .unwrap_or("");
    let found = state.with_core(|core| {
        let user = core
            .users
            .iter()
            .find(|u| u.email.eq_ignore_ascii_case(username) && u.password == password)
            .map(caller_of);
        (user, core.tenant_id)
    });
    match found {
        (Some(caller), tenant_id) => Ok(axum::Json(state.auth.issue(&caller, tenant_id))),
        (None, _) => Err(authentication_failed("Invalid username or password")),
    }
}

pub async fn refresh(state: State, body: axum::body::Bytes) -> ApiResult {
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let token = request
        .get("refreshToken")
        .and_then(Value::as_str)
        .unwrap_or("");
    let caller = lock(&state.auth.refresh).get(token).cloned();
    let tenant_id = state.with_core(|core| core.tenant_id);
    match caller {
        Some(caller) => Ok(axum::Json(state.auth.issue(&caller, tenant_id))),
        None => Err(authentication_failed("Invalid refresh token")),
    }
}

pub async fn logout(caller: Caller) -> StatusCode {
    let _ = caller;
    StatusCode::OK
}

pub async fn current_user(state: State, caller: Caller) -> ApiResult {
    let tenant_id = state.with_core(|core| core.tenant_id);
    let customer = caller
        .customer_id
        .unwrap_or(crate::emulator::core::entities::NULL_UUID);
    Ok(axum::Json(json!({
        "id": {"entityType": "USER", "id": caller.user_id.to_string()},
        "tenantId": {"entityType": "TENANT", "id": tenant_id.to_string()},
        "customerId": {"entityType": "CUSTOMER", "id": customer.to_string()},
        "email": caller.email,
        "authority": caller.authority.as_str(),
        "name": caller.email,
    })))
}

impl FromRequestParts<Arc<Shared>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<Shared>,
    ) -> Result<Caller, ApiError> {
        let header = parts
            .headers
            .get("x-authorization")
            .or_else(|| parts.headers.get("authorization"))
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let token = header.strip_prefix("Bearer ").unwrap_or("").trim();
        if token.is_empty() {
            return Err(authentication_failed("Authentication failed"));
        }
        state
            .auth
            .caller(token)
            .ok_or_else(|| authentication_failed("Authentication failed"))
    }
}
