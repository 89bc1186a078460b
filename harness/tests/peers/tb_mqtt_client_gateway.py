#!/usr/bin/env python3
"""A small long-running gateway on tb-mqtt-client's TBGatewayMqttClient: a peer for `tbgw check-gateway`.

Runs unchanged under tb-mqtt-client 1.13.x (MQTT 5) and 1.4.1 (MQTT 3.1.1, paho-mqtt 1.x). It uses the SDK the way
its examples do and deliberately does not guard against the SDK's own bugs (e.g. 1.4.1 sends ts-telemetry as an
object, 1.13.14's network thread dies on some malformed server messages): finding those is the checker's job.

  .venv-peers/tbmc-1.13/bin/python harness/tests/peers/tb_mqtt_client_gateway.py --host H --port P --token T
"""
import argparse
import logging
import os
import signal
import sys
import threading
import time
from importlib import metadata

from tb_gateway_mqtt import TBGatewayMqttClient

# (name, type); type None = let the SDK pick its default ("default").
DEVICES = [("Peer Sensor A", "thermostat"), ("Peer Sensor B", None)]
# One device asks for one shared key, the other for two: ThingsBoard answers the two cases differently.
SHARED_KEYS = {"Peer Sensor A": ["targetTemperature"], "Peer Sensor B": ["targetTemperature", "mode"]}


def log(*parts):
    now = time.time()
    print(time.strftime("%H:%M:%S", time.localtime(now)) + f".{int(now * 1000) % 1000:03d}", *parts, flush=True)


class Peer:
    def __init__(self, client):
        self.client = client
        self.stopping = threading.Event()
        self.connects = 0  # CONNACKs with rc 0 seen by the SDK's connect callback

    # --- callbacks (run on the SDK's network thread) ---

    def on_connect(self, client, userdata, flags, rc, *extra):
        # 1.13 passes a paho ReasonCode, 1.4.1 an int; both compare equal to 0 on success.
        log(f"connect callback: rc={rc} flags={flags}")
        if rc == 0:
            self.connects += 1  # the main loop announces the devices (publishing here could block paho's thread)

    def on_rpc(self, client, content):
        log(f"received v1/gateway/rpc: {content!r}")
        data = content.get("data") if isinstance(content, dict) else None
        if not (isinstance(data, dict) and "device" in content and "id" in data and "method" in data):
            log("  not {device, data: {id, method, params}}: ignored")
            return
        reply = {"echo": data.get("params"), "method": data["method"]}
        client.gw_send_rpc_reply(content["device"], data["id"], reply)
        log(f"sent RPC reply: device={content['device']!r} id={data['id']!r} data={reply!r}")

    def on_attribute_update(self, content):
        log(f"received v1/gateway/attributes (shared attribute update): {content!r}")

    def on_attribute_response(self, device):
        def callback(content, error, *extra):
            log(f"attribute response for {device!r}: {content!r}" + (f" error={error!r}" if error else ""))
        return callback

    # --- main thread ---

    def announce(self, first):
        for name, dev_type in DEVICES:
            if self.stopping.is_set():  # a 1.13 publish returns without sending once the client is stopped
                return
            if dev_type is None:
                self.client.gw_connect_device(name)
            else:
                self.client.gw_connect_device(name, dev_type)
            log(f"sent connect: {name!r} type={dev_type or 'SDK default'}")
        if not first:
            return
        for name, _ in DEVICES:
            self.client.gw_send_attributes(name, {"firmware": "1.2.3"})
            log(f"sent client attributes for {name!r}: {{'firmware': '1.2.3'}}")
            self.client.gw_request_shared_attributes(name, SHARED_KEYS[name], self.on_attribute_response(name))
            log(f"sent shared attribute request for {name!r}: {SHARED_KEYS[name]}")

    def run(self):
        started = time.monotonic()
        announced = 0
        while not self.stopping.is_set():
            if self.connects > announced:
                log("(re)connected: announcing devices" if announced else
                    f"connected after {time.monotonic() - started:.2f}s: announcing devices")
                self.announce(first=announced == 0)
                announced = self.connects
            if announced:
                now_ms = int(time.time() * 1000)
                for name, _ in DEVICES:
                    # With a ts this is the object form {"ts","values"}: 1.4.1 sends it unwrapped (the known bug).
                    self.client.gw_send_telemetry(name, {"ts": now_ms, "values": {"temperature": 21.5, "humidity": 40}})
                log(f"sent telemetry ts={now_ms} for {len(DEVICES)} devices")
            self.stopping.wait(0.1 if not announced else 1.0)
        self.shutdown(announced)

    def shutdown(self, announced):
        log("stopping")
        if announced and self.client.is_connected():
            infos = [self.client.gw_disconnect_device(name) for name, _ in DEVICES]
            log(f"sent disconnect for {[name for name, _ in DEVICES]}")
            wait_published(infos, deadline=time.monotonic() + 1.0)
        self.client.stop()  # ends the SDK's helper threads and unblocks a 1.13 publish waiting for a connection
        self.client.disconnect()
        log("disconnected")


def wait_published(infos, deadline):
    """Waits (until deadline) for the PUBACKs: 1.4.1 returns paho's MQTTMessageInfo, 1.13 a TBPublishInfo."""
    pending = []
    for info in infos:
        info = getattr(info, "message_info", info)
        pending += info if isinstance(info, list) else [info]
    for info in pending:
        if info.rc == 0 and deadline > time.monotonic():
            info.wait_for_publish(timeout=deadline - time.monotonic())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default=os.environ.get("TB_GW_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("TB_GW_PORT", "1883")))
    parser.add_argument("--token", default=os.environ.get("TB_GW_ACCESS_TOKEN"))
    parser.add_argument("--debug", action="store_true", help="SDK debug logging")
    args = parser.parse_args()
    if not args.token:
        parser.error("--token or TB_GW_ACCESS_TOKEN is required")

    logging.basicConfig(stream=sys.stdout, level=logging.DEBUG if args.debug else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    log(f"tb-mqtt-client {metadata.version('tb-mqtt-client')}, gateway token {args.token!r}, "
        f"connecting to {args.host}:{args.port}")

    client = TBGatewayMqttClient(host=args.host, port=args.port, username=args.token)
    peer = Peer(client)
    client.gw_set_server_side_rpc_request_handler(peer.on_rpc)
    client.gw_subscribe_to_all_attributes(peer.on_attribute_update)  # local registration only: nothing on the wire

    def on_signal(signum, _frame):
        log(f"received {signal.Signals(signum).name}")
        peer.stopping.set()
        if not client.is_connected():
            client.stop()  # a 1.13 publish blocks until connected or stopped; don't stop it otherwise (see shutdown)

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    # Both SDK versions store the connect callback only after loop_start(), so the first CONNACK can be handled
    # before it is set (1.4.1 loses that race every time): install it beforehand in the SDK's private slot.
    client._TBDeviceMqttClient__connect_callback = peer.on_connect
    client.connect(callback=peer.on_connect)
    peer.run()
    log("exit 0")
    return 0


if __name__ == "__main__":
    sys.exit(main())
