//! One MQTT connection of the harness: a reader task keeps every packet the server sends (a
//! QoS 1 PUBLISH is acknowledged at once, as a well-behaved gateway does), and steps wait on
//! that inbox with deadlines.

use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::Version;
use super::frame::{self, Frame};
use super::packet::{self, Incoming, Outgoing};
use super::wirelog::{Direction, WireLog};

/// A packet received, and whether a step has already taken it.
#[derive(Clone, Debug)]
pub struct Received {
    pub packet: Incoming,
    pub taken: bool,
}

#[derive(Debug, Default)]
pub struct Inbox {
    pub received: Vec<Received>,
    /// Set when the server closed the connection (or it broke): how.
    pub closed: Option<String>,
}

struct Shared {
    inbox: Mutex<Inbox>,
    changed: watch::Sender<u64>,
}

impl Shared {
    fn update(&self, f: impl FnOnce(&mut Inbox)) {
        if let Ok(mut inbox) = self.inbox.lock() {
            f(&mut inbox);
        }
        self.changed.send_modify(|n| *n += 1);
    }
}

pub struct Connection {
    name: String,
    version: Version,
    writer: Arc<tokio::sync::Mutex<OwnedWriteHalf>>,
    shared: Arc<Shared>,
    next_pid: AtomicU16,
    log: WireLog,
    reader: JoinHandle<()>,
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

impl Connection {
    /// Opens the TCP connection and sends CONNECT; the CONNACK arrives in the inbox.
    pub async fn open(
        addr: &str,
        name: &str,
        version: Version,
        connect: Outgoing,
        log: WireLog,
    ) -> Result<Connection, String> {
        let stream = TcpStream::connect(addr)
            .await
            .map_err(|e| format!("cannot connect to MQTT at {addr}: {e}"))?;
        let _ = stream.set_nodelay(true);
        let (read, write) = stream.into_split();
        let writer = Arc::new(tokio::sync::Mutex::new(write));
        let (changed, _) = watch::channel(0);
        let shared = Arc::new(Shared {
            inbox: Mutex::default(),
            changed,
        });
        let reader = tokio::spawn(read_loop(
            read,
            Arc::clone(&writer),
            Arc::clone(&shared),
            name.to_owned(),
            version,
            log.clone(),
        ));
        let connection = Connection {
            name: name.to_owned(),
            version,
            writer,
            shared,
            next_pid: AtomicU16::new(1),
            log,
            reader,
        };
        connection.send(&connect).await?;
        Ok(connection)
    }

    pub fn version(&self) -> Version {
        self.version
    }

    /// The next packet id: 1, 2, … (never 0).
    pub fn next_pid(&self) -> u16 {
        let pid = self.next_pid.fetch_add(1, Ordering::Relaxed);
        if pid == 0 { self.next_pid() } else { pid }
    }

    pub async fn send(&self, packet: &Outgoing) -> Result<(), String> {
        let bytes = packet::encode(packet, self.version)?;
        self.log.record(
            &self.name,
            Direction::Sent,
            packet.to_string(),
            Some(&bytes),
        );
        write_all(&self.writer, &bytes).await.map_err(|e| {
            format!(
                "cannot send {} on session {:?}: {e}",
                packet.name(),
                self.name
            )
        })
    }

    /// Waits until `check` finds what it looks for in the inbox (it may mark packets taken),
    /// or `deadline` passes (`None`).
    pub async fn wait_for<T>(
        &self,
        deadline: Instant,
        mut check: impl FnMut(&mut Inbox) -> Option<T>,
    ) -> Option<T> {
        let mut changes = self.shared.changed.subscribe();
        loop {
            changes.borrow_and_update();
            let found = self
                .shared
                .inbox
                .lock()
                .ok()
                .and_then(|mut inbox| check(&mut inbox));
            if found.is_some() {
                return found;
            }
            match tokio::time::timeout_at(deadline, changes.changed()).await {
                Ok(Ok(())) => {}
                _ => return None,
            }
        }
    }

    /// A copy of the inbox, for reports.
    pub fn snapshot(&self) -> (Vec<Received>, Option<String>) {
        self.shared
            .inbox
            .lock()
            .map(|i| (i.received.clone(), i.closed.clone()))
            .unwrap_or_default()
    }

    /// Closes the TCP connection without a DISCONNECT.
    pub async fn close(&self) {
        let _ = self.writer.lock().await.shutdown().await;
    }
}

async fn write_all(
    writer: &tokio::sync::Mutex<OwnedWriteHalf>,
    bytes: &[u8],
) -> std::io::Result<()> {
    let mut w = writer.lock().await;
    w.write_all(bytes).await?;
    w.flush().await
}

/// Server packets are not limited by ThingsBoard's inbound 64 KiB; a generous cap still
/// protects the harness from a corrupt length.
const MAX_SERVER_PACKET: usize = 16 * 1024 * 1024;

async fn read_loop(
    mut read: tokio::net::tcp::OwnedReadHalf,
    writer: Arc<tokio::sync::Mutex<OwnedWriteHalf>>,
    shared: Arc<Shared>,
    name: String,
    version: Version,
    log: WireLog,
) {
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    let mut chunk = vec![0u8; 16 * 1024];
    loop {
        loop {
            match frame::next_frame(&buf, MAX_SERVER_PACKET) {
                Frame::Incomplete => break,
                Frame::Complete(len) => {
                    let bytes: Vec<u8> = buf.drain(..len).collect();
                    let packet = packet::decode(&bytes, version);
                    log.record(&name, Direction::Received, packet.to_string(), Some(&bytes));
                    if let Incoming::Publish {
                        qos: 1,
                        pid: Some(pid),
                        ..
                    } = packet
                    {
                        let ack = Outgoing::PubAck { pid };
                        if let Ok(bytes) = packet::encode(&ack, version) {
                            log.record(&name, Direction::Sent, ack.to_string(), Some(&bytes));
                            let _ = write_all(&writer, &bytes).await;
                        }
                    }
                    shared.update(|inbox| {
                        inbox.received.push(Received {
                            packet,
                            taken: false,
                        })
                    });
                }
                Frame::TooLarge(_) | Frame::Invalid => {
                    let what = format!(
                        "the server sent a packet with an unreadable length: {}",
                        packet::hex(&buf[..buf.len().min(8)])
                    );
                    log.record(&name, Direction::Received, what.clone(), None);
                    shared.update(|inbox| inbox.closed = Some(what));
                    return;
                }
            }
        }
        let closed = match read.read(&mut chunk).await {
            Ok(0) => Some("the server closed the connection".to_owned()),
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                None
            }
            Err(e) => Some(format!("the connection broke: {e}")),
        };
        if let Some(how) = closed {
            log.record(&name, Direction::Received, format!("(closed: {how})"), None);
            shared.update(|inbox| inbox.closed = Some(how));
            return;
        }
    }
}

/// `duration` from now, as a tokio deadline.
pub fn deadline_in(duration: Duration) -> Instant {
    Instant::now() + duration
}
