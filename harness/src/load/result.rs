//! What a load run measured and proved, as one JSON document per shard (`--json`), and the
//! exact merge of several (`tbgw load merge`): counts are added and the PUBACK latency
//! histograms are added bucket by bucket, so merged percentiles are the percentiles of every
//! message, not an average of percentiles.

use std::collections::BTreeMap;

use base64::Engine as _;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Deserializer, Serializer, V2Serializer};
use serde::{Deserialize, Serialize};

use super::plan::{Shape, Shard};

pub const FORMAT: &str = "tbgw-load 1";

/// PUBACK latencies in microseconds, 1 µs to 10 minutes, 3 significant digits.
pub fn new_histogram() -> Histogram<u64> {
    // Constant bounds that are valid, so this cannot fail.
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("valid constant histogram bounds")
}

/// The conformance checks of the read-back, per point (one key of one message's entry).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stored {
    /// Points in PUBACKed messages.
    pub acknowledged: u64,
    /// Of those, found through REST.
    pub found: u64,
    /// PUBACKed and not found: a conformance failure.
    pub lost: u64,
    /// Found more than once at one ts, or found with a ts no message carried.
    pub unexpected: u64,
    /// Devices whose read-back failed (REST error), with the first reason.
    pub unread_devices: u64,
}

/// Two-way RPCs sent through REST during the load, each answered by the gateway with its
/// own call's marker.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rpcs {
    pub sent: u64,
    /// Answered with this call's own marker.
    pub matched: u64,
    /// Answered with another call's marker: a conformance failure.
    pub crossed: u64,
    /// A REST error or timeout.
    pub failed: u64,
}

/// Shared attributes written through REST during the load, each of which must reach the
/// gateway of its device as a push.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pushes {
    /// Writes REST answered with 200.
    pub written: u64,
    /// Of those, pushed to the device's own gateway.
    pub delivered: u64,
    /// Written and never pushed: a conformance failure.
    pub missing: u64,
    /// Writes REST refused or could not make.
    pub failed: u64,
}

impl Pushes {
    fn added(self, b: Pushes) -> Pushes {
        Pushes {
            written: self.written + b.written,
            delivered: self.delivered + b.delivered,
            missing: self.missing + b.missing,
            failed: self.failed + b.failed,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LoadResult {
    pub format: String,
    /// `embedded`, `container`, `remote` or `mqtt`.
    pub target: String,
    pub mqtt_version: String,
    pub shape: Shape,
    /// `open-loop 1000/s` or `closed-loop window 32`.
    pub mode: String,
    /// The shards merged into this result (one for a single run).
    pub shards: Vec<Shard>,
    /// The timed phase, seconds (the longest shard's, once merged).
    pub seconds: f64,
    pub sent: u64,
    pub acknowledged: u64,
    /// Messages whose PUBACK never came before the end.
    pub unanswered: u64,
    /// Error kinds (`PUBACK 0x97`, `connection closed: …`) and how often each happened.
    pub errors: BTreeMap<String, u64>,
    pub points_sent: u64,
    /// `None` for `--target mqtt` or `--no-verify`: nothing was read back.
    pub stored: Option<Stored>,
    pub rpcs: Option<Rpcs>,
    #[serde(default)]
    pub attributes: Option<Pushes>,
    /// The percentiles of `histogram`, for readers of the JSON (`None` when no message was
    /// acknowledged).
    pub latency_ms: Option<Latency>,
    /// The PUBACK latency histogram (µs), HdrHistogram's V2 serialization in base64.
    pub histogram: String,
    /// CPU seconds (user + system) of tbgw's own process over the timed phase: the load
    /// client's cost, and on the embedded target the emulator's too. Summed over shards.
    #[serde(default)]
    pub cpu_seconds: Option<f64>,
}

/// Latency figures in milliseconds, read from a histogram.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
    pub mean: f64,
}

pub fn encode_histogram(histogram: &Histogram<u64>) -> Result<String, String> {
    let mut bytes = Vec::new();
    V2Serializer::new()
        .serialize(histogram, &mut bytes)
        .map_err(|e| format!("cannot serialize the latency histogram: {e:?}"))?;
    Ok(base64::engine::general_purpose::STANDARD.encode(bytes))
}

pub fn decode_histogram(text: &str) -> Result<Histogram<u64>, String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|e| format!("the latency histogram is not base64: {e}"))?;
    Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .map_err(|e| format!("the latency histogram does not deserialize: {e:?}"))
}

