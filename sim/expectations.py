"""Expectations: the thresholds a scenario must meet for ``stopsafe sim`` to exit 0.

A scenario's ``expect:`` mapping and ``--expect KEY=VALUE`` on the command line name keys of
``EXPECTATIONS`` below, the one place that says what each key reads in the scores
(``sim.runner.run_scenario``'s document), whether it is a floor or a ceiling, which values make
sense, and what truth it needs. Everything else (the scenario model, the command line, the
printed lines, the JUnit report, docs/ci.md's list) asks this table.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any


class Bound(str, Enum):
    """Which side of the limit a figure must be on."""

    MIN = "min"  # the figure must be at least the limit
    MAX = "max"  # the figure must be at most the limit


class Needs(str, Enum):
    """What a scenario's truth must hold for the figure to exist at all."""

    ANY = "any truth"
    TIMELINE = "a timeline (presence or mot truth; stills have none)"
    BOXES = "person boxes (mot truth)"


class Status(str, Enum):
    PASS = "PASS"
    FAIL = "FAIL"
    SKIP = "SKIP"  # asked on the command line of a scenario whose truth cannot measure it


@dataclass(frozen=True)
class Expectation:
    """One key: the figure it reads and the side of the limit it must be on."""

    key: str
    figure: tuple[str, ...]  # where the figure is in the scores document
    bound: Bound
    label: str  # the figure in words, for the lines a person reads
    needs: Needs
    low: float = 0.0  # the limits that make sense
    high: float = math.inf
    integer: bool = False
    unit: str = ""
    # a figure that is None when nothing could be measured (no waits: no latency) holds when
    # the count at this place in the document is 0
    vacuous_when_zero: tuple[str, ...] | None = None

    def accepted(self) -> str:
        kind = "a whole number" if self.integer else "a number"
        top = "" if math.isinf(self.high) else f" to {self.high:g}"
        return f"{kind} from {self.low:g}{top}"


def _fraction(key: str, figure: tuple[str, ...], label: str, needs: Needs) -> Expectation:
    return Expectation(key, figure, Bound.MIN, label, needs, 0.0, 1.0)


EXPECTATIONS: dict[str, Expectation] = {e.key: e for e in (
    _fraction("occupancy_f1_min", ("occupancy", "f1"), "occupancy F1", Needs.ANY),
    _fraction("occupancy_precision_min", ("occupancy", "precision"), "occupancy precision",
              Needs.ANY),
    _fraction("occupancy_recall_min", ("occupancy", "recall"), "occupancy recall", Needs.ANY),
    _fraction("agreement_min", ("light", "agreement"), "light agreement", Needs.TIMELINE),
    Expectation("latency_max_s", ("light", "on_latency_s", "max"), Bound.MAX,
                "longest light-on latency", Needs.TIMELINE, 0.0, 3600.0, unit=" s",
                vacuous_when_zero=("light", "waits")),
    Expectation("false_on_max_s", ("light", "false_on_s"), Bound.MAX,
                "light on for nobody", Needs.TIMELINE, 0.0, 6 * 3600.0, unit=" s"),
    Expectation("missed_waits_max", ("light", "missed_waits"), Bound.MAX, "missed waits",
                Needs.TIMELINE, 0, 10_000, integer=True),
    _fraction("detection_precision_min", ("detection", "precision"), "person-box precision",
              Needs.BOXES),
    _fraction("detection_recall_min", ("detection", "recall"), "person-box recall",
              Needs.BOXES),
)}


def accepted_keys() -> str:
    return ", ".join(EXPECTATIONS)


def check_expectation(key: str, value: Any) -> float:
    """``value`` as the limit of ``key``, or a ValueError that names what is accepted."""
    spec = EXPECTATIONS.get(key)
    if spec is None:
        raise ValueError(f"unknown expectation {key!r}; accepted: {accepted_keys()}")
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"{key} is {value!r}; give {spec.accepted()}")
    try:
        limit = float(value)
    except ValueError:
        raise ValueError(f"{key} is {value!r}; give {spec.accepted()}") from None
    if (not math.isfinite(limit) or not spec.low <= limit <= spec.high
            or (spec.integer and not limit.is_integer())):
        raise ValueError(f"{key} is {value}; give {spec.accepted()}")
    return int(limit) if spec.integer else limit


