//! The emulator's sans-IO core under a fuzzer (`fuzz/fuzz_targets/emulator_core.rs`, and the
//! regressions replayed by `harness/tests/emulator_core_fuzz.rs`): arbitrary interleavings of
//! MQTT packets from several connections (raw bytes, and mqtt-proto's own arbitrary packets
//! encoded), REST-side operations and clock advances, fed through the wire layer's decoder
//! into the core the way the tokio shell feeds it. What must hold, besides not panicking:
//!
//! - at most one PUBACK for each QoS 1 (or 2) PUBLISH;
//! - at most one session per device;
//! - the RPC ids a device is sent are strictly increasing (a re-delivery repeats one);
//! - every effect is addressed to a live connection.

use std::collections::{HashMap, HashSet};

use arbitrary::Arbitrary;
use serde_json::json;
use uuid::Uuid;

use super::core::clock::ManualClock;
use super::core::packets::{ConnId, Outbound, Version};
use super::core::{Config, Core, Effect};
use super::wire::{self, Inbound};

/// The tokens the script's CONNECTs use: two gateways, one direct device, one unknown.
const TOKENS: [&str; 4] = ["FUZZ_GW_A", "FUZZ_GW_B", "FUZZ_DEVICE", "WRONG"];
/// Topics a PUBLISH picks from (or any, from the bytes).
const TOPICS: [&str; 12] = [
    "v1/gateway/connect",
    "v1/gateway/disconnect",
    "v1/gateway/telemetry",
    "v1/gateway/attributes",
    "v1/gateway/attributes/request",
    "v1/gateway/rpc",
    "v1/gateway/claim",
    "v1/devices/me/telemetry",
    "v1/devices/me/attributes",
    "v1/devices/me/attributes/request/1",
    "v1/devices/me/rpc/response/0",
    "v1/devices/me/rpc/request/1",
];
/// Device names the structured payloads name.
const DEVICES: [&str; 3] = ["Fuzz A", "Fuzz B", "FUZZ_DEVICE"];

/// What the script does; an input is a list of these.
#[derive(Arbitrary, Debug)]
pub enum Op {
    /// Any bytes as one packet on a connection (the wire layer decodes them).
    Raw {
        conn: u8,
        bytes: Vec<u8>,
    },
    /// An MQTT 5 packet from mqtt-proto's `Arbitrary`, encoded.
    V5 {
        conn: u8,
        packet: Box<mqtt_proto::v5::Packet>,
    },
    /// An MQTT 3.1.1 packet from mqtt-proto's `Arbitrary`, encoded.
    V3 {
        conn: u8,
        packet: Box<mqtt_proto::v3::Packet>,
    },
    /// A CONNECT with one of the known tokens (the usual way in).
    Connect {
        conn: u8,
        token: u8,
        v5: bool,
        clean: bool,
    },
    /// A PUBLISH on a gateway or device topic: a payload that is a typed message half the time.
    Publish {
        conn: u8,
        topic: u8,
        qos: u8,
        pid: u16,
        dup: bool,
        payload: Payload,
    },
    /// The client's PUBACK for a publish the server sent.
    PubAck {
        conn: u8,
        pid: u16,
    },
    Subscribe {
        conn: u8,
        filter: u8,
    },
    /// The TCP connection closed (by the client or the network).
    Closed {
        conn: u8,
    },
    /// The clock moves and the core's timers run.
    Advance {
        ms: u16,
    },
    /// REST: shared attributes written to a device.
    WriteShared {
        device: u8,
        value: i32,
    },
    /// REST: a two-way or one-way RPC to a device, expiring after `timeout_ms`.
    Rpc {
        device: u8,
        oneway: bool,
        timeout_ms: u16,
    },
    /// REST: a device deleted.
    DeleteDevice {
        device: u8,
    },
}

#[derive(Arbitrary, Debug)]
pub enum Payload {
    Bytes(Vec<u8>),
    Message(tbgw_codec::Message),
    /// A well-formed gateway message naming one of the script's devices.
    Named {
        kind: u8,
        device: u8,
        value: i32,
    },
}

