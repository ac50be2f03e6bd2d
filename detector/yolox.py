"""YOLOX back-end: raw heads [1, N, 85], decoded on a stride grid, then NMS.

:class:`YoloxHeads` is the model family (letterbox, grid decode, NMS), once for every runtime:
``yolox`` runs it on LiteRT, ``yolox_onnx`` (``detector/yolox_onnx.py``) on ONNX Runtime.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from detector.backend import MODEL_RESIZE, ModelDetector
from detector.base import Detection
from detector.registry import Backend, register
from detector.tflite import TFLiteDetector

STRIDES = (8, 16, 32)
PAD_VALUE = 114
PERSON = 0


class YoloxHeads(ModelDetector):
    """YOLOX-nano and friends: letterbox into the top-left corner, BGR 0..255, channels first.

    The runtime half (``_open``, ``_run``) comes from the runtime's class beside it in the
    back-end's bases."""

    reads = "raw YOLOX heads: one output [1, N, 5 + classes], N anchors on strides 8, 16, 32"

    def signature_problem(self) -> str | None:
        shapes = self.output_shapes
        if len(shapes) != 1 or len(shapes[0]) != 3 or shapes[0][2] < 6:
            return f"outputs {shapes}"
        w, h = self.input_size
        anchors = sum((w // s) * (h // s) for s in STRIDES)
        if shapes[0][1] != anchors:
            return f"{shapes[0][1]} anchors where a {w}x{h} input has {anchors}"
        return None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        w, h = self.input_size
        self._grid, self._stride = _grid(w, h)
        self._chw = self.channels_first

    def preprocess(self, image_bgr: np.ndarray) -> tuple[np.ndarray, Any]:
        w, h = self.input_size
        ih, iw = image_bgr.shape[:2]
        scale = min(w / iw, h / ih)
        nw, nh = max(1, round(iw * scale)), max(1, round(ih * scale))
        canvas = np.full((h, w, 3), PAD_VALUE, np.uint8)
        canvas[:nh, :nw] = cv2.resize(image_bgr, (nw, nh), interpolation=MODEL_RESIZE)
        tensor = canvas.astype(np.float32)
        tensor = tensor.transpose(2, 0, 1)[np.newaxis] if self._chw else tensor[np.newaxis]
        return np.ascontiguousarray(tensor), scale

    def decode(self, meta: Any, outputs: list[np.ndarray], image_wh: tuple[int, int]
               ) -> list[Detection]:
        return self.boxes_of(meta, outputs, image_wh, PERSON, self.settings.score_threshold)

    def boxes_of(self, meta: Any, outputs: list[np.ndarray], image_wh: tuple[int, int],
                 label: int, floor: float) -> list[Detection]:
        """The boxes of one class (``PERSON``, ``BUS``) scored at least ``floor``."""
        scale: float = meta
        raw = outputs[0][0]
        scores = raw[:, 4] * raw[:, 5 + label]
        keep = scores >= floor
        if not np.any(keep):
            return []
        raw, scores = raw[keep], scores[keep]
        grid, stride = self._grid[keep], self._stride[keep]
        centre = (raw[:, :2] + grid) * stride
        size = np.exp(np.clip(raw[:, 2:4], -10, 10)) * stride
        xywh = np.concatenate([centre - size / 2, size], axis=1) / scale
        chosen = cv2.dnn.NMSBoxes(xywh.tolist(), scores.tolist(), floor, self.settings.nms_iou)
        iw, ih = image_wh
        out = []
        for i in np.asarray(chosen).reshape(-1):
            x, y, bw, bh = xywh[i]
            out.append(Detection(
                float(np.clip(x / iw, 0, 1)), float(np.clip(y / ih, 0, 1)),
                float(np.clip((x + bw) / iw, 0, 1)), float(np.clip((y + bh) / ih, 0, 1)),
                float(scores[i]),
            ))
        return out


@register(Backend.YOLOX)
class YoloxDetector(YoloxHeads, TFLiteDetector):
    """YOLOX on LiteRT (the fp16 TFLite file)."""


def _grid(w: int, h: int) -> tuple[np.ndarray, np.ndarray]:
    """Cell offsets and strides of every anchor point, in the order YOLOX emits them."""
    cells, strides = [], []
    for s in STRIDES:
        gy, gx = np.meshgrid(np.arange(h // s), np.arange(w // s), indexing="ij")
        cells.append(np.stack([gx.ravel(), gy.ravel()], axis=1))
        strides.append(np.full((gx.size, 1), s))
    return np.concatenate(cells).astype(np.float32), np.concatenate(strides).astype(np.float32)
