//! The emulator core's ingest of one gateway telemetry message, as `tbgw load` sends it
//! (`{"g-d0":[{"ts":…,"values":{"k0":…}}],…}`), with nothing of the network: the decode
//! outside the lock (`read_gateway_message`) and the apply under it (`Core::publish_read`)
//! measured apart, beside `serde_json::from_slice::<Value>` of the same bytes as the
//! baseline. Run with `cargo bench -p tbgw-harness --bench core_ingest`.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use tbgw_harness::emulator::core::clock::ManualClock;
use tbgw_harness::emulator::core::gateway::read_gateway_message;
use tbgw_harness::emulator::core::packets::{ConnectIn, PublishIn, Version};
use tbgw_harness::emulator::core::{Config, Core};

const TOKEN: &str = "bench-token";
const CONN: u64 = 1;

fn payload(devices: u32, points: u32, seq: u64) -> Vec<u8> {
    let mut out = String::from("{");
    for d in 0..devices {
        if d > 0 {
            out.push(',');
        }
        out.push_str(&format!(
            "\"bench-d{d}\":[{{\"ts\":{},\"values\":{{",
            1_800_000_000_000 + seq
        ));
        for p in 0..points {
            if p > 0 {
                out.push(',');
            }
            out.push_str(&format!("\"k{p}\":{seq}"));
        }
        out.push_str("}}]");
    }
    out.push('}');
    out.into_bytes()
}

fn connected_core() -> Core {
    let config = Config {
        gateways: vec![("bench-gateway".to_owned(), TOKEN.to_owned())],
        ..Config::default()
    };
    let mut core = Core::new(
        &config,
        Box::new(ManualClock::starting_at(1_800_000_000_000)),
    );
    let connect = ConnectIn {
        version: Version::V3,
        client_id: "bench".to_owned(),
        username: Some(TOKEN.to_owned()),
        has_password: false,
        clean: true,
    };
    assert!(core.connect(CONN, connect), "the bench gateway connects");
    let _ = core.take_effects();
    core
}

fn publish(payload: Vec<u8>, pid: u16) -> PublishIn {
    PublishIn {
        topic: "v1/gateway/telemetry".to_owned(),
        qos: 1,
        pid: Some(pid),
        payload,
        dup: false,
    }
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("ingest");
    for (devices, points) in [(1, 2), (10, 10)] {
        let label = format!("{devices}x{points}");
        let bytes = payload(devices, points, 7);
        group.throughput(Throughput::Elements(1));
        group.bench_with_input(
            BenchmarkId::new("serde_json_value", &label),
            &bytes,
            |b, p| {
                b.iter(|| {
                    serde_json::from_slice::<serde_json::Value>(black_box(p)).expect("valid JSON")
                })
            },
        );
        group.bench_with_input(BenchmarkId::new("read", &label), &bytes, |b, p| {
            b.iter(|| read_gateway_message("v1/gateway/telemetry", black_box(p)))
        });
        // Each iteration stores a message with new timestamps (appends, as under load).
        let mut core = connected_core();
        let mut seq = 0u64;
        group.bench_function(BenchmarkId::new("read_and_apply", &label), |b| {
            b.iter_batched(
                || {
                    seq += 1;
                    publish(payload(devices, points, seq), (seq % 65_000) as u16 + 1)
                },
                |message| {
                    let read = read_gateway_message(&message.topic, &message.payload);
                    core.publish_read(CONN, message, read);
                    black_box(core.take_effects())
                },
                criterion::BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