/// The percentiles, or `None` for an empty histogram.
pub fn latency_of(histogram: &Histogram<u64>) -> Option<Latency> {
    (!histogram.is_empty()).then(|| latency(histogram))
}

pub fn latency(histogram: &Histogram<u64>) -> Latency {
    let ms = |us: u64| us as f64 / 1000.0;
    Latency {
        p50: ms(histogram.value_at_quantile(0.50)),
        p90: ms(histogram.value_at_quantile(0.90)),
        p99: ms(histogram.value_at_quantile(0.99)),
        p999: ms(histogram.value_at_quantile(0.999)),
        max: ms(histogram.max()),
        mean: histogram.mean() / 1000.0,
    }
}

impl LoadResult {
    pub fn messages_per_second(&self) -> f64 {
        if self.seconds > 0.0 {
            self.acknowledged as f64 / self.seconds
        } else {
            0.0
        }
    }

    pub fn points_per_second(&self) -> f64 {
        if self.seconds > 0.0 && self.sent > 0 {
            self.messages_per_second() * (self.points_sent as f64 / self.sent as f64)
        } else {
            0.0
        }
    }

    /// Whether every conformance property held: no error, every message answered, every
    /// acknowledged point stored once, every RPC answered to its own call.
    pub fn conforms(&self) -> bool {
        let stored_ok = self
            .stored
            .as_ref()
            .is_none_or(|s| s.lost == 0 && s.unexpected == 0 && s.unread_devices == 0);
        let rpcs_ok = self
            .rpcs
            .as_ref()
            .is_none_or(|r| r.crossed == 0 && r.failed == 0);
        let pushes_ok = self
            .attributes
            .as_ref()
            .is_none_or(|p| p.missing == 0 && p.failed == 0);
        self.errors.is_empty() && self.unanswered == 0 && stored_ok && rpcs_ok && pushes_ok
    }
}

/// Both added when both are there, else the one that is.
fn both<T>(a: Option<T>, b: Option<T>, add: fn(T, T) -> T) -> Option<T> {
    match (a, b) {
        (Some(a), Some(b)) => Some(add(a, b)),
        (a, b) => a.or(b),
    }
}

impl Stored {
    fn added(self, b: Stored) -> Stored {
        Stored {
            acknowledged: self.acknowledged + b.acknowledged,
            found: self.found + b.found,
            lost: self.lost + b.lost,
            unexpected: self.unexpected + b.unexpected,
            unread_devices: self.unread_devices + b.unread_devices,
        }
    }
}

impl Rpcs {
    fn added(self, b: Rpcs) -> Rpcs {
        Rpcs {
            sent: self.sent + b.sent,
            matched: self.matched + b.matched,
            crossed: self.crossed + b.crossed,
            failed: self.failed + b.failed,
        }
    }
}

