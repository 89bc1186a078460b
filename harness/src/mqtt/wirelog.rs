//! The wire log of one case: every MQTT packet in and out (with its bytes) and every REST
//! call, in the order they happened, with the time since the case started.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// From the harness to the platform.
    Sent,
    /// From the platform to the harness.
    Received,
    /// A REST call and its result.
    Rest,
}

#[derive(Clone, Debug, Serialize)]
pub struct WireEntry {
    pub at_ms: u64,
    /// The MQTT session's name in the scenario, or `rest`.
    pub channel: String,
    pub direction: Direction,
    pub text: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes: Option<String>,
}

impl WireEntry {
    /// One line for a console: `  +12ms gw → PUBLISH …`.
    pub fn line(&self) -> String {
        let arrow = match self.direction {
            Direction::Sent => "→",
            Direction::Received => "←",
            Direction::Rest => "⇄",
        };
        format!("+{}ms {} {arrow} {}", self.at_ms, self.channel, self.text)
    }
}

#[derive(Clone)]
pub struct WireLog {
    started: Instant,
    entries: Arc<Mutex<Vec<WireEntry>>>,
}

impl Default for WireLog {
    fn default() -> Self {
        WireLog::new()
    }
}

impl WireLog {
    pub fn new() -> WireLog {
        WireLog {
            started: Instant::now(),
            entries: Arc::default(),
        }
    }

    pub fn record(&self, channel: &str, direction: Direction, text: String, bytes: Option<&[u8]>) {
        let entry = WireEntry {
            at_ms: u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX),
            channel: channel.to_owned(),
            direction,
            text,
            bytes: bytes.map(super::packet::hex),
        };
        if let Ok(mut entries) = self.entries.lock() {
            entries.push(entry);
        }
    }

    pub fn len(&self) -> usize {
        self.entries.lock().map(|e| e.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn entries(&self) -> Vec<WireEntry> {
        self.entries.lock().map(|e| e.clone()).unwrap_or_default()
    }
}
