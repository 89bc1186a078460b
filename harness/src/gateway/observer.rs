//! The live view of the gateway under test: a task drains the emulator's traffic, keeps what
//! the gateway did (sessions, subscriptions, announced devices, every message) and feeds the
//! passive checks. Steps wait on it with deadlines.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::{mpsc, watch};

use super::passive::Passive;
use crate::emulator::Traffic;
use crate::emulator::core::packets::ConnId;
use crate::mqtt::Version;

/// One message the gateway published.
#[derive(Clone, Debug)]
pub struct Sent {
    /// 1 for the first accepted session, 2 after a reconnect, …
    pub session: usize,
    pub topic: String,
    pub qos: u8,
    pub payload: Vec<u8>,
    pub at: Instant,
}

/// One packet either way, described as the wire logs show it.
#[derive(Clone, Debug)]
pub struct Packet {
    pub at: Instant,
    /// The connection's number in the check: 1 for the first, 2 after a reconnect, …
    pub connection: usize,
    pub from_gateway: bool,
    pub text: String,
}

/// A CONNECT the emulator refused.
#[derive(Clone, Debug)]
pub struct Refused {
    pub conn: ConnId,
    pub username: Option<String>,
}

/// What the gateway has done so far.
#[derive(Debug, Default)]
pub struct Observed {
    /// The connection of its current session.
    pub conn: Option<ConnId>,
    pub version: Option<Version>,
    /// Accepted sessions so far.
    pub sessions: usize,
    /// CONNECTs refused (a wrong token, say), in order.
    pub refused: Vec<Refused>,
    /// Every packet of every connection, both ways, in order.
    pub packets: Vec<Packet>,
    /// Each connection's number and protocol version (known from its CONNECT).
    connections: HashMap<ConnId, (usize, Option<Version>)>,
    /// Topic filters of the current session, in order.
    pub subscriptions: Vec<String>,
    /// Topic filters of every session so far, one list per session in order: a check waits
    /// on this, since a gateway that reconnects at once may end a session that subscribed
    /// before the check's next look at the state.
    pub subscriptions_by_session: Vec<Vec<String>>,
    /// Devices announced on `v1/gateway/connect` in the current session, in order.
    pub announced: Vec<String>,
    /// Devices announced in earlier sessions (to check re-announcing after a reconnect).
    pub announced_before: Vec<String>,
    pub sent: Vec<Sent>,
    /// What the platform published to the gateway (same shape; `session` as for `sent`).
    pub delivered: Vec<Sent>,
    pub passive: Passive,
}

impl Observed {
    fn apply(&mut self, event: Traffic, token: &str) {
        match event {
            Traffic::Packet {
                conn,
                from_client,
                bytes,
            } => self.packet(conn, from_client, &bytes),
            Traffic::Connected {
                conn,
                username,
                accepted: false,
                ..
            } => self.refused.push(Refused { conn, username }),
            Traffic::Connected {
                conn,
                username,
                version,
                accepted: true,
            } if username.as_deref() == Some(token) => {
                self.conn = Some(conn);
                self.version = Some(version);
                self.sessions += 1;
                self.end_session();
                self.subscriptions_by_session.push(Vec::new());
            }
            Traffic::Subscribed { conn, filters } if Some(conn) == self.conn => {
                let filters: Vec<String> = filters.into_iter().map(|(f, _)| f).collect();
                if let Some(this_session) = self.subscriptions_by_session.last_mut() {
                    this_session.extend(filters.iter().cloned());
                }
                self.subscriptions.extend(filters);
            }
            Traffic::Published {
                conn,
                topic,
                qos,
                payload,
                dup,
            } if Some(conn) == self.conn => {
                self.passive.sent(&topic, &payload, dup);
                if topic == "v1/gateway/connect" {
                    let now: Vec<String> = self.passive.connected().iter().cloned().collect();
                    for device in now {
                        if !self.announced.contains(&device) {
                            self.announced.push(device);
                        }
                    }
                }
                self.sent.push(Sent {
                    session: self.sessions,
                    topic,
                    qos,
                    payload,
                    at: Instant::now(),
                });
            }
            Traffic::Delivered {
                conn,
                topic,
                qos,
                payload,
            } if Some(conn) == self.conn => {
                self.passive.delivered(&topic, &payload);
                self.delivered.push(Sent {
                    session: self.sessions,
                    topic,
                    qos,
                    payload,
                    at: Instant::now(),
                });
            }
            Traffic::StoppedReading { conn, queued } if Some(conn) == self.conn => {
                self.passive.stopped_reading(queued);
            }
            Traffic::Closed { conn, by_client } => {
                if let Some((connection, _)) = self.connections.get(&conn) {
                    self.packets.push(Packet {
                        at: Instant::now(),
                        connection: *connection,
                        from_gateway: by_client,
                        text: if by_client {
                            "(the gateway closed the connection)".to_owned()
                        } else {
                            "(tbgw closed the connection)".to_owned()
                        },
                    });
                }
                if Some(conn) == self.conn {
                    self.conn = None;
                    self.end_session();
                }
            }
            _ => {}
        }
    }

    fn packet(&mut self, conn: ConnId, from_client: bool, bytes: &[u8]) {
        let next = self.connections.len() + 1;
        let entry = self.connections.entry(conn).or_insert((next, None));
        if from_client && crate::emulator::wire::is_connect(bytes) {
            entry.1 = crate::emulator::wire::connect_version(bytes);
        }
        let (connection, version) = *entry;
        let text = if from_client {
            crate::emulator::wire::describe_inbound(bytes, version)
        } else {
            crate::mqtt::packet::decode(bytes, version.unwrap_or(Version::V3)).to_string()
        };
        self.packets.push(Packet {
            at: Instant::now(),
            connection,
            from_gateway: from_client,
            text,
        });
    }