/// The whole script.
#[derive(Arbitrary, Debug)]
pub struct Script(pub Vec<Op>);

/// A connection's state as the shell knows it.
#[derive(Default)]
struct Conn {
    version: Option<Version>,
    closed: bool,
}

struct Run {
    core: Core,
    clock: ManualClock,
    conns: HashMap<ConnId, Conn>,
    /// QoS 1 and 2 publishes received and PUBACKs sent, by (connection, packet id).
    publishes: HashMap<(ConnId, u16), usize>,
    pubacks: HashMap<(ConnId, u16), usize>,
    /// The highest RPC id each device was sent, and every (device, id) seen.
    rpc_high: HashMap<Uuid, i64>,
    rpc_seen: HashSet<(Uuid, i64)>,
    /// Connections the shell closes once the core's answer is written (a refused CONNECT,
    /// a malformed packet, a DISCONNECT).
    closing: Vec<ConnId>,
}

/// When every script's clock starts.
const STARTS_AT_MS: i64 = 1_800_000_000_000;

/// The core every script starts from: two gateways and one direct device.
fn prepared_core() -> Core {
    let config = Config {
        gateways: vec![
            ("Fuzz Gateway A".to_owned(), TOKENS[0].to_owned()),
            ("Fuzz Gateway B".to_owned(), TOKENS[1].to_owned()),
        ],
        ..Config::default()
    };
    let mut core = Core::new(&config, Box::new(ManualClock::starting_at(STARTS_AT_MS)));
    let _ = core.create_device(
        "FUZZ_DEVICE",
        None,
        None,
        json!({}),
        Some(TOKENS[2].to_owned()),
    );
    let _ = core.take_effects();
    core
}

thread_local! {
    /// Built once per thread and copied for each script: building it (demo data, devices,
    /// random ids) was a tenth of the target's time and ran the same code every execution.
    static PREPARED: Core = prepared_core();
}

/// Plays the script; panics (the fuzzer's finding) when an invariant breaks.
pub fn run(script: &Script) {
    let clock = ManualClock::starting_at(STARTS_AT_MS);
    let core = PREPARED.with(|prepared| prepared.clone_with_clock(Box::new(clock.clone())));
    let mut run = Run {
        core,
        clock,
        conns: HashMap::new(),
        publishes: HashMap::new(),
        pubacks: HashMap::new(),
        rpc_high: HashMap::new(),
        rpc_seen: HashSet::new(),
        closing: Vec::new(),
    };
    for op in &script.0 {
        run.apply(op);
        let effects = run.core.take_effects();
        run.check(&effects);
        for conn in std::mem::take(&mut run.closing) {
            run.close(conn);
            let effects = run.core.take_effects();
            run.check(&effects);
        }
    }
}

fn conn_id(conn: u8) -> ConnId {
    // Four connections: enough for a session takeover and a gateway beside a device.
    u64::from(conn % 4) + 1
}

