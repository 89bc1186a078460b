//! The scenario file format (`scenarios/**/*.yaml`), as people write it by hand.
//!
//! Steps are externally tagged (`- publish: {...}`) so that a mistake is reported at the exact
//! line and column. Expected documents are patterns (see `matcher`); strings may use `${var}`
//! (see `vars`). `tbgw schema` prints the JSON Schema of this format for editors.

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_saphyr::Spanned;

use crate::mqtt::Version;

/// One conformance case.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Stable id, `<area>/<name>`, e.g. `telemetry/multi-device-ts`.
    pub id: String,
    /// The one sentence this case checks.
    pub requirement: String,
    /// Where the requirement comes from: a doc section (`doc: Telemetry upload API`) and/or a
    /// behaviour-reference section (`tb §1.3`).
    pub refs: Vec<String>,
    /// Which source of truth the case asserts: `doc` (the public API doc) or `tb` (what
    /// ThingsBoard 4.3 does).
    pub profile: Profile,
    /// How the expectation is known: `observed` on a real server (the default) or `derived`
    /// from ThingsBoard's source only; reports carry it, so a first run against a real
    /// ThingsBoard says which verdicts to double-check.
    #[serde(default)]
    pub basis: Basis,
    /// The case waits for ThingsBoard's timers (session or device inactivity, the
    /// client-side RPC timeout): minutes on a real server. The embedded target runs it on an
    /// emulator of its own whose timers are shortened; other targets skip it unless
    /// `--timers`.
    #[serde(default)]
    pub timers: bool,
    /// The MQTT versions to run the case under (`[3.1.1, 5]`, or one: `5`); both when
    /// omitted.
    #[serde(default = "both_versions", deserialize_with = "one_or_more_versions")]
    #[schemars(with = "OneOrMoreVersions")]
    pub mqtt: Vec<MqttVersion>,
    #[schemars(with = "Vec<Step>")]
    pub steps: Vec<Spanned<Step>>,
}

fn both_versions() -> Vec<MqttVersion> {
    vec![MqttVersion(Version::V3), MqttVersion(Version::V5)]
}

/// `mqtt: 5` as well as `mqtt: [3.1.1, 5]`.
#[derive(Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum OneOrMoreVersions {
    One(MqttVersion),
    More(Vec<MqttVersion>),
}

impl From<OneOrMoreVersions> for Vec<MqttVersion> {
    fn from(versions: OneOrMoreVersions) -> Self {
        match versions {
            OneOrMoreVersions::One(v) => vec![v],
            OneOrMoreVersions::More(v) => v,
        }
    }
}

pub fn one_or_more_versions<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<MqttVersion>, D::Error> {
    OneOrMoreVersions::deserialize(d)
        .map(Vec::from)
        .map_err(|_| {
            de::Error::custom("expected an MQTT version or a list of them: 5, 3.1.1 or [3.1.1, 5]")
        })
}

pub fn some_versions<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Vec<MqttVersion>>, D::Error> {
    one_or_more_versions(d).map(Some)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    Doc,
    Tb,
}

impl Profile {
    pub fn as_str(self) -> &'static str {
        match self {
            Profile::Doc => "doc",
            Profile::Tb => "tb",
        }
    }
}

/// How a case's expectation is known.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Basis {
    /// Seen on a real ThingsBoard (or stated by its doc, for `doc` cases).
    #[default]
    Observed,
    /// Read from ThingsBoard's source, never seen on a server.
    Derived,
}

impl Basis {
    pub fn as_str(self) -> &'static str {
        match self {
            Basis::Observed => "observed",
            Basis::Derived => "derived",
        }
    }
}

/// `3.1.1` or `5`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MqttVersion(pub Version);

