//! One gateway's MQTT connection under load. Lean on purpose: unlike the conformance
//! client (`crate::mqtt::client`), it keeps no inbox and no wire log, only what the load
//! needs: the send time of each QoS 1 PUBLISH by packet id, the PUBACK latency histogram,
//! which messages were acknowledged, and errors by kind. It answers the platform's RPC
//! requests at once with an echo of their params, so that the REST side can check that each
//! reply reached its own call. Packets are framed and read with the harness's MQTT helpers.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hdrhistogram::Histogram;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::result::new_histogram;
use crate::mqtt::Version;
use crate::mqtt::frame::{self, Frame};
use crate::mqtt::packet::{self, Incoming, Outgoing};

/// How long the platform may take to answer a CONNECT or a SUBSCRIBE.
const ANSWER: Duration = Duration::from_secs(10);
/// More in-flight messages than this would reuse packet ids still awaiting their PUBACK.
pub const MAX_IN_FLIGHT: usize = 60_000;

/// Counters every connection of a run adds to, read by the progress line.
#[derive(Debug, Default)]
pub struct Counters {
    pub sent: AtomicU64,
    pub acknowledged: AtomicU64,
}

#[derive(Clone, Copy, Debug)]
enum Kind {
    /// The timed load's message number `n`.
    Telemetry(u64),
    /// A device announced before the timed phase (not measured).
    Announce,
}

struct Pending {
    since: Instant,
    kind: Kind,
}

/// What the reader and the senders share.
struct State {
    pending: HashMap<u16, Pending>,
    next_pid: u16,
    histogram: Histogram<u64>,
    /// Telemetry messages written.
    sent: u64,
    acknowledged: Vec<u64>,
    errors: BTreeMap<String, u64>,
    /// Set when the connection ended; `closing` marks our own DISCONNECT.
    closed: Option<String>,
    closing: bool,
    /// A SUBACK arrived.
    subscribed: bool,
    /// The `tbgwLoad` markers of the shared-attribute pushes received, by device.
    pushes: Vec<(String, u64)>,
}

impl State {
    fn error(&mut self, kind: String) {
        *self.errors.entry(kind).or_default() += 1;
    }

    /// A packet id not awaiting a PUBACK (never 0).
    fn take_pid(&mut self) -> u16 {
        loop {
            let pid = self.next_pid;
            self.next_pid = self.next_pid.wrapping_add(1).max(1);
            if !self.pending.contains_key(&pid) {
                return pid;
            }
        }
    }
}

/// What a connection measured, once it has ended.
pub struct Measured {
    pub histogram: Histogram<u64>,
    /// Telemetry messages written.
    pub sent: u64,
    /// The numbers of the telemetry messages the platform acknowledged with success.
    pub acknowledged: Vec<u64>,
    /// Telemetry messages still awaiting their PUBACK at the end.
    pub unanswered: u64,
    /// The shared-attribute pushes received: (device, the `tbgwLoad` marker).
    pub pushes: Vec<(String, u64)>,
    pub errors: BTreeMap<String, u64>,
}

/// What the senders and the reader of one connection share.
struct Link {
    version: Version,
    writer: tokio::sync::Mutex<OwnedWriteHalf>,
    state: Mutex<State>,
    /// In-flight messages allowed: the window of a closed loop, else [`MAX_IN_FLIGHT`].
    window: Semaphore,
    /// Notified on every PUBACK and SUBACK, for [`GatewayConnection::drain`].
    acked: Notify,
    counters: Arc<Counters>,
}

pub struct GatewayConnection {
    name: String,
    link: Arc<Link>,
    reader: JoinHandle<()>,
}

