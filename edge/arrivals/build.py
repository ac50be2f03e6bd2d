"""The arrivals parts a config asks for: the feed source (with the TAGO key read from its file
or the environment, never logged) and the core's settings."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from edge.arrivals import seoul, tago
from edge.arrivals.source import FeedSource, GtfsRtSource, ServiceSource
from edge.config import SERVICE_KEY_ENV, SERVICE_URLS, ArrivalsConfig, ConfigError
from edge.decision.buses import BusSettings
from edge.decision.feed import FeedKind

# each service's response reader, for the source and for ``stopsafe arrivals`` on saved answers
PARSERS = {FeedKind.TAGO: tago.parse, FeedKind.SEOUL: seoul.parse}


def bus_settings(a: ArrivalsConfig) -> BusSettings:
    return BusSettings(near_s=a.near_s, near_stops=a.near_stops, stale_s=a.stale_s)


def service_key(a: ArrivalsConfig, env: Mapping[str, str], where: Path | str = "<config>"
                ) -> str:
    """The service's key (TAGO, Seoul): the file's first line, else the environment;
    ConfigError without it."""
    if a.service_key_file is not None:
        try:
            lines = a.service_key_file.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise ConfigError(f"{where}: arrivals.service_key_file: cannot read "
                              f"{a.service_key_file}: {exc.strerror or exc}") from None
        key = lines[0].strip() if lines else ""
    else:
        key = env.get(SERVICE_KEY_ENV, "").strip()
    if not key:
        raise ConfigError(f"{where}: arrivals: a {a.kind.value} feed needs its service key "
                          f"(service_key_file or ${SERVICE_KEY_ENV})")
    return key


def make_source(a: ArrivalsConfig, env: Mapping[str, str] | None = None,
                where: Path | str = "<config>") -> FeedSource:
    if a.stop_id is None:
        raise ConfigError(f"{where}: arrivals.stop_id: this stop's id in the feed is needed")
    if a.kind in SERVICE_URLS:
        key = service_key(a, os.environ if env is None else env, where)
        base = a.service_url or SERVICE_URLS[a.kind]
        if a.kind is FeedKind.SEOUL:
            return ServiceSource(seoul.request_url(base, key, a.stop_id), key, a.stop_id,
                                 PARSERS[a.kind], a.timeout_s)
        if a.city_code is None:
            raise ConfigError(f"{where}: arrivals.city_code: a tago feed needs it")
        return ServiceSource(tago.request_url(base, key, a.city_code, a.stop_id), key,
                             a.stop_id, PARSERS[a.kind], a.timeout_s)
    if not a.urls:
        raise ConfigError(f"{where}: arrivals.urls: a gtfs_rt feed needs at least one")
    return GtfsRtSource(a.urls, a.stop_id, a.timeout_s)