/// The shards' results added into one; they must be of the same run (shape, mode, target).
pub fn merge(results: Vec<LoadResult>) -> Result<LoadResult, String> {
    let mut results = results.into_iter();
    let mut merged = results
        .next()
        .ok_or("tbgw load merge needs at least one result file")?;
    let mut histogram = decode_histogram(&merged.histogram)?;
    for more in results {
        if more.format != FORMAT {
            return Err(format!(
                "a result of format {:?}, expected {FORMAT:?}",
                more.format
            ));
        }
        if more.shape != merged.shape || more.mode != merged.mode || more.target != merged.target {
            return Err(format!(
                "the results are of different runs: {} {:?} against {} {:?}",
                merged.mode, merged.shape, more.mode, more.shape
            ));
        }
        if more.shards.iter().any(|s| merged.shards.contains(s)) {
            return Err(format!("shard {:?} is given twice", more.shards));
        }
        histogram
            .add(decode_histogram(&more.histogram)?)
            .map_err(|e| format!("cannot add the latency histograms: {e:?}"))?;
        merged.shards.extend(more.shards);
        merged.seconds = merged.seconds.max(more.seconds);
        merged.sent += more.sent;
        merged.acknowledged += more.acknowledged;
        merged.unanswered += more.unanswered;
        merged.points_sent += more.points_sent;
        for (kind, count) in more.errors {
            *merged.errors.entry(kind).or_default() += count;
        }
        merged.stored = both(merged.stored, more.stored, Stored::added);
        merged.rpcs = both(merged.rpcs, more.rpcs, Rpcs::added);
        merged.attributes = both(merged.attributes, more.attributes, Pushes::added);
        merged.cpu_seconds = both(merged.cpu_seconds, more.cpu_seconds, |a, b| a + b);
    }
    merged.shards.sort_by_key(|s| s.index);
    merged.latency_ms = latency_of(&histogram);
    merged.histogram = encode_histogram(&histogram)?;
    Ok(merged)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(shard: u32, latencies: &[u64]) -> LoadResult {
        let mut histogram = new_histogram();
        for l in latencies {
            let _ = histogram.record(*l);
        }
        LoadResult {
            format: FORMAT.into(),
            target: "embedded".into(),
            mqtt_version: "5".into(),
            shape: Shape {
                gateways: 2,
                devices_per_gateway: 1,
                devices_per_message: 1,
                points_per_message: 2,
                messages: Some(4),
            },
            mode: "closed-loop window 1".into(),
            shards: vec![Shard {
                index: shard,
                count: 2,
            }],
            seconds: 1.0 + f64::from(shard),
            sent: latencies.len() as u64,
            acknowledged: latencies.len() as u64,
            unanswered: 0,
            errors: BTreeMap::from([("PUBACK 0x97".to_owned(), 1)]),
            points_sent: 2 * latencies.len() as u64,
            stored: None,
            rpcs: None,
            attributes: None,
            latency_ms: latency_of(&histogram),
            histogram: encode_histogram(&histogram).unwrap_or_default(),
            cpu_seconds: Some(0.5),
        }
    }

    #[test]
    fn a_histogram_survives_its_serialization() {
        let mut histogram = new_histogram();
        for l in [100, 2_000, 30_000] {
            let _ = histogram.record(l);
        }
        let text = encode_histogram(&histogram).unwrap_or_default();
        let back = decode_histogram(&text).unwrap_or_else(|_| new_histogram());
        assert_eq!(back.len(), 3);
        assert_eq!(
            back.value_at_quantile(1.0),
            histogram.value_at_quantile(1.0)
        );
    }

    #[test]
    fn merging_adds_counts_and_histograms_and_keeps_the_longest_duration() {
        let merged = merge(vec![
            result(0, &[1_000, 2_000]),
            result(1, &[9_000, 10_000]),
        ])
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (merged.sent, merged.acknowledged, merged.points_sent),
            (4, 4, 8)
        );
        assert_eq!(merged.errors["PUBACK 0x97"], 2);
        assert_eq!(merged.seconds, 2.0);
        assert_eq!(
            merged.cpu_seconds,
            Some(1.0),
            "each shard's CPU seconds, added"
        );
        let histogram = decode_histogram(&merged.histogram).unwrap_or_else(|_| new_histogram());
        assert_eq!(histogram.len(), 4);
        // The true median of the four, not the mean of the two shards' medians.
        let p50 = latency(&histogram).p50;
        assert!((1.9..=2.1).contains(&p50), "p50 {p50}");
    }

    #[test]
    fn the_same_shard_twice_or_another_runs_result_is_refused() {
        assert!(merge(vec![result(0, &[1]), result(0, &[1])]).is_err());
        let mut other = result(1, &[1]);
        other.mode = "open-loop 10/s".into();
        assert!(merge(vec![result(0, &[1]), other]).is_err());
    }
}
