//! `TelemetryController` (`/api/plugins/telemetry/...`): attributes by scope, written and
//! deleted on both the entity form and the device form (`/{deviceId}/{scope}`), and time
//! series: latest, history, keys, saved over REST.

use axum::Json;
use axum::extract::Path;
use axum::http::StatusCode;
use serde_json::{Map, Value, json};
use tbgw_codec::TbValue;
use uuid::Uuid;

use super::auth::Caller;
use super::devices::visible;
use super::params::Params;
use super::{ApiError, ApiResult, State, parse_id};
use crate::emulator::core::rest_json;
use crate::emulator::core::store::{Scope, TimeseriesDeletion};

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
    params: Params,
) -> ApiResult {
    let id = device_id(&entity, &id)?;
    read_attributes(&state, &caller, id, &Scope::ALL, params.keys())
}

pub async fn attribute_values(
    state: State,
    caller: Caller,
    Path((entity, id, scope_name)): Path<(String, String, String)>,
    params: Params,
) -> ApiResult {
    let id = device_id(&entity, &id)?;
    read_attributes(&state, &caller, id, &[scope(&scope_name)?], params.keys())
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
    write_attributes(&state, &caller, id, &scope_name, &body)
}

/// `POST /api/plugins/telemetry/{deviceId}/{scope}` (4.3.1.2's distinct path for devices).
pub async fn save_device_attributes(
    state: State,
    caller: Caller,
    Path((id, scope_name)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Result<StatusCode, ApiError> {
    write_attributes(&state, &caller, parse_id(&id)?, &scope_name, &body)
}

fn write_attributes(
    state: &State,
    caller: &Caller,
    id: Uuid,
    scope_name: &str,
    body: &[u8],
) -> Result<StatusCode, ApiError> {
    let scope = scope(scope_name)?;
    if scope == Scope::Client {
        return Err(ApiError::bad_request(
            "Invalid scope: CLIENT_SCOPE attributes are written by the device",
        ));
    }
    let tbgw_codec::Json::Object(values) = json_body(body, "the attributes")? else {
        return Err(ApiError::bad_request(
            "the attributes must be a JSON object",
        ));
    };
    state.with_core(|core| {
        visible(core, caller, id)?;
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
    params: Params,
) -> Result<StatusCode, ApiError> {
    let id = device_id(&entity, &id)?;
    remove_attributes(&state, &caller, id, &scope_name, &params)
}

/// `DELETE /api/plugins/telemetry/{deviceId}/{scope}?keys=` (or repeated `key=`).
pub async fn delete_device_attributes(
    state: State,
    caller: Caller,
    Path((id, scope_name)): Path<(String, String)>,
    params: Params,
) -> Result<StatusCode, ApiError> {
    remove_attributes(&state, &caller, parse_id(&id)?, &scope_name, &params)
}

fn remove_attributes(
    state: &State,
    caller: &Caller,
    id: Uuid,
    scope_name: &str,
    params: &Params,
) -> Result<StatusCode, ApiError> {
    let scope = scope(scope_name)?;
    let keys = params
        .keys()
        .ok_or_else(|| ApiError::bad_request("keys are required"))?;
    state.with_core(|core| {
        visible(core, caller, id)?;
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
            .map(|d| d.latest_keys().into_iter().map(Value::from).collect())
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

/// Latest values, or the history when `startTs`/`endTs` are given (`startTs <= ts < endTs`,
/// newest first unless `orderBy=ASC`, `limit` default 100; `agg=NONE` only).
pub async fn timeseries_values(
    state: State,
    caller: Caller,
    Path((entity, id)): Path<(String, String)>,
    params: Params,
) -> ApiResult {
    let id = device_id(&entity, &id)?;
    read_timeseries(&state, &caller, id, &params, false)
}

/// `GET .../values/timeseries/history?keys=&startTs=&endTs=…` (4.3.1.2's distinct path):
/// the history, with both bounds required.
pub async fn timeseries_history(
    state: State,
    caller: Caller,
    Path((entity, id)): Path<(String, String)>,
    params: Params,
) -> ApiResult {
    let id = device_id(&entity, &id)?;
    read_timeseries(&state, &caller, id, &params, true)
}

fn read_timeseries(
    state: &State,
    caller: &Caller,
    id: Uuid,
    params: &Params,
    history: bool,
) -> ApiResult {
    let strict = params.boolean("useStrictDataTypes")?.unwrap_or(false);
    let start = params.number("startTs")?;
    let end = params.number("endTs")?;
    if history && (start.is_none() || end.is_none()) {
        return Err(ApiError::bad_request(
            "startTs and endTs are required for the history",
        ));
    }
    let limit = params.number("limit")?.unwrap_or(100).max(0) as usize;
    let ascending = params
        .get("orderBy")
        .is_some_and(|o| o.eq_ignore_ascii_case("ASC"));
    if params.get("agg").is_some_and(|a| a != "NONE") {
        return Err(ApiError::bad_request(
            "tbgw's emulator supports agg=NONE only",
        ));
    }
    state.with_core(|core| {
        visible(core, caller, id)?;
        let mut out = Map::new();
        let Some(data) = core.store.device(id) else {
            return Ok(Json(Value::Object(out)));
        };
        let wanted = params.keys().unwrap_or_else(|| {
            let mut keys: Vec<String> = data.latest_keys().into_iter().map(str::to_owned).collect();
            keys.extend(data.series_keys().into_iter().map(str::to_owned));
            keys.sort();
            keys.dedup();
            keys
        });
        for key in wanted {
            let points: Vec<Value> = match (start, end) {
                (None, None) => data
                    .latest(&key)
                    .map(|(ts, v)| vec![json!({"ts": ts, "value": ts_value(v, strict)})])
                    .unwrap_or_default(),
                _ => {
                    let Some(series) = data.series(&key) else {
                        continue;
                    };
                    let range = series.range(start.unwrap_or(0), end.unwrap_or(i64::MAX));
                    let point =
                        |(ts, v): (i64, TbValue)| json!({"ts": ts, "value": ts_value(&v, strict)});
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

/// `DELETE .../timeseries/delete?keys=&startTs=&endTs=&deleteAllDataForKeys=&deleteLatest=&rewriteLatestIfDeleted=`:
/// the points of each key with `startTs <= ts < endTs` (every point up to now with
/// `deleteAllDataForKeys`); the latest value too unless `deleteLatest=false`, replaced by the
/// newest point left with `rewriteLatestIfDeleted`.
pub async fn delete_timeseries(
    state: State,
    caller: Caller,
    Path((entity, id)): Path<(String, String)>,
    params: Params,
) -> Result<StatusCode, ApiError> {
    let id = device_id(&entity, &id)?;
    let Some(raw_keys) = params.get("keys") else {
        return Err(ApiError::bad_request(
            "Required request parameter 'keys' for method parameter type String is not present",
        ));
    };
    let Some(keys) = params.keys() else {
        let message = format!("Empty keys: {raw_keys}");
        return Err(ApiError::plain_text(StatusCode::BAD_REQUEST, message));
    };
    let all = params.boolean("deleteAllDataForKeys")?.unwrap_or(false);
    let delete_latest = params.boolean("deleteLatest")?.unwrap_or(true);
    let rewrite_latest = params.boolean("rewriteLatestIfDeleted")?.unwrap_or(false);
    let (start, end) = (params.number("startTs")?, params.number("endTs")?);
    state.with_core(|core| {
        visible(core, &caller, id)?;
        let (start, end) = match (all, start, end) {
            (true, _, _) => (0, core.now()),
            (false, Some(start), Some(end)) => (start, end),
            (false, _, _) => {
                return Err(ApiError::plain_text(
                    StatusCode::BAD_REQUEST,
                    "When deleteAllDataForKeys is false, start and end timestamp values shouldn't be empty",
                ));
            }
        };
        let deletion = TimeseriesDeletion {
            start,
            end,
            delete_latest,
            rewrite_latest,
        };
        let data = core.store.device_mut(id);
        for key in &keys {
            data.delete_timeseries(key, deletion);
        }
        Ok(StatusCode::OK)
    })
}

/// `POST .../timeseries/{scope}`: `{"ts", "values"}`, a flat object (stamped now), or an
/// array of either; values typed as the device API types them.
pub async fn save_timeseries(
    state: State,
    caller: Caller,
    Path((entity, id, _scope)): Path<(String, String, String)>,
    body: axum::body::Bytes,
) -> Result<StatusCode, ApiError> {
    let id = device_id(&entity, &id)?;
    write_timeseries(&state, &caller, id, &body)
}

/// `POST .../timeseries/{scope}/{ttl}`: the emulator keeps everything, so the TTL is only
/// checked to be a number.
pub async fn save_timeseries_with_ttl(
    state: State,
    caller: Caller,
    Path((entity, id, _scope, ttl)): Path<(String, String, String, String)>,
    body: axum::body::Bytes,
) -> Result<StatusCode, ApiError> {
    ttl.parse::<i64>()
        .map_err(|_| ApiError::bad_request(format!("ttl must be a number, not {ttl:?}")))?;
    let id = device_id(&entity, &id)?;
    write_timeseries(&state, &caller, id, &body)
}

fn write_timeseries(
    state: &State,
    caller: &Caller,
    id: Uuid,
    body: &[u8],
) -> Result<StatusCode, ApiError> {
    use tbgw_codec::Json as TbJson;
    let items = match json_body(body, "the time series")? {
        TbJson::Array(items) => items,
        object @ TbJson::Object(_) => vec![object],
        _ => {
            return Err(ApiError::bad_request(
                "the time series must be a JSON object or an array of objects",
            ));
        }
    };
    let entries = items
        .into_iter()
        .map(|item| match item {
            TbJson::Object(object) => Ok(telemetry_entry(object)),
            _ => Err(ApiError::bad_request(
                "every time-series element must be an object",
            )),
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    state.with_core(|core| {
        visible(core, caller, id)?;
        let now = core.now();
        core.store.device_mut(id).put_telemetry(&entries, now);
        Ok(StatusCode::OK)
    })
}

/// `{"ts", "values"}` with its own time (the server's if `ts` is not an integer), or a flat
/// object stamped with the server's.
fn telemetry_entry(object: tbgw_codec::Object) -> tbgw_codec::TelemetryEntry {
    use tbgw_codec::Json as TbJson;
    let (ts, values) = match (object.get("ts"), object.get("values")) {
        (Some(TbJson::Number(ts)), Some(TbJson::Object(values))) => (ts.as_i64(), values.clone()),
        _ => (None, object),
    };
    tbgw_codec::TelemetryEntry {
        ts,
        values,
        metadata: None,
    }
}

/// A request body as JSON, or a 400 naming what it should have been.
fn json_body(body: &[u8], what: &str) -> Result<tbgw_codec::Json, ApiError> {
    std::str::from_utf8(body)
        .ok()
        .and_then(tbgw_codec::parse_json)
        .ok_or_else(|| ApiError::bad_request(format!("{what} must be JSON (UTF-8)")))
}
