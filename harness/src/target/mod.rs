//! Where the platform under test lives. Every target is reached through the same two doors,
//! MQTT and ThingsBoard's REST API, so the runner has one code path for all of them.

pub mod container;
pub mod rest;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use clap::ValueEnum;

use crate::emulator::core::settings::Settings;
use crate::emulator::core::store::Retention;
use crate::emulator::{Emulator, Options};
use crate::scenario::model::{Method, User};
use container::{ContainerOptions, Running, Spec};
use rest::{Credentials, RestClient};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum TargetKind {
    /// The emulator, in-process on free ports (needs nothing).
    Embedded,
    /// A container started through testcontainers: ThingsBoard or the emulator's image
    /// (--preset).
    Container,
    /// A running ThingsBoard given by --mqtt and --rest.
    Remote,
    /// A plain MQTT broker given by --mqtt (`tbgw load` only: the same publish load, no
    /// REST, nothing read back), to compare a platform with, e.g., mosquitto.
    Mqtt,
}

impl TargetKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TargetKind::Embedded => "embedded",
            TargetKind::Container => "container",
            TargetKind::Remote => "remote",
            TargetKind::Mqtt => "mqtt",
        }
    }
}

/// How to reach a remote ThingsBoard, or which container to start, and as whom.
#[derive(Clone, Debug, Default)]
pub struct TargetOptions {
    pub mqtt: Option<String>,
    pub rest: Option<String>,
    pub users: HashMap<User, Credentials>,
    pub container: ContainerOptions,
}

