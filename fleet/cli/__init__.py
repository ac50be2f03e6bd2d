"""The fleet's sub-commands of ``stopsafe``: each module has ``register(subparsers)``, as the
box's own in ``edge.cli``, which lists them."""
