"""The LiteRT (TFLite) runtime half of the ``ssd`` and ``yolox`` back-ends."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from detector.backend import ModelDetector, RuntimeInfo
from detector.models import ModelMismatch
from detector.runtime import load_interpreter, runtime_name


class TFLiteDetector(ModelDetector):
    """A model run by a LiteRT interpreter, with the kernels ``settings.kernels`` names."""

    name = "tflite"

    def _open(self, model_path: Path) -> tuple[list[int], Any, list[list[int]]]:
        self.interpreter: Any = load_interpreter(model_path, self.settings.threads,
                                                 self.settings.kernels)
        inputs = self.interpreter.get_input_details()
        self._outputs = self.interpreter.get_output_details()
        if len(inputs) != 1:
            raise ModelMismatch(f"model {model_path.name} does not fit the '{self.name}' "
                                f"back-end: {len(inputs)} input tensors, not one")
        self._input = inputs[0]
        return ([int(x) for x in self._input["shape"]], self._input["dtype"],
                [[int(x) for x in o["shape"]] for o in self._outputs])

    def _run(self, tensor: np.ndarray) -> list[np.ndarray]:
        self.interpreter.set_tensor(self._input["index"], tensor)
        self.interpreter.invoke()
        return [self.interpreter.get_tensor(o["index"]) for o in self._outputs]

    @property
    def info(self) -> RuntimeInfo:
        return RuntimeInfo(self.name, runtime_name(), self.settings.kernels.value)

    def close(self) -> None:
        self.interpreter = None
