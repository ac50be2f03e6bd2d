"""The MQTT wire format, shared by the stop and the fleet tools: topic names below a stop's root
``<prefix>/<stop_id>/`` and their builders, the payloads that are fixed words, and the words of
commands and their answers.

Everything the daemon publishes is named here once (the events' kinds, the fault names and
which faults leave the stop blind), so the daemon, the console, the collector,
fleet-sim, the discovery configs, the ACL example and the tests all agree. It imports nothing of
the stop's, so the fleet tools (``fleet/``) import it without the daemon.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from enum import Enum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Status(str, Enum):
    """Payloads of ``status`` (retained): ``offline`` is the broker's last will."""

    ONLINE = "online"
    OFFLINE = "offline"
    STOPPED = "stopped"  # a clean exit (a signal): meant
    FAILED = "failed"  # ended on an error: faults/state and faults/detail say why


class OnOff(str, Enum):
    ON = "ON"
    OFF = "OFF"

    @classmethod
    def of(cls, value: bool) -> OnOff:
        return cls.ON if value else cls.OFF


class State(str, Enum):
    """Retained state topics: published on change and all again on every (re)connect."""

    LIGHT = "light/state"
    LIGHT_MODE = "light/mode/state"
    OCCUPANCY = "occupancy/state"
    WAITING = "waiting/state"
    WAITING_JSON = "waiting/json"  # the bus side's waiting document (edge/signal/waiting.py)
    FAULTS = "faults/state"  # JSON list of active fault names, [] when healthy
    # JSON object: each active fault with since when and why ({"model_failed": {"since": ...,
    # "error": "model ... is missing; ...", "problem": "missing", "file": ...}}), {} when healthy
    FAULT_DETAIL = "faults/detail"
    # JSON object of the last self-test: result (SelftestResult), at (ISO 8601), failed checks
    SELFTEST = "selftest/state"
    IN_SERVICE = "service/state"  # ON inside the operating hours (schedule), OFF outside


class Leaf(str, Enum):
    """Other topics below the root."""

    STATUS = "status"
    TELE = "tele"
    EVENT = "event"
    CMD = "cmd"
    RESULT = "result"
    SNAPSHOT = "snapshot"
    SELFTEST = "selftest"  # the self-test's broker round trip publishes here (QoS 1)


class SelftestResult(str, Enum):
    """``result`` of ``selftest/state``."""

    PASSED = "passed"
    FAILED = "failed"


class CommandName(str, Enum):
    """The commands a stop takes on ``cmd/<name>`` and answers on ``result/<name>``."""

    LIGHT = "light"
    RELOAD = "reload"
    SELFTEST = "selftest"
    SNAPSHOT = "snapshot"
    STATUS = "status"


class Rejection(str, Enum):
    """Why a command was refused (``error`` in the answer, counters in ``tele``)."""

    RATE_LIMITED = "rate_limited"
    TOO_LARGE = "too_large"
    NOT_UTF8 = "not_utf8"
    MALFORMED_JSON = "malformed_json"
    INVALID = "invalid_payload"
    UNKNOWN_COMMAND = "unknown_command"
    DISABLED = "disabled"
    NOT_READY = "not_ready"
    NOT_A_COMMAND = "not_a_command"  # a message on no command topic: dropped, never answered
    # a retained message on cmd/: the broker replays it at every (re)connect, where it would
    # override what the crew said since (a retained ON over a later AUTO); never obeyed
    RETAINED = "retained"


class Failure(str, Enum):
    """A well-formed command that could not be carried out."""

    CONFIG_ERROR = "config_error"
    SELFTEST_FAILED = "selftest_failed"
    TIMEOUT = "timeout"
    FAILED = "failed"


class EventKind(str, Enum):
    """The ``kind`` of an event on the wire."""

    LIGHT = "light"  # the light went on or off (with reason)
    WAITING_ENDED = "waiting_ended"  # a waiting episode ended (duration, peak count)
    MODE = "mode"  # the manual mode changed (a command, or a timed mode expired)
    FAULT = "fault"  # a fault was raised or cleared
    # the daemon started, with how its previous run ended (the daemon's own, not the controller's)
    STARTED = "started"
    BUTTON = "button"  # the waiting button was pressed
    BUS = "bus"  # a bus reached the stop: stopped (dwell) or passed, and who was waiting


class BusOutcome(str, Enum):
    """The ``outcome`` of a ``bus`` event: did the bus stop at the stop."""

    STOPPED = "stopped"
    PASSED = "passed"
    UNKNOWN = "unknown"  # reached the stop by the feed, which cannot tell; or lost from it


