"""From fault alerts to messages on channels: route -> group -> record -> send, and timers.

    submit(alert)            never blocks, never raises (probing must not wait for a notification)
      |
    intake task              opening events wait up to group_wait_s per site, so faults opening at
      |                      one site together become one message; other events go straight on
    route                    routes (first match wins unless continue) -> on-call groups -> tier 1
      |                      channels; heightened-watch faults also go to extra_groups
    outbox (SQLite)          one row per message and channel, written BEFORE sending; unique
      |                      delivery keys make each notice happen once ever (restart, kill -9)
    one sender per channel   rate limit (excess folded into one summary), retry with exponential
                             backoff and jitter; a slow or dead channel only delays itself
    escalation task          while a fault is unacknowledged: repeat to the current tier every
                             repeat_s; after escalate_after_s (default: the fault's acknowledge
                             deadline) tell the next tier too. Timers live in the outbox, so a
                             restart resumes them.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import inspect
import logging
import random
import threading
import time
from pathlib import Path
from typing import Awaitable, Callable, Optional, Sequence, Union

from monitor.faults.model import Alert
from monitor.notify import channels as channel_kinds
from monitor.notify.message import OPENING_EVENTS, Message, escalation_note, reminder_note, render, render_summary
from monitor.notify.outbox import Escalation, Outbox
from monitor.notify.settings import NotificationSettings

log = logging.getLogger(__name__)

DEFAULT_ACK_INTERVAL_S = 180.0  # the contracts' 3-minute response when a fault has no acknowledge deadline
_MAX_SLEEP_S = 60.0  # timers re-read the clock at least this often (a wall-clock jump, a missed wake-up)


def groups_for(settings: NotificationSettings, alert: Alert, extra_groups: Sequence[str] = ()) -> list[str]:
    """The on-call groups told about `alert`: matching routes in order (the first that matches
    wins unless it says `continue`), else `default_groups`; plus `extra_groups` when the fault
    opened during heightened watch. Unknown names are left out (a reload may have removed them)."""
    chosen: list[str] = []
    matched = False
    for route in settings.routes:
        if route.severities and alert.severity not in route.severities:
            continue
        if not route.match.matches(alert.device):
            continue
        matched = True
        chosen += route.groups
        if not route.continue_:
            break
    if not matched:
        chosen += settings.default_groups
    if alert.heightened:
        chosen += extra_groups
    return [group for group in dict.fromkeys(chosen) if group in settings.groups]


def channels_of(settings: NotificationSettings, groups: Sequence[str], tiers: Sequence[int]) -> list[str]:
    """Channels of the given tiers (1-based) of `groups`, each once, in order."""
    found: list[str] = []
    for group in groups:
        settings_of_group = settings.groups.get(group)
        if settings_of_group is None:
            continue
        for tier in tiers:
            if tier <= len(settings_of_group.tiers):
                found += settings_of_group.tiers[tier - 1]
    return [channel for channel in dict.fromkeys(found) if channel in settings.channels]


def _ms(unix_s: float) -> int:
    return int(round(unix_s * 1000))


def _episode(alert: Alert) -> int:
    # The first opening is episode 0 so a re-submitted "open" (a restart) matches its keys;
    # a reopening (or the end of maintenance) starts a new round of notices and timers.
    return 0 if alert.event == "open" else _ms(alert.time)


_LOOP_RETRY_S = 5.0  # pause after an unexpected error in a channel's delivery loop


class AlertDispatcher:
    """Routes, groups, records, sends and escalates fault alerts (see the module docstring).

    `is_unacknowledged(fault_id)` is asked by the escalation timers before each step; it may
    be a coroutine function (the daemon asks its fault thread). `ack_deadline(fault_id)` (unix
    seconds or None) paces escalation when the alert does not carry the deadline itself;
    it is called on the event loop and must be quick."""

    def __init__(self, settings: NotificationSettings, db_path: Path, *,
                 is_unacknowledged: Callable[[int], Union[bool, Awaitable[bool]]],
                 ack_deadline: Callable[[int], Optional[float]],
                 extra_groups: Sequence[str] = (), clock: Callable[[], float] = time.time, claims=None) -> None:
        self.settings = settings
        self.outbox = Outbox(db_path, claims)
        self.is_unacknowledged = is_unacknowledged
        self.ack_deadline = ack_deadline
        self.extra_groups = tuple(extra_groups)
        self.clock = clock
        self._incoming: collections.deque[Alert] = collections.deque()
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._loop_thread: Optional[int] = None
        self._wake_intake = asyncio.Event()
        self._wake_timers = asyncio.Event()
        self._groups: dict[tuple[str, ...], tuple[float, list[Alert]]] = {}  # site path -> (flush at, alerts)
        self._channels: dict[str, channel_kinds.Channel] = {}
        self._senders: dict[str, asyncio.Task] = {}
        self._sender_wakes: dict[str, asyncio.Event] = {}
        self._tasks: list[asyncio.Task] = []
        self._stopping = False
        self._submit_errors = 0

    # -- life cycle --------------------------------------------------------------------------

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._stopping = False
        self._sync_channels()
        unknown = [name for name in self.outbox.pending_channels() if name not in self.settings.channels]
        if unknown:
            log.warning("notifications: messages are waiting for channel(s) no longer configured: %s; they stay "
                        "queued until the channel is configured again", ", ".join(unknown))
        self._tasks = [asyncio.create_task(self._intake(), name="notify-intake"),
                       asyncio.create_task(self._timers(), name="notify-timers")]
        self._wake_intake.set()

    async def stop(self, timeout_s: float = 5.0) -> None:
        """Queue what is still grouping, give the senders up to `timeout_s` to deliver what is
        due now, then stop. Whatever is left stays in the outbox for the next start."""
        self._stopping = True
        try:
            self._drain_incoming()
            self._flush_groups(force=True)
        except Exception:  # noqa: BLE001 - stopping must go on
            log.exception("notifications: could not queue the last alerts")
        for wake in self._sender_wakes.values():
            wake.set()
        senders = list(self._senders.values())
        if senders:
            done, still = await asyncio.wait(senders, timeout=timeout_s)
            if still:
                log.warning("notifications: %d channel(s) still sending after %g s; the rest is sent after the "
                            "next start", len(still), timeout_s)
        for task in [*self._tasks, *self._senders.values()]:
            task.cancel()
        await asyncio.gather(*self._tasks, *self._senders.values(), return_exceptions=True)
        self._tasks, self._senders, self._sender_wakes = [], {}, {}
        for channel in self._channels.values():
            await channel.close()
        self._channels = {}
        self.outbox.close()

    def set_settings(self, settings: NotificationSettings, extra_groups: Optional[Sequence[str]] = None) -> None:
        """Reload: new routes and timings apply from now on; changed channels are rebuilt."""
        old = self.settings
        self.settings = settings
        if extra_groups is not None:
            self.extra_groups = tuple(extra_groups)
        if self._loop is not None and not self._stopping:
            self._sync_channels(old)
            self._wake_timers.set()

    # -- intake ------------------------------------------------------------------------------

    def submit(self, alert: Alert) -> None:
        """Hand over one alert. Never blocks, never raises; safe from other threads too."""
        try:
            self._incoming.append(alert)
            if self._loop is None or self._loop.is_closed():
                return  # start() picks it up
            if threading.get_ident() == self._loop_thread:
                self._wake_intake.set()
            else:
                self._loop.call_soon_threadsafe(self._wake_intake.set)
        except Exception:  # noqa: BLE001
            self._submit_errors += 1
            log.exception("notifications: could not take an alert")

    async def _intake(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            flush_at = min((at for at, _ in self._groups.values()), default=None)
            delay = None if flush_at is None else max(0.0, flush_at - loop.time())
            try:
                await asyncio.wait_for(self._wake_intake.wait(), delay)
            except asyncio.TimeoutError:
                pass
            self._wake_intake.clear()
            try:
                self._drain_incoming()
                self._flush_groups()
            except Exception:  # noqa: BLE001 - one bad alert must not end notifications
                log.exception("notifications: handling an alert failed")

    def _drain_incoming(self) -> None:
        while self._incoming:
            alert = self._incoming.popleft()
            try:
                self._take(alert)
            except Exception:  # noqa: BLE001
                log.exception("notifications: fault %s %s could not be handled", alert.fault_id, alert.event)

    def _take(self, alert: Alert) -> None:
        if alert.event in OPENING_EVENTS and self.settings.group_wait_s > 0 and not self._stopping:
            site = tuple(alert.device.site_path)
            if site in self._groups:
                self._groups[site][1].append(alert)
            else:
                loop = asyncio.get_running_loop()
                self._groups[site] = (loop.time() + self.settings.group_wait_s, [alert])
            return
        # Anything about a fault still waiting in a group goes after that group's message.
        for site, (_, waiting) in list(self._groups.items()):
            if any(w.fault_id == alert.fault_id for w in waiting):
                self._flush_site(site)
        if alert.event in OPENING_EVENTS:
            self._open([alert])
        elif alert.event == "resolved":
            self._resolved(alert)
        else:
            self._notice(alert)

    def _flush_groups(self, force: bool = False) -> None:
        if not self._groups:
            return
        now = asyncio.get_running_loop().time() if self._loop is not None else 0.0
        for site, (flush_at, _) in list(self._groups.items()):
            if force or flush_at <= now:
                self._flush_site(site)

    def _flush_site(self, site: tuple[str, ...]) -> None:
        _, alerts = self._groups.pop(site)
        # A fault submitted twice while grouping (e.g. open, then a promotion) is told once.
        unique = list({alert.fault_id: alert for alert in alerts}.values())
        self._open(unique)

    # -- what each event sends ---------------------------------------------------------------

    def _open(self, alerts: list[Alert]) -> None:
        """Tell tier 1 of each alert's groups (one message per channel for all of them), and
        start each fault's repeat and escalation timers."""
        settings, now = self.settings, self.clock()
        by_channel: dict[str, list[Alert]] = {}
        for alert in alerts:
            groups = groups_for(settings, alert, self.extra_groups)
            if not groups:
                log.info("notifications: fault %d %s: no route and no default group; nobody is told",
                         alert.fault_id, alert.device.name)
                continue
            self._start_timers(alert, groups, now)
            for channel in channels_of(settings, groups, [1]):
                by_channel.setdefault(channel, []).append(alert)
        for channel, told in by_channel.items():
            keys = [(a.fault_id, self._opening_key(a, channel)) for a in told]
            self._enqueue(channel, keys, told[0].event if len({a.event for a in told}) == 1 else "open",
                          told, tier=1)

    @staticmethod
    def _opening_key(alert: Alert, channel: str) -> str:
        if alert.event == "open":
            return f"fault {alert.fault_id} open tier 1 channel {channel}"
        return f"fault {alert.fault_id} {alert.event} {_ms(alert.time)} tier 1 channel {channel}"

    def _start_timers(self, alert: Alert, groups: list[str], now: float) -> None:
        episode = _episode(alert)
        existing = self.outbox.escalation(alert.fault_id)
        if existing is not None and existing.episode == episode and not existing.resolved:
            return  # the same opening submitted again (after a restart): its timers run on
        settings = self.settings
        base = alert.time if alert.event != "open" else alert.opened_at
        state = Escalation(alert.fault_id, alert, groups, episode, tier=1, last_notified_at=now)
        if settings.repeat_s > 0:
            state.next_repeat_at = now + settings.repeat_s
        if max(len(settings.groups[g].tiers) for g in groups) > 1:
            state.interval_s = self._escalation_interval(alert, base)
            state.next_escalation_at = base + state.interval_s
        self.outbox.save_escalation(state)
        self._wake_timers.set()

    def _escalation_interval(self, alert: Alert, base: float) -> float:
        if self.settings.escalate_after_s is not None:
            return self.settings.escalate_after_s
        try:
            deadline = alert.ack_deadline if alert.ack_deadline is not None else self.ack_deadline(alert.fault_id)
        except Exception:  # noqa: BLE001 - fall back to the contracts' default rather than never escalate
            log.exception("notifications: fault %d: could not read its acknowledge deadline", alert.fault_id)
            deadline = None
        if deadline is None:
            return DEFAULT_ACK_INTERVAL_S
        return max(1.0, deadline - base)

    def _resolved(self, alert: Alert) -> None:
        state = self.outbox.escalation(alert.fault_id)
        if state is not None and not state.resolved:
            state.resolved = True
            state.next_repeat_at = state.next_escalation_at = None
            self.outbox.save_escalation(state)
        if not self.settings.send_resolved:
            return
        for channel in self.outbox.told_channels(alert.fault_id):
            if channel in self.settings.channels:
                self._enqueue(channel, [(alert.fault_id, f"fault {alert.fault_id} resolved {_ms(alert.time)} "
                                                         f"channel {channel}")], "resolved", [alert])

    def _notice(self, alert: Alert) -> None:
        """SLA clock events and the like: to every tier told so far (tier 1 if none yet)."""
        state = self.outbox.escalation(alert.fault_id)
        if state is not None and not state.resolved:
            channels = channels_of(self.settings, state.groups, range(1, state.tier + 1))
        else:
            channels = channels_of(self.settings, groups_for(self.settings, alert, self.extra_groups), [1])
        for channel in channels:
            self._enqueue(channel, [(alert.fault_id, f"fault {alert.fault_id} {alert.event} {_ms(alert.time)} "
                                                     f"channel {channel}")], alert.event, [alert])

    def _enqueue(self, channel: str, keys: list[tuple[int, str]], event: str, alerts: list[Alert], *,
                 note: str = "", tier: Optional[int] = None) -> None:
        now = self.clock()
        by_id = {alert.fault_id: alert for alert in alerts}

        def build(fault_ids: list[int]) -> Message:
            return render([by_id[i] for i in fault_ids], ack_hint=self.settings.ack_hint, now=now, note=note,
                          tier=tier)

        if self.outbox.enqueue(channel, keys, event, build, now) is not None:
            wake = self._sender_wakes.get(channel)
            if wake is not None:
                wake.set()

    def announce(self, groups: Sequence[str], message: Message, key: str) -> list[str]:
        """A notice that is no fault's (a meeting's roll call) to tier 1 of `groups`, through the
        same outbox, rate limit and retries as alerts; once per `key` ever (a restart does not send
        it again); never repeated or escalated. The channels it was queued for."""
        channels = channels_of(self.settings, [group for group in groups if group in self.settings.groups], [1])
        now = self.clock()
        for channel in channels:
            # Fault id 0: no fault has it (ids start at 1), so no fault's history lists this notice.
            if self.outbox.enqueue(channel, [(0, f"{key} channel {channel}")], message.payload.get("event", "notice"),
                                   lambda _ids: message, now) is not None:
                wake = self._sender_wakes.get(channel)
                if wake is not None:
                    wake.set()
        return channels

    # -- repeat and escalation timers --------------------------------------------------------

    async def _timers(self) -> None:
        while True:
            try:
                await self._fire_timers()
                due = self.outbox.next_escalation_due()
            except Exception:  # noqa: BLE001
                log.exception("notifications: escalation timers failed; retrying")
                due = self.clock() + 5
            delay = _MAX_SLEEP_S if due is None else min(_MAX_SLEEP_S, max(0.0, due - self.clock()))
            try:
                await asyncio.wait_for(self._wake_timers.wait(), delay)
            except asyncio.TimeoutError:
                pass
            self._wake_timers.clear()

    async def _fire_timers(self) -> None:
        now = self.clock()
        for state in self.outbox.due_escalations(now):
            try:
                await self._fire(state, now)
            except Exception:  # noqa: BLE001
                log.exception("notifications: fault %d: escalation failed", state.fault_id)
                state.next_repeat_at = state.next_escalation_at = None  # not again and again each loop
                self.outbox.save_escalation(state)

    async def _fire(self, state: Escalation, now: float) -> None:
        settings = self.settings
        try:
            answer = self.is_unacknowledged(state.fault_id)
            unacknowledged = bool(await answer if inspect.isawaitable(answer) else answer)
        except Exception:  # noqa: BLE001 - when in doubt, keep telling people
            log.exception("notifications: fault %d: could not tell whether it is acknowledged", state.fault_id)
            unacknowledged = True
        if not unacknowledged:
            state.next_repeat_at = state.next_escalation_at = None  # acknowledged (or gone): timers end
            self.outbox.save_escalation(state)
            return
        groups = [g for g in state.groups if g in settings.groups]
        top = max((len(settings.groups[g].tiers) for g in groups), default=0)
        if state.next_escalation_at is not None and state.next_escalation_at <= now:
            if state.tier < top:
                state.tier += 1
                interval = state.interval_s or DEFAULT_ACK_INTERVAL_S
                note = escalation_note(interval * (state.tier - 1), state.tier)
                self._tell_tier(state, "escalate", state.tier, note, now, f"escalate tier {state.tier}")
                state.next_escalation_at = now + interval if state.tier < top else None
                if settings.repeat_s > 0:
                    state.next_repeat_at = now + settings.repeat_s
            else:
                state.next_escalation_at = None
        if state.next_repeat_at is not None and state.next_repeat_at <= now:
            if settings.repeat_s > 0:
                state.repeats += 1
                note = reminder_note(state.repeats)
                self._tell_tier(state, "repeat", state.tier, note, now, f"repeat {state.repeats} tier {state.tier}")
                state.next_repeat_at = now + settings.repeat_s
            else:
                state.next_repeat_at = None
        self.outbox.save_escalation(state)

    def _tell_tier(self, state: Escalation, event: str, tier: int, note: str, now: float, what: str) -> None:
        settings = self.settings
        alert = dataclasses.replace(state.alert, event=event, time=now)
        channels: list[str] = []
        for group in state.groups:
            group_settings = settings.groups.get(group)
            if group_settings is not None:
                # A group with fewer tiers keeps telling its last one.
                channels += channels_of(settings, [group], [min(tier, len(group_settings.tiers))])
        for channel in dict.fromkeys(channels):
            key = f"fault {state.fault_id} episode {state.episode} {what} channel {channel}"
            self._enqueue(channel, [(state.fault_id, key)], event, [alert], note=note, tier=tier)
        state.last_notified_at = now

    # -- senders -----------------------------------------------------------------------------

    def _sync_channels(self, old: Optional[NotificationSettings] = None) -> None:
        """One channel object and one sender task per configured channel."""
        wanted = self.settings.channels
        for name in list(self._channels):
            if name not in wanted or (old is not None and old.channels.get(name) != wanted[name]):
                self._drop_channel(name)
        for name, channel_settings in wanted.items():
            if name not in self._channels:
                self._channels[name] = channel_kinds.build(name, channel_settings)
                self._sender_wakes[name] = asyncio.Event()
                self._senders[name] = asyncio.create_task(self._sender(name), name=f"notify-{name}")

    def _drop_channel(self, name: str) -> None:
        channel = self._channels.pop(name)
        self._sender_wakes.pop(name, None)
        task = self._senders.pop(name, None)
        if task is not None:
            task.cancel()

        async def close_after(task_: Optional[asyncio.Task]) -> None:
            if task_ is not None:
                await asyncio.gather(task_, return_exceptions=True)
            await channel.close()

        self._tasks.append(asyncio.create_task(close_after(task)))

    async def _sender(self, name: str) -> None:
        """One channel's delivery loop; an unexpected error is logged and the loop goes on after a
        pause (a channel must never stop for good while messages wait)."""
        while True:
            try:
                await self._send_loop(name)
                return
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001
                log.exception("notifications: %s: delivery loop failed; retrying in %g s", name, _LOOP_RETRY_S)
                await asyncio.sleep(_LOOP_RETRY_S)

    async def _send_loop(self, name: str) -> None:
        channel, wake = self._channels[name], self._sender_wakes[name]
        recent: collections.deque[float] = collections.deque()  # attempt times within the rate window
        held_back = False  # the rate limit made due messages wait: fold them when it allows again
        while True:
            now = self.clock()
            # Only a fold needs every due message; otherwise the oldest is enough.
            due = self.outbox.due(name, now, limit=1000 if held_back else 1)
            if not due:
                if self._stopping:
                    return
                next_due = self.outbox.next_due(name)
                delay = _MAX_SLEEP_S if next_due is None else min(_MAX_SLEEP_S, max(0.0, next_due - now))
                await self._wait(wake, delay)
                continue
            limit = self.settings.rate_limit_for(name)
            while recent and recent[0] <= now - limit.per_s:
                recent.popleft()
            if len(recent) >= limit.messages:
                if self._stopping:
                    return
                held_back = True
                await self._wait(wake, max(0.0, recent[0] + limit.per_s - now))
                continue
            if held_back and len(due) > 1:
                summary = render_summary([m.message for m in due], window_s=limit.per_s)
                summary_id = self.outbox.fold(due, summary, now)
                log.warning("notifications: %s: %d messages over the rate limit (%d per %g s) folded into one "
                            "summary", name, len(due), limit.messages, limit.per_s)
                due = [self.outbox.get(summary_id)]
            held_back = False
            message = due[0]
            recent.append(now)
            delivery = await channel.send(message.message)
            self._record(name, message, delivery)

    def _record(self, name: str, message, delivery: channel_kinds.Delivery) -> None:
        now = self.clock()
        retry = self.settings.retry
        if delivery.ok:
            self.outbox.mark_sent(message.id, now)
            log.info("notifications: %s: sent %s", name, message.message.title)
            return
        attempts = message.attempts + 1
        error = channel_kinds.scrub(delivery.error)
        if delivery.permanent or attempts >= retry.attempts:
            self.outbox.mark_failed(message.id, error)
            log.error("notifications: %s: gave up on message %d after %d attempt(s): %s", name, message.id,
                      attempts, error)
            return
        backoff = min(retry.max_backoff_s, retry.initial_backoff_s * 2 ** (attempts - 1))
        backoff *= random.uniform(0.75, 1.0)  # jitter: channels failing together do not retry in step
        self.outbox.mark_retry(message.id, error, now + backoff)
        log.warning("notifications: %s: message %d attempt %d failed (%s); retrying in %.3g s", name, message.id,
                    attempts, error, backoff)

    @staticmethod
    async def _wait(event: asyncio.Event, delay: float) -> None:
        try:
            await asyncio.wait_for(event.wait(), delay)
        except asyncio.TimeoutError:
            pass
        event.clear()

    # -- self-metrics ------------------------------------------------------------------------

    def stats(self) -> dict:
        """Totals and per-channel counts of messages by status; timers running; alerts still grouping."""
        per_channel = self.outbox.counts()
        totals = {status: sum(counts[status] for counts in per_channel.values())
                  for status in ("sent", "failed", "pending", "folded")}
        return {**totals, "channels": per_channel, "active_timers": self.outbox.active_timers(),
                "grouping": sum(len(alerts) for _key, alerts in self._groups.values()),
                "submit_errors": self._submit_errors}

