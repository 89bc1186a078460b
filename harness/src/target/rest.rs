//! ThingsBoard's REST API, the harness's second door to every platform target: login per
//! user (tokens cached), and plain calls that return the status and the body.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::Mutex;

use crate::scenario::model::{Method, User};

#[derive(Clone, Debug)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl Credentials {
    pub fn new(username: &str, password: &str) -> Credentials {
        Credentials {
            username: username.to_owned(),
            password: password.to_owned(),
        }
    }
}

/// The demo users every ThingsBoard with demo data has (and the emulator).
pub fn demo_users() -> HashMap<User, Credentials> {
    HashMap::from([
        (
            User::Tenant,
            Credentials::new("tenant@thingsboard.org", "tenant"),
        ),
        (
            User::Customer,
            Credentials::new("customer@thingsboard.org", "customer"),
        ),
        (
            User::Sysadmin,
            Credentials::new("sysadmin@thingsboard.org", "sysadmin"),
        ),
    ])
}

/// A response: the status and the body (JSON when it parses).
#[derive(Clone, Debug)]
pub struct Reply {
    pub status: u16,
    pub text: String,
    pub json: Option<Value>,
}

impl Reply {
    /// The `id.id` of the entity a successful call returned (ThingsBoard writes ids as
    /// `{"entityType": "DEVICE", "id": "<uuid>"}`).
    pub fn entity_id(&self) -> Option<&str> {
        entity_id(self.json.as_ref().filter(|_| self.status == 200)?)
    }

    /// `200 {"a":1}` for transcripts and failure messages.
    pub fn summary(&self) -> String {
        if self.text.is_empty() {
            format!("{} (empty body)", self.status)
        } else {
            format!(
                "{} {}",
                self.status,
                crate::mqtt::packet::payload_text(self.text.as_bytes())
            )
        }
    }
}

/// How long the probe of a REST address may take to connect, and to answer.
const PROBE_CONNECT: Duration = Duration::from_secs(5);
const PROBE_ANSWER: Duration = Duration::from_secs(10);

pub struct RestClient {
    base: String,
    http: reqwest::Client,
    users: HashMap<User, Credentials>,
    tokens: Mutex<HashMap<User, String>>,
}

impl RestClient {
    pub fn new(base: &str, users: HashMap<User, Credentials>) -> Result<RestClient, String> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(120))
            .build()
            .map_err(|e| format!("cannot create the HTTP client: {e}"))?;
        Ok(RestClient {
            base: base.trim_end_matches('/').to_owned(),
            http,
            users,
            tokens: Mutex::default(),
        })
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// Whether the base URL is ThingsBoard's REST API at all, with short deadlines, so that
    /// a wrong port (the MQTT one, a plain web server) gets a message that says what to
    /// fix instead of a long wait or a confusing login failure.
    pub async fn probe(&self) -> Result<(), String> {
        let http = reqwest::Client::builder()
            .connect_timeout(PROBE_CONNECT)
            .timeout(PROBE_ANSWER)
            .build()
            .map_err(|e| format!("cannot create the HTTP client: {e}"))?;
        let url = format!("{}/api/auth/login", self.base);
        let response = http
            .post(&url)
            .json(&json!({"username": "", "password": ""}))
            .send()
            .await
            .map_err(|e| {
                let cause = std::error::Error::source(&e)
                    .map(|s| s.to_string())
                    .unwrap_or_else(|| e.to_string());
                if e.is_timeout() {
                    format!(
                        "no HTTP answer from {} within {} s: is this ThingsBoard's HTTP port (8080 by default)? The MQTT port does not speak HTTP",
                        self.base,
                        PROBE_ANSWER.as_secs()
                    )
                } else if e.is_connect() {
                    format!("cannot reach ThingsBoard's REST API at {}: {cause}", self.base)
                } else {
                    format!(
                        "{} does not answer like an HTTP server ({cause}): is this ThingsBoard's HTTP port (8080 by default)?",
                        self.base
                    )
                }
            })?;
        let status = response.status().as_u16();
        let body = response.text().await.unwrap_or_default();
        let json: Option<Value> = serde_json::from_str(&body).ok();
        // ThingsBoard refuses empty credentials with 401 and its error body.
        let is_thingsboard = json
            .as_ref()
            .is_some_and(|j| j.get("status").is_some() && j.get("message").is_some())
            || json.as_ref().is_some_and(|j| j.get("token").is_some());
        if is_thingsboard {
            Ok(())
        } else {
            Err(format!(
                "{} answers HTTP but is not ThingsBoard's REST API: POST /api/auth/login -> {status} {}; give ThingsBoard's base URL, e.g. http://localhost:8080",
                self.base,
                crate::mqtt::packet::payload_text(&body.as_bytes()[..body.len().min(120)])
            ))
        }
    }

    pub fn username(&self, user: User) -> &str {
        self.users.get(&user).map_or("", |c| c.username.as_str())
    }

    async fn token(&self, user: User) -> Result<String, String> {
        let mut tokens = self.tokens.lock().await;
        if let Some(token) = tokens.get(&user) {
            return Ok(token.clone());
        }
        let credentials = self
            .users
            .get(&user)
            .ok_or_else(|| format!("no credentials for the {user:?} user"))?;
        let url = format!("{}/api/auth/login", self.base);
        let response = self
            .http
            .post(&url)
            .json(&json!({"username": credentials.username, "password": credentials.password}))
            .send()
            .await
            .map_err(|e| format!("cannot reach ThingsBoard's REST API at {url}: {e}"))?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        let token = body
            .get("token")
            .and_then(Value::as_str)
            .filter(|_| status.is_success())
            .ok_or_else(|| {
                format!(
                    "login as {} at {url} failed with HTTP {status}: {body}; check the username and password",
                    credentials.username
                )
            })?;
        tokens.insert(user, token.to_owned());
        Ok(token.to_owned())
    }

    /// One call as `user`; an error only when the server cannot be reached or the login fails.
    pub async fn call(
        &self,
        user: User,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Reply, String> {
        let token = self.token(user).await?;
        let url = format!("{}{path}", self.base);
        let request = match method {
            Method::Get => self.http.get(&url),
            Method::Post => self.http.post(&url),
            Method::Delete => self.http.delete(&url),
        }
        .header("X-Authorization", format!("Bearer {token}"));
        let request = match body {
            Some(body) => request.json(body),
            None => request,
        };
        let response = request
            .send()
            .await
            .map_err(|e| format!("{} {url}: cannot reach ThingsBoard: {e}", method.as_str()))?;
        let status = response.status().as_u16();
        let text = response
            .text()
            .await
            .map_err(|e| format!("{} {url}: the response broke off: {e}", method.as_str()))?;
        let json = serde_json::from_str(&text).ok();
        Ok(Reply { status, text, json })
    }
}

/// The `id.id` of an entity's JSON.
pub fn entity_id(entity: &Value) -> Option<&str> {
    entity.pointer("/id/id").and_then(Value::as_str)
}

/// `GET` this path for the device named `name` (404 when there is none).
pub fn device_by_name(name: &str) -> String {
    format!("/api/tenant/devices?deviceName={}", encode(name))
}

/// Percent-encodes a path segment or query value.
pub fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(char::from(byte))
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}
