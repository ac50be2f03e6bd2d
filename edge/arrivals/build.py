"""The arrivals parts a config asks for: the feed source (with the TAGO key read from its file
or the environment, never logged) and the core's settings."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from edge.arrivals.source import FeedSource, GtfsRtSource, TagoSource
from edge.config import TAGO_KEY_ENV, ArrivalsConfig, ConfigError
from edge.decision.buses import BusSettings
from edge.decision.feed import FeedKind


def bus_settings(a: ArrivalsConfig) -> BusSettings:
    return BusSettings(near_s=a.near_s, near_stops=a.near_stops, stale_s=a.stale_s)


def service_key(a: ArrivalsConfig, env: Mapping[str, str], where: Path | str = "<config>"
                ) -> str:
    """The TAGO key: the file's first line, else the environment; ConfigError without it."""
    if a.service_key_file is not None:
        try:
            lines = a.service_key_file.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise ConfigError(f"{where}: arrivals.service_key_file: cannot read "
                              f"{a.service_key_file}: {exc.strerror or exc}") from None
        key = lines[0].strip() if lines else ""
    else:
        key = env.get(TAGO_KEY_ENV, "").strip()
    if not key:
        raise ConfigError(f"{where}: arrivals: a tago feed needs its service key "
                          f"(service_key_file or ${TAGO_KEY_ENV})")
    return key


def make_source(a: ArrivalsConfig, env: Mapping[str, str] | None = None,
                where: Path | str = "<config>") -> FeedSource:
    if a.stop_id is None:
        raise ConfigError(f"{where}: arrivals.stop_id: this stop's id in the feed is needed")
    if a.kind is FeedKind.TAGO:
        if a.city_code is None:
            raise ConfigError(f"{where}: arrivals.city_code: a tago feed needs it")
        key = service_key(a, os.environ if env is None else env, where)
        return TagoSource(a.service_url, key, a.city_code, a.stop_id, a.timeout_s)
    if not a.urls:
        raise ConfigError(f"{where}: arrivals.urls: a gtfs_rt feed needs at least one")
    return GtfsRtSource(a.urls, a.stop_id, a.timeout_s)
