#!/usr/bin/env python3
"""The emulator against Debian's mosquitto under the same publish load, measured by `tbgw load`.

For each row of the matrix (connections × payload × window) it runs the same QoS 1 gateway
telemetry load (`tbgw load --target mqtt`, nothing read back) against `tbgw serve` and against
mosquitto, alternating A/B for each round so that the machine's drift hits both alike, and prints
for each server its messages per second, its own CPU seconds per 100 000 messages (from
/proc/PID/stat, the server process only) and its p99 PUBACK latency, with the ratio
emulator / mosquitto. It installs nothing: without mosquitto it says how to get it and exits 2.

Usage: python3 harness/benches/load_vs_mosquitto.py [--tbgw target/release/tbgw] [--seconds 5]
       [--rounds 2] [--rows 1x2,10x10] [--connections 1,8,64] [--windows 1,32]
Build first: cargo build --release -p tbgw-harness --bin tbgw
"""

import argparse
import json
import os
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

PREFIX = "bench"
TICKS = os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid):
    """utime + stime of a process, in seconds (fields 14 and 15 of /proc/PID/stat)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def wait_for_line(stream, needle, seconds=10.0):
    """Reads the output until a line contains `needle`, for at most `seconds`."""
    deadline = time.monotonic() + seconds
    text = b""
    while (left := deadline - time.monotonic()) > 0:
        ready, _, _ = select.select([stream], [], [], left)
        if not ready:
            break
        chunk = os.read(stream.fileno(), 4096)
        if not chunk:
            break
        text += chunk
        if needle.encode() in text:
            return
    raise RuntimeError(f"never printed {needle!r} within {seconds}s: {text.decode(errors='replace')!r}")


class Server:
    def __init__(self, name, argv, ready, port, env=None):
        self.name, self.port = name, port
        self.process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, bufsize=0,
                                        env=env)
        try:
            wait_for_line(self.process.stdout, ready)
        except BaseException:
            self.stop()  # nothing this script started outlives it
            raise
        # Keep reading what it prints, so that a full pipe never stalls it; kept for `lines`.
        self.printed = bytearray()
        threading.Thread(target=self._keep_reading, daemon=True).start()

    def _keep_reading(self):
        for chunk in iter(lambda: self.process.stdout.read(65536), b""):
            self.printed += chunk

    def lines(self):
        """What the server printed after its ready line."""
        return bytes(self.printed).decode(errors="replace").splitlines()

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_emulator(tbgw, gateways):
    port, http = free_port(), free_port()
    argv = [tbgw, "serve", "--mqtt", f"127.0.0.1:{port}", "--http", f"127.0.0.1:{http}"]
    for i in range(gateways):
        argv += ["--gateway", f"{PREFIX}-g{i}={PREFIX}-g{i}-token"]
    return Server("emulator", argv, "ready", port)


def start_mosquitto(binary, workdir):
    port = free_port()
    config = os.path.join(workdir, "mosquitto.conf")
    with open(config, "w") as f:
        f.write(f"listener {port} 127.0.0.1\nallow_anonymous true\nlog_dest stderr\nlog_type information\n")
    return Server("mosquitto", [binary, "-c", config], "running", port)


def run_load(tbgw, server, connections, devices, points, window, seconds):
    argv = [tbgw, "load", "--target", "mqtt", "--mqtt", f"127.0.0.1:{server.port}", "--prefix", PREFIX,
            "--gateways", str(connections), "--devices-per-gateway", str(max(devices, 1)),
            "--devices-per-message", str(devices), "--points-per-message", str(devices * points),
            "--window", str(window), "--duration", f"{seconds}s", "--json", "-"]
    before = cpu_seconds(server.process.pid)
    ran = subprocess.run(argv, capture_output=True, text=True)
    used = cpu_seconds(server.process.pid) - before
    if ran.returncode != 0:
        raise RuntimeError(f"tbgw load against {server.name} exited {ran.returncode}:\n{ran.stderr}")
    result = json.loads(ran.stdout)
    latency = result.get("latency_ms") or {}
    return {"msgs": result["acknowledged"] / result["seconds"], "cpu": used / max(result["acknowledged"], 1) * 1e5,
            "p99": latency.get("p99", float("nan"))}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tbgw", default="target/release/tbgw")
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--rows", default="1x2,10x10", help="payloads DEVICESxPOINTS-PER-DEVICE")
    parser.add_argument("--connections", default="1,8,64")
    parser.add_argument("--windows", default="1,32")
    args = parser.parse_args()
    mosquitto = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if os.path.exists("/usr/sbin/mosquitto") else None)
    if not mosquitto:
        print("mosquitto is not installed: apt-get install mosquitto (nothing is installed for you)", file=sys.stderr)
        return 2
    if not os.path.exists(args.tbgw):
        print(f"{args.tbgw} does not exist: cargo build --release -p tbgw-harness --bin tbgw", file=sys.stderr)
        return 2
    connections = [int(c) for c in args.connections.split(",")]
    windows = [int(w) for w in args.windows.split(",")]
    payloads = [tuple(int(x) for x in row.split("x")) for row in args.rows.split(",")]
    workdir = tempfile.mkdtemp(prefix="tbgw-bench-")
    print(f"tbgw load --target mqtt, {args.seconds} s per run, {args.rounds} round(s) A/B alternated; "
          f"CPU = the server process's own CPU seconds per 100k messages; machine: {os.cpu_count()} cores")
    print(f"{'conns':>5} {'payload':>7} {'win':>3} | {'emulator msg/s':>14} {'mosq msg/s':>10} {'ratio':>5} | "
          f"{'emu cpu':>7} {'mosq cpu':>8} {'ratio':>5} | {'emu p99':>7} {'mosq p99':>8} {'ratio':>5}")
    ratio = lambda a, b: a / b if b else float("nan")
    for conns in connections:
        for devices, points in payloads:
            for window in windows:
                runs = {"emulator": [], "mosquitto": []}
                for r in range(args.rounds):
                    # A fresh server per run: the emulator keeps every point, and each run
                    # must start from the same state.
                    starts = [lambda: start_emulator(args.tbgw, conns), lambda: start_mosquitto(mosquitto, workdir)]
                    for start in (starts if r % 2 == 0 else starts[::-1]):
                        server = start()
                        try:
                            runs[server.name].append(
                                run_load(args.tbgw, server, conns, devices, points, window, args.seconds))
                        finally:
                            server.stop()
                mean = {name: {k: sum(x[k] for x in xs) / len(xs) for k in xs[0]} for name, xs in runs.items()}
                e, m = mean["emulator"], mean["mosquitto"]
                print(f"{conns:>5} {f'{devices}x{points}':>7} {window:>3} | {e['msgs']:>14.0f} {m['msgs']:>10.0f} "
                      f"{ratio(e['msgs'], m['msgs']):>5.2f} | {e['cpu']:>7.2f} {m['cpu']:>8.2f} "
                      f"{ratio(e['cpu'], m['cpu']):>5.2f} | {e['p99']:>7.2f} {m['p99']:>8.2f} "
                      f"{ratio(e['p99'], m['p99']):>5.2f}", flush=True)
    shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
