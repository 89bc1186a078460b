//! `/api/plugins/telemetry/...`: attributes by scope and time series.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use serde_json::{Map, Value, json};
use tbgw_codec::TbValue;
use uuid::Uuid;

use super::auth::Caller;
use super::devices::visible;
use super::{ApiError, ApiResult, State, parse_id};
use crate::emulator::core::rest_json;
use crate::emulator::core::store::Scope;

type Params = Query<HashMap<String, String>>;

fn device_id(entity: &str, id: &str) -> Result<Uuid, ApiError> {
    if entity != "DEVICE" {
        return Err(ApiError::bad_request(format!(
            "tbgw's emulator keeps data for DEVICE entities only, not {entity}"
        )));
    }
    parse_id(id)
}

fn scope(text: &str) -> Result<Scope, ApiError> {
    Scope::parse(text).ok_or_else(|| ApiError::bad_request(format!("Invalid scope: {text}")))
}

/// `keys=a,b` as a list; `None` when absent or empty (all keys).
fn keys(params: &HashMap<String, String>) -> Option<Vec<String>> {
    let list: Vec<String> = params
        .get("keys")?
        .split(',')
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .map(str::to_owned)
        .collect();
    (!list.is_empty()).then_some(list)
}

fn read_attributes(
    state: &State,
    caller: &Caller,
    id: Uuid,
    scopes: &[Scope],
    wanted: Option<Vec<String>>,
) -> ApiResult {
    state.with_core(|core| {
        visible(core, caller, id)?;
        let mut out = Vec::new();
        if let Some(data) = core.store.device(id) {
            for scope in scopes {
                for (key, attribute) in data.scope(*scope) {
                    if wanted.as_ref().is_none_or(|w| w.iter().any(|k| k == key)) {
                        out.push(json!({
                            "lastUpdateTs": attribute.last_update_ts,
                            "key": key,
                            "value": rest_json(&attribute.value),
                        }));
                    }
                }
            }
        }
        Ok(Json(Value::Array(out)))
    })
}

pub async fn attribute_values_all(
    state: State,
    caller: Caller,
    Path((entity, id)): Path<(String, String)>,
    Query(params): Params,
) -> ApiResult {
    let id = device_id(&entity, &id)?;
    read_attributes(&state, &caller, id, &Scope::ALL, keys(&params))
}

pub async fn attribute_values(
    state: State,
    caller: Caller,
    Path((entity, id, scope_name)): Path<(String, String, String)>,
    Query(params): Params,
) -> ApiResult {
    let id = device_id(&entity, &id)?;
    read_attributes(&state, &caller, id, &[scope(&scope_name)?], keys(&params))
}

fn list_attribute_keys(state: &State, caller: &Caller, id: Uuid, scopes: &[Scope]) -> ApiResult {
    state.with_core(|core| {
        visible(core, caller, id)?;
        let mut out: Vec<Value> = Vec::new();
        if let Some(data) = core.store.device(id) {
            for scope in scopes {
                out.extend(data.scope(*scope).map(|(key, _)| Value::from(key)));
            }
        }
        Ok(Json(Value::Array(out)))
    })
}

pub async fn attribute_keys_all(
    state: State,
    caller: Caller,
    Path((entity, id)): Path<(String, String)>,
) -> ApiResult {
    let id = device_id(&entity, &id)?;
    list_attribute_keys(&state, &caller, id, &Scope::ALL)
}

pub async fn attribute_keys(
    state: State,
    caller: Caller,
    Path((entity, id, scope_name)): Path<(String, String, String)>,
) -> ApiResult {
    let id = device_id(&entity, &id)?;
    list_attribute_keys(&state, &caller, id, &[scope(&scope_name)?])
}

/// `POST .../attributes/{scope}` (and the older `.../{scope}`): shared attributes are
/// pushed to the device's session; client attributes cannot be written over REST.
pub async fn save_attributes(
    state: State,
    caller: Caller,
    Path((entity, id, scope_name)): Path<(String, String, String)>,
    body: axum::body::Bytes,
) -> Result<StatusCode, ApiError> {
    let id = device_id(&entity, &id)?;
    let scope = scope(&scope_name)?;
    if scope == Scope::Client {
        return Err(ApiError::bad_request(
            "Invalid scope: CLIENT_SCOPE attributes are written by the device",
        ));
    }
    let text =
        std::str::from_utf8(&body).map_err(|_| ApiError::bad_request("the body is not UTF-8"))?;
    let Some(tbgw_codec::Json::Object(values)) = tbgw_codec::parse_json(text) else {
        return Err(ApiError::bad_request(
            "the attributes must be a JSON object",
        ));
    };
    state.with_core(|core| {
        visible(core, &caller, id)?;
        if scope == Scope::Shared {
            core.write_shared(id, &values);
        } else {
            let now = core.now();
            core.store
                .device_mut(id)
                .set_attributes(scope, &values, now);
        }
        Ok(StatusCode::OK)
    })
}