impl<'de> Deserialize<'de> for MqttVersion {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = MqttVersion;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an MQTT version: 3.1.1 or 5")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<MqttVersion, E> {
                match v {
                    5 => Ok(MqttVersion(Version::V5)),
                    _ => Err(E::custom(format!(
                        "unknown MQTT version {v}: use 3.1.1 or 5"
                    ))),
                }
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<MqttVersion, E> {
                self.visit_u64(u64::try_from(v).unwrap_or(0))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<MqttVersion, E> {
                match v {
                    "5" | "5.0" => Ok(MqttVersion(Version::V5)),
                    "3.1.1" | "3" => Ok(MqttVersion(Version::V3)),
                    _ => Err(E::custom(format!(
                        "unknown MQTT version {v:?}: use 3.1.1 or 5"
                    ))),
                }
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for MqttVersion {
    fn schema_name() -> Cow<'static, str> {
        "MqttVersion".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "enum": ["3.1.1", 5, "5"], "description": "An MQTT version: 3.1.1 or 5" })
    }
}

/// An MQTT reason code: `0x99`, `153` or `"0x99"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Code(pub u8);

fn parse_code(text: &str) -> Option<u8> {
    match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u8::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

impl<'de> Deserialize<'de> for Code {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Code;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a reason code from 0x00 to 0xFF")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Code, E> {
                u8::try_from(v)
                    .map(Code)
                    .map_err(|_| E::custom(format!("{v} is not a reason code (0x00 to 0xFF)")))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Code, E> {
                u64::try_from(v)
                    .map_err(|_| E::custom(format!("{v} is not a reason code (0x00 to 0xFF)")))
                    .and_then(|v| self.visit_u64(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Code, E> {
                parse_code(v)
                    .map(Code)
                    .ok_or_else(|| E::custom(format!("{v:?} is not a reason code (0x00 to 0xFF)")))
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for Code {
    fn schema_name() -> Cow<'static, str> {
        "ReasonCode".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "An MQTT reason code: 0x99 (YAML hex), 153 or \"0x99\"",
            "anyOf": [
                { "type": "integer", "minimum": 0, "maximum": 255 },
                { "type": "string", "pattern": "^(0[xX][0-9a-fA-F]{1,2}|[0-9]{1,3})$" }
            ]
        })
    }
}

/// A deadline: `3s`, `250ms`, `1.5s`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Within(pub Duration);

pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let (number, scale) = if let Some(ms) = text.strip_suffix("ms") {
        (ms, 0.001)
    } else if let Some(s) = text.strip_suffix('s') {
        (s, 1.0)
    } else if let Some(m) = text.strip_suffix('m') {
        (m, 60.0)
    } else {
        return None;
    };
    let value: f64 = number.trim().parse().ok()?;
    (value.is_finite() && (0.0..86_400.0).contains(&value))
        .then(|| Duration::from_secs_f64(value * scale))
}

impl<'de> Deserialize<'de> for Within {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        parse_duration(&text).map(Within).ok_or_else(|| {
            de::Error::custom(format!(
                "{text:?} is not a duration: write it like 3s, 250ms or 1.5s"
            ))
        })
    }
}

impl JsonSchema for Within {
    fn schema_name() -> Cow<'static, str> {
        "Duration".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "description": "A deadline such as 3s, 250ms or 1.5s (scaled by --timeout-multiplier)",
            "pattern": "^[0-9]+(\\.[0-9]+)?(ms|s|m)$"
        })
    }
}

fn gateway_session() -> String {
    "gw".to_owned()
}

fn qos_one() -> u8 {
    1
}

