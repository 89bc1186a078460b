//! The load run itself, through the same two doors as `tbgw run`: gateways provisioned over
//! REST, connected over MQTT, their devices announced; then the timed phase (an open loop at
//! a fixed rate, or a closed loop with a window of messages in flight per gateway), with
//! two-way RPCs mixed in on request; then every acknowledged point read back through REST
//! and everything created deleted. Against a plain MQTT broker only the MQTT door is used:
//! no provisioning, no read-back.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::connection::{Counters, GatewayConnection, MAX_IN_FLIGHT, Measured};
use super::plan::{self, GatewayPlan, Shape, Shard};
use super::result::{self, FORMAT, LoadResult, Pushes, Rpcs, Stored};
use crate::mqtt::Version;
use crate::scenario::model::{Method, User};
use crate::target::rest::{RestClient, device_by_name, encode};

/// How messages are paced.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Pace {
    /// An open loop: this many messages per second over all gateways, each sent at its
    /// intended time whatever the platform does; latency counts from that time.
    Rate(f64),
    /// A closed loop: each gateway keeps this many messages in flight.
    Window(usize),
}

impl Pace {
    pub fn describe(self) -> String {
        match self {
            Pace::Rate(rate) => format!("open-loop {rate}/s"),
            Pace::Window(w) => format!("closed-loop window {w}"),
        }
    }
}

#[derive(Clone, Debug)]
pub struct LoadConfig {
    pub shape: Shape,
    pub shard: Shard,
    pub pace: Pace,
    /// `--duration`; the run ends at the first of this and `shape.messages`.
    pub duration: Option<Duration>,
    pub version: Version,
    /// Names of what the run creates start with it.
    pub prefix: String,
    /// Two-way RPCs per second through REST, over all devices.
    pub rpc_rate: Option<f64>,
    /// Shared-attribute writes per second through REST, over all devices.
    pub attribute_rate: Option<f64>,
    /// Read every acknowledged point back through REST.
    pub verify: bool,
    /// How long to wait for the last PUBACKs after the timed phase.
    pub drain: Duration,
}

/// The platform's doors: MQTT always, REST unless the target is a plain broker.
pub struct Doors {
    pub target: String,
    pub mqtt: String,
    pub rest: Option<Arc<RestClient>>,
}

/// What the progress line shows.
pub struct Progress {
    pub counters: Arc<Counters>,
    pub phase: Arc<std::sync::Mutex<String>>,
}

impl Progress {
    pub fn new() -> Progress {
        Progress {
            counters: Arc::new(Counters::default()),
            phase: Arc::new(std::sync::Mutex::new(String::new())),
        }
    }

    fn set(&self, phase: &str) {
        if let Ok(mut p) = self.phase.lock() {
            *p = phase.to_owned();
        }
    }
}

impl Default for Progress {
    fn default() -> Progress {
        Progress::new()
    }
}

/// Runs `f` over `items`, at most `limit` at once; the results in no particular order.
async fn concurrently<T, R, F, Fut>(items: Vec<T>, limit: usize, f: F) -> Vec<R>
where
    T: Send + 'static,
    R: Send + 'static,
    F: Fn(T) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = R> + Send + 'static,
{
    let f = Arc::new(f);
    let gate = Arc::new(tokio::sync::Semaphore::new(limit.max(1)));
    let mut set = JoinSet::new();
    for item in items {
        let (f, gate) = (Arc::clone(&f), Arc::clone(&gate));
        set.spawn(async move {
            let _permit = gate.acquire_owned().await;
            f(item).await
        });
    }
    let mut out = Vec::new();
    while let Some(done) = set.join_next().await {
        if let Ok(r) = done {
            out.push(r);
        }
    }
    out
}

const REST_CALLS_AT_ONCE: usize = 16;
const CONNECTS_AT_ONCE: usize = 32;

async fn rest_call(
    rest: &RestClient,
    method: Method,
    path: &str,
    body: Option<&Value>,
) -> Result<Value, String> {
    let reply = rest.call(User::Tenant, method, path, body).await?;
    if reply.status == 200 {
        Ok(reply.json.unwrap_or(Value::Null))
    } else {
        Err(format!("{} {path}: {}", method.as_str(), reply.summary()))
    }
}

