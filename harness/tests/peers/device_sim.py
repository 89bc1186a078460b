#!/usr/bin/env python3
"""Fake field devices behind thingsboard-gateway's MQTT connector (started by run_thingsboard_gateway.py).

Publishes sensor/<name>/data every 2 s, answers sensor/<name>/request/<method>/<id> on
sensor/<name>/response/<method>/<id> with {"echo": <params>, "method": <method>}, and logs forwarded attribute
updates (sensor/<name>/attr/<key>). Uses the paho 2.x that thingsboard-gateway's venv already has.
"""
import argparse
import json
import signal
import sys
import threading
import time

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion


def log(*parts):
    print("device-sim:", *parts, flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True, help="device-side broker on 127.0.0.1")
    parser.add_argument("--device", action="append", required=True, help="device name (repeatable)")
    parser.add_argument("--period", type=float, default=2.0)
    args = parser.parse_args()

    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stopping.set())

    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="tbgw-peer-device-sim", protocol=mqtt.MQTTv311)

    def on_connect(client, _userdata, _flags, reason, _props):
        log(f"connected to 127.0.0.1:{args.port}: {reason}")
        client.subscribe([("sensor/+/request/+/+", 1), ("sensor/+/attr/#", 1)])

    def on_message(client, _userdata, msg):
        payload = msg.payload.decode(errors="replace")
        log(f"received {msg.topic} {payload}")
        parts = msg.topic.split("/")
        if len(parts) == 5 and parts[2] == "request":
            _, name, _, method, request_id = parts
            try:
                params = json.loads(payload)
            except ValueError:
                params = payload  # the connector substitutes ${params} as-is; echo whatever came
            reply = json.dumps({"echo": params, "method": method})
            client.publish(f"sensor/{name}/response/{method}/{request_id}", reply, qos=1)
            log(f"replied sensor/{name}/response/{method}/{request_id} {reply}")

    client.on_connect = on_connect
    client.on_message = on_message
    client.reconnect_delay_set(0.2, 2)
    client.connect_async("127.0.0.1", args.port, keepalive=30)
    client.loop_start()

    n = 0
    while not stopping.wait(args.period if n else 0.5):
        n += 1
        for name in args.device:
            data = {"temperature": 20.0 + n % 5, "humidity": 40 + n % 3, "model": "T1000"}
            client.publish(f"sensor/{name}/data", json.dumps(data), qos=1)
    log("stopping")
    client.disconnect()
    client.loop_stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