/// One step; steps run in order and the first that fails ends the case.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Step {
    /// Open an MQTT session (the case's gateway by default) and check the CONNACK.
    Connect(Connect),
    /// Publish a payload and check what comes back for it (PUBACK, DISCONNECT, close).
    Publish(Publish),
    /// Subscribe and check the SUBACK codes.
    Subscribe(Subscribe),
    /// Unsubscribe and check the UNSUBACK codes (MQTT 5; 3.1.1 has none).
    Unsubscribe(Unsubscribe),
    /// A message arrives on a topic within a deadline, matching a pattern.
    ExpectMessage(ExpectMessage),
    /// No message (matching a pattern) arrives on a topic for a while.
    ExpectNoMessage(ExpectNoMessage),
    /// The server sends DISCONNECT with a reason code (MQTT 5) or closes the connection.
    ExpectDisconnect(ExpectDisconnect),
    /// The client sends DISCONNECT and closes the session.
    Disconnect(SessionRef),
    /// Any call to ThingsBoard's REST API; a GET is retried until it holds or the deadline passes.
    Rest(Rest),
    /// A device (found by name through REST) exists and matches a pattern, or is absent.
    Device(DeviceCheck),
    /// A relation between the gateway (or a named device) and a device.
    Relation(RelationCheck),
    /// Attributes of one scope, as a map key → value.
    Attributes(AttributesCheck),
    /// The latest time-series values (or the history) of some keys.
    Timeseries(TimeseriesCheck),
    /// Write shared attributes through REST (ThingsBoard pushes them to the gateway).
    WriteShared(WriteShared),
    /// Delete shared attributes through REST (ThingsBoard pushes `deleted`).
    DeleteShared(DeleteShared),
    /// Start a server-side RPC through REST; its result is checked by `rpc_result`.
    RpcCall(RpcCall),
    /// The result of an RPC started by `rpc_call`.
    RpcResult(RpcResult),
    /// Claim (or reclaim) a device as a customer user.
    Claim(Claim),
    /// Delete a device through REST.
    DeleteDevice(DeviceRef),
    /// Set the tenant's device limit (as the system administrator) to its device count plus
    /// `headroom`, for this case; restored afterwards. A case with this step runs alone.
    DeviceLimit(DeviceLimit),
    /// Set the tenant profile's gateway transport rate limits (as the system administrator)
    /// for this case; restored afterwards. A case with this step runs alone.
    RateLimits(RateLimits),
    /// Stay connected, sending PINGREQ, until the platform's transport sessions have expired
    /// (`transport.sessions.inactivity_timeout` and its check): the gateway's own session is
    /// kept alive, its quiet sub-devices are not. Only in `timers: true` cases.
    Idle(Idle),
}

impl Step {
    pub fn verb(&self) -> &'static str {
        match self {
            Step::Connect(_) => "connect",
            Step::Publish(_) => "publish",
            Step::Subscribe(_) => "subscribe",
            Step::Unsubscribe(_) => "unsubscribe",
            Step::ExpectMessage(_) => "expect_message",
            Step::ExpectNoMessage(_) => "expect_no_message",
            Step::ExpectDisconnect(_) => "expect_disconnect",
            Step::Disconnect(_) => "disconnect",
            Step::Rest(_) => "rest",
            Step::Device(_) => "device",
            Step::Relation(_) => "relation",
            Step::Attributes(_) => "attributes",
            Step::Timeseries(_) => "timeseries",
            Step::WriteShared(_) => "write_shared",
            Step::DeleteShared(_) => "delete_shared",
            Step::RpcCall(_) => "rpc_call",
            Step::RpcResult(_) => "rpc_result",
            Step::Claim(_) => "claim",
            Step::DeleteDevice(_) => "delete_device",
            Step::DeviceLimit(_) => "device_limit",
            Step::RateLimits(_) => "rate_limits",
            Step::Idle(_) => "idle",
        }
    }
}

