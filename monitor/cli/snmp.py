"""SNMP commands for people: `netvigil probe DEVICE --kind snmp`, `netvigil snmp walk DEVICE [OID]`.

They use the daemon's own code (client, poller, profiles) with the device's effective
settings from the inventory, so what they show is what the daemon would do. Credentials
come from the configuration's secret sources and are never printed.

Exit codes: 0 the agent answered, 1 it did not (or answered with an error), 2 configuration.
"""

from __future__ import annotations

import asyncio
import json
import sys

from monitor import words
from monitor.cli.common import Refused as _Refused, load_config as _config, run as _run
from monitor.i18n import _
from monitor.problems import EXIT_CONFIG, EXIT_OK, EXIT_RUNTIME
from probes.snmp import profiles as snmp_profiles
from probes.names import NameCache
from probes.snmp.poller import SnmpPoller
from probes.snmp.ber import Kind, OidError, Value, canonical_oid
from probes.snmp.client import ErrorKind, RequestOptions, SnmpClient, SnmpError, SnmpResult
from probes.snmp.settings import missing_secrets

DEFAULT_WALK_ROOT = "1.3.6.1.2.1"  # mib-2, as snmpwalk does without an OID


def _device(args):
    """(config, device) for a device name; SNMP needs the inventory for its credential."""
    if args.config is None:
        raise _Refused(f"netvigil {args.command_key}: SNMP needs the device's credential: give -c SETTINGS and a "
                       "device name from its inventory", EXIT_CONFIG)
    cfg = _config(args.config)
    device = cfg.inventory.by_name(args.target)
    if device is None:
        raise _Refused(f"netvigil {args.command_key}: no device named {args.target!r} in the inventory of "
                       f"{args.config}", EXIT_CONFIG)
    if device.snmp.credential is None:
        raise _Refused(f"netvigil {args.command_key}: device {device.name!r} has no SNMP credential; set "
                       f"probes.snmp.credential, or snmp: {{credential: NAME}} for its class, site or the device "
                       f"({device.source})", EXIT_CONFIG)
    missing = missing_secrets(device.snmp, {device.snmp.credential})
    if missing:
        raise _Refused("\n".join(missing), EXIT_CONFIG)
    return cfg, device


# -- netvigil probe DEVICE --kind snmp -------------------------------------------------------------

def probe_command(args) -> int:
    return _run(_probe, args)


def _probe(args) -> int:
    cfg, device = _device(args)
    result = asyncio.run(_poll_twice(cfg, device))
    samples = result.samples
    status = samples[-1].fields
    if args.json:
        print(json.dumps({
            "device": device.name, "address": device.address, "kind": "snmp",
            "sys_object_id": result.sys_object_id, "profiles": list(result.profiles),
            "empty_profiles": list(result.empty),
            "error": result.error.detail if result.error else None,
            "samples": [{"measurement": s.measurement, "tags": dict(s.tags), "fields": dict(s.fields)}
                        for s in samples]}, ensure_ascii=False))
    else:
        print(_describe(device, result))
    return EXIT_OK if status["up"] and not status["result_code"] else EXIT_RUNTIME


async def _poll_twice(cfg, device):
    """Rates need two readings: a second poll 1 s after the first when counters are involved."""
    settings = device.snmp
    client = SnmpClient(max_in_flight_per_agent=settings.max_in_flight_per_device)
    try:
        poller = SnmpPoller(client, snmp_profiles.load_all([snmp_profiles.PACKAGED_PROFILES,
                                                             *settings.profile_dirs]))
        result = await poller.poll(device.target(), settings)
        if result.error is None and any(column.kind == "counter" for profile in poller.profiles.values()
                                        if profile.name in result.profiles
                                        for table in profile.tables for column in table.columns):
            await asyncio.sleep(1.0)
            result = await poller.poll(device.target(), settings)
        return result
    finally:
        client.close()


_BASE_TAGS = frozenset({"device", "address", "class", "site"})


