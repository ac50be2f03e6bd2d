"""A small tracker: detections keep their identity across frames and short drop-outs.

People who stand still flicker in and out of detection; a track survives ``max_missed_s`` without
a detection, its standing point carried on by its last velocity, so that a person who walks out
of the zone leaves it while a person who stands still stays in it.

Two thresholds, as mature trackers have them. Strong detections (at or above the profile's
confirming threshold) are matched first and start tracks; low ones (between the floor and that
threshold) are then matched to the tracks still unmatched and only carry them on, never start
one (ByteTrack's second association). A track counts as a person once it has ``confirm_hits``
detections and most of its last three were strong (Frigate's "median of the last three scores
reaches the threshold", with each profile's own threshold); after that it stays confirmed.

Why hand-written and not a library (checked with pip's resolver, Dec 2026): norfair 2.3.0 needs
numpy < 2 (the project runs numpy 2 beside ai-edge-litert) and brings filterpy, scipy and
matplotlib; supervision 0.31's ByteTrack brings 19 packages (matplotlib, scipy, av, requests).
Neither has the rules this product's light depends on and which the shared footage was scored
with: coasting a still person through detector drop-outs at a low adaptive rate (a miss count,
not only a time), dropping a track that walked out over the picture's side, and confirmation
by the majority of the last three boxes with per-profile thresholds. This file is 170 lines.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from detector.base import Detection

VELOCITY_SMOOTHING = 0.5  # weight of the newest step in the velocity estimate
# a confirmed track also survives this many detector runs without a match, however far apart
# they are (at a low adaptive rate one miss can span more than max_missed_s)
MIN_MISSES_TO_DROP = 2
CONFIRM_WINDOW = 3  # the last this many boxes of a tentative track vote on confirming it
SIDE_EDGE = 0.005  # a box this close to the frame's left or right side is cut by it


OUTWARD_SPEED = 0.02  # frame widths a second towards the side: walking out, not standing there


def _walked_out(track: Track) -> bool:
    """Last seen cut by the picture's left or right side and moving towards it: gone. A person
    who stands at the side (a zone may reach it) keeps coasting like anyone else."""
    vx = track.velocity[0]
    return ((track.box.x1 <= SIDE_EDGE and vx < -OUTWARD_SPEED)
            or (track.box.x2 >= 1.0 - SIDE_EDGE and vx > OUTWARD_SPEED))


@dataclass(slots=True)
class Track:
    id: int
    box: Detection
    first_seen: float
    last_seen: float
    hits: int = 1
    velocity: tuple[float, float] = (0.0, 0.0)  # of the standing point, fractions per second
    point: tuple[float, float] = field(default=(0.0, 0.0))  # standing point now (seen or guessed)
    seen_now: bool = True
    misses: int = 0  # detector runs since it was last matched
    confirmed: bool = False  # a person (latched: stays so until the track ends)
    strong: deque[bool] = field(default_factory=lambda: deque(maxlen=CONFIRM_WINDOW))

    def predict(self, now: float) -> tuple[float, float]:
        dt = now - self.last_seen
        x, y = self.box.bottom_centre
        return x + self.velocity[0] * dt, y + self.velocity[1] * dt


class Tracker:
    """Greedy nearest-neighbour association on the standing point, scaled by box height."""

    def __init__(self, max_missed_s: float, match_distance: float, confirm_hits: int) -> None:
        self.max_missed_s = max_missed_s
        self.match_distance = match_distance
        self.confirm_hits = confirm_hits
        self.tracks: list[Track] = []
        self._next_id = 1

    def reset(self) -> None:
        self.tracks.clear()

    def confirmed(self, track: Track) -> bool:
        return track.confirmed

    def _associate(self, tracks: Sequence[int], detections: Sequence[Detection], now: float
                   ) -> list[tuple[int, int]]:
        """Greedy pairs (track index, detection index), cheapest first."""
        pairs = []
        for ti in tracks:
            track = self.tracks[ti]
            px, py = track.predict(now)
            for di, det in enumerate(detections):
                dx, dy = det.bottom_centre
                scale = max(track.box.height, det.height, 1e-3)
                cost = ((dx - px) ** 2 + (dy - py) ** 2) ** 0.5 / scale
                if cost <= self.match_distance:
                    pairs.append((cost, ti, di))
        pairs.sort()
        used_t: set[int] = set()
        used_d: set[int] = set()
        out = []
        for _, ti, di in pairs:
            if ti in used_t or di in used_d:
                continue
            used_t.add(ti)
            used_d.add(di)
            out.append((ti, di))
        return out

    def update(self, detections: list[Detection], now: float,
               low: Sequence[Detection] = ()) -> list[Track]:
        """Advance to time ``now`` with this frame's strong ``detections`` and ``low`` ones;
        the live tracks after it."""
        strong_pairs = self._associate(range(len(self.tracks)), detections, now)
        used_t = {ti for ti, _ in strong_pairs}
        used_d = {di for _, di in strong_pairs}
        for ti, di in strong_pairs:
            self._observe(self.tracks[ti], detections[di], now, strong=True)
        rest = [ti for ti in range(len(self.tracks)) if ti not in used_t]
        for ti, di in self._associate(rest, low, now) if low else ():
            used_t.add(ti)
            self._observe(self.tracks[ti], low[di], now, strong=False)

        alive = []
        for ti, track in enumerate(self.tracks):
            if ti in used_t:
                alive.append(track)
                continue
            track.seen_now = False
            track.misses += 1
            track.point = track.predict(now)
            # a tentative track that misses a frame was noise; a confirmed one may coast, unless
            # it was last seen walking out over the picture's left or right side
            recent = now - track.last_seen <= self.max_missed_s
            if (track.confirmed and (recent or track.misses < MIN_MISSES_TO_DROP)
                    and not _walked_out(track)):
                alive.append(track)
        for di, det in enumerate(detections):  # only strong boxes start a track
            if di not in used_d:
                track = Track(self._next_id, det, now, now, point=det.bottom_centre)
                track.strong.append(True)
                self._confirm(track)
                alive.append(track)
                self._next_id += 1
        self.tracks = alive
        return alive

    def _confirm(self, track: Track) -> None:
        if (not track.confirmed and track.hits >= self.confirm_hits
                and 2 * sum(track.strong) > len(track.strong)):
            track.confirmed = True

    def _observe(self, track: Track, det: Detection, now: float, *, strong: bool) -> None:
        dt = now - track.last_seen
        if dt > 0:
            ox, oy = track.box.bottom_centre
            nx, ny = det.bottom_centre
            vx, vy = (nx - ox) / dt, (ny - oy) / dt
            a = VELOCITY_SMOOTHING
            track.velocity = (
                a * vx + (1 - a) * track.velocity[0],
                a * vy + (1 - a) * track.velocity[1],
            )
        track.box = det
        track.last_seen = now
        track.hits += 1
        track.misses = 0
        track.point = det.bottom_centre
        track.seen_now = True
        track.strong.append(strong)
        self._confirm(track)
