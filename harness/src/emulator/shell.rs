//! The tokio side of the emulator: the running [`Emulator`], and what its MQTT and REST
//! servers share (the core behind one lock, the connections' writers, the REST calls
//! waiting for an RPC).

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::net::TcpListener;
use tokio::sync::{Notify, broadcast, mpsc, oneshot};
use tokio::task::JoinHandle;
use uuid::Uuid;

use super::core::clock::{Clock, SystemClock};
use super::core::packets::{ConnId, Outbound, Version};
use super::core::rpc::RpcOutcome;
use super::core::{Config, Core, Effect, Violation};
use super::mqtt::Outgoing;

/// Where and how to start.
pub struct Options {
    pub mqtt: SocketAddr,
    pub http: SocketAddr,
    pub config: Config,
    pub clock: Box<dyn Clock>,
    /// Say on stderr, one line each, which REST requests the emulator does not serve
    /// (`tbgw serve` does; a suite run keeps its console clean).
    pub log_unserved: bool,
}

impl Options {
    /// Free ports on 127.0.0.1, the system clock, no gateway provisioned.
    pub fn ephemeral() -> Options {
        Options {
            mqtt: SocketAddr::from(([127, 0, 0, 1], 0)),
            http: SocketAddr::from(([127, 0, 0, 1], 0)),
            config: Config::default(),
            clock: Box::new(SystemClock),
            log_unserved: false,
        }
    }
}

/// A port could not be bound.
#[derive(Debug)]
pub struct StartError {
    pub what: &'static str,
    pub addr: SocketAddr,
    pub source: std::io::Error,
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot listen for {} on {}: {}; choose another address (port 0 picks a free one)",
            self.what, self.addr, self.source
        )
    }
}

impl std::error::Error for StartError {}

/// One MQTT event on the emulator's connections, for observers such as `check-gateway`
/// (which decodes everything a gateway sends).
#[derive(Clone, Debug, PartialEq)]
pub enum Traffic {
    /// A CONNECT was answered: `accepted` when the access token was known.
    Connected {
        conn: ConnId,
        username: Option<String>,
        version: Version,
        accepted: bool,
    },
    Subscribed {
        conn: ConnId,
        filters: Vec<(String, u8)>,
    },
    /// A client published this (`dup`: a re-delivery of a QoS 1 message).
    Published {
        conn: ConnId,
        topic: String,
        qos: u8,
        payload: Vec<u8>,
        dup: bool,
    },
    /// The emulator published this to a client.
    Delivered {
        conn: ConnId,
        topic: String,
        qos: u8,
        payload: Vec<u8>,
    },
    /// A whole packet on the wire, either way, as the bytes were: `from_client` for what the
    /// client sent. Comes before the event it leads to (a CONNECT before `Connected`).
    Packet {
        conn: ConnId,
        from_client: bool,
        bytes: Vec<u8>,
    },
    /// The connection ended: `by_client` when the client closed it (or it broke), else the
    /// emulator did.
    Closed { conn: ConnId, by_client: bool },
    /// The client stopped reading its socket: `queued` messages waited for it, and the
    /// emulator closes it (comes before its `Closed`).
    StoppedReading { conn: ConnId, queued: usize },
}

/// A running emulator; dropping it stops its servers.
pub struct Emulator {
    pub mqtt_addr: SocketAddr,
    pub http_addr: SocketAddr,
    shared: Arc<Shared>,
    tasks: Vec<JoinHandle<()>>,
}

