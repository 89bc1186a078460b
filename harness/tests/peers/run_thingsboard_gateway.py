#!/usr/bin/env python3
"""Runs thingsboard-gateway headless as a peer for `tbgw check-gateway`, with its MQTT connector fed by fake devices.

Starts, in a fresh run directory: mosquitto on a free 127.0.0.1 port (the device side), device_sim.py publishing for
"TBGW Sensor 1" and "TBGW Sensor 2", and the `thingsboard-gateway` console script (its output goes to our stdout).
SIGINT/SIGTERM: SIGINT to the gateway (it sends v1/gateway/disconnect per device), then the sim and mosquitto stop.
Run it with the tbgw-3.8.5 venv's python:

  .venv-peers/tbgw-3.8.5/bin/python harness/tests/peers/run_thingsboard_gateway.py --host H --port P --token T
"""
import argparse
import ctypes
import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEVICES = ["TBGW Sensor 1", "TBGW Sensor 2"]
GATEWAY_GRACE_S = 5  # on SIGINT the gateway disconnects its devices and closes the connector: ≈0.2 s here
CHILD_GRACE_S = 2

# Bare names that thingsboard-gateway also reads from the environment as connection settings (TBUtility.
# get_service_environmental_variables): an unrelated `port` or `username` variable would silently win over the
# config file, so the gateway never sees them.
STRAY_ENV = ["host", "port", "type", "accessToken", "caCert", "privateKey", "cert", "clientId", "username",
             "password", "proxy_host", "proxy_port"]