/// What the run created on the platform, deleted at the end whatever happened.
#[derive(Default)]
struct Created {
    gateways: Vec<String>,
    devices: Vec<String>,
}

/// Runs the load. `Err` is the target failing (exit 3); conformance failures are in the
/// result (`LoadResult::conforms`).
pub async fn run(
    config: LoadConfig,
    doors: Doors,
    progress: &Progress,
) -> Result<LoadResult, String> {
    let plans = plan::gateways(&config.prefix, &config.shape, config.shard);
    let mut created = Created::default();
    let outcome = run_created(&config, &doors, &plans, progress, &mut created).await;
    if let Some(rest) = &doors.rest {
        progress.set("cleaning up");
        clean_up(rest, created).await;
    }
    outcome
}

async fn run_created(
    config: &LoadConfig,
    doors: &Doors,
    plans: &[GatewayPlan],
    progress: &Progress,
    created: &mut Created,
) -> Result<LoadResult, String> {
    if let Some(rest) = &doors.rest {
        progress.set("provisioning gateways");
        provision(rest, plans, created).await?;
    }
    progress.set("connecting");
    let connections = connect_all(config, doors, plans, progress).await?;
    if doors.rest.is_some() {
        progress.set("announcing devices");
        for (connection, plan) in connections.iter().zip(plans) {
            for device in &plan.devices {
                connection.announce(device).await?;
            }
            created.devices.extend(plan.devices.iter().cloned());
        }
        let deadline = Instant::now() + config.drain;
        for connection in &connections {
            connection.drain(deadline).await;
        }
    }
    let ids = match &doors.rest {
        Some(rest)
            if config.verify || config.rpc_rate.is_some() || config.attribute_rate.is_some() =>
        {
            progress.set("looking up device ids");
            device_ids(rest, plans).await
        }
        _ => HashMap::new(),
    };
    progress.set("load");
    let base_ts = now_ms();
    let started = Instant::now();
    let cpu_at_start = process_cpu_seconds();
    let connections: Vec<Arc<GatewayConnection>> = connections.into_iter().map(Arc::new).collect();
    let stop = Arc::new(AtomicBool::new(false));
    let rpcs = match (&doors.rest, config.rpc_rate) {
        (Some(rest), Some(rate)) => Some(tokio::spawn(rpc_mix(
            Arc::clone(rest),
            ids.values().cloned().collect(),
            rate,
            Arc::clone(&stop),
        ))),
        _ => None,
    };
    let writes = match (&doors.rest, config.attribute_rate) {
        (Some(rest), Some(rate)) => Some(tokio::spawn(attribute_mix(
            Arc::clone(rest),
            ids.iter().map(|(n, i)| (n.clone(), i.clone())).collect(),
            rate,
            Arc::clone(&stop),
        ))),
        _ => None,
    };
    let mut senders = JoinSet::new();
    for (connection, plan) in connections.iter().zip(plans) {
        senders.spawn(send_all(
            Arc::clone(connection),
            plan.clone(),
            config.clone(),
            plans.len(),
            (base_ts, started),
        ));
    }
    let mut send_errors: BTreeMap<String, u64> = BTreeMap::new();
    while let Some(done) = senders.join_next().await {
        if let Ok(Err(e)) = done {
            *send_errors.entry(e).or_default() += 1;
        }
    }
    stop.store(true, Ordering::Relaxed);
    progress.set("waiting for the last PUBACKs");
    let deadline = Instant::now() + config.drain;
    for connection in &connections {
        connection.drain(deadline).await;
    }
    let seconds = started.elapsed().as_secs_f64();
    let cpu_seconds = process_cpu_seconds() - cpu_at_start;
    let rpcs = match rpcs {
        Some(task) => task.await.ok(),
        None => None,
    };
    let writes = match writes {
        Some(task) => task.await.ok(),
        None => None,
    };
    if let Some((written, _)) = &writes {
        progress.set("waiting for the shared-attribute pushes");
        let deadline = Instant::now() + config.drain;
        for (connection, plan) in connections.iter().zip(plans) {
            let own = written
                .iter()
                .filter(|(d, _)| plan.devices.contains(d))
                .count();
            connection.wait_for_pushes(own, deadline).await;
        }
    }
    let mut measured = Vec::new();
    for connection in connections {
        match Arc::try_unwrap(connection) {
            Ok(connection) => measured.push(connection.finish().await),
            Err(_) => return Err("a sender still held its connection at the end".into()),
        }
    }
    let stored = match &doors.rest {
        Some(rest) if config.verify => {
            progress.set("reading every point back");
            Some(verify(rest, &config.shape, plans, &measured, &ids, base_ts).await)
        }
        _ => None,
    };
    let attributes = writes.map(|(written, failed)| pushes(plans, &measured, &written, failed));
    let mut result = summarize(config, doors, measured, send_errors, seconds, stored, rpcs)?;
    result.attributes = attributes;
    result.cpu_seconds = Some(cpu_seconds);
    Ok(result)
}

