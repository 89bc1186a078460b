//! The MQTT steps. Expectations are written in MQTT 5 terms; under 3.1.1 a PUBACK or SUBACK
//! code that 3.1.1 cannot carry is read as what 3.1.1 sends (a plain PUBACK, 0x80), and a
//! DISCONNECT as the connection closing.

use serde_json::Value;
use tbgw_codec::ReasonCode;
use tokio::time::Instant;

use super::case::{CaseRun, DEFAULT_QUIET, DEFAULT_WITHIN, StepError, StepResult, fail};
use super::matcher::{self, Objects};
use super::model::{
    Answer, Connect, ExpectDisconnect, ExpectMessage, ExpectNoMessage, Idle, IdlePast,
    PubAckExpect, Publish, SessionRef, Subscribe, Unsubscribe, Who, Within,
};
use crate::mqtt::Version;
use crate::mqtt::client::{Connection, Inbox};
use crate::mqtt::packet::{Incoming, Outgoing, payload_text};

fn code(c: u8) -> String {
    ReasonCode(c).to_string()
}

/// The CONNACK return code 3.1.1 sends for an MQTT 5 reason code (ThingsBoard's
/// `ReturnCodeResolver`).
fn connack_v3(code: u8) -> u8 {
    match code {
        0x00 => 0,
        0x84 => 1,
        0x85 => 2,
        0x88 | 0x89 => 3,
        0x8C => 4,
        _ => 5,
    }
}

/// Under 3.1.1: what `expect` (MQTT 5 terms) means there.
fn answer_for_v3(answer: &Answer) -> Answer {
    Answer {
        puback: answer.puback,
        disconnect: None,
        closed: answer.closed || answer.disconnect.is_some(),
        within: answer.within,
    }
}

/// The inbox's packets, one per line, for "got" messages.
fn seen(inbox: &Inbox) -> String {
    let mut lines: Vec<String> = inbox
        .received
        .iter()
        .map(|r| r.packet.to_string())
        .collect();
    if let Some(how) = &inbox.closed {
        lines.push(format!("({how})"));
    }
    if lines.is_empty() {
        "nothing".to_owned()
    } else {
        lines.join("; ")
    }
}

async fn inbox_text(session: &Connection) -> String {
    let (received, closed) = session.snapshot();
    seen(&Inbox { received, closed })
}

fn take_first(inbox: &mut Inbox, mut wanted: impl FnMut(&Incoming) -> bool) -> Option<Incoming> {
    let found = inbox
        .received
        .iter_mut()
        .find(|r| !r.taken && wanted(&r.packet))?;
    found.taken = true;
    Some(found.packet.clone())
}

