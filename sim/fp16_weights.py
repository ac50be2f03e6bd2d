"""The ONNX YOLOX with its float32 weights rounded to float16: the very weights of the fp16 TFLite
file, kept in float32 so that ONNX Runtime's CPU provider runs it as it runs the original.

Why: ``yolox_nano_fp16.tflite`` and ``yolox_nano.onnx`` are one network, but the TFLite file
stores its weights as float16, and that rounding alone moves a box's score by up to 0.03 (the
runtimes agree to 1e-5 when given the same weights). ``make onnx-compare`` and the back-end
test run this variant to check the ``yolox_onnx`` back-end itself (letterbox, tensor layout,
decode, NMS, the session) against ``yolox``, apart from what the two files' weights do.
Needs the ``onnx`` package (the ``test`` extra); never shipped, never used by the daemon.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def round_weights_to_fp16(src: Path, dest: Path) -> Path:
    """Write ``src`` to ``dest`` with every float32 initializer and constant rounded to the
    nearest float16 (and stored as float32 again); ``dest`` is returned."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(src))
    tensors = list(model.graph.initializer)
    tensors += [a.t for n in model.graph.node if n.op_type == "Constant"
                for a in n.attribute if a.HasField("t")]
    for t in tensors:
        if t.data_type == onnx.TensorProto.FLOAT:
            a = numpy_helper.to_array(t)
            t.CopyFrom(numpy_helper.from_array(a.astype(np.float16).astype(np.float32), t.name))
    dest.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(dest))
    return dest