#[allow(clippy::too_many_arguments)]
fn summarize(
    config: &LoadConfig,
    doors: &Doors,
    measured: Vec<Measured>,
    mut errors: BTreeMap<String, u64>,
    seconds: f64,
    stored: Option<Stored>,
    rpcs: Option<Rpcs>,
) -> Result<LoadResult, String> {
    let mut histogram = result::new_histogram();
    let (mut acknowledged, mut unanswered, mut sent) = (0u64, 0u64, 0u64);
    for m in &measured {
        histogram
            .add(&m.histogram)
            .map_err(|e| format!("cannot add latency histograms: {e:?}"))?;
        sent += m.sent;
        acknowledged += m.acknowledged.len() as u64;
        unanswered += m.unanswered;
        for (kind, count) in &m.errors {
            *errors.entry(kind.clone()).or_default() += count;
        }
    }
    Ok(LoadResult {
        format: FORMAT.into(),
        target: doors.target.clone(),
        mqtt_version: config.version.as_str().into(),
        shape: config.shape.clone(),
        mode: config.pace.describe(),
        shards: vec![config.shard],
        seconds,
        sent,
        acknowledged,
        unanswered,
        errors,
        points_sent: sent * u64::from(config.shape.points_per_message),
        stored,
        rpcs,
        attributes: None,
        latency_ms: result::latency_of(&histogram),
        histogram: result::encode_histogram(&histogram)?,
        cpu_seconds: None,
    })
}

/// CPU seconds this process has used so far (user and system, every thread).
fn process_cpu_seconds() -> f64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    t.tv_sec as f64 + t.tv_nsec as f64 / 1e9
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Creates each gateway device with its access token; a gateway left from another run of
/// the same prefix is an error that says so.
async fn provision(
    rest: &Arc<RestClient>,
    plans: &[GatewayPlan],
    created: &mut Created,
) -> Result<(), String> {
    let jobs: Vec<(String, String)> = plans
        .iter()
        .map(|p| (p.name.clone(), p.token.clone()))
        .collect();
    let rest_for = Arc::clone(rest);
    let results = concurrently(jobs, REST_CALLS_AT_ONCE, move |(name, token)| {
        let rest = Arc::clone(&rest_for);
        async move {
            let body =
                json!({"name": name, "type": "default", "additionalInfo": {"gateway": true}});
            let path = format!("/api/device?accessToken={}", encode(&token));
            let done = rest_call(&rest, Method::Post, &path, Some(&body)).await;
            (name, done)
        }
    })
    .await;
    let mut first_error = None;
    for (name, done) in results {
        match done {
            Ok(_) => created.gateways.push(name),
            Err(e) => {
                first_error.get_or_insert(format!("cannot create gateway device {name}: {e}"));
            }
        }
    }
    first_error.map_or(Ok(()), Err)
}

