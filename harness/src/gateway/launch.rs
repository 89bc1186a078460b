//! Starting a gateway under test: the emulator on free ports with a fresh gateway device,
//! the observer on its traffic, and the gateway's command in its own process group. Shared
//! by `check-gateway` and `fuzz gateway`, so both start and stop a gateway the same way.

use std::sync::Arc;

use super::endpoint::Endpoint;
use super::observer::Observer;
use crate::emulator::{Emulator, Options};
use crate::process::group::ProcessGroup;
use crate::target::rest::{self, RestClient};

/// The gateway device the emulator provisions for the gateway under test.
pub const GATEWAY_NAME: &str = "tbgw-gateway-under-test";

/// A gateway process started against its own emulator.
pub struct Launched {
    pub emulator: Emulator,
    pub rest: Arc<RestClient>,
    pub observer: Observer,
    pub process: ProcessGroup,
    /// The gateway device's access token (its MQTT username).
    pub token: String,
}

/// Starts the emulator and `command` (`{host}`, `{port}`, `{token}` substituted); with
/// `log`, every line the gateway prints is appended to that file too.
pub async fn launch(command: &str, log: Option<std::fs::File>) -> Result<Launched, String> {
    let token = format!("tbgw-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let mut options = Options::ephemeral();
    options
        .config
        .gateways
        .push((GATEWAY_NAME.to_owned(), token.clone()));
    let emulator = Emulator::start(options)
        .await
        .map_err(|e| format!("cannot start the emulator: {e}"))?;
    let rest = Arc::new(RestClient::new(
        &format!("http://{}", emulator.http_addr),
        rest::demo_users(),
    )?);
    let observer = Observer::start(emulator.watch_traffic(), token.clone());
    let endpoint = Endpoint {
        host: emulator.mqtt_addr.ip().to_string(),
        port: emulator.mqtt_addr.port(),
        token: token.clone(),
    };
    let process = ProcessGroup::start(&endpoint.substitute(command), &endpoint.environment(), log)
        .map_err(|e| format!("cannot start the gateway: {e}"))?;
    Ok(Launched {
        emulator,
        rest,
        observer,
        process,
        token,
    })
}
