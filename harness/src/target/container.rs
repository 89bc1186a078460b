//! `--target container`: the platform under test in a Docker container started through
//! testcontainers, waited for until it is ready, reached through its mapped MQTT and HTTP
//! ports, and removed when the run ends.
//!
//! Readiness is ours rather than testcontainers' wait strategies, so that a container that
//! exits or never gets ready is reported with its last output lines.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::ValueEnum;
use testcontainers::core::client::ClientError;
use testcontainers::core::logs::LogFrame;
use testcontainers::core::{IntoContainerPort, WaitFor};
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, GenericImage, ImageExt, TestcontainersError};
use tokio::sync::watch;

use crate::emulator::core::settings::FOR_SUITE_RUNS;
use crate::mqtt::Version;
use crate::mqtt::packet::{self, Outgoing};

/// The platform images `--target container` knows how to start and wait for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum Preset {
    /// ThingsBoard CE with its own PostgreSQL (`thingsboard/tb-postgres`) and its demo users.
    #[default]
    Thingsboard,
    /// This project's emulator image (`tbgw-emulator`, built by harness/docker/build-image.sh).
    Emulator,
}

/// The emulator image's name; its default tag is this crate's version.
pub const EMULATOR_IMAGE: &str = "tbgw-emulator";
/// Printed by `tbgw serve` once both listeners are bound.
pub const EMULATOR_READY_LINE: &str = "tbgw serve: ready";

/// What the user may change about a preset.
#[derive(Clone, Debug, Default)]
pub struct ContainerOptions {
    pub preset: Preset,
    /// `NAME` or `NAME:TAG`.
    pub image: Option<String>,
    pub tag: Option<String>,
    pub env: Vec<(String, String)>,
    pub ready_timeout: Option<Duration>,
}

/// How a container shows that it is ready.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Readiness {
    /// A line of its output contains this text.
    LogLine(&'static str),
    /// The tenant administrator can log in through REST and MQTT answers a CONNECT
    /// (ThingsBoard logs several "started" lines, but REST login is what the suite needs).
    Login,
}

/// Everything needed to start one container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Spec {
    pub image: String,
    pub tag: String,
    pub mqtt_port: u16,
    pub http_port: u16,
    pub env: Vec<(String, String)>,
    pub readiness: Readiness,
    pub ready_timeout: Duration,
}

impl Spec {
    /// The preset's defaults with the user's overrides applied.
    pub fn of(options: &ContainerOptions) -> Spec {
        let mut spec = match options.preset {
            // Ports, users and timings: reference/thingsboard-behavior.md §8.
            Preset::Thingsboard => Spec {
                image: "thingsboard/tb-postgres".to_owned(),
                tag: "latest".to_owned(),
                mqtt_port: 1883,
                http_port: 9090,
                env: vec![("TB_QUEUE_TYPE".to_owned(), "in-memory".to_owned())],
                readiness: Readiness::Login,
                // The first start installs the database and the demo data: minutes.
                ready_timeout: Duration::from_secs(400),
            },
            Preset::Emulator => Spec {
                image: EMULATOR_IMAGE.to_owned(),
                tag: env!("CARGO_PKG_VERSION").to_owned(),
                mqtt_port: 1883,
                http_port: 8080,
                env: FOR_SUITE_RUNS
                    .iter()
                    .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
                    .collect(),
                readiness: Readiness::LogLine(EMULATOR_READY_LINE),
                ready_timeout: Duration::from_secs(30),
            },
        };
        if let Some(image) = &options.image {
            let (name, tag) = split_image(image);
            spec.image = name.to_owned();
            if let Some(tag) = tag {
                spec.tag = tag.to_owned();
            }
        }
        if let Some(tag) = &options.tag {
            spec.tag = tag.clone();
        }
        for (key, value) in &options.env {
            spec.env.retain(|(k, _)| k != key);
            spec.env.push((key.clone(), value.clone()));
        }
        if let Some(timeout) = options.ready_timeout {
            spec.ready_timeout = timeout;
        }
        spec
    }

    pub fn reference(&self) -> String {
        format!("{}:{}", self.image, self.tag)
    }
}

