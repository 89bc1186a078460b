//! Server-side RPC bookkeeping: ids counted per device from 0 (`rpcSeq` in the device
//! actor), pending calls kept until they are sent or expire, replies matched by (device, id),
//! and persistent RPCs with their status (`RpcStatus`, §5 and §11.2).

use std::collections::HashMap;

use serde_json::{Value, json};
use uuid::Uuid;

use super::entities::entity_id;

/// ThingsBoard's `RpcStatus` of a persistent RPC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RpcStatus {
    Queued,
    Sent,
    Delivered,
    Successful,
    /// A direct device did not PUBACK within `transport.mqtt.timeout`; re-sent when it
    /// subscribes again, if retries are left.
    Timeout,
    Expired,
    /// Timed out once more than its retries allow.
    Failed,
}

impl RpcStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RpcStatus::Queued => "QUEUED",
            RpcStatus::Sent => "SENT",
            RpcStatus::Delivered => "DELIVERED",
            RpcStatus::Successful => "SUCCESSFUL",
            RpcStatus::Timeout => "TIMEOUT",
            RpcStatus::Expired => "EXPIRED",
            RpcStatus::Failed => "FAILED",
        }
    }

    /// Whether the call can still change: queued, or sent and awaiting its answer, a
    /// retry or its expiry.
    fn is_open(self) -> bool {
        matches!(
            self,
            RpcStatus::Queued | RpcStatus::Sent | RpcStatus::Delivered | RpcStatus::Timeout
        )
    }

    /// Sent and not known to have arrived: sent again when the device subscribes again
    /// (the device actor's BURST strategy re-sends every such call).
    fn awaits_delivery(self) -> bool {
        matches!(self, RpcStatus::Sent | RpcStatus::Timeout)
    }
}

/// What a persistent RPC asks for (`POST /api/rpc/...` with `"persistent": true`).
#[derive(Clone, Debug)]
pub struct PersistentRequest {
    pub method: String,
    pub params: Value,
    pub oneway: bool,
    pub expires_at: i64,
    /// `None` when the request names none: ThingsBoard then allows `actors.rpc.max_retries`.
    pub retries: Option<i64>,
    pub additional_info: Value,
}

/// A persistent RPC as `GET /api/rpc/persistent/{rpcId}` shows it.
#[derive(Clone, Debug)]
pub struct PersistentRpc {
    pub id: Uuid,
    pub device: Uuid,
    pub created_time: i64,
    pub request: PersistentRequest,
    pub status: RpcStatus,
    pub response: Value,
}

