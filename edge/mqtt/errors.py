"""Errors a tool shows as one line (kept apart from the client so the CLI can catch them
without importing paho and the MQTT service)."""

from __future__ import annotations

EX_UNAVAILABLE = 69  # sysexits: the broker is down or unreachable
EX_NOPERM = 77  # sysexits: the broker refused the login


class BrokerUnavailable(Exception):
    """The broker cannot be used; ``str()`` is the one line to show."""

    def __init__(self, line: str, exit_code: int = EX_UNAVAILABLE) -> None:
        super().__init__(line)
        self.exit_code = exit_code
