"""The logging section."""

from __future__ import annotations

from enum import Enum
from typing import Literal

from pydantic import Field

from edge.config.base import Section


class LogFormat(str, Enum):
    AUTO = "auto"
    JSON = "json"
    CONSOLE = "console"


class LoggingConfig(Section):
    """Structured logs."""

    level: Literal["debug", "info", "warning", "error"] = Field("info", description="Lowest level.")
    format: LogFormat = Field(
        LogFormat.AUTO, description="'auto': key=value on a terminal, JSON lines otherwise."
    )