impl Run {
    fn apply(&mut self, op: &Op) {
        match op {
            Op::Raw { conn, bytes } => self.packet(conn_id(*conn), bytes),
            Op::V5 { conn, packet } => {
                if let Ok(bytes) = packet.encode() {
                    self.packet(conn_id(*conn), bytes.as_ref());
                }
            }
            Op::V3 { conn, packet } => {
                if let Ok(bytes) = packet.encode() {
                    self.packet(conn_id(*conn), bytes.as_ref());
                }
            }
            Op::Connect {
                conn,
                token,
                v5,
                clean,
            } => {
                let conn = conn_id(*conn);
                let version = if *v5 { Version::V5 } else { Version::V3 };
                let connect = super::core::packets::ConnectIn {
                    version,
                    client_id: format!("fuzz-{conn}"),
                    username: Some(TOKENS[usize::from(*token) % TOKENS.len()].to_owned()),
                    has_password: false,
                    clean: *clean,
                };
                self.connect(conn, version, connect);
            }
            Op::Publish {
                conn,
                topic,
                qos,
                pid,
                dup,
                payload,
            } => {
                let conn = conn_id(*conn);
                if self.connected(conn).is_none() {
                    return;
                }
                let qos = qos % 2;
                let publish = super::core::packets::PublishIn {
                    topic: TOPICS[usize::from(*topic) % TOPICS.len()].to_owned(),
                    qos,
                    pid: (qos > 0).then_some(*pid),
                    payload: payload_bytes(payload),
                    dup: *dup,
                };
                self.feed(conn, Inbound::Publish(publish));
            }
            Op::PubAck { conn, pid } => {
                let conn = conn_id(*conn);
                if self.connected(conn).is_some() {
                    self.feed(conn, Inbound::PubAck { pid: *pid });
                }
            }
            Op::Subscribe { conn, filter } => {
                let conn = conn_id(*conn);
                if self.connected(conn).is_some() {
                    let filter = [
                        "v1/gateway/rpc",
                        "v1/gateway/attributes",
                        "v1/devices/me/rpc/request/+",
                        "v1/devices/me/attributes",
                        "#",
                    ][usize::from(*filter) % 5];
                    self.feed(
                        conn,
                        Inbound::Subscribe {
                            pid: 1,
                            filters: vec![(filter.to_owned(), 1)],
                        },
                    );
                }
            }
            Op::Closed { conn } => {
                let conn = conn_id(*conn);
                if let Some(c) = self.conns.get_mut(&conn)
                    && !c.closed
                {
                    c.closed = true;
                    self.core.connection_closed(conn);
                }
            }
            Op::Advance { ms } => {
                self.clock.advance(i64::from(*ms) * 10);
                self.core.tick();
            }
            Op::WriteShared { device, value } => {
                if let Some(id) = self.device(*device) {
                    let mut values = tbgw_codec::Object::new();
                    values.insert("fuzz", tbgw_codec::Json::Number((*value).into()));
                    self.core.write_shared(id, &values);
                }
            }
            Op::Rpc {
                device,
                oneway,
                timeout_ms,
            } => {
                if let Some(id) = self.device(*device) {
                    let expires = self.core.now() + i64::from(*timeout_ms) + 1;
                    self.core.submit_rpc(
                        Uuid::new_v4(),
                        id,
                        "echo",
                        json!({"fuzz": true}),
                        *oneway,
                        expires,
                    );
                }
            }
            Op::DeleteDevice { device } => {
                if let Some(id) = self.device(*device) {
                    self.core.delete_device(id);
                }
            }
        }
    }

    fn device(&self, device: u8) -> Option<Uuid> {
        let name = DEVICES[usize::from(device) % DEVICES.len()];
        self.core.device_by_name(name).map(|d| d.id)
    }

    fn connected(&self, conn: ConnId) -> Option<Version> {
        self.conns
            .get(&conn)
            .filter(|c| !c.closed)
            .and_then(|c| c.version)
    }

    /// A whole packet from the client, as the shell's reader hands it on.
    fn packet(&mut self, conn: ConnId, bytes: &[u8]) {
        let state = self.conns.entry(conn).or_default();
        if state.closed {
            return;
        }
        let Some(version) = state.version else {
            // Before its CONNECT the shell only looks for a CONNECT.
            if let Some(version) = wire::connect_version(bytes)
                && let Ok(Inbound::Connect(connect)) = wire::decode(bytes, version)
            {
                self.connect(conn, version, connect);
            }
            return;
        };
        match wire::decode(bytes, version) {
            Ok(inbound) => self.feed(conn, inbound),
            Err(problem) => {
                self.core.malformed(conn, problem);
                self.closing.push(conn);
            }
        }
    }

    fn connect(
        &mut self,
        conn: ConnId,
        version: Version,
        connect: super::core::packets::ConnectIn,
    ) {
        let state = self.conns.entry(conn).or_default();
        if state.closed {
            return;
        }
        let accepted = if state.version.is_some() {
            self.core.connect_again(conn, connect)
        } else {
            self.core.connect(conn, connect)
        };
        if accepted {
            if let Some(c) = self.conns.get_mut(&conn) {
                c.version = Some(version);
            }
        } else {
            self.closing.push(conn);
        }
    }

