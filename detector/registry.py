"""Detector back-ends are plugins, one module each, found by the config's ``backend`` key."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from detector.settings import DetectorSettings

_BACKENDS: dict[str, type[Any]] = {}
KNOWN = ("ssd", "yolox", "yolox_onnx")  # modules under detector/ that register themselves


def register(key: str) -> Callable[[type[Any]], type[Any]]:
    def wrap(cls: type[Any]) -> type[Any]:
        _BACKENDS[key] = cls
        return cls

    return wrap


def backend_class(key: str) -> type[Any]:
    if key not in _BACKENDS:
        if key not in KNOWN:
            raise KeyError(f"unknown detector backend {key!r}; known: {', '.join(KNOWN)}")
        importlib.import_module(f"detector.{key}")
    return _BACKENDS[key]


def create(key: str, model_path: Path, settings: DetectorSettings) -> Any:
    """A ready detector of back-end ``key`` on the model file ``model_path``."""
    return backend_class(key)(model_path, settings)