/// `transport.sessions.inactivity_timeout` plus two `report_timeout` checks.
fn sessions_expire_after(settings: &Settings) -> Duration {
    let ms = settings
        .session_inactivity_timeout_ms
        .saturating_add(settings.session_report_timeout_ms.saturating_mul(2));
    Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

/// A platform ready for cases: its MQTT address and its REST API.
pub struct Platform {
    pub kind: TargetKind,
    pub mqtt: String,
    pub rest: Arc<RestClient>,
    /// Keeps the embedded emulator running.
    _emulator: Option<Emulator>,
    /// The container of `--target container`, removed by [`Platform::stop`].
    pub container: Option<Running>,
    /// When a quiet transport session has surely expired: the inactivity timeout and two
    /// expiry checks. The embedded emulator's own settings; ThingsBoard's defaults elsewhere.
    pub sessions_expire_after: Duration,
}

impl Platform {
    /// An in-process emulator with these settings.
    pub async fn embedded(settings: Settings) -> Result<Platform, String> {
        Platform::embedded_keeping(settings, Retention::default()).await
    }

    /// An in-process emulator with these settings, keeping this many points.
    pub async fn embedded_keeping(
        settings: Settings,
        retention: Retention,
    ) -> Result<Platform, String> {
        let mut emulator_options = Options::ephemeral();
        let sessions_expire_after = sessions_expire_after(&settings);
        emulator_options.config.settings = settings;
        emulator_options.config.retention = retention;
        let emulator = Emulator::start(emulator_options)
            .await
            .map_err(|e| format!("cannot start the embedded emulator: {e}"))?;
        let rest = RestClient::new(
            &format!("http://{}", emulator.http_addr),
            rest::demo_users(),
        )?;
        Ok(Platform {
            kind: TargetKind::Embedded,
            mqtt: emulator.mqtt_addr.to_string(),
            rest: Arc::new(rest),
            _emulator: Some(emulator),
            container: None,
            sessions_expire_after,
        })
    }

    /// Starts (or reaches) the target; the error says what failed and where (exit 3).
    pub async fn start(kind: TargetKind, options: &TargetOptions) -> Result<Platform, String> {
        match kind {
            TargetKind::Embedded => Platform::embedded(Settings::for_suite_runs()).await,
            TargetKind::Container => {
                let mut running = container::start(Spec::of(&options.container)).await?;
                let rest = RestClient::new(&running.rest, with_demo_users(&options.users))?;
                running.ready_in = running
                    .wait_ready(|| async {
                        rest.call(User::Tenant, Method::Get, "/api/auth/user", None)
                            .await
                            .map(|_| ())
                    })
                    .await?;
                Ok(Platform {
                    kind,
                    mqtt: running.mqtt.clone(),
                    rest: Arc::new(rest),
                    _emulator: None,
                    container: Some(running),
                    sessions_expire_after: sessions_expire_after(&Settings::default()),
                })
            }
            TargetKind::Mqtt => Err(
                "--target mqtt is a plain MQTT broker, not a platform: only `tbgw load` runs against it".into(),
            ),
            TargetKind::Remote => {
                let mqtt = options.mqtt.clone().ok_or(
                    "--target remote needs --mqtt HOST:PORT (ThingsBoard's MQTT transport)",
                )?;
                let base = options
                    .rest
                    .clone()
                    .ok_or("--target remote needs --rest URL (e.g. http://localhost:8080)")?;
                let rest = RestClient::new(&base, with_demo_users(&options.users))?;
                check_mqtt(&mqtt).await?;
                rest.probe().await?;
                rest.call(User::Tenant, Method::Get, "/api/auth/user", None)
                    .await?;
                Ok(Platform {
                    kind,
                    mqtt,
                    rest: Arc::new(rest),
                    _emulator: None,
                    container: None,
                    sessions_expire_after: sessions_expire_after(&Settings::default()),
                })
            }
        }
    }

    /// Ends the platform: the container is stopped and removed (the emulator ends on drop).
    pub async fn stop(self) -> Result<(), String> {
        match self.container {
            Some(running) => running.remove().await,
            None => Ok(()),
        }
    }
}

/// The demo users, with the ones given on the command line in their place.
fn with_demo_users(given: &HashMap<User, Credentials>) -> HashMap<User, Credentials> {
    let mut users = rest::demo_users();
    users.extend(given.clone());
    users
}

/// How long ThingsBoard's MQTT transport may take to answer a CONNECT.
const MQTT_ANSWER: Duration = Duration::from_secs(10);

/// Whether `addr` speaks MQTT: a CONNECT with a token no device has must get a CONNACK (a
/// refusal is an answer). A bare TCP connect proves nothing (an HTTP port accepts too).
pub async fn check_mqtt(addr: &str) -> Result<(), String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let probe = async {
        let mut stream = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| format!("cannot reach ThingsBoard's MQTT transport at {addr}: {e}"))?;
        // MQTT 3.1.1 CONNECT, clean session, keep-alive 30 s, client id and username.
        let (client, token) = (b"tbgw-probe", b"tbgw-probe-not-a-token");
        let mut body = vec![
            0,
            4,
            b'M',
            b'Q',
            b'T',
            b'T',
            4,
            0x82,
            0,
            30,
            0,
            client.len() as u8,
        ];
        body.extend(client);
        body.extend([0, token.len() as u8]);
        body.extend(token);
        let mut packet = vec![0x10, body.len() as u8];
        packet.extend(body);
        stream
            .write_all(&packet)
            .await
            .map_err(|e| format!("{addr} closed the connection at once: {e}"))?;
        let mut answer = [0u8; 4];
        let read = stream.read(&mut answer).await.unwrap_or(0);
        match &answer[..read] {
            [0x20, ..] => Ok(()),
            [] => Err(format!(
                "{addr} closed the connection without answering an MQTT CONNECT: is this ThingsBoard's MQTT port (1883 by default)?"
            )),
            other => Err(format!(
                "{addr} does not speak MQTT: it answered a CONNECT with {:?}; is this ThingsBoard's MQTT port (1883 by default)?",
                String::from_utf8_lossy(other)
            )),
        }
    };
    tokio::time::timeout(MQTT_ANSWER, probe)
        .await
        .unwrap_or_else(|_| {
            Err(format!(
                "{addr} accepts connections but did not answer an MQTT CONNECT within {} s: is this ThingsBoard's MQTT port (1883 by default)?",
                MQTT_ANSWER.as_secs()
            ))
        })
}
