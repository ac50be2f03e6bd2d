"""Load a TFLite interpreter from ai-edge-litert, or tflite-runtime where only that is installed."""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import structlog

from detector.settings import Kernels

log = structlog.get_logger("stopsafe.detector")


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
    with runtime_notices_to_log():
        interpreter = Interpreter(model_path=str(model_path), num_threads=threads, **options)
        interpreter.allocate_tensors()
    return interpreter


@contextmanager
def runtime_notices_to_log() -> Iterator[None]:
    """TFLite's C++ runtime prints its notices ("INFO: Created TensorFlow Lite XNNPACK delegate
    for CPU.") straight to file descriptor 2, with no switch to turn them off, ahead of a
    command's own output. While an interpreter is built, descriptor 2 goes to a temporary file;
    its INFO lines become debug log events, and anything else is written back as it came."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no descriptor 2 at all: nothing to keep apart
        yield
        return
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            text = tmp.read().decode("utf-8", "replace")
    for line in text.splitlines():
        if line.startswith("INFO: "):
            log.debug("runtime_notice", text=line.removeprefix("INFO: "))
        elif line:
            sys.stderr.write(line + "\n")
    sys.stderr.flush()
