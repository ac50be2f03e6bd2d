"""A stop against a real Home Assistant (``tools/ha_real_check.py``): the entities, states,
commands, event, expiry and availability, in both discovery forms and across a switch between
them. Home Assistant is not a dependency; set ``STOPSAFE_HASS`` to the ``hass`` of a venv that
has it and run ``pytest -m homeassistant`` (``make ha-check HASS=...``)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tools.ha_real_check import main

pytestmark = [pytest.mark.homeassistant, pytest.mark.mqtt]


@pytest.fixture(scope="module")
def hass() -> str:
    path = os.environ.get("STOPSAFE_HASS")
    if not path or not Path(path).exists():
        pytest.fail("set STOPSAFE_HASS to a Home Assistant venv's bin/hass")
    return path


@pytest.mark.parametrize("form, migrate_from", [
    ("device", None), ("entities", None), ("device", "entities"), ("entities", "device")])
def test_a_stop_in_home_assistant(hass, form, migrate_from, tmp_path):
    args = ["--hass", hass, "--form", form, "--keep", str(tmp_path / "ha")]
    if migrate_from:
        args += ["--migrate-from", migrate_from]
    assert main(args) == 0
