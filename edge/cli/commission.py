"""``stopsafe commission -c CONFIG -o DIR [--walk]``: every check in one go, and one report.

DIR gets ``report.html``, one self-contained page (the snapshot inlined, the walk test's result
in it: the record survives being moved or mailed), and ``selftest.json`` (every check with its
figures, the effective config). While the daemon runs (its page, ``web.enabled``, answers) the
checks go through it; otherwise relay, camera and model are opened here.
"""

from __future__ import annotations

import argparse
import base64
import html
import json
import platform
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from edge import __version__
from edge.cli.common import load, report_logging
from edge.cli.selftest import add_selftest_options, print_checks

COLOURS = {"pass": "#2e7d32", "fail": "#c62828", "skip": "#757575", "warn": "#ef6c00"}


def render_html(report: dict[str, Any], snapshot: tuple[str, bytes] | None) -> str:
    """The report; ``snapshot`` is (media type, bytes), inlined as a data URI."""
    esc = html.escape
    cfg = report["config"]
    rows = "\n".join(
        f'<tr><td style="color:{COLOURS[c["status"]]};font-weight:bold">'
        f'{c["status"].upper()}</td><td>{esc(c["name"])}</td><td>{esc(c["message"])}</td></tr>'
        for c in report["checks"])
    verdict = "PASSED" if report["passed"] else "FAILED"
    colour = COLOURS["pass" if report["passed"] else "fail"]
    if snapshot is not None:
        kind, data = snapshot
        picture = (f'<img src="data:{kind};base64,{base64.b64encode(data).decode()}" '
                   'alt="snapshot" style="max-width:100%">')
    else:
        picture = ("<p>No picture: privacy.local_snapshots is false, or the camera gave no "
                   "frame.</p>")
    walk = report.get("walk")
    walk_html = "<p>Not run (stopsafe commission --walk).</p>" if walk is None else (
        f'<p style="color:{COLOURS[walk["status"] if walk["status"] != "running" else "fail"]};'
        f'font-weight:bold">{esc(walk["message"])}</p>'
        + "<table>" + "".join(f"<tr><td>{esc(k.replace('_', ' '))}</td><td>{v:.1f} s</td></tr>"
                              for k, v in walk["times"].items()) + "</table>")
    zone = ", ".join(f"({x:.3f}, {y:.3f})" for x, y in cfg["zone"]["polygon"])
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>stopsafe commissioning {esc(cfg['stop']['id'])} {esc(report['time'])}</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:1em auto}}
td,th{{padding:.2em .6em;text-align:left;vertical-align:top}}
table{{border-collapse:collapse}} tr{{border-bottom:1px solid #ddd}}</style></head>
<body>
<h1>stopsafe commissioning: {esc(cfg['stop']['id'])} {esc(cfg['stop']['name'])}</h1>
<p style="font-size:1.4em;color:{colour};font-weight:bold">{verdict}</p>
<p>{esc(report['time'])} on {esc(report['host'])}, stopsafe {esc(report['version'])},
config {esc(report['config_path'])}{', through the running daemon' if report['through_daemon']
                                   else ''}</p>
<table><tr><th>result</th><th>check</th><th>what was found</th></tr>
{rows}
</table>
<h2>Walk test</h2>
{walk_html}
<h2>Settings</h2>
<table>
<tr><td>camera</td><td>{esc(str(cfg['camera']['source']))} at {cfg['camera']['fps']} fps</td></tr>
<tr><td>model</td><td>{esc(cfg['detector']['model'])}, score threshold
{cfg['detector']['score_threshold']}</td></tr>
<tr><td>zone</td><td>{esc(zone)}</td></tr>
<tr><td>waiting after</td><td>{cfg['waiting']['dwell_s']} s; light held {cfg['light']['hold_s']}
s; relay GPIO{cfg['light']['pin']}</td></tr>
<tr><td>fail-safe</td><td>light {esc(cfg['failsafe']['fail_state'])} after
{cfg['failsafe']['after_s']} s blind</td></tr>
</table>
<h2>Snapshot</h2>
<p>Amber: the zone. Green boxes count (their standing point is in the zone), grey ones do not.</p>
{picture}
</body></html>
"""


def _say(message: str) -> None:
    print(f"walk test: {message}", file=sys.stderr, flush=True)


def run_walk(cfg: Any, limit_s: float) -> Any:
    """The walk test on a pipeline of its own (the daemon is not running): the real camera,
    model and relay, until the walk ends or ``limit_s`` has passed."""
    import time

    from actuators.light import LightError
    from edge.app.compose import assemble
    from edge.install.walk import WalkResult, WalkStatus, WalkTest
    from edge.runtime.camera import open_camera
    from edge.runtime.frames import CameraError

    walk = WalkTest()
    try:
        stop = assemble(cfg, lambda: open_camera(cfg.camera), sinks=[walk])
    except (LightError, CameraError) as exc:
        return WalkResult(WalkStatus.FAILED, limit_s=limit_s, note=str(exc))
    walk.start(limit_s)
    _say(walk.result().message())
    deadline = time.monotonic() + limit_s + 10.0  # a camera that delivers nothing
    last = ""
    try:
        while walk.result().status is WalkStatus.RUNNING:
            if stop.pipeline.cycle() is None:
                walk.expire("the camera source ended")
            elif time.monotonic() > deadline:
                walk.expire("no frames")
            message = walk.result().message()
            if message != last:
                _say(message)
                last = message
    finally:
        stop.close()
    return walk.result()


def cmd_commission(args: argparse.Namespace) -> int:
    import cv2

    from edge.install.commissioning import (
        Check,
        Verdict,
        check_clock,
        check_configured,
        check_permissions,
        run_selftest,
    )
    from edge.install.through_daemon import DaemonPage, PageError, checks_through
    from edge.install.walk import DEFAULT_WALK_S, WalkStatus
    from edge.pictures import draw_snapshot

    cfg = load(args.config)
    report_logging(cfg, args)
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    config_path = Path(args.config)
    checks = [Check("config", Verdict.PASS, f"{args.config} is valid"), check_configured(cfg)]
    snapshot: tuple[str, bytes] | None = None
    walk = None
    page = DaemonPage.find(cfg)
    if page is not None:
        try:
            page.open_session()
            checks += [check_clock(), check_permissions(cfg, config_path),
                       *checks_through(cfg, page, args.seconds)]
            if args.picture:
                checks.append(Check("picture", Verdict.SKIP, "not checked through the running "
                                    "daemon (its model is busy): stop it to check --picture"))
            jpeg = page.frame_jpeg()
            snapshot = ("image/jpeg", jpeg) if jpeg else None
            if args.walk:
                walk = page.walk(args.walk_seconds or DEFAULT_WALK_S, _say)
        except (OSError, PageError) as exc:
            checks.append(Check("daemon", Verdict.FAIL, f"the daemon's page at {page.base}: {exc}"))
    else:
        result = run_selftest(cfg, picture=Path(args.picture) if args.picture else None,
                              seconds=args.seconds, pulse_s=args.pulse, config_path=config_path)
        checks += result.checks
        if result.frame is not None and cfg.privacy.local_snapshots:
            ok, png = cv2.imencode(".png", draw_snapshot(result.frame, result.detections, cfg))
            snapshot = ("image/png", png.tobytes()) if ok else None
        if args.walk:
            walk = run_walk(cfg, args.walk_seconds or DEFAULT_WALK_S)
    if walk is not None:
        checks.append(Check("walk", Verdict.PASS if walk.status is WalkStatus.PASSED
                            else Verdict.FAIL, walk.message(), walk.as_json()))
    passed = all(c.status is not Verdict.FAIL for c in checks)
    report = {
        "passed": passed,
        "time": datetime.now().astimezone().isoformat(timespec="seconds"),
        "host": platform.node(),
        "version": __version__,
        "config_path": str(args.config),
        "through_daemon": page is not None,
        "checks": [c.as_json() for c in checks],
        "walk": walk.as_json() if walk is not None else None,
        "config": cfg.model_dump(mode="json"),
    }
    (out / "selftest.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    (out / "report.html").write_text(render_html(report, snapshot), encoding="utf-8")
    print_checks(checks)
    failed = [c.name for c in checks if c.status is Verdict.FAIL]
    print(f"commission: {'FAILED: ' + ', '.join(failed) if failed else 'all checks passed'}; "
          f"report in {out}/report.html", file=sys.stderr)
    return 1 if failed else 0


def register(p: argparse.ArgumentParser) -> None:
    add_selftest_options(p)
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="report folder")
    p.add_argument("--walk", action="store_true",
                   help="the walk test: walk into the zone, wait for the light, then leave")
    p.add_argument("--walk-seconds", type=float, default=None, metavar="S",
                   help="time allowed for the walk test (default 120)")
    p.set_defaults(func=cmd_commission)
