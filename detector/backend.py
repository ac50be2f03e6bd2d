"""What every model back-end shares, whatever runs the model (LiteRT, ONNX Runtime): check the
model's tensors at start, crop, invoke, map back, filter, and time each step.

A back-end is two halves: a runtime (``_open`` and ``_run``: how tensors go in and out, in
``detector/tflite.py`` and ``detector/onnx.py``) and a model family (``preprocess`` and
``decode``: what the tensors mean, in ``detector/ssd.py`` and ``detector/yolox.py``), so one
model family's letterbox, grid decode and NMS serve it on every runtime.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from detector.base import Detection, DetectorResult, StageTimes
from detector.models import ModelMismatch, ModelProblem
from detector.settings import DetectorSettings

Roi = tuple[int, int, int, int]  # x, y, w, h in pixels

# OpenCV's bilinear resize whose fixed-point result is the same on every processor: plain
# INTER_LINEAR takes per-processor SIMD paths that round differently (1 grey level on a fifth of
# the pixels between x86 and arm64, measured on a tud-campus still); this costs about 0.5 ms
# more a model input (0.26 against 0.80 ms for 640x480 to 416x312 on the x86 test machine)
MODEL_RESIZE = cv2.INTER_LINEAR_EXACT


@dataclass(frozen=True, slots=True)
class RuntimeInfo:
    """What runs the model, for logs, ``selftest``, ``bench --json`` and telemetry: the
    back-end key, the runtime's name and version, and the provider (the kernels or the
    execution provider that runs it: ``xnnpack``, ``builtin``, ``CPUExecutionProvider``...)."""

    backend: str
    runtime: str
    provider: str

    def as_json(self) -> dict[str, str]:
        return asdict(self)


class ModelDetector(ABC):
    """A back-end on one model: ``preprocess`` makes the input tensor, ``decode`` reads the
    outputs, ``_open``/``_run`` are the runtime's.

    Boxes come back from ``decode`` in fractions of the image that was fed in (the crop), and are
    mapped here to fractions of the whole frame, so every back-end shares cropping and filtering.
    """

    name = "model"
    reads = "a detector model"

    def __init__(self, model_path: Path, settings: DetectorSettings) -> None:
        self.settings = settings
        self.model_path = model_path
        try:
            self.input_shape, self.input_dtype, self.output_shapes = self._open(model_path)
        except ModelMismatch:
            raise
        except Exception as exc:  # not a model file, ops the runtime lacks, ...
            raise ModelMismatch(f"model {model_path.name} cannot be loaded for the "
                                f"'{self.name}' back-end: {' '.join(str(exc).split())[:200]}",
                                ModelProblem.UNREADABLE, model_path) from None
        shape = self.input_shape
        problem = None
        if len(shape) != 4 or 3 not in (shape[1], shape[3]):
            problem = f"input shape {shape}, not one 3-channel image"
        problem = problem or self.signature_problem()
        if problem:
            raise ModelMismatch(
                f"model {model_path.name} does not fit the '{self.name}' back-end: {problem} "
                f"(the '{self.name}' back-end reads {self.reads}; see detector.backend)",
                path=model_path)

    @abstractmethod
    def _open(self, model_path: Path) -> tuple[list[int], Any, list[list[int]]]:
        """Load the model; its one input's shape and dtype, and every output's shape (raise
        :class:`ModelMismatch` for a model with other than one input)."""

    @abstractmethod
    def _run(self, tensor: np.ndarray) -> list[np.ndarray]:
        """One invoke: the outputs, in the model's order."""

    @property
    @abstractmethod
    def info(self) -> RuntimeInfo:
        """What runs this model (runtime with its version, provider)."""

    def signature_problem(self) -> str | None:
        """Why the loaded model's tensors are not what this back-end reads; None when they are.
        Checked at start, so a wrong model is refused with one line instead of failing (or
        running blind) on every frame."""
        return None

    @property
    def channels_first(self) -> bool:
        return int(self.input_shape[1]) == 3

    @property
    def input_size(self) -> tuple[int, int]:
        """(width, height) of the model's input image."""
        shape = self.input_shape
        if self.channels_first:
            return int(shape[3]), int(shape[2])
        return int(shape[2]), int(shape[1])

    @abstractmethod
    def preprocess(self, image_bgr: np.ndarray) -> tuple[np.ndarray, Any]:
        """The input tensor, and whatever ``decode`` needs to undo the resize."""

    @abstractmethod
    def decode(self, meta: Any, outputs: list[np.ndarray], image_wh: tuple[int, int]
               ) -> list[Detection]:
        """Person boxes in fractions of the input image, score-filtered."""

    def _invoked(self, image_bgr: np.ndarray, times: StageTimes
                 ) -> tuple[Any, list[np.ndarray], tuple[int, int]]:
        """One model run on ``image_bgr``, timed: what ``decode`` needs, the outputs, (w, h)."""
        t0 = time.perf_counter()
        tensor, meta = self.preprocess(image_bgr)
        t1 = time.perf_counter()
        outputs = self._run(tensor)
        times.preprocess_ms += (t1 - t0) * 1e3
        times.invoke_ms += (time.perf_counter() - t1) * 1e3
        times.invokes += 1
        h, w = image_bgr.shape[:2]
        return meta, outputs, (w, h)

    def invoke_raw(self, image_bgr: np.ndarray, times: StageTimes) -> list[Detection]:
        """Run the model once on ``image_bgr``; boxes in fractions of that image."""
        meta, outputs, wh = self._invoked(image_bgr, times)
        t0 = time.perf_counter()
        dets = self.decode(meta, outputs, wh)
        times.decode_ms += (time.perf_counter() - t0) * 1e3
        return dets

    def boxes_of(self, meta: Any, outputs: list[np.ndarray], image_wh: tuple[int, int],
                 label: int, floor: float) -> list[Detection]:
        """Boxes of COCO class ``label`` scored at least ``floor`` (families that can)."""
        raise NotImplementedError(f"{self.name} reads persons only")

    def class_boxes(self, image_bgr: np.ndarray, label: int, floor: float,
                    times: StageTimes) -> list[Detection]:
        """One run of the model on the whole ``image_bgr`` for another class (the kerb zone's
        buses); boxes in fractions of the image, not filtered by the person box limits."""
        meta, outputs, wh = self._invoked(image_bgr, times)
        t0 = time.perf_counter()
        boxes = self.boxes_of(meta, outputs, wh, label, floor)
        times.decode_ms += (time.perf_counter() - t0) * 1e3
        return boxes

    def invoke_with_class(self, image_bgr: np.ndarray, label: int, floor: float,
                          times: StageTimes) -> tuple[list[Detection], list[Detection]]:
        """``invoke_raw`` and ``class_boxes`` on the same ``image_bgr`` from one run of the
        model: (person boxes, boxes of class ``label``)."""
        meta, outputs, wh = self._invoked(image_bgr, times)
        t0 = time.perf_counter()
        persons = self.decode(meta, outputs, wh)
        boxes = self.boxes_of(meta, outputs, wh, label, floor)
        times.decode_ms += (time.perf_counter() - t0) * 1e3
        return persons, boxes

    def detect(self, frame_bgr: np.ndarray, roi: Roi | None = None) -> DetectorResult:
        """Persons in ``frame_bgr`` (optionally only inside ``roi``), in frame fractions."""
        times = StageTimes()
        frame_bgr = as_bgr(frame_bgr)
        fh, fw = frame_bgr.shape[:2]
        x0, y0, rw, rh = roi if roi is not None else (0, 0, fw, fh)
        crop = frame_bgr[y0 : y0 + rh, x0 : x0 + rw]
        raw = self.invoke_raw(crop, times)
        t0 = time.perf_counter()
        dets = [d for d in to_frame(raw, (x0, y0, rw, rh), (fw, fh)) if self.settings.accepts(d)]
        times.decode_ms += (time.perf_counter() - t0) * 1e3
        return DetectorResult(dets, times)

    @abstractmethod
    def close(self) -> None:
        """Let go of the runtime's session (its memory)."""


def to_frame(dets: list[Detection], roi: Roi, frame_wh: tuple[int, int]) -> list[Detection]:
    """Boxes in fractions of the ``roi`` image mapped to fractions of the whole frame."""
    x0, y0, rw, rh = roi
    fw, fh = frame_wh
    return [
        Detection((x0 + d.x1 * rw) / fw, (y0 + d.y1 * rh) / fh,
                  (x0 + d.x2 * rw) / fw, (y0 + d.y2 * rh) / fh, d.score)
        for d in dets
    ]


def as_bgr(frame: np.ndarray) -> np.ndarray:
    """Three-channel BGR from a colour, grey (infrared) or BGRA frame."""
    if frame.ndim == 2:
        return cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
    if frame.shape[2] == 1:
        return cv2.cvtColor(frame[:, :, 0], cv2.COLOR_GRAY2BGR)
    if frame.shape[2] == 4:
        return cv2.cvtColor(frame, cv2.COLOR_BGRA2BGR)
    return frame
