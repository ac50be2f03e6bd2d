"""``stopsafe sim`` as a CI gate: expectations, exit status and the JUnit report.

End to end on the shortest real shared clip (TUD-Campus, 71 frames with person boxes), and the
expectation table, the judging and the report writer on their own.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from junitparser import Error, Failure, JUnitXml, Skipped
from lxml import etree

from sim.expectations import (
    EXPECTATIONS,
    Needs,
    Outcome,
    Status,
    Verdict,
    check_expectation,
    judge,
    parse_option,
)
from sim.junit import RUN_CASE, write_junit
from tests.conftest import REPO, scenario_path
from tests.terminal import run_on_terminal

SCHEMA = REPO / "tests" / "data" / "junit.xsd"


def run_sim(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edge.cli", "sim", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=600)


def scenario_copy(tmp_path: Path, name: str, expect: dict | None) -> Path:
    """The shared scenario with its paths made absolute and ``expect`` added."""
    src = scenario_path(name)
    doc = yaml.safe_load(src.read_text())
    doc["clip"] = str(src.parent / doc["clip"])
    kind = next(k for k in ("presence", "mot", "frames") if k in doc["truth"])
    doc["truth"][kind] = str(src.parent / doc["truth"][kind])
    if expect is not None:
        doc["expect"] = expect
    out = tmp_path / f"{name}.yaml"
    out.write_text(yaml.safe_dump(doc))
    return out


def valid_junit(path: Path) -> JUnitXml:
    """The report read by junitparser, after checking it against the xunit schema's rules."""
    schema = etree.XMLSchema(etree.parse(str(SCHEMA)))
    doc = etree.parse(str(path))
    assert schema.validate(doc), schema.error_log
    return JUnitXml.fromfile(str(path))


def cases(xml: JUnitXml) -> dict[str, object]:
    return {case.name: case for suite in xml for case in suite}


# the scenario's own expectations: what the light and occupancy must at least do on this clip
MET = {"missed_waits_max": 0, "occupancy_f1_min": 0.8}


@pytest.fixture(scope="module")
def met_run(shared, models_dir, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("met")
    sc = scenario_copy(tmp, "tud-campus", MET)
    junit = tmp / "report" / "junit.xml"
    proc = run_sim(str(sc), "--json", "--junit", str(junit))
    return proc, junit, sc


def test_met_expectations_exit_0_and_pass_in_junit(met_run):
    proc, junit, _ = met_run
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout)
    assert [e["status"] for e in result["expectations"]] == ["PASS", "PASS"]
    for key in MET:
        assert f"PASS tud-campus {key}:" in proc.stderr
    xml = valid_junit(junit)
    by_name = cases(xml)
    assert set(by_name) == {RUN_CASE, *MET}
    assert all(case.is_passed for case in by_name.values())
    # the run's testcase carries the scores as the JSON document
    assert json.loads(by_name[RUN_CASE].system_out)["frames"] == result["frames"]


def test_missed_expectation_exits_1_with_the_figure_in_junit(met_run, tmp_path):
    """The same scenario with one more expectation from the command line that its person boxes
    do not meet (every box of 359, some of them mostly hidden, found): exit 1, and the JUnit
    file holds the failure with the figure the JSON reports."""
    _, _, sc = met_run
    junit = tmp_path / "junit.xml"
    proc = run_sim(str(sc), "--json", "--junit", str(junit),
                   "--expect", "detection_recall_min=1")
    assert proc.returncode == 1, proc.stderr[-3000:]
    result = json.loads(proc.stdout)
    recall = result["detection"]["recall"]
    assert recall < 1.0
    statuses = {e["key"]: e["status"] for e in result["expectations"]}
    assert statuses == {"missed_waits_max": "PASS", "occupancy_f1_min": "PASS",
                        "detection_recall_min": "FAIL"}
    figure = f"{recall:.3g}"
    assert f"FAIL tud-campus detection_recall_min: person-box recall {figure}" in proc.stderr
    assert "1 failed (tud-campus detection_recall_min)" in proc.stderr

    xml = valid_junit(junit)
    assert (xml.tests, xml.failures, xml.errors) == (4, 1, 0)
    by_name = cases(xml)
    failed = [r for r in by_name["detection_recall_min"].result if isinstance(r, Failure)]
    assert len(failed) == 1 and figure in failed[0].message and "below" in failed[0].message
    assert all(by_name[k].is_passed for k in (RUN_CASE, *MET))


