"""One guard for every JSON payload read off the wire: a 200,000-deep array is a ValueError
(refused like any other bad payload), never a RecursionError that ends the reading thread."""

from __future__ import annotations

import pytest

from edge.mqtt.discovery import parse_config
from edge.wire import parse_json
from fleet.view import FleetTable

DEEP = b"[" * 200_000 + b"]" * 200_000


def test_a_deep_payload_is_a_value_error():
    with pytest.raises(ValueError, match="nested too deeply"):
        parse_json(DEEP)
    assert parse_json('{"a": 1}') == {"a": 1}


def test_the_stop_reads_a_deep_foreign_discovery_config_as_none():
    assert parse_config(DEEP) is None


def test_the_console_survives_a_deep_telemetry_payload():
    table = FleetTable("stopsafe")
    table.update("stopsafe/s1/tele", DEEP)
    table.update("stopsafe/s1/faults/state", DEEP)
    assert table.row("s1") is not None