async fn connect_all(
    config: &LoadConfig,
    doors: &Doors,
    plans: &[GatewayPlan],
    progress: &Progress,
) -> Result<Vec<GatewayConnection>, String> {
    let window = match config.pace {
        Pace::Window(w) => w,
        Pace::Rate(_) => MAX_IN_FLIGHT,
    };
    let jobs: Vec<(usize, String, String)> = plans
        .iter()
        .enumerate()
        .map(|(i, p)| (i, p.name.clone(), p.token.clone()))
        .collect();
    let (addr, version, counters) = (
        doors.mqtt.clone(),
        config.version,
        Arc::clone(&progress.counters),
    );
    let subscribe = config.rpc_rate.is_some();
    let mut connected = concurrently(jobs, CONNECTS_AT_ONCE, move |(i, name, token)| {
        let (addr, counters) = (addr.clone(), Arc::clone(&counters));
        async move {
            let connection =
                GatewayConnection::connect(&addr, &name, &token, version, window, counters).await;
            let connection = match connection {
                Ok(c) if subscribe => c.subscribe_rpc().await.map(|()| c),
                other => other,
            };
            (i, connection)
        }
    })
    .await;
    connected.sort_by_key(|(i, _)| *i);
    connected.into_iter().map(|(_, c)| c).collect()
}

async fn device_ids(rest: &Arc<RestClient>, plans: &[GatewayPlan]) -> HashMap<String, String> {
    let names: Vec<String> = plans
        .iter()
        .flat_map(|p| p.devices.iter().cloned())
        .collect();
    let rest_for = Arc::clone(rest);
    let found = concurrently(names, REST_CALLS_AT_ONCE, move |name| {
        let rest = Arc::clone(&rest_for);
        async move {
            let device = rest_call(&rest, Method::Get, &device_by_name(&name), None).await;
            (name, device)
        }
    })
    .await;
    // A device the platform refused (its announce's PUBACK is in the errors) has no id; its
    // acknowledged points, if any, then count as unreadable.
    let mut ids = HashMap::new();
    for (name, device) in found {
        if let Some(id) = device
            .ok()
            .as_ref()
            .and_then(crate::target::rest::entity_id)
        {
            ids.insert(name, id.to_owned());
        }
    }
    ids
}

/// One gateway's timed phase; `gateways` is how many this shard runs, `(base_ts, started)`
/// when the phase began on the points' clock and on the monotonic one.
async fn send_all(
    connection: Arc<GatewayConnection>,
    plan: GatewayPlan,
    config: LoadConfig,
    gateways: usize,
    (base_ts, started): (i64, Instant),
) -> Result<(), String> {
    let end = config.duration.map(|d| started + d);
    let interval = match config.pace {
        Pace::Rate(rate) => Some(Duration::from_secs_f64(
            gateways.max(1) as f64 / rate.max(f64::MIN_POSITIVE),
        )),
        Pace::Window(_) => None,
    };
    // The gateways' first messages spread over one interval (golden-ratio offsets).
    let offset = f64::from(plan.index) * 0.618_033_988_75 % 1.0;
    let mut n: u64 = 0;
    loop {
        if plan.messages.is_some_and(|m| n >= m) || connection.is_closed() {
            return Ok(());
        }
        let intended = match interval {
            Some(every) => started + every.mul_f64(offset + n as f64),
            None => Instant::now(),
        };
        if end.is_some_and(|end| intended >= end || Instant::now() >= end) {
            return Ok(());
        }
        if interval.is_some() {
            tokio::time::sleep_until(intended).await;
        }
        let payload = plan::telemetry(&plan, &config.shape, n, base_ts);
        connection.publish_telemetry(n, &payload, intended).await?;
        n += 1;
    }
}

