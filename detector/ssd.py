"""SSD back-end: models that end in TFLite_Detection_PostProcess (boxes, classes, scores, count)."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from detector.backend import MODEL_RESIZE
from detector.base import Detection
from detector.registry import Backend, register
from detector.tflite import TFLiteDetector

PERSON = 0  # COCO label map with "???" as background: class index 0 is person


@register(Backend.SSD)
class SsdDetector(TFLiteDetector):
    """The int8 SSD MobileNet v1 and its kin: the model does its own decoding and NMS."""

    reads = ("models ending in TFLite_Detection_PostProcess: outputs boxes [1, N, 4], "
             "classes [1, N], scores [1, N] and a count")

    def signature_problem(self) -> str | None:
        shapes = self.output_shapes
        boxes = [s for s in shapes if len(s) == 3 and s[-1] == 4]
        flat = [s for s in shapes if len(s) == 2]
        if len(shapes) != 4 or len(boxes) != 1 or len(flat) != 2:
            return f"outputs {shapes}"
        if self.input_dtype not in (np.uint8, np.float32):
            return f"input type {np.dtype(self.input_dtype).name}"
        return None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._order = self._output_order()

    def _output_order(self) -> tuple[int, int, int]:
        """Positions of boxes, classes and scores among the outputs (exporters name them
        differently)."""
        shapes = self.output_shapes
        boxes = next(i for i, s in enumerate(shapes) if len(s) == 3)
        flat = [i for i, s in enumerate(shapes) if len(s) == 2]
        # classes come before scores in the TFLite_Detection_PostProcess layout
        return boxes, flat[0], flat[1]

    def preprocess(self, image_bgr: np.ndarray) -> tuple[np.ndarray, Any]:
        w, h = self.input_size
        # bilinear, as in the Object Detection API's training-time resize (INTER_AREA cost 3.3
        # ms for 768x432), in OpenCV's variant that rounds the same on every processor
        rgb = cv2.cvtColor(cv2.resize(image_bgr, (w, h), interpolation=MODEL_RESIZE),
                           cv2.COLOR_BGR2RGB)
        dtype = self.input_dtype
        if dtype == np.uint8:
            tensor = rgb[np.newaxis]
        else:  # float SSDs expect -1..1
            tensor = (rgb.astype(np.float32)[np.newaxis] - 127.5) / 127.5
        return np.ascontiguousarray(tensor), None

    def decode(self, meta: Any, outputs: list[np.ndarray], image_wh: tuple[int, int]
               ) -> list[Detection]:
        return self.boxes_of(meta, outputs, image_wh, PERSON, self.settings.score_threshold)

    def boxes_of(self, meta: Any, outputs: list[np.ndarray], image_wh: tuple[int, int],
                 label: int, floor: float) -> list[Detection]:
        """The boxes of one class (``PERSON``, ``BUS``) scored at least ``floor``."""
        b_idx, c_idx, s_idx = self._order
        boxes, classes, scores = outputs[b_idx][0], outputs[c_idx][0], outputs[s_idx][0]
        out = []
        for (y1, x1, y2, x2), cls, score in zip(boxes, classes, scores, strict=True):
            if round(float(cls)) == label and score >= floor:
                out.append(Detection(
                    float(np.clip(x1, 0, 1)), float(np.clip(y1, 0, 1)),
                    float(np.clip(x2, 0, 1)), float(np.clip(y2, 0, 1)), float(score),
                ))
        return out
