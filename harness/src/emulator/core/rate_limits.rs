//! ThingsBoard's transport rate limits (`TbRateLimits`, bucket4j with greedy refill): a
//! limit is `"count:seconds,count:seconds"` from the tenant profile, and a message passes
//! only while every bucket has room (§11.2).

/// One `count:seconds` bucket: it holds up to `capacity` tokens and refills at `capacity`
/// per `period_ms`, continuously. Tokens are kept multiplied by `period_ms`, so the refill is
/// exact in integers.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Bucket {
    capacity: u64,
    period_ms: u64,
    /// Tokens × `period_ms`.
    scaled_tokens: u128,
    refilled_at: i64,
}

impl Bucket {
    /// A full bucket at `now`.
    fn new(capacity: u64, period_ms: u64, now: i64) -> Bucket {
        let mut bucket = Bucket {
            capacity,
            period_ms,
            scaled_tokens: 0,
            refilled_at: now,
        };
        bucket.scaled_tokens = bucket.full();
        bucket
    }

    fn full(&self) -> u128 {
        u128::from(self.capacity) * u128::from(self.period_ms)
    }

    fn refill(&mut self, now: i64) {
        let elapsed = u128::try_from(now.saturating_sub(self.refilled_at)).unwrap_or(0);
        let refilled = self.scaled_tokens + elapsed * u128::from(self.capacity);
        self.scaled_tokens = refilled.min(self.full());
        self.refilled_at = now.max(self.refilled_at);
    }

    /// `tokens`, scaled as the bucket keeps them.
    fn scaled(&self, tokens: u64) -> u128 {
        u128::from(tokens) * u128::from(self.period_ms)
    }
}

/// A limit as configured, with its buckets' state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RateLimit {
    /// The configuration it was made from, to notice when the tenant profile changes.
    pub config: String,
    buckets: Vec<Bucket>,
}

impl RateLimit {
    /// Parses `"10:1,300:60"`; every bucket starts full at `now`.
    pub fn parse(config: &str, now: i64) -> Result<RateLimit, String> {
        let mut buckets = Vec::new();
        for part in config.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let parsed = part.split_once(':').and_then(|(count, seconds)| {
                let capacity = count.trim().parse::<u64>().ok().filter(|c| *c > 0)?;
                let seconds = seconds.trim().parse::<u64>().ok().filter(|s| *s > 0)?;
                Some((capacity, seconds.checked_mul(1000)?))
            });
            let Some((capacity, period_ms)) = parsed else {
                return Err(format!(
                    "rate limit {config:?}: {part:?} is not count:seconds (for example \"10:1,300:60\")"
                ));
            };
            buckets.push(Bucket::new(capacity, period_ms, now));
        }
        Ok(RateLimit {
            config: config.to_owned(),
            buckets,
        })
    }

    /// Takes `tokens` from every bucket, as `TbRateLimits.tryConsume` does (bucket4j checks
    /// the buckets together: nothing is taken when one of them lacks room).
    pub fn try_consume(&mut self, tokens: u64, now: i64) -> bool {
        for bucket in &mut self.buckets {
            bucket.refill(now);
        }
        let room = self
            .buckets
            .iter()
            .all(|b| b.scaled_tokens >= b.scaled(tokens));
        if room {
            for bucket in &mut self.buckets {
                bucket.scaled_tokens -= bucket.scaled(tokens);
            }
        }
        room
    }
}

/// The three limits of one kind of session: messages, telemetry messages, data points.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LimitConfig {
    pub messages: Option<String>,
    pub telemetry_messages: Option<String>,
    pub telemetry_data_points: Option<String>,
}

/// The tenant profile's transport limits, as `DefaultTransportRateLimitService` applies
/// them: `transportGateway…` to what a gateway's sub-devices send (one set of buckets per
/// gateway, shared by all its sub-devices), `transportGatewayDevice…` to what the gateway
/// sends as a device itself (`v1/devices/me/*`), `transportDevice…` to a plain device. The
/// `transportTenant…` limits are not modelled.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TransportLimits {
    pub gateway: LimitConfig,
    pub gateway_device: LimitConfig,
    pub device: LimitConfig,
}

impl TransportLimits {
    /// No limit set at all, as in ThingsBoard's default tenant profile.
    pub fn is_empty(&self) -> bool {
        let unset = |config: &LimitConfig| config.values().iter().all(|v| v.is_none());
        unset(&self.gateway) && unset(&self.gateway_device) && unset(&self.device)
    }
}

