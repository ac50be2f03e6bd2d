"""The places found static, kept in a small file across restarts (issue 25).

A hydrant that took two minutes of traffic to be found static must not light the stop for
another two minutes after every restart (an update, a power cut). The controller hands out
its static places as plain data (box, 8x16 thumbnail, stillness); this writes them to a JSON
file in the state directory whenever the set changes, and reads them back at start, so the
first detector run that sees the same box and picture finds it static again. The file also
tells the installer where the static things are (``stopsafe zone --mask-static`` masks them).

A missing, unreadable or foreign file is no error: the daemon starts with no places (logged).
Writes go to a temporary file renamed over the old one, so a power cut leaves either.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import structlog

from detector.base import Detection
from edge.config import Config, state_dir
from edge.decision.static import StaticPlace
from edge.files import write_atomic

log = structlog.get_logger("stopsafe.static")

VERSION = 1
MAX_BYTES = 256 * 1024  # 64 places take about 30 KB; anything bigger is not ours


def static_file_path(cfg: Config, *, default: bool) -> Path | None:
    """The file of this stop's static places: ``static.state_file``, else (``default``: the
    daemon and the installer's commands) static-<stop.id>.json in the state directory; None
    when ``static.remember`` is off, or neither applies (the simulator)."""
    if not cfg.static.enabled or not cfg.static.remember:
        return None
    if cfg.static.state_file is not None:
        return cfg.static.state_file
    return state_dir() / f"static-{cfg.stop.id}.json" if default else None


def _place_doc(p: StaticPlace) -> dict[str, Any]:
    b = p.box
    return {"box": [round(v, 4) for v in (b.x1, b.y1, b.x2, b.y2)], "score": round(b.score, 3),
            "signature": b.signature.hex(), "still_s": round(p.still_s, 1)}


def _place(doc: dict[str, Any]) -> StaticPlace:
    x1, y1, x2, y2 = (float(v) for v in doc["box"])
    if not (0.0 <= x1 < x2 <= 1.0 and 0.0 <= y1 < y2 <= 1.0):
        raise ValueError(f"box {doc['box']} is not inside the frame")
    box = Detection(x1, y1, x2, y2, float(doc.get("score", 1.0)),
                    signature=bytes.fromhex(doc["signature"]))
    return StaticPlace(box, float(doc["still_s"]))


def read_places(path: Path) -> list[StaticPlace]:
    """The places in ``path``; [] (logged) when it is missing or not a file of ours."""
    try:
        if path.stat().st_size > MAX_BYTES:
            raise ValueError(f"larger than {MAX_BYTES} bytes")
        doc = json.loads(path.read_text(encoding="utf-8"))
        if doc.get("version") != VERSION:
            raise ValueError(f"version {doc.get('version')!r}, not {VERSION}")
        places = [_place(p) for p in doc["places"]]
    except FileNotFoundError:
        return []
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        log.warning("static_file_unreadable", path=str(path), error=str(exc))
        return []
    log.info("static_places_restored", path=str(path), places=len(places),
             boxes=[_place_doc(p)["box"] for p in places])
    return places


class StaticPlacesFile:
    """Writes the controller's static places to ``path`` when the set of places changes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._key: tuple[Any, ...] | None = None

    def load(self) -> list[StaticPlace]:
        places = read_places(self.path)
        self._key = self._key_of(places)
        return places

    @staticmethod
    def _key_of(places: Sequence[StaticPlace]) -> tuple[Any, ...]:
        return tuple((tuple(round(v, 3) for v in (p.box.x1, p.box.y1, p.box.x2, p.box.y2)),
                      p.box.signature) for p in places)

    def keep(self, places: Sequence[StaticPlace]) -> None:
        """Write ``places`` when they differ from what the file holds (a place found static,
        or one that moved or went); a failed write is logged and tried again next time."""
        key = self._key_of(places)
        if key == self._key:
            return
        doc = {"version": VERSION, "places": [_place_doc(p) for p in places]}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(self.path, json.dumps(doc))
        except OSError as exc:
            log.warning("static_file_not_written", path=str(self.path), error=str(exc))
            return
        self._key = key
        log.info("static_places_kept", path=str(self.path), places=len(places))
