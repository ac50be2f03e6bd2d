"""The mqtt section: bad values stop start-up with one line naming the field (exit 78)."""

from __future__ import annotations

import pytest

from edge.config import ConfigError, parse_config
from edge.mqtt.link import backoff_s
from edge.mqtt.service import MqttService


@pytest.mark.parametrize(("mqtt", "message"), [
    ({"password": "s3cret"}, "<config>: mqtt.password: unknown setting (did you mean "
                              "password_file?); mqtt accepts: enabled, standalone, host,"),
    ({"prefix": "a/+/b"}, "<config>: mqtt.prefix: is 'a/+/b'; accepted: text of 1 to 100 "
                          "characters: matching "),
    ({"prefix": "stopsafe/"}, "<config>: mqtt.prefix: is 'stopsafe/'; accepted: text of 1 to "
                              "100 characters: matching "),
    ({"tls": {"cert_file": "c.pem"}}, "<config>: mqtt.tls: tls.cert_file and tls.key_file go "
                                      "together"),
    ({"reconnect_min_s": 10, "reconnect_max_s": 5},
     "<config>: mqtt.reconnect_max_s: must not be below reconnect_min_s"),
    ({"outbox": {"drop": "random"}}, "<config>: mqtt.outbox.drop: is 'random'; accepted: one of "
                                     "oldest, newest"),
    ({"cmd_max_bytes": 0}, "<config>: mqtt.cmd_max_bytes: is 0; accepted: a whole number from "
                           "16 to 1048576"),
])
def test_bad_mqtt_values(mqtt, message):
    with pytest.raises(ConfigError) as exc:
        parse_config({"mqtt": mqtt})
    assert str(exc.value).startswith(message)


def test_unreadable_password_file_is_a_config_error(tmp_path):
    cfg = parse_config({"mqtt": {"enabled": True, "password_file": str(tmp_path / "nope"),
                                 "outbox": {"path": ":memory:"}}})
    with pytest.raises(ConfigError) as exc:
        MqttService(cfg, config_path=tmp_path / "stop.yaml")
    assert str(exc.value) == (f"{tmp_path / 'stop.yaml'}: mqtt.password_file: cannot read "
                              f"{tmp_path / 'nope'}: No such file or directory")


# `stopsafe run` with that file missing no longer exits 78: the light runs without MQTT
# (mqtt_unusable) until the file is there (tests/test_startup_failsafe.py)


def test_backoff_doubles_with_jitter_up_to_the_maximum():
    import random

    rng = random.Random(4)
    for attempt, ceiling in ((0, 1.0), (1, 2.0), (3, 8.0), (10, 60.0), (50, 60.0)):
        waits = [backoff_s(attempt, 1.0, 60.0, rng) for _ in range(200)]
        assert all(ceiling / 2 <= w <= ceiling for w in waits)
        assert max(waits) - min(waits) > ceiling / 4  # jittered, not all the same
