"""The HTTP API against a real server on 127.0.0.1 (port 0), a real FaultStore on a temporary
file and a real aiohttp client: reading, auth on every change, the bad-input matrix (never a
500), /healthz, /metrics and the OpenAPI document."""

from __future__ import annotations

import asyncio
import errno
import json
import logging
import os
import resource
import selectors
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, Optional

import aiohttp
import pytest
from openapi_spec_validator import validate as validate_openapi
from prometheus_client.parser import text_string_to_metric_families

from monitor.api import metrics as api_metrics
from monitor.api.server import (AckBody, ApiServer, ApiStartError, CloseBody, EndMaintenanceBody, MaintenanceBody,
                                NoteBody, ResolveBody, RollcallBody)
from monitor.api.service import FaultService, HealthCheck
from monitor.api.settings import ApiSettings
from monitor.faults.model import DeviceInfo, Selector
from monitor.faults.settings import SlaSettings
from monitor.faults.store import FaultStore
from lab.support import VENV_BIN, Process, free_port, require_root, wait_until

pytestmark = pytest.mark.integration

TOKEN = "test-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
SLA = SlaSettings(acknowledge_s=180, resolve_s=7200, warn_before_ack_s=60, warn_before_resolve_s=900)

SWITCH = DeviceInfo("street-03-sw", "switch", ("district", "street-03"), tags=("core",))
CODEC = DeviceInfo("community-12-codec", "codec", ("district", "street-03", "community-12"), parents=("street-03-sw",))
UPS = DeviceInfo("room-a-ups", "ups", ("district", "machine-room-a"))


@pytest.fixture
def store(tmp_path) -> FaultStore:
    with FaultStore(tmp_path / "faults.db") as opened:
        yield opened


def open_fault(store: FaultStore, device: DeviceInfo = SWITCH, rule: str = "down", *, severity: str = "critical",
               at: Optional[float] = None, **marks: Any) -> int:
    fault, outcome = store.open(device, rule, severity=severity, message=f"{device.name} {rule}", value=1.0,
                                at=at if at is not None else time.time(), sla=SLA, reopen_window_s=0, **marks)
    assert outcome == "opened"
    return fault.id


class Api:
    """A started ApiServer and a client session pointed at it."""

    def __init__(self, server: ApiServer, session: aiohttp.ClientSession) -> None:
        self.server = server
        self.session = session
        self.base = f"http://127.0.0.1:{server.port}"

    async def call(self, method: str, path: str, *, body: Any = None, data: Any = None,
                   headers: Optional[dict] = None) -> tuple[int, Any, aiohttp.ClientResponse]:
        async with self.session.request(method, self.base + path, json=body, data=data, headers=headers) as response:
            raw = await response.read()
            if response.content_type == "application/json":
                payload = json.loads(raw)
            else:
                payload = raw.decode()
            return response.status, payload, response


@pytest.fixture
async def start_api(store):
    """`await start_api(service=None, **settings)`: a running API; stopped at the end."""
    started: list[tuple[ApiServer, aiohttp.ClientSession]] = []

    async def start(service: Optional[FaultService] = None, **settings: Any) -> Api:
        settings.setdefault("listen", "127.0.0.1:0")
        server = ApiServer(ApiSettings(**settings), service or FaultService(store))
        await server.start()
        session = aiohttp.ClientSession()
        started.append((server, session))
        return Api(server, session)

    yield start
    for server, session in started:
        await session.close()
        await server.stop()


@pytest.fixture
def no_internal_errors(caplog):
    """Fails the test if any request reached the 500 path (it logs at ERROR with a traceback)."""
    caplog.set_level(logging.ERROR, logger="netvigil.api")
    yield
    failures = [record for record in caplog.records
                if record.name == "netvigil.api" and record.levelno >= logging.ERROR]
    assert not failures, [record.getMessage() for record in failures]


# -- reading --------------------------------------------------------------------------------------

async def test_lists_and_shows_faults_from_the_store(store, start_api, no_internal_errors):
    now = time.time()
    switch_id = open_fault(store, SWITCH, at=now - 300)
    codec_id = open_fault(store, CODEC, severity="major", at=now - 200, symptom_of=switch_id)
    ups_id = open_fault(store, UPS, "on_battery", severity="minor", at=now - 100)
    store.resolve(ups_id, "li.na")
    api = await start_api()

    status, body, _ = await api.call("GET", "/api/v1/faults")
    assert status == 200
    assert [fault["id"] for fault in body["faults"]] == [ups_id, codec_id, switch_id]  # newest first
    assert body["count"] == 3
    assert body["faults"][2] == store.get(switch_id).to_dict()

    status, body, _ = await api.call("GET", "/api/v1/faults?open=1")
    assert [fault["id"] for fault in body["faults"]] == [codec_id, switch_id]
    status, body, _ = await api.call("GET", "/api/v1/faults?site=street-03&open=true")
    assert sorted(fault["device"] for fault in body["faults"]) == [CODEC.name, SWITCH.name]
    status, body, _ = await api.call("GET", f"/api/v1/faults?device={UPS.name}")
    assert [fault["id"] for fault in body["faults"]] == [ups_id]
    status, body, _ = await api.call("GET", "/api/v1/faults?limit=1")
    assert (body["count"], body["limit"]) == (1, 1)
    status, body, _ = await api.call("GET", f"/api/v1/faults?since={now - 150:.0f}")
    assert [fault["id"] for fault in body["faults"]] == [ups_id]

    status, body, _ = await api.call("GET", f"/api/v1/faults/{switch_id}")
    assert status == 200
    assert (body["id"], body["state"], body["severity"], body["site_path"]) == (
        switch_id, "open", "critical", ["district", "street-03"])
    assert [symptom["id"] for symptom in body["symptoms"]] == [codec_id]

    status, body, _ = await api.call("GET", f"/api/v1/faults/{ups_id}")
    assert (body["state"], body["resolved_by"]) == ("resolved", "li.na")


async def test_reading_is_open_by_default_and_guarded_when_configured(store, start_api):
    open_fault(store)
    open_api = await start_api(token=TOKEN)
    assert (await open_api.call("GET", "/api/v1/faults"))[0] == 200

    guarded = await start_api(token=TOKEN, read_token_required=True)
    for path in ("/api/v1/faults", "/api/v1/faults/1", "/api/v1/maintenance", "/api/v1/status"):
        status, body, response = await guarded.call("GET", path)
        assert status == 401, path
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert (await guarded.call("GET", path, headers=AUTH))[0] == 200, path
    for path in ("/healthz", "/metrics", "/openapi.json"):  # systemd and Prometheus have no token
        assert (await guarded.call("GET", path))[0] == 200, path


# -- changes: auth on every route, and the change lands in the store --------------------------------

def _prepare_open(store) -> int:
    return open_fault(store)


def _prepare_resolved(store) -> int:
    fault_id = open_fault(store)
    store.resolve(fault_id, "li.na")
    return fault_id


