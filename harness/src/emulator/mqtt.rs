//! The tokio MQTT server: one task per connection reads frames and hands them to the
//! core; a writer task sends what the core answers, in order.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};

use super::core::Core;
use super::core::gateway::read_gateway_message;
use super::core::packets::{ConnId, ConnectIn, Version};
use super::wire::{self, Frame, Inbound};
use super::{Shared, Traffic, WriterState};

/// The bytes a writer gathers from its queue into one write at most (larger messages go
/// out whole).
const WRITE_BATCH: usize = 16 * 1024;

/// What the writer task is told to do.
#[derive(Debug)]
pub enum Outgoing {
    Bytes(Vec<u8>),
    Close,
}

pub async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                let shared = shared.clone();
                tokio::spawn(async move { serve_connection(shared, stream, peer).await });
            }
            Err(error) => {
                // Out of file descriptors and the like: report and go on accepting.
                crate::errln!("tbgw serve: MQTT accept failed: {error}");
                tokio::task::yield_now().await;
            }
        }
    }
}

async fn serve_connection(shared: Arc<Shared>, stream: TcpStream, _peer: SocketAddr) {
    let _ = stream.set_nodelay(true);
    let conn = shared.next_conn_id();
    let (mut reader, mut writer) = stream.into_split();
    let (tx, mut rx) = mpsc::unbounded_channel::<Outgoing>();
    let (closed_tx, mut closed_rx) = oneshot::channel::<()>();
    let state = WriterState::default();
    shared.register(conn, tx, state.clone());
    let writer_task = tokio::spawn(async move {
        let mut batch = Vec::with_capacity(WRITE_BATCH);
        loop {
            let mut next = tokio::select! {
                out = rx.recv() => out,
                () = state.stop.notified() => break,
            };
            // What is already queued goes out in one write (a window of PUBACKs, say).
            let mut messages = 0;
            let closing = loop {
                match next {
                    Some(Outgoing::Bytes(bytes)) => batch.extend_from_slice(&bytes),
                    Some(Outgoing::Close) | None => break true,
                }
                messages += 1;
                if batch.len() >= WRITE_BATCH {
                    break false;
                }
                match rx.try_recv() {
                    Ok(out) => next = Some(out),
                    Err(_) => break false,
                }
            };
            if !batch.is_empty() {
                // A client that stopped reading blocks this write; the stop ends it.
                let written = tokio::select! {
                    written = writer.write_all(&batch) => written.is_ok(),
                    () = state.stop.notified() => false,
                };
                batch.clear();
                state.queued.fetch_sub(messages, Ordering::Relaxed);
                if !written {
                    break;
                }
            }
            if closing {
                break;
            }
        }
        let _ = writer.shutdown().await;
        let _ = closed_tx.send(());
    });

    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    let mut chunk = vec![0u8; 16 * 1024];
    let mut version: Option<Version> = None;
    let mut queued: Vec<Vec<u8>> = Vec::new();
    let mut by_client = false;
    'read: loop {
        loop {
            match wire::next_frame(&buf, shared.limits.max_packet) {
                Frame::Incomplete => break,
                Frame::Complete(len) => {
                    let packet: Vec<u8> = buf.drain(..len).collect();
                    shared.observe(|| Traffic::Packet {
                        conn,
                        from_client: true,
                        bytes: packet.clone(),
                    });
                    if !handle_packet(&shared, conn, &mut version, &mut queued, packet) {
                        break 'read;
                    }
                }
                Frame::TooLarge(len) => {
                    let problem = format!(
                        "a packet of {len} bytes, over ThingsBoard's limit of {} (max_payload_size)",
                        shared.limits.max_packet
                    );
                    shared.with_core(|core| core.malformed(conn, problem));
                    shared.close(conn);
                    break 'read;
                }
                Frame::Invalid => {
                    let problem = "a malformed remaining-length field".to_owned();
                    shared.with_core(|core| core.malformed(conn, problem));
                    shared.close(conn);
                    break 'read;
                }
            }
        }
        tokio::select! {
            read = reader.read(&mut chunk) => match read {
                Ok(0) | Err(_) => {
                    by_client = true;
                    break;
                }
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            },
            _ = &mut closed_rx => break,
        }
    }
    shared.with_core(|core| core.connection_closed(conn));
    shared.close(conn);
    shared.observe(|| Traffic::Closed { conn, by_client });
    let _ = writer_task.await;
    shared.unregister(conn);
}

