"""`netvigil probe TARGET`: probe one device or bare address once and print the result.

Exit code like ping(8): 0 when the target answered, 1 when it did not (or the probe could
not run), 2 for a configuration problem.
"""

from __future__ import annotations

import asyncio
import json
import sys

from monitor import words
from monitor.i18n import N_, _
from monitor.problems import EXIT_CONFIG, EXIT_OK, EXIT_RUNTIME
from probes.icmp import pinger as icmp
from probes.base import ResultCode, Target
from probes.icmp.settings import IcmpSettings

DEFAULT_COUNT_WITHOUT_CONFIG = 5


def _with(settings: IcmpSettings, **changes) -> IcmpSettings:
    """A validated copy (model_copy would skip the limits, e.g. count <= 1000)."""
    values = {**settings.model_dump(), **changes}
    # A one-shot probe is not bound by the daemon's interval: make room for the run.
    span = (values["count"] - 1) * values["echo_interval_ms"] / 1000 + values["timeout_s"]
    values["interval_s"] = max(values["interval_s"], span + 1)
    return IcmpSettings.model_validate(values)


def _target_and_settings(args) -> tuple[Target, IcmpSettings]:
    """From the inventory when a config is given and names the device, else a bare address."""
    if args.config is not None:
        # Imported on use: a bare address needs no settings, and they cost ~270 ms of start-up.
        from monitor import config as config_module

        cfg = config_module.load(args.config)  # ConfigError is handled by the caller
        device = cfg.inventory.by_name(args.target)
        if device is not None:
            settings = device.icmp
            if args.count:
                settings = _with(settings, count=args.count)
            return device.target(), settings
        settings = cfg.settings.probes.icmp
    else:
        settings = IcmpSettings()
    # A bare address or host name: a short, quick run unless --count says otherwise.
    count = args.count or (settings.count if args.config is not None else DEFAULT_COUNT_WITHOUT_CONFIG)
    settings = _with(settings, count=count, echo_interval_ms=min(settings.echo_interval_ms, 200))
    return Target(device=args.target, address=args.target, tags={"device": args.target, "address": args.target}), settings


async def _probe(target: Target, settings: IcmpSettings) -> tuple[str, dict, list]:
    pinger = icmp.Pinger(settings.mode, settings.payload_bytes, settings.max_rate_pps)
    mode = pinger.open()
    errors = []
    try:
        await pinger.start()
        samples = await icmp.probe(pinger, [target], settings, on_error=lambda _t, e: errors.append(e.detail))
    finally:
        pinger.close()
    return mode, dict(samples[0].fields), errors


def probe_command(args) -> int:
    # The other kinds' modules are imported on use: an ICMP probe need not load the SNMP engine,
    # nor asyncssh and netmiko.
    if args.kind == "snmp":
        from monitor.cli import snmp

        return snmp.probe_command(args)
    if args.kind == "ssh":
        from monitor.cli import ssh

        return ssh.probe_command(args)
    if args.kind != "icmp":
        return _probe_kind(args)
    if args.count is not None and not 1 <= args.count <= 1000:
        print("netvigil probe: --count must be between 1 and 1000", file=sys.stderr)
        return EXIT_CONFIG
    try:
        target, settings = _target_and_settings(args)
    except Exception as exc:  # ConfigError carries every problem, one per line
        problems = getattr(exc, "problems", None)
        if problems is None:
            raise
        for problem in problems:
            print(problem, file=sys.stderr)
        return EXIT_CONFIG
    try:
        mode, fields, errors = asyncio.run(_probe(target, settings))
    except icmp.IcmpPermissionError as exc:
        print(f"netvigil probe: {exc}", file=sys.stderr)
        return EXIT_RUNTIME
    if args.json:
        print(json.dumps({"device": target.device, "address": target.address, "kind": "icmp", "mode": mode,
                          "fields": fields, "errors": errors}, ensure_ascii=False))
    else:
        print(_describe(target, fields, errors, mode))
    return EXIT_OK if fields["up"] else EXIT_RUNTIME


