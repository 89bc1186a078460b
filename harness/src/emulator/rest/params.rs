//! Query parameters as Spring reads them for ThingsBoard's controllers: repeated names kept in
//! order, case-insensitive booleans, `key=` before `keys=`, and page links with sorting.

use std::cmp::Ordering;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde_json::{Value, json};

use super::ApiError;

/// A request's query parameters, every occurrence of each name in order.
#[derive(Debug, Default)]
pub struct Params(Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Params, ApiError> {
        Ok(Params::parse(parts.uri.query().unwrap_or("")))
    }
}

impl Params {
    pub fn parse(query: &str) -> Params {
        Params(
            form_urlencoded::parse(query.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn all(&self, name: &str) -> impl Iterator<Item = &str> {
        self.0
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Spring's `StringToBooleanConverter`: `true/on/yes/1` and `false/off/no/0` in any case;
    /// anything else is a 400 naming the parameter.
    pub fn boolean(&self, name: &str) -> Result<Option<bool>, ApiError> {
        let Some(text) = self.get(name) else {
            return Ok(None);
        };
        match text.trim().to_ascii_lowercase().as_str() {
            "" => Ok(None),
            "true" | "on" | "yes" | "1" => Ok(Some(true)),
            "false" | "off" | "no" | "0" => Ok(Some(false)),
            _ => Err(ApiError::bad_request(format!(
                "{name} must be a boolean (true/false, on/off, yes/no, 1/0), not {text:?}"
            ))),
        }
    }

    pub fn number(&self, name: &str) -> Result<Option<i64>, ApiError> {
        self.get(name)
            .map(|v| {
                v.trim().parse::<i64>().map_err(|_| {
                    ApiError::bad_request(format!("{name} must be a number, not {v:?}"))
                })
            })
            .transpose()
    }

    /// ThingsBoard's `getKeys`: repeated `key=` parameters if any, else `keys=a,b`; `None`
    /// when neither names a key (all keys).
    pub fn keys(&self) -> Option<Vec<String>> {
        let repeated: Vec<String> = self
            .all("key")
            .flat_map(|k| k.split(','))
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .map(str::to_owned)
            .collect();
        if !repeated.is_empty() {
            return Some(repeated);
        }
        let listed: Vec<String> = self
            .get("keys")?
            .split(',')
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .map(str::to_owned)
            .collect();
        (!listed.is_empty()).then_some(listed)
    }

    /// `textSearch`: ThingsBoard's case-insensitive "contains" on the name or title.
    pub fn finds(&self, name: &str) -> bool {
        self.get("textSearch")
            .is_none_or(|t| name.to_lowercase().contains(&t.to_lowercase()))
    }

    /// A page of `items` by `pageSize`, `page`, `sortProperty` and `sortOrder`.
    pub fn page(&self, items: Vec<Value>) -> Result<Value, ApiError> {
        // Spring's answer to a missing `@RequestParam int`.
        let required = |name: &str| {
            self.number(name)?.ok_or_else(|| {
                ApiError::bad_request(format!(
                    "Required request parameter '{name}' for method parameter type int is not present"
                ))
            })
        };
        let size = required("pageSize")?;
        let index = required("page")?;
        if size < 1 {
            return Err(ApiError::bad_request("pageSize must be greater than 0"));
        }
        if index < 0 {
            return Err(ApiError::bad_request("page must be positive"));
        }
        let descending = match self.get("sortOrder").map(str::to_ascii_uppercase) {
            None => false,
            Some(order) if order == "ASC" => false,
            Some(order) if order == "DESC" => true,
            Some(other) => {
                return Err(ApiError::bad_request(format!(
                    "sortOrder must be ASC or DESC, not {other:?}"
                )));
            }
        };
        let mut items = items;
        if let Some(property) = self.get("sortProperty").filter(|p| !p.is_empty()) {
            items.sort_by(|a, b| {
                let order = compare(&sort_key(a, property), &sort_key(b, property));
                if descending { order.reverse() } else { order }
            });
        }
        let (size, index) = (usize::try_from(size), usize::try_from(index));
        Ok(page_of(items, size.unwrap_or(1), index.unwrap_or(0)))
    }
}

/// The value a page is sorted by: a field of the item; `title` falls back to `name`.
fn sort_key(item: &Value, property: &str) -> Value {
    match item.get(property) {
        Some(value) => value.clone(),
        None if property == "title" => item.get("name").cloned().unwrap_or(Value::Null),
        None => Value::Null,
    }
}

/// Numbers by value, strings case-insensitively (as PostgreSQL's default collation sorts
/// names), nulls last.
fn compare(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x
            .as_f64()
            .partial_cmp(&y.as_f64())
            .unwrap_or(Ordering::Equal),
        (Value::String(x), Value::String(y)) => x
            .to_lowercase()
            .cmp(&y.to_lowercase())
            .then_with(|| x.cmp(y)),
        (Value::Null, Value::Null) => Ordering::Equal,
        (Value::Null, _) => Ordering::Greater,
        (_, Value::Null) => Ordering::Less,
        _ => a.to_string().cmp(&b.to_string()),
    }
}

/// ThingsBoard's page: `{"data", "totalPages", "totalElements", "hasNext"}`.
pub fn page_of(items: Vec<Value>, size: usize, index: usize) -> Value {
    let size = size.max(1);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn booleans_are_read_as_spring_reads_them_in_any_case() {
        for yes in ["true", "True", "TRUE", "on", "Yes", "1"] {
            let params = Params::parse(&format!("strict={yes}"));
            assert_eq!(params.boolean("strict").ok().flatten(), Some(true), "{yes}");
        }
        for no in ["false", "Off", "NO", "0"] {
            let params = Params::parse(&format!("strict={no}"));
            assert_eq!(params.boolean("strict").ok().flatten(), Some(false), "{no}");
        }
        assert!(Params::parse("strict=maybe").boolean("strict").is_err());
        assert_eq!(Params::parse("").boolean("strict").ok().flatten(), None);
    }

    #[test]
    fn repeated_key_parameters_are_taken_before_keys() {
        let params = Params::parse("keys=c&key=a&key=b");
        assert_eq!(params.keys(), Some(vec!["a".into(), "b".into()]));
        assert_eq!(
            Params::parse("keys=a,%20b").keys(),
            Some(vec!["a".into(), "b".into()])
        );
        assert_eq!(Params::parse("keys=").keys(), None);
    }

    #[test]
    fn pages_sort_by_the_property_in_either_order_before_they_are_cut() {
        let items = || {
            vec![
                json!({"name": "b"}),
                json!({"name": "C"}),
                json!({"name": "a"}),
            ]
        };
        let names = |page: Value| -> Vec<String> {
            page["data"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|d| d["name"].as_str().unwrap_or_default().to_owned())
                .collect()
        };
        let asc = Params::parse("pageSize=2&page=0&sortProperty=name&sortOrder=asc");
        assert_eq!(names(asc.page(items()).unwrap_or_default()), ["a", "b"]);
        let desc = Params::parse("pageSize=2&page=1&sortProperty=name&sortOrder=DESC");
        let second = desc.page(items()).unwrap_or_default();
        assert_eq!(names(second.clone()), ["a"]);
        assert_eq!(second["hasNext"], false);
        assert_eq!(second["totalPages"], 2);
        assert!(
            Params::parse("pageSize=1&page=0&sortOrder=UP")
                .page(items())
                .is_err()
        );
        assert!(Params::parse("pageSize=0&page=0").page(items()).is_err());
    }

    #[test]
    fn a_page_without_page_size_or_page_is_springs_400_naming_the_parameter() {
        for (query, missing) in [
            ("page=0", "pageSize"),
            ("pageSize=10", "page"),
            ("", "pageSize"),
        ] {
            let Err(error) = Params::parse(query).page(Vec::new()) else {
                panic!("{query:?} gave a page");
            };
            let body = error.body();
            assert_eq!(body["status"], 400, "{body}");
            assert_eq!(body["errorCode"], 31);
            assert_eq!(
                body["message"],
                format!(
                    "Required request parameter '{missing}' for method parameter type int is not present"
                )
            );
        }
    }
}
