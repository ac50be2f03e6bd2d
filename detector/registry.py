"""Detector back-ends are plugins, one module each, found by the config's ``backend`` key."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import Any

from detector.settings import DetectorSettings


class Backend(str, Enum):
    """The back-ends, by the key the config names them with (``detector.backend`` is this enum):
    each is the module ``detector/<key>.py``, which registers its class under its key. The one
    list of back-ends."""

    SSD = "ssd"  # TFLite_Detection_PostProcess models on LiteRT
    YOLOX = "yolox"  # raw YOLOX heads on LiteRT
    YOLOX_ONNX = "yolox_onnx"  # the same on ONNX Runtime


_BACKENDS: dict[Backend, type[Any]] = {}


def register(key: Backend) -> Callable[[type[Any]], type[Any]]:
    """Class decorator of a back-end module: its class is the back-end ``key`` (and is named
    so in logs and telemetry)."""
    def wrap(cls: type[Any]) -> type[Any]:
        cls.name = key.value
        _BACKENDS[key] = cls
        return cls

    return wrap


def backend_class(key: str) -> type[Any]:
    try:
        backend = Backend(key)
    except ValueError:
        known = ", ".join(b.value for b in Backend)
        raise KeyError(f"unknown detector backend {key!r}; known: {known}") from None
    if backend not in _BACKENDS:
        importlib.import_module(f"detector.{backend.value}")
    return _BACKENDS[backend]


def create(key: str, model_path: Path, settings: DetectorSettings) -> Any:
    """A ready detector of back-end ``key`` on the model file ``model_path``."""
    return backend_class(key)(model_path, settings)
