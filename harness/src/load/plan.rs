//! What a load run does, decided before anything connects (pure): which gateways this shard
//! runs, their devices and tokens, how many messages each sends, which devices each message
//! names, and the bytes of each message. Every point is `ts = base + seq` with the value
//! `seq`, where `seq` counts the messages that named the device, so the read-back knows
//! exactly which points must be stored.

use std::fmt::Write as _;

/// `--shard I/N`: this process runs the gateways whose index is `I` modulo `N` (`I` from 0,
/// as Kubernetes' `JOB_COMPLETION_INDEX`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl Shard {
    pub const WHOLE: Shard = Shard { index: 0, count: 1 };

    pub fn parse(text: &str) -> Result<Shard, String> {
        let (index, count) = text
            .split_once('/')
            .ok_or_else(|| format!("--shard takes I/N, e.g. 0/4; got {text:?}"))?;
        let number = |part: &str| {
            part.trim().parse::<u32>().map_err(|_| {
                format!("--shard takes I/N with whole numbers, e.g. 0/4; got {text:?}")
            })
        };
        let (index, count) = (number(index)?, number(count)?);
        if count == 0 || index >= count {
            return Err(format!(
                "--shard I/N needs 0 <= I < N (I counts from 0, as JOB_COMPLETION_INDEX); got {text:?}"
            ));
        }
        Ok(Shard { index, count })
    }

    pub fn owns(self, gateway: u32) -> bool {
        gateway % self.count == self.index
    }
}

/// The shape of the load, as the command line gives it.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Shape {
    pub gateways: u32,
    pub devices_per_gateway: u32,
    /// Device entries in one telemetry message (at most `devices_per_gateway`).
    pub devices_per_message: u32,
    /// Points in one message, spread evenly over its device entries.
    pub points_per_message: u32,
    /// `--messages K`: the whole run's messages (every shard's), split over the gateways.
    pub messages: Option<u64>,
}

impl Shape {
    /// The mistakes that make the shape impossible, said as what to write instead.
    pub fn check(&self) -> Result<(), String> {
        if self.gateways == 0 || self.devices_per_gateway == 0 {
            return Err("--gateways and --devices-per-gateway must be at least 1".into());
        }
        if self.devices_per_message == 0 || self.devices_per_message > self.devices_per_gateway {
            return Err(format!(
                "--devices-per-message must be between 1 and --devices-per-gateway ({})",
                self.devices_per_gateway
            ));
        }
        if self.points_per_message == 0
            || !self
                .points_per_message
                .is_multiple_of(self.devices_per_message)
        {
            return Err(format!(
                "--points-per-message must be a positive multiple of --devices-per-message ({}): each device entry carries the same number of points",
                self.devices_per_message
            ));
        }
        Ok(())
    }

    pub fn points_per_device(&self) -> u32 {
        self.points_per_message / self.devices_per_message.max(1)
    }

    /// How many messages gateway `index` sends under `--messages`: an even split, the first
    /// gateways taking one more when it does not divide.
    pub fn messages_of(&self, index: u32) -> Option<u64> {
        let total = self.messages?;
        let gateways = u64::from(self.gateways.max(1));
        let extra = u64::from(u64::from(index) < total % gateways);
        Some(total / gateways + extra)
    }
}

/// One gateway of this shard.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GatewayPlan {
    pub index: u32,
    pub name: String,
    pub token: String,
    pub devices: Vec<String>,
    /// `None` when the run is bounded by time.
    pub messages: Option<u64>,
}

/// The gateways this shard runs, named from `prefix`: `{prefix}-g{i}` with the token
/// `{prefix}-g{i}-token` and the devices `{prefix}-g{i}-d{j}`.
pub fn gateways(prefix: &str, shape: &Shape, shard: Shard) -> Vec<GatewayPlan> {
    (0..shape.gateways)
        .filter(|i| shard.owns(*i))
        .map(|index| {
            let name = format!("{prefix}-g{index}");
            GatewayPlan {
                index,
                token: format!("{name}-token"),
                devices: (0..shape.devices_per_gateway)
                    .map(|j| format!("{name}-d{j}"))
                    .collect(),
                messages: shape.messages_of(index),
                name,
            }
        })
        .collect()
}

/// The device entries of a gateway's message number `n` (from 0): `(device index, seq)`.
/// Devices are taken round-robin, `devices_per_message` at a time, so each device's `seq`
/// counts up by one with every message that names it.
pub fn entries(shape: &Shape, n: u64) -> impl Iterator<Item = (u32, u64)> {
    let per_message = u64::from(shape.devices_per_message);
    let devices = u64::from(shape.devices_per_gateway.max(1));
    (0..per_message).map(move |j| {
        let slot = n * per_message + j;
        ((slot % devices) as u32, slot / devices)
    })
}