def _prepare_window(store) -> int:
    now = time.time()
    return store.maintenance.add("cabling", Selector(sites=["street-03"]), now - 60, now + 3600, by="li.na").id


CHANGES = {
    # name: (prepare(store) -> id, path template, body, expected status, check(store, id))
    "ack": (_prepare_open, "/api/v1/faults/{id}/ack", {"by": "zhang.wei", "note": "on my way"}, 200,
            lambda store, i: store.get(i).acknowledged_by == "zhang.wei" and store.get(i).notes[0].text == "on my way"),
    "resolve": (_prepare_open, "/api/v1/faults/{id}/resolve", {"by": "zhang.wei"}, 200,
                lambda store, i: store.get(i).resolved_by == "zhang.wei"),
    "close": (_prepare_resolved, "/api/v1/faults/{id}/close",
              {"by": "zhang.wei", "cause": "fibre cut", "resolution": "spliced", "prevention": "duct"}, 200,
              lambda store, i: (store.get(i).state, store.get(i).cause) == ("closed", "fibre cut")),
    "note": (_prepare_open, "/api/v1/faults/{id}/notes", {"author": "zhang.wei", "text": "vendor called"}, 201,
             lambda store, i: [n.text for n in store.get(i).notes] == ["vendor called"]),
    "add maintenance": (lambda store: 0, "/api/v1/maintenance",
                        {"name": "relocation", "match": {"sites": ["street-03"]}, "duration": "2h", "by": "li.na"},
                        201, lambda store, i: [w.name for w in store.maintenance.list()] == ["relocation"]),
    "end maintenance": (_prepare_window, "/api/v1/maintenance/{id}/end", {"by": "li.na"}, 200,
                        lambda store, i: (store.maintenance.list() == []
                                          and store.maintenance.list(True)[0].ended_by == "li.na")),
}


@pytest.mark.parametrize("name", CHANGES)
async def test_every_change_needs_the_token(name, store, start_api, no_internal_errors):
    prepare, template, body, expected, check = CHANGES[name]
    item = prepare(store)
    path = template.format(id=item)

    disabled = await start_api()  # no token configured: changes are refused, with how to set one
    status, answer, _ = await disabled.call("POST", path, body=body, headers=AUTH)
    assert status == 403
    assert "api__token" in answer["error"] and "NETVIGIL_API__TOKEN" in answer["error"]

    api = await start_api(token=TOKEN)
    for headers in (None, {"Authorization": "Bearer wrong-token-0123456789"}, {"Authorization": TOKEN},
                    {"Authorization": f"Basic {TOKEN}"}, {"Authorization": "Bearer"}):
        status, answer, response = await api.call("POST", path, body=body, headers=headers)
        assert status == 401, headers
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert TOKEN not in answer["error"]
    assert not check(store, item)  # nothing changed so far

    status, answer, _ = await api.call("POST", path, body=body, headers=AUTH)
    assert status == expected, answer
    assert check(store, item)


async def test_wrong_token_is_logged_without_the_token(store, start_api, caplog):
    caplog.set_level(logging.DEBUG)
    api = await start_api(token=TOKEN)
    fault_id = open_fault(store)
    await api.call("POST", f"/api/v1/faults/{fault_id}/ack", body={"by": "x"},
                   headers={"Authorization": "Bearer not-the-token-9876543210"})
    await api.call("POST", f"/api/v1/faults/{fault_id}/ack", body={"by": "x", "note": "private words"}, headers=AUTH)
    text = caplog.text
    assert "wrong token" in text
    assert "not-the-token" not in text and TOKEN not in text and "private words" not in text


# -- bad input: always a clear 4xx, never a 500 -----------------------------------------------------

