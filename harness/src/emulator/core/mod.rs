//! The emulator's sans-IO core: ThingsBoard's state (devices, profiles, relations,
//! attributes, time series, RPC, claims) and its MQTT session logic. The shells feed it
//! packets and REST calls and carry out the [`Effect`]s it returns; it never touches a
//! socket or the system clock.

pub mod claims;
pub mod clock;
pub mod device_api;
pub mod device_topics;
pub mod entities;
pub mod gateway;
pub mod packets;
pub mod rate_limits;
pub mod relations;
pub mod rpc;
pub mod session;
pub mod settings;
pub mod store;

use std::collections::HashMap;
use std::fmt;

use compact_str::CompactString;
use serde_json::{Value, json};
use tbgw_codec::{
    AttributeChange, AttributeUpdate, Json, Message, Number, Object, ReasonCode, RpcRequest,
    TbValue,
};
use uuid::Uuid;

use self::claims::ClaimRegistration;
use self::clock::Clock;
use self::device_topics::Delivery;
use self::entities::{AdditionalInfo, Authority, Customer, Device, DeviceProfile, Relation, User};
use self::gateway::GatewayRead;
use self::packets::{ConnAckCode, ConnId, ConnectIn, Outbound, PublishIn, SubGrant, Version};
pub use self::rpc::PersistentRequest;
use self::rpc::{PersistentRpc, RpcBook, RpcOutcome, RpcStatus};
use self::session::Session;
use self::settings::Settings;
use self::store::{Scope, Store};

/// The core's maps by id, name and connection: looked up several times for every message,
/// so hashed with a fast hash rather than SipHash (the emulator is a test platform, not a
/// server exposed to hash-flooding).
pub type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// What the emulator is started with.
#[derive(Clone, Debug, Default)]
pub struct Config {
    /// Gateway devices to provision: (name, access token).
    pub gateways: Vec<(String, String)>,
    /// The tenant's device limit (`maxDevices`); 0 means none.
    pub max_devices: u64,
    /// ThingsBoard's configuration (timeouts and limits), its defaults unless set.
    pub settings: Settings,
    /// How many points of each key of each device are kept.
    pub retention: store::Retention,
}

/// Something the shell must do.
#[derive(Clone, Debug, PartialEq)]
pub enum Effect {
    Send {
        conn: ConnId,
        packet: Outbound,
    },
    /// Flush what was sent to the connection, then close it.
    Close {
        conn: ConnId,
    },
    /// A REST RPC call is settled.
    RpcSettled {
        call: Uuid,
        outcome: RpcOutcome,
    },
    Violation(Violation),
}

/// How an injected publish is delivered: the QoS (the subscription's when `None`) and
/// whether it is sent a second time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Injection {
    pub qos: Option<u8>,
    pub again: Option<Again>,
}

/// A second delivery of the same publish.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    serde::Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Again {
    /// Re-sent with DUP set and the same packet id, as after a lost PUBACK.
    Dup,
    /// Another publish reusing the packet id of one not yet acknowledged, without DUP.
    SameId,
}

/// A protocol violation a client committed, and what the emulator answered.
#[derive(Clone, Debug, PartialEq)]
pub struct Violation {
    pub client_id: String,
    /// The session's device (the gateway).
    pub device: String,
    pub topic: String,
    pub problem: String,
    /// What was sent back: `PUBACK 0x99 …`, `nothing`, `DISCONNECT 0x83 …`.
    pub answer: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "client {:?} device {:?} topic {}: {} -> {}",
            self.client_id, self.device, self.topic, self.problem, self.answer
        )
    }
}

/// Who holds a device's one session (`max_concurrent_sessions_per_device = 1`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Holder {
    /// The device's own MQTT connection.
    Direct(ConnId),
    /// A gateway connection, as one of its sub-devices.
    Gateway(ConnId),
}

#[derive(Clone, Debug)]
pub struct TenantProfile {
    pub id: Uuid,
    pub max_devices: u64,
    /// `transportGateway…` and `transportGatewayDevice…`; none by default.
    pub transport_limits: rate_limits::TransportLimits,
}

/// Why a device could not be created or connected.
#[derive(Clone, Debug, PartialEq)]
pub enum DeviceFailure {
    /// "Maximum number of devices reached!"
    Limit,
    Refused(String),
    /// The name or `type` fails ThingsBoard's validation (`DataValidationException`), which
    /// a gateway learns of only when its request times out (§11.1 C3).
    Invalid(String),
}

/// A gateway's PUBACK that ThingsBoard sends only when its request for the device times out.
#[derive(Clone, Debug)]
struct DeferredAnswer {
    conn: ConnId,
    pid: Option<u16>,
    topic: String,
    code: ReasonCode,
    problem: String,
    /// The devices it names, whose later messages wait on the same request.
    devices: Vec<String>,
    due: i64,
}

pub struct Core {
    clock: Box<dyn Clock>,
    /// The time of the message being handled: one reading of the clock serves all its
    /// devices and points (the clock was a tenth of a 100-point message's time).
    message_time: Option<i64>,
    pub tenant_id: Uuid,
    pub tenant_profile: TenantProfile,
    pub customers: Vec<Customer>,
    pub users: Vec<User>,
    pub profiles: Vec<DeviceProfile>,
    pub devices: FastMap<Uuid, Device>,
    by_name: FastMap<CompactString, Uuid>,
    by_token: FastMap<CompactString, Uuid>,
    pub relations: Vec<Relation>,
    pub store: Store,
    sessions: FastMap<ConnId, Session>,
    holders: FastMap<Uuid, Holder>,
    pub rpc: RpcBook,
    pub claims: HashMap<Uuid, ClaimRegistration>,
    pub settings: Settings,
    /// When the device-state check next runs (`state.defaultStateCheckIntervalInSec`).
    next_state_check: i64,
    /// Answers waiting for the transport's request time-out, oldest first.
    deferred: Vec<DeferredAnswer>,
    /// When the core started: the transport's request clean-ups run every
    /// `max_requests_timeout` from then.
    started_at: i64,
    effects: Vec<Effect>,
}

