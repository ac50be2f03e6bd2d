"""Things that stand still for ever: a person-shaped box whose place and picture do not change.

A detector that takes a hydrant, a bin or a poster for a person does so on every frame, all
night. Real people who wait do not keep still at the pixel level: they shift their weight, turn
their head, look at a phone, so their box's edges and the picture inside it drift.

The rule keeps *places*, not tracks: a place is a box and its crop signature (made at the edge:
``Detection.signature``, so the core stays pure). Every box seen on a detector run is compared
with the places; one whose edges are all within ``box_tolerance`` (box heights) of a place's
and whose signature is within ``picture_tolerance`` of the place's is that place seen again, and
the place's *stillness* grows by the time since it was last seen. A place with ``after_s`` of
stillness is static: a track standing on it stops counting as a waiting person and is reported
(the ``static_object`` fault, with its box) until it moves or goes.

Why places and not tracks: on a street something passes in front of a hydrant every half
minute (measured on unseen footage: the longest unbroken still spell was 30 s). The car hides
it, the tracker loses it, a walker's box takes its track away; a rule that starts again with
every new track never fires. A place outlives its tracks, so the stillness adds up across the
gaps: a gap up to ``grace_s`` counts as still (a car driving past, the night model drawing the
box differently for a moment, a pixel of box jitter over a sharp edge: measured, a 0.4 % box
shift alone moves the signature by 0.085); a longer one does not, and every second of it beyond
``grace_s`` takes ``decay`` seconds of stillness away. With ``decay`` above 1 a place must be
seen for longer than it is hidden to gain: a person who keeps returning to the same two poses in
turn never adds up, and a place that is gone for good is forgotten. Stillness is capped at
``CAP`` x ``after_s``, so a static thing stays static through an absence of about
``after_s / decay``, no longer.

A static place can be saved (:meth:`StaticWatch.static_places`) and given back after a restart
(:meth:`StaticWatch.restore`): the first detector run that sees the same box and picture finds
it static at once. The file is the runtime's; here it is plain data.

Without a signature (scripted detections, the fleet simulator) nothing can be static: the rule
needs evidence that the picture did not change, never the lack of it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from detector.base import SIGNATURE_WH, Detection
from edge.decision.timing import TIME_EPS
from edge.decision.tracker import Track

CONTRAST_FLOOR = 8.0  # grey levels: a flat patch's noise is not blown up by normalising
PART_INSIDE = 0.85  # of a box's area inside a static place's box: maybe a part of the thing
# a part is compared on the whole's coarse thumbnail cells: measured 0.23-0.36 for the night
# model's half-boxes of the street case's thing, 0.90 for a walker in front of it, about 1.1 for
# unrelated pictures; so a part may differ by twice picture_tolerance
PART_SLACK = 2.0
CAP = 2.0  # stillness is kept up to this many after_s (how long a static thing is remembered)
MAX_PLACES = 64  # the fewest-still places go first (a crowd makes one a person a run)


@dataclass(frozen=True, slots=True)
class StaticSettings:
    after_s: float  # still this long: a static object
    box_tolerance: float  # largest move of any box edge from the place's, in box heights
    picture_tolerance: float  # largest mean difference of the normalised crop thumbnails
    grace_s: float  # a gap up to this long counts as still
    decay: float  # stillness lost per second unseen beyond grace_s


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


def part_change(whole: Detection, part: Detection) -> float | None:
    """How different ``part``'s picture is from the same part of ``whole``'s, when ``part``
    lies (nearly) inside ``whole``; None otherwise.

    The night model draws a second, weaker box on half of a hydrant now and then; a walker's
    track that leaves the picture can be carried on by it (measured on the street case: a
    ghost "person" that waited 28 s). The part of a static thing is the static thing, when its
    picture is that part of the thing's thumbnail (compared on the thumbnail's cells the part
    covers, the part's own thumbnail averaged down to them)."""
    if not whole.signature or len(whole.signature) != len(part.signature):
        return None
    ix = max(0.0, min(whole.x2, part.x2) - max(whole.x1, part.x1))
    iy = max(0.0, min(whole.y2, part.y2) - max(whole.y1, part.y1))
    if ix * iy < PART_INSIDE * max(part.width * part.height, 1e-9):
        return None
    w, h = SIGNATURE_WH
    # the part's footprint in the whole's thumbnail cells; both compared at that (coarser) size
    eps = 1e-6  # a part that starts on a cell's edge starts in that cell
    c1 = int(np.clip(np.floor((part.x1 - whole.x1) / max(whole.width, eps) * w + eps), 0, w - 1))
    c2 = int(np.clip(np.ceil((part.x2 - whole.x1) / max(whole.width, eps) * w - eps), c1 + 1, w))
    r1 = int(np.clip(np.floor((part.y1 - whole.y1) / max(whole.height, eps) * h + eps), 0, h - 1))
    r2 = int(np.clip(np.ceil((part.y2 - whole.y1) / max(whole.height, eps) * h - eps), r1 + 1, h))
    if (c2 - c1) * (r2 - r1) < 8:
        return None  # too small a part to tell
    thumb = np.frombuffer(whole.signature, np.uint8).reshape(h, w)[r1:r2, c1:c2]
    mine = _shrink(np.frombuffer(part.signature, np.uint8).reshape(h, w).astype(np.float32),
                   r2 - r1, c2 - c1)
    return picture_change(thumb.tobytes(), np.round(mine).astype(np.uint8).tobytes())