/// Feeds one packet to the core; `false` when the connection must end.
fn handle_packet(
    shared: &Shared,
    conn: ConnId,
    version: &mut Option<Version>,
    queued: &mut Vec<Vec<u8>>,
    packet: Vec<u8>,
) -> bool {
    let Some(current) = *version else {
        if !wire::is_connect(&packet) {
            // ThingsBoard queues what comes before the CONNECT, up to its limit.
            // `transport.mqtt.msg_queue_size_per_device_limit`.
            if queued.len() >= shared.limits.queued_before_connect {
                shared.close(conn);
                return false;
            }
            queued.push(packet);
            return true;
        }
        let Some(detected) = wire::connect_version(&packet) else {
            shared.close(conn);
            return false;
        };
        shared.set_version(conn, detected);
        let accepted = match wire::decode(&packet, detected) {
            Ok(Inbound::Connect(connect)) => {
                answer_connect(shared, conn, connect, detected, Core::connect)
            }
            _ => false,
        };
        if !accepted {
            shared.close(conn);
            return false;
        }
        *version = Some(detected);
        for early in std::mem::take(queued) {
            if !dispatch(shared, conn, &early, detected) {
                return false;
            }
        }
        return true;
    };
    dispatch(shared, conn, &packet, current)
}

/// Has the core answer a CONNECT (the first, or another on the same connection) and tells
/// the observers whether it was accepted.
fn answer_connect(
    shared: &Shared,
    conn: ConnId,
    connect: ConnectIn,
    version: Version,
    answer: fn(&mut Core, ConnId, ConnectIn) -> bool,
) -> bool {
    let username = connect.username.clone();
    let accepted = shared.with_core(|core| answer(core, conn, connect));
    shared.observe(|| Traffic::Connected {
        conn,
        username,
        version,
        accepted,
    });
    accepted
}

fn dispatch(shared: &Shared, conn: ConnId, packet: &[u8], version: Version) -> bool {
    match wire::decode(packet, version) {
        Ok(Inbound::Connect(connect)) => {
            answer_connect(shared, conn, connect, version, Core::connect_again)
        }
        Ok(Inbound::Publish(publish)) => {
            shared.observe(|| Traffic::Published {
                conn,
                topic: publish.topic.clone(),
                qos: publish.qos,
                payload: publish.payload.clone(),
                dup: publish.dup,
            });
            // The pure part first, without the lock: decoding is most of a message's work.
            let read = read_gateway_message(&publish.topic, &publish.payload);
            shared.with_core(|core| core.publish_read(conn, publish, read));
            shared.is_open(conn)
        }
        Ok(Inbound::Subscribe { pid, filters }) => {
            shared.observe(|| Traffic::Subscribed {
                conn,
                filters: filters.clone(),
            });
            shared.with_core(|core| core.subscribe(conn, pid, filters));
            true
        }
        Ok(Inbound::Unsubscribe { pid, filters }) => {
            shared.with_core(|core| core.unsubscribe(conn, pid, filters));
            true
        }
        Ok(Inbound::PingReq) => {
            shared.with_core(|core| core.ping(conn));
            true
        }
        Ok(Inbound::Disconnect) => {
            shared.with_core(|core| core.client_disconnect(conn));
            false
        }
        Ok(Inbound::PubAck { pid }) => {
            shared.with_core(|core| core.puback(conn, pid));
            true
        }
        Ok(Inbound::Ignored) => true,
        Err(problem) => {
            shared.with_core(|core| core.malformed(conn, problem));
            false
        }
    }
}