BIG = "9" * 30
BAD_INPUTS = [
    # (method, path, json body or raw bytes, extra headers, status, words expected in the sentence)
    ("GET", "/api/v1/faults/999", None, {}, 404, "no fault 999"),
    ("GET", "/api/v1/faults/abc", None, {}, 400, "not a positive whole number"),
    ("GET", "/api/v1/faults/-1", None, {}, 400, "not a positive whole number"),
    ("GET", "/api/v1/faults/0", None, {}, 404, "no fault"),
    ("GET", f"/api/v1/faults/{BIG}", None, {}, 404, "no fault"),
    ("GET", "/api/v1/faults/99999999999999999999", None, {}, 404, "no fault"),
    ("GET", "/api/v1/faults/1.5", None, {}, 400, "not a positive whole number"),
    ("POST", "/api/v1/faults/999/ack", {"by": "x"}, {}, 404, "no fault 999"),
    ("POST", f"/api/v1/faults/{BIG}/ack", {"by": "x"}, {}, 404, "no fault"),
    ("POST", "/api/v1/faults/abc/resolve", {"by": "x"}, {}, 400, "not a positive whole number"),
    ("POST", "/api/v1/maintenance/999/end", {"by": "x"}, {}, 404, "no maintenance window 999"),
    ("POST", "/api/v1/faults/{id}/ack", b'{"by": "x"', {}, 400, "not valid JSON"),
    ("POST", "/api/v1/faults/{id}/ack", b"", {}, 400, "needs a JSON body"),
    ("POST", "/api/v1/faults/{id}/ack", b"\xff\xfe", {}, 400, "not UTF-8"),
    ("POST", "/api/v1/faults/{id}/ack", b'{"by": NaN}', {}, 400, "not JSON this API accepts"),
    ("POST", "/api/v1/faults/{id}/ack", b'{"by": ' + b"1" * 5000 + b"}", {}, 400, "not JSON this API accepts"),
    ("POST", "/api/v1/faults/{id}/ack", b"[" * 5000 + b"]" * 5000, {}, 400, "JSON"),
    ("POST", "/api/v1/faults/{id}/ack", ["by", "x"], {}, 400, "must be a JSON object"),
    ("POST", "/api/v1/faults/{id}/ack", "by", {}, 400, "must be a JSON object"),
    ("POST", "/api/v1/faults/{id}/ack", 12, {}, 400, "must be a JSON object"),
    ("POST", "/api/v1/faults/{id}/ack", {}, {}, 400, "by: is required"),
    ("POST", "/api/v1/faults/{id}/ack", {"by": 5}, {}, 400, "by: must be a string"),
    ("POST", "/api/v1/faults/{id}/ack", {"by": ""}, {}, 400, "by: must not be empty"),
    ("POST", "/api/v1/faults/{id}/ack", {"by": "   "}, {}, 400, "by: must not be empty"),
    ("POST", "/api/v1/faults/{id}/ack", {"by": "x" * 101}, {}, 400, "by: is longer than 100"),
    ("POST", "/api/v1/faults/{id}/ack", {"by": "auto"}, {}, 400, "reserved"),
    ("POST", "/api/v1/faults/{id}/ack", {"by": "x", "nite": "typo"}, {}, 400, "did you mean 'note'"),
    ("POST", "/api/v1/faults/{id}/ack", {"by": ["x"]}, {}, 400, "by: must be a string"),
    ("POST", "/api/v1/faults/{id}/ack", {"by": None}, {}, 400, "by: must be a string"),
    ("POST", "/api/v1/faults/{id}/ack", b'{"by": "x"}', {"Content-Type": "text/plain"}, 415, "application/json"),
    ("POST", "/api/v1/faults/{id}/ack", b"by=x", {"Content-Type": "application/x-www-form-urlencoded"}, 415,
     "application/json"),
    ("POST", "/api/v1/faults/{id}/close", {"by": "x", "cause": "", "resolution": "r", "prevention": "p"}, {}, 400,
     "cause: must not be empty"),
    ("POST", "/api/v1/faults/{id}/close", {"by": "x", "cause": "c"}, {}, 400, "resolution: is required"),
    ("POST", "/api/v1/faults/{id}/close", {"by": "x", "cause": "c", "resolution": "r", "prevention": "p"}, {}, 409,
     "resolve it first"),
    ("POST", "/api/v1/faults/{id}/notes", {"author": "x", "text": 3}, {}, 400, "text: must be a string"),
    ("POST", "/api/v1/maintenance", {"name": "w", "match": {}, "duration": "1h", "by": "x"}, {}, 400,
     "say which devices"),
    ("POST", "/api/v1/maintenance", {"name": "w", "match": {"sitez": ["a"]}, "duration": "1h", "by": "x"}, {}, 400,
     "did you mean 'sites'"),
    ("POST", "/api/v1/maintenance", {"name": "w", "match": "street-03", "duration": "1h", "by": "x"}, {}, 400,
     "match: must be an object"),
    ("POST", "/api/v1/maintenance", {"name": "w", "match": {"sites": [3]}, "duration": "1h", "by": "x"}, {}, 400,
     "match.sites.0: must be a string"),
    ("POST", "/api/v1/maintenance", {"name": "w", "match": {"sites": "s"}, "duration": "soon", "by": "x"}, {}, 400,
     "duration: 'soon' is not a duration"),
    ("POST", "/api/v1/maintenance", {"name": "w", "match": {"sites": "s"}, "duration": True, "by": "x"}, {}, 400,
     "duration"),
    ("POST", "/api/v1/maintenance", {"name": "w", "match": {"sites": "s"}, "duration": "99999999999999999999w",
                                     "by": "x"}, {}, 400, "at most 366 days"),
    ("POST", "/api/v1/maintenance", {"name": "w", "match": {"sites": "s"}, "duration": int("9" * 400),
                                     "by": "x"}, {}, 400, "far too long"),
    ("POST", "/api/v1/maintenance", {"name": "w", "match": {"sites": "s"}, "end": "0001-01-01T00:00:00+14:00",
                                     "by": "x"}, {}, 400, "end"),
    ("POST", "/api/v1/maintenance", {"name": "w", "match": {"sites": "s"}, "by": "x"}, {}, 400,
     "either end"),
    ("POST", "/api/v1/maintenance", {"name": "w", "match": {"sites": "s"}, "end": "tomorrow", "by": "x"}, {}, 400,
     "not an ISO 8601 date-time"),
    ("POST", "/api/v1/maintenance", {"name": "w", "match": {"sites": "s"}, "start": "2020-01-01T00:00",
                                     "end": "2020-01-01T02:00", "by": "x"}, {}, 400, "already be over"),
    ("POST", "/api/v1/maintenance", {"name": "w", "match": {"sites": "s"}, "start": "2030-01-02T00:00",
                                     "end": "2030-01-01T00:00", "by": "x"}, {}, 400, "is not after start"),
    ("POST", "/api/v1/maintenance", {"name": "w", "match": {"sites": "s"}, "start": "0001-01-01T00:00",
                                     "end": "9999-12-31T23:59:59+00:00", "by": "x"}, {}, 400, "out of range"),
    ("POST", "/api/v1/maintenance", {"name": "w", "match": {"sites": "s"}, "start": "2030-01-01T00:00Z",
                                     "end": "2031-06-01T00:00Z", "by": "x"}, {}, 400, "at most 366 days"),
    ("POST", "/api/v1/maintenance", {"name": "w", "match": {"sites": "s"}, "start": "9999-12-31T23:00",
                                     "duration": "2h", "by": "x"}, {}, 400, "years from now"),
    ("POST", "/api/v1/maintenance", {"name": "w", "match": {"sites": "s"}, "start": "2030-01-01T00:00+99:00",
                                     "duration": "2h", "by": "x"}, {}, 400, "not an ISO 8601"),
    ("GET", "/api/v1/faults?since=0001-01-01T00:00", None, {}, 400, "since must be"),
    ("GET", "/api/v1/faults?limit=0", None, {}, 400, "limit must be a whole number"),
    ("GET", "/api/v1/faults?limit=" + BIG, None, {}, 400, "limit must be a whole number"),
    ("GET", "/api/v1/faults?open=maybe", None, {}, 400, "open must be 1 or 0"),
    ("GET", "/api/v1/faults?since=yesterday", None, {}, 400, "since must be"),
    ("GET", "/api/v1/faults?sitee=x", None, {}, 400, "did you mean 'site'"),
    ("GET", "/api/v1/faults?open=1&open=0", None, {}, 400, "give it once"),
    ("GET", "/api/v1/nothing", None, {}, 404, "no such route"),
    ("GET", "/api/v1/faults/1/ack", None, {}, 405, "not allowed"),
    ("DELETE", "/api/v1/faults/1", None, {}, 405, "not allowed"),
    ("PUT", "/api/v1/maintenance", {"by": "x"}, {}, 405, "not allowed"),
    ("POST", "/healthz", {}, {}, 405, "not allowed"),
    ("GET", "/api/v1/budget", None, {}, 404, "not available"),
]


@pytest.mark.parametrize("method, path, body, headers, expected, words", BAD_INPUTS,
                         ids=[f"{m} {p[:40]} {str(b)[:30]}" for m, p, b, *_ in BAD_INPUTS])
async def test_bad_input_gets_a_clear_4xx(method, path, body, headers, expected, words, store, start_api,
                                          no_internal_errors):
    fault_id = open_fault(store)
    api = await start_api(token=TOKEN)
    path = path.replace("{id}", str(fault_id))
    raw = isinstance(body, bytes)
    if raw:
        headers = {"Content-Type": "application/json", **headers}
    status, answer, response = await api.call(method, path, body=None if raw else body, data=body if raw else None,
                                              headers={**AUTH, **headers})
    assert status == expected, answer
    assert response.content_type == "application/json"
    assert words in answer["error"], answer["error"]
    assert answer["error"].strip() and "Traceback" not in answer["error"]
    if expected == 405:
        assert response.headers["Allow"]
    assert store.get(fault_id).state == "open"  # nothing half-done