impl Core {
    pub fn new(config: &Config, clock: Box<dyn Clock>) -> Core {
        let now = clock.now_ms();
        let mut core = Core {
            clock,
            message_time: None,
            tenant_id: Uuid::new_v4(),
            tenant_profile: TenantProfile {
                id: Uuid::new_v4(),
                max_devices: config.max_devices,
                transport_limits: rate_limits::TransportLimits::default(),
            },
            customers: Vec::new(),
            users: Vec::new(),
            profiles: Vec::new(),
            devices: FastMap::default(),
            by_name: FastMap::default(),
            by_token: FastMap::default(),
            relations: Vec::new(),
            store: Store::with_retention(config.retention),
            sessions: FastMap::default(),
            holders: FastMap::default(),
            rpc: RpcBook::default(),
            claims: HashMap::new(),
            settings: config.settings.clone(),
            next_state_check: now.saturating_add(config.settings.state_check_interval_ms),
            deferred: Vec::new(),
            started_at: now,
            effects: Vec::new(),
        };
        core.load_demo_data(now);
        for (name, token) in &config.gateways {
            let info = json!({"gateway": true, "overwriteActivityTime": false});
            // The names and tokens are checked by the CLI; a clash here is the caller's mistake.
            let _ = core.create_device(name, None, None, info, Some(token.clone()));
        }
        core
    }

    /// A copy of this core on another clock, which must read what this core's clock reads
    /// (its timers and deadlines are copied as they are): the fuzz target starts every script
    /// from one prepared core instead of building it again (the same ids, devices and tokens).
    pub fn clone_with_clock(&self, clock: Box<dyn Clock>) -> Core {
        Core {
            clock,
            message_time: None,
            tenant_id: self.tenant_id,
            tenant_profile: self.tenant_profile.clone(),
            customers: self.customers.clone(),
            users: self.users.clone(),
            profiles: self.profiles.clone(),
            devices: self.devices.clone(),
            by_name: self.by_name.clone(),
            by_token: self.by_token.clone(),
            relations: self.relations.clone(),
            store: self.store.clone(),
            sessions: self.sessions.clone(),
            holders: self.holders.clone(),
            rpc: self.rpc.clone(),
            claims: self.claims.clone(),
            settings: self.settings.clone(),
            next_state_check: self.next_state_check,
            deferred: self.deferred.clone(),
            started_at: self.started_at,
            effects: self.effects.clone(),
        }
    }

    /// The users, customers and profile ThingsBoard's demo data has (`--loadDemo`).
    fn load_demo_data(&mut self, now: i64) {
        self.profiles.push(DeviceProfile {
            id: Uuid::new_v4(),
            name: "default".into(),
            description: "Default device profile".into(),
            is_default: true,
            created_time: now,
            version: 1,
        });
        for title in ["Customer A", "Customer B", "Customer C"] {
            self.customers.push(Customer {
                id: Uuid::new_v4(),
                title: title.into(),
                created_time: now,
                additional_info: Value::Null,
                contact: serde_json::Map::new(),
                version: 1,
            });
        }
        let user = |email: &str, password: &str, authority, customer_id| User {
            id: Uuid::new_v4(),
            email: email.into(),
            password: password.into(),
            authority,
            customer_id,
        };
        let [a, b, c] = [0, 1, 2].map(|i| self.customers[i].id);
        self.users = vec![
            user(
                "sysadmin@thingsboard.org",
                "sysadmin",
                Authority::SysAdmin,
                None,
            ),
            user(
                "tenant@thingsboard.org",
                "tenant",
                Authority::TenantAdmin,
                None,
            ),
            user(
                "customer@thingsboard.org",
                "customer",
                Authority::CustomerUser,
                Some(a),
            ),
            user(
                "customerA@thingsboard.org",
                "customer",
                Authority::CustomerUser,
                Some(a),
            ),
            user(
                "customerB@thingsboard.org",
                "customer",
                Authority::CustomerUser,
                Some(b),
            ),
            user(
                "customerC@thingsboard.org",
                "customer",
                Authority::CustomerUser,
                Some(c),
            ),
        ];
    }

    /// The clock's time, or the time of the message being handled.
    pub fn now(&self) -> i64 {
        self.message_time.unwrap_or_else(|| self.clock.now_ms())
    }

    /// The effects produced since the last call, in order.
    pub fn take_effects(&mut self) -> Vec<Effect> {
        std::mem::take(&mut self.effects)
    }

    fn send(&mut self, conn: ConnId, packet: Outbound) {
        self.effects.push(Effect::Send { conn, packet });
    }

    fn violation(&mut self, conn: ConnId, topic: &str, problem: String, answer: String) {
        let (client_id, device) = match self.sessions.get(&conn) {
            Some(s) => (s.client_id.clone(), s.device_name.clone()),
            None => (String::new(), String::new()),
        };
        self.effects.push(Effect::Violation(Violation {
            client_id,
            device,
            topic: topic.to_owned(),
            problem,
            answer,
        }));
    }

    // ----- entities ---------------------------------------------------------------

    pub fn device(&self, id: Uuid) -> Option<&Device> {
        self.devices.get(&id)
    }

    pub fn device_by_name(&self, name: &str) -> Option<&Device> {
        self.by_name.get(name).and_then(|id| self.devices.get(id))
    }

    pub fn profile_by_name(&self, name: &str) -> Option<&DeviceProfile> {
        self.profiles.iter().find(|p| p.name == name)
    }

    /// `findOrCreateDeviceProfile`: a missing profile is created with ThingsBoard's defaults.
    pub fn find_or_create_profile(&mut self, name: &str) -> Uuid {
        if let Some(profile) = self.profile_by_name(name) {
            return profile.id;
        }
        let is_default = name == "default" && !self.profiles.iter().any(|p| p.is_default);
        let profile = DeviceProfile {
            id: Uuid::new_v4(),
            name: name.to_owned(),
            description: "Default device profile".into(),
            is_default,
            created_time: self.now(),
            version: 1,
        };
        let id = profile.id;
        self.profiles.push(profile);
        id
    }

    fn at_device_limit(&self) -> bool {
        let max = self.tenant_profile.max_devices;
        max > 0 && self.devices.len() as u64 >= max
    }

