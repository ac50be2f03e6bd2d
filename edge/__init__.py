"""stopsafe: an edge daemon that lights a bus stop's floor light for waiting passengers."""

__version__ = "0.1.0"