class Fault(str, Enum):
    """The faults a stop raises and clears (the ``fault`` of a fault event, the words in
    ``faults/state``); the stop's fault registry is ``edge.runtime.faults``."""

    CAMERA_LOST = "camera_lost"  # no frame within camera.timeout_s
    MODEL_FAILED = "model_failed"  # the detector raised on a frame
    LAMP_FAILED = "lamp_failed"  # relay on, lamp-current input did not follow in follow_s
    LAMP_STUCK_ON = "lamp_stuck_on"  # relay off, lamp-current input stayed on for follow_s
    CAMERA_FROZEN = "camera_frozen"  # the same picture for health.frozen_s
    CAMERA_BLACK = "camera_black"  # black picture (lens covered) for health.black_s
    CAMERA_BLURRED = "camera_blurred"  # far less sharp than usual for health.blur_s
    LIGHT_READBACK = "light_readback"  # the relay's pin does not read back what was set
    CAMERA_STALE = "camera_stale"  # (MQTT) no frame for mqtt.camera_stale_s
    STATIC_OBJECT = "static_object"  # a person-shaped box unchanged for static.after_s (boxes)
    LIGHT_MAX_ON = "light_max_on"  # light.max_on_s cut the light until the scene changes
    # (MQTT) the event outbox's disk is full, read-only or gone: events wait in a bounded
    # memory queue (overflow counted in tele events.dropped); cleared when the disk takes them
    OUTBOX_FAILED = "outbox_failed"
    # (MQTT) the outbox file was corrupt: moved aside (kept for a person), a fresh one started;
    # active until the daemon restarts, so someone looks at it
    OUTBOX_CORRUPT = "outbox_corrupt"
    # the config file failed validation at start: the last good config runs (detail: the line)
    CONFIG_REJECTED = "config_rejected"
    # the lamp-current input could not be set up: the light works, its lamp is not checked
    LAMP_INPUT_FAILED = "lamp_input_failed"
    # the daemon is ending on an error (left retained with status 'failed', with the reason)
    DAEMON_FAILED = "daemon_failed"
    # the MQTT service cannot start (its password file unreadable): the light runs without it,
    # and it is tried again until it starts (seen in the log and systemd's STATUS meanwhile)
    MQTT_UNUSABLE = "mqtt_unusable"
    # the arrivals feed failed arrivals.fault_after polls in a row (no answer, an error, not a
    # feed): the stop works as without a feed; cleared by the next good poll
    ARRIVALS_FEED = "arrivals_feed"
    # the waiting button held for button.stuck_s: its press ended; cleared when released
    BUTTON_STUCK = "button_stuck"
    # the bus-side webhook has not taken the waiting changes (they wait in its outbox)
    WEBHOOK_FAILED = "webhook_failed"


PICTURE_FAULTS = (Fault.CAMERA_FROZEN, Fault.CAMERA_BLACK, Fault.CAMERA_BLURRED)
# while any of these is active the stop cannot see who is waiting (the fleet history's "hours
# blind", and the frame loop's blind cycles: edge.runtime.faults.FAULT_TICK follows from it)
BLIND_FAULTS = (Fault.CAMERA_LOST, Fault.CAMERA_STALE, Fault.MODEL_FAILED, *PICTURE_FAULTS)


# cmd/<this>: `stopsafe commission`'s broker round trip (the one topic the example ACL lets a
# stop read); a running daemon answers it as an unknown command
COMMISSION_PING = "commission"
HA_STATUS_TOPIC_LEAF = "status"  # <discovery_prefix>/status: Home Assistant's birth message


@dataclass(frozen=True, slots=True)
class Topics:
    """All topic names of one stop."""

    prefix: str
    stop_id: str

    @property
    def root(self) -> str:
        return f"{self.prefix}/{self.stop_id}"

    def leaf(self, leaf: Leaf | State | str) -> str:
        value = leaf.value if isinstance(leaf, Enum) else leaf
        return f"{self.root}/{value}"

    @property
    def status(self) -> str:
        return self.leaf(Leaf.STATUS)

    @property
    def tele(self) -> str:
        return self.leaf(Leaf.TELE)

    @property
    def event(self) -> str:
        return self.leaf(Leaf.EVENT)

    @property
    def cmd_filter(self) -> str:
        return f"{self.root}/{Leaf.CMD.value}/+"

    def cmd(self, name: str) -> str:
        return f"{self.root}/{Leaf.CMD.value}/{name}"

    def result(self, name: str) -> str:
        return f"{self.root}/{Leaf.RESULT.value}/{name}"

    def command_name(self, topic: str) -> str | None:
        """The ``<name>`` of ``<root>/cmd/<name>``, None for any other topic."""
        head = f"{self.root}/{Leaf.CMD.value}/"
        if not topic.startswith(head):
            return None
        name = topic[len(head):]
        return None if "/" in name else name


