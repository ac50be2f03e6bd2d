"""The composition layer: the only package that knows every layer of the stop.

``compose.assemble`` builds a stop from a validated config and a set of edges (real or
simulated) and binds the maintenance link to it; ``stop.Stop`` is the assembled stop and its
reload; ``control.PipelineControl`` is the stop's own control (what every face acts on);
``daemon`` starts and stops the real thing, and ``run`` is its ``stopsafe run`` sub-command.
"""
