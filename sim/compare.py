"""Two runs of the simulator on one clip, side by side: the scores ``stopsafe sim --json`` gives
and the light's switch times. ``make arm64`` (x86 against arm64) and ``make onnx-compare`` (LiteRT
against ONNX Runtime) print these tables and fail on the differences they return, so both judge
"the same result" by one rule: every listed score within ``TOLERANCE``, the same switches at the
same clip times."""

from __future__ import annotations

from typing import Any

TOLERANCE = 0.01
OCCUPANCY = (("occupancy", "precision"), ("occupancy", "recall"), ("occupancy", "f1"),
             ("light", "agreement"))
DETECTION = (("detection", "precision"), ("detection", "recall"))

Run = tuple[str, dict[str, Any]]  # (its column heading, the ``sim --json`` document)


def scores_side_by_side(clip: str, left: Run, right: Run,
                        scores: tuple[tuple[str, str], ...] = OCCUPANCY,
                        tolerance: float = TOLERANCE) -> list[str]:
    """Print the two runs' ``scores`` (nothing when neither has any); return one line for each
    that is apart by more than ``tolerance`` or missing on one side only."""
    (ln, a_doc), (rn, b_doc) = left, right
    pairs = [(f"{section} {key}", a_doc.get(section, {}).get(key), b_doc.get(section, {}).get(key))
             for section, key in scores]
    pairs = [p for p in pairs if p[1] is not None or p[2] is not None]
    width = max(12, len(ln) + 2, len(rn) + 2)
    if pairs:
        print(f"  {'score':<22}{ln:>{width}}{rn:>{width}}{'diff':>10}")
    problems = []
    for name, a, b in pairs:
        diff = None if a is None or b is None else abs(a - b)
        bad = diff is None or diff > tolerance
        print(f"  {name:<22}{fmt(a):>{width}}{fmt(b):>{width}}{fmt(diff):>10}"
              + (f"   <- over {tolerance}" if bad else ""))
        if bad:
            problems.append(f"{clip}: {name} {fmt(a)} ({ln}) against {fmt(b)} ({rn})")
    return problems


def switches_side_by_side(clip: str, left: Run, right: Run) -> list[str]:
    """Print the two runs' light switches (clip time, on or off) in pairs; return one line for
    each pair that differs, including a switch that only one run made."""
    (ln, a_doc), (rn, b_doc) = left, right
    sa, sb = a_doc["light"]["switch_times"], b_doc["light"]["switch_times"]
    print(f"  light switches: {len(sa)} ({ln}), {len(sb)} ({rn})")
    problems = []
    for i in range(max(len(sa), len(sb))):
        a = sa[i] if i < len(sa) else None
        b = sb[i] if i < len(sb) else None
        print(f"    {switch(a):>12}  {switch(b):>12}" + ("" if a == b else "   <- differs"))
        if a != b:
            problems.append(f"{clip}: switch {i + 1} {switch(a)} ({ln}), {switch(b)} ({rn})")
    return problems


def fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:.4f}"


def switch(s: list | None) -> str:
    return "-" if s is None else f"{s[0]:.1f}s {'on' if s[1] else 'off'}"
