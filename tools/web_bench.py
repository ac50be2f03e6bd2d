"""The installer's page's cost to the frame loop: the one-by-one clip through the real pipeline
(real model, mock relay) paced like a camera (at ``--speed`` times the clip's pace), without the
page, then with the page and two clients (separate processes, as browsers are) each asking for
/api/state and /api/frame.jpg four times a second; runs alternate so a busy machine's drift hits
both sides alike.

    .venv/bin/python tools/web_bench.py [--seconds 30] [--rounds 3] [--speed 2]

Per cycle it measures the frame loop's own time (the record's ``times_ms["frame"]``: reading,
health, gate, detector, decision, relay; the pacing wait left out) and the frame thread's CPU
time for the whole cycle (sinks included), which other processes' load hardly moves. Prints each
run's means and the pooled difference.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

CLIENT = """
import sys, time, urllib.request
base = sys.argv[1]
while True:
    t0 = time.monotonic()
    for path in ("/api/state", "/api/frame.jpg"):
        try:
            urllib.request.urlopen(base + path, timeout=5).read()
        except OSError:
            pass
    time.sleep(max(0.0, 0.25 - (time.monotonic() - t0)))
"""


class TimedSink:
    """The page's sink, with the time its ``on_record`` takes in the frame thread."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.us: list[float] = []

    def on_record(self, record) -> None:
        t0 = time.perf_counter()
        self.inner.on_record(record)
        self.us.append((time.perf_counter() - t0) * 1e6)

    def on_fault(self, event) -> None:
        self.inner.on_fault(event)

    def close(self) -> None:
        self.inner.close()


SINK_US: list[float] = []


def run(cfg, clip: Path, seconds: float, speed: float, page: bool
        ) -> tuple[list[float], list[float]]:
    """(frame loop ms, frame thread CPU ms) of each cycle."""
    from edge.runtime.assembly import assemble
    from edge.runtime.camera import ClipSource
    from sim.pacing import PacedClip

    sinks: list = []
    view = server = None
    clients: list[subprocess.Popen] = []
    if page:
        from edge.web.server import start_web
        from edge.web.view import LiveView, Parts

        view = LiveView(cfg)
        timed = TimedSink(view)
        sinks.append(timed)
    source = PacedClip(ClipSource(clip, process_fps=cfg.camera.fps), speed)
    stop = assemble(cfg, source, sinks=sinks, pin_factory="mock", start=0.0)
    try:
        if page:
            view.bind(Parts(stop))
            server = start_web(cfg.web, view)
            clients = [subprocess.Popen([sys.executable, "-c", CLIENT, server.url])
                       for _ in range(2)]
            time.sleep(0.5)
        loop_ms: list[float] = []
        cpu_ms: list[float] = []
        for _ in range(int(seconds * cfg.camera.fps)):
            c0 = time.thread_time()
            record = stop.pipeline.cycle()
            if record is None:
                break
            loop_ms.append(record.times_ms["frame"])
            cpu_ms.append((time.thread_time() - c0) * 1e3)
    finally:
        if page:
            SINK_US.extend(timed.us)
        for c in clients:
            c.terminate()
            c.wait()
        stop.close()
        if server is not None:
            server.close()
    return loop_ms[5:], cpu_ms[5:]  # the first cycles warm the model up


def main() -> int:
    from edge.config import parse_config
    from tests.conftest import CLIPS, MODELS_DIR

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=30.0, help="clip seconds a run (default 30)")
    p.add_argument("--rounds", type=int, default=3, help="off/on pairs (default 3)")
    p.add_argument("--speed", type=float, default=2.0, help="times the clip's pace (default 2)")
    args = p.parse_args()
    clip = CLIPS / "one-by-one" / "one-by-one-person-detection.mp4"
    cfg = parse_config({
        "camera": {"source": str(clip), "fps": 5.0},
        "detector": {"models_dir": str(MODELS_DIR)},
        "zone": {"polygon": [[0.35, 0.6], [0.85, 0.6], [0.85, 1.0], [0.35, 1.0]]},
        "light": {"pin_factory": "mock"},
        "web": {"enabled": True, "host": "127.0.0.1", "port": 0},
    })
    loop: dict[bool, list[float]] = {False: [], True: []}
    cpu: dict[bool, list[float]] = {False: [], True: []}
    for r in range(args.rounds):
        for page in (False, True):
            ms, cms = run(cfg, clip, args.seconds, args.speed, page)
            loop[page] += ms
            cpu[page] += cms
            print(f"round {r + 1} page {'on, 2 clients' if page else 'off          '}: "
                  f"{len(ms)} cycles, frame loop mean {statistics.fmean(ms):.2f} ms "
                  f"(median {statistics.median(ms):.2f}), frame thread CPU mean "
                  f"{statistics.fmean(cms):.2f} ms", flush=True)
    for name, d in (("frame loop", loop), ("frame thread CPU", cpu)):
        off, on = statistics.fmean(d[False]), statistics.fmean(d[True])
        moff, mon = statistics.median(d[False]), statistics.median(d[True])
        print(f"{name}: off {off:.2f} ms (median {moff:.2f}), on {on:.2f} ms (median "
              f"{mon:.2f}): {100 * (on - off) / off:+.1f} % mean, "
              f"{100 * (mon - moff) / moff:+.1f} % median")
    print(f"the page's sink in the frame thread: mean {statistics.fmean(SINK_US):.1f} us, "
          f"median {statistics.median(SINK_US):.1f} us, max {max(SINK_US):.0f} us a cycle "
          f"({100 * statistics.fmean(SINK_US) / 1e3 / statistics.fmean(cpu[False]):.2f} % of "
          "the frame thread's CPU without the page)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
