//! `CustomerController`: the tenant's customers, one by id or by title, and pages.

use axum::Json;
use axum::extract::Path;
use serde_json::{Value, json};
use uuid::Uuid;

use super::auth::Caller;
use super::params::Params;
use super::{ApiError, ApiResult, State, parse_id};
use crate::emulator::core::entities::{Customer, entity_id};

fn customer_json(customer: &Customer, tenant_id: Uuid) -> Value {
    json!({
        "id": entity_id("CUSTOMER", customer.id),
        "createdTime": customer.created_time,
        "tenantId": entity_id("TENANT", tenant_id),
        "title": customer.title,
        "name": customer.title,
        "email": null,
        "phone": null,
        "country": null,
        "state": null,
        "city": null,
        "address": null,
        "address2": null,
        "zip": null,
        "externalId": null,
        "version": 1,
        "additionalInfo": null,
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
