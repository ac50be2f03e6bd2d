"""``stopsafe bench`` reports every stage, the bare model and the machine (figures, no limits)."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import REPO, scenario_path


def test_bench_json_on_tud_campus(shared, models_dir):
    proc = subprocess.run(
        [sys.executable, "-m", "edge.cli", "bench", str(scenario_path("tud-campus")), "--json"],
        cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    doc = json.loads(proc.stdout)
    stages = doc["stages_ms"]["detected_frames"]
    for stage in ("read", "preprocess", "invoke", "decode", "decide", "publish", "frame"):
        assert stages[stage]["p50"] is not None and stages[stage]["p95"] >= stages[stage]["p50"]
    assert stages["invoke"]["p50"] > 0 and doc["bare_invoke_ms"]["p50"] > 0
    assert doc["frames"] == 71 and doc["frames_detected"] == doc["invocations"] > 0
    assert stages["frame"]["p50"] >= stages["invoke"]["p50"]
    assert doc["cpu_s_per_s"] > 0 and doc["peak_rss_mb"] > 10
    assert doc["machine"]["cores"] >= 1
    assert any(rt in doc["machine"]["runtime"] for rt in ("litert", "tflite"))
