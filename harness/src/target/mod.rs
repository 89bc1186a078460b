//! Where the platform under test lives. Every target is reached through the same two doors,
//! MQTT and ThingsBoard's REST API, so the runner has one code path for all of them.

pub mod rest;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use clap::ValueEnum;

use crate::emulator::{Emulator, Options};
use crate::scenario::model::User;
use rest::{Credentials, RestClient};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum TargetKind {
    /// The emulator, in-process on free ports (needs nothing).
    Embedded,
    /// A ThingsBoard container started through testcontainers.
    Container,
    /// A running ThingsBoard given by --mqtt and --rest.
    Remote,
}

impl TargetKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TargetKind::Embedded => "embedded",
            TargetKind::Container => "container",
            TargetKind::Remote => "remote",
        }
    }
}

/// How to reach a remote ThingsBoard.
#[derive(Clone, Debug, Default)]
pub struct RemoteOptions {
    pub mqtt: Option<String>,
    pub rest: Option<String>,
    pub users: HashMap<User, Credentials>,
}

/// A platform ready for cases: its MQTT address and its REST API.
pub struct Platform {
    pub kind: TargetKind,
    pub mqtt: String,
    pub rest: Arc<RestClient>,
    /// Keeps the embedded emulator running.
    _emulator: Option<Emulator>,
}

impl Platform {
    /// Starts (or reaches) the target; the error says what failed and where (exit 3).
    pub async fn start(kind: TargetKind, remote: &RemoteOptions) -> Result<Platform, String> {
        match kind {
            TargetKind::Embedded => {
                let emulator = Emulator::start(Options::ephemeral())
                    .await
                    .map_err(|e| format!("cannot start the embedded emulator: {e}"))?;
                let rest = RestClient::new(
                    &format!("http://{}", emulator.http_addr),
                    rest::demo_users(),
                )?;
                Ok(Platform {
                    kind,
                    mqtt: emulator.mqtt_addr.to_string(),
                    rest: Arc::new(rest),
                    _emulator: Some(emulator),
                })
            }
            TargetKind::Container => Err(
                "the container target is not available yet (it comes with the containers issue): \
                 run `--target embedded`, or start ThingsBoard yourself and use \
                 `--target remote --mqtt HOST:PORT --rest URL`"
                    .to_owned(),
            ),
            TargetKind::Remote => {
                let mqtt = remote.mqtt.clone().ok_or(
                    "--target remote needs --mqtt HOST:PORT (ThingsBoard's MQTT transport)",
                )?;
                let base = remote
                    .rest
                    .clone()
                    .ok_or("--target remote needs --rest URL (e.g. http://localhost:8080)")?;
                let mut users = rest::demo_users();
                users.extend(remote.users.clone());
                let rest = RestClient::new(&base, users)?;
                check_mqtt(&mqtt).await?;
                rest.call(
                    User::Tenant,
                    crate::scenario::model::Method::Get,
                    "/api/auth/user",
                    None,
                )
                .await?;
                Ok(Platform {
                    kind,
                    mqtt,
                    rest: Arc::new(rest),
                    _emulator: None,
                })
            }
        }
    }
}

async fn check_mqtt(addr: &str) -> Result<(), String> {
    match tokio::time::timeout(
        Duration::from_secs(10),
        tokio::net::TcpStream::connect(addr),
    )
    .await
    {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(format!(
            "cannot reach ThingsBoard's MQTT transport at {addr}: {e}"
        )),
        Err(_) => Err(format!(
            "cannot reach ThingsBoard's MQTT transport at {addr}: no answer within 10 s"
        )),
    }
}