def check_expectations(expect: Mapping[str, Any]) -> dict[str, float]:
    return {k: check_expectation(str(k), v) for k, v in expect.items()}


def parse_option(text: str) -> tuple[str, float]:
    """``KEY=VALUE`` from the command line."""
    key, sep, value = text.partition("=")
    if not sep:
        raise ValueError(f"{text!r}: give KEY=VALUE, KEY one of {accepted_keys()}")
    key = key.strip()
    return key, check_expectation(key, value.strip())


@dataclass(frozen=True)
class Outcome:
    """One expectation of one scenario, judged."""

    scenario: str
    key: str
    limit: float
    figure: float | None
    status: Status
    detail: str  # the figure in words, and why it failed or was skipped

    def line(self) -> str:
        return f"{self.status.value} {self.scenario} {self.key}: {self.detail}"

    def as_json(self) -> dict[str, Any]:
        return {"key": self.key, "limit": self.limit, "figure": self.figure,
                "status": self.status.value, "detail": self.detail}


def _dig(doc: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    for part in path:
        if not isinstance(doc, Mapping) or part not in doc:
            return None
        doc = doc[part]
    return doc


def _num(v: float) -> str:
    return f"{v:g}"


def _shown(figure: float, limit: float) -> str:
    """The figure with enough digits that it does not look equal to a limit it misses."""
    for digits in range(3, 10):
        text, other = f"{figure:.{digits}g}", f"{limit:.{digits}g}"
        if text != other or figure == limit:
            return text
    return repr(figure)


def judge(scenario: str, key: str, limit: float, result: Mapping[str, Any],
          gives: set[Needs]) -> Outcome:
    """The expectation ``key`` >= or <= ``limit`` on one scenario's scores. ``gives`` is what the
    scenario's truth measures (``TruthSpec.gives``)."""
    spec = EXPECTATIONS[key]
    if spec.needs not in gives:
        return Outcome(scenario, key, limit, None, Status.SKIP,
                       f"not measured: {spec.label} needs {spec.needs.value}")
    figure = _dig(result, spec.figure)
    side = "at least" if spec.bound is Bound.MIN else "at most"
    if figure is None:
        count = _dig(result, spec.vacuous_when_zero) if spec.vacuous_when_zero else None
        if count == 0:
            return Outcome(scenario, key, limit, None, Status.PASS,
                           f"{spec.label}: none to measure ({spec.vacuous_when_zero[-1]}: 0), "
                           f"{side} {_num(limit)}{spec.unit} expected")
        return Outcome(scenario, key, limit, None, Status.FAIL,
                       f"{spec.label}: no figure (nothing was scored or found), "
                       f"{side} {_num(limit)}{spec.unit} expected")
    held = figure >= limit if spec.bound is Bound.MIN else figure <= limit
    text = f"{spec.label} {_shown(figure, limit)}{spec.unit}"
    if held:
        return Outcome(scenario, key, limit, figure, Status.PASS,
                       f"{text}, {side} {_num(limit)}{spec.unit} expected")
    word = "below" if spec.bound is Bound.MIN else "above"
    return Outcome(scenario, key, limit, figure, Status.FAIL,
                   f"{text}, {word} the {spec.bound.value}imum {_num(limit)}{spec.unit}")


def judge_all(scenario: str, expect: Mapping[str, float], result: Mapping[str, Any],
              gives: set[Needs]) -> list[Outcome]:
    return [judge(scenario, k, v, result, gives) for k, v in expect.items()]


@dataclass
class Verdict:
    """One scenario's run as CI sees it: its scores, its expectations judged, or why it could
    not run (a clip that ends early or breaks)."""

    name: str
    source: str  # the scenario file
    seconds: float
    result: dict[str, Any] | None
    outcomes: list[Outcome]
    error: str | None = None

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status is Status.FAIL]
