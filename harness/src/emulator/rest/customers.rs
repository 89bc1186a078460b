//! `CustomerController`: the tenant's customers, one by id or by title, pages, and saves
//! (create, or update with optimistic locking on `version`).

use axum::Json;
use axum::extract::Path;
use serde_json::{Value, json};
use uuid::Uuid;

use super::auth::Caller;
use super::params::Params;
use super::{ApiError, ApiResult, State, parse_id, version_conflict};
use crate::emulator::core::entities::{Customer, entity_id};

/// The contact fields of a customer, kept as a save sends them.
const CONTACT_FIELDS: [&str; 8] = [
    "email", "phone", "country", "state", "city", "address", "address2", "zip",
];

fn customer_json(customer: &Customer, tenant_id: Uuid) -> Value {
    let mut json = serde_json::Map::new();
    let mut put = |key: &str, value: Value| json.insert(key.to_owned(), value);
    put("id", entity_id("CUSTOMER", customer.id));
    put("createdTime", json!(customer.created_time));
    put("tenantId", entity_id("TENANT", tenant_id));
    put("title", json!(customer.title));
    put("name", json!(customer.title));
    for field in CONTACT_FIELDS {
        put(
            field,
            customer.contact.get(field).cloned().unwrap_or(Value::Null),
        );
    }
    put("externalId", Value::Null);
    put("version", json!(customer.version));
    put("additionalInfo", customer.additional_info.clone());
    Value::Object(json)
}

fn contact_of(body: &Value) -> serde_json::Map<String, Value> {
    CONTACT_FIELDS
        .iter()
        .filter_map(|f| body.get(*f).map(|v| ((*f).to_owned(), v.clone())))
        .collect()
}

/// `POST /api/customer`: creates a customer, or updates the one whose `id` the body names
/// (its `version` must be the stored one). Titles are unique in the tenant.
pub async fn save(state: State, caller: Caller, body: axum::body::Bytes) -> ApiResult {
    caller.require_tenant()?;
    let body: Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("the customer body is not JSON: {e}")))?;
    let title = body
        .get("title")
        .and_then(Value::as_str)
        .filter(|t| !t.trim().is_empty())
        .ok_or_else(|| ApiError::bad_request("Customer title should be specified!"))?
        .to_owned();
    let existing = body
        .pointer("/id/id")
        .and_then(Value::as_str)
        .map(parse_id)
        .transpose()?;
    let version = body.get("version").and_then(Value::as_i64);
    let info = body.get("additionalInfo").cloned().unwrap_or(Value::Null);
    let contact = contact_of(&body);
    state.with_core(|core| {
        let taken = core
            .customers
            .iter()
            .any(|c| c.title == title && Some(c.id) != existing);
        if taken {
            return Err(ApiError::bad_request(
                "Customer with such title already exists!",
            ));
        }
        let now = core.now();
        let tenant_id = core.tenant_id;
        let customer = match existing {
            Some(id) => {
                let customer = core
                    .customers
                    .iter_mut()
                    .find(|c| c.id == id)
                    .ok_or_else(|| ApiError::not_found(&format!("customer {id}")))?;
                if version.is_some_and(|v| v != customer.version) {
                    return Err(version_conflict("Customer"));
                }
                customer.title = title;
                customer.additional_info = info;
                customer.contact = contact;
                customer.version = customer.version.saturating_add(1);
                customer.clone()
            }
            None => {
                let customer = Customer {
                    id: Uuid::new_v4(),
                    title,
                    created_time: now,
                    additional_info: info,
                    contact,
                    version: 1,
                };
                core.customers.push(customer.clone());
                customer
            }
        };
        Ok(Json(customer_json(&customer, tenant_id)))
    })
}

/// `GET /api/customers?pageSize&page[&textSearch&sortProperty&sortOrder]`.
pub async fn customers(state: State, caller: Caller, params: Params) -> ApiResult {
    caller.require_tenant()?;
    state.with_core(|core| {
        let items = core
            .customers
            .iter()
            .filter(|c| params.finds(&c.title))
            .map(|c| customer_json(c, core.tenant_id))
            .collect();
        Ok(Json(params.page(items)?))
    })
}

/// `GET /api/tenant/customers?customerTitle=`: one customer, 404 when none has the title.
pub async fn by_title(state: State, caller: Caller, params: Params) -> ApiResult {
    caller.require_tenant()?;
    let title = params
        .get("customerTitle")
        .ok_or_else(|| ApiError::bad_request("customerTitle is required"))?
        .to_owned();
    state.with_core(|core| {
        core.customers
            .iter()
            .find(|c| c.title == title)
            .map(|c| Json(customer_json(c, core.tenant_id)))
            .ok_or_else(|| ApiError::not_found(&format!("customer {title:?}")))
    })
}

/// `GET /api/customer/{customerId}`: a tenant admin sees any, a customer user its own.
pub async fn by_id(state: State, caller: Caller, Path(id): Path<String>) -> ApiResult {
    let id = parse_id(&id)?;
    if !caller.is_tenant() && caller.customer_id != Some(id) {
        return Err(ApiError::forbidden());
    }
    state.with_core(|core| {
        core.customers
            .iter()
            .find(|c| c.id == id)
            .map(|c| Json(customer_json(c, core.tenant_id)))
            .ok_or_else(|| ApiError::not_found(&format!("customer {id}")))
    })
}

/// `DELETE /api/customer/{customerId}`: its devices are unassigned, its users and its
/// relations go with it.
pub async fn remove(
    state: State,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<axum::http::StatusCode, ApiError> {
    caller.require_tenant()?;
    let id = parse_id(&id)?;
    state.with_core(|core| {
        core.delete_customer(id)
            .map(|()| axum::http::StatusCode::OK)
            .ok_or_else(|| ApiError::not_found(&format!("customer {id}")))
    })
}