/// The tenant-profile fields, in `LimitConfig` order, for the gateway and for its devices.
pub const GATEWAY_FIELDS: [&str; 3] = [
    "transportGatewayMsgRateLimit",
    "transportGatewayTelemetryMsgRateLimit",
    "transportGatewayTelemetryDataPointsRateLimit",
];
pub const GATEWAY_DEVICE_FIELDS: [&str; 3] = [
    "transportGatewayDeviceMsgRateLimit",
    "transportGatewayDeviceTelemetryMsgRateLimit",
    "transportGatewayDeviceTelemetryDataPointsRateLimit",
];
pub const DEVICE_FIELDS: [&str; 3] = [
    "transportDeviceMsgRateLimit",
    "transportDeviceTelemetryMsgRateLimit",
    "transportDeviceTelemetryDataPointsRateLimit",
];

impl LimitConfig {
    pub fn values(&self) -> [&Option<String>; 3] {
        [
            &self.messages,
            &self.telemetry_messages,
            &self.telemetry_data_points,
        ]
    }

    pub fn from_values(values: [Option<String>; 3]) -> LimitConfig {
        let [messages, telemetry_messages, telemetry_data_points] = values;
        LimitConfig {
            messages,
            telemetry_messages,
            telemetry_data_points,
        }
    }
}

/// One session's bucket state for one `LimitConfig`, rebuilt when the configuration changes.
#[derive(Clone, Debug, Default)]
pub struct SessionLimits {
    limits: [Option<RateLimit>; 3],
}

impl SessionLimits {
    /// Takes what a message costs under `config`, as `checkEntityRateLimit` does: with data
    /// points (telemetry, and attributes, whose keys count as points) one telemetry message
    /// and then the points, else one message; `false` when a limit refuses it. A telemetry
    /// message taken before the points are refused is not given back.
    pub fn admit(&mut self, config: &LimitConfig, points: u64, now: i64) -> bool {
        if points > 0 {
            self.take(config, 1, 1, now) && self.take(config, 2, points, now)
        } else {
            self.take(config, 0, 1, now)
        }
    }

    fn take(&mut self, config: &LimitConfig, index: usize, tokens: u64, now: i64) -> bool {
        let Some(text) = config.values()[index] else {
            self.limits[index] = None;
            return true;
        };
        let slot = &mut self.limits[index];
        if slot.as_ref().map(|l| l.config.as_str()) != Some(text.as_str()) {
            *slot = RateLimit::parse(text, now).ok();
        }
        slot.as_mut()
            .is_none_or(|limit| limit.try_consume(tokens, now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_refills_continuously_and_every_bucket_must_have_room() {
        let mut limit = RateLimit::parse("2:1,3:60", 0).expect("valid");
        assert!(limit.try_consume(1, 0));
        assert!(limit.try_consume(1, 0));
        assert!(!limit.try_consume(1, 0), "2 per second");
        assert!(!limit.try_consume(1, 499), "half a token after 0.5 s");
        assert!(limit.try_consume(1, 500), "one token after 0.5 s");
        assert!(
            !limit.try_consume(1, 5_000),
            "3 per minute, though the first bucket is full"
        );
    }

    #[test]
    fn a_limit_that_is_not_count_colon_seconds_is_refused_with_an_example() {
        for bad in ["10", "10:0", "a:1", "10:1,x"] {
            let error = RateLimit::parse(bad, 0).expect_err(bad);
            assert!(error.contains("count:seconds"), "{error}");
        }
        assert!(RateLimit::parse(" 10:1 , 300:60 ", 0).is_ok());
    }

    #[test]
    fn data_points_count_against_their_own_limit() {
        let config = LimitConfig {
            messages: None,
            telemetry_messages: None,
            telemetry_data_points: Some("5:60".into()),
        };
        let mut session = SessionLimits::default();
        assert!(session.admit(&config, 3, 0));
        assert!(
            session.admit(&config, 0, 0),
            "a message without data points takes none"
        );
        assert!(!session.admit(&config, 3, 0));
        assert!(session.admit(&config, 2, 0));
    }

    #[test]
    fn a_message_with_data_points_is_a_telemetry_message_and_not_a_message() {
        let config = LimitConfig {
            messages: Some("1:60".into()),
            telemetry_messages: Some("1:60".into()),
            telemetry_data_points: None,
        };
        let mut session = SessionLimits::default();
        assert!(session.admit(&config, 2, 0), "the telemetry message");
        assert!(
            session.admit(&config, 0, 0),
            "the message: untouched by telemetry"
        );
        assert!(!session.admit(&config, 1, 0));
        assert!(!session.admit(&config, 0, 0));
    }

    #[test]
    fn a_telemetry_message_taken_before_its_points_are_refused_is_not_given_back() {
        let config = LimitConfig {
            messages: None,
            telemetry_messages: Some("2:60".into()),
            telemetry_data_points: Some("1:60".into()),
        };
        let mut session = SessionLimits::default();
        assert!(!session.admit(&config, 2, 0), "two points over one");
        assert!(session.admit(&config, 1, 0), "the second telemetry message");
        assert!(
            !session.admit(&config, 1, 0),
            "the first was used up by the refusal"
        );
    }
}
