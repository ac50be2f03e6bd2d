"""``stopsafe sim --junit FILE``: the scenarios as a JUnit XML report, the format GitLab CI,
GitHub Actions' test reporters and Jenkins show as tests.

One ``<testsuite>`` a scenario; in it one ``<testcase>`` for the run itself (its scores in
``<system-out>``, an ``<error>`` when the clip could not be played to its end) and one a
expectation (a ``<failure>`` with the figure when it is missed, ``<skipped>`` when the
scenario's truth cannot measure it). Written with the standard library: the tests read it back
with junitparser and check it against the xunit schema's rules (tests/data/junit.xsd).
"""

from __future__ import annotations

import json
import socket
import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from pathlib import Path

from sim.expectations import Status, Verdict

SUITE = "stopsafe sim"
RUN_CASE = "run"  # the name of the testcase for the scenario's run itself


def _seconds(s: float) -> str:
    return f"{max(0.0, s):.3f}"


def _suite(v: Verdict, stamp: str, host: str) -> ET.Element:
    failures = len(v.failed)
    skipped = sum(o.status is Status.SKIP for o in v.outcomes)
    suite = ET.Element("testsuite", {
        "name": v.name, "tests": str(1 + len(v.outcomes)), "failures": str(failures),
        "errors": str(int(v.error is not None)), "skipped": str(skipped),
        "time": _seconds(v.seconds), "timestamp": stamp, "hostname": host, "file": v.source,
    })
    classname = f"stopsafe-sim.{v.name}"
    run = ET.SubElement(suite, "testcase", {"classname": classname, "name": RUN_CASE,
                                            "time": _seconds(v.seconds)})
    if v.error is not None:
        ET.SubElement(run, "error", {"type": "CameraError", "message": v.error}).text = v.error
    if v.result is not None:
        ET.SubElement(run, "system-out").text = json.dumps(v.result, indent=2)
    for o in v.outcomes:
        case = ET.SubElement(suite, "testcase", {"classname": classname, "name": o.key,
                                                 "time": _seconds(0.0)})
        if o.status is Status.FAIL:
            ET.SubElement(case, "failure", {"type": "expectation", "message": o.detail}
                          ).text = o.line()
        elif o.status is Status.SKIP:
            ET.SubElement(case, "skipped", {"message": o.detail})
        ET.SubElement(case, "system-out").text = o.line()
    return suite


def junit_tree(verdicts: list[Verdict]) -> ET.ElementTree:
    stamp = datetime.now(timezone.utc).replace(tzinfo=None).isoformat(timespec="seconds")
    host = socket.gethostname()
    root = ET.Element("testsuites", {
        "name": SUITE,
        "tests": str(sum(1 + len(v.outcomes) for v in verdicts)),
        "failures": str(sum(len(v.failed) for v in verdicts)),
        "errors": str(sum(v.error is not None for v in verdicts)),
        "time": _seconds(sum(v.seconds for v in verdicts)),
    })
    root.extend(_suite(v, stamp, host) for v in verdicts)
    tree = ET.ElementTree(root)
    ET.indent(tree)
    return tree


def write_junit(path: Path, verdicts: list[Verdict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    junit_tree(verdicts).write(path, encoding="utf-8", xml_declaration=True)
