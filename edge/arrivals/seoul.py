"""Seoul's bus-arrival service (ws.bus.go.kr ``stationinfo/getStationByUid``, and
``arrive/getArrInfoByRoute[All]``, whose items have the same fields) to one :class:`Snapshot`.

Each item is a route at the stop with its first and second coming bus (suffix 1 and 2):
``vehId`` (the vehicle, "0" when none), ``traTime`` (predicted seconds), ``arrmsg`` (a message:
"2분20초후[1번째 전]" is 2 min 20 s and one stop away, "곧 도착" is arriving, "운행종료" ended,
"출발대기" waiting to depart), ``isArrive`` ("1": the bus is at the stop). Field meanings as far
as the samples and the code that reads them say (``shared/feeds/B-korea-arrivals/FIELDS.md``).
Unlike TAGO the vehicles have ids, and a bus at the stop is reported, so stopped and passed can
be told apart. JSON (``resultType=json``) and XML answers are both read.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from typing import Any
from urllib.parse import urlencode

from edge.arrivals.gtfs_rt import FeedError
from edge.decision.feed import FeedKind, Observation, Relation, Snapshot

OK_CODE = "0"
NO_BUS = ("운행종료", "출발대기")  # service over for the day; waiting at the depot
_AWAY = re.compile(r"\[(\d+)번째 전\]")
_ETA = re.compile(r"(?:(\d+)분)?\s*(?:(\d+)초)?후")
SOON = "곧 도착"


def request_url(base: str, service_key: str, ars_id: str) -> str:
    return f"{base}?{urlencode({'serviceKey': service_key, 'arsId': ars_id, 'resultType': 'json'})}"


def _items(data: bytes) -> tuple[str, list[dict[str, Any]]]:
    text = data.decode("utf-8", errors="replace").strip()
    if text.startswith("<"):
        try:
            root = ET.fromstring(text)
        except ET.ParseError as exc:
            raise FeedError(f"Seoul: not an arrival answer ({exc})") from None
        code = root.findtext(".//msgHeader/headerCd") or ""
        msg = root.findtext(".//msgHeader/headerMsg") or ""
        items = [{c.tag: (c.text or "") for c in it} for it in root.iter("itemList")]
        return f"{code} {msg}", items if code == OK_CODE else _raise(code, msg)
    try:
        doc = json.loads(text)
    except json.JSONDecodeError:
        raise FeedError("Seoul: not an arrival answer (not JSON or XML)") from None
    doc = doc.get("ServiceResult", doc) if isinstance(doc, dict) else {}
    header = doc.get("msgHeader") or {}
    code, msg = str(header.get("headerCd", "")), str(header.get("headerMsg", ""))
    if code != OK_CODE:
        _raise(code, msg)
    items = (doc.get("msgBody") or {}).get("itemList") or []
    items = [items] if isinstance(items, dict) else [i for i in items if isinstance(i, dict)]
    return f"{code} {msg}", items


def _raise(code: str, msg: str) -> list[dict[str, Any]]:
    raise FeedError(f"Seoul error: headerCd={code} {msg}"[:200])


def _int(v: Any) -> int | None:
    try:
        return int(str(v).strip())
    except (TypeError, ValueError):
        return None


def observations_of(item: dict[str, Any], stop_id: str) -> list[Observation]:
    """The item's first and second bus, as observations of ``stop_id``."""
    route = str(item.get("busRouteId") or item.get("rtNm") or "")
    out = []
    for n in (1, 2):
        msg = str(item.get(f"arrmsg{n}") or "")
        if not msg or any(w in msg for w in NO_BUS):
            continue
        veh = str(item.get(f"vehId{n}") or "0")
        away_m = _AWAY.search(msg)
        away = int(away_m.group(1)) if away_m else (1 if SOON in msg else None)
        eta = _int(item.get(f"traTime{n}"))
        if not eta:
            m = _ETA.search(msg)
            eta = (int(m.group(1) or 0) * 60 + int(m.group(2) or 0)) if m and (
                m.group(1) or m.group(2)) else (0 if SOON in msg else None)
        at_stop = str(item.get(f"isArrive{n}", "0")) == "1"
        identity = veh != "0"
        out.append(Observation(
            key=veh if identity else f"{route}#{n}",
            relation=Relation.AT_STOP if at_stop else Relation.APPROACHING,
            route_id=route or None, vehicle_id=veh if identity else None,
            eta_s=0.0 if at_stop else None if eta is None else float(eta),
            stops_away=0 if at_stop else away, stop_id=stop_id, identity=identity))
    return out


def parse(data: bytes, stop_id: str, at: float) -> Snapshot:
    """One answer for the stop ``stop_id`` (its arsId or stId), received at ``at``."""
    _, items = _items(data)
    obs: dict[str, Observation] = {}
    for item in items:
        if stop_id not in (str(item.get("arsId", stop_id)), str(item.get("stId", stop_id))):
            continue
        for o in observations_of(item, stop_id):
            obs.setdefault(o.key, o)  # an item repeated in one answer is one bus
    return Snapshot(at=at, stop_id=stop_id, observations=tuple(obs.values()),
                    kind=FeedKind.SEOUL)
