"""The daemon's control socket: a small HTTP API on a unix socket under the state directory.

`netvigil status` asks it for every device's state (GET /status). A unix socket (not a TCP
port) so that only users who may read the state directory can talk to it, with no port to
configure or firewall.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from pathlib import Path
from typing import Optional

from aiohttp import ClientSession, ClientTimeout, UnixConnector, web

from monitor import listener as listener_module

log = logging.getLogger("netvigil.control")

# `netvigil status` sends its whole request at once and is the only client: a handful of
# connections and a few seconds are plenty. A local user who may reach the socket and holds
# connections open without finishing a request must not lock `status` out (the same slow-client
# protection as the HTTP API, see monitor.listener).
MAX_CONNECTIONS = 32
HEADER_TIMEOUT_S = 10.0


class AlreadyRunning(RuntimeError):
    pass


def _socket_answers(path: Path) -> bool:
    """True if a daemon listens at `path`; PermissionError if we may not ask it."""
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.settimeout(1)
        probe.connect(str(path))
        return True
    except PermissionError:
        raise
    except OSError:
        return False
    finally:
        probe.close()


class ControlServer:
    def __init__(self, path: Path, daemon) -> None:
        self.path = Path(path)
        self.daemon = daemon
        self._runner: Optional[web.AppRunner] = None
        self._listener: Optional[listener_module.Listener] = None

    async def start(self) -> None:
        if self.path.exists():
            if _socket_answers(self.path):
                raise AlreadyRunning(
                    f"another netvigil is already running with control socket {self.path}; "
                    f"stop it, or give this one another state_dir")
            self.path.unlink()  # left over from a daemon that was killed
        sock = listener_module.unix_socket(str(self.path))
        self._listener = listener_module.Listener(
            [sock], max_connections=MAX_CONNECTIONS, header_timeout_s=HEADER_TIMEOUT_S, name="control socket",
            logger=log, limit_hint="the control socket")
        app = web.Application(middlewares=[self._listener.middleware])
        app.router.add_get("/status", self._status)
        self._runner = web.AppRunner(app, access_log=None, keepalive_timeout=HEADER_TIMEOUT_S,
                                     logger=listener_module.HttpErrorLog("control"))
        await self._runner.setup()
        await self._listener.start(self._runner)
        self.path.chmod(0o660)

    async def stop(self) -> None:
        if self._listener is not None:
            await self._listener.stop()
            self._listener = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass

    async def _status(self, request: web.Request) -> web.Response:
        body = {"daemon": self.daemon.summary(), "devices": self.daemon.states.rows()}
        if request.query.get("readings") and getattr(self.daemon, "readings", None) is not None:
            # The inspection record's UPS, sensor and disk values (monitor/reports/readings.py).
            body["readings"] = [reading.to_dict() for reading in self.daemon.readings.rows()]
        return web.json_response(body, dumps=lambda obj: json.dumps(obj, ensure_ascii=False))


async def fetch_status(path: Path, timeout_s: float = 5.0, readings: bool = False) -> dict:
    """GET /status from a running daemon (raises OSError/aiohttp errors if none answers);
    `readings`: with the latest UPS, sensor and disk samples too."""
    async with ClientSession(connector=UnixConnector(path=str(path)),
                             timeout=ClientTimeout(total=timeout_s)) as session:
        async with session.get("http://netvigil/status" + ("?readings=1" if readings else "")) as response:
            response.raise_for_status()
            return await response.json()


def query_status(path: Path, readings: bool = False) -> Optional[dict]:
    """Status from the daemon behind `path`, or None when no daemon answers there."""
    if not Path(path).exists() or not _socket_answers(Path(path)):  # PermissionError goes to the caller
        return None
    return asyncio.run(fetch_status(Path(path), readings=readings))