async def test_body_over_the_limit_is_413_however_it_is_sent(store, start_api, no_internal_errors):
    fault_id = open_fault(store)
    api = await start_api(token=TOKEN, max_body_bytes=1024)
    huge = {"by": "zhang.wei", "note": "x" * 5000}
    status, answer, _ = await api.call("POST", f"/api/v1/faults/{fault_id}/ack", body=huge, headers=AUTH)
    assert status == 413
    assert "1024 bytes" in answer["error"] and "api.max_body_bytes" in answer["error"]

    async def chunks():  # no Content-Length: the limit must hold while reading
        yield b'{"by": "zhang.wei", "note": "'
        for _ in range(10):
            yield b"x" * 500
        yield b'"}'

    status, answer, _ = await api.call("POST", f"/api/v1/faults/{fault_id}/ack", data=chunks(),
                                       headers={**AUTH, "Content-Type": "application/json"})
    assert status == 413
    assert store.get(fault_id).acknowledged_at is None
    # The server is still fine afterwards.
    status, _, _ = await api.call("POST", f"/api/v1/faults/{fault_id}/ack", body={"by": "zhang.wei"}, headers=AUTH)
    assert status == 200


async def test_state_conflicts_are_409(store, start_api, no_internal_errors):
    fault_id = open_fault(store)
    api = await start_api(token=TOKEN)
    path = f"/api/v1/faults/{fault_id}"
    assert (await api.call("POST", path + "/ack", body={"by": "zhang.wei"}, headers=AUTH))[0] == 200
    status, answer, _ = await api.call("POST", path + "/ack", body={"by": "li.na"}, headers=AUTH)
    assert status == 409 and "already acknowledged by zhang.wei" in answer["error"]
    assert (await api.call("POST", path + "/resolve", body={"by": "zhang.wei"}, headers=AUTH))[0] == 200
    close = {"by": "zhang.wei", "cause": "c", "resolution": "r", "prevention": "p"}
    assert (await api.call("POST", path + "/close", body=close, headers=AUTH))[0] == 200
    status, answer, _ = await api.call("POST", path + "/close", body=close, headers=AUTH)
    assert status == 409 and "already closed" in answer["error"]
    # A note is still welcome on a closed fault.
    note = {"author": "li.na", "text": "follow-up"}
    assert (await api.call("POST", path + "/notes", body=note, headers=AUTH))[0] == 201


async def test_maintenance_windows(store, start_api, no_internal_errors):
    api = await start_api(token=TOKEN)
    body = {"name": "relocation street-03", "match": {"sites": "street-03", "classes": ["codec"]},
            "start": "2030-03-10T20:00:00+08:00", "end": "2030-03-11T06:00:00+08:00", "by": "li.na"}
    status, window, _ = await api.call("POST", "/api/v1/maintenance", body=body, headers=AUTH)
    assert status == 201
    assert window["selector"]["sites"] == ["street-03"] and window["selector"]["classes"] == ["codec"]
    assert window["ends_at_unix"] - window["starts_at_unix"] == 10 * 3600
    status, listed, _ = await api.call("GET", "/api/v1/maintenance")
    assert [w["id"] for w in listed["windows"]] == [window["id"]]
    assert (await api.call("POST", f"/api/v1/maintenance/{window['id']}/end", body={"by": "li.na"},
                           headers=AUTH))[0] == 200
    status, answer, _ = await api.call("POST", f"/api/v1/maintenance/{window['id']}/end", body={"by": "li.na"},
                                       headers=AUTH)
    assert status == 409 and "already ended" in answer["error"]
    assert (await api.call("GET", "/api/v1/maintenance"))[1]["windows"] == []
    assert len((await api.call("GET", "/api/v1/maintenance?all=1"))[1]["windows"]) == 1


@pytest.fixture
def manager(store):
    """A real FaultManager over the test store, with a real calendar and an empty rule set;
    `emitted` collects the fault events it sends to the outputs."""
    # Imported here: the rule engine pulls in monitor.config, which tests elsewhere may be changing.
    from monitor.faults.calendar import Calendar
    from monitor.faults.manager import FaultManager
    from monitor.faults.settings import FaultsSettings
    from monitor.rules.engine import RuleEngine
    from monitor.rules.model import RuleSet
    from monitor.rules.settings import RulesSettings

    devices = [SWITCH, CODEC, UPS]
    emitted: list = []
    real = FaultManager(store=store, engine=RuleEngine(RuleSet.of([]), devices, RulesSettings()),
                        calendar=Calendar(FaultsSettings()), settings=FaultsSettings(), devices=devices,
                        emit=emitted.extend)
    real.emitted = emitted
    return real


async def test_changes_go_through_the_manager(store, manager, start_api, no_internal_errors):
    from monitor.faults.manager import EVENT_CODES

    fault_id = open_fault(store)
    api = await start_api(FaultService(manager=manager), token=TOKEN)
    path = f"/api/v1/faults/{fault_id}"
    assert (await api.call("POST", path + "/ack", body={"by": "zhang.wei"}, headers=AUTH))[0] == 200
    assert (await api.call("POST", path + "/resolve", body={"by": "zhang.wei"}, headers=AUTH))[0] == 200
    close = {"by": "zhang.wei", "cause": "c", "resolution": "r", "prevention": "p"}
    assert (await api.call("POST", path + "/close", body=close, headers=AUTH))[0] == 200
    events = [sample.fields["event"] for sample in manager.emitted if sample.fields.get("id") == fault_id]
    assert events == [EVENT_CODES["acknowledge"], EVENT_CODES["resolve"], EVENT_CODES["close"]]
    assert store.get(fault_id).state == "closed"


async def test_maintenance_names_must_exist_and_the_calendar_hears_of_changes(store, manager, start_api,
                                                                              no_internal_errors):
    api = await start_api(FaultService(manager=manager), token=TOKEN)
    body = {"name": "w", "match": {"sites": ["street-3"], "devices": ["street-03-*"]}, "duration": 3600,
            "by": "li.na"}
    status, answer, _ = await api.call("POST", "/api/v1/maintenance", body=body, headers=AUTH)
    assert status == 400 and "no site named 'street-3'" in answer["error"]
    body["match"]["sites"] = ["street-03"]
    status, window, _ = await api.call("POST", "/api/v1/maintenance", body=body, headers=AUTH)
    assert status == 201
    now = time.time()
    assert manager.calendar.maintenance_for(SWITCH, now) is not None  # the daemon knows at once
    assert manager.calendar.maintenance_for(UPS, now) is None
    await api.call("POST", f"/api/v1/maintenance/{window['id']}/end", body={"by": "li.na"}, headers=AUTH)
    assert manager.calendar.maintenance_for(SWITCH, time.time()) is None


# -- status, health, metrics, docs ------------------------------------------------------------------

async def test_status_is_what_the_daemon_reports(store, start_api):
    summary = {"devices": 3, "up": 2, "down": 1, "pending": 0}
    api = await start_api(FaultService(store, status=lambda: {"summary": summary, "devices": []}))
    status, body, _ = await api.call("GET", "/api/v1/status")
    assert status == 200 and body == {"summary": summary, "devices": []}


