"""sim.compare: the one rule by which make arm64 and make onnx-compare call two runs the same."""

from __future__ import annotations

from sim.compare import DETECTION, OCCUPANCY, scores_side_by_side, switches_side_by_side


def _doc(f1: float, switches: list, recall: float | None = 0.7) -> dict:
    return {"occupancy": {"precision": 1.0, "recall": f1, "f1": f1},
            "light": {"agreement": 0.99, "switch_times": switches},
            "detection": {"precision": 0.8, "recall": recall}}


def test_scores_within_the_tolerance_are_the_same_and_beyond_it_are_not(capsys):
    a, b = ("a", _doc(0.95, [])), ("b", _doc(0.959, []))
    assert scores_side_by_side("clip", a, b, OCCUPANCY) == []
    far = ("b", _doc(0.97, []))
    problems = scores_side_by_side("clip", a, far, OCCUPANCY)
    assert problems == ["clip: occupancy recall 0.9500 (a) against 0.9700 (b)",
                        "clip: occupancy f1 0.9500 (a) against 0.9700 (b)"]
    assert "<- over 0.01" in capsys.readouterr().out


def test_a_score_on_one_side_only_differs_and_on_neither_is_skipped():
    a, b = ("a", _doc(0.9, [], recall=0.7)), ("b", _doc(0.9, [], recall=None))
    assert scores_side_by_side("c", a, b, DETECTION) == ["c: detection recall 0.7000 (a) "
                                                        "against - (b)"]
    none = ("b", _doc(0.9, [], recall=None))
    assert scores_side_by_side("c", none, b, DETECTION) == []


def test_switches_must_match_in_time_and_number():
    on_off = [[3.2, True], [9.0, False]]
    assert switches_side_by_side("c", ("a", _doc(1, on_off)), ("b", _doc(1, on_off))) == []
    late = [[3.4, True], [9.0, False]]
    assert switches_side_by_side("c", ("a", _doc(1, on_off)), ("b", _doc(1, late))) == [
        "c: switch 1 3.2s on (a), 3.4s on (b)"]
    extra = [*on_off, [12.0, True]]
    assert switches_side_by_side("c", ("a", _doc(1, on_off)), ("b", _doc(1, extra))) == [
        "c: switch 3 - (a), 12.0s on (b)"]