/// The bytes of a gateway telemetry message: each entry `{"ts": base + seq, "values":
/// {"k0": seq, …}}` under its device's name.
pub fn telemetry(plan: &GatewayPlan, shape: &Shape, n: u64, base_ts: i64) -> Vec<u8> {
    let keys = shape.points_per_device();
    let mut out = String::with_capacity(64 + 24 * shape.points_per_message as usize);
    out.push('{');
    for (i, (device, seq)) in entries(shape, n).enumerate() {
        if i > 0 {
            out.push(',');
        }
        let name = plan.devices.get(device as usize).map_or("", String::as_str);
        let ts = base_ts.saturating_add(seq as i64);
        let _ = write!(out, "\"{name}\":[{{\"ts\":{ts},\"values\":{{");
        for k in 0..keys {
            if k > 0 {
                out.push(',');
            }
            let _ = write!(out, "\"k{k}\":{seq}");
        }
        out.push_str("}}]");
    }
    out.push('}');
    out.into_bytes()
}

/// The keys every device's points use: `k0`, `k1`, …
pub fn keys(shape: &Shape) -> Vec<String> {
    (0..shape.points_per_device())
        .map(|k| format!("k{k}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(gateways: u32, devices: u32, per_message: u32, points: u32) -> Shape {
        Shape {
            gateways,
            devices_per_gateway: devices,
            devices_per_message: per_message,
            points_per_message: points,
            messages: Some(10),
        }
    }

    #[test]
    fn shards_split_the_gateways_without_overlap_and_cover_them_all() {
        let shape = shape(7, 1, 1, 1);
        let mut seen: Vec<u32> = (0..3)
            .flat_map(|i| gateways("p", &shape, Shard { index: i, count: 3 }))
            .map(|g| g.index)
            .collect();
        seen.sort();
        assert_eq!(seen, (0..7).collect::<Vec<_>>());
        let total: u64 = (0..3)
            .flat_map(|i| gateways("p", &shape, Shard { index: i, count: 3 }))
            .filter_map(|g| g.messages)
            .sum();
        assert_eq!(total, 10, "--messages is the whole run's, split exactly");
    }

    #[test]
    fn a_shard_is_i_of_n_counted_from_zero() {
        assert_eq!(Shard::parse("2/4"), Ok(Shard { index: 2, count: 4 }));
        assert!(Shard::parse("4/4").is_err());
        assert!(Shard::parse("1").is_err());
        assert!(Shard::parse("0/0").is_err());
    }

    #[test]
    fn each_device_counts_its_own_seq_as_messages_go_round_robin() {
        let shape = shape(1, 3, 2, 2);
        let named: Vec<Vec<(u32, u64)>> = (0..3).map(|n| entries(&shape, n).collect()).collect();
        assert_eq!(
            named,
            [
                vec![(0, 0), (1, 0)],
                vec![(2, 0), (0, 1)],
                vec![(1, 1), (2, 1)]
            ]
        );
    }

    #[test]
    fn a_message_carries_each_entry_with_ts_base_plus_seq_and_the_seq_as_values() {
        let shape = shape(1, 2, 2, 4);
        let plan = &gateways("p", &shape, Shard::WHOLE)[0];
        let text = String::from_utf8(telemetry(plan, &shape, 1, 1000)).unwrap_or_default();
        assert_eq!(
            text,
            r#"{"p-g0-d0":[{"ts":1001,"values":{"k0":1,"k1":1}}],"p-g0-d1":[{"ts":1001,"values":{"k0":1,"k1":1}}]}"#
        );
        let typed = tbgw_codec::decode(
            tbgw_codec::Topic::Telemetry,
            tbgw_codec::Direction::GatewayToPlatform,
            text.as_bytes(),
            tbgw_codec::Mode::Strict,
        );
        assert!(
            typed.is_ok(),
            "a strict gateway telemetry message: {typed:?}"
        );
    }

    #[test]
    fn impossible_shapes_are_refused_with_what_to_write() {
        assert!(
            shape(1, 2, 3, 3).check().is_err(),
            "more devices per message than devices"
        );
        assert!(
            shape(1, 10, 10, 15).check().is_err(),
            "points not a multiple of entries"
        );
        assert!(shape(0, 1, 1, 1).check().is_err());
        assert!(shape(2, 10, 10, 100).check().is_ok());
    }
}
