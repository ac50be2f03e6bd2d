"""What every config section shares: the base class, the exit status and error of a bad file,
the common value types, the zone polygon check (config and scenario files alike) and where the
daemon keeps its state."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

EX_CONFIG = 78
REPO_ROOT = Path(__file__).resolve().parents[2]

NonNegSeconds = Annotated[float, Field(ge=0.0, le=86400.0)]
Fraction = Annotated[float, Field(ge=0.0, le=1.0)]
Point = tuple[Fraction, Fraction]
Polygon = Annotated[list[Point], Field(min_length=3, max_length=64)]
HTTP_URL = r"^https?://\S+$"  # a URL setting (a feed, a webhook, a link Home Assistant shows)


class Section(BaseModel):
    """Base of every section: unknown keys are refused, values are checked on assignment too."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class ConfigError(Exception):
    """A configuration that cannot be used; ``str()`` is the one line for the operator."""

    exit_code = EX_CONFIG


def state_dir() -> Path:
    """Where the daemon keeps what it makes (the outbox, TensorRT's engines):
    ``$STATE_DIRECTORY`` (systemd's StateDirectory=), else ~/.local/state/stopsafe."""
    state = os.environ.get("STATE_DIRECTORY", "").split(":")[0]
    return Path(state) if state else (
        Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state") / "stopsafe"
    )


def check_zone_polygon(polygon: list[tuple[float, float]], name: str) -> None:
    """A zone must be one simple polygon with an area (config and scenario files alike)."""
    import cv2
    import numpy as np

    from edge.decision.zones import self_intersection

    pts = np.asarray(polygon, np.float64)
    if np.linalg.matrix_rank(pts - pts[0], tol=1e-12) < 2:
        raise ValueError(f"{name} has no area (its points are in a line)")
    crossing = self_intersection(polygon)
    if crossing is not None:
        i, j = crossing
        n = len(polygon)
        raise ValueError(f"{name} is self-intersecting: edge {i} (points {i}-{(i + 1) % n}) "
                         f"meets edge {j} (points {j}-{(j + 1) % n}); draw its outline once, "
                         "without crossing")
    if abs(cv2.contourArea(np.asarray(polygon, np.float32))) <= 0.0:
        raise ValueError(f"{name} has no area (its points are in a line)")


