"""The last good config: a copy, in the state directory, of the config file the daemon last ran
cleanly (its first frame seen and decided on by the model), so that a config broken later (a
bad edit, a half-copied file) still leaves the stop a config to run on, with the
``config_rejected`` fault saying why.
"""

from __future__ import annotations

from pathlib import Path

import structlog

from edge.config import Config, ConfigError, load_config, state_dir
from edge.files import write_atomic

log = structlog.get_logger("stopsafe.last_good")

FILE_NAME = "last-good-config.yaml"


def last_good_path() -> Path:
    return state_dir() / FILE_NAME


def load_last_good() -> tuple[Config, Path] | None:
    """The kept config and its file, or None when there is none or it no longer validates."""
    path = last_good_path()
    if not path.is_file():
        return None
    try:
        return load_config(path), path
    except ConfigError as exc:
        log.error("last_good_config_unusable", path=str(path), error=str(exc))
        return None


def keep(config_path: Path, running: Config) -> bool:
    """Copy ``config_path`` as the last good config if it still holds ``running`` (it may
    have been edited since the start). Never raises: the stop runs on without it."""
    try:
        if load_config(config_path) != running:
            return False
        data = config_path.read_bytes()
        target = last_good_path()
        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(target, data, mode=0o600)  # it may hold secrets
    except (OSError, ConfigError) as exc:
        log.warning("last_good_config_not_kept", error=str(exc)[:300])
        return False
    log.info("last_good_config_kept", path=str(target), source=str(config_path))
    return True


class KeepWhenClean:
    """A pipeline sink: keeps the config as the last good one at the first frame the detector
    ran on (the model, the camera and the relay all work), once."""

    def __init__(self, config_path: Path, running: Config) -> None:
        self.config_path = config_path
        self.running = running
        self.done = False

    def on_record(self, record: object) -> None:
        if not self.done and getattr(record, "detected", False):
            self.done = True
            keep(self.config_path, self.running)

    def close(self) -> None:
        pass