/// Two-way RPCs at `rate` per second, round-robin over the devices, until `stop`; each
/// carries its own marker, which the gateway echoes.
async fn rpc_mix(
    rest: Arc<RestClient>,
    devices: Vec<String>,
    rate: f64,
    stop: Arc<AtomicBool>,
) -> Rpcs {
    let counts = Arc::new([
        AtomicU64::new(0),
        AtomicU64::new(0),
        AtomicU64::new(0),
        AtomicU64::new(0),
    ]);
    let every = Duration::from_secs_f64(1.0 / rate.max(f64::MIN_POSITIVE));
    let started = Instant::now();
    let mut calls = JoinSet::new();
    let mut k: u64 = 0;
    while !stop.load(Ordering::Relaxed) && !devices.is_empty() {
        tokio::time::sleep_until(started + every.mul_f64(k as f64)).await;
        let device = devices[(k as usize) % devices.len()].clone();
        let (rest, counts) = (Arc::clone(&rest), Arc::clone(&counts));
        calls.spawn(async move {
            counts[0].fetch_add(1, Ordering::Relaxed);
            let body = json!({"method": "tbgwLoad", "params": {"call": k}, "timeout": 10_000});
            let path = format!("/api/rpc/twoway/{device}");
            let slot = match rest_call(&rest, Method::Post, &path, Some(&body)).await {
                Ok(answer) if answer == json!({"echo": {"call": k}}) => 1,
                Ok(_) => 2,
                Err(_) => 3,
            };
            counts[slot].fetch_add(1, Ordering::Relaxed);
        });
        k += 1;
    }
    while calls.join_next().await.is_some() {}
    let get = |i: usize| counts[i].load(Ordering::Relaxed);
    Rpcs {
        sent: get(0),
        matched: get(1),
        crossed: get(2),
        failed: get(3),
    }
}

/// Shared-attribute writes at `rate` per second, round-robin over the devices, until `stop`;
/// each carries its own `tbgwLoad` marker. The writes REST accepted, and how many failed.
async fn attribute_mix(
    rest: Arc<RestClient>,
    mut devices: Vec<(String, String)>,
    rate: f64,
    stop: Arc<AtomicBool>,
) -> (Vec<(String, u64)>, u64) {
    devices.sort();
    let every = Duration::from_secs_f64(1.0 / rate.max(f64::MIN_POSITIVE));
    let started = Instant::now();
    let mut writes = JoinSet::new();
    let mut k: u64 = 0;
    while !stop.load(Ordering::Relaxed) && !devices.is_empty() {
        tokio::time::sleep_until(started + every.mul_f64(k as f64)).await;
        let (name, id) = devices[(k as usize) % devices.len()].clone();
        let rest = Arc::clone(&rest);
        writes.spawn(async move {
            let path = format!("/api/plugins/telemetry/DEVICE/{id}/attributes/SHARED_SCOPE");
            let body = json!({ "tbgwLoad": k });
            let written = rest_call(&rest, Method::Post, &path, Some(&body)).await;
            (name, k, written.is_ok())
        });
        k += 1;
    }
    let (mut written, mut failed) = (Vec::new(), 0);
    while let Some(done) = writes.join_next().await {
        match done {
            Ok((name, k, true)) => written.push((name, k)),
            _ => failed += 1,
        }
    }
    (written, failed)
}

/// Which written attributes reached the gateway of their device.
fn pushes(
    plans: &[GatewayPlan],
    measured: &[Measured],
    written: &[(String, u64)],
    failed: u64,
) -> Pushes {
    let mut received = std::collections::HashSet::new();
    for (plan, m) in plans.iter().zip(measured) {
        for (device, marker) in &m.pushes {
            if plan.devices.contains(device) {
                received.insert((device.as_str(), *marker));
            }
        }
    }
    let delivered = written
        .iter()
        .filter(|(d, k)| received.contains(&(d.as_str(), *k)))
        .count() as u64;
    Pushes {
        written: written.len() as u64,
        delivered,
        missing: written.len() as u64 - delivered,
        failed,
    }
}

