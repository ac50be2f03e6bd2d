"""Low light: how bright a picture is, and a cheap contrast boost on its luma before detection.

Night frames of a street are mostly black with a few bright lamps; the people are in the dark
parts at a few grey levels of contrast. Two cheap remedies: a gamma curve (< 1 lifts the
shadows; one lookup table) and CLAHE on the luma (contrast-limited adaptive histogram
equalisation, which spreads the levels locally without blowing out the lamps). Which one helps
depends on the model; docs/detectors.md has the measurements. Frames from an infrared or
monochrome camera (one channel) are treated as luma directly.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from detector.settings import EnhanceMethod, EnhanceMode

METER_WIDTH = 64  # the brightness meter samples about this many columns: cheap, and plenty


@dataclass(frozen=True, slots=True)
class EnhanceSettings:
    """From the detector section (``enhance*``, a profile's overrides)."""

    mode: EnhanceMode
    method: EnhanceMethod
    gamma: float
    clip_limit: float


CLAHE_GRID = 8  # CLAHE's tiles across and down


def brightness(image: np.ndarray) -> float:
    """Mean luma of ``image`` (BGR or one channel) as a fraction 0..1.

    From every n-th pixel of every n-th row (about METER_WIDTH columns): a mean needs no more,
    and striding costs nothing, where a proper resize of a 1280 px frame costs milliseconds.
    """
    step = max(1, image.shape[1] // METER_WIDTH)
    small = np.ascontiguousarray(image[::step, ::step])
    grey = small if small.ndim == 2 else cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
    return float(grey.mean()) / 255.0


class Enhancer:
    """Gamma or CLAHE on the luma; the lookup table and CLAHE object are made once."""

    def __init__(self, s: EnhanceSettings) -> None:
        self.settings = s
        self._clahe = cv2.createCLAHE(clipLimit=s.clip_limit, tileGridSize=(CLAHE_GRID, CLAHE_GRID))
        self._lut = np.array([round(255.0 * (i / 255.0) ** s.gamma) for i in range(256)],
                             np.uint8)

    def _luma(self, y: np.ndarray) -> np.ndarray:
        if self.settings.method is EnhanceMethod.GAMMA:
            return cv2.LUT(y, self._lut)
        return self._clahe.apply(np.ascontiguousarray(y))

    def wanted(self, dark: bool) -> bool:
        mode = self.settings.mode
        return mode is EnhanceMode.ALWAYS or (mode is EnhanceMode.DARK and dark)

    def apply(self, image: np.ndarray) -> np.ndarray:
        """An enhanced copy: on grey directly, on the Y of YCrCb for colour."""
        if image.ndim == 2:
            return self._luma(image)
        ycc = cv2.cvtColor(image, cv2.COLOR_BGR2YCrCb)
        ycc[:, :, 0] = self._luma(ycc[:, :, 0])
        return cv2.cvtColor(ycc, cv2.COLOR_YCrCb2BGR)
