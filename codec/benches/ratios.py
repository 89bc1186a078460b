#!/usr/bin/env python3
"""Prints each codec benchmark as MB/s and as a ratio against its baseline from the same run
(decode against serde_json::from_slice::<Value>, encode against serde_json::to_vec).
Run after `cargo bench -p tbgw-codec`."""
import json
import pathlib
import sys

root = pathlib.Path(__file__).resolve().parents[2] / "target" / "criterion" / "telemetry"
if not root.is_dir():
    sys.exit(f"no results under {root}: run `cargo bench -p tbgw-codec` first")

def mean_ns(bench, size):
    path = root / bench / size / "new" / "estimates.json"
    return json.loads(path.read_text())["mean"]["point_estimate"]

def size_bytes(size):
    benchmark = json.loads((root / "serde_json_value" / size / "new" / "benchmark.json").read_text())
    return benchmark["throughput"]["Bytes"]

sizes = sorted((p.name for p in (root / "serde_json_value").iterdir() if p.is_dir() and p.name != "report"),
               key=lambda s: [int(n) for n in s.split("x")])
print(f"{'payload':>8} {'bytes':>7} | {'Value MB/s':>10} | {'strict MB/s':>11} {'ratio':>6} | {'tb MB/s':>8} {'ratio':>6} | {'encode MB/s':>11} {'vs to_vec':>9}")
for size in sizes:
    n = size_bytes(size)
    mbps = lambda ns: n / ns * 1e9 / 1e6
    base, strict, tb = mean_ns("serde_json_value", size), mean_ns("decode_strict", size), mean_ns("decode_thingsboard", size)
    enc, enc_base = mean_ns("encode", size), mean_ns("serde_json_to_vec", size)
    print(f"{size:>8} {n:>7} | {mbps(base):>10.1f} | {mbps(strict):>11.1f} {base / strict:>5.2f}x | {mbps(tb):>8.1f} {base / tb:>5.2f}x | {mbps(enc):>11.1f} {enc_base / enc:>8.2f}x")
