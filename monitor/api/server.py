"""The HTTP API (aiohttp): faults, maintenance, status, /healthz, /metrics, /openapi.json.

Every answer is JSON (except /metrics, in the Prometheus text format). Errors are
`{"error": "one sentence"}` with the status that says what went wrong: 400 for a request
that cannot be understood (the sentence names the field or parameter), 401 for a missing or
wrong token, 403 when changes are disabled (no token configured), 404 for an unknown id or
route, 405, 408 for a body slower than api.body_timeout_s, 409 for a change the fault's state
does not allow, 413, 415, 503 while the fault records are locked. A 500 means a bug: it is
logged with its traceback and answered with a fixed sentence, never with the exception's text.

Slow and idle clients: monitor.listener accepts the connections (a cap, a deadline for the
first request head, room made by closing the longest-idle connection, no busy loop when
descriptors run out); aiohttp's keep-alive timeout bounds the wait for later request heads and
`_body` the wait for a body.

Who may do what: /healthz, /metrics and /openapi.json are open (systemd, Prometheus and
people reading the docs have no token); reading faults, maintenance and status is open
unless `api.read_token_required`; every change needs `Authorization: Bearer <api.token>`.
The token is compared in constant time and never logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hmac
import json
import logging
import re
import sqlite3
from dataclasses import dataclass
from importlib import resources
from typing import Annotated, Any, Awaitable, Callable, Optional

import yaml
from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, ValidationError

from monitor import listener as listener_module
from monitor.api import metrics as metrics_module
from monitor.api.service import BadRequest, CannotNow, FaultService, Unavailable
from monitor.api.settings import TOKEN_HOWTO, ApiSettings, is_loopback
from monitor.faults.model import Selector, parse_duration
from monitor.faults.store import FaultError, FaultNotFound, FaultStateError, FaultStoreUnavailable
from monitor.problems import did_you_mean

log = logging.getLogger("netvigil.api")

PREFIX = "/api/v1"
OPENAPI_FILE = "openapi.yaml"
MAX_ID = 2 ** 63 - 1  # SQLite's largest integer: anything above cannot be an id (and would overflow)
DEFAULT_LIMIT, MAX_LIMIT = 200, 10_000
INTERNAL_ERROR = "internal error; see the daemon's log"

_ID = re.compile(r"\A[0-9]{1,30}\Z")
_JSON_TYPES = re.compile(r"\Aapplication/(?:[\w.+-]+\+)?json\Z")


class ApiError(Exception):
    """An answer other than 2xx, with a sentence for people; `close`: close the connection after it."""

    def __init__(self, status: int, sentence: str, headers: Optional[dict[str, str]] = None,
                 close: bool = False) -> None:
        super().__init__(sentence)
        self.status = status
        self.headers = headers or {}
        self.close = close


class ApiStartError(Exception):
    """The API cannot listen (address in use, not permitted); str() is a sentence naming api.listen."""


# -- request bodies --------------------------------------------------------------------------------

def _text(max_length: int) -> Any:
    # Surrounding blanks are dropped; an empty or all-blank value is missing information.
    return Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=max_length)]


Person = _text(100)
Paragraph = _text(20_000)
Duration = Annotated[float, BeforeValidator(parse_duration)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class AckBody(_Body):
    by: Person = Field(..., description="who acknowledges (recorded for the SLA report)")
    note: Optional[Paragraph] = Field(None, description="a note recorded with it")


class ResolveBody(_Body):
    by: Person = Field(..., description="who declares the fault fixed")
    note: Optional[Paragraph] = Field(None, description="a note recorded with it")


class CloseBody(_Body):
    by: Person = Field(..., description="who writes the analysis")
    cause: Paragraph = Field(..., description="what caused the fault")
    resolution: Paragraph = Field(..., description="how it was resolved")
    prevention: Paragraph = Field(..., description="what prevents it from happening again")


class NoteBody(_Body):
    author: Person = Field(..., description="who writes the note")
    text: Paragraph = Field(..., description="the note")


class MaintenanceBody(_Body):
    name: _text(200) = Field(..., description="shown in fault records and status")
    match: Selector = Field(..., description="devices it covers: devices, sites, classes, tags")
    start: Optional[str] = Field(None, description="ISO 8601; default now; without an offset: local time")
    end: Optional[str] = Field(None, description="ISO 8601; give end or duration")
    duration: Optional[Duration] = Field(None, description='e.g. "2h", "90m" or seconds; give end or duration')
    by: Person = Field(..., description="who adds the window")


class EndMaintenanceBody(_Body):
    by: Person = Field(..., description="who ends the window")


class RollcallBody(_Body):
    classes: Optional[list[_text(50)]] = Field(None, description="device classes to call (default: mcu, codec, phone)")
    site: Optional[_text(200)] = Field(None, description="only endpoints at this site or below it")
    name: Optional[_text(200)] = Field(None, description="the meeting's name, kept with the record")


# -- routes ----------------------------------------------------------------------------------------

OPEN, READ, CHANGE = "open", "read", "change"


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    handler: str  # ApiServer method name
    access: str  # OPEN | READ | CHANGE


# The whole API in one table: the docs test compares it with openapi.yaml both ways.
ROUTES = (
    Route("GET", "/healthz", "healthz", OPEN),
    Route("GET", "/metrics", "metrics", OPEN),
    Route("GET", "/openapi.json", "openapi", OPEN),
    Route("GET", f"{PREFIX}/faults", "list_faults", READ),
    Route("GET", f"{PREFIX}/faults/{{id}}", "show_fault", READ),
    Route("POST", f"{PREFIX}/faults/{{id}}/ack", "acknowledge", CHANGE),
    Route("POST", f"{PREFIX}/faults/{{id}}/resolve", "resolve", CHANGE),
    Route("POST", f"{PREFIX}/faults/{{id}}/close", "close", CHANGE),
    Route("POST", f"{PREFIX}/faults/{{id}}/notes", "add_note", CHANGE),
    Route("GET", f"{PREFIX}/maintenance", "list_maintenance", READ),
    Route("POST", f"{PREFIX}/maintenance", "add_maintenance", CHANGE),
    Route("POST", f"{PREFIX}/maintenance/{{id}}/end", "end_maintenance", CHANGE),
    Route("GET", f"{PREFIX}/status", "status", READ),
    Route("GET", f"{PREFIX}/budget", "budget", READ),
    Route("POST", f"{PREFIX}/rollcall", "rollcall", CHANGE),
)


def load_openapi(public_url: Optional[str] = None) -> dict:
    """The OpenAPI document shipped in this package (YAML, served as JSON)."""
    text = resources.files("monitor.api").joinpath(OPENAPI_FILE).read_text(encoding="utf-8")
    document = yaml.safe_load(text)
    if public_url:
        document["servers"] = [{"url": public_url}]
    return document


class _QuietAccessLog(AbstractAccessLogger):
    """One debug line per request: method, path (no query), status, time. Bodies and headers
    (the token) never reach the log."""

    def log(self, request, response, time: float) -> None:
        if self.logger.isEnabledFor(logging.DEBUG):
            self.logger.debug("api: %s %s %s %d %.3fs", request.remote, request.method, request.path[:200],
                              response.status, time)

    @property
    def enabled(self) -> bool:
        return self.logger.isEnabledFor(logging.DEBUG)


def _error(status: int, sentence: str, headers: Optional[dict] = None) -> web.Response:
    return web.json_response({"error": sentence}, status=status, headers=headers)


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=lambda value: json.dumps(value, ensure_ascii=False))


def _shown(text: str, limit: int = 60) -> str:
    return repr(text if len(text) <= limit else text[:limit - 3] + "...")


def _http_exception_sentence(exc: web.HTTPException, request: web.Request, max_body: int) -> str:
    path = request.path if len(request.path) <= 100 else request.path[:97] + "..."
    if exc.status == 404:
        return f"no such route: {request.method} {path}; GET /openapi.json lists the routes"
    if exc.status == 405:
        allowed = exc.headers.get("Allow", "")
        return f"{request.method} is not allowed on {path}; use {allowed or 'another method'}"
    if exc.status == 413:
        return f"the request body is larger than {max_body} bytes (api.max_body_bytes)"
    return exc.reason or f"HTTP {exc.status}"


class ApiServer:
    """The API on `settings.listen`. `await start()`, `await stop()`; `port` once started."""

    def __init__(self, settings: ApiSettings, service: FaultService) -> None:
        self.settings = settings
        self.service = service
        self._token = settings.token.get_secret_value().encode() if settings.token is not None else None
        self._openapi = json.dumps(load_openapi(settings.public_url), ensure_ascii=False).encode()
        self._fault_counts: Optional[dict] = None  # read for the scrape under way
        self._registry = metrics_module.registry_for(lambda: service.metrics(self._fault_counts))
        self._runner: Optional[web.AppRunner] = None
        self._listener: Optional[listener_module.Listener] = None
        self.app = self._build_app()

    def _build_app(self) -> web.Application:
        app = web.Application(client_max_size=self.settings.max_body_bytes,
                              middlewares=[self._track_connection, self._errors])
        for route in ROUTES:
            app.router.add_route(route.method, route.path, self._guarded(route))
        return app

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        host, port = self.settings.host, self.settings.port
        try:
            sockets = listener_module.tcp_sockets(host, port)
        except OSError as exc:
            raise ApiStartError(f"api.listen {self.settings.listen}: cannot listen: {exc.strerror or exc}; "
                                f"choose another address or port, or stop what uses it") from None
        # The keep-alive timeout is aiohttp's own limit on the wait for every request head after
        # the first (the listener times the first one).
        self._runner = web.AppRunner(self.app, access_log_class=_QuietAccessLog, access_log=log,
                                     shutdown_timeout=5.0, keepalive_timeout=self.settings.header_timeout_s,
                                     logger=listener_module.HttpErrorLog("api"))
        try:
            await self._runner.setup()
        except BaseException:
            for sock in sockets:
                sock.close()
            raise
        self._listener = listener_module.Listener(
            sockets, max_connections=self.settings.max_connections, header_timeout_s=self.settings.header_timeout_s,
            name="api", logger=log, limit_hint="api.max_connections")
        await self._listener.start(self._runner)
        log.info("api: listening on http://%s%s", self.settings.listen.rsplit(":", 1)[0] + f":{self.port}",
                 "" if is_loopback(host) else " (not loopback: reachable from other machines)")

    async def stop(self) -> None:
        if self._listener is not None:
            await self._listener.stop()
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    def reconfigure(self, settings: ApiSettings) -> list[str]:
        """Apply a reload: the token, read_token_required and public_url change at once (a
        rotated token works without a restart); returns the keys that need a restart to change
        (listen, max_body_bytes, header_timeout_s, enabled), for the daemon to log."""
        needs_restart = [key for key in ("enabled", "listen", "max_body_bytes", "header_timeout_s")
                         if getattr(settings, key) != getattr(self.settings, key)]
        self.settings = settings.model_copy(update={key: getattr(self.settings, key) for key in needs_restart})
        self._token = settings.token.get_secret_value().encode() if settings.token is not None else None
        self._openapi = json.dumps(load_openapi(settings.public_url), ensure_ascii=False).encode()
        if self._listener is not None:
            self._listener.max_connections = self.settings.max_connections
        return [f"api.{key}" for key in needs_restart]

    @property
    def port(self) -> int:
        if self._runner is None or self._listener is None:
            raise RuntimeError("the API server is not started")
        return self._listener.sockets[0].getsockname()[1]

    @property
    def listener(self) -> Optional[listener_module.Listener]:
        return self._listener

    # -- the frame every request passes ---------------------------------------------------------

    @web.middleware
    async def _track_connection(self, request: web.Request, handler) -> web.StreamResponse:
        # The app exists before the listener (which is made at start): pass through until then.
        if self._listener is None:
            return await handler(request)
        return await self._listener.middleware(request, handler)

    @web.middleware
    async def _errors(self, request: web.Request, handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except ApiError as exc:
            response = _error(exc.status, str(exc), exc.headers)
            if exc.close:
                response.force_close()
            return response
        except FaultNotFound as exc:
            return _error(404, str(exc))
        except FaultStoreUnavailable as exc:  # PostgreSQL unreachable or busy: a moment, not a bad request
            log.warning("api: %s %s: %s", request.method, request.path, exc)
            return _error(503, str(exc), {"Retry-After": "5"})
        except FaultStateError as exc:
            return _error(409, str(exc))
        except (FaultError, BadRequest) as exc:
            return _error(400, str(exc))
        except Unavailable as exc:
            return _error(404, str(exc))
        except CannotNow as exc:
            return _error(503, str(exc))
        except sqlite3.OperationalError as exc:  # e.g. the CLI holds the write lock past busy_timeout
            log.warning("api: %s %s: fault records unavailable: %s", request.method, request.path, exc)
            return _error(503, f"the fault records are busy or unavailable ({exc}); try again shortly",
                          {"Retry-After": "5"})
        except web.HTTPException as exc:  # the router's 404 / 405, the body limit's 413
            if exc.status < 400:
                raise
            headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
            return _error(exc.status, _http_exception_sentence(exc, request, self.settings.max_body_bytes), headers)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - a bug: logged in full, answered without details
            log.exception("api: %s %s failed", request.method, request.path[:200])
            return _error(500, INTERNAL_ERROR)

    def _guarded(self, route: Route) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        handler = getattr(self, route.handler)

        async def guarded(request: web.Request) -> web.StreamResponse:
            if route.access == CHANGE or (route.access == READ and self.settings.read_token_required):
                self._authorize(request, route.access)
            return await handler(request)

        guarded.__name__ = route.handler
        return guarded

    def _authorize(self, request: web.Request, access: str) -> None:
        if self._token is None:
            what = "changes are" if access == CHANGE else "reading is"
            raise ApiError(403, f"{what} disabled because no api.token is configured; {TOKEN_HOWTO}")
        challenge = {"WWW-Authenticate": 'Bearer realm="netvigil"'}
        header = request.headers.get("Authorization", "")
        scheme, _, presented = header.strip().partition(" ")
        if scheme.lower() != "bearer" or not presented.strip():
            raise ApiError(401, "this needs the API token: send the header `Authorization: Bearer TOKEN` "
                                "(the token is api.token)", challenge)
        if not hmac.compare_digest(presented.strip().encode("utf-8", "replace"), self._token):
            log.warning("api: wrong token from %s for %s %s", request.remote, request.method, request.path[:200])
            raise ApiError(401, "the API token is wrong; send the one configured as api.token", challenge)

    # -- request parsing ------------------------------------------------------------------------

    @staticmethod
    def _id(request: web.Request, what: str) -> int:
        text = request.match_info["id"]
        if not _ID.match(text):
            raise ApiError(400, f"{what} id {_shown(text)} is not a positive whole number")
        number = int(text)
        if number < 1 or number > MAX_ID:
            shown = text if len(text) <= 30 else text[:27] + "..."
            raise ApiError(404, f"there is no {what} {shown}")
        return number

    async def _body(self, request: web.Request, model: type[_Body]) -> Any:
        if request.content_length is not None and request.content_length > self.settings.max_body_bytes:
            raise web.HTTPRequestEntityTooLarge(max_size=self.settings.max_body_bytes,
                                                actual_size=request.content_length)
        content_type = request.headers.get("Content-Type")
        if content_type is not None and not _JSON_TYPES.match(request.content_type):
            raise ApiError(415, f"the body must be JSON sent with Content-Type: application/json "
                                f"(got {_shown(request.content_type, 40)})")
        waiting = self._listener.waiting_on_client(request) if self._listener else contextlib.nullcontext()
        try:
            with waiting:  # a slow body may be closed to make room, like a slow request head
                async with asyncio.timeout(self.settings.body_timeout_s):
                    raw = await request.read()  # raises 413 past client_max_size, also for chunked bodies
        except TimeoutError:
            raise ApiError(408, f"the request body did not arrive within {self.settings.body_timeout_s:g} s "
                                f"(api.body_timeout_s); send it at once", close=True) from None
        except ConnectionError:
            # The client went away (or its connection was closed to make room) mid-body: nobody
            # reads this answer, and a traceback per such client would let clients flood the log.
            raise ApiError(400, "the connection closed before the request body arrived", close=True) from None
        except web.RequestPayloadError:
            raise ApiError(400, "the request body could not be read (broken chunked encoding or compression)",
                           close=True) from None
        example = json.dumps({name: "..." for name, field in model.model_fields.items() if field.is_required()})
        if not raw.strip():
            raise ApiError(400, f"the request needs a JSON body like {example}")
        try:
            data = json.loads(raw.decode("utf-8"), parse_constant=_no_constant)
        except UnicodeDecodeError:
            raise ApiError(400, "the body is not UTF-8 text") from None
        except json.JSONDecodeError as exc:
            raise ApiError(400, f"the body is not valid JSON: {exc.msg} at line {exc.lineno} "
                                f"column {exc.colno}") from None
        except (ValueError, RecursionError):  # NaN/Infinity, a number with thousands of digits, deep nesting
            raise ApiError(400, "the body is not JSON this API accepts (no NaN or Infinity, numbers of "
                                "reasonable size, not nested hundreds deep)") from None
        if not isinstance(data, dict):
            raise ApiError(400, f"the body must be a JSON object like {example}, not {_json_kind(data)}")
        try:
            return model.model_validate(data, strict=True)
        except ValidationError as exc:
            raise ApiError(400, _validation_sentence(exc, model)) from None

    @staticmethod
    def _query(request: web.Request, known: tuple[str, ...]) -> dict[str, str]:
        query = {}
        for key in request.query:
            if key not in known:
                hint = did_you_mean(key, known) or f" (known: {', '.join(known) or 'none'})"
                raise ApiError(400, f"unknown query parameter {_shown(key, 40)}{hint}")
            values = request.query.getall(key)
            if len(values) > 1:
                raise ApiError(400, f"query parameter {key} is given {len(values)} times; give it once")
            query[key] = values[0]
        return query

    # -- handlers -------------------------------------------------------------------------------

    async def healthz(self, request: web.Request) -> web.Response:
        healthy, body = self.service.health()
        return _json(body, 200 if healthy else 503)

    async def metrics(self, request: web.Request) -> web.Response:
        self._fault_counts = await self.service.call(self.service.fault_counts)
        body = metrics_module.render(self._registry)
        return web.Response(body=body, headers={"Content-Type": metrics_module.CONTENT_TYPE})

    async def openapi(self, request: web.Request) -> web.Response:
        return web.Response(body=self._openapi, content_type="application/json")

    async def list_faults(self, request: web.Request) -> web.Response:
        query = self._query(request, ("open", "site", "device", "since", "limit"))
        open_only = _flag(query, "open")
        limit = _limit(query)
        since = _since(query.get("since"), self.service.zone)
        faults = await self.service.call(self.service.list_faults, open_only=open_only, site=query.get("site") or None,
                                         device=query.get("device") or None, since=since, limit=limit)
        return _json({"faults": faults, "count": len(faults), "limit": limit})

    async def show_fault(self, request: web.Request) -> web.Response:
        self._query(request, ())
        return _json(await self.service.call(self.service.get_fault, self._id(request, "fault")))

    async def acknowledge(self, request: web.Request) -> web.Response:
        fault_id = self._id(request, "fault")
        body = await self._body(request, AckBody)
        return _json(await self.service.call(self.service.acknowledge, fault_id, body.by, body.note))

    async def resolve(self, request: web.Request) -> web.Response:
        fault_id = self._id(request, "fault")
        body = await self._body(request, ResolveBody)
        return _json(await self.service.call(self.service.resolve, fault_id, body.by, body.note))

    async def close(self, request: web.Request) -> web.Response:
        fault_id = self._id(request, "fault")
        body = await self._body(request, CloseBody)
        return _json(await self.service.call(self.service.close, fault_id, body.by, cause=body.cause,
                                             resolution=body.resolution, prevention=body.prevention))

    async def add_note(self, request: web.Request) -> web.Response:
        fault_id = self._id(request, "fault")
        body = await self._body(request, NoteBody)
        return _json(await self.service.call(self.service.add_note, fault_id, body.author, body.text), status=201)

    async def list_maintenance(self, request: web.Request) -> web.Response:
        query = self._query(request, ("all",))
        windows = await self.service.call(self.service.list_maintenance, include_ended=_flag(query, "all"))
        return _json({"windows": windows})

    async def add_maintenance(self, request: web.Request) -> web.Response:
        body = await self._body(request, MaintenanceBody)
        window = await self.service.call(self.service.add_maintenance, body.name, body.match, start=body.start,
                                         end=body.end, duration_s=body.duration, by=body.by)
        return _json(window, status=201)

    async def end_maintenance(self, request: web.Request) -> web.Response:
        window_id = self._id(request, "maintenance window")
        body = await self._body(request, EndMaintenanceBody)
        return _json(await self.service.call(self.service.end_maintenance, window_id, body.by))

    async def status(self, request: web.Request) -> web.Response:
        self._query(request, ())
        return _json(self.service.status())

    async def budget(self, request: web.Request) -> web.Response:
        self._query(request, ())
        return _json(await self.service.call(self.service.budget))

    async def rollcall(self, request: web.Request) -> web.Response:
        body = await self._body(request, RollcallBody)
        return _json(await self.service.rollcall(body.classes, body.site, body.name))


# -- small parsers ----------------------------------------------------------------------------------

def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number this API accepts")


def _json_kind(value: Any) -> str:
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "a string"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true or false"
    return "a number"


# pydantic error types in JSON words (a body is JSON, so: string, number, object, list)
_WORDS = {
    "string_type": "must be a string", "float_type": "must be a number", "float_parsing": "must be a number",
    "int_type": "must be a whole number", "bool_type": "must be true or false", "list_type": "must be a list",
    "model_type": "must be an object", "model_attributes_type": "must be an object", "dict_type": "must be an object",
}


def _field_words(error: dict, model: type[BaseModel]) -> str:
    kind, ctx = error["type"], error.get("ctx") or {}
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        known = _known_fields(model, tuple(error["loc"])[:-1])
        return "is not a field here" + (did_you_mean(str(error["loc"][-1]), known)
                                        or f" (fields: {', '.join(known)})")
    if kind == "string_too_short":
        return "must not be empty"
    if kind == "string_too_long":
        return f"is longer than {ctx.get('max_length')} characters"
    if kind in ("value_error", "assertion_error"):
        return str(ctx.get("error") or error["msg"])
    if kind in _WORDS:
        return _WORDS[kind]
    message = error["msg"]  # pydantic's words never quote the input
    return message[:1].lower() + message[1:]


def _known_fields(model: type[BaseModel], loc: tuple) -> list[str]:
    """Field names of the (nested) model at `loc`, for "did you mean"."""
    for part in loc:
        field = model.model_fields.get(part) if isinstance(part, str) else None
        annotation = field.annotation if field is not None else None
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        model = annotation
    return list(model.model_fields)


def _validation_sentence(exc: ValidationError, model: type[BaseModel]) -> str:
    # Values are not quoted back: a note may hold anything, and a proxy may log the answer.
    errors = exc.errors(include_url=False)
    parts = [f"{'.'.join(str(part) for part in error['loc']) or 'body'}: {_field_words(error, model)}"
             for error in errors[:5]]
    more = len(errors) - len(parts)
    return "; ".join(parts) + (f" (and {more} more)" if more > 0 else "")


_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off", "")


def _flag(query: dict[str, str], key: str) -> bool:
    value = query.get(key)
    if value is None:
        return False
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise ApiError(400, f"query parameter {key} must be 1 or 0 (true or false), not {_shown(value, 20)}")


def _limit(query: dict[str, str]) -> int:
    text = query.get("limit")
    if text is None:
        return DEFAULT_LIMIT
    if not re.fullmatch(r"[0-9]{1,6}", text) or not 1 <= int(text) <= MAX_LIMIT:
        raise ApiError(400, f"query parameter limit must be a whole number from 1 to {MAX_LIMIT}, "
                            f"not {_shown(text, 20)}")
    return int(text)


def _since(text: Optional[str], zone: Optional[dt.tzinfo]) -> Optional[float]:
    """`since` as unix seconds from an ISO 8601 date-time or a number of unix seconds."""
    if text is None or not text.strip():
        return None
    if re.fullmatch(r"[0-9]{1,11}(\.[0-9]{1,9})?", text.strip()):
        return float(text)
    try:
        parsed = dt.datetime.fromisoformat(text.strip())
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=zone) if zone is not None else parsed.astimezone()
        return parsed.timestamp()
    except (ValueError, OverflowError, OSError):
        raise ApiError(400, f"query parameter since must be an ISO 8601 date-time (2026-11-21T08:00) or unix "
                            f"seconds, not {_shown(text, 40)}") from None
