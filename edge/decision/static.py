"""Things that stand still for ever: a person-shaped box whose place and picture do not change.

A detector that takes a hydrant, a bin or a poster for a person does so on every frame, all
night. Real people who wait do not keep still at the pixel level: they shift their weight, turn
their head, look at a phone, so their box's edges and the picture inside it drift. A track whose
box stays within ``box_tolerance`` (box heights, each edge) of where it was, and whose crop
signature stays within ``picture_tolerance`` of what it was, for ``after_s`` stops counting as
a waiting person; it is reported (the ``static_object`` fault, with its box) until it moves or
goes. Pure: the pixels were reduced to a signature at the edge (``Detection.signature``).

A difference must last ``grace_s`` before it counts (the anchor is taken anew): a car driving
past a hydrant, the day and night models drawing its box a little differently for a moment, a
pixel of box jitter over a sharp edge (measured: a 0.4 % box shift alone moves the signature by
0.085) are not the thing moving. A person who moves keeps differing, and does so within it.

Without a signature (scripted detections, the fleet simulator) nothing can be static: the rule
needs evidence that the picture did not change, never the lack of it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from detector.base import Detection
from edge.decision.tracker import Track

# A static object whose track ended (the detector lost it for longer than the tracker coasts) is
# remembered this long: a new track on the same place with the same picture is static at once,
# instead of lighting the stop again for another after_s.
REMEMBER_S = 60.0
CONTRAST_FLOOR = 8.0  # grey levels: a flat patch's noise is not blown up by normalising


@dataclass(frozen=True, slots=True)
class StaticSettings:
    after_s: float  # unchanged this long: a static object
    box_tolerance: float  # largest move of any box edge from the anchor, in box heights
    picture_tolerance: float  # largest mean difference of the normalised crop thumbnails
    grace_s: float  # a difference must last this long to count


def box_change(a: Detection, b: Detection) -> float:
    """The largest move of any edge from ``a`` to ``b``, in ``a``'s heights."""
    moved = max(abs(a.x1 - b.x1), abs(a.y1 - b.y1), abs(a.x2 - b.x2), abs(a.y2 - b.y2))
    return moved / max(a.height, 1e-3)


def _normalised(sig: bytes) -> np.ndarray:
    v = np.frombuffer(sig, np.uint8).astype(np.float32)
    return (v - v.mean()) / max(float(v.std()), CONTRAST_FLOOR)


def picture_change(a: bytes, b: bytes) -> float | None:
    """Mean absolute difference of two crop signatures, each brought to zero mean and unit
    contrast first (so a lamp coming on or a cloud is not a change); None when either is
    missing or they differ in size."""
    if not a or not b or len(a) != len(b):
        return None
    return float(np.abs(_normalised(a) - _normalised(b)).mean())


def unchanged(a: Detection, b: Detection, s: StaticSettings) -> bool:
    """Box ``b`` is the same thing as ``a``, unmoved and looking the same."""
    pic = picture_change(a.signature, b.signature)
    return (pic is not None and pic <= s.picture_tolerance
            and box_change(a, b) <= s.box_tolerance)


@dataclass(slots=True)
class Anchor:
    """Where a track was when it last changed, and since when."""

    box: Detection
    since: float
    differs_since: float | None = None  # the first of the boxes that differ from it now

    def observe(self, box: Detection, now: float, s: StaticSettings) -> None:
        """A newly seen box: the anchor holds while it is the same, or differs for less than
        ``grace_s``; a difference that lasts longer makes this box the new anchor."""
        if unchanged(self.box, box, s):
            self.differs_since = None
        elif self.differs_since is None and s.grace_s > 0:
            self.differs_since = now
        elif self.differs_since is None or now - self.differs_since >= s.grace_s:
            self.box, self.since, self.differs_since = box, now, None


@dataclass(slots=True)
class _Remembered:
    anchor: Anchor
    until: float


class StaticWatch:
    """Per track: since when its box and picture have stayed within tolerance of an anchor."""

    def __init__(self, s: StaticSettings) -> None:
        self.settings = s
        self.anchors: dict[int, Anchor] = {}
        self.remembered: list[_Remembered] = []

    def reset(self) -> None:
        self.anchors.clear()
        self.remembered.clear()

    def shift(self, dt: float) -> None:
        for a in [*self.anchors.values(), *(r.anchor for r in self.remembered)]:
            a.since += dt
            if a.differs_since is not None:
                a.differs_since += dt
        for r in self.remembered:
            r.until += dt

    def update(self, tracks: Iterable[Track], now: float) -> None:
        """After the tracker: every track matched on this frame is compared with its anchor."""
        live: set[int] = set()
        for t in tracks:
            live.add(t.id)
            anchor = self.anchors.get(t.id)
            if anchor is None:
                self.anchors[t.id] = self._recall(t.box, now)
            elif t.seen_now:
                anchor.observe(t.box, now, self.settings)
        for gone in set(self.anchors) - live:
            anchor = self.anchors.pop(gone)
            if self.static_since(anchor, now):
                self.remembered.append(_Remembered(anchor, now + REMEMBER_S))
        self.remembered = [r for r in self.remembered if r.until > now]

    def _recall(self, box: Detection, now: float) -> Anchor:
        for r in self.remembered:
            if unchanged(r.anchor.box, box, self.settings):
                self.remembered.remove(r)
                return r.anchor
        return Anchor(box, now)

    def static_since(self, anchor: Anchor, now: float) -> bool:
        return (bool(anchor.box.signature)
                and now - anchor.since >= self.settings.after_s - 1e-6)

    def is_static(self, track: Track, now: float) -> bool:
        anchor = self.anchors.get(track.id)
        return anchor is not None and self.static_since(anchor, now)

    def unchanged_s(self, track: Track, now: float) -> float:
        """How long the track's box and picture have stayed as they are (for measurements)."""
        anchor = self.anchors.get(track.id)
        return 0.0 if anchor is None else now - anchor.since
