"""Person-detector back-ends (TFLite), one module each, chosen by the config's ``backend`` key."""