def parse_json(text: str | bytes, **options: Any) -> Any:
    """``json.loads`` of a payload off the wire that fails with ValueError whatever it holds:
    anyone on the broker can send a 200,000-deep array, which makes the parser give up with
    RecursionError, and that would end the thread reading it (the stop's link, the collector,
    the console). ``options`` go to ``json.loads``."""
    try:
        return json.loads(text, **options)
    except RecursionError:
        raise ValueError("nested too deeply") from None


def fleet_filter(prefix: str, leaf: Leaf | State | str) -> str:
    """The subscription filter for ``leaf`` of every stop: ``<prefix>/+/<leaf>``."""
    value = leaf.value if isinstance(leaf, Enum) else leaf
    return f"{prefix}/+/{value}"


def shared_filter(group: str, topic_filter: str) -> str:
    """An MQTT 5 shared subscription: the broker hands each message to one member of ``group``."""
    return f"$share/{group}/{topic_filter}"


def split_stop_topic(prefix: str, topic: str) -> tuple[str, str] | None:
    """``(stop_id, rest)`` of ``<prefix>/<stop_id>/<rest>``, None when the topic is elsewhere."""
    head = prefix + "/"
    if not topic.startswith(head):
        return None
    stop, sep, rest = topic[len(head):].partition("/")
    if not sep or not stop:
        return None
    return stop, rest


# an event's seq is numbered by the stop's SQLite outbox (a signed 64-bit INTEGER), and stored
# by the history as a BIGINT: nothing above this is a seq
SEQ_MAX = 2**63 - 1


class EventEnvelope(BaseModel):
    """The fields every ``event`` message carries (each kind adds its own, kept as sent):
    checked once, where the fleet takes events in, so that no payload reaches the database that
    it would refuse (a seq of 2**64, a negative or a float one, a kind that is not text)."""

    model_config = ConfigDict(extra="allow", strict=True, frozen=True)

    seq: int = Field(ge=1, le=SEQ_MAX, description="The stop's number of the event, from 1.")
    kind: str = Field(min_length=1, max_length=32, description="What happened (EventKind).")
    ts: str | None = Field(None, max_length=64, description="The stop's clock, ISO 8601.")


def entity_key(stop_id: str) -> str:
    """A stop id as Home Assistant's entity ids hold it (lower case, '-' as '_'): two stop ids
    with the same key would get the same entity ids, so a fleet's list refuses them."""
    return re.sub(r"[^a-z0-9_]", "_", stop_id.lower())


def folded_clash(stop_ids: list[str]) -> str | None:
    """One line naming the first two stop ids that fold to the same entity key, else None."""
    seen: dict[str, str] = {}
    for sid in stop_ids:
        other = seen.setdefault(entity_key(sid), sid)
        if other != sid:
            return (f"stop ids {other!r} and {sid!r} differ only in case or '-'/'_': both "
                    f"would be Home Assistant's stopsafe_{entity_key(sid)}_*")
    return None


# ---- the stop's day ----------------------------------------------------------------------------
# A stop's "today" (its telemetry's on_s_today, switched_on_today, waiting_episodes_today) and the
# fleet's daily figures are the stop's local days: the stop sends its offset from UTC in every
# telemetry (``utc_offset_s``), the fleet cuts its days with it. Offsets run from -12 h to +14 h.
MAX_UTC_OFFSET_S = 14 * 3600.0


def local_utc_offset_s() -> float:
    """This box's offset from UTC now (its time zone, daylight saving included)."""
    offset = datetime.now().astimezone().utcoffset()
    return offset.total_seconds() if offset is not None else 0.0


def stop_local(ts: float, utc_offset_s: float) -> datetime:
    """The stop's local wall time (naive, like its frames' ``wall``) at epoch ``ts``."""
    return datetime.fromtimestamp(ts, timezone.utc).replace(tzinfo=None) + timedelta(
        seconds=utc_offset_s)


def stop_day(local: datetime) -> date:
    """The day a moment belongs to: the date of the stop's local wall time. The one rule for a
    stop's "today", on the box (its frames' wall time) and in the fleet (``stop_local``)."""
    return local.date()


def day_span(day: date, utc_offset_s: float) -> tuple[float, float]:
    """Epoch seconds [start, end) of the stop's local ``day``."""
    start = datetime(day.year, day.month, day.day, tzinfo=timezone.utc).timestamp() - utc_offset_s
    return start, start + 86400.0