def _describe(device, result) -> str:
    status = result.samples[-1].fields
    lines = [_("{device} ({address}): SNMP {state}, {requests} requests, {varbinds} varbinds, {ms} ms").format(
        device=device.name, address=device.address, state=words.reachability("up" if status["up"] else "down"),
        requests=status["requests"], varbinds=status["varbinds"], ms=f"{status['duration_ms']:.1f}")]
    if result.sys_object_id:
        lines.append(f"  sysObjectID {result.sys_object_id}")
    lines.append(_("  profiles: {names}").format(names=", ".join(result.profiles) or _("none")))
    if result.empty:
        # A profile that fits the device finds something; these did not (wrong class or vendor?).
        lines.append(_("  found nothing on this agent: {names}").format(names=", ".join(result.empty)))
    if result.error is not None:
        lines.append(_("  error: {detail}").format(detail=result.error.detail))
    site_levels = set(device.sample_tags) - _BASE_TAGS
    for sample in result.samples[:-1]:
        own_tags = {k: v for k, v in sample.tags.items() if k not in _BASE_TAGS and k not in site_levels}
        tags = " ".join(f"{k}={v}" for k, v in own_tags.items() if len(v) <= 60)
        fields = " ".join(f"{k}={v}" for k, v in sample.fields.items())
        lines.append(f"  {sample.measurement}{' ' + tags if tags else ''}: {fields}")
    return "\n".join(lines)


# -- netvigil snmp walk DEVICE [OID] ---------------------------------------------------------------

def walk_command(args) -> int:
    return _run(_walk, args)


def _walk(args) -> int:
    try:
        root = canonical_oid(args.oid or DEFAULT_WALK_ROOT)
    except OidError as exc:
        print(f"netvigil snmp walk: {args.oid!r} is not a numeric OID ({exc}); no MIBs are loaded, so give it "
              "in dotted numbers, e.g. 1.3.6.1.2.1.2.2", file=sys.stderr)
        return EXIT_CONFIG
    cfg, device = _device(args)
    result = asyncio.run(_walk_device(device, root))
    for oid, value in result.varbinds:
        print(f"{oid} = {render(value)}")
    if result.error is not None:
        print(f"netvigil snmp walk: {device.name}: {result.error.kind.value}: {result.error.detail}", file=sys.stderr)
        return EXIT_RUNTIME
    if result.fallback:
        print(f"note: {result.fallback}", file=sys.stderr)
    if not result.varbinds:
        print(f"netvigil snmp walk: {device.name}: nothing under {root}", file=sys.stderr)
    return EXIT_OK


async def _walk_device(device, root: str):
    settings = device.snmp
    address = device.address
    resolved = await NameCache().resolve([address])
    ip, error = resolved[address]
    if ip is None:
        return SnmpResult(error=SnmpError(ErrorKind.BAD_ADDRESS, error.detail))
    client = SnmpClient()
    try:
        options = RequestOptions(settings.timeout_s, settings.retries, settings.max_varbinds_per_request,
                                 settings.max_repetitions, settings.use_getbulk, max_walk_varbinds=1_000_000)
        agent = settings.credentials[settings.credential].agent(ip, settings.port)
        return await client.walk(agent, root, options)
    finally:
        client.close()


def render(value: Value) -> str:
    """A value the way snmpwalk shows it (numeric OIDs, no MIBs)."""
    kind, raw = value.kind, value.value
    if kind is Kind.OCTETS or kind is Kind.OPAQUE:
        try:
            text = raw.decode("utf-8")
            if text.isprintable():
                return f'STRING: "{text}"'
        except UnicodeDecodeError:
            pass
        return "Hex-STRING: " + " ".join(f"{b:02X}" for b in raw)
    if kind is Kind.OID:
        return f"OID: .{raw}"
    if kind is Kind.TIMETICKS:
        seconds = raw // 100
        return f"Timeticks: ({raw}) {seconds // 86400} days, {seconds % 86400 // 3600}:{seconds % 3600 // 60:02d}:" \
               f"{seconds % 60:02d}.{raw % 100:02d}"
    names = {Kind.INTEGER: "INTEGER", Kind.COUNTER32: "Counter32", Kind.GAUGE32: "Gauge32",
             Kind.COUNTER64: "Counter64", Kind.IPADDRESS: "IpAddress"}
    if kind in names:
        return f"{names[kind]}: {raw}"
    return {Kind.NULL: "NULL", Kind.NOSUCHOBJECT: "No Such Object available on this agent at this OID",
            Kind.NOSUCHINSTANCE: "No Such Instance currently exists at this OID",
            Kind.ENDOFMIBVIEW: "No more variables left in this MIB View"}.get(kind, str(raw))
