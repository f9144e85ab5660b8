"""The rule engine: samples in, state changes (`Transition`s) out. Pure: no I/O, no wall clock.

Time comes from the samples and from `tick(now_ns)`. State is kept per key (device, rule,
instance), and only for keys that are not plainly normal (pending, open, clearing, flapping,
or with recent changes that flap detection must remember), so 10,000 healthy devices cost no
memory. The rules that apply to each (measurement, device) pair are worked out when rules or
devices are set, so `evaluate` does one dictionary lookup per sample and then runs only the
rules that can apply, each a compiled function (see expr.py).

One key's life (the `for`/`clear` settings of its rule decide "long enough"):

    normal --when true--> pending --long enough--> OPEN --when still true--> UPDATE ...
       ^                                            |
       +------------- CLEAR <--long enough-- clearing (clear true; default: when false)

Events (`clear_after`) open on a trigger and clear at `tick()` once no trigger came for
`clear_after`; `clear: manual` rules only leave through `reset()` (a person resolved it).

Flapping: a key whose open/clear changes reach `changes` within `window` is cleared (if
open) and one fault of rule `flapping` opens instead, instance "<rule>" or "<rule>/<instance>".
The key's own state keeps following the samples, silently, while it flaps. When a whole
window passes without a change, the flapping fault clears and, if the key's condition holds
at that moment, the key opens normally.
"""

from __future__ import annotations

from collections import deque
from typing import Any, Iterable, Mapping, Optional, Sequence

from monitor import words
from monitor.faults.model import DeviceInfo, Transition
from monitor.i18n import N_, _
from monitor.rules.expr import as_number
from monitor.rules.model import FLAPPING_RULE, Rule, RuleSet
from monitor.rules.settings import RulesSettings
from probes.base import Sample

Key = tuple[str, str, str]
_EMPTY: Mapping[str, Any] = {}


class _State:
    """What the engine remembers about one key that is not plainly normal."""

    __slots__ = ("rule", "device", "instance", "firing", "shown", "since_ns", "count", "clear_since_ns",
                 "clear_count", "last_trigger_ns", "changes", "flapping", "last_change_ns", "fields", "tags")

    def __init__(self, rule: Rule, device: str, instance: str) -> None:
        self.rule = rule
        self.device = device
        self.instance = instance
        self.firing = False  # the condition's state as the samples say (also while flapping)
        self.shown = False  # what the outside world was told: an open fault for this key
        self.since_ns: Optional[int] = None  # first true sample of the current pending run
        self.count = 0  # consecutive true samples
        self.clear_since_ns: Optional[int] = None
        self.clear_count = 0
        self.last_trigger_ns = 0
        self.changes: deque[int] = deque()  # times of open/clear changes, for flap detection
        self.flapping = False
        self.last_change_ns = 0
        self.fields: Mapping[str, Any] = _EMPTY  # the last sample that held, for messages
        self.tags: Mapping[str, str] = _EMPTY

    def plain(self) -> bool:
        return not (self.firing or self.shown or self.flapping or self.count or self.changes)


def _instance_function(rule: Rule):
    """tags -> instance text; the common single-tag template ("{name}") without the formatter."""
    template = rule.instance
    if template is None:
        return None
    if len(template.parts) == 1 and template.parts[0][0] == "" and template.parts[0][2] == "":
        tag = template.parts[0][1]
        return lambda tags: tags.get(tag, "")
    return lambda tags: template.render(tags, missing="")


