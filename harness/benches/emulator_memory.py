#!/usr/bin/env python3
"""The emulator's memory under the three loads issue 16 names, as RSS of `tbgw serve` read from
/proc/PID/status (VmRSS, VmHWM for the peak). It installs nothing and needs no other server.

  devices        100 000 devices announced by 100 gateways (`tbgw load --target remote`), then
                 optionally a message for each (--messages 10000): peak RSS
  soak           3 minutes at 1 000 msg/s × 100 points on 10 devices (`tbgw load --target mqtt
                 --rate 1000`, default retention): RSS every 10 s
  never-reading  a gateway that subscribes and never reads its socket while REST writes 200 000
                 shared attributes to its device: RSS growth

Usage: python3 harness/benches/emulator_memory.py {devices,soak,never-reading} [--tbgw target/release/tbgw]
Build first: cargo build --release -p tbgw-harness --bin tbgw
"""

import argparse
import http.client
import json
import os
import socket
import struct
import subprocess
import sys
import time

from load_vs_mosquitto import Server, free_port  # the sibling script: one way to run a server


def status_kb(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/{pid}/status")


class Emulator(Server):
    """`tbgw serve` on free ports, started and stopped as the mosquitto benchmark does."""

    def __init__(self, tbgw, gateways=()):
        self.mqtt, self.http = free_port(), free_port()
        argv = [tbgw, "serve", "--mqtt", f"127.0.0.1:{self.mqtt}", "--http", f"127.0.0.1:{self.http}"]
        for name, token in gateways:
            argv += ["--gateway", f"{name}={token}"]
        super().__init__("emulator", argv, "ready", self.mqtt)

    def rss(self):
        return status_kb(self.process.pid, "VmRSS")

    def peak(self):
        return status_kb(self.process.pid, "VmHWM")


def devices(args):
    emulator = Emulator(args.tbgw)
    try:
        before = emulator.rss()
        load = [args.tbgw, "load", "--target", "remote", "--mqtt", f"127.0.0.1:{emulator.mqtt}",
                "--rest", f"http://127.0.0.1:{emulator.http}", "--gateways", "100",
                "--devices-per-gateway", "1000", "--devices-per-message", "10", "--points-per-message", "20",
                "--messages", str(args.messages), "--window", "8", "--no-verify", "--quiet"]
        ran = subprocess.run(load, capture_output=True, text=True)
        if ran.returncode != 0:
            raise RuntimeError(f"tbgw load exited {ran.returncode}:\n{ran.stdout}{ran.stderr}")
        print(f"100 000 devices, {args.messages} message(s): RSS {before} kB at start, "
              f"peak {emulator.peak()} kB, {emulator.rss()} kB after tbgw load deleted what it made")
    finally:
        emulator.stop()


def soak(args):
    emulator = Emulator(args.tbgw, [("soak-g0", "soak-g0-token")])
    try:
        load = subprocess.Popen(
            [args.tbgw, "load", "--target", "mqtt", "--mqtt", f"127.0.0.1:{emulator.mqtt}", "--prefix", "soak",
             "--gateways", "1", "--devices-per-gateway", "10", "--devices-per-message", "10",
             "--points-per-message", "100", "--rate", "1000", "--duration", f"{args.seconds}s", "--quiet"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        started = time.monotonic()
        while load.poll() is None:
            print(f"t={time.monotonic() - started:4.0f}s RSS {emulator.rss()} kB", flush=True)
            try:
                load.wait(10)
            except subprocess.TimeoutExpired:
                pass
        print(f"end: RSS {emulator.rss()} kB, peak {emulator.peak()} kB; tbgw load exited {load.returncode}")
        if load.returncode != 0:
            print(load.stderr.read(), file=sys.stderr)
            return 1
    finally:
        emulator.stop()
    return 0


def mqtt_string(text):
    data = text.encode()
    return struct.pack(">H", len(data)) + data


def mqtt_packet(first_byte, body):
    length, encoded = len(body), b""
    while True:
        byte, length = length % 128, length // 128
        encoded += bytes([byte | (128 if length else 0)])
        if not length:
            return bytes([first_byte]) + encoded + body


def never_reading(args):
    emulator = Emulator(args.tbgw, [("slow-gw", "slow-token")])
    try:
        gateway = socket.create_connection(("127.0.0.1", emulator.mqtt))
        gateway.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        # CONNECT (3.1.1, clean, username, keep-alive off), SUBSCRIBE to attribute pushes at QoS 1,
        # and the device's announcement; then nothing is ever read from this socket.
        gateway.sendall(mqtt_packet(0x10, mqtt_string("MQTT") + bytes([4, 0x82]) + struct.pack(">H", 0)
                                    + mqtt_string("slow-gw") + mqtt_string("slow-token")))
        gateway.sendall(mqtt_packet(0x82, struct.pack(">H", 1) + mqtt_string("v1/gateway/attributes") + bytes([1])))
        gateway.sendall(mqtt_packet(0x30, mqtt_string("v1/gateway/connect") + b'{"device":"slow-d"}'))
        rest = http.client.HTTPConnection("127.0.0.1", emulator.http)
        rest.request("POST", "/api/auth/login", json.dumps({"username": "tenant@thingsboard.org", "password": "tenant"}),
                     {"Content-Type": "application/json"})
        token = json.loads(rest.getresponse().read())["token"]
        auth = {"X-Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        deadline, device = time.monotonic() + 10, None
        while device is None:  # the announcement creates the device
            rest.request("GET", "/api/tenant/devices?deviceName=slow-d", headers=auth)
            response = rest.getresponse()
            body = response.read()
            if response.status == 200:
                device = json.loads(body)["id"]["id"]
            elif time.monotonic() > deadline:
                raise RuntimeError("the announced device slow-d never appeared")
        before, statuses = emulator.rss(), {}
        for i in range(args.writes):
            rest.request("POST", f"/api/plugins/telemetry/DEVICE/{device}/attributes/SHARED_SCOPE",
                         json.dumps({"setting": i, "note": "x" * 40}), auth)
            response = rest.getresponse()
            response.read()
            statuses[response.status] = statuses.get(response.status, 0) + 1
        after = emulator.rss()
        print(f"{args.writes} shared-attribute writes (HTTP statuses {statuses}): RSS {before} kB before, "
              f"{after} kB after, growth {after - before} kB")
        dropped = [line for line in emulator.lines() if "stopped reading" in line]
        print("\n".join(dropped) or "the gateway was never dropped for not reading")
        gateway.close()
    finally:
        emulator.stop()
    if args.check:
        # CI: the bound must have been met, and memory must not have grown past the 20 MB.
        if not dropped or after - before > 20 * 1024:
            print("FAIL: expected the gateway dropped at its queue bound and under 20 MB of growth", file=sys.stderr)
            return 1
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("load", choices=["devices", "soak", "never-reading"])
    parser.add_argument("--tbgw", default="target/release/tbgw")
    parser.add_argument("--messages", type=int, default=1, help="devices: messages after the announcements")
    parser.add_argument("--seconds", type=int, default=180, help="soak: its length")
    parser.add_argument("--writes", type=int, default=200_000, help="never-reading: REST writes")
    parser.add_argument("--check", action="store_true",
                        help="never-reading: exit 1 unless the gateway was dropped and RSS grew under 20 MB")
    args = parser.parse_args()
    if not os.path.exists(args.tbgw):
        print(f"{args.tbgw} does not exist: cargo build --release -p tbgw-harness --bin tbgw", file=sys.stderr)
        return 2
    return {"devices": devices, "soak": soak, "never-reading": never_reading}[args.load](args) or 0


if __name__ == "__main__":
    sys.exit(main())