    /// Creates a device, as `POST /api/device` and gateway auto-creation do.
    pub fn create_device(
        &mut self,
        name: &str,
        device_type: Option<&str>,
        customer_id: Option<Uuid>,
        additional_info: impl Into<AdditionalInfo>,
        access_token: Option<String>,
    ) -> Result<Uuid, DeviceFailure> {
        if let Some(why) = tbgw_codec::device::device_name_problem(name) {
            return Err(DeviceFailure::Invalid(format!("device name: {why}")));
        }
        if self.by_name.contains_key(name) {
            return Err(DeviceFailure::Refused(
                "Device with such name already exists!".into(),
            ));
        }
        let device_type = device_type.unwrap_or("default");
        if let Some(why) = tbgw_codec::device::device_type_problem(device_type) {
            return Err(DeviceFailure::Invalid(format!(
                "device profile name: {why}"
            )));
        }
        let token = match access_token {
            Some(token) if token.is_empty() => {
                return Err(DeviceFailure::Refused("the access token is empty".into()));
            }
            Some(token) if self.by_token.contains_key(token.as_str()) => {
                return Err(DeviceFailure::Refused(
                    "Device credentials are already assigned to another device!".into(),
                ));
            }
            Some(token) => CompactString::from(token),
            None => CompactString::from(new_token()),
        };
        if self.at_device_limit() {
            return Err(DeviceFailure::Limit);
        }
        let profile_id = self.find_or_create_profile(device_type);
        let device = Device {
            id: Uuid::new_v4(),
            name: name.into(),
            device_type: device_type.into(),
            profile_id,
            label: None,
            customer_id,
            additional_info: additional_info.into(),
            access_token: token.clone(),
            created_time: self.now(),
            version: 1,
            credentials_version: 1,
        };
        let id = device.id;
        self.by_name.insert(device.name.clone(), id);
        self.by_token.insert(token, id);
        self.devices.insert(id, device);
        Ok(id)
    }

    /// Renames a device or changes its profile or info (`POST /api/device` with an id).
    pub fn update_device(
        &mut self,
        id: Uuid,
        name: &str,
        device_type: &str,
        label: Option<String>,
        additional_info: Value,
    ) -> Result<(), DeviceFailure> {
        if let Some(why) = tbgw_codec::device::device_name_problem(name) {
            return Err(DeviceFailure::Refused(format!("device name: {why}")));
        }
        if self.by_name.get(name).is_some_and(|other| *other != id) {
            return Err(DeviceFailure::Refused(
                "Device with such name already exists!".into(),
            ));
        }
        let profile_id = self.find_or_create_profile(device_type);
        let Some(device) = self.devices.get_mut(&id) else {
            return Err(DeviceFailure::Refused("no such device".into()));
        };
        let old_name = std::mem::replace(&mut device.name, name.into());
        device.device_type = device_type.into();
        device.profile_id = profile_id;
        device.label = label;
        device.additional_info = additional_info.into();
        device.record_save();
        let gateway = device.additional_info.last_connected_gateway();
        self.by_name.remove(&old_name);
        self.by_name.insert(name.into(), id);
        // A gateway's map keeps the old name (§11.2): pushes and RPCs use it, and data sent
        // under it still reaches the renamed device, until the gateway names the new one.
        if old_name != name
            && let Some(gateway) = gateway
        {
            let params = json!({ old_name: name });
            self.notify_gateway(gateway, "gateway_device_renamed", params);
        }
        Ok(())
    }

    /// Deletes a customer (`CustomerServiceImpl.deleteCustomer`): its devices are unassigned
    /// (saved, so their `version` goes up), its users and relations go; `None` when there
    /// is no such customer.
    pub fn delete_customer(&mut self, id: Uuid) -> Option<()> {
        let at = self.customers.iter().position(|c| c.id == id)?;
        self.customers.remove(at);
        for device in self.devices.values_mut() {
            if device.customer_id == Some(id) {
                device.customer_id = None;
                device.record_save();
            }
        }
        self.users.retain(|u| u.customer_id != Some(id));
        self.relations.retain(|r| !r.touches(id));
        Some(())
    }

    /// Deletes a device: its sessions end, a gateway that created it is told over RPC.
    pub fn delete_device(&mut self, id: Uuid) -> bool {
        let Some(device) = self.devices.remove(&id) else {
            return false;
        };
        self.by_name.remove(&device.name);
        self.by_token.remove(&device.access_token);
        self.relations.retain(|r| !r.touches(id));
        self.store.remove_device(id);
        self.claims.remove(&id);
        self.rpc.forget_device(id);
        // A gateway silently forgets a deleted sub-device; a device's (or a gateway's) own
        // connection is closed.
        self.drop_sub_session(id);
        self.end_own_sessions(id);
        if let Some(gateway) = device.additional_info.last_connected_gateway() {
            self.notify_gateway(gateway, "gateway_device_deleted", json!(device.name));
        }
        true
    }

    /// A persistent one-way RPC to a gateway device with 3 retries and a one-day expiry
    /// (`DefaultGatewayNotificationsService`).
    fn notify_gateway(&mut self, gateway: Uuid, method: &str, params: Value) {
        if !self.devices.contains_key(&gateway) {
            return;
        }
        let request = PersistentRequest {
            method: method.to_owned(),
            params,
            oneway: true,
            expires_at: self.now().saturating_add(86_400_000),
            retries: Some(3),
            additional_info: Value::Null,
        };
        self.submit_persistent_rpc(Uuid::new_v4(), gateway, request);
    }

    pub fn set_access_token(&mut self, id: Uuid, token: String) -> Result<(), DeviceFailure> {
        let token = CompactString::from(token);
        if self.by_token.get(&token).is_some_and(|other| *other != id) {
            return Err(DeviceFailure::Refused(
                "Device credentials are already assigned to another device!".into(),
            ));
        }
        let Some(device) = self.devices.get_mut(&id) else {
            return Err(DeviceFailure::Refused("no such device".into()));
        };
        let old = std::mem::replace(&mut device.access_token, token.clone());
        device.credentials_version = device.credentials_version.saturating_add(1);
        self.by_token.remove(&old);
        self.by_token.insert(token, id);
        // Every session of the device closes, its gateway sub-session too, which the gateway
        // drops silently: pushes and RPCs stop until it names the device again (§11.1 C7).
        if self.drop_sub_session(id) {
            self.mark_disconnected(id);
        }
        self.end_own_sessions(id);
        Ok(())
    }

