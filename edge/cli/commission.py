"""``stopsafe commission -c CONFIG -o DIR``: every check in one go, and a report for the records.

DIR gets ``selftest.json`` (every check with its figures, the effective config), ``snapshot.png``
(the last live frame with the zone and detections; only when privacy.local_snapshots allows it)
and ``report.html``, one page that links the two.
"""

from __future__ import annotations

import argparse
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

COLOURS = {"pass": "#2e7d32", "fail": "#c62828", "skip": "#757575"}


def render_html(report: dict[str, Any], snapshot: str | None) -> str:
    esc = html.escape
    cfg = report["config"]
    rows = "\n".join(
        f'<tr><td style="color:{COLOURS[c["status"]]};font-weight:bold">'
        f'{c["status"].upper()}</td><td>{esc(c["name"])}</td><td>{esc(c["message"])}</td></tr>'
        for c in report["checks"])
    verdict = "PASSED" if report["passed"] else "FAILED"
    colour = COLOURS["pass" if report["passed"] else "fail"]
    picture = (f'<img src="{esc(snapshot)}" alt="snapshot" style="max-width:100%">'
               if snapshot else "<p>No picture: privacy.local_snapshots is false, or the camera "
               "gave no frame.</p>")
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
config {esc(report['config_path'])}</p>
<table><tr><th>result</th><th>check</th><th>what was found</th></tr>
{rows}
</table>
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


def cmd_commission(args: argparse.Namespace) -> int:
    import cv2

    from edge.install.commissioning import Check, Verdict, run_selftest
    from edge.pictures import draw_snapshot

    cfg = load(args.config)
    report_logging(cfg, args)
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    result = run_selftest(cfg, picture=Path(args.picture) if args.picture else None,
                          seconds=args.seconds, pulse_s=args.pulse,
                          config_path=Path(args.config))
    checks = [Check("config", Verdict.PASS, f"{args.config} is valid"), *result.checks]
    snapshot = None
    if result.frame is not None and cfg.privacy.local_snapshots:
        snapshot = "snapshot.png"
        if not cv2.imwrite(str(out / snapshot),
                           draw_snapshot(result.frame, result.detections, cfg)):
            checks.append(Check("snapshot", Verdict.FAIL, f"cannot write {out / snapshot}"))
            snapshot = None
    passed = all(c.status is not Verdict.FAIL for c in checks)
    report = {
        "passed": passed,
        "time": datetime.now().astimezone().isoformat(timespec="seconds"),
        "host": platform.node(),
        "version": __version__,
        "config_path": str(args.config),
        "checks": [c.as_json() for c in checks],
        "snapshot": snapshot,
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
    p.set_defaults(func=cmd_commission)
