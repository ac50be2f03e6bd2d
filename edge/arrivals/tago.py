"""The Korean national bus-arrival service (TAGO, 국토교통부 ArvlInfoInqireService) to one
:class:`Snapshot` for this stop.

``getSttnAcctoArvlPrearngeInfoList`` answers, for one stop (``cityCode`` + ``nodeId``), one item
per arriving bus: ``routeid``/``routeno``, ``arrtime`` (predicted seconds to the stop) and
``arrprevstationcnt`` (stops still to go). Field and parameter names as on the service's page
on the national data portal and its guide (``shared/feeds/B-korea-arrivals/FIELDS.md``). The
answer has no vehicle id: a route's nearest bus is followed by route, and one that comes back
farther away is the next bus (``Observation.identity`` False). ``items.item`` is a list, a
single object when there is one bus, and ``""`` when there is none. An error (a bad key, too
many calls) comes back as XML whatever ``_type`` asked for.

The service key is the installer's secret: it goes into the request and nowhere else
(:func:`redact` for anything printed or logged).
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlencode

from edge.arrivals.gtfs_rt import FeedError
from edge.decision.feed import FeedKind, Observation, Relation, Snapshot

OK_CODE = "00"
_XML_TAG = re.compile(r"<(returnAuthMsg|returnReasonCode|errMsg|resultCode|resultMsg)>"
                      r"([^<]{0,200})</\1>")


def request_url(base: str, service_key: str, city_code: str, node_id: str,
                rows: int = 100) -> str:
    """The GET URL of one poll (the key URL-encoded, as the portal's 'decoding' key needs)."""
    query = urlencode({"serviceKey": service_key, "cityCode": city_code, "nodeId": node_id,
                       "numOfRows": rows, "pageNo": 1, "_type": "json"})
    return f"{base}?{query}"


def redact(text: str, secret: str | None) -> str:
    """``text`` without the service key, raw or URL-encoded (for logs, faults, errors)."""
    if not secret:
        return text
    from urllib.parse import quote, quote_plus

    for form in {secret, quote(secret, safe=""), quote_plus(secret)}:
        text = text.replace(form, "***")
    return re.sub(r"(serviceKey=)[^&\s]*", r"\1***", text)


def _items(body: Any) -> list[dict[str, Any]]:
    items = body.get("items") if isinstance(body, dict) else None
    if not items:  # "" (no bus) or missing
        return []
    item = items.get("item") if isinstance(items, dict) else None
    if item is None or item == "":
        return []
    if isinstance(item, dict):
        return [item]
    if isinstance(item, list):
        return [i for i in item if isinstance(i, dict)]
    raise FeedError(f"TAGO: items.item is a {type(item).__name__}")


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def parse(data: bytes, stop_id: str, at: float) -> Snapshot:
    """One TAGO answer, received at ``at`` (the service gives no time of its own)."""
    text = data.decode("utf-8", errors="replace").strip()
    if text.startswith("<"):
        found = dict(_XML_TAG.findall(text))
        why = " ".join(f"{k}={v}" for k, v in found.items()) or text[:120]
        raise FeedError(f"TAGO error: {why}")
    try:
        doc = json.loads(text)
        header = doc["response"]["header"]
        body = doc["response"].get("body") or {}
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise FeedError(f"TAGO: not an arrival answer ({type(exc).__name__})") from None
    code = str(header.get("resultCode", ""))
    if code != OK_CODE:
        raise FeedError(f"TAGO error: resultCode={code} {header.get('resultMsg', '')}"[:200])
    seen: dict[str, int] = {}
    obs = []
    rows = [i for i in _items(body) if str(i.get("nodeid", stop_id)) == stop_id]
    for item in sorted(rows, key=lambda i: (_int(i.get("arrtime")) or 0)):
        route = str(item.get("routeid", "")) or str(item.get("routeno", ""))
        n = seen[route] = seen.get(route, 0) + 1  # a route's buses in order of arrival
        eta = _int(item.get("arrtime"))
        obs.append(Observation(
            key=f"{route}#{n}", relation=Relation.APPROACHING, route_id=route,
            eta_s=None if eta is None else float(max(eta, 0)),
            stops_away=_int(item.get("arrprevstationcnt")), stop_id=stop_id, identity=False))
    return Snapshot(at=at, stop_id=stop_id, observations=tuple(obs), kind=FeedKind.TAGO)