    /// Removes a device's sub-session from the gateway holding it, without a word to the
    /// gateway; `true` when there was one.
    fn drop_sub_session(&mut self, id: Uuid) -> bool {
        let Some(Holder::Gateway(conn)) = self.holders.get(&id).copied() else {
            return false;
        };
        self.holders.remove(&id);
        if let Some(session) = self.sessions.get_mut(&conn) {
            session.forget_sub_device(id);
        }
        true
    }

    /// Closes the device's own MQTT connections with DISCONNECT 0x98 Administrative action
    /// (device deleted or credentials changed); a gateway's sub-devices go with it.
    fn end_own_sessions(&mut self, device: Uuid) {
        let own: Vec<ConnId> = self
            .sessions
            .values()
            .filter(|s| s.device == device)
            .map(|s| s.conn)
            .collect();
        for conn in own {
            self.kick(conn, ReasonCode::ADMINISTRATIVE_ACTION);
        }
    }

    pub fn is_connected(&self, device: Uuid) -> bool {
        self.holders.contains_key(&device)
    }

    // ----- MQTT sessions ----------------------------------------------------------

    /// A second CONNECT on a connection, which MQTT forbids: ThingsBoard processes it again,
    /// with a new CONNACK and a new session in place of the first (§11.2, derived).
    pub fn connect_again(&mut self, conn: ConnId, connect: ConnectIn) -> bool {
        let problem = "a second CONNECT on the same connection (MQTT forbids it)".to_owned();
        let answer = "processed again: a new CONNACK and a new session".to_owned();
        self.violation(conn, "", problem, answer);
        self.end_session(conn);
        self.connect(conn, connect)
    }

    /// A CONNECT: authenticate by access token (the username).
    pub fn connect(&mut self, conn: ConnId, connect: ConnectIn) -> bool {
        let device = connect
            .username
            .as_deref()
            .and_then(|token| self.by_token.get(token))
            .copied();
        let Some(device_id) = device else {
            let refusal = ConnAckCode::refusal(&connect);
            self.send(conn, Outbound::ConnAck(refusal));
            if connect.version == Version::V5 {
                // ThingsBoard follows the refusal with a DISCONNECT carrying the same byte.
                self.send(conn, Outbound::Disconnect(refusal.reason()));
            }
            self.effects.push(Effect::Close { conn });
            let who = connect.username.as_deref().unwrap_or("");
            self.effects.push(Effect::Violation(Violation {
                client_id: connect.client_id,
                device: String::new(),
                topic: String::new(),
                problem: format!("CONNECT with an unknown access token {who:?}"),
                answer: format!("CONNACK {}, connection closed", refusal.reason()),
            }));
            return false;
        };
        let Some(device) = self.devices.get(&device_id) else {
            return false;
        };
        let name = device.name.clone();
        let gateway = device.is_gateway();
        let overwrite_activity_time = device.overwrites_activity_time();
        let client_id = if connect.client_id.is_empty() {
            format!("tbgw-{conn}")
        } else {
            connect.client_id
        };
        // One session per device: the older one is closed.
        if let Some(holder) = self.holders.get(&device_id).copied() {
            self.take_over(device_id, holder);
        }
        let mut session = Session::new(
            conn,
            connect.version,
            client_id,
            device_id,
            name.into(),
            gateway,
        );
        session.last_activity = self.now();
        session.overwrite_activity_time = gateway && overwrite_activity_time;
        self.sessions.insert(conn, session);
        self.holders.insert(device_id, Holder::Direct(conn));
        let session_present = !connect.clean;
        self.send(
            conn,
            Outbound::ConnAck(ConnAckCode::Accepted { session_present }),
        );
        self.mark_connected(device_id);
        true
    }

    /// Ends whatever session holds `device` before another takes it.
    fn take_over(&mut self, device: Uuid, holder: Holder) {
        match holder {
            Holder::Direct(conn) => self.kick(conn, ReasonCode::SESSION_TAKEN_OVER),
            Holder::Gateway(_) => {
                self.drop_sub_session(device);
            }
        }
    }

    /// Closes a connection: DISCONNECT with `reason` on MQTT 5, a plain close on 3.1.1.
    fn kick(&mut self, conn: ConnId, reason: ReasonCode) {
        if let Some(session) = self.sessions.get(&conn)
            && session.version == Version::V5
        {
            self.send(conn, Outbound::Disconnect(reason));
        }
        self.effects.push(Effect::Close { conn });
        self.end_session(conn);
    }

    fn mark_connected(&mut self, device: Uuid) {
        let now = self.now();
        let data = self.store.device_mut(device);
        data.set_attribute(Scope::Server, "active", TbValue::Boolean(true), now);
        data.set_attribute(Scope::Server, "lastConnectTime", TbValue::Long(now), now);
        data.set_attribute(Scope::Server, "lastActivityTime", TbValue::Long(now), now);
    }

    fn mark_disconnected(&mut self, device: Uuid) {
        if !self.devices.contains_key(&device) {
            return;
        }
        let now = self.now();
        let data = self.store.device_mut(device);
        // `active` stays true: only the inactivity check turns it false (§11.1 C2).
        data.set_attribute(Scope::Server, "lastDisconnectTime", TbValue::Long(now), now);
    }

    /// Activity makes an inactive device active again (`DefaultDeviceStateService.onDeviceActivity`).
    fn record_activity(&mut self, device: Uuid) {
        let now = self.now();
        let data = self.store.device_mut(device);
        data.set_attribute(Scope::Server, "lastActivityTime", TbValue::Long(now), now);
        let active = data.attribute(Scope::Server, "active").map(|a| &a.value);
        if active != Some(&TbValue::Boolean(true)) {
            data.set_attribute(Scope::Server, "active", TbValue::Boolean(true), now);
        }
    }

