#!/usr/bin/env bash
# Installs the third-party gateways that `tbgw check-gateway` is tested against, each in its own venv
# (they need conflicting paho packages), plus Debian's mosquitto for thingsboard-gateway's device side.
# Idempotent: a venv whose marker holds the same spec is left alone, so a re-run takes well under a second.
# Usage: bash harness/tests/peers/setup.sh   (as root on a fresh machine, or as anyone once mosquitto exists)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
venvs="$root/.venv-peers"
python="${PYTHON:-python3}"

# mosquitto lives in /usr/sbin, which is not on every user's PATH.
if ! command -v mosquitto >/dev/null && [[ ! -x /usr/sbin/mosquitto ]]; then
    export DEBIAN_FRONTEND=noninteractive
    install_mosquitto() { apt-get install -y -q --no-install-recommends mosquitto >/dev/null; }
    # Only refresh the package lists when the install fails with the lists the machine already has.
    install_mosquitto || { apt-get update -q >/dev/null && install_mosquitto; }
fi
mosquitto="$(command -v mosquitto || echo /usr/sbin/mosquitto)"
echo "mosquitto: $("$mosquitto" -h 2>/dev/null | head -1 || true)"   # -h exits 3

# venv NAME PIP-SPEC...: (re)creates .venv-peers/NAME unless its marker already records exactly these specs.
venv() {
    local name="$1"; shift
    local dir="$venvs/$name" marker="$venvs/$name/.tbgw-installed"
    # Also rebuild when the venv's interpreter is gone (e.g. the base python it links to was replaced).
    if [[ ! -f "$marker" || "$(cat "$marker")" != "$*" ]] || ! "$dir/bin/python" -c '' 2>/dev/null; then
        rm -rf "$dir"
        "$python" -m venv "$dir"
        "$dir/bin/pip" install -q --disable-pip-version-check "$@"
        echo "$*" >"$marker"
    fi
    # One line per venv with what is really installed (not just what was asked for).
    "$dir/bin/python" - "$name" <<'EOF'
import sys, platform
from importlib import metadata
wanted = ["tb-rest-client", "tb-mqtt-client", "tb-paho-mqtt-client", "paho-mqtt", "thingsboard-gateway", "mmh3", "simplejson"]
have = [f"{d}=={metadata.version(d)}" for d in wanted if any(
    (x.metadata["Name"] or "").lower() == d for x in metadata.distributions())]
print(f"{sys.argv[1]}: python {platform.python_version()} " + " ".join(have))
EOF
}

# tb-mqtt-client pip-installs mmh3 at import time when it is missing: pre-install it.
venv tbmc-1.13 tb-mqtt-client==1.13.14 tb-paho-mqtt-client==2.1.2 mmh3==5.3.1
# 1.4.1 speaks MQTT 3.1.1 through upstream paho-mqtt 1.x (paho 2 needs callback_api_version).
venv tbmc-1.4.1 tb-mqtt-client==1.4.1 paho-mqtt==1.6.1 simplejson==4.3.0 mmh3==5.3.1
# The MQTT connector uses the paho that thingsboard-gateway already pulls in (tb-paho-mqtt-client): no runtime pip.
venv tbgw-3.8.5 thingsboard-gateway==3.8.5 tb-paho-mqtt-client==2.1.2
# ThingsBoard's own clients (REST and MQTT SDK) as automation uses them against `tbgw serve`.
venv tb-clients tb-rest-client==4.4 tb-mqtt-client==1.13.14 tb-paho-mqtt-client==2.1.2 mmh3==5.3.1
