//! One accepted MQTT session: who it is, what it subscribed, which sub-devices a gateway
//! has connected through it.

use std::collections::{BTreeMap, HashMap};

use compact_str::CompactString;
use uuid::Uuid;

use super::FastMap;
use super::packets::{ConnId, Version};
use super::rate_limits::SessionLimits;

/// The filters ThingsBoard grants on a gateway session (an exact string match).
pub const GATEWAY_FILTERS: [&str; 3] = [
    "v1/gateway/attributes",
    "v1/gateway/rpc",
    "v1/gateway/attributes/response",
];

/// The device-API filters ThingsBoard grants any device (`MqttTopics`, an exact match).
pub const DEVICE_FILTERS: [&str; 20] = [
    "v1/devices/me/attributes",
    "v1/devices/me/attributes/response/+",
    "v1/devices/me/rpc/request/+",
    "v1/devices/me/rpc/response/+",
    "v2/a",
    "v2/a/j",
    "v2/a/p",
    "v2/a/res/+",
    "v2/a/res/j/+",
    "v2/a/res/p/+",
    "v2/r/req/+",
    "v2/r/req/j/+",
    "v2/r/req/p/+",
    "v2/r/res/+",
    "v2/r/res/j/+",
    "v2/r/res/p/+",
    "v2/fw/response/+/chunk/+",
    "v2/sw/response/+/chunk/+",
    "v2/fw/error",
    "v2/sw/error",
];

/// Whether ThingsBoard grants a subscription to `filter` (an exact string match).
pub fn is_served_filter(filter: &str) -> bool {
    GATEWAY_FILTERS.contains(&filter) || DEVICE_FILTERS.contains(&filter)
}

#[derive(Clone, Debug)]
pub struct Session {
    pub conn: ConnId,
    pub version: Version,
    pub client_id: String,
    /// The authenticated device.
    pub device: Uuid,
    pub device_name: String,
    pub gateway: bool,
    /// Granted QoS by filter.
    pub subscriptions: HashMap<String, u8>,
    /// Sub-devices connected through this gateway session, by name.
    pub sub_devices: BTreeMap<CompactString, Uuid>,
    /// When the client last did something that counts as activity (ms since the epoch).
    pub last_activity: i64,
    /// When the gateway last named each sub-device.
    pub sub_activity: FastMap<Uuid, i64>,
    /// The gateway's `additionalInfo.overwriteActivityTime`: its sub-devices' activity
    /// follows its own, PINGREQs included.
    pub overwrite_activity_time: bool,
    /// Where the device's attribute updates go, and the prefix of its RPC requests: set by
    /// the device-API filter subscribed last, v1 or v2 (`device_topics`).
    pub attribute_topic: Option<&'static str>,
    pub rpc_prefix: Option<&'static str>,
    /// The device's own client-side RPC requests waiting for an answer: (the topic of the
    /// answer, when ThingsBoard answers `{"error":"timeout"}` there).
    pub own_rpc_requests: Vec<(String, i64)>,
    /// Persistent RPCs published at QoS 1 that the device has not PUBACKed yet: (packet id,
    /// call, when it times out). Dropped with the session, as `closeCtx` clears them.
    pub rpc_awaiting_ack: Vec<(u16, Uuid, i64)>,
    /// The buckets of what a gateway's sub-devices send (`transportGateway…`, shared by
    /// them all), and of what the session's device sends itself on the device API
    /// (`transportGatewayDevice…` for a gateway, `transportDevice…` for a plain device).
    pub gateway_limits: SessionLimits,
    pub own_limits: SessionLimits,
    next_pid: u32,
}

impl Session {
    pub fn new(
        conn: ConnId,
        version: Version,
        client_id: String,
        device: Uuid,
        device_name: String,
        gateway: bool,
    ) -> Session {
        Session {
            conn,
            version,
            client_id,
            device,
            device_name,
            gateway,
            subscriptions: HashMap::new(),
            sub_devices: BTreeMap::new(),
            last_activity: 0,
            sub_activity: FastMap::default(),
            overwrite_activity_time: false,
            attribute_topic: None,
            rpc_prefix: None,
            own_rpc_requests: Vec::new(),
            rpc_awaiting_ack: Vec::new(),
            gateway_limits: SessionLimits::default(),
            own_limits: SessionLimits::default(),
            next_pid: 1,
        }
    }

    /// ThingsBoard counts packet ids from 1 per connection, one for every publish (QoS 0
    /// included), and has no wrap-around: the 65 536th publish carries id 0 on the wire
    /// (§11.2, derived).
    pub fn next_pid(&mut self) -> u16 {
        let pid = (self.next_pid & 0xFFFF) as u16;
        self.next_pid = self.next_pid.wrapping_add(1);
        pid
    }

    /// The QoS of the subscription matching `topic`, otherwise 1 (`getQoSForTopic`).
    pub fn qos_for(&self, topic: &str) -> u8 {
        self.subscriptions
            .iter()
            .find(|(filter, _)| filter_matches(filter, topic))
            .map_or(1, |(_, qos)| *qos)
    }

    pub fn subscribed(&self, filter: &str) -> bool {
        self.subscriptions.contains_key(filter)
    }

    /// Drops a sub-device from the map, whatever name it is known by.
    pub fn forget_sub_device(&mut self, id: Uuid) {
        self.sub_devices.retain(|_, known| *known != id);
        self.sub_activity.remove(&id);
    }

    /// The sub-devices quiet for longer than `timeout_ms` at `now`. With
    /// `overwrite_activity_time`, a sub-device is as active as its gateway.
    pub fn expired_sub_devices(&self, now: i64, timeout_ms: i64) -> Vec<Uuid> {
        self.sub_devices
            .values()
            .filter(|id| {
                let own = self.sub_activity.get(id).copied().unwrap_or(0);
                let activity = if self.overwrite_activity_time {
                    own.max(self.last_activity)
                } else {
                    own
                };
                now.saturating_sub(activity) >= timeout_ms
            })
            .copied()
            .collect()
    }
}

/// MQTT topic matching for the few filters ThingsBoard grants (`+` and `#`).
pub fn filter_matches(filter: &str, topic: &str) -> bool {
    let mut levels = topic.split('/');
    for part in filter.split('/') {
        match (part, levels.next()) {
            ("#", _) => return true,
            ("+", Some(_)) => {}
            (p, Some(level)) if p == level => {}
            _ => return false,
        }
    }
    levels.next().is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packet_ids_count_every_publish_and_the_65536th_is_0() {
        let mut session = Session::new(1, Version::V5, "c".into(), Uuid::nil(), "d".into(), true);
        assert_eq!(session.next_pid(), 1);
        for _ in 2..65_536 {
            session.next_pid();
        }
        assert_eq!(
            session.next_pid(),
            0,
            "no wrap-around code: id 0 on the wire"
        );
        assert_eq!(session.next_pid(), 1);
    }

    #[test]
    fn filters_match_single_and_multi_level_wildcards() {
        assert!(filter_matches(
            "v1/devices/me/rpc/request/+",
            "v1/devices/me/rpc/request/7"
        ));
        assert!(!filter_matches(
            "v1/devices/me/rpc/request/+",
            "v1/devices/me/rpc/request"
        ));
        assert!(filter_matches("v1/gateway/rpc", "v1/gateway/rpc"));
        assert!(!filter_matches("v1/gateway/rpc", "v1/gateway/rpc/x"));
        assert!(filter_matches("v1/#", "v1/gateway/rpc"));
    }
}
