"""Loopback servers and feeds for the bus tests: a real HTTP server on 127.0.0.1 that serves
whatever body the test sets (GTFS-realtime protobuf or TAGO JSON), and the real NYC series cut
to one train and re-timed to now."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from google.transit import gtfs_realtime_pb2 as rt

from tests.conftest import SHARED

NYC = SHARED / "feeds/A1-nyct-subway-series/raw_10s_series"


class FeedServer:
    """GET anything: ``status`` and ``body`` as the test set them; ``hits`` counts requests."""

    def __init__(self, body: bytes = b"", content_type: str = "application/x-protobuf"
                 ) -> None:
        self.body, self.status, self.hits = body, 200, 0
        self.paths: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.hits += 1
                server.paths.append(self.path)
                self.send_response(server.status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(server.body)))
                self.end_headers()
                self.wfile.write(server.body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_port}/feed"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def nyc_snapshots() -> list[rt.FeedMessage]:
    msgs = []
    for p in sorted(NYC.iterdir()):
        m = rt.FeedMessage()
        m.ParseFromString(p.read_bytes())
        msgs.append(m)
    return sorted(msgs, key=lambda m: m.header.timestamp)


def add_trip(out: rt.FeedMessage, msg: rt.FeedMessage, trip_id: str) -> None:
    """Copy ``trip_id``'s entities of ``msg`` into ``out``, every time moved by as much as
    ``out``'s header is after ``msg``'s (predictions keep their distance from the header)."""
    delta = out.header.timestamp - msg.header.timestamp
    for e in msg.entity:
        trip = e.vehicle.trip if e.HasField("vehicle") else e.trip_update.trip
        if trip.trip_id != trip_id:
            continue
        c = out.entity.add()
        c.CopyFrom(e)
        if c.HasField("vehicle") and c.vehicle.timestamp:
            c.vehicle.timestamp += delta
        for u in c.trip_update.stop_time_update:
            for ev in (u.arrival, u.departure):
                if ev.time:
                    ev.time += delta


def one_trip(msg: rt.FeedMessage, trip_id: str, now: float) -> bytes:
    """``msg`` with only ``trip_id``'s entities, re-timed so its header is ``now``."""
    out = rt.FeedMessage()
    out.header.CopyFrom(msg.header)
    out.header.timestamp = int(now)
    add_trip(out, msg, trip_id)
    return out.SerializeToString()
