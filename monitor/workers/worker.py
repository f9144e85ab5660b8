"""A worker process: probes its share of the inventory and hands every result to the parent.

Started by the parent (monitor/workers/pool.py) as `python -m monitor.workers.worker FD INDEX
CONFIG`, FD being its end of a socketpair. It reads the same configuration files as the
parent, keeps the devices the parent assigns, and runs the probers and their schedule
(monitor/local_probes.py). It writes nothing itself: samples and errors go to the parent,
which owns outputs, spools, rules, fault records, alerts, the API and the control socket, so
there is one writer per output and per database whatever the number of workers.

It stops when the parent says so, on SIGTERM/SIGINT (systemd signals the whole unit), and
when its socket closes (the parent died: a worker must not probe on without anyone listening).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import sys
from pathlib import Path
from typing import Optional, Sequence

from monitor import config as config_module
from monitor import heap, logsetup
from monitor.inventory import Inventory
from monitor.local_probes import LocalProbes
from monitor.problems import EXIT_CONFIG, EXIT_OK, EXIT_RUNTIME
from monitor.workers.channel import STATS_INTERVAL_S, flat_samples, receive, send
from probes.base import Probed

log = logging.getLogger("netvigil")

SHUTDOWN_TIMEOUT_S = 5.0


def restricted(inventory: Inventory, names) -> Inventory:
    """The inventory with only the devices named (sites kept: tags and site defaults need them)."""
    wanted = set(names)
    return Inventory(inventory.sites, tuple(device for device in inventory.devices if device.name in wanted),
                     inventory.files)


class Worker:
    def __init__(self, index: int, config_path: Path, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter) -> None:
        self.index = index
        self.config_path = config_path
        self.reader = reader
        self.writer = writer
        self.cfg: Optional[config_module.Config] = None
        self.names: tuple[str, ...] = ()
        self.watch: Optional[dict] = None
        self.probes = LocalProbes(self._handle)
        self._stop = asyncio.Event()
        self._tasks: set[asyncio.Task] = set()

    def _handle(self, kind: str, probed: Probed) -> None:
        send(self.writer, "probed", kind, flat_samples(probed.samples),
             [(target.device, error.detail) for target, error in probed.errors])

    def _spawn(self, coro) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def run(self) -> int:
        heap.tune()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self._stop.set)
        first = await receive(self.reader)
        if first is None or first[0] != "assign":
            return EXIT_RUNTIME  # the parent went away before assigning anything
        _, self.names, self.watch = first
        try:
            self.cfg = await asyncio.to_thread(config_module.load, self.config_path)
        except config_module.ConfigError as exc:
            # The file changed between the parent's reading and ours: the parent says it.
            send(self.writer, "ready", "; ".join(exc.problems), {})
            await self.writer.drain()
            return EXIT_CONFIG
        settings = self.cfg.settings
        inventory = restricted(self.cfg.inventory, self.names)
        problem = await self.probes.start(settings, inventory, {"config_store": self._config_store}, self.watch,
                                          everyone=self.cfg.inventory)
        send(self.writer, "ready", problem, {"icmp_mode": self.probes.icmp_mode, "devices": len(inventory.devices)})
        if problem is not None:
            await self.writer.drain()
            return EXIT_RUNTIME
        for work in self.probes.after_start():
            self._spawn(work)
        self._spawn(self._report_stats())
        heap.settle()
        listening = asyncio.create_task(self._listen())
        stopping = asyncio.create_task(self._stop.wait())
        await asyncio.wait((listening, stopping), return_when=asyncio.FIRST_COMPLETED)
        listening.cancel()
        stopping.cancel()
        return await self._shutdown()

    async def _listen(self) -> None:
        while True:
            message = await receive(self.reader)
            if message is None:
                log.warning("the parent process is gone; stopping")
                return
            verb = message[0]
            if verb == "stop":
                return
            if verb == "assign":
                _, self.names, self.watch = message
                await self.probes.reconfigure(self.cfg.settings, restricted(self.cfg.inventory, self.names),
                                              self.watch, everyone=self.cfg.inventory)
            elif verb == "reload":
                _, names, watch = message
                await self._reload(names, watch)
            elif verb == "reprobe":
                self._spawn(self._reprobe(message[1], message[2]))

    async def _reload(self, names: Sequence[str], watch: Optional[dict]) -> None:
        try:
            new = await asyncio.to_thread(config_module.load, self.config_path)
        except Exception as exc:  # noqa: BLE001 - the parent validated it; keep probing what we have
            log.error("reload: cannot read the configuration again (%s); still probing with the previous one", exc)
            new = self.cfg
        self.cfg, self.names, self.watch = new, tuple(names), watch
        await self.probes.reconfigure(new.settings, restricted(new.inventory, self.names), watch,
                                      everyone=new.inventory)
        heap.settle()

    async def _reprobe(self, ticket: int, names: Sequence[str]) -> None:
        try:
            await self.probes.reprobe(names)
        finally:  # the samples went first, on the same stream: the parent sees them before this
            send(self.writer, "done", ticket)

    async def _report_stats(self) -> None:
        while True:
            await asyncio.sleep(STATS_INTERVAL_S)
            send(self.writer, "stats", {kind: vars(stats) for kind, stats in self.probes.stats().items()},
                 {kind: vars(window) for kind, window in self.probes.take_window().items()},
                 self.probes.stalled())

    def _config_store(self, rules_for_device):
        from monitor.config_store import ConfigStore  # one lock per device: safe from several processes

        return ConfigStore(self.cfg.settings.state_dir / "configs", rules_for_device=rules_for_device)

    async def _shutdown(self) -> int:
        for task in list(self._tasks):
            task.cancel()
        await self.probes.shutdown(SHUTDOWN_TIMEOUT_S)
        self.probes.close()
        try:
            await self.writer.drain()  # every sample of the runs that finished reaches the parent
            self.writer.close()
        except (ConnectionError, OSError):
            pass
        return EXIT_OK


async def _main(fd: int, index: int, config_path: Path) -> int:
    sock = socket.socket(fileno=fd)
    reader, writer = await asyncio.open_unix_connection(sock=sock)
    return await Worker(index, config_path, reader, writer).run()


def main(argv: Sequence[str]) -> int:
    fd, index, config_path = int(argv[0]), int(argv[1]), Path(argv[2])
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # reloads come from the parent, which got the signal
    logsetup.quiet_third_party_warnings()
    logsetup.configure(argv[3] if len(argv) > 3 else "info", prefix=f"worker {index}: ")
    try:
        return asyncio.run(_main(fd, index, config_path))
    except KeyboardInterrupt:
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
