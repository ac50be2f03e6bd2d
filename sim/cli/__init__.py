"""The simulator's sub-commands (sim, bench, soak, fleet-sim): named in ``edge.cli.COMMANDS``
and imported only when invoked, so the stop's own imports never reach the simulator."""
