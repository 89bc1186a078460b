//! A small ThingsBoard gateway on rumqttc (MQTT 5) that does everything `tbgw check-gateway`
//! checks the right way, and, with `--broken`, a few things the wrong way on purpose.
//!
//! ```sh
//! cargo run -p tbgw-harness --example reference_gateway -- --host 127.0.0.1 --port 1883 --token GW_TOKEN
//! tbgw check-gateway --cmd "target/debug/examples/reference_gateway --host {host} --port {port} --token {token}"
//! ```
//!
//! It subscribes like the real gateways, asks for its session limits, announces two devices
//! (again after every reconnect), sends their telemetry every second, answers every RPC for
//! a device with `{"echo": params, "method": method}` under that device's name and id, survives
//! any malformed message from the platform, and on Ctrl-C disconnects its devices.
//!
//! `--broken` sends a `null` attribute value (ThingsBoard drops it), announces its devices
//! with an unquoted JSON key (accepted only by Gson's leniency), sends telemetry for a device
//! it never announced, answers every RPC as the first device with `data` as JSON text, stops
//! handling messages after a malformed attribute update (as tb-mqtt-client 1.13 does), and
//! does not announce its devices again after a reconnect.
//!
//! `--fragile` has five seeded faults for `tbgw fuzz gateway` to find: it panics on an RPC
//! whose `device` is not a string, exits (status 3) on an attribute update whose `data` is a
//! list, stops handling messages after one nested deeper than its JSON parser allows,
//! reconnects five times in a row, leaving four of those sessions at once (a reconnect storm),
//! on an RPC whose `id` is a string, and
//! answers an RPC whose `params` is a string with a reply without `id` (which ThingsBoard
//! refuses).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::Packet;
use rumqttc::v5::{AsyncClient, Event, MqttOptions};
use serde_json::{Value, json};

const DEVICES: [&str; 2] = ["Ref Sensor A", "Ref Sensor B"];

/// The topics every real gateway subscribes to (gateway-peers.md §0).
const SUBSCRIPTIONS: [&str; 7] = [
    "v1/devices/me/attributes",
    "v1/devices/me/attributes/response/+",
    "v1/devices/me/rpc/request/+",
    "v1/devices/me/rpc/response/+",
    "v1/gateway/attributes",
    "v1/gateway/attributes/response",
    "v1/gateway/rpc",
];

struct Settings {
    host: String,
    port: u16,
    token: String,
    broken: bool,
    fragile: bool,
}

fn settings() -> Result<Settings, String> {
    let mut host = std::env::var("TB_GW_HOST").unwrap_or_else(|_| "127.0.0.1".to_owned());
    let mut port = std::env::var("TB_GW_PORT").unwrap_or_else(|_| "1883".to_owned());
    let mut token = std::env::var("TB_GW_ACCESS_TOKEN").unwrap_or_default();
    let mut broken = false;
    let mut fragile = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--host" => host = value()?,
            "--port" => port = value()?,
            "--token" => token = value()?,
            "--broken" => broken = true,
            "--fragile" => fragile = true,
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    let port = port.parse().map_err(|_| format!("bad port {port:?}"))?;
    if token.is_empty() {
        return Err("no access token: pass --token or set TB_GW_ACCESS_TOKEN".to_owned());
    }
    Ok(Settings {
        host,
        port,
        token,
        broken,
        fragile,
    })
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(0))
}

struct Gateway {
    client: AsyncClient,
    broken: bool,
    fragile: bool,
    /// `--broken` and `--fragile` only: set by a malformed message; from then on messages
    /// are ignored.
    deaf: bool,
    sessions: usize,
    /// `--fragile` only: sessions still to end at once after their CONNACK.
    storm: usize,
    /// `--fragile` only: it ended its own session, to reconnect without a back-off.
    left: bool,
}

impl Gateway {
    async fn publish(&self, topic: &str, payload: Value) {
        self.publish_text(topic, payload.to_string()).await;
    }