    fn close(&mut self, conn: ConnId) {
        if let Some(c) = self.conns.get_mut(&conn)
            && !c.closed
        {
            c.closed = true;
            self.core.connection_closed(conn);
        }
    }

    /// The shell's dispatch of a decoded packet.
    fn feed(&mut self, conn: ConnId, inbound: Inbound) {
        match inbound {
            Inbound::Connect(connect) => {
                let version = connect.version;
                self.connect(conn, version, connect);
            }
            Inbound::Publish(publish) => {
                // ThingsBoard answers QoS 2 with a PUBACK too (no PUBREC): both count.
                if publish.qos >= 1
                    && let Some(pid) = publish.pid
                {
                    *self.publishes.entry((conn, pid)).or_default() += 1;
                }
                self.core.publish(conn, publish);
            }
            Inbound::Subscribe { pid, filters } => self.core.subscribe(conn, pid, filters),
            Inbound::Unsubscribe { pid, filters } => self.core.unsubscribe(conn, pid, filters),
            Inbound::PingReq => self.core.ping(conn),
            Inbound::Disconnect => {
                self.core.client_disconnect(conn);
                self.closing.push(conn);
            }
            Inbound::PubAck { pid } => self.core.puback(conn, pid),
            Inbound::Ignored => {}
        }
    }

    fn check(&mut self, effects: &[Effect]) {
        for effect in effects {
            let conn = match effect {
                Effect::Send { conn, .. } | Effect::Close { conn } => *conn,
                Effect::RpcSettled { .. } | Effect::Violation(_) => continue,
            };
            let live = self.conns.get(&conn).is_some_and(|c| !c.closed);
            assert!(
                live,
                "an effect for connection {conn}, which is not open: {effect:?}"
            );
            match effect {
                Effect::Close { conn } => {
                    if let Some(c) = self.conns.get_mut(conn) {
                        c.closed = true;
                    }
                    self.core.connection_closed(*conn);
                }
                Effect::Send {
                    conn,
                    packet: Outbound::PubAck { pid, .. },
                } => {
                    let acks = self.pubacks.entry((*conn, *pid)).or_default();
                    *acks += 1;
                    let publishes = self.publishes.get(&(*conn, *pid)).copied().unwrap_or(0);
                    assert!(
                        *acks <= publishes,
                        "{acks} PUBACKs for packet id {pid} on connection {conn}, which sent {publishes} QoS 1 or 2 PUBLISH(es) with it"
                    );
                }
                Effect::Send {
                    conn,
                    packet: Outbound::Publish { topic, payload, .. },
                } => self.check_rpc_id(*conn, topic, payload),
                _ => {}
            }
        }
        // The closes above may have produced effects of their own (a gateway's devices
        // disconnected): they are checked too.
        let more = self.core.take_effects();
        if !more.is_empty() {
            self.check(&more);
        }
        self.check_one_session_per_device();
    }

    fn check_rpc_id(&mut self, conn: ConnId, topic: &str, payload: &[u8]) {
        let Ok(value) = serde_json::from_slice::<serde_json::Value>(payload) else {
            return;
        };
        let (device, id) = if topic == "v1/gateway/rpc" {
            let device = value
                .get("device")
                .and_then(|d| d.as_str())
                .and_then(|name| self.core.device_by_name(name))
                .map(|d| d.id);
            let id = value
                .get("data")
                .and_then(|d| d.get("id"))
                .and_then(|i| i.as_i64());
            (device, id)
        } else if let Some(id) = topic
            .rsplit('/')
            .next()
            .filter(|_| topic.contains("/rpc/request/"))
        {
            let device = self.core.session(conn).map(|s| s.device);
            (device, id.parse().ok())
        } else {
            return;
        };
        let (Some(device), Some(id)) = (device, id) else {
            return;
        };
        if !self.rpc_seen.insert((device, id)) {
            return; // a re-delivery
        }
        let high = self.rpc_high.entry(device).or_insert(i64::MIN);
        assert!(
            id > *high,
            "RPC id {id} sent to device {device} after id {high}: ids must increase"
        );
        *high = id;
    }

