"""MQTT, the maintenance link (a face of the stop): status, states, telemetry, events and
commands, Home Assistant discovery.

One unit a module: ``link.py`` (``Link``/``LinkRunner``: the paho client and its thread; the
events it keeps through outages are in ``edge.runtime.outbox``), ``drain.py`` (the hand-off into
the link's thread), ``state.py`` (retained states and telemetry), ``commands.py`` (checks each
command) and ``responder.py`` (answers them, acting on the stop's ``Control``), ``discovery.py``
(Home Assistant's configs) and ``announcer.py`` (when they go out), ``link_faults.py`` (the
link's own faults). ``service.py``'s ``MqttService`` puts one of each together as the pipeline's
sink; ``edge.wire`` names every topic and payload word.
"""