/// `DELETE .../{scope}?keys=a,b`: a shared deletion is pushed as `{"deleted": [...]}`.
pub async fn delete_attributes(
    state: State,
    caller: Caller,
    Path((entity, id, scope_name)): Path<(String, String, String)>,
    Query(params): Params,
) -> Result<StatusCode, ApiError> {
    let id = device_id(&entity, &id)?;
    let scope = scope(&scope_name)?;
    let keys = keys(&params).ok_or_else(|| ApiError::bad_request("keys are required"))?;
    state.with_core(|core| {
        visible(core, &caller, id)?;
        if scope == Scope::Shared {
            core.delete_shared(id, &keys);
        } else {
            for key in &keys {
                core.store.device_mut(id).remove_attribute(scope, key);
            }
        }
        Ok(StatusCode::OK)
    })
}

pub async fn timeseries_keys(
    state: State,
    caller: Caller,
    Path((entity, id)): Path<(String, String)>,
) -> ApiResult {
    let id = device_id(&entity, &id)?;
    state.with_core(|core| {
        visible(core, &caller, id)?;
        let keys: Vec<Value> = core
            .store
            .device(id)
            .map(|d| {
                d.timeseries
                    .keys()
                    .map(|k| Value::from(k.as_str()))
                    .collect()
            })
            .unwrap_or_default();
        Ok(Json(Value::Array(keys)))
    })
}

/// A time-series value: a string (`getValueAsString`) unless `useStrictDataTypes=true`.
fn ts_value(value: &TbValue, strict: bool) -> Value {
    match (value, strict) {
        (TbValue::Json(text), _) => Value::String(text.clone()),
        (_, true) => rest_json(value),
        (TbValue::Boolean(b), false) => Value::String(b.to_string()),
        (TbValue::Long(n), false) => Value::String(n.to_string()),
        (TbValue::Double(x), false) => Value::String(tbgw_codec::value::java_double(*x)),
        (TbValue::String(s), false) => Value::String(s.clone()),
    }
}

fn number(params: &HashMap<String, String>, name: &str) -> Result<Option<i64>, ApiError> {
    params
        .get(name)
        .map(|v| {
            v.parse::<i64>()
                .map_err(|_| ApiError::bad_request(format!("{name} must be a number, not {v:?}")))
        })
        .transpose()
}

/// Latest values, or the history when `startTs`/`endTs` are given (`startTs <= ts < endTs`,
/// newest first unless `orderBy=ASC`, `limit` default 100; `agg=NONE` only).
pub async fn timeseries_values(
    state: State,
    caller: Caller,
    Path((entity, id)): Path<(String, String)>,
    Query(params): Params,
) -> ApiResult {
    let id = device_id(&entity, &id)?;
    let strict = params
        .get("useStrictDataTypes")
        .is_some_and(|v| v == "true");
    let start = number(&params, "startTs")?;
    let end = number(&params, "endTs")?;
    let limit = number(&params, "limit")?.unwrap_or(100).max(0) as usize;
    let ascending = params
        .get("orderBy")
        .is_some_and(|o| o.eq_ignore_ascii_case("ASC"));
    if params.get("agg").is_some_and(|a| a != "NONE") {
        return Err(ApiError::bad_request(
            "tbgw's emulator supports agg=NONE only",
        ));
    }
    state.with_core(|core| {
        visible(core, &caller, id)?;
        let mut out = Map::new();
        let Some(data) = core.store.device(id) else {
            return Ok(Json(Value::Object(out)));
        };
        let wanted = keys(&params).unwrap_or_else(|| data.timeseries.keys().cloned().collect());
        for key in wanted {
            let Some(series) = data.timeseries.get(&key) else {
                continue;
            };
            let points: Vec<Value> = match (start, end) {
                (None, None) => data
                    .latest(&key)
                    .map(|(ts, v)| vec![json!({"ts": ts, "value": ts_value(v, strict)})])
                    .unwrap_or_default(),
                _ => {
                    let range = series.range(start.unwrap_or(0)..end.unwrap_or(i64::MAX));
                    let point =
                        |(ts, v): (&i64, &TbValue)| json!({"ts": ts, "value": ts_value(v, strict)});
                    if ascending {
                        range.take(limit).map(point).collect()
                    } else {
                        range.rev().take(limit).map(point).collect()
                    }
                }
            };
            if !points.is_empty() {
                out.insert(key, Value::Array(points));
            }
        }
        Ok(Json(Value::Object(out)))
    })
}
