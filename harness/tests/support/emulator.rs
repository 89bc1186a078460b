//! Test support: an in-process emulator, a REST client on reqwest, and MQTT clients on
//! rumqttc (3.1.1 and 5) whose events are read with deadlines.

#![allow(dead_code)]

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tbgw_harness::emulator::core::clock::ManualClock;
use tbgw_harness::emulator::{Emulator, Options};
use tokio::sync::mpsc;

pub const GATEWAY_TOKEN: &str = "GW_TOKEN";
/// Every wait in these tests; nothing in them sleeps.
pub const DEADLINE: Duration = Duration::from_secs(5);

pub async fn start() -> Emulator {
    start_with(0).await
}

pub async fn start_with(max_devices: u64) -> Emulator {
    let mut options = Options::ephemeral();
    options.config.max_devices = max_devices;
    start_with_options(options).await
}

/// An emulator whose time moves only through `clock` (and [`Emulator::with_core`]'s `tick`).
pub async fn start_with_clock(clock: ManualClock) -> Emulator {
    let mut options = Options::ephemeral();
    options.clock = Box::new(clock);
    start_with_options(options).await
}

async fn start_with_options(mut options: Options) -> Emulator {
    options
        .config
        .gateways
        .push(("gw1".into(), GATEWAY_TOKEN.into()));
    match Emulator::start(options).await {
        Ok(emulator) => emulator,
        Err(error) => panic!("the emulator did not start: {error}"),
    }
}

/// ThingsBoard's REST API through reqwest, logged in.
pub struct Rest {
    base: String,
    http: reqwest::Client,
    token: String,
}

impl Rest {
    pub async fn login(emulator: &Emulator, user: &str, password: &str) -> Rest {
        let base = format!("http://{}", emulator.http_addr);
        let http = reqwest::Client::new();
        let response = http
            .post(format!("{base}/api/auth/login"))
            .json(&json!({"username": user, "password": password}))
            .send()
            .await
            .expect("login request");
        assert_eq!(response.status(), StatusCode::OK, "login as {user}");
        let body: Value = response.json().await.expect("login body");
        let token = body["token"].as_str().expect("a token").to_owned();
        Rest { base, http, token }
    }

    pub async fn tenant(emulator: &Emulator) -> Rest {
        Rest::login(emulator, "tenant@thingsboard.org", "tenant").await
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> (StatusCode, Value) {
        let response = request
            .header("X-Authorization", format!("Bearer {}", self.token))
            .send()
            .await
            .expect("REST request");
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, body)
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.send(self.http.get(format!("{}{path}", self.base)))
            .await
    }

    /// A plain device (not a gateway) with this access token, created through REST.
    pub async fn create_device(&self, name: &str, token: &str) {
        let path = format!("/api/device?accessToken={token}");
        let (status, body) = self
            .post(&path, json!({"name": name, "type": "default"}))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(self.http.post(format!("{}{path}", self.base)).json(&body))
            .await
    }

    pub async fn delete(&self, path: &str) -> (StatusCode, Value) {
        self.send(self.http.delete(format!("{}{path}", self.base)))
            .await
    }

    /// The device named `name`, once it exists (a PUBACK only means queued on ThingsBoard).
    pub async fn device(&self, name: &str) -> Value {
        let path = format!("/api/tenant/devices?deviceName={}", urlencode(name));
        self.until(&path, |status, _| status == StatusCode::OK)
            .await
    }

