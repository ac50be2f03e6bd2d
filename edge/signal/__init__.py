"""Telling the bus side that someone waits: the waiting JSON (``waiting``), published retained
over MQTT by the MQTT service and POSTed to a URL by the ``webhook`` sink (docs/bus.md)."""
