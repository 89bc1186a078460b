//! The gateway scenario format (`scenarios/gateway/**/*.yaml`): the header of the platform
//! cases (id, requirement, refs, profile), with steps played by the platform's side against
//! a gateway that is already running. `tbgw schema --gateway` prints its JSON Schema.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;
use serde_saphyr::Spanned;

use crate::scenario::model::{Code, MqttVersion, Profile, Within};

/// One check of a gateway.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GatewayScenario {
    /// Stable id, `<area>/<name>`, e.g. `rpc/same-id-two-devices`.
    pub id: String,
    /// The one sentence this case checks.
    pub requirement: String,
    /// Where the requirement comes from (`tb §1.9`, `doc: …`, `peers §1.6`).
    pub refs: Vec<String>,
    pub profile: Profile,
    /// Only for gateways speaking these MQTT versions (`5`, or a list; SKIP otherwise); all
    /// when omitted.
    #[serde(default, deserialize_with = "crate::scenario::model::some_versions")]
    #[schemars(with = "Option<crate::scenario::model::OneOrMoreVersions>")]
    pub mqtt: Option<Vec<MqttVersion>>,
    #[schemars(with = "Vec<GatewayStep>")]
    pub steps: Vec<Spanned<GatewayStep>>,
}

/// One step of the platform's side; steps run in order and the first that fails ends the case.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum GatewayStep {
    /// The gateway has subscribed to all these topic filters in one of its sessions.
    ExpectSubscribed(ExpectSubscribed),
    /// The gateway publishes a message matching a pattern.
    ExpectPublish(ExpectPublish),
    /// At least `count` devices were announced on `v1/gateway/connect` (in this session or an
    /// earlier one); binds `${device1}`, … in the order they were announced, and `${device}`.
    AwaitDevices(AwaitDevices),
    /// A two-way RPC through ThingsBoard's REST API to a device (or to every announced device
    /// at once); the reply must come back to that very call within the deadline.
    Rpc(Rpc),
    /// Write shared attributes through REST; the platform pushes them to the gateway.
    WriteShared(WriteShared),
    /// Delete shared attributes through REST; the platform pushes `deleted` to the gateway.
    DeleteShared(DeleteShared),
    /// Publish any payload to the gateway on any topic, as a faulty platform might.
    Send(Send),
    /// MQTT 5: tell the gateway on `v1/gateway/disconnect` that the platform dropped a device.
    NotifyDisconnect(NotifyDisconnect),
    /// The platform closes the gateway's connection without a DISCONNECT.
    DropConnection(DropConnection),
    /// The platform ends the gateway's session with a DISCONNECT carrying a reason code
    /// (MQTT 5; on 3.1.1 the connection is closed without one).
    Disconnect(Disconnect),
    /// The gateway connects again and announces again every device it had announced.
    ExpectReconnect(ExpectReconnect),
    /// The gateway opened at most this many new sessions since the case began, and still has
    /// at most that many when `during` has passed (no reconnect storm).
    ExpectSessions(ExpectSessions),
    /// Nothing the gateway sent since the case began breaks a passive check (one check, or any),
    /// still so when `during` has passed: ThingsBoard accepts what it sent in reaction.
    ExpectAccepted(ExpectAccepted),
}

