"""The ``web:`` section: the installer's page (off unless enabled; docs/web.md)."""

from __future__ import annotations

import ipaddress
from typing import Annotated

from pydantic import Field, field_validator

from edge.config.base import Section
from edge.web.passwords import check_hash_format


def is_loopback(host: str) -> bool:
    """Whether ``host`` is reachable only from the box itself."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name: it may resolve to anything


class WebConfig(Section):
    """The installer's page: live view, zone editor, walk test, /healthz and /metrics."""

    enabled: bool = Field(False, description="Serve the page (in its own thread; the light "
                          "never waits on it).")
    host: str = Field(
        "127.0.0.1", min_length=1, max_length=255,
        description="Address to listen on. Anything but loopback (127.0.0.1, ::1, localhost) "
        "needs password_hash.",
    )
    port: int = Field(8080, ge=0, le=65535, description="TCP port (0: any free one, for tests).")
    password_hash: str | None = Field(
        None, max_length=512, description="The page's password as made by "
        "`stopsafe web-password` (scrypt, salted; the password itself is never stored). Set: "
        "every visitor logs in; required when host is not loopback.",
    )
    session_s: Annotated[float, Field(ge=60.0, le=7 * 86400.0)] = Field(
        8 * 3600.0, description="A login lasts this long.")
    login_failures: int = Field(
        5, ge=1, le=100, description="Failed logins from one address before it must wait "
        "lockout_s (the wait doubles with every further failure).")
    lockout_s: Annotated[float, Field(ge=1.0, le=86400.0)] = Field(
        30.0, description="First wait after login_failures failed logins.")
    max_body_bytes: int = Field(
        65536, ge=1024, le=1_048_576, description="Larger request bodies are refused (413).")
    loop_stale_s: Annotated[float, Field(gt=0.0, le=3600.0)] = Field(
        10.0, description="/healthz answers 503 when the frame loop has finished no cycle "
        "for this long (a cycle also ends without a frame, after camera.timeout_s).")
    max_connections: int = Field(
        16, ge=2, le=1000, description="Open connections at most; more are answered 503.")

    @field_validator("password_hash")
    @classmethod
    def _a_hash(cls, v: str | None) -> str | None:
        return None if v is None else check_hash_format(v)

    @property
    def refusal(self) -> str | None:
        """Why the page must not start with these settings (None: it may). Not a config error:
        the stop runs and lights without its page; the daemon logs this, commissioning fails
        it."""
        if self.enabled and self.password_hash is None and not is_loopback(self.host):
            return (f"web.host {self.host} is reachable from other machines: the page is not "
                    "started without a password there; set web.password_hash (make one with "
                    "`stopsafe web-password`) or listen on 127.0.0.1")
        return None

    @property
    def login_required(self) -> bool:
        return self.password_hash is not None
