"""A config reload: which sections changed, and which running parts use each.

The one table of "who uses what" (like Frigate's ``CameraConfigUpdateEnum``): every section a
running stop can take without a restart names the parts it re-configures or rebuilds
(:data:`SECTION_USERS`); every other changed section (camera, mqtt, the relay's pin, the
fail-safe, ...) is reported as needing a restart and is *not* taken into the running config, so
what the stop says it runs on is what it runs on. :class:`RunningConfig` is the one owner of that
config: the stop, its command control and its MQTT service all read it from there.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from edge.config import Config
from edge.config.light import LightConfig


class Update(str, Enum):
    """A part of a running stop that a changed section re-configures or rebuilds."""

    CONTROLLER = "controller"  # zone, masks, tracker, dwell, static rule, schedule, light timings
    CROP = "crop"  # the detector front-end's crop to the zone
    DETECTOR = "detector"  # the detector itself, rebuilt on verified models
    GATE = "gate"  # the adaptive rate's motion region and rates (rebuilt)
    HEALTH = "health"  # picture health (rebuilt)
    COMMANDS = "commands"  # what the command handler allows (privacy.snapshots)


# section -> the parts that use it; a section not named here needs a restart
SECTION_USERS: dict[str, frozenset[Update]] = {
    "zone": frozenset({Update.CONTROLLER, Update.CROP, Update.GATE}),
    "tracker": frozenset({Update.CONTROLLER}),
    "static": frozenset({Update.CONTROLLER}),
    "waiting": frozenset({Update.CONTROLLER, Update.GATE}),  # the gate looks once per dwell
    "schedule": frozenset({Update.CONTROLLER}),
    "detector": frozenset({Update.DETECTOR}),
    "adaptive": frozenset({Update.GATE}),
    "health": frozenset({Update.HEALTH}),
    "privacy": frozenset({Update.COMMANDS}),
    "light": frozenset({Update.CONTROLLER}),  # its timings; the rest waits (RESTART_FIELDS)
}
# fields of a live section that are used once, at start, and so need a restart: of the light
# section all but the timings (the relay is set up once, before the camera); the static places'
# file, read when the stop is assembled
RESTART_FIELDS: dict[str, frozenset[str]] = {
    "light": frozenset(LightConfig.model_fields) - {"hold_s", "min_on_s", "max_on_s"},
    "static": frozenset({"remember", "state_file"}),
}
# sections whose applied changes are named field by field ("light.hold_s"), not as the section
BY_FIELD: frozenset[str] = frozenset({"light"})


@dataclass(frozen=True, slots=True)
class ConfigDiff:
    """What a new config changes against the running one."""

    applied: tuple[str, ...]  # changed settings the running stop takes ("zone", "light.hold_s")
    restart_needed: tuple[str, ...]  # changed settings that wait for a restart
    updates: frozenset[Update]  # the parts to re-configure or rebuild
    running: Config  # the config the stop runs on once applied: new, less the restart ones

    def answer(self) -> dict[str, list[str]]:
        """The reload command's (and the log's) truthful account."""
        return {"applied": list(self.applied), "restart_needed": list(self.restart_needed)}


def diff(old: Config, new: Config, fixed: frozenset[str] = frozenset()) -> ConfigDiff:
    """Compare by section; the running config keeps ``old``'s value of every section (or
    field of a live section) that needs a restart, so a later reload still reports it as
    pending. ``fixed``: live sections that need a restart in this stop all the same (the
    detector section where the detector was given, not built by the stop)."""
    applied: list[str] = []
    restart: list[str] = []
    updates: set[Update] = set()
    keep: dict[str, object] = {}
    for name in type(old).model_fields:
        a, b = getattr(old, name), getattr(new, name)
        if a == b:
            continue
        users = None if name in fixed else SECTION_USERS.get(name)
        if users is None:
            restart.append(name)
            keep[name] = a
            continue
        changed = [f for f in type(a).model_fields if getattr(a, f) != getattr(b, f)]
        later = [f for f in changed if f in RESTART_FIELDS.get(name, ())]
        live = [f for f in changed if f not in later]
        restart.extend(f"{name}.{f}" for f in later)
        if later:
            keep[name] = b.model_copy(update={f: getattr(a, f) for f in later})
        if live:
            applied.extend([f"{name}.{f}" for f in live] if name in BY_FIELD else [name])
            updates |= users
    running = new.model_copy(update=keep) if keep else new
    return ConfigDiff(tuple(applied), tuple(restart), frozenset(updates), running)


Listener = Callable[[Config, frozenset[Update]], None]


class RunningConfig:
    """The config a running stop runs on: its one owner. Parts that need it ask ``cfg`` (never
    keep a copy); parts outside the frame loop that hold a value derived from it subscribe, and
    are told after each reload (in the frame thread) with the updates it made."""

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self._listeners: list[Listener] = []

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def replace(self, cfg: Config, updates: frozenset[Update]) -> None:
        self.cfg = cfg
        for listener in self._listeners:
            listener(cfg, updates)
