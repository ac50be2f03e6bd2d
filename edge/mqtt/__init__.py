"""MQTT: the stop's status, states, telemetry, events and commands, Home Assistant discovery.

``MqttService`` (service.py) is the pipeline's sink; ``Link``/``LinkRunner`` (link.py) own the
paho client and its thread; ``edge.wire`` names every topic; commands.py checks and answers
commands; outbox.py keeps events through outages; discovery.py builds Home Assistant's configs.
"""