impl GatewayStep {
    pub fn verb(&self) -> &'static str {
        match self {
            GatewayStep::ExpectSubscribed(_) => "expect_subscribed",
            GatewayStep::ExpectPublish(_) => "expect_publish",
            GatewayStep::AwaitDevices(_) => "await_devices",
            GatewayStep::Rpc(_) => "rpc",
            GatewayStep::WriteShared(_) => "write_shared",
            GatewayStep::DeleteShared(_) => "delete_shared",
            GatewayStep::Send(_) => "send",
            GatewayStep::NotifyDisconnect(_) => "notify_disconnect",
            GatewayStep::DropConnection(_) => "drop_connection",
            GatewayStep::Disconnect(_) => "disconnect",
            GatewayStep::ExpectReconnect(_) => "expect_reconnect",
            GatewayStep::ExpectSessions(_) => "expect_sessions",
            GatewayStep::ExpectAccepted(_) => "expect_accepted",
        }
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExpectSubscribed {
    /// Exact topic filters (ThingsBoard grants only exact ones).
    pub topics: Vec<String>,
    pub within: Option<Within>,
}

/// From when a message counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Since {
    /// Sent after this step started.
    #[default]
    Step,
    /// Sent at any time since the gateway connected, in any of its sessions.
    Connect,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExpectPublish {
    /// The topic; `+` matches one level (`v1/devices/me/rpc/request/+`).
    pub topic: String,
    /// A pattern the JSON payload must match (see scenarios/README.md); any payload when omitted.
    pub json: Option<Value>,
    #[serde(default)]
    pub since: Since,
    pub within: Option<Within>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AwaitDevices {
    #[serde(default = "one")]
    pub count: usize,
    pub within: Option<Within>,
}

fn one() -> usize {
    1
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Rpc {
    /// The device's name; `${device}` when omitted.
    pub device: Option<String>,
    /// To every announced device at once instead of one.
    #[serde(default)]
    pub each: bool,
    /// With `each`: every device gets the same RPC id at the same moment (ThingsBoard counts
    /// ids per device; devices behind get answered RPCs first to catch up).
    #[serde(default)]
    pub same_id: bool,
    /// A one-way RPC: it passes once the platform delivered it (no reply is awaited).
    #[serde(default)]
    pub oneway: bool,
    /// The method; `${rpc_method}` (`--rpc-method`, default `echo`) when omitted.
    pub method: Option<String>,
    #[serde(default = "empty_object")]
    pub params: Value,
    /// A pattern the reply must match (objects may have more keys); any reply when omitted.
    pub expect: Option<Value>,
    pub within: Option<Within>,
}

fn empty_object() -> Value {
    Value::Object(serde_json::Map::new())
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WriteShared {
    /// `${device}` when omitted.
    pub device: Option<String>,
    pub json: Value,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteShared {
    pub device: Option<String>,
    pub keys: Vec<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Send {
    pub topic: String,
    /// The payload as a YAML value, sent as compact JSON (interpolated).
    pub json: Option<Value>,
    /// The payload as raw text (interpolated).
    pub text: Option<String>,
    /// A JSON string value of this many `x` characters, as `{"device": D, "data": {"big": "xxx…"}}`
    /// on `v1/gateway/attributes` (an oversized value).
    pub filler: Option<usize>,
    /// The payload as base64 (any bytes: invalid UTF-8, a BOM, a cut-off message).
    pub base64: Option<String>,
    /// The publish's QoS (0, 1 or 2); the QoS the gateway subscribed with when omitted.
    pub qos: Option<u8>,
    /// Deliver it a second time: `dup` (DUP set, same packet id) or `same_id` (a new publish
    /// reusing the packet id before the first was acknowledged).
    pub again: Option<crate::emulator::core::Again>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NotifyDisconnect {
    pub device: Option<String>,
    /// The reason code ThingsBoard puts in the notice (0x80 unspecified error when omitted).
    pub reason: Option<Code>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DropConnection {}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Disconnect {
    /// The DISCONNECT's reason code (0x8B server shutting down when omitted).
    pub reason: Option<Code>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExpectReconnect {
    pub within: Option<Within>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExpectSessions {
    /// New sessions (CONNECTs) allowed since the case began: 0 when it must keep its session,
    /// 1 after one `drop_connection`.
    pub at_most: usize,
    /// How long to watch from this step's start (2 s when omitted; not scaled by
    /// `--timeout-multiplier`, since a longer watch would only be stricter); one session too
    /// many fails at once.
    pub during: Option<Within>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExpectAccepted {
    /// The passive check's id (`passive/accepted-whole`, as in check-gateway's report); any check
    /// when omitted. Every finding of it since the case began counts, at rest or not.
    pub check: Option<super::passive::Check>,
    /// NON-STRICT findings count too, as under `--strict` (which makes them count anyway).
    #[serde(default)]
    pub strict: bool,
    /// How long to watch from this step's start (2 s when omitted).
    pub during: Option<Within>,
}