/// `registry:5000/owner/name:tag` → (`registry:5000/owner/name`, `Some("tag")`): the tag's
/// colon is the one after the last slash.
pub fn split_image(image: &str) -> (&str, Option<&str>) {
    let name_start = image.rfind('/').map_or(0, |i| i + 1);
    match image[name_start..].rfind(':') {
        Some(i) => (&image[..name_start + i], Some(&image[name_start + i + 1..])),
        None => (image, None),
    }
}

/// Where the Docker engine is looked for, for error messages.
pub fn docker_host() -> String {
    std::env::var("DOCKER_HOST")
        .map(|host| format!("{host} (from DOCKER_HOST)"))
        .unwrap_or_else(|_| "unix:///var/run/docker.sock".to_owned())
}

/// The last lines a container printed, kept for reports; also signals the ready line.
#[derive(Clone)]
struct Output {
    lines: Arc<Mutex<VecDeque<String>>>,
    seen_ready: watch::Sender<bool>,
}

const KEPT_LINES: usize = 40;

impl Output {
    fn new() -> Output {
        Output {
            lines: Arc::default(),
            seen_ready: watch::channel(false).0,
        }
    }

    fn accept(&self, frame: &LogFrame, ready_line: Option<&str>) {
        let bytes = match frame {
            LogFrame::StdOut(bytes) | LogFrame::StdErr(bytes) => bytes,
        };
        let text = String::from_utf8_lossy(bytes);
        if let Ok(mut lines) = self.lines.lock() {
            for line in text.lines().filter(|l| !l.trim().is_empty()) {
                if lines.len() == KEPT_LINES {
                    lines.pop_front();
                }
                lines.push_back(line.to_owned());
            }
        }
        if ready_line.is_some_and(|ready| text.contains(ready)) {
            self.seen_ready.send_replace(true);
        }
    }