impl CaseRun<'_> {
    pub async fn connect(&mut self, step: &Connect) -> StepResult {
        let (token, who) = match step.who {
            Who::Gateway => (
                Some(self.text("${gateway_token}")?),
                "the case's gateway".to_owned(),
            ),
            Who::Device => {
                let name = self.text(step.device.as_deref().ok_or_else(|| {
                    StepError::Error("connect `as: device` needs `device: NAME`".into())
                })?)?;
                (
                    Some(self.device_token(&name).await?),
                    format!("device {name:?}"),
                )
            }
            Who::Token => {
                let token = self.text(step.token.as_deref().ok_or_else(|| {
                    StepError::Error("connect `as: token` needs `token: TOKEN`".into())
                })?)?;
                (Some(token.clone()), format!("token {token:?}"))
            }
            Who::Anonymous => (None, "nobody (no username)".to_owned()),
        };
        if let Some(old) = self.sessions.remove(&step.session) {
            old.close().await;
        }
        let client_id = match &step.client_id {
            Some(id) => self.text(id)?,
            None => format!("{}-{}", self.prefix, step.session),
        };
        let password = step.password.as_deref().map(|p| self.text(p)).transpose()?;
        // What the transcript says beyond the usual token-only, clean CONNECT.
        let mut with = String::new();
        if password.is_some() {
            with.push_str(", a password");
        }
        if step.client_id.is_some() {
            with.push_str(&format!(", client id {client_id:?}"));
        }
        if !step.clean {
            with.push_str(", clean = false");
        }
        let connect = Outgoing::Connect {
            client_id,
            username: token,
            password,
            clean: step.clean,
        };
        let session = Connection::open(
            &self.platform.mqtt,
            &step.session,
            self.version,
            connect,
            self.log.clone(),
        )
        .await
        .map_err(StepError::Error)?;
        self.note(format!(
            "{} -> CONNECT as {who}{with} (MQTT {})",
            step.session, self.version
        ));
        let expected = step.expect.map_or(0, |c| c.0);
        let expected = match self.version {
            Version::V3 => connack_v3(expected),
            Version::V5 => expected,
        };
        let deadline = self.deadline(step.within, DEFAULT_WITHIN);
        let got = session
            .wait_for(deadline, |inbox| {
                take_first(inbox, |p| matches!(p, Incoming::ConnAck { .. })).or_else(|| {
                    inbox
                        .closed
                        .as_ref()
                        .map(|how| Incoming::Unexpected(how.clone()))
                })
            })
            .await;
        let shown = |c: u8| match self.version {
            Version::V3 => format!("CONNACK return code {c}"),
            Version::V5 => format!("CONNACK {}", code(c)),
        };
        match got {
            Some(Incoming::ConnAck {
                code: c,
                session_present,
            }) if c == expected => {
                let flag = if session_present {
                    ", session present"
                } else {
                    ""
                };
                self.note(format!("{} <- {}{flag}", step.session, shown(c)));
                if let Some(wanted) = step.session_present
                    && wanted != session_present
                {
                    let said = |present: bool| format!("CONNACK with session present = {present}");
                    return Err(fail(said(wanted), said(session_present)));
                }
            }
            Some(Incoming::ConnAck { code: c, .. }) => {
                return Err(fail(shown(expected), shown(c)));
            }
            Some(other) => {
                return Err(fail(shown(expected), format!("no CONNACK: {other}")));
            }
            None => return Err(fail(shown(expected), "no CONNACK before the deadline")),
        }
        self.sessions.insert(step.session.clone(), session);
        Ok(())
    }

    /// The access token of a plain device, created through REST when missing.
    async fn device_token(&self, name: &str) -> Result<String, StepError> {
        use super::model::{Method, User};
        use crate::target::rest::device_by_name;
        let reply = self
            .rest(User::Tenant, Method::Get, &device_by_name(name), None)
            .await?;
        let id = match reply.entity_id() {
            Some(id) => id.to_owned(),
            None => {
                let body = serde_json::json!({"name": name, "type": "default"});
                let created = self
                    .rest(User::Tenant, Method::Post, "/api/device", Some(&body))
                    .await?;
                created.entity_id().map(str::to_owned).ok_or_else(|| {
                    StepError::Error(format!(
                        "cannot create device {name:?}: {}",
                        created.summary()
                    ))
                })?
            }
        };
        let reply = self
            .rest(
                User::Tenant,
                Method::Get,
                &format!("/api/device/{id}/credentials"),
                None,
            )
            .await?;
        reply
            .json
            .as_ref()
            .and_then(|c| c.get("credentialsId"))
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| {
                StepError::Error(format!(
                    "cannot read the credentials of {name:?}: {}",
                    reply.summary()
                ))
            })
    }

    pub async fn publish(&mut self, step: &Publish) -> StepResult {
        let topic = self.text(&step.topic)?;
        let payload = if let Some(json) = &step.json {
            serde_json::to_vec(&self.value(json)?).map_err(|e| StepError::Error(e.to_string()))?
        } else if let Some(text) = &step.text {
            self.text(text)?.into_bytes()
        } else if let Some(encoded) = &step.base64 {
            let bytes = crate::fuzz::action::decode_base64(encoded)
                .map_err(|e| StepError::Error(format!("publish `base64`: {e}")))?;
            self.vars.bytes(&bytes).map_err(StepError::Error)?
        } else {
            vec![b'x'; step.filler.unwrap_or(0)]
        };
        let default = || Answer {
            puback: (step.qos > 0).then_some(PubAckExpect::Code(0)),
            ..Answer::default()
        };
        let answer = match self.version {
            Version::V5 => step.expect.clone().unwrap_or_else(default),
            Version::V3 => step
                .expect_mqtt3
                .clone()
                .unwrap_or_else(|| answer_for_v3(&step.expect.clone().unwrap_or_else(default))),
        };
        let ends = answer.disconnect.is_some() || answer.closed;
        let session = self.session(&step.session)?;
        let pid = if step.qos > 0 { session.next_pid() } else { 0 };
        let mut packet = Outgoing::Publish {
            topic,
            qos: step.qos,
            pid,
            dup: false,
            payload,
        };
        session.send(&packet).await.map_err(StepError::Error)?;
        let mut lines = vec![format!("{} -> {packet}", step.session)];
        if let (Some(again), Outgoing::Publish { dup, .. }) = (step.again, &mut packet) {
            // Sent before any answer is read: the platform sees both while the first is
            // still unacknowledged.
            *dup = again == crate::emulator::core::Again::Dup;
            match session.send(&packet).await {
                Ok(()) => lines.push(format!("{} -> {packet}", step.session)),
                // The first delivery's answer may have closed the connection already.
                Err(e) if ends => {
                    lines.push(format!("{}: second delivery not sent: {e}", step.session))
                }
                Err(e) => return Err(StepError::Error(e)),
            }
        }
        for line in lines {
            self.note(line);
        }
        self.check_answer(&step.session, pid, &answer).await?;
        if step.again.is_some() && !ends {
            // The second delivery is answered on its own, alike.
            self.check_answer(&step.session, pid, &answer).await?;
        }
        Ok(())
    }

    async fn check_answer(&mut self, name: &str, pid: u16, answer: &Answer) -> StepResult {
        let deadline = self.deadline(answer.within, DEFAULT_WITHIN);
        let version = self.version;
        let session = self.session(name)?;
        let ends = answer.disconnect.is_some() || answer.closed;
        let mut lines = Vec::new();
        match answer.puback {
            Some(PubAckExpect::Code(expected)) => {
                let got = session
                    .wait_for(deadline, |inbox| {
                        take_first(
                            inbox,
                            |p| matches!(p, Incoming::PubAck { pid: p, .. } if *p == pid),
                        )
                        .map(Some)
                        .or_else(|| inbox.closed.as_ref().map(|_| None))
                    })
                    .await;
                let wanted = match version {
                    Version::V3 => format!("PUBACK pid={pid}"),
                    Version::V5 => format!("PUBACK pid={pid} {}", code(expected)),
                };
                match got {
                    Some(Some(Incoming::PubAck { code: c, .. }))
                        if version == Version::V3 || c == Some(expected) =>
                    {
                        lines.push(format!("{name} <- {wanted}"));
                    }
                    Some(Some(other)) => return Err(fail(wanted, other.to_string())),
                    Some(None) => {
                        return Err(fail(
                            wanted,
                            format!(
                                "the connection closed first; seen: {}",
                                inbox_text(session).await
                            ),
                        ));
                    }
                    None => {
                        return Err(fail(
                            wanted,
                            format!(
                                "no PUBACK for pid {pid} before the deadline; seen: {}",
                                inbox_text(session).await
                            ),
                        ));
                    }
                }
            }
            Some(PubAckExpect::None) => {
                // Without a close to wait for, absence is watched for the quiet period.
                let until = if ends {
                    deadline
                } else {
                    self.deadline(answer.within, DEFAULT_QUIET)
                };
                let got = session
                    .wait_for(until, |inbox| {
                        take_first(
                            inbox,
                            |p| matches!(p, Incoming::PubAck { pid: p, .. } if *p == pid),
                        )
                        .map(Some)
                        .or_else(|| (ends && inbox.closed.is_some()).then_some(None))
                    })
                    .await;
                if let Some(Some(ack)) = got {
                    return Err(fail(format!("no PUBACK for pid {pid}"), ack.to_string()));
                }
                lines.push(format!("{name} <- (no PUBACK for pid {pid})"));
            }
            None => {}
        }
        if let Some(expected) = answer.disconnect.filter(|_| version == Version::V5) {
            let got = session
                .wait_for(deadline, |inbox| {
                    take_first(inbox, |p| matches!(p, Incoming::Disconnect { .. }))
                        .map(Some)
                        .or_else(|| inbox.closed.as_ref().map(|_| None))
                })
                .await;
            let wanted = format!("DISCONNECT {}", code(expected.0));
            match got {
                Some(Some(Incoming::Disconnect { code: c })) if c == expected.0 => {
                    lines.push(format!("{name} <- {wanted}"));
                }
                Some(Some(other)) => return Err(fail(wanted, other.to_string())),
                Some(None) => {
                    return Err(fail(wanted, "the connection closed without a DISCONNECT"));
                }
                None => {
                    return Err(fail(
                        wanted,
                        format!(
                            "no DISCONNECT before the deadline; seen: {}",
                            inbox_text(session).await
                        ),
                    ));
                }
            }
        }
        if ends {
            let closed = session
                .wait_for(deadline, |inbox| {
                    let stray = take_first(inbox, |p| matches!(p, Incoming::Disconnect { .. }));
                    match (stray, &inbox.closed) {
                        (Some(d), _) if answer.disconnect.is_none() || version == Version::V3 => {
                            Some(Err(d))
                        }
                        (_, Some(_)) => Some(Ok(())),
                        _ => None,
                    }
                })
                .await;
            match closed {
                Some(Ok(())) => lines.push(format!("{name} <- (connection closed)")),
                Some(Err(d)) => {
                    return Err(fail(
                        "the connection closed without a DISCONNECT",
                        d.to_string(),
                    ));
                }
                None => {
                    return Err(fail(
                        "the connection closed",
                        "it stayed open until the deadline",
                    ));
                }
            }
        }
        for line in lines {
            self.note(line);
        }
        Ok(())
    }

    /// Sends a request built with a fresh packet id (SUBSCRIBE, UNSUBSCRIBE) and waits for
    /// the acknowledgement `is_ack` recognises for that id; the request goes into the
    /// transcript. `Err` is the failure to report when no acknowledgement comes.
    async fn request_ack(
        &mut self,
        name: &str,
        within: Option<Within>,
        request: impl FnOnce(u16) -> Outgoing,
        ack_name: &str,
        is_ack: impl Fn(&Incoming, u16) -> bool,
    ) -> Result<(u16, Incoming), StepError> {
        let session = self.session(name)?;
        let pid = session.next_pid();
        let packet = request(pid);
        session.send(&packet).await.map_err(StepError::Error)?;
        let deadline = self.deadline(within, DEFAULT_WITHIN);
        let got = session
            .wait_for(deadline, |inbox| take_first(inbox, |p| is_ack(p, pid)))
            .await;
        let seen = match got {
            Some(_) => String::new(),
            None => inbox_text(session).await,
        };
        self.note(format!("{name} -> {packet}"));
        got.map(|ack| (pid, ack)).ok_or_else(|| {
            fail(
                format!("{ack_name} pid={pid}"),
                format!("none before the deadline; seen: {seen}"),
            )
        })
    }

    pub async fn subscribe(&mut self, step: &Subscribe) -> StepResult {
        let mut filters = Vec::new();
        for topic in &step.topics {
            filters.push((self.text(topic)?, step.qos));
        }
        let (pid, ack) = self
            .request_ack(
                &step.session,
                step.within,
                |pid| Outgoing::Subscribe { pid, filters },
                "SUBACK",
                |p, pid| matches!(p, Incoming::SubAck { pid: p, .. } if *p == pid),
            )
            .await?;
        let Incoming::SubAck { codes, .. } = ack else {
            return Err(StepError::Error(format!("not a SUBACK: {ack}")));
        };
        let version = self.version;
        let expected: Option<Vec<u8>> = step.expect.as_ref().map(|codes| {
            codes
                .iter()
                .map(|c| {
                    if version == Version::V3 && c.0 >= 0x80 {
                        0x80
                    } else {
                        c.0
                    }
                })
                .collect()
        });
        let ok = match &expected {
            Some(e) => *e == codes,
            None => codes.iter().all(|c| *c < 0x80) && codes.len() == step.topics.len(),
        };
        let shown = Incoming::SubAck { pid, codes };
        if !ok {
            let wanted = expected.map_or("every filter granted".to_owned(), |e| {
                Incoming::SubAck { pid, codes: e }.to_string()
            });
            return Err(fail(wanted, shown.to_string()));
        }
        self.note(format!("{} <- {shown}", step.session));
        Ok(())
    }

    pub async fn unsubscribe(&mut self, step: &Unsubscribe) -> StepResult {
        let mut filters = Vec::new();
        for topic in &step.topics {
            filters.push(self.text(topic)?);
        }
        let (pid, ack) = self
            .request_ack(
                &step.session,
                step.within,
                |pid| Outgoing::Unsubscribe { pid, filters },
                "UNSUBACK",
                |p, pid| matches!(p, Incoming::UnsubAck { pid: p, .. } if *p == pid),
            )
            .await?;
        if let (Version::V5, Some(expected), Incoming::UnsubAck { codes, .. }) =
            (self.version, &step.expect, &ack)
        {
            let expected: Vec<u8> = expected.iter().map(|c| c.0).collect();
            if expected != *codes {
                return Err(fail(
                    Incoming::UnsubAck {
                        pid,
                        codes: expected,
                    }
                    .to_string(),
                    ack.to_string(),
                ));
            }
        }
        self.note(format!("{} <- {ack}", step.session));
        Ok(())
    }

    pub async fn expect_message(&mut self, step: &ExpectMessage) -> StepResult {
        let topic = self.text(&step.topic)?;
        let pattern = step.json.as_ref().map(|p| self.value(p)).transpose()?;
        let text = step.text.as_ref().map(|t| self.text(t)).transpose()?;
        let deadline = self.deadline(step.within, DEFAULT_WITHIN);
        let session = self.session(&step.session)?;
        let mut captures = serde_json::Map::new();
        let got = session
            .wait_for(deadline, |inbox| {
                for received in inbox.received.iter_mut().filter(|r| !r.taken) {
                    let Incoming::Publish {
                        topic: t,
                        qos,
                        payload,
                        ..
                    } = &received.packet
                    else {
                        continue;
                    };
                    if *t != topic || step.qos.is_some_and(|q| q != *qos) {
                        continue;
                    }
                    if text
                        .as_ref()
                        .is_some_and(|x| x.as_bytes() != payload.as_slice())
                    {
                        continue;
                    }
                    if let Some(pattern) = &pattern {
                        let Ok(value) = serde_json::from_slice::<Value>(payload) else {
                            continue;
                        };
                        match matcher::check(pattern, &value, Objects::Exact) {
                            Ok(found) => captures = found,
                            Err(_) => continue,
                        }
                    }
                    received.taken = true;
                    return Some(received.packet.clone());
                }
                None
            })
            .await;
        let wanted = match (&pattern, &text) {
            (Some(p), _) => format!("a message on {topic} matching {p}"),
            (None, Some(t)) => format!("a message on {topic} with payload {t}"),
            (None, None) => format!("a message on {topic}"),
        };
        match got {
            Some(Incoming::Publish { qos, payload, .. }) => {
                self.vars.extend(captures);
                self.note(format!(
                    "{} <- PUBLISH {topic} qos={qos} {}",
                    step.session,
                    payload_text(&payload)
                ));
                Ok(())
            }
            _ => {
                let (received, closed) = session.snapshot();
                let mut lines = Vec::new();
                for r in received.iter().filter(|r| !r.taken) {
                    if let Incoming::Publish {
                        topic: t, payload, ..
                    } = &r.packet
                    {
                        if *t != topic {
                            continue;
                        }
                        let why = match (&pattern, serde_json::from_slice::<Value>(payload)) {
                            (Some(p), Ok(v)) => matcher::check(p, &v, Objects::Exact)
                                .err()
                                .map(|m| format!(" ({m})"))
                                .unwrap_or_default(),
                            (Some(_), Err(_)) => " (not JSON)".to_owned(),
                            _ => String::new(),
                        };
                        lines.push(format!("{}{why}", payload_text(payload)));
                    }
                }
                let mut actual = if lines.is_empty() {
                    format!("no message on {topic} before the deadline")
                } else {
                    format!(
                        "only non-matching messages on {topic}: {}",
                        lines.join("; ")
                    )
                };
                if let Some(how) = closed {
                    actual.push_str(&format!(" ({how})"));
                }
                Err(fail(wanted, actual))
            }
        }
    }

    pub async fn expect_no_message(&mut self, step: &ExpectNoMessage) -> StepResult {
        let topic = step.topic.as_ref().map(|t| self.text(t)).transpose()?;
        let pattern = step.json.as_ref().map(|p| self.value(p)).transpose()?;
        let until = self.deadline(step.within, DEFAULT_QUIET);
        let session = self.session(&step.session)?;
        let got = session
            .wait_for(until, |inbox| {
                inbox
                    .received
                    .iter()
                    .filter(|r| !r.taken)
                    .find_map(|r| match &r.packet {
                        Incoming::Publish {
                            topic: t, payload, ..
                        } => {
                            let on_topic = topic.as_ref().is_none_or(|x| x == t);
                            let matching = pattern.as_ref().is_none_or(|p| {
                                serde_json::from_slice::<Value>(payload)
                                    .is_ok_and(|v| matcher::check(p, &v, Objects::Exact).is_ok())
                            });
                            (on_topic && matching).then(|| r.packet.clone())
                        }
                        _ => None,
                    })
            })
            .await;
        let what = topic.clone().unwrap_or_else(|| "any topic".into());
        match got {
            Some(message) => Err(fail(format!("no message on {what}"), message.to_string())),
            None => {
                self.note(format!("{} <- (no message on {what})", step.session));
                Ok(())
            }
        }
    }

    pub async fn expect_disconnect(&mut self, step: &ExpectDisconnect) -> StepResult {
        let deadline = self.deadline(step.within, DEFAULT_WITHIN);
        let version = self.version;
        let session = self.session(&step.session)?;
        let got = session
            .wait_for(deadline, |inbox| {
                if version == Version::V5
                    && let Some(d) = take_first(inbox, |p| matches!(p, Incoming::Disconnect { .. }))
                {
                    return Some(Some(d));
                }
                inbox.closed.as_ref().map(|_| None)
            })
            .await;
        let wanted = match (version, step.reason) {
            (Version::V5, Some(c)) => format!("DISCONNECT {}", code(c.0)),
            (Version::V5, None) => "a DISCONNECT or the connection closed".to_owned(),
            (Version::V3, _) => "the connection closed".to_owned(),
        };
        let line = match got {
            Some(Some(Incoming::Disconnect { code: c }))
                if step.reason.is_none_or(|r| r.0 == c) =>
            {
                format!("{} <- DISCONNECT {}", step.session, code(c))
            }
            Some(Some(other)) => return Err(fail(wanted, other.to_string())),
            Some(None) if version == Version::V3 || step.reason.is_none() => {
                format!("{} <- (connection closed)", step.session)
            }
            Some(None) => return Err(fail(wanted, "the connection closed without a DISCONNECT")),
            None => {
                return Err(fail(
                    wanted,
                    format!(
                        "the connection stayed open; seen: {}",
                        inbox_text(session).await
                    ),
                ));
            }
        };
        self.note(line);
        Ok(())
    }

    /// Stays connected until the platform's quiet sessions have expired, sending PINGREQ
    /// eight times over so that this session itself is never quiet; its closing is a failure.
    pub async fn idle(&mut self, step: &Idle) -> StepResult {
        let IdlePast::SessionInactivity = step.past;
        let total = self.platform.sessions_expire_after;
        let until = Instant::now() + total;
        let session = self.session(&step.session)?;
        let closed = |inbox: &mut Inbox| inbox.closed.clone();
        loop {
            let now = Instant::now();
            if now >= until {
                break;
            }
            session
                .send(&Outgoing::PingReq)
                .await
                .map_err(StepError::Error)?;
            if let Some(how) = session.wait_for((now + total / 8).min(until), closed).await {
                return Err(fail(
                    "the session stays open while it sends PINGREQ",
                    format!("the connection closed: {how}"),
                ));
            }
        }
        self.note(format!(
            "{} idles past the session inactivity timeout, sending PINGREQ",
            step.session
        ));
        Ok(())
    }

    pub async fn disconnect(&mut self, step: &SessionRef) -> StepResult {
        let session = self.session(&step.session)?;
        session
            .send(&Outgoing::Disconnect)
            .await
            .map_err(StepError::Error)?;
        session.close().await;
        self.note(format!("{} -> DISCONNECT", step.session));
        self.sessions.remove(&step.session);
        Ok(())
    }
}
