"""The installer's page: a small web server in the daemon (its own thread) with the live view,
the zone and mask editor, the walk test and the machine endpoints (``/healthz``, ``/metrics``,
``/api/state``). See docs/web.md.

Nothing here decides anything: the page reads the records the pipeline already makes, and its
writes go through the config file and the daemon's own reload.
"""