    /// Runs ThingsBoard's timers up to the clock's now: session expiry, the client-side RPC
    /// timeout and the device-state check. The shell calls it every
    /// [`Settings::tick_interval_ms`]; tests call it after moving the clock.
    pub fn tick(&mut self) {
        let now = self.now();
        self.answer_deferred(now);
        self.expire_sessions(now);
        self.time_out_own_rpc_requests(now);
        self.time_out_unacknowledged_rpcs(now);
        self.rpc.expire_persistent(now);
        if now >= self.next_state_check {
            self.next_state_check = now.saturating_add(self.settings.state_check_interval_ms);
            self.check_device_states(now);
        }
    }

    /// `transport.sessions.inactivity_timeout`: a quiet session is closed with DISCONNECT
    /// 0x83; a quiet sub-device silently leaves its gateway's map, so pushes and RPCs for it
    /// stop until the gateway names it again (§11.2).
    fn expire_sessions(&mut self, now: i64) {
        let timeout = self.settings.session_inactivity_timeout_ms;
        let idle: Vec<(ConnId, Version)> = self
            .sessions
            .values()
            .filter(|s| now.saturating_sub(s.last_activity) >= timeout)
            .map(|s| (s.conn, s.version))
            .collect();
        for (conn, version) in idle {
            let problem = format!(
                "no activity (not even PINGREQ) for {} ms, ThingsBoard's transport.sessions.inactivity_timeout",
                timeout
            );
            let answer = match version {
                Version::V5 => "DISCONNECT 0x83 Implementation specific error, connection closed",
                Version::V3 => "connection closed",
            };
            self.violation(conn, "", problem, answer.into());
            self.kick(conn, ReasonCode::IMPLEMENTATION_SPECIFIC_ERROR);
        }
        let expired: Vec<(ConnId, Uuid)> = self
            .sessions
            .values()
            .flat_map(|s| {
                let conn = s.conn;
                s.expired_sub_devices(now, timeout)
                    .into_iter()
                    .map(move |id| (conn, id))
            })
            .collect();
        for (conn, id) in expired {
            if let Some(session) = self.sessions.get_mut(&conn) {
                session.forget_sub_device(id);
            }
            if self.holders.get(&id) == Some(&Holder::Gateway(conn)) {
                self.holders.remove(&id);
                self.mark_disconnected(id);
            }
        }
    }

