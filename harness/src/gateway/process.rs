//! The gateway under test as a child process: started through `sh -c` in its own process
//! group (so that a signal reaches everything it started), its output kept for the report,
//! and stopped the way a terminal and a service manager would: SIGINT, then SIGTERM, then
//! SIGKILL.

use std::collections::VecDeque;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustix::process::{Pid, Signal, kill_process_group};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::watch;

/// Lines of output kept for the report.
const KEPT_LINES: usize = 400;

/// Where the gateway must connect, substituted into its command and set in its environment.
#[derive(Clone, Debug)]
pub struct Endpoint {
    pub host: String,
    pub port: u16,
    pub token: String,
}

/// `{host}`, `{port}` and `{token}` replaced in a command line.
pub fn substitute(command: &str, endpoint: &Endpoint) -> String {
    command
        .replace("{host}", &endpoint.host)
        .replace("{port}", &endpoint.port.to_string())
        .replace("{token}", &endpoint.token)
}

/// The gateway's output so far: stdout and stderr interleaved as they arrived.
#[derive(Clone)]
pub struct Output {
    lines: Arc<Mutex<VecDeque<String>>>,
    /// How many lines arrived in all (kept or not), to wait on.
    count: watch::Sender<usize>,
}

impl Default for Output {
    fn default() -> Output {
        Output {
            lines: Arc::default(),
            count: watch::channel(0).0,
        }
    }
}

impl Output {
    fn push(&self, line: String) {
        if let Ok(mut lines) = self.lines.lock() {
            if lines.len() == KEPT_LINES {
                lines.pop_front();
            }
            lines.push_back(line);
        }
        self.count.send_modify(|n| *n += 1);
    }

    /// The last `n` lines.
    pub fn last(&self, n: usize) -> Vec<String> {
        let lines = self.lines.lock().map(|l| l.clone()).unwrap_or_default();
        let skip = lines.len().saturating_sub(n);
        lines.into_iter().skip(skip).collect()
    }

    /// Waits until `n` lines have arrived in all; false when `within` passed first.
    pub async fn wait_for_lines(&self, n: usize, within: Duration) -> bool {
        let mut count = self.count.subscribe();
        matches!(
            tokio::time::timeout(within, count.wait_for(|c| *c >= n)).await,
            Ok(Ok(_))
        )
    }
}

pub struct GatewayProcess {
    child: Child,
    pub command: String,
    pub output: Output,
}

/// How the gateway ended.
#[derive(Clone, Debug)]
pub struct Stopped {
    /// `exited by itself`, `SIGINT`, `SIGTERM` or `SIGKILL`: what ended it.
    pub by: &'static str,
    pub status: Option<ExitStatus>,
    pub took: Duration,
}

impl GatewayProcess {
    pub fn start(command: &str, endpoint: &Endpoint) -> Result<GatewayProcess, String> {
        let command = substitute(command, endpoint);
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(&command)
            .env("TB_GW_HOST", &endpoint.host)
            .env("TB_GW_PORT", endpoint.port.to_string())
            .env("TB_GW_ACCESS_TOKEN", &endpoint.token)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot start the gateway `{command}`: {e}"))?;
        let output = Output::default();
        if let Some(stdout) = child.stdout.take() {
            tokio::spawn(keep_lines(stdout, output.clone()));
        }
        if let Some(stderr) = child.stderr.take() {
            tokio::spawn(keep_lines(stderr, output.clone()));
        }
        Ok(GatewayProcess {
            child,
            command,
            output,
        })
    }

    /// Waits until the gateway ends by itself (cancel-safe).
    pub async fn wait_exit(&mut self) -> Option<ExitStatus> {
        self.child.wait().await.ok()
    }

    /// The exit status if the gateway has already ended.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// SIGINT to its process group; SIGTERM after `grace`; SIGKILL after another `grace`.
    pub async fn stop(&mut self, grace: Duration) -> Stopped {
        let started = std::time::Instant::now();
        if let Some(status) = self.exited() {
            return Stopped {
                by: "exited by itself",
                status: Some(status),
                took: Duration::ZERO,
            };
        }
        let group = self
            .child
            .id()
            .and_then(|id| i32::try_from(id).ok())
            .and_then(Pid::from_raw);
        for (signal, name) in [(Signal::INT, "SIGINT"), (Signal::TERM, "SIGTERM")] {
            if let Some(group) = group {
                let _ = kill_process_group(group, signal);
            }
            if let Ok(Ok(status)) = tokio::time::timeout(grace, self.child.wait()).await {
                return Stopped {
                    by: name,
                    status: Some(status),
                    took: started.elapsed(),
                };
            }
        }
        if let Some(group) = group {
            let _ = kill_process_group(group, Signal::KILL);
        }
        let _ = self.child.start_kill();
        let status = tokio::time::timeout(grace, self.child.wait())
            .await
            .ok()
            .and_then(Result::ok);
        Stopped {
            by: "SIGKILL",
            status,
            took: started.elapsed(),
        }
    }
}

async fn keep_lines(stream: impl AsyncRead + Unpin, output: Output) {
    let mut lines = BufReader::new(stream).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        output.push(line);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint() -> Endpoint {
        Endpoint {
            host: "127.0.0.1".into(),
            port: 41883,
            token: "T0K".into(),
        }
    }

    #[test]
    fn placeholders_are_substituted_everywhere() {
        assert_eq!(
            substitute(
                "gw --host {host} --port {port} -u {token} # {port}",
                &endpoint()
            ),
            "gw --host 127.0.0.1 --port 41883 -u T0K # 41883"
        );
    }

    #[tokio::test]
    async fn the_environment_carries_the_endpoint_and_output_is_kept() {
        let mut gw = GatewayProcess::start(
            "echo \"$TB_GW_HOST:$TB_GW_PORT $TB_GW_ACCESS_TOKEN\"; echo oops >&2",
            &endpoint(),
        )
        .unwrap();
        let status = gw.child.wait().await.unwrap();
        assert!(status.success());
        // The readers may still be draining the pipes after the exit.
        assert!(gw.output.wait_for_lines(2, Duration::from_secs(5)).await);
        let mut lines = gw.output.last(10);
        lines.sort();
        assert_eq!(lines, ["127.0.0.1:41883 T0K", "oops"]);
    }

    #[tokio::test]
    async fn a_gateway_ignoring_sigint_and_sigterm_is_killed() {
        let mut gw = GatewayProcess::start(
            "trap '' INT TERM; echo armed; while :; do sleep 0.05; done",
            &endpoint(),
        )
        .unwrap();
        assert!(gw.output.wait_for_lines(1, Duration::from_secs(5)).await);
        let stopped = gw.stop(Duration::from_millis(200)).await;
        assert_eq!(stopped.by, "SIGKILL");
    }

    #[tokio::test]
    async fn sigint_reaches_the_children_of_the_shell() {
        // The outer shell waits for a child process: only a signal to the whole group stops
        // it at once. The child prints once it runs with default signal handling (a signal
        // between fork and exec could find SIGINT still ignored by the waiting shell).
        let mut gw = GatewayProcess::start(
            "sh -c 'echo started; exec sleep 30'; echo never",
            &endpoint(),
        )
        .unwrap();
        assert!(gw.output.wait_for_lines(1, Duration::from_secs(5)).await);
        let stopped = gw.stop(Duration::from_secs(5)).await;
        assert_eq!(stopped.by, "SIGINT", "{stopped:?} {:?}", gw.output.last(5));
    }
}
