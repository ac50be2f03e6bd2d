"""Helpers shared by the sub-commands."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

from edge.config import Config, load_config

if TYPE_CHECKING:
    from rich.console import Console

EX_UNAVAILABLE = 69  # the camera or the relay cannot be used
EX_SOFTWARE = 70  # the model cannot be used


def load(path: str | None) -> Config:
    """The config at ``path`` (built-in defaults for None); ConfigError -> exit 78 in main."""
    return load_config(Path(path) if path else None)


def console(stderr: bool = False) -> Console:
    """Rich output; when not on a terminal (a log, CI) wide enough that no figure is cut."""
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    return Console(stderr=stderr, width=None if stream.isatty() else 160)
