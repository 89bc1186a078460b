//! Decode and encode throughput on realistic telemetry, from 1 device × 1 point to
//! 100 devices × 10 points, each beside the baseline `serde_json::from_slice::<Value>`
//! on the same bytes in the same run. `python3 codec/benches/ratios.py` prints the ratios.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use tbgw_codec::{Direction, Mode, Topic, decode};

/// `{"Device 000":[{"ts":…,"values":{…}}],…}` as thingsboard-gateway sends it.
fn telemetry(devices: usize, points: usize) -> Vec<u8> {
    let mut out = String::from("{");
    for d in 0..devices {
        if d > 0 {
            out.push(',');
        }
        out.push_str(&format!(
            "\"Device {d:03}\":[{{\"ts\":{},\"values\":{{",
            1_795_586_987_821u64 + d as u64
        ));
        for p in 0..points {
            if p > 0 {
                out.push(',');
            }
            let value = match p % 4 {
                0 => format!("{}.{}", 20 + p, d % 10),
                1 => format!("{}", 40 + d),
                2 => "true".to_owned(),
                _ => format!("\"state-{p}\""),
            };
            out.push_str(&format!("\"key{p}\":{value}"));
        }
        out.push_str("}}]");
    }
    out.push('}');
    out.into_bytes()
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("telemetry");
    for (devices, points) in [(1, 1), (1, 10), (10, 10), (100, 10)] {
        let payload = telemetry(devices, points);
        let label = format!("{devices}x{points}");
        group.throughput(Throughput::Bytes(payload.len() as u64));
        group.bench_with_input(
            BenchmarkId::new("serde_json_value", &label),
            &payload,
            |b, p| {
                b.iter(|| {
                    serde_json::from_slice::<serde_json::Value>(black_box(p)).expect("valid JSON")
                })
            },
        );
        // Bench ids `decode_strict` and `decode_thingsboard`, which `ratios.py` reads.
        for mode in Mode::ALL {
            group.bench_with_input(
                BenchmarkId::new(format!("decode_{mode}"), &label),
                &payload,
                |b, p| {
                    b.iter(|| {
                        decode(
                            Topic::Telemetry,
                            Direction::GatewayToPlatform,
                            black_box(p),
                            mode,
                        )
                        .expect("decodes")
                    })
                },
            );
        }
        let message = decode(
            Topic::Telemetry,
            Direction::GatewayToPlatform,
            &payload,
            Mode::Strict,
        )
        .expect("decodes")
        .message;
        group.bench_with_input(BenchmarkId::new("encode", &label), &message, |b, m| {
            b.iter(|| black_box(m).encode())
        });
        let value: serde_json::Value = serde_json::from_slice(&payload).expect("valid JSON");
        group.bench_with_input(
            BenchmarkId::new("serde_json_to_vec", &label),
            &value,
            |b, v| b.iter(|| serde_json::to_vec(black_box(v)).expect("serializes")),
        );
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