    /// The CONNACK the emulator answered a refused CONNECT with.
    pub fn refusal_of(&self, refused: &Refused) -> Option<&str> {
        let connection = self.connections.get(&refused.conn)?.0;
        self.packets
            .iter()
            .find(|p| {
                p.connection == connection && !p.from_gateway && p.text.starts_with("CONNACK")
            })
            .map(|p| p.text.as_str())
    }

    /// Every device the gateway announced, in this session or an earlier one, in order.
    pub fn known_devices(&self) -> Vec<String> {
        let mut all = self.announced_before.clone();
        for device in &self.announced {
            if !all.contains(device) {
                all.push(device.clone());
            }
        }
        all
    }

    fn end_session(&mut self) {
        self.subscriptions.clear();
        for device in std::mem::take(&mut self.announced) {
            if !self.announced_before.contains(&device) {
                self.announced_before.push(device);
            }
        }
        self.passive.session_ended();
    }
}

/// A handle on the observed state; cloning shares it.
#[derive(Clone)]
pub struct Observer {
    state: Arc<Mutex<Observed>>,
    changed: watch::Receiver<u64>,
}

impl Observer {
    /// Starts draining `traffic` for the gateway that connects with `token`.
    pub fn start(mut traffic: mpsc::UnboundedReceiver<Traffic>, token: String) -> Observer {
        let state = Arc::new(Mutex::new(Observed::default()));
        let (tx, changed) = watch::channel(0u64);
        let shared = Arc::clone(&state);
        tokio::spawn(async move {
            while let Some(event) = traffic.recv().await {
                if let Ok(mut state) = shared.lock() {
                    state.apply(event, &token);
                }
                tx.send_modify(|n| *n += 1);
            }
        });
        Observer { state, changed }
    }

    /// Reads the state.
    pub fn read<T>(&self, f: impl FnOnce(&Observed) -> T) -> T {
        match self.state.lock() {
            Ok(state) => f(&state),
            Err(poisoned) => f(&poisoned.into_inner()),
        }
    }

    /// Waits until `check` finds what it looks for, or `deadline` passes (`None`).
    pub async fn wait_for<T>(
        &self,
        deadline: tokio::time::Instant,
        mut check: impl FnMut(&Observed) -> Option<T>,
    ) -> Option<T> {
        let mut changed = self.changed.clone();
        loop {
            changed.borrow_and_update();
            if let Some(found) = self.read(&mut check) {
                return Some(found);
            }
            match tokio::time::timeout_at(deadline, changed.changed()).await {
                Ok(Ok(())) => {}
                _ => return None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connected(conn: ConnId, token: &str, accepted: bool) -> Traffic {
        Traffic::Connected {
            conn,
            username: Some(token.to_owned()),
            version: Version::V5,
            accepted,
        }
    }

    fn published(conn: ConnId, topic: &str, payload: &str) -> Traffic {
        Traffic::Published {
            conn,
            topic: topic.to_owned(),
            qos: 1,
            payload: payload.as_bytes().to_vec(),
            dup: false,
        }
    }

    #[test]
    fn sessions_subscriptions_and_announced_devices_follow_the_gateway_only() {
        let mut o = Observed::default();
        o.apply(connected(1, "OTHER", true), "GW");
        o.apply(connected(2, "GW", false), "GW");
        o.apply(connected(3, "GW", true), "GW");
        o.apply(
            Traffic::Subscribed {
                conn: 3,
                filters: vec![("v1/gateway/rpc".into(), 1)],
            },
            "GW",
        );
        o.apply(
            published(1, "v1/gateway/connect", r#"{"device":"X"}"#),
            "GW",
        );
        o.apply(
            published(3, "v1/gateway/connect", r#"{"device":"A"}"#),
            "GW",
        );
        o.apply(
            published(3, "v1/gateway/connect", r#"{"device":"B"}"#),
            "GW",
        );
        assert_eq!((o.sessions, o.refused.len()), (1, 1));
        assert_eq!(o.subscriptions, ["v1/gateway/rpc"]);
        assert_eq!(o.announced, ["A", "B"]);
        o.apply(
            Traffic::Closed {
                conn: 3,
                by_client: true,
            },
            "GW",
        );
        o.apply(connected(4, "GW", true), "GW");
        assert!(o.subscriptions.is_empty() && o.announced.is_empty());
        assert_eq!(
            o.subscriptions_by_session,
            [vec!["v1/gateway/rpc".to_owned()], vec![]],
            "a session's subscriptions stay known after it ends"
        );
        assert_eq!(o.announced_before, ["A", "B"]);
        assert_eq!(o.sent.iter().map(|s| s.session).collect::<Vec<_>>(), [1, 1]);
    }

    #[test]
    fn a_gateway_dropped_for_not_reading_is_a_reads_its_socket_finding() {
        let mut o = Observed::default();
        o.apply(connected(1, "GW", true), "GW");
        o.apply(connected(2, "OTHER", true), "GW");
        let stuck = |conn| Traffic::StoppedReading { conn, queued: 1000 };
        o.apply(stuck(2), "GW");
        assert!(o.passive.findings().is_empty(), "another client's trouble");
        o.apply(stuck(1), "GW");
        let findings = o.passive.findings();
        assert_eq!(findings.len(), 1);
        assert_eq!(
            findings[0].check,
            crate::gateway::passive::Check::ReadsItsSocket
        );
        assert_eq!(
            findings[0].severity,
            crate::gateway::passive::Severity::Fail
        );
        assert_eq!(
            findings[0].to_string(),
            "the gateway stopped reading its socket: 1000 messages queued for it, and its connection was closed",
            "a finding about no message names no topic and no payload"
        );
    }
}