    fn tail(&self) -> String {
        let lines = self.lines.lock().map(|l| l.clone()).unwrap_or_default();
        if lines.is_empty() {
            return "  (it printed nothing)".to_owned();
        }
        lines
            .iter()
            .map(|l| format!("  | {l}"))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// A started container and where to reach it.
pub struct Running {
    container: ContainerAsync<GenericImage>,
    output: Output,
    pub spec: Spec,
    pub mqtt: String,
    pub rest: String,
    started: Instant,
    /// From the start request to ready (set once [`Running::wait_ready`] succeeded).
    pub ready_in: Duration,
}

/// Starts the container and maps its ports; it may not be ready yet (see [`Running::wait_ready`]).
pub async fn start(spec: Spec) -> Result<Running, String> {
    let started = Instant::now();
    let output = Output::new();
    let consumer = output.clone();
    let ready_line = match spec.readiness {
        Readiness::LogLine(line) => Some(line),
        Readiness::Login => None,
    };
    let mut request = GenericImage::new(spec.image.as_str(), spec.tag.as_str())
        .with_exposed_port(spec.mqtt_port.tcp())
        .with_exposed_port(spec.http_port.tcp())
        .with_wait_for(WaitFor::Nothing)
        .with_label("org.tbgw.role", "platform-under-test")
        .with_log_consumer(move |frame: &LogFrame| consumer.accept(frame, ready_line));
    for (key, value) in &spec.env {
        request = request.with_env_var(key, value);
    }
    let container = request.start().await.map_err(|e| start_error(&spec, &e))?;
    let host = match container.get_host().await {
        // "localhost" may resolve to ::1 first while only IPv4 ports are looked up.
        Ok(host) if host.to_string() == "localhost" => "127.0.0.1".to_owned(),
        Ok(host) => host.to_string(),
        Err(e) => return Err(format!("cannot tell where the container listens: {e}")),
    };
    let port = |inner: u16| {
        let container = &container;
        async move {
            container
                .get_host_port_ipv4(inner)
                .await
                .map_err(|e| format!("container port {inner} is not mapped to this host: {e}"))
        }
    };
    let mqtt = format!("{host}:{}", port(spec.mqtt_port).await?);
    let rest = format!("http://{host}:{}", port(spec.http_port).await?);
    Ok(Running {
        container,
        output,
        spec,
        mqtt,
        rest,
        started,
        ready_in: Duration::ZERO,
    })
}

fn start_error(spec: &Spec, error: &TestcontainersError) -> String {
    let image = spec.reference();
    match error {
        TestcontainersError::Client(ClientError::Init(e)) => format!(
            "no Docker engine at {}: {e}; start Docker or set DOCKER_HOST, or use --target embedded",
            docker_host()
        ),
        TestcontainersError::Client(ClientError::PullImage { err, .. }) => {
            let hint = if spec.image == EMULATOR_IMAGE {
                "; build it with harness/docker/build-image.sh"
            } else {
                "; pull or load it into the local engine first (docker pull / docker load)"
            };
            format!("image {image} is not present locally and could not be pulled ({err}){hint}")
        }
        TestcontainersError::Client(e) if is_connection_error(e) => format!(
            "cannot reach the Docker engine at {}: {e}; start Docker or set DOCKER_HOST",
            docker_host()
        ),
        other => format!("cannot start a container from {image}: {other}"),
    }
}

/// Whether the engine could not be reached at all (as opposed to refusing a request).
fn is_connection_error(error: &ClientError) -> bool {
    let mut source: Option<&dyn std::error::Error> = Some(error);
    while let Some(e) = source {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            return matches!(
                io.kind(),
                std::io::ErrorKind::ConnectionRefused
                    | std::io::ErrorKind::NotFound
                    | std::io::ErrorKind::PermissionDenied
            );
        }
        source = e.source();
    }
    false
}

impl Running {
    /// Waits until the platform is ready or `ready_timeout` from the start has passed.
    /// `login` answers whether the tenant administrator can log in through REST.
    pub async fn wait_ready<F, Fut>(&self, login: F) -> Result<Duration, String>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<(), String>>,
    {
        let deadline = self.started + self.spec.ready_timeout;
        let what = match self.spec.readiness {
            Readiness::LogLine(line) => format!("the line {line:?}"),
            Readiness::Login => "a REST login and an MQTT CONNACK".to_owned(),
        };
        let mut last_problem = String::new();
        let mut seen_ready = self.output.seen_ready.subscribe();
        let poll = match self.spec.readiness {
            Readiness::LogLine(_) => Duration::from_millis(250),
            Readiness::Login => Duration::from_secs(2),
        };
        loop {
            let ready = match self.spec.readiness {
                Readiness::LogLine(_) => *seen_ready.borrow_and_update(),
                Readiness::Login => match login().await {
                    Ok(()) => match mqtt_answers(&self.mqtt).await {
                        Ok(()) => true,
                        Err(e) => {
                            last_problem = e;
                            false
                        }
                    },
                    Err(e) => {
                        last_problem = e;
                        false
                    }
                },
            };
            if ready {
                return Ok(self.started.elapsed());
            }
            if !self.container.is_running().await.unwrap_or(true) {
                let code = self.container.exit_code().await.ok().flatten();
                return Err(format!(
                    "container {} exited{} before it was ready; its last output:\n{}",
                    self.spec.reference(),
                    code.map(|c| format!(" with code {c}")).unwrap_or_default(),
                    self.output.tail()
                ));
            }
            let now = Instant::now();
            if now >= deadline {
                let problem = if last_problem.is_empty() {
                    String::new()
                } else {
                    format!(" (last try: {last_problem})")
                };
                return Err(format!(
                    "container {} was not ready within {} s: no sign of {what}{problem}; raise \
                     --ready-timeout if it is only slow. Its last output:\n{}",
                    self.spec.reference(),
                    self.spec.ready_timeout.as_secs_f64(),
                    self.output.tail()
                ));
            }
            let next = (now + poll).min(deadline);
            let _ = tokio::time::timeout_at(next.into(), seen_ready.changed()).await;
        }
    }

    pub fn id(&self) -> &str {
        self.container.id()
    }

