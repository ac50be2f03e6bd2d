"""``yolox_onnx``: YOLOX (``yolox_nano.onnx``) on ONNX Runtime, with the LiteRT back-end's own
letterbox, grid decode and NMS (:class:`detector.yolox.YoloxHeads`)."""

from __future__ import annotations

from detector.onnx import OnnxDetector
from detector.registry import Backend, register
from detector.yolox import YoloxHeads


@register(Backend.YOLOX_ONNX)
class YoloxOnnxDetector(YoloxHeads, OnnxDetector):
    """YOLOX on ONNX Runtime: for a Jetson's TensorRT or CUDA; on a CPU LiteRT is faster."""