impl PersistentRpc {
    /// ThingsBoard's `Rpc` entity; `request` is the `ToDeviceRpcRequest` it keeps, whose
    /// `params` is the JSON text.
    pub fn to_json(&self, tenant_id: Uuid) -> Value {
        let request = &self.request;
        json!({
            "id": entity_id("RPC", self.id),
            "createdTime": self.created_time,
            "tenantId": entity_id("TENANT", tenant_id),
            "deviceId": entity_id("DEVICE", self.device),
            "expirationTime": request.expires_at,
            "request": {
                "id": self.id.to_string(),
                "tenantId": entity_id("TENANT", tenant_id),
                "deviceId": entity_id("DEVICE", self.device),
                "oneway": request.oneway,
                "expirationTime": request.expires_at,
                "body": {"method": request.method, "params": request.params.to_string()},
                "persisted": true,
                "retries": request.retries,
                "additionalInfo": request.additional_info,
            },
            "response": self.response,
            "status": self.status.as_str(),
            "additionalInfo": request.additional_info,
        })
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum RpcOutcome {
    /// A one-way call was handed to the device's session.
    Delivered,
    /// A two-way call was answered; the reply's `data` as JSON text.
    Replied(String),
}

#[derive(Clone, Debug)]
pub struct PendingRpc {
    pub call: Uuid,
    pub device: Uuid,
    pub id: i32,
    pub method: String,
    pub params: Value,
    pub oneway: bool,
    pub expires_at: i64,
    pub sent: bool,
    /// How many times a direct device left it without a PUBACK (the device actor keeps
    /// this count in memory only; the stored `retries` does not change).
    pub timeouts: i64,
}

#[derive(Clone, Debug, Default)]
pub struct RpcBook {
    next_id: HashMap<Uuid, i32>,
    calls: Vec<PendingRpc>,
    /// Persistent RPCs by rpcId, kept after they end, as ThingsBoard's table keeps them.
    pub persistent: HashMap<Uuid, PersistentRpc>,
}

impl RpcBook {
    /// Records a call and returns the id the device will see.
    pub fn add(
        &mut self,
        call: Uuid,
        device: Uuid,
        method: &str,
        params: Value,
        oneway: bool,
        expires_at: i64,
    ) -> i32 {
        let next = self.next_id.entry(device).or_insert(0);
        let id = *next;
        *next = next.wrapping_add(1);
        self.calls.push(PendingRpc {
            call,
            device,
            id,
            method: method.to_owned(),
            params,
            oneway,
            expires_at,
            sent: false,
            timeouts: 0,
        });
        id
    }

    /// The id the device's next RPC gets.
    pub fn next_id(&self, device: Uuid) -> i32 {
        self.next_id.get(&device).copied().unwrap_or(0)
    }

    pub fn get(&self, call: Uuid) -> Option<&PendingRpc> {
        self.calls.iter().find(|c| c.call == call)
    }

    pub fn mark_sent(&mut self, call: Uuid) {
        if let Some(c) = self.calls.iter_mut().find(|c| c.call == call) {
            c.sent = true;
        }
    }

    pub fn remove(&mut self, call: Uuid) {
        self.calls.retain(|c| c.call != call);
    }

    /// The unexpired calls of a device to send when it connects or subscribes, oldest
    /// first: the unsent ones, and persistent ones sent without a known delivery.
    pub fn to_send(&self, device: Uuid, now: i64) -> Vec<(Uuid, i32)> {
        let again = |call: &Uuid| {
            self.persistent
                .get(call)
                .is_some_and(|r| r.status.awaits_delivery())
        };
        self.calls
            .iter()
            .filter(|c| c.device == device && c.expires_at > now)
            .filter(|c| !c.sent || again(&c.call))
            .map(|c| (c.call, c.id))
            .collect()
    }

    /// A direct device did not PUBACK a persistent call in time (`processRpcResponseStatus`):
    /// TIMEOUT while its retries (the request's, at most `max_retries`; `max_retries` when it
    /// names none) last, else FAILED, and the call leaves the book.
    pub fn time_out(&mut self, call: Uuid, max_retries: i64) {
        let Some(record) = self.persistent.get(&call) else {
            return;
        };
        let allowed = record
            .request
            .retries
            .unwrap_or(max_retries)
            .clamp(0, max_retries);
        let Some(pending) = self.calls.iter_mut().find(|c| c.call == call) else {
            return;
        };
        if pending.timeouts < allowed {
            pending.timeouts += 1;
            self.set_status(call, RpcStatus::Timeout, None);
        } else {
            let error = format!(
                "There was a Timeout and all retry attempts have been exhausted. Retry attempts set: {allowed}"
            );
            self.set_status(call, RpcStatus::Failed, Some(json!({ "error": error })));
            self.remove(call);
        }
    }

    /// The two-way call a reply (device, id) answers, removed from the book.
    pub fn answer(&mut self, device: Uuid, id: i32) -> Option<Uuid> {
        let at = self
            .calls
            .iter()
            .position(|c| c.device == device && c.id == id && c.sent && !c.oneway)?;
        Some(self.calls.remove(at).call)
    }

    /// A deleted device's calls and counter go; a new device of the same name starts at 0.
    pub fn forget_device(&mut self, device: Uuid) {
        self.calls.retain(|c| c.device != device);
        self.next_id.remove(&device);
        self.persistent.retain(|_, r| r.device != device);
    }

    /// Moves a persistent call on, unless it has already ended.
    pub fn set_status(&mut self, call: Uuid, status: RpcStatus, response: Option<Value>) {
        if let Some(record) = self.persistent.get_mut(&call)
            && record.status.is_open()
        {
            record.status = status;
            if let Some(response) = response {
                record.response = response;
            }
        }
    }

    /// Persistent calls past their expiration time become EXPIRED and leave the pending
    /// book, except one-way calls already DELIVERED, which have ended well
    /// (`processServerSideRpcTimeout`).
    pub fn expire_persistent(&mut self, now: i64) {
        let mut expired = Vec::new();
        for record in self.persistent.values_mut() {
            let delivered_oneway = record.request.oneway && record.status == RpcStatus::Delivered;
            if record.status.is_open() && !delivered_oneway && record.request.expires_at <= now {
                record.status = RpcStatus::Expired;
                expired.push(record.id);
            }
        }
        self.calls.retain(|c| !expired.contains(&c.call));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_count_from_zero_per_device_and_replies_match_device_and_id() {
        let mut book = RpcBook::default();
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let calls: Vec<Uuid> = (0..3).map(|_| Uuid::new_v4()).collect();
        assert_eq!(book.add(calls[0], a, "m", Value::Null, false, 10), 0);
        assert_eq!(book.add(calls[1], b, "m", Value::Null, false, 10), 0);
        assert_eq!(book.add(calls[2], a, "m", Value::Null, false, 10), 1);
        for call in &calls {
            book.mark_sent(*call);
        }
        assert_eq!(book.answer(b, 1), None, "b never got id 1");
        assert_eq!(book.answer(b, 0), Some(calls[1]));
        assert_eq!(book.answer(b, 0), None, "a second reply is stale");
        assert_eq!(book.answer(a, 1), Some(calls[2]));
    }

    #[test]
    fn unsent_calls_are_listed_oldest_first_until_they_expire() {
        let mut book = RpcBook::default();
        let d = Uuid::new_v4();
        let (c1, c2) = (Uuid::new_v4(), Uuid::new_v4());
        book.add(c1, d, "m", Value::Null, true, 100);
        book.add(c2, d, "m", Value::Null, true, 50);
        assert_eq!(book.to_send(d, 10), [(c1, 0), (c2, 1)]);
        assert_eq!(book.to_send(d, 60), [(c1, 0)]);
    }

    fn persistent(book: &mut RpcBook, oneway: bool, status: RpcStatus) -> Uuid {
        let (id, device) = (Uuid::new_v4(), Uuid::new_v4());
        book.add(id, device, "m", Value::Null, oneway, 100);
        book.persistent.insert(
            id,
            PersistentRpc {
                id,
                device,
                created_time: 0,
                request: PersistentRequest {
                    method: "m".into(),
                    params: Value::Null,
                    oneway,
                    expires_at: 100,
                    retries: Some(0),
                    additional_info: Value::Null,
                },
                status,
                response: Value::Null,
            },
        );
        id
    }

    #[test]
    fn open_persistent_calls_expire_but_a_delivered_one_way_call_has_ended_well() {
        let mut book = RpcBook::default();
        let sent_oneway = persistent(&mut book, true, RpcStatus::Sent);
        let delivered_oneway = persistent(&mut book, true, RpcStatus::Delivered);
        let delivered_twoway = persistent(&mut book, false, RpcStatus::Delivered);
        let answered = persistent(&mut book, false, RpcStatus::Successful);
        let queued = persistent(&mut book, false, RpcStatus::Queued);
        book.expire_persistent(99);
        assert_eq!(
            book.persistent[&queued].status,
            RpcStatus::Queued,
            "not yet"
        );
        book.expire_persistent(100);
        let status = |id: Uuid| book.persistent[&id].status;
        assert_eq!(status(sent_oneway), RpcStatus::Expired);
        assert_eq!(status(delivered_oneway), RpcStatus::Delivered);
        assert_eq!(status(delivered_twoway), RpcStatus::Expired);
        assert_eq!(status(answered), RpcStatus::Successful);
        assert_eq!(status(queued), RpcStatus::Expired);
        assert!(
            book.get(queued).is_none(),
            "an expired call leaves the pending book"
        );
    }

    #[test]
    fn an_ended_call_keeps_its_status_and_response() {
        let mut book = RpcBook::default();
        let id = persistent(&mut book, false, RpcStatus::Sent);
        book.set_status(id, RpcStatus::Successful, Some(Value::from(1)));
        book.set_status(id, RpcStatus::Expired, Some(Value::from(2)));
        assert_eq!(book.persistent[&id].status, RpcStatus::Successful);
        assert_eq!(book.persistent[&id].response, Value::from(1));
    }

    fn with_retries(book: &mut RpcBook, retries: Option<i64>) -> Uuid {
        let id = persistent(book, false, RpcStatus::Sent);
        if let Some(record) = book.persistent.get_mut(&id) {
            record.request.retries = retries;
        }
        book.mark_sent(id);
        id
    }

    #[test]
    fn a_call_times_out_as_often_as_its_retries_allow_then_fails_with_thingsboards_error() {
        let mut book = RpcBook::default();
        let id = with_retries(&mut book, Some(2));
        book.time_out(id, 5);
        book.time_out(id, 5);
        assert_eq!(book.persistent[&id].status, RpcStatus::Timeout);
        assert!(book.get(id).is_some(), "still pending after two timeouts");
        book.time_out(id, 5);
        assert_eq!(book.persistent[&id].status, RpcStatus::Failed);
        assert_eq!(
            book.persistent[&id].response,
            json!({"error": "There was a Timeout and all retry attempts have been exhausted. Retry attempts set: 2"})
        );
        assert!(book.get(id).is_none(), "a failed call leaves the book");
    }

    #[test]
    fn retries_are_capped_by_max_retries_which_also_applies_when_none_are_named() {
        let mut book = RpcBook::default();
        let named = with_retries(&mut book, Some(10));
        let unnamed = with_retries(&mut book, None);
        let none = with_retries(&mut book, Some(0));
        for _ in 0..3 {
            book.time_out(named, 3);
            book.time_out(unnamed, 3);
        }
        book.time_out(none, 3);
        assert_eq!(book.persistent[&named].status, RpcStatus::Timeout);
        assert_eq!(book.persistent[&unnamed].status, RpcStatus::Timeout);
        assert_eq!(book.persistent[&none].status, RpcStatus::Failed);
        book.time_out(named, 3);
        book.time_out(unnamed, 3);
        let error = |id: Uuid| book.persistent[&id].response["error"].clone();
        assert_eq!(book.persistent[&named].status, RpcStatus::Failed);
        assert!(error(named).as_str().is_some_and(|e| e.ends_with("set: 3")));
        assert!(
            error(unnamed)
                .as_str()
                .is_some_and(|e| e.ends_with("set: 3"))
        );
    }

    #[test]
    fn persistent_calls_sent_or_timed_out_are_sent_again_but_delivered_ones_are_not() {
        let mut book = RpcBook::default();
        let sent = with_retries(&mut book, None);
        let delivered = with_retries(&mut book, None);
        book.set_status(delivered, RpcStatus::Delivered, None);
        let timed_out = with_retries(&mut book, None);
        book.time_out(timed_out, 5);
        let device = |id: Uuid| book.persistent[&id].device;
        assert_eq!(book.to_send(device(sent), 0).len(), 1);
        assert_eq!(book.to_send(device(timed_out), 0).len(), 1);
        assert!(book.to_send(device(delivered), 0).is_empty());
    }
}
