"""The outbox drain: what the frame thread hands the maintenance link, without waiting for it.

The frame thread (and the fault registry's listeners, in whichever thread raised the fault) only
put messages on a queue here; the link's thread drains the queue into the link: retained states
into its retained values (published on change and again on every connect), events into its
outbox on disk (each gets its sequence number there). Nothing here ever waits for the broker.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from enum import Enum
from queue import Empty, SimpleQueue
from typing import Any

from edge.mqtt.link import Link
from edge.wire import Fault, State, Topics


class _Msg(str, Enum):
    STATE = "state"
    EVENT = "event"
    FAULT = "fault"


def fault_list(faults: frozenset[Fault]) -> str:
    """The payload of ``faults/state``: the active faults' names, sorted (``[]`` when none)."""
    return json.dumps(sorted(f.value for f in faults))


class OutboxDrain:
    """A queue from any thread into the link, drained in the link's thread (``drain``)."""

    def __init__(self, link: Link, topics: Topics,
                 call_in_link_thread: Callable[[Callable[[], None]], None]) -> None:
        self.link = link
        self.topics = topics
        self._call = call_in_link_thread
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
            else:
                self.link.set_retained(self.topics.leaf(State.FAULTS), item[1])
                self.link.add_event(item[2])

    def drain_soon(self) -> None:
        """Into the outbox (on disk) now, not at the link's next tick: an event still in the
        hand-off when the process is killed would never get a seq."""
        self._call(self.drain)
