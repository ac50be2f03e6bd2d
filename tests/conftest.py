"""Shared fixtures: where the shared footage and models are, and a ready detector."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# the real-mosquitto fixture for the MQTT tests, the real-PostgreSQL one for the history tests
pytest_plugins = ["tests.mqtt_fixtures", "tests.pg_fixtures"]

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("STOPSAFE_SHARED", REPO.parent / "shared")).resolve()
CLIPS = SHARED / "clips"
MODELS_DIR = REPO / "models"


def scenario_path(name: str) -> Path:
    return CLIPS / name / "scenario.yaml"


@pytest.fixture(scope="session")
def shared() -> Path:
    if not (SHARED / "clips").is_dir():
        if os.environ.get("CI") == "true":
            pytest.fail(f"shared footage not found at {SHARED}")
        pytest.skip(f"shared footage not found at {SHARED} (set STOPSAFE_SHARED)")
    return SHARED


@pytest.fixture(scope="session")
def models_dir(shared: Path) -> Path:
    """The repo's git-ignored models/ folder, filled from the shared bundle (sha256-checked)."""
    from detector.models import fetch_models

    fetch_models(MODELS_DIR, shared / "models")
    return MODELS_DIR


@pytest.fixture(autouse=True)
def _own_state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test's own state directory (run marker, last good config, default outbox), also
    for the daemons it starts: nothing is read from or left in the user's own."""
    state = tmp_path / "state"
    monkeypatch.setenv("STATE_DIRECTORY", str(state))
    return state