def log(*parts):
    print("run_thingsboard_gateway:", *parts, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def package_config_dir():
    # Locate without importing: importing thingsboard_gateway pulls in much of the gateway.
    spec = importlib.util.find_spec("thingsboard_gateway")
    return Path(spec.submodule_search_locations[0]) / "config"


def gateway_config(host, port, token):
    """The package's own tb_gateway.json (so every key the gateway expects is present) with our settings on top."""
    config = json.loads((package_config_dir() / "tb_gateway.json").read_text())
    tb = config["thingsboard"]
    tb.update(host=host, port=port, security={"type": "accessToken", "accessToken": token}, qos=1,
              remoteConfiguration=False,  # default true: it would rewrite these files from shared attributes
              remoteShell=False, managerEnabled=False)
    tb["statistics"] = {"enable": False, "enableCustom": False, "statsSendPeriodInSeconds": 3600,
                        "customStatsSendPeriodInSeconds": 3600}
    tb["checkingDeviceActivity"] = {"checkDeviceInactivity": False}
    config["storage"] = {"type": "memory", "read_records_count": 100, "max_records_count": 100000}
    config["grpc"] = {"enabled": False}
    config["connectors"] = [{"type": "mqtt", "name": "MQTT Broker Connector", "configuration": "mqtt.json"}]
    return config


def mqtt_connector_config(broker_port):
    return {
        "broker": {"name": "Device broker", "host": "127.0.0.1", "port": broker_port,
                   "clientId": "tbgw-peer-connector", "version": 5, "maxMessageNumberPerWorker": 10,
                   "maxNumberOfWorkers": 100, "security": {"type": "anonymous"}},
        "mapping": [{
            "topicFilter": "sensor/+/data",
            "subscriptionQos": 1,
            "converter": {
                "type": "json",
                "deviceInfo": {"deviceNameExpressionSource": "topic",
                               "deviceNameExpression": "(?<=sensor/)(.*?)(?=/data)",
                               "deviceProfileExpressionSource": "constant",
                               "deviceProfileExpression": "Thermometer"},
                "sendDataOnlyOnChange": False,
                "timeout": 60000,
                "attributes": [{"type": "string", "key": "model", "value": "${model}"}],
                "timeseries": [{"type": "double", "key": "temperature", "value": "${temperature}"},
                               {"type": "double", "key": "humidity", "value": "${humidity}"}],
            },
        }],
        "requestsMapping": {
            "connectRequests": [], "disconnectRequests": [], "attributeRequests": [],
            # Every shared attribute of every device goes down to the device broker.
            "attributeUpdates": [{"retain": False, "deviceNameFilter": ".*", "attributeFilter": ".*",
                                  "topicExpression": "sensor/${deviceName}/attr/${attributeKey}",
                                  "valueExpression": "${attributeValue}"}],
            # Filters are regexes tried in order (re.search). The catch-all makes "echo" and any other method reach
            # the device sim; the connector keeps "get"/"set" (and "mqtt_get"/"mqtt_set") for itself.
            "serverSideRpc": [
                {"type": "oneWay", "deviceNameFilter": ".*", "methodFilter": "^setValue$",
                 "requestTopicExpression": "sensor/${deviceName}/request/${methodName}/${requestId}",
                 "valueExpression": "${params}"},
                {"type": "twoWay", "deviceNameFilter": ".*", "methodFilter": ".*",
                 "requestTopicExpression": "sensor/${deviceName}/request/${methodName}/${requestId}",
                 "responseTopicExpression": "sensor/${deviceName}/response/${methodName}/${requestId}",
                 "responseTopicQoS": 1, "responseTimeout": 5000, "valueExpression": "${params}"},
            ],
        },
    }


_prctl = ctypes.CDLL(None, use_errno=True).prctl
_launcher_pid = os.getpid()


def _child_setup():
    # Own process group: a SIGINT sent to our whole group (Ctrl-C) reaches only us, and we stop the children in
    # order. PR_SET_PDEATHSIG: the children die with us even if we are SIGKILLed.
    os.setpgrp()
    _prctl(1, signal.SIGKILL)
    if os.getppid() != _launcher_pid:  # we died before prctl took effect
        os._exit(1)


def spawn(argv, **kwargs):
    log("starting", " ".join(str(a) for a in argv))
    return subprocess.Popen([str(a) for a in argv], preexec_fn=_child_setup, stdin=subprocess.DEVNULL,
                            stdout=sys.stdout, stderr=subprocess.STDOUT, **kwargs)


def stop(proc, name, first_signal, grace):
    if proc is None or proc.poll() is not None:
        return
    started = time.monotonic()
    proc.send_signal(first_signal)
    try:
        proc.wait(grace)
        log(f"{name} exited ({proc.returncode}) {time.monotonic() - started:.2f}s after {first_signal.name}")
    except subprocess.TimeoutExpired:
        log(f"{name} still running {grace}s after {first_signal.name}: SIGKILL")
        proc.kill()
        proc.wait()


def wait_listening(port, proc, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"mosquitto is not listening on 127.0.0.1:{port}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default=os.environ.get("TB_GW_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("TB_GW_PORT", "1883")))
    parser.add_argument("--token", default=os.environ.get("TB_GW_ACCESS_TOKEN"))
    parser.add_argument("--keep-run-dir", action="store_true", help="keep config/ and logs/ for inspection")
    args = parser.parse_args()
    if not args.token:
        parser.error("--token or TB_GW_ACCESS_TOKEN is required")

    stopping = []
    signal.signal(signal.SIGINT, lambda signum, _: stopping.append(signum))
    signal.signal(signal.SIGTERM, lambda signum, _: stopping.append(signum))

    run_dir = Path(tempfile.mkdtemp(prefix="tbgw-peer-thingsboard-gateway-"))
    (run_dir / "config").mkdir()
    (run_dir / "logs").mkdir()  # daemon() does not create it; logs.json writes to ./logs/
    log(f"run directory {run_dir}")
    broker_port = free_port()
    (run_dir / "config" / "tb_gateway.json").write_text(
        json.dumps(gateway_config(args.host, args.port, args.token), indent=2))
    (run_dir / "config" / "mqtt.json").write_text(json.dumps(mqtt_connector_config(broker_port), indent=2))
    shutil.copy(package_config_dir() / "logs.json", run_dir / "config" / "logs.json")
    (run_dir / "mosquitto.conf").write_text(
        # `user root`: as root, mosquitto would switch to user mosquitto, which clears its parent-death signal.
        f"listener {broker_port} 127.0.0.1\nallow_anonymous true\npersistence false\nuser root\n"
        "log_dest stderr\nlog_type error\nlog_type warning\n")

    env = {k: v for k, v in os.environ.items() if k not in STRAY_ENV}
    env.update(TB_GW_HOST=args.host, TB_GW_PORT=str(args.port), TB_GW_ACCESS_TOKEN=args.token,
               TB_GW_CONFIG_DIR=str(run_dir / "config"), PYTHONUNBUFFERED="1")
    # The gateway POSTs to ThingsBoard's public update service at start-up and hourly (TBUpdater, no setting turns
    # it off). Send that HTTP to a closed local port instead: paho only honours `mqtt_proxy`, so MQTT is unaffected.
    for name in ("http_proxy", "https_proxy", "all_proxy"):
        env[name] = env[name.upper()] = "http://127.0.0.1:9"
    env["no_proxy"] = env["NO_PROXY"] = ""
    env.pop("mqtt_proxy", None), env.pop("MQTT_PROXY", None)
    mosquitto = sim = gateway = None
    exit_code = 0
    try:
        mosquitto = spawn([shutil.which("mosquitto") or "/usr/sbin/mosquitto", "-c", run_dir / "mosquitto.conf"])
        wait_listening(broker_port, mosquitto)
        sim = spawn([sys.executable, HERE / "device_sim.py", "--port", broker_port]
                    + [a for d in DEVICES for a in ("--device", d)], env=env)
        gateway = spawn([Path(sys.executable).parent / "thingsboard-gateway"], cwd=run_dir, env=env)
        while not stopping:
            try:
                gateway.wait(0.2)
            except subprocess.TimeoutExpired:
                continue
            log(f"thingsboard-gateway exited by itself with {gateway.returncode}")
            exit_code = 1
            break
        if stopping:
            log(f"received {signal.Signals(stopping[0]).name}: stopping")
    finally:
        stop(gateway, "thingsboard-gateway", signal.SIGINT, GATEWAY_GRACE_S)
        stop(sim, "device_sim", signal.SIGTERM, CHILD_GRACE_S)
        stop(mosquitto, "mosquitto", signal.SIGTERM, CHILD_GRACE_S)
        if args.keep_run_dir:
            log(f"kept {run_dir}")
        else:
            shutil.rmtree(run_dir, ignore_errors=True)
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
