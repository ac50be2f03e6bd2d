"""The outbox drain: what the frame thread hands the maintenance link, without waiting for it.

The frame thread (and the fault registry's listeners, in whichever thread raised the fault) only
put messages on a queue here; the link's thread drains the queue into the link: retained states
into its retained values (published on change and again on every connect), events into its
outbox on disk (each gets its sequence number there). Nothing here ever waits for the broker.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from enum import Enum
from queue import Empty, SimpleQueue
from typing import Any

from edge.mqtt.link import Link
from edge.runtime.faults import ActiveFault, fault_reasons
from edge.wire import Fault, State, Topics


class _Msg(str, Enum):
    STATE = "state"
    EVENT = "event"
    FAULT = "fault"
    FAULTS = "faults"  # the fault states again, from the registry as it is


def fault_list(faults: Iterable[Fault]) -> str:
    """The payload of ``faults/state``: the active faults' names, sorted (``[]`` when none)."""
    return json.dumps(sorted(f.value for f in faults))


def fault_detail(active: Mapping[Fault, ActiveFault]) -> str:
    """The payload of ``faults/detail``: every active fault with since when and why (``{}``
    when none)."""
    return json.dumps(fault_reasons(active), separators=(",", ":"), default=str)


class OutboxDrain:
    """A queue from any thread into the link, drained in the link's thread (``drain``)."""

    def __init__(self, link: Link, topics: Topics,
                 call_in_link_thread: Callable[[Callable[[], None]], None], *,
                 active_faults: Callable[[], Mapping[Fault, ActiveFault]] = dict) -> None:
        self.link = link
        self.topics = topics
        self._call = call_in_link_thread
        self.active_faults = active_faults  # the stop's, as they are now, with since and why
        self._q: SimpleQueue[tuple[Any, ...]] = SimpleQueue()

    def state(self, state: State, value: str) -> None:
        """A retained state's new value (any thread)."""
        self._q.put((_Msg.STATE, state, value))

    def event(self, event: dict[str, Any]) -> None:
        """An event for the outbox (any thread)."""
        self._q.put((_Msg.EVENT, event))

    def fault(self, active_now: frozenset[Fault], event: dict[str, Any]) -> None:
        """A fault raised or cleared (any thread): the retained list as it was just after it,
        and its event, drained together."""
        self._q.put((_Msg.FAULT, fault_list(active_now), event))

    def faults_again(self) -> None:
        """The fault states again, from the stop's registry as it is (any thread)."""
        self._q.put((_Msg.FAULTS,))

    def drain(self) -> None:
        """Everything queued into the link (the link's thread)."""
        while True:
            try:
                item = self._q.get_nowait()
            except Empty:
                return
            kind = item[0]
            if kind is _Msg.STATE:
                self.link.set_retained(self.topics.leaf(item[1]), item[2])
            elif kind is _Msg.EVENT:
                self.link.add_event(item[1])
            elif kind is _Msg.FAULT:
                self._set_fault_states(item[1])
                self.link.add_event(item[2])
            else:
                self._set_fault_states(None)

    def _set_fault_states(self, names: str | None) -> None:
        """``faults/state`` (the names as of the event; None: as they are now) and
        ``faults/detail`` (each active fault with since when and why), from one look at the
        stop's faults, in the link thread."""
        active = self.active_faults()
        self.link.set_retained(self.topics.leaf(State.FAULTS),
                               fault_list(active) if names is None else names)
        self.link.set_retained(self.topics.leaf(State.FAULT_DETAIL), fault_detail(active))

    def drain_soon(self) -> None:
        """Into the outbox (on disk) now, not at the link's next tick: an event still in the
        hand-off when the process is killed would never get a seq."""
        self._call(self.drain)