    /// Stops and removes the container.
    pub async fn remove(self) -> Result<(), String> {
        let image = self.spec.reference();
        self.container
            .rm()
            .await
            .map_err(|e| format!("cannot remove the container of {image}: {e}"))
    }
}

/// Whether an MQTT server at `addr` answers a CONNECT with a CONNACK (any return code: the
/// probe's token is not valid). A TCP connect alone proves nothing: Docker's port proxy
/// accepts connections before anything listens in the container.
pub async fn mqtt_answers(addr: &str) -> Result<(), String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let probe = async {
        let mut stream = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| format!("MQTT at {addr}: {e}"))?;
        let connect = packet::encode(
            &Outgoing::Connect {
                client_id: "tbgw-readiness-probe".to_owned(),
                username: Some("tbgw-readiness-probe".to_owned()),
                password: None,
                clean: true,
            },
            Version::V3,
        )?;
        stream
            .write_all(&connect)
            .await
            .map_err(|e| format!("MQTT at {addr}: {e}"))?;
        let mut first = [0u8; 1];
        match stream.read_exact(&mut first).await {
            Ok(_) if first[0] >> 4 == 2 => Ok(()),
            Ok(_) => Err(format!(
                "MQTT at {addr} answered a CONNECT with packet type {}",
                first[0] >> 4
            )),
            Err(e) => Err(format!("MQTT at {addr} closed without a CONNACK: {e}")),
        }
    };
    tokio::time::timeout(Duration::from_secs(5), probe)
        .await
        .unwrap_or_else(|_| Err(format!("MQTT at {addr}: no CONNACK within 5 s")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(preset: Preset) -> ContainerOptions {
        ContainerOptions {
            preset,
            image: None,
            tag: None,
            env: Vec::new(),
            ready_timeout: None,
        }
    }

    #[test]
    fn thingsboard_preset_follows_the_reference_image() {
        let spec = Spec::of(&options(Preset::Thingsboard));
        assert_eq!(spec.reference(), "thingsboard/tb-postgres:latest");
        assert_eq!((spec.http_port, spec.mqtt_port), (9090, 1883));
        assert_eq!(spec.readiness, Readiness::Login);
        assert_eq!(
            spec.env,
            vec![("TB_QUEUE_TYPE".to_owned(), "in-memory".to_owned())]
        );
        assert_eq!(spec.ready_timeout, Duration::from_secs(400));
    }

    #[test]
    fn emulator_preset_uses_the_image_of_this_version() {
        let spec = Spec::of(&options(Preset::Emulator));
        assert_eq!(
            spec.reference(),
            format!("tbgw-emulator:{}", env!("CARGO_PKG_VERSION"))
        );
        assert_eq!((spec.http_port, spec.mqtt_port), (8080, 1883));
        assert_eq!(spec.readiness, Readiness::LogLine("tbgw serve: ready"));
    }

    #[test]
    fn overrides_replace_image_tag_env_and_timeout() {
        let mut o = options(Preset::Thingsboard);
        o.image = Some("registry.local:5000/tb/tb-postgres:4.3.1.3".to_owned());
        o.env = vec![
            ("TB_QUEUE_TYPE".to_owned(), "kafka".to_owned()),
            ("JAVA_OPTS".to_owned(), "-Xmx2g".to_owned()),
        ];
        o.ready_timeout = Some(Duration::from_secs(900));
        let spec = Spec::of(&o);
        assert_eq!(spec.image, "registry.local:5000/tb/tb-postgres");
        assert_eq!(spec.tag, "4.3.1.3");
        assert_eq!(
            spec.env,
            vec![
                ("TB_QUEUE_TYPE".to_owned(), "kafka".to_owned()),
                ("JAVA_OPTS".to_owned(), "-Xmx2g".to_owned()),
            ]
        );
        assert_eq!(spec.ready_timeout, Duration::from_secs(900));
        o.tag = Some("4.2.0".to_owned());
        assert_eq!(
            Spec::of(&o).tag,
            "4.2.0",
            "--tag wins over a tag in --image"
        );
    }

    #[test]
    fn a_registry_port_is_not_taken_for_a_tag() {
        assert_eq!(
            split_image("localhost:5000/tbgw"),
            ("localhost:5000/tbgw", None)
        );
        assert_eq!(split_image("tbgw:1"), ("tbgw", Some("1")));
        assert_eq!(split_image("a/b/c"), ("a/b/c", None));
    }

    #[tokio::test]
    async fn a_silent_port_is_not_mistaken_for_mqtt() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        // Accept and close at once, as Docker's proxy does when nothing listens inside.
        let closer = tokio::spawn(async move {
            let _ = listener.accept().await;
        });
        let answer = mqtt_answers(&addr).await;
        assert!(answer.is_err(), "{answer:?}");
        let _ = closer.await;
    }
}