    /// `transport.client_side_rpc.timeout`: a device's own RPC request that nothing answered
    /// gets `{"error":"timeout"}` on its response topic.
    fn time_out_own_rpc_requests(&mut self, now: i64) {
        let mut due = Vec::new();
        for session in self.sessions.values_mut() {
            let conn = session.conn;
            session.own_rpc_requests.retain(|(topic, at)| {
                let overdue = *at <= now;
                if overdue {
                    due.push((conn, topic.clone()));
                }
                !overdue
            });
        }
        for (conn, topic) in due {
            self.publish_to(conn, topic, br#"{"error":"timeout"}"#.to_vec());
        }
    }

    /// `state.defaultInactivityTimeoutInSec`: a device without activity for that long turns
    /// `active` false (and gets `inactivityAlarmTime`), connected or not (§11.1 C2).
    fn check_device_states(&mut self, now: i64) {
        let timeout = self.settings.device_inactivity_timeout_ms;
        let ids: Vec<Uuid> = self.devices.keys().copied().collect();
        for id in ids {
            let Some(data) = self.store.device(id) else {
                continue;
            };
            let value = |key: &str| data.attribute(Scope::Server, key).map(|a| &a.value);
            let active = value("active") == Some(&TbValue::Boolean(true));
            let Some(TbValue::Long(last_activity)) = value("lastActivityTime") else {
                continue;
            };
            if active && now.saturating_sub(*last_activity) >= timeout {
                let data = self.store.device_mut(id);
                data.set_attribute(Scope::Server, "active", TbValue::Boolean(false), now);
                data.set_attribute(
                    Scope::Server,
                    "inactivityAlarmTime",
                    TbValue::Long(now),
                    now,
                );
            }
        }
    }

    /// The connection is gone (closed by either side): the device and its sub-devices disconnect.
    pub fn connection_closed(&mut self, conn: ConnId) {
        self.end_session(conn);
    }

    fn end_session(&mut self, conn: ConnId) {
        let Some(session) = self.sessions.remove(&conn) else {
            return;
        };
        self.deferred.retain(|d| d.conn != conn);
        if self.holders.get(&session.device) == Some(&Holder::Direct(conn)) {
            self.holders.remove(&session.device);
            self.mark_disconnected(session.device);
        }
        for id in session.sub_devices.values() {
            if self.holders.get(id) == Some(&Holder::Gateway(conn)) {
                self.holders.remove(id);
                self.mark_disconnected(*id);
            }
        }
    }

    pub fn session(&self, conn: ConnId) -> Option<&Session> {
        self.sessions.get(&conn)
    }

    /// PINGREQ is activity of the session; of its sub-devices only when the gateway's
    /// `overwriteActivityTime` is true (§11.1 C8).
    pub fn ping(&mut self, conn: ConnId) {
        let now = self.now();
        if let Some(session) = self.sessions.get_mut(&conn) {
            session.last_activity = now;
            let device = session.device;
            // Their sessions' expiry follows `last_activity` then (`expired_sub_devices`);
            // the devices' `lastActivityTime` is recorded here.
            let subs: Vec<Uuid> = if session.overwrite_activity_time {
                session.sub_devices.values().copied().collect()
            } else {
                Vec::new()
            };
            self.record_activity(device);
            for sub in subs {
                self.record_activity(sub);
            }
        }
        self.send(conn, Outbound::PingResp);
    }

    /// DISCONNECT from the client: ThingsBoard echoes 0x00 on MQTT 5 and closes.
    pub fn client_disconnect(&mut self, conn: ConnId) {
        self.kick(conn, ReasonCode::SUCCESS);
    }

    /// A packet that cannot be decoded or is too large: DISCONNECT 0x81 on MQTT 5, close on 3.1.1.
    pub fn malformed(&mut self, conn: ConnId, problem: String) {
        let v5 = self.sessions.get(&conn).map(|s| s.version) == Some(Version::V5);
        let answer = if v5 {
            "DISCONNECT 0x81 Malformed packet, connection closed"
        } else {
            "connection closed"
        };
        self.violation(conn, "", problem, answer.into());
        self.kick(conn, ReasonCode::MALFORMED_PACKET);
    }

    /// The client stopped reading its socket: `queued` messages wait for it. Closed without
    /// a word (a DISCONNECT would only queue behind them), as mosquitto drops a client over
    /// its `max_queued_messages`, so that one stuck client cannot grow the server's memory.
    pub fn stopped_reading(&mut self, conn: ConnId, queued: usize) {
        let who = if self.sessions.get(&conn).is_some_and(|s| s.gateway) {
            "the gateway"
        } else {
            "the client"
        };
        let problem = format!("{who} stopped reading its socket: {queued} messages queued");
        self.violation(conn, "", problem, "connection closed".into());
        self.drop_connection(conn);
    }

    pub fn subscribe(&mut self, conn: ConnId, pid: u16, filters: Vec<(String, u8)>) {
        let Some(session) = self.sessions.get_mut(&conn) else {
            return;
        };
        let mut grants = Vec::with_capacity(filters.len());
        let mut refused = Vec::new();
        let mut rpc_subscribed = false;
        for (filter, qos) in filters {
            if session::is_served_filter(&filter) {
                let granted = qos.min(1);
                // The last filter subscribed decides the topic, v1 or v2 (§11.2).
                match device_topics::delivery_of(&filter) {
                    Some(Delivery::Attributes(topic)) => session.attribute_topic = Some(topic),
                    Some(Delivery::Rpc(prefix)) => {
                        session.rpc_prefix = Some(prefix);
                        rpc_subscribed = true;
                    }
                    None => {}
                }
                session.subscriptions.insert(filter, granted);
                grants.push(SubGrant::Qos(granted));
            } else {
                refused.push(filter);
                grants.push(SubGrant::FilterInvalid);
            }
        }
        let device = session.device;
        let v5 = session.version == Version::V5;
        self.send(conn, Outbound::SubAck { pid, grants });
        for filter in refused {
            let code = if v5 {
                "0x8F Topic Filter invalid"
            } else {
                "0x80 Failure"
            };
            let problem = format!("SUBSCRIBE to `{filter}`, a filter ThingsBoard does not serve");
            self.violation(conn, &filter, problem, format!("SUBACK {code}"));
        }
        if rpc_subscribed {
            self.deliver_pending_rpc(device);
        }
    }

    pub fn unsubscribe(&mut self, conn: ConnId, pid: u16, filters: Vec<String>) {
        let Some(session) = self.sessions.get_mut(&conn) else {
            return;
        };
        let reasons = filters
            .iter()
            .map(|filter| {
                // ThingsBoard's 0x8F needs a filter held but not known, which a refused
                // SUBSCRIBE never leaves behind: every filter not held is 0x11 (§11.1 C1).
                if session.subscriptions.remove(filter).is_some() {
                    // One unsubscribe ends that kind of delivery, whatever form it used.
                    match device_topics::delivery_of(filter) {
                        Some(Delivery::Attributes(_)) => session.attribute_topic = None,
                        Some(Delivery::Rpc(_)) => session.rpc_prefix = None,
                        None => {}
                    }
                    ReasonCode::SUCCESS
                } else {
                    ReasonCode::NO_SUBSCRIPTION_EXISTED
                }
            })
            .collect();
        self.send(conn, Outbound::UnsubAck { pid, reasons });
    }

    /// A PUBLISH from a connected client.
    pub fn publish(&mut self, conn: ConnId, publish: PublishIn) {
        self.publish_read(conn, publish, None);
    }

    /// [`Core::publish`] with a gateway message already read by
    /// [`gateway::read_gateway_message`] (outside the lock; `None`: read it here).
    pub fn publish_read(&mut self, conn: ConnId, publish: PublishIn, read: Option<GatewayRead>) {
        let Some(session) = self.sessions.get(&conn) else {
            return;
        };
        let device = session.device;
        let gateway_topic = publish.topic.starts_with("v1/gateway");
        // A device that is not a gateway records nothing on gateway topics (§11.1 C8).
        let counts = session.gateway || !gateway_topic;
        let now = self.clock.now_ms();
        self.message_time = Some(now);
        if gateway_topic {
            self.gateway_publish(conn, &publish, read);
        } else {
            self.device_publish(conn, &publish);
        }
        if counts
            && self.devices.contains_key(&device)
            && let Some(session) = self.sessions.get_mut(&conn)
        {
            session.last_activity = now;
            self.record_activity(device);
        }
        self.message_time = None;
    }

    /// Sends any payload on any topic to a session, as a platform under test might (for
    /// robustness checks of a gateway); `false` when the session is gone.
    pub fn inject(&mut self, conn: ConnId, topic: &str, payload: Vec<u8>, how: Injection) -> bool {
        let Some(session) = self.sessions.get_mut(&conn) else {
            return false;
        };
        let qos = how.qos.unwrap_or_else(|| session.qos_for(topic)).min(2);
        let pid = if qos > 0 { session.next_pid() } else { 0 };
        let publish = |dup| Outbound::Publish {
            topic: topic.to_owned(),
            qos,
            pid,
            payload: payload.clone(),
            dup,
        };
        self.send(conn, publish(false));
        match how.again {
            None => {}
            Some(Again::Dup) => self.send(conn, publish(true)),
            Some(Again::SameId) => self.send(conn, publish(false)),
        }
        true
    }

    /// Ends a session with an MQTT 5 DISCONNECT carrying `reason` (as a server shutting down
    /// or taking over a session does); on 3.1.1 the connection is closed without one.
    pub fn disconnect_with(&mut self, conn: ConnId, reason: ReasonCode) {
        self.kick(conn, reason);
    }

    /// Closes a session's connection without a DISCONNECT, as a server that goes away does.
    pub fn drop_connection(&mut self, conn: ConnId) {
        self.effects.push(Effect::Close { conn });
        self.end_session(conn);
    }

    /// The connection currently holding `device` directly (not through a gateway).
    pub fn direct_session_of(&self, device: Uuid) -> Option<ConnId> {
        match self.holders.get(&device) {
            Some(Holder::Direct(conn)) => Some(*conn),
            _ => None,
        }
    }

    /// Publishes to a session at the QoS its subscriptions ask for (1 without one).
    /// Publishes to a session; the packet id when the publish is QoS 1 or 2.
    fn publish_to(&mut self, conn: ConnId, topic: String, payload: Vec<u8>) -> Option<u16> {
        let session = self.sessions.get_mut(&conn)?;
        let qos = session.qos_for(&topic);
        // Every publish takes an id, QoS 0 too (which does not carry it).
        let pid = session.next_pid();
        let pid = if qos > 0 { pid } else { 0 };
        self.send(
            conn,
            Outbound::Publish {
                topic,
                qos,
                pid,
                payload,
                dup: false,
            },
        );
        (qos > 0).then_some(pid)
    }

    // ----- pushing to devices -----------------------------------------------------

    /// Writes shared attributes (REST) and pushes them to the device's session.
    pub fn write_shared(&mut self, device: Uuid, values: &Object) {
        let now = self.now();
        let stored = self
            .store
            .device_mut(device)
            .set_attributes(Scope::Shared, values, now);
        let mut pushed = Object::with_capacity(stored.len());
        for (key, value) in &stored {
            pushed.insert(key.as_str(), tb_json(value));
        }
        if !pushed.is_empty() {
            self.push_attributes(device, AttributeChange::Updated(pushed));
        }
    }

    /// Deletes shared attributes (REST) and pushes the deletion.
    pub fn delete_shared(&mut self, device: Uuid, keys: &[String]) {
        for key in keys {
            self.store
                .device_mut(device)
                .remove_attribute(Scope::Shared, key);
        }
        if !keys.is_empty() {
            self.push_attributes(device, AttributeChange::Deleted(keys.to_vec()));
        }
    }

    /// The name a gateway session knows a sub-device by: the one it was connected under,
    /// even after a rename.
    fn name_in_gateway(&self, conn: ConnId, device: Uuid) -> Option<String> {
        let session = self.sessions.get(&conn)?;
        session
            .sub_devices
            .iter()
            .find(|(_, id)| **id == device)
            .map(|(name, _)| name.to_string())
    }

    fn push_attributes(&mut self, device: Uuid, change: AttributeChange) {
        match self.holders.get(&device).copied() {
            Some(Holder::Gateway(conn)) => {
                let Some(name) = self.name_in_gateway(conn, device) else {
                    return;
                };
                let update = Message::AttributeUpdate(AttributeUpdate {
                    device: name,
                    change,
                });
                let topic = "v1/gateway/attributes".to_owned();
                self.publish_to(conn, topic, update.encode().into_bytes());
            }
            Some(Holder::Direct(conn)) => {
                let topic = self.sessions.get(&conn).and_then(|s| s.attribute_topic);
                if let Some(topic) = topic.filter(|t| !device_topics::is_protobuf(t)) {
                    let payload = device_api::attribute_update_payload(&change);
                    self.publish_to(conn, topic.to_owned(), payload);
                }
            }
            None => {}
        }
    }

    /// Sends an RPC request to the device if it can take it now; `None` leaves it pending.
    /// It is DELIVERED at QoS 0 and SENT at QoS 1. A gateway's PUBACK is not correlated
    /// (AGDSC L110-120), so a call through a gateway stays SENT; a direct device's PUBACK of
    /// a persistent call makes it DELIVERED, and its absence for `transport.mqtt.timeout`
    /// TIMEOUT (`MqttTransportHandler.rpcAwaitingAck`).
    fn send_rpc(
        &mut self,
        call: Uuid,
        device: Uuid,
        id: i32,
        method: &str,
        params: &Value,
    ) -> Option<RpcStatus> {
        match self.holders.get(&device).copied() {
            Some(Holder::Gateway(conn)) => {
                let name = self.name_in_gateway(conn, device)?;
                let qos = self
                    .sessions
                    .get(&conn)
                    .map_or(0, |s| s.qos_for("v1/gateway/rpc"));
                let request = Message::RpcRequest(RpcRequest {
                    device: name,
                    id,
                    method: method.to_owned(),
                    params: codec_json(params),
                });
                self.publish_to(conn, "v1/gateway/rpc".into(), request.encode().into_bytes());
                Some(if qos > 0 {
                    RpcStatus::Sent
                } else {
                    RpcStatus::Delivered
                })
            }
            Some(Holder::Direct(conn)) => {
                let prefix = self.sessions.get(&conn).and_then(|s| s.rpc_prefix);
                let prefix = prefix.filter(|p| !device_topics::is_protobuf(p))?;
                let payload = json!({"method": method, "params": params}).to_string();
                let Some(pid) =
                    self.publish_to(conn, format!("{prefix}{id}"), payload.into_bytes())
                else {
                    return Some(RpcStatus::Delivered);
                };
                let expires_at = self.rpc.get(call).map_or(0, |c| c.expires_at);
                if self.rpc.persistent.contains_key(&call) {
                    let now = self.now();
                    let deadline =
                        expires_at.min(now.saturating_add(self.settings.mqtt_ack_timeout_ms));
                    if let Some(session) = self.sessions.get_mut(&conn) {
                        session.rpc_awaiting_ack.push((pid, call, deadline));
                    }
                }
                Some(RpcStatus::Sent)
            }
            None => None,
        }
    }

    /// A REST RPC: numbered per device from 0, sent now or when the device connects.
    pub fn submit_rpc(
        &mut self,
        call: Uuid,
        device: Uuid,
        method: &str,
        params: Value,
        oneway: bool,
        expires_at: i64,
    ) {
        if expires_at <= self.now() {
            return;
        }
        let id = self
            .rpc
            .add(call, device, method, params, oneway, expires_at);
        self.try_send_rpc(call, device, id);
    }

    /// A REST RPC with `"persistent": true`: kept as an `Rpc` entity whose status the
    /// device's sessions move on; it is QUEUED until sent, EXPIRED if it never could be.
    pub fn submit_persistent_rpc(&mut self, call: Uuid, device: Uuid, request: PersistentRequest) {
        let now = self.now();
        let status = if request.expires_at <= now {
            RpcStatus::Expired
        } else {
            RpcStatus::Queued
        };
        let (method, params) = (request.method.clone(), request.params.clone());
        let (oneway, expires_at) = (request.oneway, request.expires_at);
        let record = PersistentRpc {
            id: call,
            device,
            created_time: now,
            request,
            status,
            response: Value::Null,
        };
        self.rpc.persistent.insert(call, record);
        self.submit_rpc(call, device, &method, params, oneway, expires_at);
    }

    fn try_send_rpc(&mut self, call: Uuid, device: Uuid, id: i32) {
        let Some(pending) = self.rpc.get(call) else {
            return;
        };
        let (method, params, oneway) = (
            pending.method.clone(),
            pending.params.clone(),
            pending.oneway,
        );
        if let Some(status) = self.send_rpc(call, device, id, &method, &params) {
            self.rpc.set_status(call, status, None);
            // A persistent one-way call not known to have arrived stays to be sent again.
            let resend = status == RpcStatus::Sent && self.rpc.persistent.contains_key(&call);
            if oneway && !resend {
                self.rpc.remove(call);
                self.effects.push(Effect::RpcSettled {
                    call,
                    outcome: RpcOutcome::Delivered,
                });
            } else {
                self.rpc.mark_sent(call);
            }
        }
    }

    /// Sends every pending RPC of a device that just connected or subscribed (BURST).
    fn deliver_pending_rpc(&mut self, device: Uuid) {
        let now = self.now();
        for (call, id) in self.rpc.to_send(device, now) {
            self.try_send_rpc(call, device, id);
        }
    }

    /// A client's PUBACK: a persistent RPC it acknowledges is DELIVERED, and a one-way
    /// call has then ended.
    pub fn puback(&mut self, conn: ConnId, pid: u16) {
        let Some(session) = self.sessions.get_mut(&conn) else {
            return;
        };
        let Some(at) = session
            .rpc_awaiting_ack
            .iter()
            .position(|(p, ..)| *p == pid)
        else {
            return;
        };
        let (_, call, _) = session.rpc_awaiting_ack.remove(at);
        self.rpc.set_status(call, RpcStatus::Delivered, None);
        if self.rpc.get(call).is_some_and(|c| c.oneway) {
            self.rpc.remove(call);
        }
    }

    /// Persistent RPCs a direct device did not PUBACK in time: TIMEOUT, or FAILED once
    /// their retries are used up.
    fn time_out_unacknowledged_rpcs(&mut self, now: i64) {
        let mut due = Vec::new();
        for session in self.sessions.values_mut() {
            session.rpc_awaiting_ack.retain(|(_, call, deadline)| {
                let overdue = *deadline <= now;
                if overdue {
                    due.push(*call);
                }
                !overdue
            });
        }
        for call in due {
            self.rpc.time_out(call, self.settings.rpc_max_retries);
        }
    }

    /// The id a device's next server-side RPC gets (counted per device from 0).
    pub fn next_rpc_id(&self, device: Uuid) -> i32 {
        self.rpc.next_id(device)
    }

    /// The REST caller gave up (timeout): forget the call.
    pub fn expire_rpc(&mut self, call: Uuid) {
        self.rpc.remove(call);
    }

    /// A reply from a device: settles the call it answers, or is stale.
    fn rpc_reply(&mut self, device: Uuid, id: i32, data: String) -> bool {
        match self.rpc.answer(device, id) {
            Some(call) => {
                let response = serde_json::from_str(&data).unwrap_or(Value::String(data.clone()));
                self.rpc
                    .set_status(call, RpcStatus::Successful, Some(response));
                self.effects.push(Effect::RpcSettled {
                    call,
                    outcome: RpcOutcome::Replied(data),
                });
                true
            }
            None => false,
        }
    }
}

/// A random 20-character access token, as ThingsBoard generates.
fn new_token() -> String {
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let bytes = Uuid::new_v4().into_bytes();
    let more = Uuid::new_v4().into_bytes();
    bytes
        .iter()
        .chain(more.iter())
        .take(20)
        .map(|b| alphabet[usize::from(*b) % alphabet.len()] as char)
        .collect()
}

/// A stored value as ThingsBoard writes it back to a device (doubles in Java's spelling).
pub fn tb_json(value: &TbValue) -> Json {
    match value {
        TbValue::Boolean(b) => Json::Bool(*b),
        TbValue::Long(n) => Number::parse(&n.to_string()).map_or(Json::Null, Json::Number),
        TbValue::Double(x) => {
            Number::parse(&tbgw_codec::value::java_double(*x)).map_or(Json::Null, Json::Number)
        }
        TbValue::String(s) => Json::String(s.clone()),
        TbValue::Json(text) => tbgw_codec::parse_json(text).unwrap_or(Json::Null),
    }
}

/// A stored value as ThingsBoard's REST API returns it.
pub fn rest_json(value: &TbValue) -> Value {
    match value {
        TbValue::Boolean(b) => Value::Bool(*b),
        TbValue::Long(n) => Value::from(*n),
        TbValue::Double(x) => Value::from(*x),
        TbValue::String(s) => Value::String(s.clone()),
        TbValue::Json(text) => serde_json::from_str(text).unwrap_or(Value::Null),
    }
}

/// serde_json → the codec's JSON (numbers keep their text).
pub fn codec_json(value: &Value) -> Json {
    tbgw_codec::parse_json(&value.to_string()).unwrap_or(Json::Null)
}

#[cfg(test)]
mod tests {
    use super::clock::ManualClock;
    use super::*;

    #[test]
    fn a_core_cloned_onto_its_own_clock_keeps_its_devices_and_reads_that_clock() {
        let config = Config {
            gateways: vec![("Gateway".to_owned(), "GW_TOKEN".to_owned())],
            ..Config::default()
        };
        let core = Core::new(&config, Box::new(ManualClock::starting_at(1_000)));
        let own = ManualClock::starting_at(1_000);
        let mut copy = core.clone_with_clock(Box::new(own.clone()));
        assert_eq!(copy.now(), 1_000);
        own.advance(250);
        assert_eq!(copy.now(), 1_250);
        assert_eq!(core.now(), 1_000, "the original keeps its own clock");
        let id = core.device_by_name("Gateway").map(|d| d.id);
        assert!(id.is_some());
        assert_eq!(copy.device_by_name("Gateway").map(|d| d.id), id);
        assert_eq!(copy.tenant_id, core.tenant_id);
        assert!(copy.take_effects().is_empty());
    }
}