/// Reads every device's points back and compares them with what was acknowledged: each
/// acknowledged point must be there once, with its value; nothing may be there that no
/// message carried.
async fn verify(
    rest: &Arc<RestClient>,
    shape: &Shape,
    plans: &[GatewayPlan],
    measured: &[Measured],
    ids: &HashMap<String, String>,
    base_ts: i64,
) -> Stored {
    // Per device: the seqs acknowledged.
    let mut acknowledged: HashMap<String, Vec<u64>> = HashMap::new();
    for (plan, m) in plans.iter().zip(measured) {
        for n in &m.acknowledged {
            for (device, seq) in plan::entries(shape, *n) {
                if let Some(name) = plan.devices.get(device as usize) {
                    acknowledged.entry(name.clone()).or_default().push(seq);
                }
            }
        }
    }
    let keys = plan::keys(shape).join(",");
    let jobs: Vec<(Option<String>, Vec<u64>)> = acknowledged
        .into_iter()
        .map(|(name, mut seqs)| {
            seqs.sort_unstable();
            (ids.get(&name).cloned(), seqs)
        })
        .collect();
    let rest_for = Arc::clone(rest);
    let key_count = shape.points_per_device() as u64;
    let results = concurrently(jobs, REST_CALLS_AT_ONCE, move |(id, seqs)| {
        let (rest, keys) = (Arc::clone(&rest_for), keys.clone());
        async move {
            let Some(id) = id else {
                return (seqs.len() as u64 * key_count, None);
            };
            let last = seqs.last().copied().unwrap_or(0);
            let path = format!(
                "/api/plugins/telemetry/DEVICE/{id}/values/timeseries?keys={keys}&startTs={base_ts}&endTs={}&limit={}&orderBy=ASC&useStrictDataTypes=true",
                base_ts + last as i64 + 1,
                seqs.len() * 2 + 10
            );
            let read = rest_call(&rest, Method::Get, &path, None).await.ok();
            (seqs.len() as u64 * key_count, read.map(|body| compare(&body, &keys, &seqs, base_ts)))
        }
    })
    .await;
    let mut stored = Stored::default();
    for (points, compared) in results {
        stored.acknowledged += points;
        match compared {
            Some((found, lost, unexpected)) => {
                stored.found += found;
                stored.lost += lost;
                stored.unexpected += unexpected;
            }
            None => {
                stored.unread_devices += 1;
                stored.lost += points;
            }
        }
    }
    stored
}

/// `(found, lost, unexpected)` for one device's read-back: per key, the acknowledged seqs
/// found with `ts = base + seq` and the value `seq`, those missing, and the points no
/// message carried or carried twice.
fn compare(body: &Value, keys: &str, acknowledged: &[u64], base_ts: i64) -> (u64, u64, u64) {
    let (mut found, mut lost, mut unexpected) = (0, 0, 0);
    for key in keys.split(',') {
        let points = body
            .get(key)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let mut seen: Vec<u64> = Vec::with_capacity(points.len());
        for point in &points {
            let ts = point.get("ts").and_then(Value::as_i64).unwrap_or(-1);
            let value = point.get("value").and_then(Value::as_i64).unwrap_or(-1);
            let seq = ts - base_ts;
            if seq < 0 || value != seq {
                unexpected += 1;
            } else {
                seen.push(seq as u64);
            }
        }
        seen.sort_unstable();
        let before = seen.len();
        seen.dedup();
        unexpected += (before - seen.len()) as u64;
        for seq in acknowledged {
            if seen.binary_search(seq).is_ok() {
                found += 1;
            } else {
                lost += 1;
            }
        }
    }
    (found, lost, unexpected)
}

async fn clean_up(rest: &Arc<RestClient>, created: Created) {
    for names in [created.devices, created.gateways] {
        let rest_for = Arc::clone(rest);
        concurrently(names, REST_CALLS_AT_ONCE, move |name| {
            let rest = Arc::clone(&rest_for);
            async move {
                if let Ok(device) =
                    rest_call(&rest, Method::Get, &device_by_name(&name), None).await
                    && let Some(id) = crate::target::rest::entity_id(&device)
                {
                    let _ =
                        rest_call(&rest, Method::Delete, &format!("/api/device/{id}"), None).await;
                }
            }
        })
        .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_read_back_counts_found_lost_and_points_no_message_carried() {
        let body = json!({
            "k0": [{"ts": 100, "value": 0}, {"ts": 102, "value": 2}, {"ts": 102, "value": 2}, {"ts": 103, "value": 9}],
            "k1": [{"ts": 100, "value": 0}, {"ts": 101, "value": 1}, {"ts": 102, "value": 2}]
        });
        // Acknowledged 0, 1, 2: k0 lacks 1, repeats 2 and has a wrong value at 103.
        assert_eq!(compare(&body, "k0,k1", &[0, 1, 2], 100), (5, 1, 2));
    }
}