    async fn publish_text(&self, topic: &str, payload: String) {
        println!("-> {topic} {payload}");
        if let Err(e) = self
            .client
            .publish(topic, QoS::AtLeastOnce, false, payload)
            .await
        {
            println!("cannot publish on {topic}: {e}");
        }
    }

    async fn on_connected(&mut self) {
        self.sessions += 1;
        for topic in SUBSCRIPTIONS {
            let _ = self.client.subscribe(topic, QoS::AtLeastOnce).await;
        }
        self.publish(
            "v1/devices/me/rpc/request/1",
            json!({"method": "getSessionLimits", "params": {"timeout": 5000}}),
        )
        .await;
        if self.broken && self.sessions > 1 {
            println!("(broken) not announcing the devices again");
            return;
        }
        for device in DEVICES {
            if self.broken {
                let unquoted = format!(r#"{{device: "{device}", "type": "default"}}"#);
                self.publish_text("v1/gateway/connect", unquoted).await;
            } else {
                self.publish(
                    "v1/gateway/connect",
                    json!({"device": device, "type": "default"}),
                )
                .await;
            }
        }
        for device in DEVICES {
            let firmware = if self.broken {
                Value::Null
            } else {
                json!("1.0.0")
            };
            self.publish(
                "v1/gateway/attributes",
                json!({device: {"firmware": firmware, "model": "ref"}}),
            )
            .await;
        }
        if self.broken {
            self.publish(
                "v1/gateway/telemetry",
                json!({"Ref Sensor Unannounced": [{"t": 1}]}),
            )
            .await;
        }
    }

    async fn send_telemetry(&self) {
        for (i, device) in DEVICES.iter().enumerate() {
            let point =
                json!({"ts": now_ms(), "values": {"temperature": 20.5 + i as f64, "humidity": 40}});
            self.publish("v1/gateway/telemetry", json!({*device: [point]}))
                .await;
        }
    }

    async fn on_message(&mut self, topic: &str, payload: &[u8]) {
        let text = String::from_utf8_lossy(payload);
        println!("<- {topic} {text}");
        if self.deaf {
            return;
        }
        let message = match serde_json::from_slice::<Value>(payload) {
            Ok(message) => message,
            Err(e) if self.fragile && e.to_string().contains("recursion limit") => {
                println!("(fragile) nested too deep ({e}): no more messages handled");
                self.deaf = true;
                return;
            }
            Err(_) => {
                println!("ignored: not JSON");
                return;
            }
        };
        match topic {
            "v1/gateway/rpc" => self.on_rpc(&message).await,
            "v1/gateway/attributes" => self.on_attributes(&message),
            "v1/gateway/disconnect" => {
                // The platform dropped a device's session: announce it again.
                if let Some(device) = message.get("device").and_then(Value::as_str)
                    && DEVICES.contains(&device)
                {
                    self.publish(
                        "v1/gateway/connect",
                        json!({"device": device, "type": "default"}),
                    )
                    .await;
                }
            }
            _ => {}
        }
    }

    async fn on_rpc(&mut self, message: &Value) {
        if self.fragile
            && let Some(device) = message.get("device")
            && !device.is_string()
        {
            panic!("(fragile) the RPC's device is not a string: {device}");
        }
        let device = message.get("device").and_then(Value::as_str);
        let data = message.get("data");
        if self.fragile && data.and_then(|d| d.get("id")).is_some_and(Value::is_string) {
            println!("(fragile) the RPC's id is a string: reconnecting 4 times");
            self.storm = 4;
            self.left = true;
            let _ = self.client.disconnect().await;
            return;
        }
        let id = data.and_then(|d| d.get("id")).and_then(Value::as_i64);
        let method = data.and_then(|d| d.get("method")).and_then(Value::as_str);
        let (Some(device), Some(id), Some(method)) = (device, id, method) else {
            println!("ignored: not an RPC request (device, data.id, data.method)");
            return;
        };
        if !DEVICES.contains(&device) {
            println!("ignored: RPC for a device this gateway does not serve");
            return;
        }
        let params = data
            .and_then(|d| d.get("params"))
            .cloned()
            .unwrap_or(Value::Null);
        if self.fragile && params.is_string() {
            println!("(fragile) the RPC's params is a string: replying without its id");
            let reply = json!({"device": device, "data": {"echo": params}});
            self.publish("v1/gateway/rpc", reply).await;
            return;
        }
        let result = json!({"echo": params, "method": method});
        let reply = if self.broken {
            json!({"device": DEVICES[0], "id": id, "data": result.to_string()})
        } else {
            json!({"device": device, "id": id, "data": result})
        };
        self.publish("v1/gateway/rpc", reply).await;
    }

    fn on_attributes(&mut self, message: &Value) {
        if self.fragile && message.get("data").is_some_and(Value::is_array) {
            println!("(fragile) attribute data is a list: exiting");
            std::process::exit(3);
        }
        let device = message.get("device").and_then(Value::as_str);
        match (device, message.get("data")) {
            (Some(device), Some(Value::Object(data))) => {
                println!(
                    "shared attributes of {device}: {}",
                    Value::Object(data.clone())
                );
            }
            _ if self.broken => {
                println!("(broken) a malformed attribute update: no more messages handled");
                self.deaf = true;
            }
            _ => println!("ignored: not an attribute update (device, data object)"),
        }
    }

    async fn shut_down(&self) {
        for device in DEVICES {
            self.publish("v1/gateway/disconnect", json!({"device": device}))
                .await;
        }
        let _ = self.client.disconnect().await;
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let settings = match settings() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("reference_gateway: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let mut options = MqttOptions::new("tbgw-reference-gateway", settings.host, settings.port);
    options.set_credentials(settings.token, "");
    options.set_keep_alive(Duration::from_secs(60));
    options.set_max_packet_size(Some(1 << 20));
    // A reply goes out at once, not after the platform's delayed ACK of the PUBACK before it.
    let mut network = rumqttc::NetworkOptions::new();
    network.set_tcp_nodelay(true);
    options.set_network_options(network);
    let (client, mut eventloop) = AsyncClient::new(options, 256);
    let mut gateway = Gateway {
        client,
        broken: settings.broken,
        fragile: settings.fragile,
        deaf: false,
        sessions: 0,
        storm: 0,
        left: false,
    };
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    let mut connected = false;
    // One listener for the whole run: a Ctrl-C during a reconnect back-off is not lost.
    let stop = tokio::signal::ctrl_c();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            event = eventloop.poll() => match event {
                Ok(Event::Incoming(Packet::ConnAck(_))) if gateway.storm > 0 => {
                    gateway.storm -= 1;
                    gateway.left = true;
                    println!("connected; (fragile) leaving again at once");
                    let _ = gateway.client.disconnect().await;
                }
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    println!("connected");
                    connected = true;
                    gateway.on_connected().await;
                }
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    let topic = String::from_utf8_lossy(&p.topic).into_owned();
                    gateway.on_message(&topic, &p.payload).await;
                }
                Ok(_) => {}
                Err(e) if gateway.left => {
                    println!("connection lost: {e}; (fragile) reconnecting at once");
                    gateway.left = false;
                    connected = false;
                }
                Err(e) => {
                    println!("connection lost: {e}; reconnecting in 1 s");
                    connected = false;
                    // A reconnect back-off, as any gateway has; Ctrl-C still stops it.
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                        _ = &mut stop => return std::process::ExitCode::SUCCESS,
                    }
                }
            },
            _ = ticker.tick(), if connected => gateway.send_telemetry().await,
            _ = &mut stop => {
                println!("stopping");
                gateway.shut_down().await;
                // Let the event loop send the queued disconnects and the DISCONNECT.
                let flush = async {
                    while let Ok(event) = eventloop.poll().await {
                        if let Event::Outgoing(rumqttc::Outgoing::Disconnect) = event {
                            break;
                        }
                    }
                };
                let _ = tokio::time::timeout(Duration::from_secs(2), flush).await;
                return std::process::ExitCode::SUCCESS;
            }
        }
    }
}
