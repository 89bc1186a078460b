//! The emulator core's ingest of one gateway telemetry message, the bytes `tbgw load` sends
//! (`load::plan::telemetry`), with nothing of the network: the decode outside the lock
//! (`read_gateway_message`) and the decode with the apply under it (`Core::publish_read`),
//! beside `serde_json::from_slice::<Value>` of the same bytes as the baseline.
//! Run with `cargo bench -p tbgw-harness --bench core_ingest`.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use tbgw_harness::emulator::core::clock::ManualClock;
use tbgw_harness::emulator::core::gateway::read_gateway_message;
use tbgw_harness::emulator::core::packets::{ConnectIn, PublishIn, Version};
use tbgw_harness::emulator::core::{Config, Core};
use tbgw_harness::load::plan::{self, GatewayPlan, Shape, Shard};

const CONN: u64 = 1;

/// One gateway whose messages carry `devices` entries of `points` points each.
fn load_plan(devices: u32, points: u32) -> (GatewayPlan, Shape) {
    let shape = Shape {
        gateways: 1,
        devices_per_gateway: devices,
        devices_per_message: devices,
        points_per_message: devices * points,
        messages: None,
    };
    let gateway = plan::gateways("bench", &shape, Shard::WHOLE).remove(0);
    (gateway, shape)
}

fn payload(gateway: &GatewayPlan, shape: &Shape, n: u64) -> Vec<u8> {
    plan::telemetry(gateway, shape, n, 1_800_000_000_000)
}

fn connected_core(gateway: &GatewayPlan) -> Core {
    let config = Config {
        gateways: vec![(gateway.name.clone(), gateway.token.clone())],
        ..Config::default()
    };
    let mut core = Core::new(
        &config,
        Box::new(ManualClock::starting_at(1_800_000_000_000)),
    );
    let connect = ConnectIn {
        version: Version::V3,
        client_id: "bench".to_owned(),
        username: Some(gateway.token.clone()),
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
        let (gateway, shape) = load_plan(devices, points);
        let bytes = payload(&gateway, &shape, 7);
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
        let mut core = connected_core(&gateway);
        let mut seq = 0u64;
        group.bench_function(BenchmarkId::new("read_and_apply", &label), |b| {
            b.iter_batched(
                || {
                    seq += 1;
                    publish(payload(&gateway, &shape, seq), (seq % 65_000) as u16 + 1)
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