async def test_healthz_turns_503_when_an_output_fails_for_long_or_probes_run_late(store, start_api):
    now = [1000.0]
    summary = {"started_at": time.time() - 60, "devices": 5, "down": 1, "scheduler": {"icmp": {"lag_last_s": 0.2}},
               "outputs": [{"name": "influxdb", "healthy": True, "last_error": ""}]}
    settings = ApiSettings(listen="127.0.0.1:0", healthz_output_unhealthy_s=300, healthz_max_lag_s=30)
    health = HealthCheck(settings, lambda: summary, clock=lambda: now[0])
    api = await start_api(FaultService(store, health=health), healthz_output_unhealthy_s=300, healthz_max_lag_s=30)

    status, body, _ = await api.call("GET", "/healthz")
    assert (status, body["status"], body["problems"]) == (200, "ok", [])

    summary["outputs"][0].update(healthy=False, last_error="connection refused")
    assert (await api.call("GET", "/healthz"))[0] == 200  # a short outage is what the spool is for
    now[0] += 299
    assert (await api.call("GET", "/healthz"))[0] == 200
    now[0] += 2
    status, body, _ = await api.call("GET", "/healthz")
    assert status == 503 and body["status"] == "unhealthy"
    assert "output influxdb has failed to write for 5m" in body["problems"][0]
    assert "connection refused" in body["problems"][0]

    summary["outputs"][0]["healthy"] = True
    assert (await api.call("GET", "/healthz"))[0] == 200
    summary["scheduler"]["icmp"]["lag_last_s"] = 45.0
    status, body, _ = await api.call("GET", "/healthz")
    assert status == 503 and "icmp probe runs start 45 s late" in body["problems"][0]


async def test_metrics_in_prometheus_format(store, manager, start_api):
    now = time.time()
    open_fault(store, SWITCH, severity="critical", at=now - 600)  # past its 180 s acknowledge deadline
    open_fault(store, UPS, "on_battery", severity="minor", at=now)
    acknowledged = open_fault(store, UPS, "temperature", severity="minor", at=now)
    store.acknowledge(acknowledged, "li.na")
    snapshot = {
        "started_at": 1_700_000_000.0,
        "devices": {"up": 7, "down": 2, "pending": 1},
        "scheduler": {"icmp": {"lag_last_s": 0.25, "lag_max_s": 1.5, "runs_total": 120, "skipped_total": 1,
                               "errors_total": 0, "running": 2, "devices": 10},
                      "snmp": {"lag_last_s": 0.0, "runs_total": 30}},
        "outputs": [{"name": "influxdb", "queued_points": 10, "spooled_points": 90, "spooled_bytes": 4096,
                     "written_points": 5000, "dropped_points": 3, "healthy": False}],
        "notifications": {"wecom": {"sent": 12, "failed": 1, "pending": 2}},
    }
    manager.stats["eval_seconds"] = 1.5  # as if it had evaluated rules for a while
    api = await start_api(FaultService(manager=manager, metrics=lambda: snapshot))
    status, text, response = await api.call("GET", "/metrics")
    assert status == 200 and response.content_type == "text/plain"
    families = {family.name: family for family in text_string_to_metric_families(text)}

    def value(family: str, sample: str = "", **labels: str) -> float:
        matches = [s.value for s in families[family].samples
                   if s.name == (sample or family) and s.labels == labels]
        assert len(matches) == 1, (family, labels, families[family].samples)
        return matches[0]

    assert all(name.startswith("netvigil_") and families[name].documentation for name in families)
    assert set(api_metrics.FAMILIES) <= set(families)
    assert value("netvigil_scheduler_lag_seconds", kind="icmp") == 0.25
    assert value("netvigil_scheduler_runs", "netvigil_scheduler_runs_total", kind="icmp") == 120
    assert value("netvigil_scheduler_runs", "netvigil_scheduler_runs_total", kind="snmp") == 30
    assert value("netvigil_output_backlog_points", output="influxdb") == 100
    assert value("netvigil_output_written_points", "netvigil_output_written_points_total", output="influxdb") == 5000
    assert value("netvigil_output_dropped_points", "netvigil_output_dropped_points_total", output="influxdb") == 3
    assert value("netvigil_output_healthy", output="influxdb") == 0
    assert value("netvigil_devices", state="down") == 2
    assert value("netvigil_faults_open", severity="critical") == 1
    assert value("netvigil_faults_open", severity="minor") == 2
    assert value("netvigil_faults_open", severity="warning") == 0
    assert value("netvigil_faults_unacknowledged") == 2
    assert value("netvigil_faults_sla_breached", clock="acknowledge") == 1
    assert value("netvigil_notifications_sent", "netvigil_notifications_sent_total", channel="wecom") == 12
    assert value("netvigil_notifications_pending", channel="wecom") == 2
    assert value("netvigil_rule_evaluation_seconds", "netvigil_rule_evaluation_seconds_total") == 1.5
    assert value("netvigil_start_time_seconds") == 1_700_000_000.0

    # Read at scrape time: a change shows in the next scrape.
    snapshot["devices"]["down"] = 5
    store.acknowledge(1, "zhang.wei")
    status, text, _ = await api.call("GET", "/metrics")
    families = {family.name: family for family in text_string_to_metric_families(text)}
    assert value("netvigil_devices", state="down") == 5
    assert value("netvigil_faults_unacknowledged") == 1


def _served_routes(server: ApiServer) -> set[tuple[str, str]]:
    return {(route.method, route.resource.canonical) for route in server.app.router.routes()
            if route.method != "HEAD"}


async def test_openapi_documents_every_served_route(store, start_api):
    api = await start_api(public_url="https://noc.example/netvigil")
    status, document, _ = await api.call("GET", "/openapi.json")
    assert status == 200
    assert document["openapi"].startswith("3.")
    assert document["servers"] == [{"url": "https://noc.example/netvigil"}]
    validate_openapi(document)
    documented = {(method.upper(), path) for path, item in document["paths"].items() for method in item
                  if method in ("get", "post", "put", "patch", "delete")}
    assert documented == _served_routes(api.server)


@pytest.mark.parametrize("model, schema", [
    (AckBody, "AckRequest"), (ResolveBody, "ResolveRequest"), (CloseBody, "CloseRequest"), (NoteBody, "NoteRequest"),
    (MaintenanceBody, "MaintenanceRequest"), (EndMaintenanceBody, "EndMaintenanceRequest"), (Selector, "Selector"),
    (RollcallBody, "RollcallRequest")])
def test_openapi_bodies_match_what_the_server_accepts(model, schema):
    from monitor.api.server import load_openapi

    documented = load_openapi()["components"]["schemas"][schema]
    assert set(documented["properties"]) == set(model.model_fields)
    assert set(documented.get("required", [])) == {name for name, f in model.model_fields.items() if f.is_required()}
    assert documented["additionalProperties"] is False


async def test_a_taken_port_is_a_sentence(store, start_api):
    api = await start_api()
    second = ApiServer(ApiSettings(listen=f"127.0.0.1:{api.server.port}"), FaultService(store))
    with pytest.raises(ApiStartError, match=rf"api.listen 127.0.0.1:{api.server.port}: cannot listen"):
        await second.start()