impl Drop for GatewayConnection {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

fn lock(state: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl GatewayConnection {
    /// Connects as the gateway with this access token; an error says what the platform
    /// answered (exit 3 for the run).
    pub async fn connect(
        addr: &str,
        name: &str,
        token: &str,
        version: Version,
        window: usize,
        counters: Arc<Counters>,
    ) -> Result<GatewayConnection, String> {
        let stream = tokio::time::timeout(ANSWER, TcpStream::connect(addr))
            .await
            .map_err(|_| {
                format!(
                    "cannot connect to MQTT at {addr}: no answer within {} s",
                    ANSWER.as_secs()
                )
            })?
            .map_err(|e| format!("cannot connect to MQTT at {addr}: {e}"))?;
        let _ = stream.set_nodelay(true);
        let (mut read, mut write) = stream.into_split();
        let connect = Outgoing::Connect {
            client_id: name.to_owned(),
            username: Some(token.to_owned()),
            password: None,
            clean: true,
        };
        let bytes = packet::encode(&connect, version)?;
        write
            .write_all(&bytes)
            .await
            .map_err(|e| format!("{addr} closed the connection of gateway {name}: {e}"))?;
        let mut buf = Vec::with_capacity(4096);
        let first = tokio::time::timeout(ANSWER, next_packet(&mut read, &mut buf))
            .await
            .map_err(|_| {
                format!(
                    "{addr} did not answer the CONNECT of gateway {name} within {} s",
                    ANSWER.as_secs()
                )
            })??;
        match packet::decode(&first, version) {
            Incoming::ConnAck { code: 0, .. } => {}
            Incoming::ConnAck { code, .. } => {
                return Err(format!(
                    "{addr} refused gateway {name} (token {token:?}): CONNACK 0x{code:02X}"
                ));
            }
            other => {
                return Err(format!(
                    "{addr} answered the CONNECT of {name} with {other}"
                ));
            }
        }
        let state = Mutex::new(State {
            pending: HashMap::new(),
            next_pid: 1,
            histogram: new_histogram(),
            sent: 0,
            acknowledged: Vec::new(),
            errors: BTreeMap::new(),
            closed: None,
            closing: false,
            subscribed: false,
            pushes: Vec::new(),
        });
        let link = Arc::new(Link {
            version,
            writer: tokio::sync::Mutex::new(write),
            state,
            window: Semaphore::new(window.clamp(1, MAX_IN_FLIGHT)),
            acked: Notify::new(),
            counters,
        });
        let reader = tokio::spawn(read_loop(read, buf, Arc::clone(&link)));
        Ok(GatewayConnection {
            name: name.to_owned(),
            link,
            reader,
        })
    }

    /// Waits until `count` shared-attribute pushes have arrived, the connection ends, or
    /// `deadline`.
    pub async fn wait_for_pushes(&self, count: usize, deadline: Instant) {
        self.wait_until(deadline, |state| {
            state.pushes.len() >= count || state.closed.is_some()
        })
        .await;
    }

    /// Waits, woken by each PUBACK, SUBACK or push, until `done` holds for the state or
    /// `deadline` passes; whether it held.
    async fn wait_until(&self, deadline: Instant, done: impl Fn(&State) -> bool) -> bool {
        loop {
            // Created before the check, so a wake-up between the two is not lost.
            let notified = self.link.acked.notified();
            if done(&lock(&self.link.state)) {
                return true;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return false;
            }
        }
    }

    pub fn is_closed(&self) -> bool {
        lock(&self.link.state).closed.is_some()
    }

    /// Subscribes to the platform's RPC requests and waits for the SUBACK.
    pub async fn subscribe_rpc(&self) -> Result<(), String> {
        let subscribe = Outgoing::Subscribe {
            pid: lock(&self.link.state).take_pid(),
            filters: vec![("v1/gateway/rpc".to_owned(), 1)],
        };
        self.write(&packet::encode(&subscribe, self.link.version)?)
            .await?;
        let deadline = Instant::now() + ANSWER;
        if self.wait_until(deadline, |state| state.subscribed).await {
            Ok(())
        } else {
            Err(format!(
                "gateway {}: no SUBACK for v1/gateway/rpc within {} s",
                self.name,
                ANSWER.as_secs()
            ))
        }
    }

    /// Publishes one QoS 1 message once the window allows; `since` is when it was meant to
    /// go (an open loop measures latency from there, so a stalled platform is not hidden).
    async fn publish(
        &self,
        topic: &str,
        payload: &[u8],
        kind: Kind,
        since: Instant,
    ) -> Result<(), String> {
        let permit = self
            .link
            .window
            .acquire()
            .await
            .map_err(|_| format!("gateway {}: the connection ended", self.name))?;
        permit.forget();
        let pid = {
            let mut state = lock(&self.link.state);
            if let Some(how) = &state.closed {
                return Err(format!("gateway {}: {how}", self.name));
            }
            let pid = state.take_pid();
            state.pending.insert(pid, Pending { since, kind });
            pid
        };
        let bytes = publish_bytes(topic, pid, payload, self.link.version);
        self.write(&bytes).await?;
        if matches!(kind, Kind::Telemetry(_)) {
            lock(&self.link.state).sent += 1;
            self.link.counters.sent.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }

    pub async fn publish_telemetry(
        &self,
        n: u64,
        payload: &[u8],
        since: Instant,
    ) -> Result<(), String> {
        self.publish("v1/gateway/telemetry", payload, Kind::Telemetry(n), since)
            .await
    }

    /// Announces a device (`v1/gateway/connect`), acknowledged before the timed phase.
    pub async fn announce(&self, device: &str) -> Result<(), String> {
        let payload = serde_json::json!({ "device": device }).to_string();
        self.publish(
            "v1/gateway/connect",
            payload.as_bytes(),
            Kind::Announce,
            Instant::now(),
        )
        .await
    }

    async fn write(&self, bytes: &[u8]) -> Result<(), String> {
        let mut writer = self.link.writer.lock().await;
        writer
            .write_all(bytes)
            .await
            .map_err(|e| format!("gateway {}: cannot send: {e}", self.name))
    }

    /// Waits until every message in flight is answered, the connection ends, or `deadline`.
    pub async fn drain(&self, deadline: Instant) {
        self.wait_until(deadline, |state| {
            state.pending.is_empty() || state.closed.is_some()
        })
        .await;
    }

    /// Sends DISCONNECT, waits (briefly) for the platform to close, and hands over what
    /// was measured.
    pub async fn finish(mut self) -> Measured {
        lock(&self.link.state).closing = true;
        if let Ok(bytes) = packet::encode(&Outgoing::Disconnect, self.link.version) {
            let _ = self.write(&bytes).await;
        }
        let _ = self.link.writer.lock().await.shutdown().await;
        // Whatever the platform sends before it closes (ThingsBoard's DISCONNECT echo) is
        // read, so that the outcome does not depend on timing.
        let _ = tokio::time::timeout(ANSWER, &mut self.reader).await;
        let mut state = lock(&self.link.state);
        let unanswered = state
            .pending
            .values()
            .filter(|p| matches!(p.kind, Kind::Telemetry(_)))
            .count() as u64;
        if unanswered > 0 {
            *state
                .errors
                .entry("no PUBACK before the end".into())
                .or_default() += unanswered;
        }
        Measured {
            histogram: std::mem::replace(&mut state.histogram, new_histogram()),
            sent: state.sent,
            pushes: std::mem::take(&mut state.pushes),
            acknowledged: std::mem::take(&mut state.acknowledged),
            unanswered,
            errors: std::mem::take(&mut state.errors),
        }
    }
}

/// A QoS 1 PUBLISH written directly: fixed header, topic, packet id, (MQTT 5: no
/// properties), payload.
fn publish_bytes(topic: &str, pid: u16, payload: &[u8], version: Version) -> Vec<u8> {
    let mut body = Vec::with_capacity(topic.len() + payload.len() + 5);
    body.extend_from_slice(&(topic.len() as u16).to_be_bytes());
    body.extend_from_slice(topic.as_bytes());
    body.extend_from_slice(&pid.to_be_bytes());
    if version == Version::V5 {
        body.push(0);
    }
    body.extend_from_slice(payload);
    frame::packet(0x32, &body)
}

/// Reads until one whole packet is in `buf`; returns it and keeps the rest.
async fn next_packet(read: &mut OwnedReadHalf, buf: &mut Vec<u8>) -> Result<Vec<u8>, String> {
    let mut chunk = [0u8; 4096];
    loop {
        match frame::next_frame(buf, MAX_SERVER_PACKET) {
            Frame::Complete(len) => return Ok(buf.drain(..len).collect()),
            Frame::TooLarge(_) | Frame::Invalid => {
                return Err("the server sent a packet with an unreadable length".into());
            }
            Frame::Incomplete => {}
        }
        let n = read
            .read(&mut chunk)
            .await
            .map_err(|e| format!("the connection broke: {e}"))?;
        if n == 0 {
            return Err("the server closed the connection".into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

const MAX_SERVER_PACKET: usize = 16 * 1024 * 1024;

impl Link {
    fn puback(&self, pid: u16, code: Option<u8>) {
        let mut state = lock(&self.state);
        let Some(pending) = state.pending.remove(&pid) else {
            state.error(format!("PUBACK for packet id {pid} that was not in flight"));
            return;
        };
        // Reason codes below 0x80 are success (a broker's 0x10 "no matching subscribers").
        match (code.unwrap_or(0), pending.kind) {
            (0x00..0x80, Kind::Telemetry(n)) => {
                let micros = pending.since.elapsed().as_micros();
                let _ = state
                    .histogram
                    .record(u64::try_from(micros).unwrap_or(u64::MAX).max(1));
                state.acknowledged.push(n);
                self.counters.acknowledged.fetch_add(1, Ordering::Relaxed);
            }
            (0x00..0x80, Kind::Announce) => {}
            (code, _) => state.error(format!("PUBACK 0x{code:02X}")),
        }
        drop(state);
        self.window.add_permits(1);
        self.acked.notify_waiters();
    }

    /// A shared-attribute push: its `tbgwLoad` marker is noted for the end's comparison.
    fn push(&self, payload: &[u8]) {
        let update: serde_json::Value = serde_json::from_slice(payload).unwrap_or_default();
        let device = update.get("device").and_then(|d| d.as_str());
        let marker = update.pointer("/data/tbgwLoad").and_then(|m| m.as_u64());
        if let (Some(device), Some(marker)) = (device, marker) {
            lock(&self.state).pushes.push((device.to_owned(), marker));
            self.acked.notify_waiters();
        }
    }

    /// An RPC request: answered at once with `{"echo": params}` on `v1/gateway/rpc`.
    async fn rpc(&self, payload: &[u8]) {
        let request: serde_json::Value = serde_json::from_slice(payload).unwrap_or_default();
        let (Some(device), Some(id)) = (
            request.get("device").and_then(|d| d.as_str()),
            request.pointer("/data/id").and_then(|i| i.as_i64()),
        ) else {
            lock(&self.state).error("an RPC request without device or data.id".into());
            return;
        };
        let params = request.pointer("/data/params").cloned().unwrap_or_default();
        let reply = serde_json::json!({"device": device, "id": id, "data": {"echo": params}});
        let publish = Outgoing::Publish {
            topic: "v1/gateway/rpc".into(),
            qos: 0,
            pid: 0,
            dup: false,
            payload: reply.to_string().into_bytes(),
        };
        if let Ok(bytes) = packet::encode(&publish, self.version) {
            let _ = self.writer.lock().await.write_all(&bytes).await;
        }
    }

    async fn handle(&self, bytes: &[u8]) -> bool {
        // The hot path: a PUBACK (short, or with a reason code on MQTT 5).
        if bytes.first() == Some(&0x40) && bytes.len() >= 4 {
            let pid = u16::from_be_bytes([bytes[2], bytes[3]]);
            let code = (self.version == Version::V5).then(|| bytes.get(4).copied().unwrap_or(0));
            self.puback(pid, code);
            return true;
        }
        match packet::decode(bytes, self.version) {
            Incoming::Publish {
                topic,
                qos,
                pid,
                payload,
                ..
            } => {
                if let (1, Some(pid)) = (qos, pid)
                    && let Ok(ack) = packet::encode(&Outgoing::PubAck { pid }, self.version)
                {
                    let _ = self.writer.lock().await.write_all(&ack).await;
                }
                if topic == "v1/gateway/rpc" {
                    self.rpc(&payload).await;
                } else if topic == "v1/gateway/attributes" {
                    self.push(&payload);
                }
                true
            }
            Incoming::SubAck { .. } => {
                lock(&self.state).subscribed = true;
                self.acked.notify_waiters();
                true
            }
            Incoming::Disconnect { code } => {
                // ThingsBoard echoes our own DISCONNECT with 0x00 (reference §2): not an error.
                let mut state = lock(&self.state);
                if !state.closing {
                    state.error(format!("DISCONNECT 0x{code:02X} from the platform"));
                }
                false
            }
            _ => true,
        }
    }
}

async fn read_loop(mut read: OwnedReadHalf, mut buf: Vec<u8>, reader: Arc<Link>) {
    let mut chunk = vec![0u8; 64 * 1024];
    let how = 'outer: loop {
        loop {
            match frame::next_frame(&buf, MAX_SERVER_PACKET) {
                Frame::Incomplete => break,
                Frame::Complete(len) => {
                    let bytes: Vec<u8> = buf.drain(..len).collect();
                    if !reader.handle(&bytes).await {
                        break 'outer "the platform sent DISCONNECT".to_owned();
                    }
                }
                Frame::TooLarge(_) | Frame::Invalid => {
                    break 'outer "the platform sent a packet with an unreadable length".to_owned();
                }
            }
        }
        match read.read(&mut chunk).await {
            Ok(0) => break "the platform closed the connection".to_owned(),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) => break format!("the connection broke: {e}"),
        }
    };
    let mut state = lock(&reader.state);
    if !state.closing {
        state.error(format!("connection ended: {how}"));
    }
    state.closed = Some(how);
    drop(state);
    // Senders waiting for the window must see the end.
    reader.window.close();
    reader.acked.notify_waiters();
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    /// A platform that accepts one MQTT 5 gateway, answers its CONNECT, and then does
    /// `after_connect` with the socket.
    async fn platform<F, Fut>(after_connect: F) -> String
    where
        F: FnOnce(TcpStream) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()> + Send,
    {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.expect("accept");
            let mut connect = [0u8; 256];
            let _ = socket.read(&mut connect).await;
            let _ = socket.write_all(&[0x20, 0x03, 0x00, 0x00, 0x00]).await;
            after_connect(socket).await;
        });
        addr
    }

    async fn gateway(addr: &str) -> GatewayConnection {
        let counters = Arc::new(Counters::default());
        GatewayConnection::connect(addr, "gw", "token", Version::V5, 1, counters)
            .await
            .expect("connected")
    }

    /// The bug: ThingsBoard echoes the gateway's DISCONNECT with 0x00, and when the echo
    /// arrived before the reader stopped, the load counted it as an error.
    #[tokio::test]
    async fn the_platforms_echo_of_our_own_disconnect_is_not_an_error() {
        let addr = platform(|mut socket| async move {
            let mut disconnect = [0u8; 2];
            let _ = socket.read_exact(&mut disconnect).await;
            let _ = socket.write_all(&[0xE0, 0x01, 0x00]).await;
        })
        .await;
        let measured = gateway(&addr).await.finish().await;
        assert!(measured.errors.is_empty(), "{:?}", measured.errors);
    }

    #[tokio::test]
    async fn a_disconnect_the_platform_sends_on_its_own_is_an_error() {
        let addr = platform(|mut socket| async move {
            let _ = socket.write_all(&[0xE0, 0x01, 0x8E]).await;
        })
        .await;
        let connection = gateway(&addr).await;
        connection.drain(Instant::now() + ANSWER).await;
        let waited = tokio::time::timeout(ANSWER, async {
            while !connection.is_closed() {
                tokio::task::yield_now().await;
            }
        })
        .await;
        assert!(waited.is_ok(), "the connection never ended");
        let measured = connection.finish().await;
        assert_eq!(
            measured.errors.get("DISCONNECT 0x8E from the platform"),
            Some(&1),
            "{:?}",
            measured.errors
        );
    }
}
