"""The stop with a Korean arrival service on a real loopback HTTP server: TAGO's JSON (no
vehicle ids: the attention pattern within one poll, the route's next bus closing the arrival,
an error answer a fault without the key) and Seoul's (vehicle ids, a bus at the stop)."""

from __future__ import annotations

import json

from edge.decision.events import BusArrived
from edge.decision.light_rules import LightPattern
from edge.runtime.faults import Fault
from tests.bus_fixtures import FeedServer
from tests.test_bus_live import POLL_S, Running, _cfg, wait_for


def _tago(*items: dict) -> bytes:
    return json.dumps({"response": {
        "header": {"resultCode": "00", "resultMsg": "NORMAL SERVICE."},
        "body": {"items": {"item": list(items)} if items else "", "numOfRows": 30,
                 "pageNo": 1, "totalCount": len(items)}}}, ensure_ascii=False).encode()


def _item(route: str, arrtime: int, stops: int) -> dict:
    return {"arrprevstationcnt": stops, "arrtime": arrtime, "nodeid": "CAB285000686",
            "nodenm": "종합터미널", "routeid": route, "routeno": 700, "routetp": "일반버스",
            "vehicletp": "일반차량"}


def test_tago_json_attention_and_arrival(tmp_path):
    key = tmp_path / "key"
    key.write_text("secret+key/==\n")
    server = FeedServer(_tago(_item("CAB285000222", 560, 5)), "application/json")
    cfg = _cfg(server.url, kind="tago", stop_id="CAB285000686", city_code="34010",
               service_url=server.url, service_key_file=str(key), urls=[])
    run = Running(cfg)
    try:
        assert wait_for(lambda: server.hits >= 2 and run.state.light, 5.0) is not None
        assert run.state.pattern is LightPattern.STEADY
        assert "serviceKey=secret%2Bkey%2F%3D%3D&" in server.paths[0]  # sent, URL-encoded
        server.body = _tago(_item("CAB285000222", 70, 1))
        took = wait_for(lambda: run.state.pattern is LightPattern.ATTENTION, 3 * POLL_S)
        assert took is not None and took <= POLL_S + 0.5, took
        server.body = _tago(_item("CAB285000222", 900, 9))  # the next bus of the route
        assert wait_for(lambda: run.sink.of(BusArrived), 3 * POLL_S) is not None
        (bus,) = run.sink.of(BusArrived)
        assert (bus.outcome, bus.waiting, bus.route_id) == ("unknown", True, "CAB285000222")
        assert run.state.pattern is LightPattern.STEADY
        server.body = b"<OpenAPI_ServiceResponse><returnReasonCode>22</returnReasonCode>"
        assert wait_for(lambda: run.stop.faults.is_active(Fault.ARRIVALS_FEED), 5 * POLL_S)
        detail = json.dumps(run.stop.faults.active()[Fault.ARRIVALS_FEED].detail)
        assert "secret" not in detail and "returnReasonCode=22" in detail
    finally:
        run.close()
        server.close()


def _seoul(veh: str, msg: str, arrive: str = "0", tra: str = "0") -> bytes:
    return json.dumps({"msgHeader": {"headerCd": "0", "headerMsg": "정상적으로 처리되었습니다."},
                       "msgBody": {"itemList": [{
                           "arsId": "24411", "stId": "123000624", "busRouteId": "100100496",
                           "rtNm": "333", "vehId1": veh, "arrmsg1": msg, "isArrive1": arrive,
                           "traTime1": tra, "arrmsg2": "운행종료", "vehId2": "0"}]}},
                      ensure_ascii=False).encode()


def test_seoul_json_bus_at_the_stop_stopped(tmp_path):
    """Seoul's answers name the vehicle and say when it is at the stop: stopped, not unknown."""
    key = tmp_path / "key"
    key.write_text("k\n")
    server = FeedServer(_seoul("111", "5분0초후[4번째 전]", tra="300"), "application/json")
    cfg = _cfg(server.url, kind="seoul", stop_id="24411", service_url=server.url,
               service_key_file=str(key), urls=[])
    run = Running(cfg)
    try:
        assert wait_for(lambda: server.hits >= 2 and run.state.light, 5.0) is not None
        assert run.state.pattern is LightPattern.STEADY and "arsId=24411" in server.paths[0]
        server.body = _seoul("111", "1분0초후[1번째 전]", tra="60")
        assert wait_for(lambda: run.state.pattern is LightPattern.ATTENTION, 3 * POLL_S)
        server.body = _seoul("111", "곧 도착", arrive="1", tra="0")
        assert wait_for(lambda: run.state.pattern is LightPattern.STEADY, 3 * POLL_S)
        server.body = _seoul("222", "9분0초후[6번째 전]", tra="540")  # it left; the next bus
        assert wait_for(lambda: run.sink.of(BusArrived), 2 * POLL_S + 4.0) is not None
        (bus,) = run.sink.of(BusArrived)
        assert (bus.outcome, bus.vehicle_id, bus.waiting) == ("stopped", "111", True)
    finally:
        run.close()
        server.close()
