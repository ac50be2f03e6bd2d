"""Person-detector back-ends (LiteRT/TFLite and ONNX Runtime), one module each, chosen by the
config's ``backend`` key."""
