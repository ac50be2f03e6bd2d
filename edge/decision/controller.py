"""The stop controller: the one owner of what the stop wants and why.

Every cycle of the frame loop is one :class:`Tick`, whatever happened: a frame the detector ran
on, a frame the adaptive rate skipped, a picture that shows nothing usable, or no frame at all.
The controller turns it into one :class:`StopState` (the light wanted and its reason, the mode,
occupancy, waiting, in service or not, blind or not) and the events of that tick, each made
exactly once. Manual modes, operating hours, the fail-safe, the automatic rules, the waiting
button and the bus attention pattern meet only in :func:`light_wanted`; reloading, skipping
blind time, setting the mode, a button press and an arrivals snapshot are methods here, so
nothing outside touches the tracker's or the rules' insides.

Pure: no I/O and no clock of its own. Faults are not decided here: they are facts about the
edges (camera, model, relay, lamp, disk) that the pipeline records in the fault registry; the
tick only says what the loop could see.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import NamedTuple

from detector.base import Detection
from edge.decision.bus_pairing import CAMERA, BusPairing
from edge.decision.buses import Arrival, BusChange, BusSettings, BusTracker
from edge.decision.core import CoreSettings, Decision, DecisionCore, PersonState
from edge.decision.events import (
    BusArrived,
    ButtonPressed,
    LightSwitched,
    ModeChanged,
    StopEvent,
    WaitingEnded,
    WaitingStarted,
)
from edge.decision.feed import Snapshot
from edge.decision.kerb import KerbSettings, KerbWatch
from edge.decision.light_rules import (
    FailSafe,
    FailSafeState,
    FailState,
    LightDecision,
    LightMode,
    LightPattern,
    LightReason,
)
from edge.decision.schedule import WindowLike, in_service
from edge.decision.static import StaticPlace
from edge.wire import BusOutcome


class TickKind(str, Enum):
    """What one cycle of the frame loop could see."""

    DETECTED = "detected"  # a frame the detector ran on
    SKIPPED = "skipped"  # a frame the adaptive rate did not send to the detector
    UNUSABLE = "unusable"  # a picture that shows nothing (black, smeared), no fault yet: wait
    PICTURE_FAULT = "picture_fault"  # a picture fault is active: blind, the fail-safe at once
    NO_FRAME = "no_frame"  # no frame came, or the detector failed: blind

    @property
    def sees(self) -> bool:
        return self in (TickKind.DETECTED, TickKind.SKIPPED)


@dataclass(frozen=True, slots=True)
class Tick:
    kind: TickKind
    t: float  # monotonic seconds (the clip's clock in the simulator)
    wall: datetime | None = None  # local time for the schedule; None: always in service
    detections: Sequence[Detection] = ()  # at or above the confirming threshold
    low: Sequence[Detection] = ()  # above the floor only: may extend a track, never start one
    buses: Sequence[Detection] = ()  # the detector's bus boxes (DETECTED ticks)


@dataclass(frozen=True, slots=True)
class ControllerSettings:
    """Filled in one place (``edge.runtime.assembly.controller_settings``) from the config."""

    core: CoreSettings
    windows: Sequence[WindowLike]
    fail_state: FailState
    failsafe_after_s: float
    buses: BusSettings | None  # None: no arrivals feed, no attention pattern
    kerb: KerbSettings | None  # None: the camera does not watch for buses


@dataclass(frozen=True, slots=True)
class StopState:
    """The stop after a tick: what the light should be and everything it was decided from."""

    t: float
    light: bool  # wanted; the pipeline switches the relay to it
    reason: LightReason
    mode: LightMode
    in_service: bool
    occupancy: int  # confirmed people in the zone (as last seen while blind)
    waiting: int
    people: tuple[PersonState, ...]
    tentative: bool  # someone tracked but not yet confirmed
    seeing: bool  # this tick's frame was decided on
    blind_s: float  # since the last frame decided on (0 while seeing)
    failsafe: bool  # the fail-safe drives the light
    static_objects: tuple[Detection, ...] = ()  # boxes in the zone that stopped counting
    light_max_on: bool = False  # light.max_on_s cut the light until the scene changes
    pattern: LightPattern = LightPattern.STEADY  # how the light shows while on
    pressed: bool = False  # the waiting button's press is in force
    waiting_since: float | None = None  # start of the waiting episode (camera or button)

    @property
    def occupied(self) -> bool:
        return self.occupancy > 0


@dataclass(frozen=True, slots=True)
class Outcome:
    state: StopState
    events: tuple[StopEvent, ...] = ()
    resumed: bool = False  # the first frame seen after a blind spell (its time was skipped)


class Wanted(NamedTuple):
    on: bool
    reason: LightReason
    pattern: LightPattern = LightPattern.STEADY


def light_wanted(mode: LightMode, service: bool, failsafe: FailSafeState,
                 auto: LightDecision, pressed: bool = False, bus_near: bool = False) -> Wanted:
    """The precedence, written once: manual mode > operating hours > fail-safe > rules, with
    the waiting button lighting the stop as the rules would; a bus near while the light is on
    for someone waiting (camera or button) shows the attention pattern."""
    if mode is LightMode.FORCE_ON:
        return Wanted(True, LightReason.FORCED_ON)
    if mode is LightMode.FORCE_OFF:
        return Wanted(False, LightReason.FORCED_OFF)
    if not service:
        return Wanted(False, LightReason.OUT_OF_HOURS)
    if failsafe.active and failsafe.on is not None:
        return Wanted(failsafe.on, LightReason.FAILSAFE)
    on, reason = auto.on, auto.reason
    if pressed and not (on and reason is LightReason.WAITING):
        on, reason = True, LightReason.BUTTON
    waited = reason in (LightReason.WAITING, LightReason.BUTTON)
    return Wanted(on, reason, LightPattern.ATTENTION if on and waited and bus_near
                  else LightPattern.STEADY)


_NOBODY = Decision(t=0.0, occupancy=0, waiting=0,
                   light=LightDecision(False, LightReason.STARTUP), people=())


@dataclass(slots=True)
class _Episode:
    since: float
    peak: int


@dataclass(slots=True)
class _Mode:
    mode: LightMode = LightMode.AUTO
    until: float | None = None  # a timed mode falls back to AUTO then


@dataclass(slots=True)
class _Press:
    since: float
    until: float


@dataclass(frozen=True, slots=True)
class _Came:
    """The stop when a bus reached it (kept until its arrival is over)."""

    waited_s: float | None  # None: nobody was waiting
    light_on: bool

    @property
    def waiting(self) -> bool:
        return self.waited_s is not None


class StopController:
    """One stop's decisions. See the module's doc."""

    def __init__(self, s: ControllerSettings, start: float) -> None:
        """``start``: the time the stop came up; the fail-safe's blind clock starts there."""
        self._s = s
        self._core = DecisionCore(s.core)
        self._failsafe = FailSafe(s.fail_state, s.failsafe_after_s, start)
        self._mode = _Mode()
        self._last = _NOBODY  # the scene as last seen
        self._last_seen_t: float | None = None
        self._blind = False  # since the last frame decided on, nothing was seen
        self._t = start
        self._light = False  # the relay starts off
        self._episode: _Episode | None = None
        self._queued: list[StopEvent] = []
        self._press: _Press | None = None
        self._buses = BusTracker(s.buses) if s.buses is not None else None
        self._came: dict[str, _Came] = {}  # per open arrival that reached the stop
        self._kerb = KerbWatch(s.kerb) if s.kerb is not None else None
        # both sources: each report waits for the other's (one bus, one event)
        self._pairing = (BusPairing(s.kerb.match_s) if s.kerb is not None
                         and s.buses is not None else None)
        self._hidden_from: float | None = None  # a bus in the kerb zone hides the people
        self.state = self._state(start, True, self._last, FailSafeState(False, None, 0.0))

    # ---------------- commands (between two ticks, in the frame thread) ----------------
    def set_mode(self, mode: LightMode, now: float, for_s: float | None = None) -> None:
        """Manual override; with ``for_s`` it falls back to AUTO when that time has passed.
        The change is reported with the next tick."""
        previous = self._mode.mode
        until = None if for_s is None or mode is LightMode.AUTO else now + for_s
        self._mode = _Mode(mode, until)
        if mode is not previous or until is not None:
            self._queued.append(ModeChanged(now, mode, previous, for_s))

    def press(self, now: float, for_s: float) -> None:
        """The waiting button: the stop counts as waited at until ``now + for_s`` (a press
        during a press extends it). Reported with the next tick."""
        until = max(now + for_s, self._press.until if self._press is not None else now)
        since = self._press.since if self._press is not None else now
        self._press = _Press(since, until)
        self._queued.append(ButtonPressed(now, for_s))

    def release_press(self, now: float) -> None:
        """End a press now (a stuck button: it must not hold the light)."""
        if self._press is not None:
            self._press.until = min(self._press.until, now)

    def observe_feed(self, snap: Snapshot, now: float) -> None:
        """An arrivals snapshot (polled between two ticks); its bus events go with the next
        tick. Ignored when the stop has no arrivals settings."""
        if self._buses is not None:
            self._bus_change(self._buses.observe(snap, now), now, self._queued)

    def reload(self, s: ControllerSettings) -> None:
        """New zone, timings and schedule; who is there and what the light does are kept. The
        fail-safe's settings need a restart (they guard the process, not the scene); so does
        a change of the arrivals settings."""
        self._s = ControllerSettings(s.core, s.windows, self._s.fail_state,
                                     self._s.failsafe_after_s, self._s.buses, self._s.kerb)
        self._core.retune(s.core)

    def reset(self) -> None:
        """Forget the scene (the simulator's unrelated stills): nobody is there."""
        self._core.reset()
        self._last = _NOBODY

    def static_places(self) -> tuple[StaticPlace, ...]:
        """The places found static (boxes with their thumbnails), for the runtime to keep
        across a restart; none when the static rule is off."""
        watch = self._core.static
        return watch.static_places(self._t) if watch is not None else ()

    def restore_static(self, places: Sequence[StaticPlace]) -> None:
        """Places kept from before a restart: the first run that sees one finds it static."""
        if self._core.static is not None:
            self._core.static.restore(places, self._t)

    @property
    def settings(self) -> ControllerSettings:
        return self._s

    # ---------------- the tick ----------------
    def tick(self, tick: Tick) -> Outcome:
        t = max(tick.t, self._t)  # a clock that steps back must not run the rules backwards
        self._t = t
        events: list[StopEvent] = self._queued
        self._queued = []
        self._expire_mode(t, events)
        if self._press is not None and t >= self._press.until:
            self._press = None
        if self._buses is not None:
            self._bus_change(self._buses.expire(t), t, events)
        if self._pairing is not None:
            events.extend(self._pairing.due(t))
        resumed = False
        if tick.kind.sees:
            if self._blind and self._last_seen_t is not None:
                # skip the time nothing was seen: a person who waited before it and is still
                # there keeps waiting, one who left is dropped as usual
                self._core.shift(max(0.0, t - self._last_seen_t))
            resumed, self._blind = self._blind, False
            hidden = tick.kind is TickKind.DETECTED and self._watch_kerb(tick, t, events)
            if hidden:  # people behind a bus are not seen: keep who was there
                self._hidden_from = self._hidden_from if self._hidden_from is not None else t
            elif tick.kind is TickKind.DETECTED:
                if self._hidden_from is not None:  # the hidden time does not count as missed
                    self._core.shift(max(0.0, t - self._hidden_from))
                    self._hidden_from = None
                # the frame was taken with the relay as the last tick left it
                self._core.observe(list(tick.detections), t, tick.low, lit=self._light)
            self._last = self._core.decide(t)
            self._last_seen_t = t
            fs = self._failsafe.seen(t)
        else:
            self._blind = True
            if tick.kind is TickKind.UNUSABLE:  # wait: neither decided on nor given up on
                fs = self._failsafe.hold(t)
            else:
                fs = self._failsafe.blind(t, self._light,
                                          immediate=tick.kind is TickKind.PICTURE_FAULT)
        service = True if tick.wall is None else in_service(self._s.windows, tick.wall)
        self._episodes(t, self._last.waiting, events)
        state = self._state(t, service, self._last, fs, seeing=tick.kind.sees)
        if state.light != self._light:
            events.append(LightSwitched(t, state.light, state.reason, state.mode, state.waiting))
        self._light = state.light
        self.state = state
        return Outcome(state, tuple(events), resumed)

    def shutdown(self, now: float) -> Outcome:
        """The stop is going down: the light goes off (reported once), the episode ends."""
        t = max(now, self._t)
        events: list[StopEvent] = self._queued
        self._queued = []
        st = self.state
        state = dataclasses.replace(st, t=t, light=False, reason=LightReason.SHUTDOWN,
                                    seeing=False)
        if self._pairing is not None:  # what waited for its counterpart goes out alone
            events.extend(self._pairing.flush(t))
        if self._light:
            events.append(LightSwitched(t, False, LightReason.SHUTDOWN, st.mode, None))
        self._light, self.state = False, state
        return Outcome(state, tuple(events))

    # ---------------- inside ----------------
    def _expire_mode(self, t: float, events: list[StopEvent]) -> None:
        m = self._mode
        if m.until is not None and t >= m.until:
            self._mode = _Mode()
            events.append(ModeChanged(t, LightMode.AUTO, m.mode, expired=True))

    def _state(self, t: float, service: bool, d: Decision, fs: FailSafeState, *,
               seeing: bool = True) -> StopState:
        near = self._buses is not None and bool(self._buses.approaching())
        pressed = self._press is not None
        w = light_wanted(self._mode.mode, service, fs, d.light, pressed, near)
        return StopState(t=t, light=w.on, reason=w.reason, mode=self._mode.mode,
                         in_service=service, occupancy=d.occupancy, waiting=d.waiting,
                         people=d.people, tentative=d.tentative, seeing=seeing,
                         blind_s=fs.blind_s, failsafe=fs.active,
                         static_objects=d.static_objects, light_max_on=d.light_max_on,
                         pattern=w.pattern, pressed=pressed,
                         waiting_since=self._waiting_since())

    def _waiting_since(self) -> float | None:
        """When the present wait began: the camera's episode or the button's press."""
        starts = [x.since for x in (self._episode, self._press) if x is not None]
        return min(starts) if starts else None

    def _came_now(self, t: float) -> _Came:
        """The stop as a bus reaches it at ``t``: how long anyone had waited, the light."""
        since = self._waiting_since()
        return _Came(None if since is None else max(0.0, t - since), self._light)

    def _watch_kerb(self, tick: Tick, t: float, events: list[StopEvent]) -> bool:
        """The camera's bus arrivals; whether a bus in the kerb zone hides the people now."""
        if self._kerb is None:
            return False
        was = self._kerb.visit
        ended = self._kerb.update(tick.buses, t)
        if was is None and self._kerb.visit is not None:  # a bus came: who was waiting then
            self._came["kerb"] = self._came_now(t)
        if ended is not None:
            came = self._came.pop("kerb", _Came(None, self._light))
            self._report(BusArrived(
                t=t, route_id=None, vehicle_id=None, trip_id=None, stop_id="kerb",
                outcome=(BusOutcome.STOPPED if ended.stopped else BusOutcome.PASSED).value,
                approached_at=None, stopped_from=None, stopped_until=None, left_at=None,
                dwell_s=ended.dwell_s, waiting=came.waiting, waited_s=came.waited_s,
                light_on=came.light_on, source=CAMERA), (ended.since, ended.last_seen), t,
                events)
        return self._kerb.hiding(t)

    def _bus_change(self, change: BusChange, t: float, events: list[StopEvent]) -> None:
        for a in change.reached:
            self._came[a.key] = self._came_now(t)
        for a in change.closed:
            came = self._came.pop(a.key, None)
            if came is None:  # lost from the feed before it came: no arrival to report
                continue
            self._report(_bus_event(a, came, t), (a.reached_t or t, t), t, events)

    def _report(self, event: BusArrived, span: tuple[float, float], t: float,
                events: list[StopEvent]) -> None:
        """One source's bus: out now, or paired with the other source's first."""
        if self._pairing is None:
            events.append(event)
        else:
            events.extend(self._pairing.offer(event, span, t))

    def _episodes(self, t: float, waiting: int, events: list[StopEvent]) -> None:
        ep = self._episode
        if waiting > 0:
            if ep is None:
                self._episode = _Episode(t, waiting)
                events.append(WaitingStarted(t, waiting))
            else:
                ep.peak = max(ep.peak, waiting)
        elif ep is not None:
            self._episode = None
            events.append(WaitingEnded(t, t - ep.since, ep.peak))



def _bus_event(a: Arrival, came: _Came, t: float) -> BusArrived:
    assert a.outcome is not None
    return BusArrived(t=t, route_id=a.route_id, vehicle_id=a.vehicle_id, trip_id=a.trip_id,
                      stop_id=a.stop_id, outcome=a.outcome.value,
                      approached_at=a.approached_at, stopped_from=a.stopped_from,
                      stopped_until=a.stopped_until, left_at=a.left_at, dwell_s=a.dwell_s,
                      waiting=came.waiting, waited_s=came.waited_s, light_on=came.light_on)