async def test_budget_lists_devices_over_this_months_budget(store, start_api):
    from monitor.api.service import budget_report
    from monitor.faults.settings import FaultsSettings

    settings = FaultsSettings(budget={"faults_per_month": 1, "classes": ["ups"]}, timezone="Asia/Shanghai")
    now = time.time()
    for rule in ("on_battery", "temperature"):
        open_fault(store, UPS, rule, severity="minor", at=now)
    open_fault(store, SWITCH, at=now)
    open_fault(store, SWITCH, "cpu", at=now)  # over too, but switches are not budgeted here
    classes = {device.name: device.device_class for device in (SWITCH, CODEC, UPS)}
    api = await start_api(FaultService(store, budget=lambda: budget_report(store, settings, classes)))
    status, body, _ = await api.call("GET", "/api/v1/budget")
    assert status == 200
    assert body["faults_per_month"] == 1 and body["classes"] == ["ups"]
    assert body["over_budget"] == [{"device": UPS.name, "faults": 2}]


async def test_metrics_from_the_daemons_summary(store, start_api):
    summary = {"pid": 1, "started_at": 1_700_000_000.0, "devices": 4, "up": 3, "down": 1, "pending": 0,
               "scheduler": {"icmp": {"devices": 4, "jobs": 1, "running": 0, "runs_total": 9, "skipped_total": 0,
                                      "errors_total": 0, "lag_last_s": 0.5, "lag_max_s": 0.7,
                                      "run_seconds_last": 0.1}},
               "outputs": [{"name": "embedded", "queued_points": 1, "spooled_points": 0, "spooled_bytes": 0,
                            "written_points": 7, "dropped_points": 0, "last_error": "", "healthy": True}]}
    service = FaultService(store, metrics=lambda: api_metrics.snapshot_from_summary(summary))
    api = await start_api(service)
    status, text, _ = await api.call("GET", "/metrics")
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(text) for s in family.samples}
    assert samples[("netvigil_devices", (("state", "up"),))] == 3
    assert samples[("netvigil_scheduler_lag_max_seconds", (("kind", "icmp"),))] == 0.7
    assert samples[("netvigil_output_written_points_total", (("output", "embedded"),))] == 7
    assert samples[("netvigil_output_healthy", (("output", "embedded"),))] == 1


async def test_a_reload_rotates_the_token_without_a_restart(store, start_api):
    fault_id = open_fault(store)
    api = await start_api(token=TOKEN)
    new_token = "rotated-token-abcdef0123456789"
    restart = api.server.reconfigure(ApiSettings(listen="127.0.0.1:9999", token=new_token, max_body_bytes=2048))
    assert restart == ["api.listen", "api.max_body_bytes"]
    path = f"/api/v1/faults/{fault_id}/ack"
    assert (await api.call("POST", path, body={"by": "x"}, headers=AUTH))[0] == 401
    status, _, _ = await api.call("POST", path, body={"by": "x"}, headers={"Authorization": f"Bearer {new_token}"})
    assert status == 200
    assert api.server.settings.listen == "127.0.0.1:0"  # still what it listens on



async def test_a_reload_changes_the_connection_cap_and_body_timeout_at_once(start_api):
    api = await start_api(max_connections=8)
    restart = api.server.reconfigure(ApiSettings(listen="127.0.0.1:0", max_connections=16, header_timeout_s=5,
                                                 body_timeout_s=5))
    assert restart == ["api.header_timeout_s"]  # aiohttp's keep-alive timeout is fixed when the server starts
    assert api.server.listener.max_connections == 16
    assert (api.server.settings.body_timeout_s, api.server.settings.header_timeout_s) == (5, 30)

# -- slow and idle clients (real sockets) ------------------------------------------------------------

HALF_REQUEST = b"GET /healthz HTTP/1.1\r\nHost: netvigil\r\nX-Slow: "


async def _closed_after(port: int, payload: bytes, trickle_every_s: float, limit_s: float) -> Optional[float]:
    """Connect, send `payload`, then one more header byte every `trickle_every_s` (a slow-loris
    client); seconds until the server closed the connection, None if it was still open at `limit_s`."""
    started = time.monotonic()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(payload)
    try:
        while time.monotonic() - started < limit_s:
            try:
                async with asyncio.timeout(trickle_every_s):
                    if not await reader.read(65536):
                        return time.monotonic() - started
            except TimeoutError:
                writer.write(b"x")
        return None
    except OSError:  # reset: closed
        return time.monotonic() - started
    finally:
        writer.close()


async def test_half_sent_requests_are_closed_after_the_header_timeout(start_api):
    api = await start_api(header_timeout_s=1.0)
    closed = await asyncio.gather(*(_closed_after(api.server.port, HALF_REQUEST, 0.2, 8.0) for _ in range(100)))
    assert None not in closed, f"{closed.count(None)} of 100 half-sent requests were still open after 8 s"
    # Trickling a byte every 0.2 s did not keep them: the header timeout (1 s) closed them.
    assert 0.9 <= min(closed) and max(closed) < 4.0, (min(closed), max(closed))


async def test_a_half_sent_second_request_on_a_kept_alive_connection_is_closed_too(start_api):
    api = await start_api(header_timeout_s=1.0)
    reader, writer = await asyncio.open_connection("127.0.0.1", api.server.port)
    try:
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: netvigil\r\n\r\n")
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert head.startswith(b"HTTP/1.1 200")
        length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length")))
        await reader.readexactly(length)
        answered = time.monotonic()
        writer.write(HALF_REQUEST)
        assert await asyncio.wait_for(reader.read(65536), 6) == b""
        assert 0.9 <= time.monotonic() - answered < 4.0
    finally:
        writer.close()


async def test_a_full_connection_table_makes_room_by_closing_the_longest_idle(start_api):
    api = await start_api(max_connections=8, header_timeout_s=60)
    attackers = [asyncio.create_task(_closed_after(api.server.port, HALF_REQUEST, 0.5, 3.0)) for _ in range(40)]
    await asyncio.sleep(1.0)
    started = time.monotonic()
    status, body, _ = await api.call("GET", "/healthz")
    assert status == 200 and body["status"] == "ok"
    assert time.monotonic() - started < 1.0
    closed = await asyncio.gather(*attackers)
    held = closed.count(None)
    assert held <= 8, f"{held} idle connections were held, more than api.max_connections=8"
    assert api.server.listener.displaced_total >= 32


