"""Load a TFLite interpreter from ai-edge-litert, or tflite-runtime where only that is installed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from detector.settings import Kernels


class RuntimeMissingError(RuntimeError):
    pass


def runtime_name() -> str:
    """Which TFLite runtime this process uses, with its version."""
    try:
        from importlib.metadata import version

        import ai_edge_litert  # noqa: F401

        return f"ai-edge-litert {version('ai-edge-litert')}"
    except ImportError:
        pass
    try:
        import tflite_runtime

        return f"tflite-runtime {getattr(tflite_runtime, '__version__', '?')}"
    except ImportError:
        return "none"


def load_interpreter(model_path: Path, threads: int, kernels: Kernels = Kernels.XNNPACK) -> Any:
    """An allocated interpreter for ``model_path`` using ``threads`` CPU threads and the
    ``kernels`` asked for (see :class:`Kernels`)."""
    options: dict[str, Any] = {}
    try:
        from ai_edge_litert.interpreter import Interpreter, OpResolverType
    except ImportError:
        try:
            from tflite_runtime.interpreter import Interpreter  # type: ignore[no-redef]
        except ImportError as exc:
            raise RuntimeMissingError(
                "no TFLite runtime: pip install ai-edge-litert (or tflite-runtime on old boxes)"
            ) from exc
        from tflite_runtime.interpreter import OpResolverType  # type: ignore[no-redef]
    if kernels is not Kernels.XNNPACK:
        options["experimental_op_resolver_type"] = (
            OpResolverType.BUILTIN_REF if kernels is Kernels.REFERENCE
            else OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    interpreter = Interpreter(model_path=str(model_path), num_threads=threads, **options)
    interpreter.allocate_tensors()
    return interpreter
