"""The ONNX Runtime half of the ``*_onnx`` back-ends: execution providers chosen from the
config's order among those this onnxruntime build has (TensorRT with FP16 and an engine cache,
CUDA, CPU), with one warning at start for each configured provider that is missing.

On a CPU, LiteRT runs the same YOLOX-nano faster (MODELS.md: about 43 against 53 ms on the
2-core x86 test machine); this back-end is for GPUs and accelerators, a Jetson's above all.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import structlog

from detector.backend import ModelDetector, RuntimeInfo
from detector.models import ModelMismatch
from detector.runtime import RuntimeMissingError
from detector.settings import OnnxProvider, OnnxSettings

log = structlog.get_logger("stopsafe.detector")

_DTYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16,
           "tensor(uint8)": np.uint8}


def _dims(shape: list[Any]) -> list[int]:
    """A tensor's shape with its symbolic dimensions (a named batch axis) as -1."""
    return [d if isinstance(d, int) else -1 for d in shape]


def choose_providers(wanted: tuple[OnnxProvider, ...], available: list[str]
                     ) -> tuple[list[OnnxProvider], list[OnnxProvider]]:
    """(the configured providers this build has, in the configured order; those it lacks).
    The CPU provider, which every build has, is the last resort when none is left."""
    chosen = [p for p in wanted if p.ort_name in available]
    missing = [p for p in wanted if p.ort_name not in available]
    if not chosen:
        chosen = [OnnxProvider.CPU]
    return chosen, missing


def provider_options(p: OnnxProvider, s: OnnxSettings) -> dict[str, Any]:
    """TensorRT's FP16 and engine cache. Where the engines go is the config's to say (the state
    directory by default, ``edge.config.OnnxConfig``); settings made without a place cache none."""
    if p is not OnnxProvider.TENSORRT:
        return {}
    opts: dict[str, Any] = {"trt_fp16_enable": s.tensorrt_fp16,
                            "trt_engine_cache_enable": s.engine_cache is not None}
    if s.engine_cache is not None:
        s.engine_cache.mkdir(parents=True, exist_ok=True)
        opts["trt_engine_cache_path"] = str(s.engine_cache)
    return opts


def runtime_version() -> str:
    try:
        import onnxruntime
    except ImportError:
        return "none"
    return f"onnxruntime {onnxruntime.__version__}"


class OnnxDetector(ModelDetector):
    """A model run by an ONNX Runtime session."""

    name = "onnx"

    def _open(self, model_path: Path) -> tuple[list[int], Any, list[list[int]]]:
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise RuntimeMissingError(
                "no ONNX Runtime: pip install 'stopsafe[onnx]' (on a Jetson, NVIDIA's "
                "onnxruntime-gpu wheel for JetPack)") from exc
        s = self.settings.onnx
        available = ort.get_available_providers()
        chosen, missing = choose_providers(s.providers, available)
        if missing:
            log.warning("onnx_provider_missing", missing=[p.value for p in missing],
                        using=[p.value for p in chosen], available=available,
                        hint="this onnxruntime build lacks them; see detector.onnx.providers")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = self.settings.threads
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3  # errors only: its own warnings go to stderr, not our log
        self.session: Any = ort.InferenceSession(
            str(model_path), opts,
            providers=[(p.ort_name, provider_options(p, s)) for p in chosen])
        inputs = self.session.get_inputs()
        if len(inputs) != 1:
            raise ModelMismatch(f"model {model_path.name} does not fit the '{self.name}' "
                                f"back-end: {len(inputs)} input tensors, not one")
        self._input_name = inputs[0].name
        self._output_names = [o.name for o in self.session.get_outputs()]
        log.info("onnx_session", model=model_path.name, runtime=runtime_version(),
                 providers=self.session.get_providers(), threads=self.settings.threads)
        return (_dims(inputs[0].shape), _DTYPES.get(inputs[0].type, np.float32),
                [_dims(o.shape) for o in self.session.get_outputs()])

    def _run(self, tensor: np.ndarray) -> list[np.ndarray]:
        return self.session.run(self._output_names, {self._input_name: tensor})

    @property
    def info(self) -> RuntimeInfo:
        return RuntimeInfo(self.name, runtime_version(), self.session.get_providers()[0])

    def close(self) -> None:
        self.session = None