SOCKETS = {"unprivileged": N_("ping sockets"), "privileged": N_("raw sockets")}


def _describe(target: Target, fields: dict, errors: list, mode: str) -> str:
    """One line for people, in the language in force; error sentences stay as the prober wrote them."""
    name = target.device if target.device == target.address else f"{target.device} ({target.address})"
    text = _("{name}: {state}, {received}/{sent} replies, loss {loss} %").format(
        name=name, state=words.reachability("up" if fields["up"] else "down"), received=fields["received"],
        sent=fields["sent"], loss=f"{fields['loss_pct']:.1f}")
    if fields["received"]:
        text += _(", rtt min/avg/max {min}/{avg}/{max} ms, jitter {jitter} ms").format(
            min=f"{fields['rtt_min_ms']:.3f}", avg=f"{fields['rtt_avg_ms']:.3f}", max=f"{fields['rtt_max_ms']:.3f}",
            jitter=f"{fields['jitter_ms']:.3f}")
    elif fields["result_code"] == ResultCode.TIMEOUT:
        text += _(", no reply before the timeout")
    for error in dict.fromkeys(errors):
        text += f"; {error}"
    return _("{text}  [icmp via {sockets}]").format(
        text=text, sockets=_(SOCKETS["unprivileged" if mode == "unprivileged" else "privileged"]))


def _probe_kind(args) -> int:
    """Any other kind of probes/registry.py: its prober, started alone, probes the target once."""
    from probes.base import ProbeContext, ProbeStartError
    from probes.registry import KINDS

    kind = KINDS[args.kind]
    settings, target = kind.settings(), None
    if args.config is not None:
        from monitor import config as config_module

        try:
            cfg = config_module.load(args.config)
        except config_module.ConfigError as exc:
            for problem in exc.problems:
                print(problem, file=sys.stderr)
            return EXIT_CONFIG
        device = cfg.inventory.by_name(args.target)
        settings = getattr(device, kind.name) if device is not None else getattr(cfg.settings.probes, kind.name)
        target = device.target() if device is not None else None
    if target is None:
        target = Target(device=args.target, address=args.target, tags={"device": args.target, "address": args.target})
    if not kind.runs(settings):
        print(f"netvigil probe: {kind.name} is not on for {args.target}; see probes.{kind.name} in the settings "
              f"(or `{kind.name}:` of its class, site or device)", file=sys.stderr)
        return EXIT_CONFIG

    async def once():
        prober = await kind.start(settings, ProbeContext(None, lambda _device: settings))
        try:
            return await prober.probe([target], lambda _device: settings)
        finally:
            prober.close()

    try:
        probed = asyncio.run(once())
    except ProbeStartError as exc:
        print(f"netvigil probe: {exc}", file=sys.stderr)
        return EXIT_RUNTIME
    extra = [{key: value for key, value in sample.tags.items() if key not in target.tags} for sample in probed.samples]
    if args.json:
        print(json.dumps({"device": target.device, "address": target.address, "kind": kind.name,
                          "samples": [{"tags": tags, "fields": dict(sample.fields)}
                                      for tags, sample in zip(extra, probed.samples)],
                          "errors": [error.detail for _kind, error in probed.errors]}, ensure_ascii=False))
    else:
        for tags, sample in zip(extra, probed.samples):
            where = " ".join(f"{key}={value}" for key, value in tags.items())
            fields = ", ".join(f"{key} {value}" for key, value in sample.fields.items())
            print(f"{target.device} {sample.measurement} {where}: {fields}".replace("  ", " "))
        for _kind, error in probed.errors:
            print(f"  {error.detail}")
    return EXIT_OK if probed.samples and all(sample.fields.get("up") for sample in probed.samples) else EXIT_RUNTIME
