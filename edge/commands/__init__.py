"""Sub-commands of ``stopsafe``: one module each, with ``register(subparsers)``.

A module's ``register`` adds its parser and sets ``func`` (args -> exit status). The list below
is the order in ``stopsafe --help``.
"""

MODULES = (
    "edge.commands.run",
    "edge.commands.sim",
    "edge.commands.models",
    "edge.commands.check_config",
    "edge.commands.bench",
    "edge.commands.soak",
    "edge.commands.selftest",
    "edge.commands.snapshot",
    "edge.commands.zone",
    "edge.commands.commission",
    "edge.commands.console",
    "edge.commands.fleet_sim",
)
