"""ThingsBoard's own Python clients against a platform, used as their documentation shows.

tb-rest-client's RestClient provisions and reads back; tb-mqtt-client's TBGatewayMqttClient is the
gateway and TBDeviceMqttClient a plain device. Every call's result is checked, not only that it did
not raise. Each check prints one line, `ok NAME` or `FAIL NAME: why`; the run goes on after a failure
so that one run lists them all, and exits 1 if any failed.

Usage: python tb_clients.py --rest http://HOST:PORT --mqtt-host HOST --mqtt-port PORT [--prefix P]
"""

import argparse
import sys
import threading
import time
import traceback

from tb_rest_client.rest import ApiException
from tb_rest_client.rest_client import RestClient
from tb_rest_client.models import (
    ClaimRequest,
    Customer,
    Device,
    DeviceId,
    DeviceProfile,
    DeviceProfileData,
    EntityId,
    EntityRelation,
    RpcId,
)
from tb_gateway_mqtt import TBGatewayMqttClient
from tb_device_mqtt import TBDeviceMqttClient

failures = []


def check(name):
    """Runs the decorated function at once as the check NAME."""

    def run(fn):
        try:
            fn()
            print(f"ok {name}", flush=True)
        except Exception as e:  # noqa: BLE001 - every failure is reported, the run goes on
            detail = "".join(traceback.format_exception_only(type(e), e)).strip()
            where = traceback.extract_tb(e.__traceback__)[-1]
            print(f"FAIL {name}: {detail} (line {where.lineno})", flush=True)
            failures.append(name)

    return run


def expect(condition, what):
    if not condition:
        raise AssertionError(what)


def eventually(fn, what, seconds=10.0):
    """fn() until it returns something truthy without raising; its last result or error otherwise."""
    deadline = time.monotonic() + seconds
    last = None
    while True:
        try:
            result = fn()
            if result:
                return result
            last = f"last result {result!r}"
        except Exception as e:  # noqa: BLE001
            last = f"last error {e!r}"
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} within {seconds}s ({last})")
        time.sleep(0.05)


def api_error(fn):
    """The ApiException fn raises, or an AssertionError when it does not raise."""
    try:
        fn()
    except ApiException as e:
        if isinstance(e.body, bytes):
            e.body = e.body.decode("utf-8", "replace")
        return e
    raise AssertionError("expected an API error, the call succeeded")