/// Who opens the session.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Who {
    /// The case's own gateway device (created through REST before the case).
    #[default]
    Gateway,
    /// A plain device named by `device`, created through REST when missing.
    Device,
    /// Any access token, given in `token` (e.g. a wrong one).
    Token,
    /// No username at all (for the codes of refused CONNECTs).
    Anonymous,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Connect {
    /// The session's name, used by later steps; `gw` when omitted.
    #[serde(default = "gateway_session")]
    pub session: String,
    #[serde(default, rename = "as")]
    pub who: Who,
    /// With `as: device`: the device's name.
    pub device: Option<String>,
    /// With `as: token`: the access token sent as the MQTT username.
    pub token: Option<String>,
    /// A password sent with the CONNECT (access tokens ignore it).
    pub password: Option<String>,
    /// The client id; `<run>-<session>` when omitted, `""` sends an empty one.
    pub client_id: Option<String>,
    /// The clean-session (3.1.1) / clean-start (5) flag; true when omitted.
    #[serde(default = "yes")]
    pub clean: bool,
    /// The CONNACK's session-present flag, checked when given.
    pub session_present: Option<bool>,
    /// The CONNACK reason code (MQTT 5 terms; 3.1.1 maps 0x86/0x87 to 5); 0x00 when omitted.
    pub expect: Option<Code>,
    pub within: Option<Within>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Publish {
    #[serde(default = "gateway_session")]
    pub session: String,
    pub topic: String,
    /// The payload as a YAML value, sent as compact JSON (keys and strings interpolated).
    pub json: Option<Value>,
    /// The payload as raw text, sent as is (after interpolation).
    pub text: Option<String>,
    /// A payload of this many `x` bytes (for the size limit).
    pub filler: Option<usize>,
    /// The payload as base64, for bytes that are not text (invalid UTF-8, a cut-off
    /// message); `${…}` variables are interpolated in the decoded bytes.
    pub base64: Option<String>,
    #[serde(default = "qos_one")]
    pub qos: u8,
    /// Deliver it a second time before any answer (QoS 1 and 2): `dup` with the DUP flag and
    /// the same packet id, `same_id` as a new PUBLISH reusing the packet id. ThingsBoard keeps
    /// no state of a client's packet ids: each delivery is handled, and answered, on its own;
    /// `expect` then holds for both.
    pub again: Option<crate::emulator::core::Again>,
    /// What comes back, in MQTT 5 terms; under 3.1.1 a PUBACK code means a plain PUBACK and a
    /// DISCONNECT means the connection is closed. When omitted: PUBACK 0x00 at QoS 1, nothing
    /// checked at QoS 0.
    pub expect: Option<Answer>,
    /// What comes back under MQTT 3.1.1 when it is not what `expect` maps to.
    pub expect_mqtt3: Option<Answer>,
}

/// The answer to one PUBLISH.
#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Answer {
    /// The PUBACK's reason code, or `none`: no PUBACK for this packet.
    pub puback: Option<PubAckExpect>,
    /// Then a DISCONNECT with this reason code, and the connection closed.
    pub disconnect: Option<Code>,
    /// Then the connection closed without a DISCONNECT.
    #[serde(default)]
    pub closed: bool,
    pub within: Option<Within>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PubAckExpect {
    Code(u8),
    None,
}

impl<'de> Deserialize<'de> for PubAckExpect {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = PubAckExpect;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a reason code (0x00 to 0xFF) or `none`")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<PubAckExpect, E> {
                u8::try_from(v)
                    .map(PubAckExpect::Code)
                    .map_err(|_| E::custom(format!("{v} is not a reason code (0x00 to 0xFF)")))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<PubAckExpect, E> {
                self.visit_u64(u64::try_from(v).unwrap_or(u64::MAX))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<PubAckExpect, E> {
                if v == "none" {
                    return Ok(PubAckExpect::None);
                }
                parse_code(v).map(PubAckExpect::Code).ok_or_else(|| {
                    E::custom(format!(
                        "{v:?} is not a reason code (0x00 to 0xFF) or `none`"
                    ))
                })
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for PubAckExpect {
    fn schema_name() -> Cow<'static, str> {
        "PubAckExpect".into()
    }
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let code = generator.subschema_for::<Code>();
        json_schema!({
            "description": "A PUBACK reason code, or `none` for no PUBACK",
            "anyOf": [code, { "const": "none" }]
        })
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Subscribe {
    #[serde(default = "gateway_session")]
    pub session: String,
    pub topics: Vec<String>,
    #[serde(default = "qos_one")]
    pub qos: u8,
    /// One code per filter, in MQTT 5 terms (3.1.1 reads any failure as 0x80); every filter
    /// granted when omitted.
    pub expect: Option<Vec<Code>>,
    pub within: Option<Within>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Unsubscribe {
    #[serde(default = "gateway_session")]
    pub session: String,
    pub topics: Vec<String>,
    /// One code per filter (MQTT 5 only; 3.1.1's UNSUBACK has none).
    pub expect: Option<Vec<Code>>,
    pub within: Option<Within>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExpectMessage {
    #[serde(default = "gateway_session")]
    pub session: String,
    pub topic: String,
    /// A pattern for the JSON payload (objects match exactly unless `$subset`).
    pub json: Option<Value>,
    /// The exact payload text.
    pub text: Option<String>,
    /// The QoS the message must arrive with.
    pub qos: Option<u8>,
    pub within: Option<Within>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExpectNoMessage {
    #[serde(default = "gateway_session")]
    pub session: String,
    /// Only messages on this topic count; any topic when omitted.
    pub topic: Option<String>,
    /// Only messages matching this pattern count.
    pub json: Option<Value>,
    /// How long to watch; 1s when omitted.
    pub within: Option<Within>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExpectDisconnect {
    #[serde(default = "gateway_session")]
    pub session: String,
    /// The DISCONNECT reason code on MQTT 5 (3.1.1 only sees the close); any when omitted.
    pub reason: Option<Code>,
    pub within: Option<Within>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionRef {
    #[serde(default = "gateway_session")]
    pub session: String,
}

/// A REST user of the target: the demo tenant administrator, customer user or system
/// administrator (or the ones given on the command line).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum User {
    #[default]
    Tenant,
    Customer,
    Sysadmin,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum Method {
    Get,
    Post,
    Delete,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Delete => "DELETE",
        }
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Rest {
    pub method: Method,
    /// The path and query, e.g. `/api/device/${gateway_id}`.
    pub path: String,
    /// A JSON body.
    pub json: Option<Value>,
    #[serde(default, rename = "as")]
    pub user: User,
    #[serde(default)]
    pub expect: RestExpect,
    pub within: Option<Within>,
}

/// What a REST call returns.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RestExpect {
    /// The HTTP status; 200 when omitted.
    pub status: Option<u16>,
    /// A pattern for the JSON body (objects may have more keys unless `$exact`).
    pub json: Option<Value>,
    /// The body is empty.
    #[serde(default)]
    pub empty: bool,
    /// The body is exactly this text (for ThingsBoard's few plain-text answers).
    pub text: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeviceCheck {
    pub name: String,
    /// A pattern for the device's JSON (`type`, `additionalInfo`, `customerId`, …; objects may
    /// have more keys).
    pub expect: Option<Value>,
    /// The device does not exist (404).
    #[serde(default)]
    pub absent: bool,
    pub within: Option<Within>,
}

fn created() -> String {
    "Created".to_owned()
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RelationCheck {
    /// The device the relation starts from; the case's gateway when omitted.
    pub from: Option<String>,
    pub to: String,
    #[serde(default = "created", rename = "type")]
    pub relation_type: String,
    /// The relation does not exist.
    #[serde(default)]
    pub absent: bool,
    pub within: Option<Within>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    Client,
    Shared,
    Server,
}

impl Scope {
    pub fn as_tb(self) -> &'static str {
        match self {
            Scope::Client => "CLIENT_SCOPE",
            Scope::Shared => "SHARED_SCOPE",
            Scope::Server => "SERVER_SCOPE",
        }
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AttributesCheck {
    pub device: String,
    pub scope: Scope,
    /// The keys to ask for; all when omitted.
    pub keys: Option<Vec<String>>,
    /// A pattern over `{key: value}`; other keys may be present unless `$exact`; `$absent`
    /// requires a key to be missing.
    pub expect: Value,
    pub within: Option<Within>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TimeseriesCheck {
    pub device: String,
    pub keys: Vec<String>,
    /// A pattern over `{key: [{ts, value}, ...]}` (newest first); `$absent` for a key without
    /// data.
    pub expect: Value,
    /// The history (`startTs=0`, up to 100 points) instead of the latest value.
    #[serde(default)]
    pub history: bool,
    /// Typed values (`useStrictDataTypes=true`); when false ThingsBoard returns strings.
    #[serde(default = "yes")]
    pub strict_types: bool,
    pub within: Option<Within>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WriteShared {
    pub device: String,
    pub json: Value,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteShared {
    pub device: String,
    pub keys: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RpcKind {
    Oneway,
    Twoway,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RpcApi {
    /// `/api/rpc/{oneway|twoway}/{id}`
    #[default]
    V2,
    /// `/api/plugins/rpc/{oneway|twoway}/{id}` (deprecated; 408/409 instead of 504)
    V1,
}

fn rpc_call_name() -> String {
    "rpc".to_owned()
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RpcCall {
    /// A name for `rpc_result`; `rpc` when omitted.
    #[serde(default = "rpc_call_name")]
    pub call: String,
    pub device: String,
    pub kind: RpcKind,
    pub method: String,
    /// `{}` when omitted.
    pub params: Option<Value>,
    /// ThingsBoard's `timeout` in milliseconds (floor 5000).
    pub timeout_ms: Option<u64>,
    #[serde(default)]
    pub api: RpcApi,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RpcResult {
    #[serde(default = "rpc_call_name")]
    pub call: String,
    #[serde(default)]
    pub expect: RestExpect,
    pub within: Option<Within>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ClaimAction {
    #[default]
    Claim,
    Reclaim,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Claim {
    pub device: String,
    #[serde(default)]
    pub action: ClaimAction,
    /// The body, e.g. `{secretKey: s3cret}`; `{}` when omitted.
    pub json: Option<Value>,
    #[serde(default = "customer", rename = "as")]
    pub user: User,
    #[serde(default)]
    pub expect: RestExpect,
}

fn customer() -> User {
    User::Customer
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeviceRef {
    pub device: String,
}

/// The tenant profile's gateway transport rate limits, under ThingsBoard's own names, each
/// How long an `idle` step stays connected.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Idle {
    #[serde(default = "gateway_session")]
    pub session: String,
    /// What to outlast: `session_inactivity`, the platform's session inactivity timeout and
    /// two of its expiry checks (600 s + 6 s on a default ThingsBoard; seconds on the
    /// embedded target's timer emulator).
    pub past: IdlePast,
}

#[derive(Clone, Copy, Debug, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum IdlePast {
    SessionInactivity,
}

/// `"count:seconds,count:seconds"`; the ones not given are left as they are.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RateLimits {
    #[serde(rename = "transportGatewayMsgRateLimit")]
    pub gateway_messages: Option<String>,
    #[serde(rename = "transportGatewayTelemetryMsgRateLimit")]
    pub gateway_telemetry_messages: Option<String>,
    #[serde(rename = "transportGatewayTelemetryDataPointsRateLimit")]
    pub gateway_telemetry_data_points: Option<String>,
    #[serde(rename = "transportGatewayDeviceMsgRateLimit")]
    pub device_messages: Option<String>,
    #[serde(rename = "transportGatewayDeviceTelemetryMsgRateLimit")]
    pub device_telemetry_messages: Option<String>,
    #[serde(rename = "transportGatewayDeviceTelemetryDataPointsRateLimit")]
    pub device_telemetry_data_points: Option<String>,
}

impl RateLimits {
    /// (ThingsBoard's field, value) of the limits given.
    pub fn fields(&self) -> Vec<(&'static str, &str)> {
        [
            ("transportGatewayMsgRateLimit", &self.gateway_messages),
            (
                "transportGatewayTelemetryMsgRateLimit",
                &self.gateway_telemetry_messages,
            ),
            (
                "transportGatewayTelemetryDataPointsRateLimit",
                &self.gateway_telemetry_data_points,
            ),
            ("transportGatewayDeviceMsgRateLimit", &self.device_messages),
            (
                "transportGatewayDeviceTelemetryMsgRateLimit",
                &self.device_telemetry_messages,
            ),
            (
                "transportGatewayDeviceTelemetryDataPointsRateLimit",
                &self.device_telemetry_data_points,
            ),
        ]
        .into_iter()
        .filter_map(|(field, value)| value.as_deref().map(|v| (field, v)))
        .collect()
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeviceLimit {
    /// How many more devices the tenant may create: `maxDevices` is set to the tenant's
    /// current device count plus this.
    pub headroom: u64,
}