impl Emulator {
    pub async fn start(options: Options) -> Result<Emulator, StartError> {
        let bind = |what: &'static str, addr: SocketAddr| async move {
            TcpListener::bind(addr)
                .await
                .map_err(|source| StartError { what, addr, source })
        };
        let mqtt = bind("MQTT", options.mqtt).await?;
        let http = bind("HTTP", options.http).await?;
        let local = |listener: &TcpListener, what, addr| {
            listener
                .local_addr()
                .map_err(|source| StartError { what, addr, source })
        };
        let mqtt_addr = local(&mqtt, "MQTT", options.mqtt)?;
        let http_addr = local(&http, "HTTP", options.http)?;
        let mut shared = Shared::new(Core::new(&options.config, options.clock));
        shared.log_unserved = options.log_unserved;
        let shared = Arc::new(shared);
        let mqtt_task = tokio::spawn(super::mqtt::accept_loop(mqtt, shared.clone()));
        let tick_every = options.config.settings.tick_interval_ms();
        let timers_task = tokio::spawn(run_timers(shared.clone(), tick_every));
        let app = super::rest::router(shared.clone());
        let http_task = tokio::spawn(async move {
            if let Err(error) = axum::serve(http, app).await {
                crate::errln!("tbgw serve: the HTTP server stopped: {error}");
            }
        });
        Ok(Emulator {
            mqtt_addr,
            http_addr,
            shared,
            tasks: vec![mqtt_task, http_task, timers_task],
        })
    }

    /// Every violation seen so far, oldest first.
    pub fn violations(&self) -> Vec<Violation> {
        lock(&self.shared.violations).clone()
    }

    /// Violations as they happen.
    pub fn watch_violations(&self) -> broadcast::Receiver<Violation> {
        self.shared.violation_tx.subscribe()
    }

    /// Runs `f` on the core (for tests and in-process tools); effects are carried out.
    pub fn with_core<R>(&self, f: impl FnOnce(&mut Core) -> R) -> R {
        self.shared.with_core(f)
    }

    /// Every MQTT event from now on, none lost (the channel is unbounded: drain it).
    pub fn watch_traffic(&self) -> mpsc::UnboundedReceiver<Traffic> {
        let (tx, rx) = mpsc::unbounded_channel();
        lock(&self.shared.observers).push(tx);
        rx
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// ThingsBoard's timers (session expiry, the client-side RPC timeout, the device-state
/// check), run on the core's clock as often as ThingsBoard checks them.
async fn run_timers(shared: Arc<Shared>, every_ms: i64) {
    let every = std::time::Duration::from_millis(u64::try_from(every_ms).unwrap_or(1000));
    let mut interval = tokio::time::interval(every);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        interval.tick().await;
        shared.with_core(|core| core.tick());
    }
}

/// The MQTT shell's limits, from ThingsBoard's settings.
#[derive(Clone, Copy, Debug)]
pub(crate) struct WireLimits {
    /// `transport.mqtt.netty.max_payload_size`.
    pub max_packet: usize,
    /// `transport.mqtt.msg_queue_size_per_device_limit`.
    pub queued_before_connect: usize,
    /// Messages waiting for a client that does not read before it is dropped (mosquitto's
    /// `max_queued_messages` default; ThingsBoard's netty would buffer without end).
    pub queued_outgoing: usize,
}

/// Messages the emulator keeps for a client that does not read: mosquitto's default.
const MAX_QUEUED_OUTGOING: usize = 1000;

struct Connection {
    tx: mpsc::UnboundedSender<Outgoing>,
    /// Messages handed to the writer and not yet written (the writer counts them down).
    queued: Arc<AtomicUsize>,
    /// Stops the writer at once, even in the middle of a write the client never reads.
    stop_writer: Arc<Notify>,
    version: Option<Version>,
    open: bool,
}

/// What a connection's writer task shares with the server: how many messages wait for it,
/// and the signal that stops it.
#[derive(Clone, Default)]
pub(crate) struct WriterState {
    pub queued: Arc<AtomicUsize>,
    pub stop: Arc<Notify>,
}

/// What the servers share: the core behind one lock, the connections' writers, and the
/// REST calls waiting for an RPC.
pub struct Shared {
    core: Mutex<Core>,
    connections: Mutex<HashMap<ConnId, Connection>>,
    rpc_waiters: Mutex<HashMap<Uuid, oneshot::Sender<RpcOutcome>>>,
    violations: Mutex<Vec<Violation>>,
    violation_tx: broadcast::Sender<Violation>,
    observers: Mutex<Vec<mpsc::UnboundedSender<Traffic>>>,
    next_conn: AtomicU64,
    pub(crate) auth: super::rest::auth::Tokens,
    pub(crate) limits: WireLimits,
    pub(crate) log_unserved: bool,
}