async def test_a_body_sent_too_slowly_gets_408_and_the_connection_is_closed(store, start_api):
    fault_id = open_fault(store)
    api = await start_api(token=TOKEN, body_timeout_s=1.0)
    reader, writer = await asyncio.open_connection("127.0.0.1", api.server.port)
    try:
        started = time.monotonic()
        writer.write(f"POST /api/v1/faults/{fault_id}/ack HTTP/1.1\r\nHost: netvigil\r\n"
                     f"Authorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\n"
                     f"Content-Length: 200\r\n\r\n{{\"by\": ".encode())

        async def trickle() -> None:
            while True:
                await asyncio.sleep(0.2)
                writer.write(b" ")

        trickling = asyncio.create_task(trickle())
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        finally:
            trickling.cancel()
        assert head.startswith(b"HTTP/1.1 408"), head
        assert 0.9 <= time.monotonic() - started < 4.0
        assert b"connection: close" in head.lower()
        answer = json.loads(await asyncio.wait_for(reader.readuntil(b"}"), 5))
        assert "api.body_timeout_s" in answer["error"]
        await asyncio.wait_for(reader.read(), 15)  # returns at EOF: the server closed it
        assert reader.at_eof()
    finally:
        writer.close()
    assert store.get(fault_id).state == "open"  # nothing half-read was acted on



def _ack_head(fault_id: int, length: int, extra: str = "") -> bytes:
    return (f"POST /api/v1/faults/{fault_id}/ack HTTP/1.1\r\nHost: netvigil\r\nAuthorization: Bearer {TOKEN}\r\n"
            f"Content-Type: application/json\r\n{extra}"
            + (f"Content-Length: {length}\r\n" if length >= 0 else "") + "\r\n").encode()


async def test_slow_bodies_do_not_lock_out_new_connections(store, start_api):
    fault_id = open_fault(store)
    api = await start_api(token=TOKEN, max_connections=4, body_timeout_s=60)
    slow = [await asyncio.open_connection("127.0.0.1", api.server.port) for _ in range(4)]
    try:
        for _, writer in slow:  # every connection is inside a request, waiting for its body
            writer.write(_ack_head(fault_id, 200) + b'{"by": ')
        await asyncio.sleep(0.5)
        for _ in range(3):
            started = time.monotonic()
            status, body, _ = await api.call("GET", "/healthz")
            assert status == 200 and time.monotonic() - started < 1.0
        assert api.server.listener.displaced_total >= 1  # the client keeps its connection for the next two
    finally:
        for _, writer in slow:
            writer.close()
    assert store.get(fault_id).state == "open"


async def test_a_body_cut_off_or_badly_compressed_is_a_400_not_a_logged_500(store, start_api, no_internal_errors):
    fault_id = open_fault(store)
    api = await start_api(token=TOKEN)
    reader, writer = await asyncio.open_connection("127.0.0.1", api.server.port)
    writer.write(_ack_head(fault_id, 21, "Content-Encoding: gzip\r\n") + b"this is not gzip data")
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    writer.close()
    assert head.startswith(b"HTTP/1.1 400"), head
    for _ in range(5):  # clients that hang up halfway through their body
        reader, writer = await asyncio.open_connection("127.0.0.1", api.server.port)
        writer.write(_ack_head(fault_id, 100) + b'{"by": ')
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.close()
    await asyncio.sleep(0.3)
    assert store.get(fault_id).state == "open"


async def test_requests_that_cannot_be_read_are_one_warning_line_not_a_traceback_each(store, start_api, caplog):
    # aiohttp answers them 400 and used to log each with a whole traceback (kilobytes of log per
    # request, at the client's will): Content-Length beside chunked encoding, a body that is not
    # the gzip or deflate it claims.
    caplog.set_level(logging.DEBUG)
    fault_id = open_fault(store)
    api = await start_api(token=TOKEN)
    broken = [_ack_head(fault_id, 21, "Content-Encoding: gzip\r\n") + b"this is not gzip data",
              _ack_head(fault_id, 21, "Content-Encoding: deflate\r\n") + b"this is not zlib data",
              _ack_head(fault_id, 2, "Transfer-Encoding: chunked\r\n") + b"{}"]
    for request in broken * 3:
        reader, writer = await asyncio.open_connection("127.0.0.1", api.server.port)
        writer.write(request)
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        writer.close()
        assert head.split(b" ", 2)[1] == b"400", head  # (HTTP/1.0 when the request head itself is refused)
    await asyncio.sleep(0.3)
    assert [r.getMessage() for r in caplog.records if r.exc_info or "Traceback" in r.getMessage()] == []
    refused = [r for r in caplog.records if "could not be read" in r.getMessage()]
    assert len(refused) == 1 and refused[0].levelno == logging.WARNING  # one line a minute, with a count
    assert store.get(fault_id).state == "open"


# -- the daemon under slow clients and descriptor exhaustion ----------------------------------------

NETVIGIL = str(VENV_BIN / "netvigil")


class Daemon:
    """`netvigil run` on two loopback devices with the API on a free port; stopped by its pid."""

    def __init__(self, workdir: Path, log_level: str = "info", api: str = "") -> None:
        require_root()  # the ICMP probes
        self.workdir = workdir
        self.port = free_port()
        (workdir / "inventory.yaml").write_text(
            "sites:\n  - {name: room, level: room}\ndevices:\n"
            "  - {name: sw-1, address: 127.0.61.1, class: switch, site: room}\n"
            "  - {name: sw-2, address: 127.0.61.2, class: switch, site: room}\n")
        self.settings = workdir / "netvigil.yaml"
        self.settings.write_text(f"inventory: [inventory.yaml]\nstate_dir: state\nlog_level: {log_level}\n"
                                 f"api:\n  listen: 127.0.0.1:{self.port}\n{api}")
        self.control_socket = str(workdir / "state" / "netvigil.sock")
        self.log_path = workdir / "daemon.log"
        environment = {key: value for key, value in os.environ.items() if key != "JOURNAL_STREAM"}
        environment["NETVIGIL_API__TOKEN"] = TOKEN
        self.process = Process([NETVIGIL, "run", "-c", str(self.settings)], self.log_path, env=environment)
        wait_until(lambda: healthz_seconds(self.port, 1.0) is not None, 30, what="the daemon's /healthz")

    def limit_open_files(self, limit: int) -> None:
        resource.prlimit(self.process.pid, resource.RLIMIT_NOFILE, (limit, limit))

    def sockets(self) -> int:
        """Sockets the daemon holds (listeners, probes and every accepted connection)."""
        count = 0
        for fd in Path(f"/proc/{self.process.pid}/fd").iterdir():
            try:
                count += os.readlink(fd).startswith("socket:")
            except OSError:
                pass
        return count

    def descriptors(self) -> int:
        return len(list(Path(f"/proc/{self.process.pid}/fd").iterdir()))

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def log_bytes(self) -> bytes:
        self.process.log()  # flushes
        return self.log_path.read_bytes()

    def status(self) -> subprocess.CompletedProcess:
        return subprocess.run([NETVIGIL, "status", "-c", str(self.settings), "--json"], capture_output=True,
                              text=True, timeout=30)

    def stop(self) -> None:
        self.process.stop()


