"""The composition layer: the only package that knows every layer of the stop.

``compose.assemble`` builds a stop from a validated config and a set of edges (real or
simulated) and binds the maintenance link to it; ``stop.Stop`` is the assembled stop and its
reload; ``control.PipelineControl`` is the stop's own control (what every face acts on);
``daemon`` starts and stops the real thing (``stopsafe run``, from the command line above it)
and binds the faces to it: the page (``edge.web``) and the MQTT link get what they act on.
"""