    pub async fn device_id(&self, name: &str) -> String {
        self.device(name).await["id"]["id"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Polls `path` until `done` holds or the deadline passes.
    pub async fn until(&self, path: &str, done: impl Fn(StatusCode, &Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + DEADLINE;
        loop {
            let (status, body) = self.get(path).await;
            if done(status, &body) {
                return body;
            }
            if tokio::time::Instant::now() > deadline {
                panic!("GET {path} never reached the expected state; last: {status} {body}");
            }
            tokio::task::yield_now().await;
        }
    }
}

pub fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// What a client saw, whatever its protocol version.
#[derive(Clone, Debug, PartialEq)]
pub enum Seen {
    ConnAck(String),
    /// The reason's name (`Success`, `PayloadFormatInvalid`); MQTT 3.1.1: always `Success`.
    PubAck {
        pkid: u16,
        reason: String,
    },
    SubAck(Vec<String>),
    /// MQTT 5 reason names.
    UnsubAck(Vec<String>),
    Publish {
        topic: String,
        payload: String,
    },
    /// The server's DISCONNECT reason (MQTT 5).
    Disconnect(String),
    /// The connection ended or failed (the error text).
    Closed(String),
    PingResp,
}

impl Seen {
    /// A PUBLISH as (topic, JSON payload; a string when it is not JSON).
    pub fn into_publish(self) -> (String, Value) {
        match self {
            Seen::Publish { topic, payload } => {
                let json = serde_json::from_str(&payload).unwrap_or(Value::String(payload));
                (topic, json)
            }
            other => panic!("expected a PUBLISH, got {other:?}"),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    V311,
    V5,
}

enum Handle {
    V4(rumqttc::AsyncClient),
    V5(rumqttc::v5::AsyncClient),
}

/// An MQTT client on rumqttc that never reconnects; its events come with deadlines.
pub struct Client {
    handle: Handle,
    events: mpsc::UnboundedReceiver<Seen>,
    pub seen: Vec<Seen>,
}

impl Client {
    pub async fn connect(emulator: &Emulator, protocol: Protocol, token: &str) -> Client {
        let mut client = Client::open(emulator, protocol, token).await;
        let ack = client.next("CONNACK").await;
        assert_eq!(ack, Seen::ConnAck("Success".into()), "CONNACK for {token}");
        client
    }

    /// Connects over MQTT 3.1.1 with a keep-alive of one second, so that PINGREQs come
    /// (their PINGRESP is [`Seen::PingResp`]); rumqttc's MQTT 5 client allows no less than 5 s.
    pub async fn connect_pinging(emulator: &Emulator, token: &str) -> Client {
        let keep_alive = Duration::from_secs(1);
        let mut client =
            Client::open_with(emulator, Protocol::V311, token, keep_alive, false).await;
        let ack = client.next("CONNACK").await;
        assert_eq!(ack, Seen::ConnAck("Success".into()), "CONNACK for {token}");
        client
    }

    /// Connects without waiting for the CONNACK.
    pub async fn open(emulator: &Emulator, protocol: Protocol, token: &str) -> Client {
        Client::open_with(emulator, protocol, token, Duration::from_secs(60), false).await
    }

    /// Connects as a client that never PUBACKs what the server publishes at QoS 1.
    pub async fn connect_never_acking(
        emulator: &Emulator,
        protocol: Protocol,
        token: &str,
    ) -> Client {
        let keep_alive = Duration::from_secs(60);
        let mut client = Client::open_with(emulator, protocol, token, keep_alive, true).await;
        let ack = client.next("CONNACK").await;
        assert_eq!(ack, Seen::ConnAck("Success".into()), "CONNACK for {token}");
        client
    }

    async fn open_with(
        emulator: &Emulator,
        protocol: Protocol,
        token: &str,
        keep_alive: Duration,
        manual_acks: bool,
    ) -> Client {
        let (host, port) = (
            emulator.mqtt_addr.ip().to_string(),
            emulator.mqtt_addr.port(),
        );
        let id = format!("test-{}", uuid::Uuid::new_v4().simple());
        let (tx, events) = mpsc::unbounded_channel();
        let handle = match protocol {
            Protocol::V311 => {
                let mut options = rumqttc::MqttOptions::new(id, host, port);
                options.set_credentials(token, "");
                options.set_keep_alive(keep_alive);
                options.set_max_packet_size(200_000, 200_000);
                options.set_manual_acks(manual_acks);
                let (client, eventloop) = rumqttc::AsyncClient::new(options, 32);
                tokio::spawn(drive_v4(eventloop, tx));
                Handle::V4(client)
            }
            Protocol::V5 => {
                let mut options = rumqttc::v5::MqttOptions::new(id, host, port);
                options.set_credentials(token, "");
                options.set_keep_alive(keep_alive.max(Duration::from_secs(5)));
                options.set_max_packet_size(Some(200_000));
                options.set_manual_acks(manual_acks);
                let (client, eventloop) = rumqttc::v5::AsyncClient::new(options, 32);
                tokio::spawn(drive_v5(eventloop, tx));
                Handle::V5(client)
            }
        };
        Client {
            handle,
            events,
            seen: Vec::new(),
        }
    }

    pub async fn publish(&self, topic: &str, payload: impl Into<Vec<u8>>, qos: u8) {
        let payload: Vec<u8> = payload.into();
        match &self.handle {
            Handle::V4(c) => c
                .publish(topic, v4_qos(qos), false, payload)
                .await
                .expect("publish"),
            Handle::V5(c) => c
                .publish(topic, v5_qos(qos), false, payload)
                .await
                .expect("publish"),
        }
    }

    pub async fn subscribe(&self, filter: &str, qos: u8) {
        match &self.handle {
            Handle::V4(c) => c.subscribe(filter, v4_qos(qos)).await.expect("subscribe"),
            Handle::V5(c) => c.subscribe(filter, v5_qos(qos)).await.expect("subscribe"),
        }
    }

    /// MQTT 5 only (3.1.1 UNSUBACKs carry no reason codes).
    pub async fn unsubscribe(&self, filter: &str) {
        match &self.handle {
            Handle::V4(c) => c.unsubscribe(filter).await.expect("unsubscribe"),
            Handle::V5(c) => c.unsubscribe(filter).await.expect("unsubscribe"),
        }
    }

    /// The next event, within the deadline.
    pub async fn next(&mut self, waiting_for: &str) -> Seen {
        match tokio::time::timeout(DEADLINE, self.events.recv()).await {
            Ok(Some(seen)) => {
                self.seen.push(seen.clone());
                seen
            }
            Ok(None) => panic!(
                "the client stopped while waiting for {waiting_for}; seen: {:?}",
                self.seen
            ),
            Err(_) => panic!(
                "no {waiting_for} within {DEADLINE:?}; seen: {:?}",
                self.seen
            ),
        }
    }

    /// Skips events until one matches.
    pub async fn until(&mut self, waiting_for: &str, wanted: impl Fn(&Seen) -> bool) -> Seen {
        loop {
            let seen = self.next(waiting_for).await;
            if wanted(&seen) {
                return seen;
            }
        }
    }

    pub async fn puback(&mut self) -> String {
        match self
            .until("PUBACK", |s| {
                matches!(
                    s,
                    Seen::PubAck { .. } | Seen::Closed(_) | Seen::Disconnect(_)
                )
            })
            .await
        {
            Seen::PubAck { reason, .. } => reason,
            other => panic!("expected a PUBACK, got {other:?}; seen: {:?}", self.seen),
        }
    }

    /// The next PUBLISH received, as (topic, JSON payload).
    pub async fn message(&mut self) -> (String, Value) {
        self.until("PUBLISH", |s| {
            matches!(s, Seen::Publish { .. } | Seen::Closed(_))
        })
        .await
        .into_publish()
    }

    /// The publishes received so far whose payload contains `text` (PUBACK waits read past
    /// publishes, so a test that must see none looks here).
    pub fn publishes_containing(&self, text: &str) -> Vec<&Seen> {
        self.seen
            .iter()
            .filter(|s| matches!(s, Seen::Publish { payload, .. } if payload.contains(text)))
            .collect()
    }
}

/// After an error: the packets rumqttc read together with the close, which it keeps in its
/// state's queue and hands out only after the error, then what ended the connection.
fn hand_over(tx: &mpsc::UnboundedSender<Seen>, queued: impl Iterator<Item = Seen>, last: Seen) {
    for seen in queued.chain([last]) {
        let _ = tx.send(seen);
    }
}

fn v4_qos(qos: u8) -> rumqttc::QoS {
    match qos {
        0 => rumqttc::QoS::AtMostOnce,
        1 => rumqttc::QoS::AtLeastOnce,
        _ => rumqttc::QoS::ExactlyOnce,
    }
}

fn v5_qos(qos: u8) -> rumqttc::v5::mqttbytes::QoS {
    match qos {
        0 => rumqttc::v5::mqttbytes::QoS::AtMostOnce,
        1 => rumqttc::v5::mqttbytes::QoS::AtLeastOnce,
        _ => rumqttc::v5::mqttbytes::QoS::ExactlyOnce,
    }
}

async fn drive_v4(mut eventloop: rumqttc::EventLoop, tx: mpsc::UnboundedSender<Seen>) {
    use rumqttc::{Event, Packet};
    let convert = |event: Event| -> Option<Seen> {
        let Event::Incoming(packet) = event else {
            return None;
        };
        Some(match packet {
            Packet::ConnAck(a) => Seen::ConnAck(format!("{:?}", a.code)),
            Packet::PubAck(a) => Seen::PubAck {
                pkid: a.pkid,
                reason: "Success".into(),
            },
            Packet::SubAck(s) => {
                Seen::SubAck(s.return_codes.iter().map(|c| format!("{c:?}")).collect())
            }
            Packet::Publish(p) => Seen::Publish {
                topic: p.topic.clone(),
                payload: String::from_utf8_lossy(&p.payload).into_owned(),
            },
            Packet::PingResp => Seen::PingResp,
            _ => return None,
        })
    };
    loop {
        match eventloop.poll().await {
            Ok(event) => {
                if let Some(seen) = convert(event)
                    && tx.send(seen).is_err()
                {
                    return;
                }
            }
            Err(error) => {
                let queued = eventloop.state.events.drain(..).filter_map(&convert);
                let seen = match error {
                    rumqttc::ConnectionError::ConnectionRefused(code) => {
                        Seen::ConnAck(format!("{code:?}"))
                    }
                    other => Seen::Closed(format!("{other:?}")),
                };
                hand_over(&tx, queued, seen);
                return;
            }
        }
    }
}

async fn drive_v5(mut eventloop: rumqttc::v5::EventLoop, tx: mpsc::UnboundedSender<Seen>) {
    use rumqttc::v5::mqttbytes::v5::Packet;
    use rumqttc::v5::{ConnectionError, Event, StateError};
    let convert = |event: Event| -> Option<Seen> {
        match event {
            Event::Incoming(packet) => Some(match packet {
                Packet::ConnAck(a) => Seen::ConnAck(format!("{:?}", a.code)),
                Packet::PubAck(a) => Seen::PubAck {
                    pkid: a.pkid,
                    reason: format!("{:?}", a.reason),
                },
                Packet::SubAck(s) => {
                    Seen::SubAck(s.return_codes.iter().map(|c| format!("{c:?}")).collect())
                }
                Packet::Publish(p) => Seen::Publish {
                    topic: String::from_utf8_lossy(&p.topic).into_owned(),
                    payload: String::from_utf8_lossy(&p.payload).into_owned(),
                },
                Packet::PingResp(_) => Seen::PingResp,
                Packet::UnsubAck(u) => {
                    Seen::UnsubAck(u.reasons.iter().map(|r| format!("{r:?}")).collect())
                }
                Packet::Disconnect(d) => Seen::Disconnect(format!("{:?}", d.reason_code)),
                _ => return None,
            }),
            Event::Outgoing(_) => None,
        }
    };
    loop {
        match eventloop.poll().await {
            Ok(event) => {
                if let Some(seen) = convert(event)
                    && tx.send(seen).is_err()
                {
                    return;
                }
            }
            Err(error) => {
                let queued = eventloop.state.events.drain(..).filter_map(&convert);
                let seen = match error {
                    ConnectionError::MqttState(StateError::ServerDisconnect {
                        reason_code,
                        ..
                    }) => Seen::Disconnect(format!("{reason_code:?}")),
                    ConnectionError::ConnectionRefused(code) => Seen::ConnAck(format!("{code:?}")),
                    other => Seen::Closed(format!("{other:?}")),
                };
                hand_over(&tx, queued, seen);
                return;
            }
        }
    }
}
