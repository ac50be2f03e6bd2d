"""Helpers shared by the sub-commands."""

from __future__ import annotations

from pathlib import Path

from edge.config import Config, load_config

EX_UNAVAILABLE = 69  # the camera or the relay cannot be used
EX_SOFTWARE = 70  # the model cannot be used


def load(path: str | None) -> Config:
    """The config at ``path`` (built-in defaults for None); ConfigError -> exit 78 in main."""
    return load_config(Path(path) if path else None)