class RuleEngine:
    """See the module docstring. Not thread-safe: one caller (the daemon's rule task)."""

    def __init__(self, rules: RuleSet, devices: Iterable[DeviceInfo], settings: RulesSettings) -> None:
        self._settings = settings
        self._rules = rules
        self._devices: dict[str, DeviceInfo] = {}
        self._table: dict[tuple[str, Optional[str]], tuple[tuple, tuple]] = {}
        self._states: dict[Key, _State] = {}
        self._heightened: Optional[bool] = None
        self._now_ns = 0
        self._prepare_rules(rules)
        self._devices = {device.name: device for device in devices}
        self._build_table()

    # -- configuration ------------------------------------------------------------------------

    def _prepare_rules(self, rules: RuleSet) -> None:
        default = (self._settings.flap_changes, self._settings.flap_window_s)
        self._flap: dict[str, Optional[tuple[int, int]]] = {}
        self._instance: dict[str, Any] = {}
        for rule in rules.rules:
            changes, window = rule.flap or default
            self._flap[rule.name] = None if rule.flap_off else (changes, int(window * 1e9))
            self._instance[rule.name] = _instance_function(rule)

    def _build_table(self) -> None:
        """(measurement, device) -> (rules outside heightened watch, rules during it)."""
        plain_rules = [rule for rule in self._rules.rules if not rule.spec.match.devices]
        named_rules = [rule for rule in self._rules.rules if rule.spec.match.devices]
        order = {rule.name: index for index, rule in enumerate(self._rules.rules)}
        by_kind: dict[tuple, list[Rule]] = {}  # devices alike in class, sites and tags share a result
        shared: dict[tuple, tuple] = {}
        table: dict[tuple[str, Optional[str]], tuple[tuple, tuple]] = {}
        for device in self._devices.values():
            kind = (device.device_class, device.site_path, device.tags)
            matching = by_kind.get(kind)
            if matching is None:
                matching = by_kind[kind] = [rule for rule in plain_rules if rule.spec.match.matches(device)]
            extra = [rule for rule in named_rules if rule.spec.match.matches(device)]
            rules = sorted(matching + extra, key=lambda r: order[r.name]) if extra else matching
            per_measurement: dict[str, list[Rule]] = {}
            for rule in rules:
                for measurement in rule.measurements:
                    per_measurement.setdefault(measurement, []).append(rule)
            for measurement, found in per_measurement.items():
                normal = tuple(rule for rule in found if rule.during != "heightened_watch")
                heightened = tuple(rule for rule in found if rule.during != "normal")
                entry = shared.setdefault((normal, heightened), (normal, heightened))
                table[(measurement, device.name)] = entry
        self._table = table

    def rule_names(self) -> set[str]:
        return {rule.name for rule in self._rules.rules}

    def reachability_rule_names(self) -> set[str]:
        """Rules that say a device does not answer at all (their faults make it "down")."""
        return {rule.name for rule in self._rules.rules if rule.reachability}

    def set_rules(self, rules: RuleSet, settings: Optional[RulesSettings] = None) -> list[Transition]:
        """Reload the rules (and with `settings`, the flap defaults they are prepared with).
        Keys of a rule that survives unchanged (same name and definition) keep their state. A
        changed rule's open keys stay open (so a false condition still clears them) with their
        counters restarted; keys of a removed or disabled rule are cleared: the returned
        transitions say so (the daemon passes them on like any other)."""
        if settings is not None:
            self._settings = settings
        old_rules = self._rules
        self._rules = rules
        self._prepare_rules(rules)
        self._build_table()
        out: list[Transition] = []
        for key, state in list(self._states.items()):
            new = rules.by_name.get(key[1])
            old = old_rules.by_name.get(key[1])
            if new is None:
                self._drop(key, state, out, N_("rule removed from the configuration"))
            elif old is None or new.definition() != old.definition():
                if not (state.shown or state.flapping):
                    del self._states[key]
                    continue
                fresh = _State(new, state.device, state.instance)
                fresh.firing = fresh.shown = state.shown
                fresh.flapping, fresh.last_change_ns = state.flapping, state.last_change_ns
                fresh.last_trigger_ns = state.last_trigger_ns
                fresh.fields, fresh.tags = state.fields, state.tags
                self._states[key] = fresh
            else:
                state.rule = new
        self._drop_unmatched(out, N_("the rule no longer applies to this device"))
        return out

    def set_devices(self, devices: Iterable[DeviceInfo]) -> list[Transition]:
        """Reload the inventory. State of removed devices, and of keys whose rule no longer
        applies to the device (class, site or tags changed), is dropped; open ones are cleared
        in the returned transitions."""
        self._devices = {device.name: device for device in devices}
        self._build_table()
        out: list[Transition] = []
        # A device still listed but changed (class, site, tags) keeps this reason; a device
        # gone from the inventory is said so by _drop_unmatched itself.
        self._drop_unmatched(out, N_("the rule no longer applies to this device"))
        return out

    def _drop_unmatched(self, out: list[Transition], reason: str) -> None:
        for key, state in list(self._states.items()):
            device = self._devices.get(state.device)
            if device is None:
                self._drop(key, state, out, N_("device removed from the inventory"))
            elif not any(state.rule in self._table.get((m, state.device), ((), ()))[i]
                         for m in state.rule.measurements for i in (0, 1)):
                self._drop(key, state, out, reason)

    def _drop(self, key: Key, state: _State, out: list[Transition], reason: str) -> None:
        if state.shown:
            out.append(self._transition("clear", state, self._now_ns, None,
                                        self._cleared_message(state, reason)))
        if state.flapping:
            out.append(self._flapping_transition("clear", state, self._now_ns, reason))
        del self._states[key]

    # -- state from outside ---------------------------------------------------------------------

    def restore(self, keys: Iterable[Key], since_ns: int) -> list[Key]:
        """Keys open in the fault store when the daemon starts: treated as open, so a condition
        that is false now clears them. Returns the keys that cannot be restored (unknown rule or
        device, or a rule that does not apply to the device): the caller should resolve those."""
        unknown: list[Key] = []
        for device, rule_name, instance in keys:
            flapping = rule_name == FLAPPING_RULE
            if flapping:
                rule_name, _slash, instance = instance.partition("/")
            rule = self._rules.by_name.get(rule_name)
            if rule is None or device not in self._devices or not self._applies(rule, device):
                unknown.append((device, FLAPPING_RULE if flapping else rule_name,
                                f"{rule_name}/{instance}".rstrip("/") if flapping else instance))
                continue
            key = (device, rule_name, instance)
            state = self._states.get(key) or _State(rule, device, instance)
            if flapping:
                state.flapping, state.last_change_ns = True, since_ns
            else:
                state.firing = state.shown = True
                state.since_ns = state.last_trigger_ns = since_ns
            self._states[key] = state
        return unknown

    def _applies(self, rule: Rule, device: str) -> bool:
        return any(rule in self._table.get((m, device), ((), ()))[i] for m in rule.measurements for i in (0, 1))

    def reset(self, key: Key) -> None:
        """A person resolved the fault: the key is back to normal (if its condition still holds,
        it opens again after its `for`). For a flapping key, flapping ends and the underlying key
        starts afresh."""
        device, rule_name, instance = key
        if rule_name == FLAPPING_RULE:
            rule_name, _slash, instance = instance.partition("/")
        self._states.pop((device, rule_name, instance), None)

    def firing(self) -> set[Key]:
        """Keys the outside world was told are open (flapping faults included)."""
        keys = set()
        for (device, rule, instance), state in self._states.items():
            if state.shown:
                keys.add((device, rule, instance))
            if state.flapping:
                keys.add((device, FLAPPING_RULE, f"{rule}/{instance}" if instance else rule))
        return keys

    # -- evaluation -------------------------------------------------------------------------------

    def evaluate(self, samples: Sequence[Sample], heightened: bool = False) -> list[Transition]:
        """Transitions caused by these samples (in their order)."""
        out: list[Transition] = []
        if not samples:
            return out
        if bool(heightened) != self._heightened:
            self._switch_mode(bool(heightened), samples[0].time_ns, out)
        table_get = self._table.get
        pick = 1 if heightened else 0
        states = self._states
        instances = self._instance
        latest = self._now_ns
        for sample in samples:
            tags = sample.tags
            entry = table_get((sample.measurement, tags.get("device")))
            if entry is None:
                continue
            fields = sample.fields
            time_ns = sample.time_ns
            if time_ns > latest:
                latest = time_ns
            for rule in entry[pick]:
                result = rule.when.evaluate(fields, tags)
                instance = instances[rule.name]
                key = (tags["device"], rule.name, instance(tags) if instance is not None else "")
                state = states.get(key)
                if state is None:
                    if result is not True:
                        continue  # the hot path: a healthy key has no state at all
                    state = states[key] = _State(rule, key[0], key[2])
                self._step(key, state, result, fields, tags, time_ns, out)
        self._now_ns = latest
        return out

    def tick(self, now_ns: int, heightened: bool = False) -> list[Transition]:
        """Time-based changes: events whose `clear_after` passed, flapping that ended; and
        forgetting change history older than the flap window."""
        out: list[Transition] = []
        if bool(heightened) != self._heightened:
            self._switch_mode(bool(heightened), now_ns, out)
        self._now_ns = max(self._now_ns, now_ns)
        for key, state in list(self._states.items()):
            self._end_flapping_if_quiet(state, now_ns, out)
            rule = state.rule
            if rule.event and state.firing and now_ns - state.last_trigger_ns >= rule.clear_after_ns:
                state.firing = False
                state.clear_since_ns, state.clear_count = None, 0
                quiet = words.duration(rule.clear_after_ns / 1e9)
                self._changed(state, "clear", now_ns, None, out,
                              _("no new trigger for {duration}").format(duration=quiet))
            self._forget_old_changes(state, now_ns)
            if state.plain():
                del self._states[key]
        return out

    def _switch_mode(self, heightened: bool, time_ns: int, out: list[Transition]) -> None:
        """Heightened watch began or ended: keys of rules that do not run now are cleared."""
        self._heightened = heightened
        stopped = "normal" if heightened else "heightened_watch"
        reason = N_("heightened watch began") if heightened else N_("heightened watch ended")
        now = self._now_ns
        self._now_ns = max(now, time_ns)
        for key, state in list(self._states.items()):
            if state.rule.during == stopped:
                self._drop(key, state, out, reason)

    def _step(self, key: Key, state: _State, result: Optional[bool], fields: Mapping[str, Any],
              tags: Mapping[str, str], time_ns: int, out: list[Transition]) -> None:
        rule = state.rule
        if state.flapping:
            # Ends before this sample counts; the sample then decides whether the key opens.
            self._end_flapping_if_quiet(state, time_ns, out, reopen=False)
        if result is True:
            state.fields, state.tags = fields, tags
        self._advance(key, state, rule, result, fields, tags, time_ns, out)
        if state.firing and not state.shown and not state.flapping:
            state.shown = True
            out.append(self._transition("open", state, time_ns, self._value(rule, state.fields, state.tags)))

    def _advance(self, key: Key, state: _State, rule: Rule, result: Optional[bool], fields: Mapping[str, Any],
                 tags: Mapping[str, str], time_ns: int, out: list[Transition]) -> None:
        if not state.firing:
            if result is True:
                state.count += 1
                if state.since_ns is None:
                    state.since_ns = time_ns
                if state.count >= rule.for_samples and time_ns - state.since_ns >= rule.for_ns:
                    state.firing = True
                    state.last_trigger_ns = time_ns
                    state.count, state.since_ns = 0, None
                    state.clear_since_ns, state.clear_count = None, 0
                    self._changed(state, "open", time_ns, self._value(rule, fields, tags), out)
            elif result is False:
                state.count, state.since_ns = 0, None
                # Changes older than the flap window no longer count: once they are gone a
                # healthy key needs no state (a tick would find it too, but later).
                self._forget_old_changes(state, time_ns)
                if state.plain():
                    del self._states[key]
            return
        if result is True:
            state.last_trigger_ns = time_ns
        if rule.manual:
            clear = None
        elif rule.clear is not None:
            clear = rule.clear.evaluate(fields, tags)
        elif rule.event:
            clear = None  # an event resolves by time (tick), not by the next quiet sample
        else:
            clear = None if result is None else not result
        if clear is True:
            state.clear_count += 1
            if state.clear_since_ns is None:
                state.clear_since_ns = time_ns
            if state.clear_count >= rule.clear_samples and time_ns - state.clear_since_ns >= rule.clear_for_ns:
                state.firing = False
                state.clear_since_ns, state.clear_count = None, 0
                self._changed(state, "clear", time_ns, None, out, N_("back to normal"))
                return
        elif clear is False:
            state.clear_since_ns, state.clear_count = None, 0
        if result is True and state.shown and not state.flapping:
            out.append(self._transition("update", state, time_ns, self._value(rule, fields, tags)))

    def _changed(self, state: _State, action: str, time_ns: int, value: Optional[float], out: list[Transition],
                 reason: str = "") -> None:
        """The key's condition state changed (open or clear): flap detection, then tell."""
        flap = self._flap.get(state.rule.name)
        state.last_change_ns = time_ns
        if flap is not None:
            changes, window_ns = flap
            state.changes.append(time_ns)
            self._forget_old_changes(state, time_ns)
            if not state.flapping and len(state.changes) >= changes:
                state.flapping = True
                if state.shown:
                    state.shown = False
                    out.append(self._transition("clear", state, time_ns, None,
                                                self._cleared_message(state, N_("flapping"))))
                out.append(self._flapping_transition("open", state, time_ns))
                return
        if state.flapping:
            return  # quiet while flapping; the state follows the samples silently
        if action == "open":
            state.shown = True
            out.append(self._transition("open", state, time_ns, value))
        elif state.shown:
            state.shown = False
            out.append(self._transition("clear", state, time_ns, None, self._cleared_message(state, reason)))

    def _end_flapping_if_quiet(self, state: _State, time_ns: int, out: list[Transition], reopen: bool = True) -> None:
        if not state.flapping:
            return
        flap = self._flap.get(state.rule.name)
        window_ns = flap[1] if flap is not None else int(self._settings.flap_window_s * 1e9)
        if time_ns - state.last_change_ns < window_ns:
            return
        state.flapping = False
        state.changes.clear()
        out.append(self._flapping_transition("clear", state, time_ns, N_("stable for a whole window")))
        if state.firing and reopen:
            state.shown = True
            out.append(self._transition("open", state, time_ns, self._value(state.rule, state.fields, state.tags)))

    def _forget_old_changes(self, state: _State, time_ns: int) -> None:
        flap = self._flap.get(state.rule.name)
        changes = state.changes
        if not changes:
            return
        if flap is None:
            changes.clear()
            return
        horizon = time_ns - flap[1]
        while changes and changes[0] <= horizon:
            changes.popleft()

    # -- output -------------------------------------------------------------------------------------

    @staticmethod
    def _value(rule: Rule, fields: Mapping[str, Any], tags: Mapping[str, str]) -> Optional[float]:
        name = rule.value_field
        if name is None:
            return None
        value = fields.get(name)
        if value is None:
            value = tags.get(name)
        return as_number(value) if value is not None else None

    @staticmethod
    def _threshold(rule: Rule, state: _State) -> Optional[float]:
        """The rule's constant, or the device's own threshold read from the sample."""
        name = rule.threshold_field
        if name is None:
            return rule.threshold
        found = state.fields.get(name)
        number = as_number(found if found is not None else state.tags.get(name))
        return None if number is None else number + rule.threshold_offset

    def _context(self, state: _State, value: Optional[float]) -> dict[str, Any]:
        rule = state.rule
        device = self._devices.get(state.device)
        return {"device": state.device, "site": device.site if device else None,
                "class": device.device_class if device else None, "value": value,
                "threshold": self._threshold(rule, state),
                "for": rule.for_text, "instance": state.instance or None, "rule": rule.name}

    def _transition(self, action: str, state: _State, time_ns: int, value: Optional[float],
                    message: Optional[str] = None) -> Transition:
        rule = state.rule
        if message is None:
            message = rule.message.render(self._context(state, value), state.fields, state.tags)
        return Transition(action, rule.name, state.device, state.instance, rule.severity, time_ns,
                          value if action != "clear" else None, self._threshold(rule, state), message,
                          rule.higher_is_worse,
                          rule.reachability)

    def _cleared_message(self, state: _State, reason: str) -> str:
        """What a fault that clears says, in the language in force (`reason` is marked for it)."""
        subject = f"{state.rule.name} {state.instance}" if state.instance else state.rule.name
        if not reason:
            return _("{device}: {subject} cleared").format(device=state.device, subject=subject)
        return _("{device}: {subject} cleared ({reason})").format(device=state.device, subject=subject,
                                                                 reason=_(reason))

    def _flapping_transition(self, action: str, state: _State, time_ns: int, reason: str = "") -> Transition:
        rule = state.rule
        instance = f"{rule.name}/{state.instance}" if state.instance else rule.name
        subject = f"{rule.name} {state.instance}" if state.instance else rule.name
        flap = self._flap.get(rule.name)
        window_s = flap[1] / 1e9 if flap is not None else self._settings.flap_window_s
        if action == "open":
            message = _("{device}: {subject} flapping, {n} changes in {window}").format(
                device=state.device, subject=subject, n=len(state.changes), window=words.duration(window_s))
        elif reason:
            message = _("{device}: {subject} no longer flapping ({reason})").format(
                device=state.device, subject=subject, reason=_(reason))
        else:
            message = _("{device}: {subject} no longer flapping").format(device=state.device, subject=subject)
        return Transition(action, FLAPPING_RULE, state.device, instance, rule.severity, time_ns, None, None,
                          message, True, False)
