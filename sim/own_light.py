"""The stop's own floor light in the picture, closed-loop (issue 25).

The floor light is switched by what the camera sees and lights the very area the camera
watches. In the simulator the relay's state drives the picture: while the (mock) relay is on,
a warm pool of light brightens a region of every frame (per colour channel) and the camera's
auto-exposure darkens the rest; at every switch the exposure first jumps (over-exposed just
after the light comes on, under-exposed just after it goes off) and settles over ``settle_s``.
A pipeline that loses or invents people in that picture, restarts the adaptive gate or trips
picture health on it, switches the light again: on -> person lost -> off -> found -> on.

The effect is on the frame the pipeline reads after the relay was switched: the relay's state
is read back from the relay itself, as a camera would see the lamp.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from edge.runtime.frames import Frame

Gain = tuple[float, float, float]


class OwnLight(BaseModel):
    """How the floor light changes the picture (a scenario's ``own_light``)."""

    model_config = ConfigDict(extra="forbid")

    region: tuple[float, float, float, float] = Field(
        (0.15, 0.55, 0.85, 1.0), description="The pool of light on the floor: x1, y1, x2, y2 "
        "in frame fractions; its edge is soft (a tenth of its size).")
    gain: tuple[float, float, float] = Field(
        (1.15, 1.3, 1.5), description="Blue, green, red multipliers inside the pool (warm).")
    rest: float = Field(0.8, ge=0.1, le=2.0, description="The rest of the frame, as the "
                        "auto-exposure darkens it while the light is on.")
    jump: float = Field(1.5, ge=1.0, le=4.0, description="At a switch the whole frame is first "
                        "this much brighter (on) or darker (off) than it settles to.")
    settle_s: float = Field(1.0, ge=0.0, le=10.0, description="How long the exposure takes to "
                            "settle after a switch (linear).")


class OwnLightCamera:
    """Wraps a frame source: each frame as the camera sees it with the relay as it is now."""

    def __init__(self, inner: Any, relay_on: Callable[[], bool], effect: OwnLight) -> None:
        self.inner = inner
        self.relay_on = relay_on
        self.effect = effect
        self.live = inner.live
        self._on = False
        self._switched_at: float | None = None
        self._pool: np.ndarray | None = None
        self.lit_frames = 0

    def __getattr__(self, name: str) -> Any:  # fps, duration_s, ... of the clip
        return getattr(self.inner, name)

    def _pool_for(self, shape: tuple[int, ...]) -> np.ndarray:
        """The light's weight per pixel, 0..1, soft at the edge."""
        if self._pool is None or self._pool.shape != shape[:2]:
            h, w = shape[:2]
            x1, y1, x2, y2 = self.effect.region
            pool = np.zeros((h, w), np.float32)
            pool[int(y1 * h):int(y2 * h), int(x1 * w):int(x2 * w)] = 1.0
            sigma = max(1.0, 0.1 * min((x2 - x1) * w, (y2 - y1) * h))
            self._pool = cv2.GaussianBlur(pool, (0, 0), sigma)
        return self._pool

    def read(self) -> Frame | None:
        frame = self.inner.read()
        if frame is None:
            return None
        on = bool(self.relay_on())
        if on != self._on:
            self._on, self._switched_at = on, frame.t
        e = self.effect
        exposure = 1.0
        if self._switched_at is not None and e.settle_s > 0:
            left = max(0.0, 1.0 - (frame.t - self._switched_at) / e.settle_s)
            exposure = (e.jump if on else 1.0 / e.jump) ** left
        if not on and exposure == 1.0:
            return frame
        img = frame.image.astype(np.float32)
        if on:
            pool = self._pool_for(img.shape)
            if img.ndim == 2:
                lit = np.float32(np.mean(e.gain))
                img *= e.rest + (lit - e.rest) * pool
            else:
                for c in range(min(3, img.shape[2])):
                    img[..., c] *= e.rest + (np.float32(e.gain[c]) - e.rest) * pool
            self.lit_frames += 1
        img *= exposure
        frame.image = np.clip(img, 0, 255).astype(np.uint8)
        return frame

    def close(self) -> None:
        self.inner.close()
