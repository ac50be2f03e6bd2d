"""The detector's tunables as the back-ends see them: plain containers without defaults, filled
in one place (``edge.runtime.assembly.detector_settings``) from the config's detector section,
where every default is written."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from detector.base import Detection


class EnhanceMode(str, Enum):
    """When a dark picture is brightened before the model (``detector/enhance.py``); here, beside
    the other tunables, so the config can name it without loading OpenCV."""

    OFF = "off"
    DARK = "dark"  # only on frames darker than the dark threshold
    ALWAYS = "always"


class EnhanceMethod(str, Enum):
    GAMMA = "gamma"
    CLAHE = "clahe"


class Kernels(str, Enum):
    """Which LiteRT kernels run a TFLite model (measured: README, "arm64").

    ``xnnpack``: LiteRT's default delegate, the fastest on a CPU. ``builtin``: TFLite's own
    optimised kernels without the delegate. Both are written per processor, and their int8
    results differ between x86 and arm64 (the SSD's raw int8 heads by up to 5 steps on a quarter
    of their values, on identical inputs). ``reference``: TFLite's reference kernels, plain
    portable code, bit for bit the same on x86 and arm64, many times slower: for checks that
    compare machines, not for a box.
    """

    XNNPACK = "xnnpack"
    BUILTIN = "builtin"
    REFERENCE = "reference"


class OnnxProvider(str, Enum):
    """ONNX Runtime's execution providers that stopsafe knows, by their config name."""

    TENSORRT = "tensorrt"
    CUDA = "cuda"
    CPU = "cpu"

    @property
    def ort_name(self) -> str:
        """The name ONNX Runtime gives it (``onnxruntime.get_available_providers()``)."""
        return _ORT_NAMES[self]


_ORT_NAMES = {OnnxProvider.TENSORRT: "TensorrtExecutionProvider",
              OnnxProvider.CUDA: "CUDAExecutionProvider", OnnxProvider.CPU: "CPUExecutionProvider"}


@dataclass(frozen=True, slots=True)
class OnnxSettings:
    """How the ONNX Runtime back-ends run: providers in order of preference, TensorRT's FP16
    and where its built engines are kept (building one takes minutes on a Jetson)."""

    providers: tuple[OnnxProvider, ...]
    tensorrt_fp16: bool
    engine_cache: Path | None


@dataclass(frozen=True, slots=True)
class DetectorSettings:
    score_threshold: float
    nms_iou: float
    min_box_height: float
    max_box_height: float
    max_box_area: float
    threads: int
    kernels: Kernels
    onnx: OnnxSettings

    def accepts(self, d: Detection) -> bool:
        """Score and size filter, in frame fractions."""
        return (
            d.score >= self.score_threshold
            and self.min_box_height <= d.height <= self.max_box_height
            and d.width * d.height <= self.max_box_area
        )
