//! Where the platform under test lives. Every target is reached through the same two doors,
//! MQTT and ThingsBoard's REST API, so the runner has one code path for all of them.

pub mod container;
pub mod rest;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use clap::ValueEnum;

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

/// How to reach a remote ThingsBoard, or which container to start, and as whom.
#[derive(Clone, Debug, Default)]
pub struct TargetOptions {
    pub mqtt: Option<String>,
    pub rest: Option<String>,
    pub users: HashMap<User, Credentials>,
    pub container: ContainerOptions,
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
}

impl Platform {
    /// Starts (or reaches) the target; the error says what failed and where (exit 3).
    pub async fn start(kind: TargetKind, options: &TargetOptions) -> Result<Platform, String> {
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
                    container: None,
                })
            }
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
                })
            }
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
                rest.call(User::Tenant, Method::Get, "/api/auth/user", None)
                    .await?;
                Ok(Platform {
                    kind,
                    mqtt,
                    rest: Arc::new(rest),
                    _emulator: None,
                    container: None,
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
