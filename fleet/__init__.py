"""What runs on a maintenance machine, not in the shelter box: the fleet's collector and history
(``fleet.history``), the console and its table (``fleet.view``), and their sub-commands
(``fleet.cli``: ``stopsafe console``, ``collect``, ``history``).

The box's own packages (``edge``, ``detector``, ``actuators``) never import this one; it imports
the wire format the stops speak (``edge.wire``)."""