class Inbox:
    """Messages a callback receives, waited on with a deadline."""

    def __init__(self):
        self.items = []
        self.changed = threading.Condition()

    def put(self, item):
        with self.changed:
            self.items.append(item)
            self.changed.notify_all()

    def wait_for(self, match, what, seconds=10.0):
        deadline = time.monotonic() + seconds
        with self.changed:
            while True:
                for item in self.items:
                    if match(item):
                        return item
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{what} within {seconds}s; received {self.items!r}")
                self.changed.wait(left)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rest", required=True)
    parser.add_argument("--mqtt-host", required=True)
    parser.add_argument("--mqtt-port", type=int, required=True)
    parser.add_argument("--prefix", default="tbclients")
    args = parser.parse_args()
    p = args.prefix
    names = {k: f"{p}-{k}" for k in ("gw", "sensor-a", "sensor-b", "sensor-c", "plain")}
    profile_name = f"{p}-thermometer"
    state = {}

    rest = RestClient(base_url=args.rest)
    rest.login(username="tenant@thingsboard.org", password="tenant")

    @check("auth: the logged-in user is the tenant administrator")
    def _():
        user = rest.get_user()
        expect(user.authority == "TENANT_ADMIN", f"authority {user.authority!r}")
        expect(user.email == "tenant@thingsboard.org", f"email {user.email!r}")
        state["tenant_id"] = user.tenant_id.id

    @check("profiles: a device profile is created and listed in the profile infos")
    def _():
        profile = DeviceProfile(
            name=profile_name,
            type="DEFAULT",
            transport_type="DEFAULT",
            provision_type="DISABLED",
            description="made by tb_clients.py",
            profile_data=DeviceProfileData(
                configuration={"type": "DEFAULT"},
                transport_configuration={"type": "DEFAULT"},
                provision_configuration={"type": "DISABLED"},
            ),
        )
        saved = rest.save_device_profile(profile)
        expect(saved.id is not None and saved.id.entity_type == "DEVICE_PROFILE", f"id {saved.id!r}")
        expect(saved.name == profile_name, f"name {saved.name!r}")
        expect(saved.version == 1, f"version {saved.version!r}")
        state["profile_id"] = saved.id.id
        infos = rest.get_device_profile_infos(page_size=10, page=0, text_search=profile_name)
        found = [i for i in infos.data if i.name == profile_name]
        expect(len(found) == 1, f"infos {infos.data!r}")
        expect(found[0].id.id == saved.id.id, "the info's id is the profile's")
        names_list = [e.name for e in rest.get_device_profile_names()]
        expect(profile_name in names_list, f"names {names_list!r}")
        by_id = rest.get_device_profile_by_id(saved.id)
        expect(by_id.name == profile_name and by_id.description == "made by tb_clients.py", f"{by_id!r}")

    @check("profiles: the default profile's info, a profile's info, sorted profile pages")
    def _():
        default = rest.get_default_device_profile_info()
        expect(default.name == "default" and default.id.entity_type == "DEVICE_PROFILE", f"{default!r}")
        info = rest.get_device_profile_info_by_id(EntityId(id=state["profile_id"], entity_type="DEVICE_PROFILE"))
        expect(info.name == profile_name, f"{info!r}")
        pages = rest.get_device_profiles(page_size=1, page=0, sort_property="name", sort_order="DESC")
        expect(pages.total_elements >= 2 and pages.has_next, f"{pages!r}")
        expect(pages.data[0].name == profile_name, f"DESC by name: {pages.data[0].name!r}")

    @check("profiles: a second profile of the same name is refused with 400")
    def _():
        error = api_error(lambda: rest.save_device_profile(DeviceProfile(name=profile_name, type="DEFAULT")))
        expect(error.status == 400, f"status {error.status} {error.body}")

    @check("devices: a gateway device is created with its access token")
    def _():
        device = Device(name=names["gw"], type="default", additional_info={"gateway": True})
        saved = rest.save_device(device, access_token=f"{p}-gw-token")
        expect(saved.id.entity_type == "DEVICE", f"id {saved.id!r}")
        expect(saved.additional_info == {"gateway": True}, f"additionalInfo {saved.additional_info!r}")
        expect(saved.version == 1, f"version {saved.version!r}")
        credentials = rest.get_device_credentials_by_device_id(saved.id)
        expect(credentials.credentials_type == "ACCESS_TOKEN", f"type {credentials.credentials_type!r}")
        expect(credentials.credentials_id == f"{p}-gw-token", f"token {credentials.credentials_id!r}")
        state["gw"] = saved

    gateway = TBGatewayMqttClient(args.mqtt_host, args.mqtt_port, username=f"{p}-gw-token")
    pushes = Inbox()
    rpcs = Inbox()

    def on_rpc(client, request):
        rpcs.put(request)
        device, data = request["device"], request["data"]
        if data["method"] == "getTemperature":
            client.gw_send_rpc_reply(device, data["id"], {"temperature": 21.5, "asked": data.get("params")})

    @check("gateway: TBGatewayMqttClient connects and announces its devices")
    def _():
        gateway.connect()
        eventually(gateway.is_connected, "the gateway is connected")
        gateway.gw_set_server_side_rpc_request_handler(on_rpc)
        gateway.gw_subscribe_to_all_attributes(pushes.put)
        expect(gateway.gw_connect_device(names["sensor-a"], profile_name).get() == 0, "connect sensor-a")
        expect(gateway.gw_connect_device(names["sensor-b"], "default").get() == 0, "connect sensor-b")
        a = eventually(lambda: rest.get_tenant_device(names["sensor-a"]), "sensor-a exists")
        b = eventually(lambda: rest.get_tenant_device(names["sensor-b"]), "sensor-b exists")
        expect(a.type == profile_name, f"sensor-a type {a.type!r}")
        expect(a.device_profile_id.id == state["profile_id"], "sensor-a uses the created profile")
        expect(a.additional_info.get("lastConnectedGateway") == state["gw"].id.id, f"{a.additional_info!r}")
        state["a"], state["b"] = a, b

    now = int(time.time() * 1000)
    history = [{"ts": now - 3000 + i * 1000, "values": {"temperature": 20 + i, "ok": i % 2 == 0}} for i in range(3)]

    @check("gateway: telemetry and attributes for several devices")
    def _():
        for name in (names["sensor-a"], names["sensor-b"]):
            for point in history:
                info = gateway.gw_send_telemetry(name, point)
                expect(info.get() == 0, f"telemetry publish for {name}")
        info = gateway.gw_send_attributes(names["sensor-a"], {"firmware": "1.2.3", "slots": 4})
        expect(info.get() == 0, "attributes publish")

    def device_id(key):
        return state[key].id

    @check("telemetry: latest values with strict types, by keys= and by repeated key=")
    def _():
        def latest():
            found = rest.get_latest_timeseries(device_id("a"), keys="temperature,ok", use_strict_data_types=True)
            return found if "temperature" in found and found["temperature"][0].value == 22 else None

        found = eventually(latest, "the newest temperature 22")
        expect(found["ok"][0].value is True, f"ok {found['ok']!r}")
        expect(found["temperature"][0].ts == history[2]["ts"], f"ts {found['temperature']!r}")
        by_key = rest.get_latest_timeseries(device_id("a"), key=["temperature", "ok"])
        expect(set(by_key) == {"temperature", "ok"}, f"keys {set(by_key)!r}")
        expect(by_key["temperature"][0].value == "22", f"not strict: strings {by_key!r}")
        keys = rest.get_timeseries_keys_v1(device_id("a"))
        expect(sorted(keys) == ["ok", "temperature"], f"keys {keys!r}")

    @check("telemetry: history on values/timeseries/history in both orders")
    def _():
        def read(order):
            return rest.get_timeseries(
                device_id("b"), start_ts=now - 10_000, end_ts=now + 10_000, keys="temperature",
                limit=100, agg="NONE", order_by=order, use_strict_data_types=True,
            )

        ascending = read("ASC")["temperature"]
        expect([v.value for v in ascending] == [20, 21, 22], f"ASC {ascending!r}")
        descending = read("DESC")["temperature"]
        expect([v.ts for v in descending] == [h["ts"] for h in reversed(history)], f"DESC {descending!r}")
        limited = rest.get_timeseries(device_id("b"), start_ts=now - 10_000, end_ts=now + 10_000,
                                      keys="temperature", limit=1)
        expect(len(limited["temperature"]) == 1 and limited["temperature"][0].value == "22",
               f"limit 1, newest first, as strings: {limited!r}")

    @check("telemetry: time series saved over REST are read back")
    def _():
        rest.save_entity_telemetry(device_id("b"), "ANY", {"ts": now, "values": {"humidity": 40.5}})
        found = rest.get_latest_timeseries(device_id("b"), keys="humidity", use_strict_data_types=True)
        point = found["humidity"][0]
        expect((point.ts, point.value) == (now, 40.5), f"{found!r}")

    @check("telemetry: time series deleted over REST, the latest rewritten, a key deleted whole")
    def _():
        a = device_id("a")
        newest = history[2]["ts"]
        rest.delete_entity_timeseries(a, keys="temperature", start_ts=newest, end_ts=newest + 1,
                                      rewrite_latest_if_deleted=True)
        latest = rest.get_latest_timeseries(a, keys="temperature", use_strict_data_types=True)["temperature"][0]
        expect((latest.ts, latest.value) == (history[1]["ts"], 21), f"rewritten to the newest left: {latest!r}")
        left = rest.get_timeseries(a, start_ts=now - 10_000, end_ts=now + 10_000, keys="temperature",
                                   order_by="ASC", use_strict_data_types=True)["temperature"]
        expect([v.value for v in left] == [20, 21], f"history left {left!r}")
        rest.delete_entity_timeseries(a, keys="ok", delete_all_data_for_keys=True)
        expect(rest.get_timeseries_keys_v1(a) == ["temperature"], f"keys {rest.get_timeseries_keys_v1(a)!r}")
        error = api_error(lambda: rest.delete_entity_timeseries(a, keys="temperature"))
        expect(error.status == 400 and "start and end" in error.body, f"{error.status} {error.body}")

    @check("attributes: client attributes by scope and keys, with repeated key=")
    def _():
        def read():
            return rest.get_attributes_by_scope(device_id("a"), "CLIENT_SCOPE", keys="firmware,slots")

        found = eventually(lambda: len(read()) == 2 and read(), "both client attributes")
        values = {a.key: a.value for a in found}
        expect(values == {"firmware": "1.2.3", "slots": 4}, f"{values!r}")
        by_key = rest.get_attributes_by_scope(device_id("a"), "CLIENT_SCOPE", key=["slots"])
        expect([a.key for a in by_key] == ["slots"], f"{by_key!r}")
        keys = rest.get_attribute_keys_by_scope(device_id("a"), "CLIENT_SCOPE")
        expect(sorted(keys) == ["firmware", "slots"], f"{keys!r}")
        everything = rest.get_attributes(device_id("a"), keys="firmware,active")
        expect({a.key for a in everything} == {"firmware", "active"}, f"all scopes: {everything!r}")

    @check("attributes: shared attributes written on /{deviceId}/{scope} reach the gateway")
    def _():
        rest.save_device_attributes(device_id("a"), "SHARED_SCOPE", {"setpoint": 23.5, "mode": "eco"})
        pushes.wait_for(
            lambda m: m.get("device") == names["sensor-a"] and m.get("data") == {"setpoint": 23.5, "mode": "eco"},
            "the shared-attribute push")
        found = rest.get_attributes_by_scope(device_id("a"), "SHARED_SCOPE", keys="setpoint")
        expect([(a.key, a.value) for a in found] == [("setpoint", 23.5)], f"{found!r}")

    @check("attributes: the older attribute paths write too (v1 and v2 of the entity form)")
    def _():
        rest.save_entity_attributes_v2(device_id("b"), "SHARED_SCOPE", {"v2": 1})
        rest.save_entity_attributes_v1(device_id("b"), "SHARED_SCOPE", {"v1": 2})
        pushes.wait_for(lambda m: m.get("device") == names["sensor-b"] and m.get("data") == {"v1": 2}, "v1 push")
        found = rest.get_attributes_by_scope(device_id("b"), "SHARED_SCOPE", keys="v1,v2")
        expect({a.key: a.value for a in found} == {"v1": 2, "v2": 1}, f"{found!r}")

    @check("attributes: shared attributes deleted on /{deviceId}/{scope} reach the gateway as deleted")
    def _():
        rest.delete_device_attributes(device_id("a"), "SHARED_SCOPE", keys="mode")
        pushes.wait_for(
            lambda m: m.get("device") == names["sensor-a"] and m.get("data") == {"deleted": ["mode"]},
            "the deletion push")
        keys = rest.get_attribute_keys_by_scope(device_id("a"), "SHARED_SCOPE")
        expect(keys == ["setpoint"], f"{keys!r}")
        rest.delete_entity_attributes(device_id("b"), "SHARED_SCOPE", key=["v1", "v2"])
        expect(rest.get_attribute_keys_by_scope(device_id("b"), "SHARED_SCOPE") == [], "v1 and v2 deleted")

    @check("gateway: gw_request_shared_attributes answers with the sub-device's shared attribute")
    def _():
        answers = Inbox()
        info = gateway.gw_request_shared_attributes(names["sensor-a"], ["setpoint"],
                                                    lambda result, *_: answers.put(result))
        expect(info.get() == 0, "request publish")
        answer = answers.wait_for(lambda r: r.get("device") == names["sensor-a"], "the attribute response")
        expect(answer.get("value") == 23.5, f"one key is answered as value: {answer!r}")

    @check("rpc: two-way RPC answered by the gateway (v1 and v2 paths)")
    def _():
        body = {"method": "getTemperature", "params": {"unit": "C"}, "timeout": 5000}
        answer = rest.handle_two_way_device_rpc_request(device_id("a"), body)
        expect(answer == {"temperature": 21.5, "asked": {"unit": "C"}}, f"v1 {answer!r}")
        answer = rest.handle_two_way_device_rpc_request_v1(device_id("a"), body)
        expect(answer == {"temperature": 21.5, "asked": {"unit": "C"}}, f"v2 {answer!r}")

    @check("rpc: one-way RPC is delivered to the gateway")
    def _():
        rest.handle_one_way_device_rpc_request(device_id("b"), {"method": "blink", "params": {"times": 2}})
        rpcs.wait_for(lambda r: r["device"] == names["sensor-b"] and r["data"]["method"] == "blink"
                      and r["data"]["params"] == {"times": 2}, "the one-way RPC")

    @check("rpc: a persistent two-way RPC answers its rpcId at once and ends SUCCESSFUL with the response")
    def _():
        body = {"method": "getTemperature", "params": {}, "persistent": True, "timeout": 5000}
        started = rest.handle_two_way_device_rpc_request_v1(device_id("a"), body)
        expect(isinstance(started, dict) and set(started) == {"rpcId"}, f"{started!r}")
        rpc_id = RpcId(id=started["rpcId"], entity_type="RPC")

        def done():
            rpc = rest.get_persisted_rpc(rpc_id)
            return rpc if rpc.status == "SUCCESSFUL" else None

        rpc = eventually(done, "status SUCCESSFUL")
        expect(rpc.response == {"temperature": 21.5, "asked": {}}, f"response {rpc.response!r}")
        expect(rpc.device_id.id == device_id("a").id, f"device {rpc.device_id!r}")
        expect(rpc.request["body"]["method"] == "getTemperature", f"request {rpc.request!r}")
        expect(rpc.expiration_time > now, f"expirationTime {rpc.expiration_time!r}")
        page = rest.get_persisted_rpc_by_device(device_id("a"), page_size=10, page=0, rpc_status="SUCCESSFUL")
        expect(any(r["id"]["id"] == started["rpcId"] for r in page["data"]), f"by device {page!r}")

    @check("rpc: an unanswered persistent RPC ends EXPIRED")
    def _():
        body = {"method": "ignored", "params": {}, "persistent": True, "timeout": 1000}
        started = rest.handle_two_way_device_rpc_request_v1(device_id("b"), body)
        rpc_id = RpcId(id=started["rpcId"], entity_type="RPC")
        rpc = eventually(lambda: (r := rest.get_persisted_rpc(rpc_id)).status in ("TIMEOUT", "EXPIRED") and r,
                         "TIMEOUT or EXPIRED", seconds=15)
        # processServerSideRpcTimeout saves EXPIRED; TIMEOUT is a direct device's missing PUBACK.
        expect(rpc.status == "EXPIRED", f"a sent, unanswered call expires: {rpc.status}")

    @check("rpc: an RPC to an unknown device is 404")
    def _():
        error = api_error(lambda: rest.handle_two_way_device_rpc_request(
            DeviceId(id="4f1a0e2c-0000-4000-8000-000000000000", entity_type="DEVICE"), {"method": "m", "params": {}}))
        expect(error.status == 404, f"{error.status} {error.body}")

    @check("relations: the gateway's Created relations, from and to, with infos and the single read")
    def _():
        gw = state["gw"].id
        out = rest.find_by_from_v1(gw, "DEVICE")
        targets = sorted(r.to.id for r in out)
        expect(targets == sorted([device_id("a").id, device_id("b").id]), f"from {out!r}")
        expect(all(r.type == "Created" and r.type_group == "COMMON" for r in out), f"{out!r}")
        typed = rest.find_by_from(gw, "Created")
        expect(len(typed) == 2, f"from by type {typed!r}")
        expect(rest.find_by_from(gw, "Contains") == [], "no Contains relations")
        infos = rest.find_info_by_from(gw)
        expect(sorted(i.to_name for i in infos) == sorted([names["sensor-a"], names["sensor-b"]]), f"{infos!r}")
        expect({i.from_name for i in infos} == {names["gw"]}, f"{infos!r}")
        back = rest.find_by_to_v1(device_id("a"), "DEVICE")
        expect([r._from.id for r in back] == [gw.id], f"to {back!r}")
        expect(len(rest.find_by_to(device_id("a"), "Created")) == 1, "to by type")
        expect([i.from_name for i in rest.find_info_by_to(device_id("a"), "DEVICE")] == [names["gw"]], "info to")
        one = rest.get_relation(gw, "Created", device_id("a"))
        expect(one.to.id == device_id("a").id and one.type == "Created", f"{one!r}")
        error = api_error(lambda: rest.get_relation(device_id("a"), "Created", gw))
        expect(error.status == 404, f"the reverse relation does not exist: {error.status}")

    @check("relations: a relation saved from a customer to a device, read with names, and deleted")
    def _():
        customer = rest.get_tenant_customer("Customer A")
        # The model refuses a relation without its group, though the server defaults it.
        relation = EntityRelation(_from=customer.id, to=device_id("a"), type="Manages", type_group="COMMON",
                                  additional_info={"since": 2026})
        saved = rest.save_relation(relation)
        expect(saved.type_group == "COMMON" and saved.additional_info == {"since": 2026}, f"{saved!r}")
        one = rest.get_relation(customer.id, "Manages", device_id("a"))
        expect(one._from.id == customer.id.id and one._from.entity_type == "CUSTOMER", f"{one!r}")
        infos = rest.find_info_by_to(device_id("a"), "DEVICE")
        expect({i.from_name for i in infos} == {names["gw"], "Customer A"}, f"{infos!r}")
        deleted = rest.delete_relation(customer.id, "Manages", device_id("a"))
        expect(deleted.type == "Manages" and deleted.to.id == device_id("a").id, f"{deleted!r}")
        error = api_error(lambda: rest.get_relation(customer.id, "Manages", device_id("a")))
        expect(error.status == 404, f"deleted: {error.status}")
        error = api_error(lambda: rest.delete_relation(customer.id, "Manages", device_id("a")))
        expect(error.status == 404, f"deleted twice: {error.status}")

    @check("devices: device types, devices by ids, device info")
    def _():
        types = {t.type for t in rest.get_device_types()}
        expect({profile_name, "default"} <= types, f"{types!r}")
        both = rest.get_devices_by_ids([device_id("a").id, device_id("b").id])
        expect(sorted(d.name for d in both) == sorted([names["sensor-a"], names["sensor-b"]]), f"{both!r}")
        info = rest.get_device_info_by_id(device_id("a"))
        expect(info.active is True and info.device_profile_id.id == state["profile_id"], f"{info!r}")

    @check("devices: sorted pages of the tenant's devices")
    def _():
        def page(n, order):
            return rest.get_tenant_devices(page_size=1, page=n, text_search=f"{p}-sensor", sort_property="name",
                                           sort_order=order)

        first = page(0, "DESC")
        expect(first.total_elements == 2 and first.total_pages == 2 and first.has_next, f"{first!r}")
        expect(first.data[0].name == names["sensor-b"], f"DESC first {first.data[0].name}")
        second = page(1, "DESC")
        expect(second.data[0].name == names["sensor-a"] and not second.has_next, f"{second!r}")
        expect(page(0, "ASC").data[0].name == names["sensor-a"], "ASC first")

    @check("devices: a save with a stale version is 409 with errorCode 35")
    def _():
        device = rest.get_device_by_id(device_id("b"))
        stale_version = device.version
        device.label = "first edit"
        saved = rest.save_device(device)
        expect(saved.version == stale_version + 1, f"version {stale_version} -> {saved.version}")
        device.label = "second edit from the stale copy"
        device.version = stale_version
        error = api_error(lambda: rest.save_device(device))
        expect(error.status == 409, f"status {error.status} {error.body}")
        expect('"errorCode":35' in error.body.replace(" ", ""), f"body {error.body}")
        expect(rest.get_device_by_id(device_id("b")).label == "first edit", "the first edit stays")

    @check("errors: a malformed UUID in a path is 400 with errorCode 31")
    def _():
        error = api_error(lambda: rest.get_device_by_id(DeviceId(id="not-a-uuid", entity_type="DEVICE")))
        expect(error.status == 400 and '"errorCode":31' in error.body.replace(" ", ""), f"{error.status} {error.body}")

    @check("auth: a refreshed token works and the old session still answers")
    def _():
        rest.refresh()
        expect(rest.get_user().email == "tenant@thingsboard.org", "the refreshed token is accepted")

    @check("customers: the customer by title, and a claim by the customer's user")
    def _():
        customer = rest.get_tenant_customer("Customer A")
        expect(customer.title == "Customer A" and customer.id.entity_type == "CUSTOMER", f"{customer!r}")
        info = gateway.gw_claim(names["sensor-b"], "s3cret", 60_000)
        expect(info.get() == 0, "claim publish")
        customer_rest = RestClient(base_url=args.rest)
        customer_rest.login(username="customer@thingsboard.org", password="customer")

        def claim():
            return customer_rest.claim_device_by_name(names["sensor-b"], ClaimRequest(secret_key="s3cret"))

        result = eventually(claim, "the claim succeeds")
        expect(result["response"] == "SUCCESS", f"{result!r}")
        expect(result["device"]["customerId"]["id"] == customer.id.id, f"{result!r}")
        mine = rest.get_customer_devices(customer.id, page_size=10, page=0)
        expect([d.name for d in mine.data] == [names["sensor-b"]], f"{mine!r}")
        customer_rest.re_claim_device(names["sensor-b"])
        expect(rest.get_customer_devices(customer.id, page_size=10, page=0).data == [], "reclaimed")

    @check("device client: TBDeviceMqttClient sends telemetry and reads its shared attributes")
    def _():
        plain = rest.save_device(Device(name=names["plain"], type="default"), access_token=f"{p}-plain-token")
        state["plain"] = plain
        rest.save_device_attributes(plain.id, "SHARED_SCOPE", {"interval": 5})
        client = TBDeviceMqttClient(args.mqtt_host, args.mqtt_port, username=f"{p}-plain-token")
        client.connect()
        try:
            eventually(client.is_connected, "the device is connected")
            expect(client.send_telemetry({"level": 7}).get() == 0, "telemetry publish")
            answers = Inbox()
            client.request_attributes(shared_keys=["interval"], callback=lambda result, *_: answers.put(result))
            answers.wait_for(lambda r: r == {"shared": {"interval": 5}}, "the attribute response")
            found = eventually(lambda: rest.get_latest_timeseries(plain.id, keys="level", use_strict_data_types=True),
                               "level stored")
            expect(found["level"][0].value == 7, f"{found!r}")
        finally:
            client.disconnect()

    @check("customers: a customer is saved, updated by its version, refused when stale, and deleted")
    def _():
        saved = rest.save_customer(Customer(title=f"{p}-Acme", city="Lviv"))
        expect(saved.version == 1 and saved.id.entity_type == "CUSTOMER", f"{saved!r}")
        expect(saved.city == "Lviv", f"city {saved.city!r}")
        saved.city = "Kyiv"
        updated = rest.save_customer(saved)
        expect(updated.version == 2 and updated.city == "Kyiv", f"{updated!r}")
        saved.city = "Odesa"
        error = api_error(lambda: rest.save_customer(saved))
        expect(error.status == 409 and '"errorCode":35' in error.body.replace(" ", ""), f"{error.status} {error.body}")
        expect(rest.get_customer_by_id(updated.id).city == "Kyiv", "the stale save changed nothing")
        rest.save_relation(EntityRelation(_from=updated.id, to=device_id("a"), type="Supports", type_group="COMMON"))
        expect(len(rest.find_by_from_v1(updated.id, "CUSTOMER")) == 1, "one relation from the customer")
        rest.delete_relations(updated.id)
        expect(rest.find_by_from_v1(updated.id, "CUSTOMER") == [], "every relation of the customer deleted")
        rest.delete_customer(updated.id)
        error = api_error(lambda: rest.get_customer_by_id(updated.id))
        expect(error.status == 404, f"deleted: {error.status}")

    @check("device client: TBDeviceMqttClient answers RPCs; its PUBACK makes a persistent one-way RPC DELIVERED")
    def _():
        plain = state["plain"]
        client = TBDeviceMqttClient(args.mqtt_host, args.mqtt_port, username=f"{p}-plain-token")
        requests = Inbox()

        def on_request(request_id, body):
            requests.put((request_id, body))
            if body.get("method") == "getState":
                client.send_rpc_reply(request_id, {"state": "idle"})

        client.set_server_side_rpc_request_handler(on_request)
        client.connect()
        try:
            eventually(client.is_connected, "the device is connected")
            answer = rest.handle_two_way_device_rpc_request(plain.id, {"method": "getState", "params": {}, "timeout": 5000})
            expect(answer == {"state": "idle"}, f"two-way {answer!r}")
            body = {"method": "blink", "params": {"times": 1}, "persistent": True, "timeout": 60_000}
            started = rest.handle_one_way_device_rpc_request_v1(plain.id, body)
            rpc_id = RpcId(id=started["rpcId"], entity_type="RPC")
            requests.wait_for(lambda r: r[1] == {"method": "blink", "params": {"times": 1}}, "the one-way request")
            rpc = eventually(lambda: (r := rest.get_persisted_rpc(rpc_id)).status == "DELIVERED" and r, "DELIVERED")
            expect(rpc.response is None, f"a one-way call has no response: {rpc.response!r}")
            body = {"method": "getState", "params": {}, "persistent": True, "timeout": 60_000, "retries": 2}
            started = rest.handle_two_way_device_rpc_request_v1(plain.id, body)
            rpc_id = RpcId(id=started["rpcId"], entity_type="RPC")
            rpc = eventually(lambda: (r := rest.get_persisted_rpc(rpc_id)).status == "SUCCESSFUL" and r, "SUCCESSFUL")
            expect(rpc.response == {"state": "idle"} and rpc.request["retries"] == 2, f"{rpc!r}")
        finally:
            client.disconnect()

    @check("devices: a deleted device is gone and its gateway is told")
    def _():
        rest.delete_device(device_id("b"))
        error = api_error(lambda: rest.get_device_by_id(device_id("b")))
        expect(error.status == 404, f"{error.status} {error.body}")
        left = {r.to.id for r in rest.find_by_from_v1(state["gw"].id, "DEVICE")}
        expect(left == {device_id("a").id}, f"relations left {left!r}")

    gateway.disconnect()
    for key in ("a", "plain", "gw"):
        if key in state:
            try:
                rest.delete_device(state[key].id)
            except ApiException:
                pass
    if "profile_id" in state:
        try:
            rest.delete_device_profile(EntityId(id=state["profile_id"], entity_type="DEVICE_PROFILE"))
        except ApiException:
            pass
    print(f"{len(failures)} failed" if failures else "all passed", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