def test_expectation_the_truth_cannot_measure(tmp_path, shared):
    """In the scenario file: an error before anything runs (78). The same key from the command
    line is skipped for that scenario, so one --expect can serve a folder of mixed truths."""
    sc = scenario_copy(tmp_path, "one-by-one", {"detection_recall_min": 0.5})
    proc = run_sim(str(sc))
    assert proc.returncode == 78
    assert "expect.detection_recall_min" in proc.stderr and "mot" in proc.stderr
    outcome = judge("one-by-one", "detection_recall_min", 0.5, {"occupancy": {}},
                    {Needs.ANY, Needs.TIMELINE})
    assert outcome.status is Status.SKIP and "person boxes" in outcome.detail


def test_unknown_or_bad_expectation_names_what_is_accepted(tmp_path, shared):
    sc = scenario_copy(tmp_path, "tud-campus", {"recall_min": 0.5})
    proc = run_sim(str(sc))
    assert proc.returncode == 78
    assert "recall_min" in proc.stderr
    for key in EXPECTATIONS:
        assert key in proc.stderr, key
    proc = run_sim(str(sc), "--expect", "agreement_min=1.5")
    assert proc.returncode == 2 and "agreement_min is 1.5; give a number from 0 to 1" \
        in proc.stderr
    with pytest.raises(ValueError, match="give KEY=VALUE"):
        parse_option("agreement_min")
    with pytest.raises(ValueError, match="whole number"):
        check_expectation("missed_waits_max", 0.5)
    assert parse_option(" false_on_max_s = 2.5 ") == ("false_on_max_s", 2.5)


def test_every_key_reads_a_figure_the_scores_have():
    """The table's paths are the places run_scenario fills: one scores document per truth kind
    has a value (or None) at each of them."""
    occupancy = {"precision": 0.9, "recall": 0.8, "f1": 0.85}
    light = {"agreement": 0.9, "on_latency_s": {"max": 0.4}, "false_on_s": 0.0,
             "missed_waits": 0, "waits": 3}
    result = {"occupancy": occupancy, "light": light,
              "detection": {"precision": 0.7, "recall": 0.6}}
    gives = {Needs.ANY, Needs.TIMELINE, Needs.BOXES}
    for key, spec in EXPECTATIONS.items():
        assert judge("s", key, spec.low, result, gives).figure is not None, key
    # a latency nobody could have (no waits) holds; one with waits but none lit does not
    none = {"light": {"on_latency_s": {"max": None}, "waits": 0}}
    assert judge("s", "latency_max_s", 1.0, none, gives).status is Status.PASS
    none["light"]["waits"] = 2
    assert judge("s", "latency_max_s", 1.0, none, gives).status is Status.FAIL
    # a figure a hair under its minimum is shown with the digits that tell them apart
    o = judge("s", "occupancy_f1_min", 0.99, {"occupancy": {"f1": 0.98996}}, gives)
    assert o.status is Status.FAIL and "0.98996" in o.detail


def test_junit_of_a_broken_clip_and_a_skipped_expectation(tmp_path):
    """The writer on its own: an error testcase for a scenario whose clip broke, a skipped one
    for an expectation its truth cannot measure; both as CI readers expect them."""
    skip = Outcome("stills", "agreement_min", 0.9, None, Status.SKIP, "not measured")
    verdicts = [Verdict("broken", "b.yaml", 0.5, None, [], error="clip ended after 3 frames"),
                Verdict("stills", "s.yaml", 1.25, {"frames": 12}, [skip])]
    path = tmp_path / "j.xml"
    write_junit(path, verdicts)
    xml = valid_junit(path)
    assert (xml.tests, xml.failures, xml.errors) == (3, 0, 1)
    suites = {s.name: s for s in xml}
    (run,) = list(suites["broken"])
    assert isinstance(run.result[0], Error) and "3 frames" in run.result[0].message
    skipped = next(c for c in suites["stills"] if c.name == "agreement_min")
    assert isinstance(skipped.result[0], Skipped)


def test_docs_list_every_expectation_key():
    """docs/ci.md's table is written by hand: it must name exactly the keys the code accepts."""
    import re

    text = (REPO / "docs" / "ci.md").read_text()
    listed = set(re.findall(r"^\| `([a-z_0-9]+)` \|", text, re.M))
    assert listed == set(EXPECTATIONS)


def test_progress_bar_on_a_terminal_only(met_run, shared, models_dir):
    """On a terminal the clip's progress is shown while it runs; in a pipe (CI, the met_run
    above) nothing of it appears."""
    proc, _, sc = met_run
    assert "of clip" not in proc.stderr
    rc, out, shown = run_on_terminal([sys.executable, "-m", "edge.cli", "sim", str(sc)], REPO)
    assert rc == 0, shown[-2000:]
    assert "s of clip" in shown and "tud-campus" in shown
    assert "PASS tud-campus occupancy_f1_min" in out  # the table and lines stay on stdout