def _shrink(a: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """``a`` averaged down to rows x cols (each output cell the mean of the input cells it
    covers)."""
    ri = np.minimum((np.arange(a.shape[0]) * rows) // a.shape[0], rows - 1)
    ci = np.minimum((np.arange(a.shape[1]) * cols) // a.shape[1], cols - 1)
    out = np.zeros((rows, cols), np.float32)
    n = np.zeros((rows, cols), np.float32)
    np.add.at(out, (ri[:, None], ci[None, :]), a)
    np.add.at(n, (ri[:, None], ci[None, :]), 1.0)
    return out / np.maximum(n, 1.0)


@dataclass(frozen=True, slots=True)
class StaticPlace:
    """A place as plain data (for the runtime's state file): its box, with the signature, and
    its stillness in seconds."""

    box: Detection
    still_s: float


@dataclass(slots=True)
class Place:
    """A box and picture, how long they have been seen unchanged, and when last.

    The picture is kept per state of the stop's own floor light (``lit``): the light changes
    what the camera sees of a thing in its pool (warmer, brighter, unevenly), and a place that
    looked different with the light on would be a new place every time the light switched (on
    -> found static -> off -> a "new" person -> on: measured on the street case with the
    simulator's own light, a cycle every 15 s). A place seen a moment ago (on the last run, or
    within ``grace_s``) takes the picture of the other light state from the first box on the
    same spot after the switch."""

    box: Detection
    still_s: float
    last: float
    norms: dict[bool, np.ndarray]  # normalised signature per light state (on, off)
    missed: bool = False  # a detector run has not seen it since ``last``

    @classmethod
    def new(cls, box: Detection, still_s: float, now: float) -> Place:
        """A place restored from a file (its picture taken as the light's off state)."""
        return cls(box, still_s, now, {False: _normalised(box.signature)})

    def still_at(self, now: float, s: StaticSettings) -> float:
        """The stillness if it were seen again at ``now``: the time since it was last seen
        counts as still while no detector run has missed it (the adaptive rate may look
        rarely), or up to ``grace_s``; a longer gap does not count, and every second of it
        beyond ``grace_s`` takes ``decay`` seconds away."""
        gap = max(0.0, now - self.last)
        if not self.missed or gap <= s.grace_s:
            value = self.still_s + gap
        else:
            value = self.still_s - s.decay * (gap - s.grace_s)
        return min(max(0.0, value), CAP * s.after_s)


class StaticWatch:
    """The places seen on detector runs, and which place each track stands on."""

    def __init__(self, s: StaticSettings) -> None:
        self.settings = s
        self.places: list[Place] = []
        self.on: dict[int, Place] = {}  # track id -> the place it stands on
        self.differs: dict[int, float] = {}  # track id -> since when its boxes are elsewhere
        self.left: set[int] = set()  # tracks that left a static place on the last update

    def reset(self) -> None:
        self.places.clear()
        self.on.clear()
        self.differs.clear()

    def shift(self, dt: float) -> None:
        """Blind time is skipped: nothing was seen, nothing was hidden."""
        for p in self.places:
            p.last += dt
        for k in self.differs:
            self.differs[k] += dt

    def update(self, tracks: Iterable[Track], now: float, lit: bool = False) -> None:
        """After the tracker: every box seen on this run is matched to the stillest place it is
        unchanged from, or makes a new place. ``lit``: the stop's own light was on when the
        frame was taken."""
        tracks = list(tracks)
        self.left = set()
        seen = [t for t in tracks if t.seen_now and t.box.signature]
        sigs = [_normalised(t.box.signature) for t in seen]  # once a box and run
        s = self.settings
        pairs = []
        for ti, t in enumerate(seen):
            for pi, value, part in self._matches(t.box, sigs[ti], now, lit):
                pairs.append((-self.places[pi].still_at(now, s), value, part, ti, pi))
        pairs.sort()
        used_t: set[int] = set()
        used_p: set[int] = set()
        found: dict[int, Place] = {}
        for _, _, part, ti, pi in pairs:
            if ti in used_t or (pi in used_p and not part):
                continue
            used_t.add(ti)
            place = found[ti] = self.places[pi]
            if not part:  # a part of a thing stands on it, but only the whole is seen again
                used_p.add(pi)
                place.still_s, place.last, place.missed = place.still_at(now, s), now, False
                place.norms.setdefault(lit, sigs[ti])
        for ti, t in enumerate(seen):
            if ti not in found:
                found[ti] = Place(t.box, 0.0, now, {lit: sigs[ti]})
                self.places.append(found[ti])
                used_p.add(len(self.places) - 1)
            self._stand(t.id, found[ti], now)
        for pi, p in enumerate(self.places):
            if pi not in used_p:
                p.missed = True
        live = {t.id for t in tracks}
        self.on = {k: v for k, v in self.on.items() if k in live}
        self.differs = {k: v for k, v in self.differs.items() if k in live}
        kept = {id(p) for p in self.on.values()}
        self.places = [p for p in self.places if id(p) in kept or p.still_at(now, s) > 0.0]
        if len(self.places) > MAX_PLACES:
            self.places.sort(key=lambda p: (id(p) in kept, p.still_at(now, s)), reverse=True)
            del self.places[MAX_PLACES:]

    def _stand(self, track_id: int, place: Place, now: float) -> None:
        """The track's box was ``place`` on this run. A track leaves a stiller place only when
        it has been elsewhere for ``grace_s``: the night model drawing the box 3 % differently
        for a moment, or a walker's box taken for it, is not the thing moving."""
        was = self.on.get(track_id)
        if was is None or place is was or place.still_s >= was.still_s:
            self.on[track_id] = place
            self.differs.pop(track_id, None)
        elif now - self.differs.setdefault(track_id, now) >= self.settings.grace_s:
            self.on[track_id] = place
            del self.differs[track_id]
            if self._static(was, now) and not self._static(place, now):
                self.left.add(track_id)

    def _static(self, place: Place, now: float) -> bool:
        return place.still_at(now, self.settings) >= self.settings.after_s - TIME_EPS

    def _matches(self, box: Detection, sig: np.ndarray, now: float, lit: bool
                 ) -> list[tuple[int, float, bool]]:
        """(index, picture change, a part) of every place ``box`` (``sig``: its normalised
        signature) is unchanged from, or is a part of (a static place only: see
        :func:`part_change`)."""
        s = self.settings
        out = []
        for i, p in enumerate(self.places):
            norm = p.norms.get(lit)
            if len(p.box.signature) != len(box.signature):
                continue
            part = box_change(p.box, box) > s.box_tolerance
            if not part and norm is None:
                # not yet seen with the light as it is now: the first box on the same spot
                # right after a switch (seen on the last run, or within grace_s) is its
                # picture in this light
                if p.missed and now - p.last > s.grace_s:
                    continue
                value: float | None = s.picture_tolerance
            elif not part:
                value = float(np.abs(norm - sig).mean())
            elif self._static(p, now):
                value = part_change(p.box, box)
            else:
                continue
            if value is not None and value <= s.picture_tolerance * (PART_SLACK if part else 1):
                out.append((i, value, part))
        return out

    def is_static(self, track: Track, now: float) -> bool:
        place = self.on.get(track.id)
        return place is not None and self._static(place, now)

    def unchanged_s(self, track: Track, now: float) -> float:
        """How long the place the track stands on has been still (for measurements)."""
        place = self.on.get(track.id)
        return 0.0 if place is None else place.still_at(now, self.settings)

    # ---------------- across restarts (the runtime keeps the file) ----------------
    def static_places(self, now: float) -> tuple[StaticPlace, ...]:
        """The places static at ``now``, stillest first (one that went decays out of it)."""
        s = self.settings
        still = sorted(((p.still_at(now, s), p) for p in self.places), key=lambda v: -v[0])
        return tuple(StaticPlace(p.box, round(v, 1)) for v, p in still
                     if v >= s.after_s - TIME_EPS)

    def restore(self, places: Sequence[StaticPlace], now: float) -> None:
        """Places saved before a restart, as last seen at ``now``."""
        cap = CAP * self.settings.after_s
        for p in places:
            if p.box.signature:
                self.places.append(Place.new(p.box, min(p.still_s, cap), now))
