"""The stop's faults have one writer: the registry is raised, cleared and set only in
``edge/runtime/faults.py`` (the registry itself) and ``edge/runtime/pipeline.py`` (the frame loop,
and ``report_fault``/``fault_reporter``, the one entry point for everything outside it). Any other
module of the box reports a fault through a ``FaultReport``; this keeps it so."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WRITERS = {Path("edge/runtime/faults.py"), Path("edge/runtime/pipeline.py")}
# a registry's writing methods called on anything, and `.clear(Fault...)`/`.set(Fault...)`
WRITE = re.compile(r"\.raise_\(|\.(clear|set)\(\s*Fault\b|\bfaults\.(set|clear)\(")


def _writes(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if WRITE.search(line)]


def test_the_pattern_finds_a_direct_write() -> None:
    assert _writes("        self.faults.raise_(Fault.X, error=e)\n")
    assert _writes("    stop.faults.clear(Fault.CONFIG_REJECTED, reloaded=p)\n")
    assert _writes("        pipeline.faults.set(Fault.BUTTON_STUCK, held)\n")
    assert not _writes("        self._wake.clear()\n        report(Fault.X, True)\n")


def test_only_the_pipeline_writes_the_fault_registry() -> None:
    found = {}
    for package in ("edge", "actuators", "detector", "sim"):
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT)
            if rel in WRITERS:
                continue
            lines = _writes(path.read_text(encoding="utf-8"))
            if lines:
                found[str(rel)] = lines
    assert found == {}, f"write faults through Pipeline.report_fault (a FaultReport): {found}"