@pytest.fixture
def daemon_factory():
    started: list[Daemon] = []
    workdirs: list[Path] = []
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 4096:  # this process holds every attack connection
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))

    def start(**options: Any) -> Daemon:
        workdir = Path(tempfile.mkdtemp(prefix="nva"))  # short: a unix socket path stays under 108 bytes
        workdirs.append(workdir)
        started.append(Daemon(workdir, **options))
        return started[-1]

    yield start
    for daemon in started:
        daemon.stop()
    for workdir in workdirs:
        shutil.rmtree(workdir, ignore_errors=True)
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def healthz_seconds(port: int, timeout_s: float = 5.0) -> Optional[float]:
    """Seconds until a fresh connection's GET /healthz got its status line; None if it failed."""
    started = time.monotonic()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout_s) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: netvigil\r\nConnection: close\r\n\r\n")
            line = sock.makefile("rb").readline()
        return time.monotonic() - started if line.startswith(b"HTTP/1.1 ") else None
    except OSError:
        return None


def open_half_requests(address, count: int, family: int = socket.AF_INET, limit_s: float = 10.0) -> list[socket.socket]:
    """`count` connections that each sent half a request. Connects are non-blocking, so a daemon
    that stopped accepting cannot stall the test; a connect refused for a full backlog (EAGAIN on
    a unix socket) is tried again; those not connected within `limit_s` are dropped."""
    selector = selectors.DefaultSelector()
    connected: list[socket.socket] = []
    to_start = count
    deadline = time.monotonic() + limit_s
    while (to_start or selector.get_map()) and time.monotonic() < deadline:
        while to_start:
            sock = socket.socket(family, socket.SOCK_STREAM)
            sock.setblocking(False)
            result = sock.connect_ex(address)
            if result not in (0, errno.EINPROGRESS):
                sock.close()
                break  # backlog full: let the daemon accept some first
            selector.register(sock, selectors.EVENT_WRITE)
            to_start -= 1
        for key, _ in selector.select(timeout=0.02):
            sock = key.fileobj
            selector.unregister(sock)
            try:
                if sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0:
                    sock.send(HALF_REQUEST)
                    connected.append(sock)
                    continue
            except OSError:
                pass
            sock.close()
    for key in list(selector.get_map().values()):
        key.fileobj.close()
    selector.close()
    return connected


def still_open(sockets: list[socket.socket]) -> int:
    count = 0
    for sock in sockets:
        try:
            count += sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) != b""
        except BlockingIOError:
            count += 1
        except OSError:
            pass
    return count


def test_healthz_and_status_answer_while_1500_slow_clients_connect_under_a_low_open_file_limit(daemon_factory):
    daemon = daemon_factory()
    daemon.limit_open_files(256)  # the API may use a quarter: 64 connections
    log_before = len(daemon.log_bytes())
    attack = open_half_requests(("127.0.0.1", daemon.port), 1500)
    try:
        assert len(attack) > 256  # more than the daemon could hold
        latencies = []
        for _ in range(10):
            latencies.append(healthz_seconds(daemon.port, 5.0))
            time.sleep(0.2)
        assert None not in latencies and max(latencies) < 2.0, latencies
        status = daemon.status()
        assert status.returncode == 0, status.stderr
        assert json.loads(status.stdout)["source"] == "daemon"  # not the embedded store's fallback
        assert daemon.sockets() <= 64 + 16, daemon.sockets()  # the cap plus listeners, probes, status
        assert still_open(attack) <= 64
        grown = daemon.log_bytes()[log_before:]
        assert len(grown) < 2000 and grown.count(b"\n") <= 5, grown[:2000]
    finally:
        for sock in attack:
            sock.close()


def test_accept_failing_for_want_of_descriptors_logs_a_line_per_interval_and_does_not_spin(daemon_factory):
    daemon = daemon_factory()
    # Four descriptors to spare: accept() fails with EMFILE before the connection cap (a quarter
    # of the limit) is reached, as when probes or outputs hold the rest.
    daemon.limit_open_files(daemon.descriptors() + 4)
    log_before = len(daemon.log_bytes())
    cpu_before = daemon.cpu_seconds()
    attack = open_half_requests(("127.0.0.1", daemon.port), 300)
    try:
        started = time.monotonic()
        answered = []
        while time.monotonic() - started < 6:
            answered.append(healthz_seconds(daemon.port, 5.0))
            time.sleep(0.3)
        cpu = daemon.cpu_seconds() - cpu_before
        grown = daemon.log_bytes()[log_before:]
        lines = grown.decode(errors="replace").splitlines()
        assert len(lines) <= 4 and len(grown) < 2000, lines[:10]
        assert any("cannot accept a connection" in line and "open-file limit" in line for line in lines), lines
        # A spinning accept loop burns a core; waiting for descriptors costs next to nothing.
        assert cpu < 0.5 * (time.monotonic() - started), cpu
        assert sum(latency is not None for latency in answered) >= len(answered) - 1, answered
    finally:
        for sock in attack:
            sock.close()


def test_status_answers_while_slow_clients_hold_the_control_socket(daemon_factory):
    daemon = daemon_factory()
    daemon.limit_open_files(128)
    log_before = len(daemon.log_bytes())
    attack = open_half_requests(daemon.control_socket, 300, family=socket.AF_UNIX)
    try:
        assert len(attack) > 128
        for _ in range(3):
            status = daemon.status()
            assert status.returncode == 0, status.stderr
            assert json.loads(status.stdout)["source"] == "daemon"  # not the embedded store's fallback
        assert still_open(attack) <= 32  # the control socket's cap
        grown = daemon.log_bytes()[log_before:]
        assert len(grown) < 2000, grown[:2000]
    finally:
        for sock in attack:
            sock.close()


def test_control_characters_in_request_paths_reach_the_log_escaped(daemon_factory):
    daemon = daemon_factory(log_level="debug")
    port = daemon.port
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        # A wrong token is logged with the path at WARNING; every request is in the DEBUG access log.
        sock.sendall(b"POST /api/v1/faults/1%1b[31mred%00nul%0a2026-01-01T00:00:00.000%20error%20forged/ack "
                     b"HTTP/1.1\r\n"
                     b"Host: netvigil\r\nAuthorization: Bearer wrong-token-0123456789\r\nContent-Length: 0\r\n"
                     b"Connection: close\r\n\r\n")
        assert sock.makefile("rb").readline().startswith(b"HTTP/1.1 401")
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"GET /nowhere%1b]0;title%07%00%c2%85 HTTP/1.1\r\nHost: netvigil\r\nConnection: close\r\n\r\n")
        assert sock.makefile("rb").readline().startswith(b"HTTP/1.1 404")
    wait_until(lambda: b"/nowhere" in daemon.log_bytes(), 10, what="the access log line")
    raw = daemon.log_bytes()
    assert b"\x1b" not in raw and b"\x00" not in raw and b"\x07" not in raw and "\x85".encode() not in raw
    lines = raw.decode().splitlines()
    warning = [line for line in lines if "wrong token" in line]
    assert len(warning) == 1
    assert "/api/v1/faults/1\\x1b[31mred\\x00nul\\n2026-01-01T00:00:00.000 error forged/ack" in warning[0]
    assert not any(line.startswith("2026-01-01T00:00:00.000 error forged") for line in lines)
    assert any("/nowhere\\x1b]0;title\\x07\\x00\\x85 404" in line for line in lines), \
        [line for line in lines if "nowhere" in line]