/// A poisoned lock still holds consistent data here: every update is done under one call.
pub(super) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Shared {
    pub(super) fn new(core: Core) -> Shared {
        let count = |n: i64| usize::try_from(n).unwrap_or(usize::MAX);
        let limits = WireLimits {
            max_packet: count(core.settings.max_payload_size),
            queued_before_connect: count(core.settings.queue_size_before_connect),
            queued_outgoing: MAX_QUEUED_OUTGOING,
        };
        Shared {
            limits,
            core: Mutex::new(core),
            connections: Mutex::new(HashMap::new()),
            rpc_waiters: Mutex::new(HashMap::new()),
            violations: Mutex::new(Vec::new()),
            violation_tx: broadcast::channel(1024).0,
            observers: Mutex::new(Vec::new()),
            next_conn: AtomicU64::new(1),
            auth: super::rest::auth::Tokens::default(),
            log_unserved: false,
        }
    }

    /// Hands an event to every observer still listening.
    pub(super) fn observe(&self, event: impl FnOnce() -> Traffic) {
        let mut observers = lock(&self.observers);
        if observers.is_empty() {
            return;
        }
        let event = event();
        observers.retain(|tx| tx.send(event.clone()).is_ok());
    }

    pub(super) fn next_conn_id(&self) -> ConnId {
        self.next_conn.fetch_add(1, Ordering::Relaxed)
    }

    pub(super) fn register(
        &self,
        conn: ConnId,
        tx: mpsc::UnboundedSender<Outgoing>,
        writer: WriterState,
    ) {
        let connection = Connection {
            tx,
            queued: writer.queued,
            stop_writer: writer.stop,
            version: None,
            open: true,
        };
        lock(&self.connections).insert(conn, connection);
    }

    pub(super) fn set_version(&self, conn: ConnId, version: Version) {
        if let Some(c) = lock(&self.connections).get_mut(&conn) {
            c.version = Some(version);
        }
    }

    pub(super) fn unregister(&self, conn: ConnId) {
        lock(&self.connections).remove(&conn);
    }

    pub(super) fn is_open(&self, conn: ConnId) -> bool {
        lock(&self.connections).get(&conn).is_some_and(|c| c.open)
    }

    pub(super) fn close(&self, conn: ConnId) {
        if let Some(c) = lock(&self.connections).get_mut(&conn) {
            c.open = false;
            let _ = c.tx.send(Outgoing::Close);
        }
    }

    /// Runs `f` on the core and carries out its effects while still holding the lock, so
    /// that packets to one connection leave in the order the core produced them.
    pub fn with_core<R>(&self, f: impl FnOnce(&mut Core) -> R) -> R {
        let mut core = lock(&self.core);
        let result = f(&mut core);
        let mut effects = core.take_effects();
        while !effects.is_empty() {
            let mut stuck = Vec::new();
            for effect in effects {
                if let Some(overflow) = self.carry_out(effect) {
                    stuck.push(overflow);
                }
            }
            // A client over its queue is dropped; what that says is carried out in turn.
            for (conn, queued) in stuck {
                self.observe(|| Traffic::StoppedReading { conn, queued });
                self.stop_writer(conn);
                core.stopped_reading(conn, queued);
            }
            effects = core.take_effects();
        }
        result
    }

    pub(super) fn stop_writer(&self, conn: ConnId) {
        if let Some(c) = lock(&self.connections).get_mut(&conn) {
            c.open = false;
            c.stop_writer.notify_one();
        }
    }

    /// Carries out one effect; `Some((conn, queued))` when a send finds that connection's
    /// client no longer reading.
    pub(super) fn carry_out(&self, effect: Effect) -> Option<(ConnId, usize)> {
        match effect {
            Effect::Send { conn, packet } => {
                if let Outbound::Publish {
                    topic,
                    qos,
                    payload,
                    ..
                } = &packet
                {
                    self.observe(|| Traffic::Delivered {
                        conn,
                        topic: topic.clone(),
                        qos: *qos,
                        payload: payload.clone(),
                    });
                }
                let mut connections = lock(&self.connections);
                if let Some(c) = connections.get_mut(&conn)
                    && c.open
                    && let Some(version) = c.version
                    && let Some(bytes) = super::wire::encode(&packet, version)
                {
                    let queued = c.queued.fetch_add(1, Ordering::Relaxed) + 1;
                    if queued > self.limits.queued_outgoing {
                        c.open = false;
                        return Some((conn, queued - 1));
                    }
                    // Observed here, in the core's order, right after what it answers (the
                    // writer task may run later, and would log a SUBACK after the next
                    // packets the client sent).
                    self.observe(|| Traffic::Packet {
                        conn,
                        from_client: false,
                        bytes: bytes.clone(),
                    });
                    let _ = c.tx.send(Outgoing::Bytes(bytes));
                }
            }
            Effect::Close { conn } => self.close(conn),
            Effect::RpcSettled { call, outcome } => {
                if let Some(waiter) = lock(&self.rpc_waiters).remove(&call) {
                    let _ = waiter.send(outcome);
                }
            }
            Effect::Violation(violation) => {
                let _ = self.violation_tx.send(violation.clone());
                lock(&self.violations).push(violation);
            }
        }
        None
    }

    /// Registers a REST call that waits for an RPC outcome.
    pub(crate) fn wait_rpc(&self, call: Uuid) -> oneshot::Receiver<RpcOutcome> {
        let (tx, rx) = oneshot::channel();
        lock(&self.rpc_waiters).insert(call, tx);
        rx
    }

    /// Drops the REST waiter of a call that goes on without it (a persistent RPC).
    pub(crate) fn forget_waiter(&self, call: Uuid) {
        lock(&self.rpc_waiters).remove(&call);
    }

    pub(crate) fn forget_rpc(&self, call: Uuid) {
        lock(&self.rpc_waiters).remove(&call);
        self.with_core(|core| core.expire_rpc(call));
    }
}