    fn check_one_session_per_device(&self) {
        let mut holders: HashMap<Uuid, ConnId> = HashMap::new();
        for (conn, state) in &self.conns {
            if state.closed {
                continue;
            }
            if let Some(session) = self.core.session(*conn)
                && let Some(other) = holders.insert(session.device, *conn)
            {
                panic!(
                    "device {} has two sessions: connections {other} and {conn}",
                    session.device_name
                );
            }
        }
    }
}

fn payload_bytes(payload: &Payload) -> Vec<u8> {
    match payload {
        Payload::Bytes(bytes) => bytes.clone(),
        Payload::Message(message) => message.encode().into_bytes(),
        Payload::Named {
            kind,
            device,
            value,
        } => {
            let device = DEVICES[usize::from(*device) % DEVICES.len()];
            let text = match kind % 6 {
                0 => json!({"device": device, "type": "fuzz"}),
                1 => json!({"device": device}),
                2 => {
                    json!({device: [{"ts": 1_800_000_000_000i64 + i64::from(*value), "values": {"v": value}}]})
                }
                3 => json!({device: {"v": value}}),
                4 => json!({"device": device, "id": value % 4, "data": {"ok": true}}),
                _ => json!({"id": value, "device": device, "client": false, "key": "v"}),
            };
            text.to_string().into_bytes()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arbitrary::Unstructured;

    /// Scripts from a fixed stream of pseudo-random bytes: the oracle runs, on real states.
    #[test]
    fn random_scripts_keep_every_invariant() {
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        for _ in 0..300 {
            let bytes: Vec<u8> = (0..2048)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    (state >> 24) as u8
                })
                .collect();
            let mut u = Unstructured::new(&bytes);
            if let Ok(script) = Script::arbitrary(&mut u) {
                run(&script);
            }
        }
    }

    #[test]
    fn a_gateway_session_with_an_rpc_and_a_takeover_keeps_every_invariant() {
        let named = |kind, device| Payload::Named {
            kind,
            device,
            value: 1,
        };
        run(&Script(vec![
            Op::Connect {
                conn: 0,
                token: 0,
                v5: true,
                clean: true,
            },
            Op::Subscribe { conn: 0, filter: 0 },
            Op::Publish {
                conn: 0,
                topic: 0,
                qos: 1,
                pid: 7,
                dup: false,
                payload: named(0, 0),
            },
            Op::Rpc {
                device: 0,
                oneway: false,
                timeout_ms: 500,
            },
            Op::Rpc {
                device: 0,
                oneway: false,
                timeout_ms: 500,
            },
            Op::Publish {
                conn: 0,
                topic: 5,
                qos: 1,
                pid: 8,
                dup: false,
                payload: named(4, 0),
            },
            // The same gateway again on another connection: the first session is taken over.
            Op::Connect {
                conn: 1,
                token: 0,
                v5: false,
                clean: true,
            },
            Op::Advance { ms: 1000 },
            Op::Rpc {
                device: 0,
                oneway: true,
                timeout_ms: 10,
            },
            Op::DeleteDevice { device: 0 },
            Op::Closed { conn: 1 },
        ]));
    }

    #[test]
    #[should_panic(expected = "PUBACKs for packet id 9")]
    fn a_second_puback_for_one_publish_is_caught() {
        let clock = ManualClock::starting_at(0);
        let mut r = Run {
            core: Core::new(&Config::default(), Box::new(clock.clone())),
            clock,
            conns: HashMap::from([(
                conn_id(0),
                Conn {
                    version: Some(Version::V5),
                    closed: false,
                },
            )]),
            publishes: HashMap::from([((conn_id(0), 9), 1)]),
            pubacks: HashMap::new(),
            rpc_high: HashMap::new(),
            rpc_seen: HashSet::new(),
            closing: Vec::new(),
        };
        let ack = Effect::Send {
            conn: conn_id(0),
            packet: Outbound::PubAck {
                pid: 9,
                reason: tbgw_codec::ReasonCode(0),
            },
        };
        r.check(&[ack.clone(), ack]);
    }
}
