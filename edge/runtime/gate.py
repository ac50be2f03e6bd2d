"""The frame gate of the adaptive rate: change measures plus the pure rate governor."""

from __future__ import annotations

from detector.base import Detection, DetectorResult
from edge.config import AdaptiveConfig, Config
from edge.decision.controller import StopState
from edge.decision.rate import RateGovernor, RateInput, RateSettings, RateState
from edge.decision.zones import Zone
from edge.runtime.frames import Frame
from edge.runtime.motion import MotionDetector, MotionReading


class AdaptiveGate:
    """Decides per frame whether the detector runs; the pipeline calls it before detecting and
    tells it what the detector returned (``observed``)."""

    def __init__(self, a: AdaptiveConfig, full_fps: float, zone: Zone,
                 dwell_s: float | None) -> None:
        x1, y1, x2, y2 = zone.bounds()
        m = a.motion_margin
        region = (max(0.0, x1 - m), max(0.0, y1 - m), min(1.0, x2 + m), min(1.0, y2 + m))
        self.motion = MotionDetector(region, a.motion_fraction)
        self.governor = RateGovernor(RateSettings(
            full_fps=full_fps, idle_fps=min(a.idle_fps, full_fps),
            watch_fps=min(a.watch_fps, full_fps), near=region,
            after_change_s=a.after_change_s, dwell_s=dwell_s, looks_per_dwell=a.looks_per_dwell,
        ))
        self.low: list[Detection] = []  # the last run's boxes under the threshold
        self.reading: MotionReading | None = None

    @property
    def state(self) -> RateState:
        return self.governor.state

    def reset(self) -> None:
        self.motion.reset()
        self.governor.reset()
        self.low = []

    def should_detect(self, frame: Frame, state: StopState) -> bool:
        # mask only people found at the last detector run: a coasting track's old box may be
        # where nobody is any more
        people = [p.box for p in state.people if not p.misses]
        self.reading = r = self.motion.measure(frame.image, people)
        low = any(self.governor.s.is_near(d.bottom_centre) for d in self.low)
        run = self.governor.should_detect(frame.t, RateInput(
            state, motion=r.motion, changed=r.changed, low_score=low))
        if run:
            self.motion.looked()
        return run

    def observed(self, result: DetectorResult) -> None:
        """The detector ran on the frame just gated: remember its low-score boxes."""
        self.low = list(result.low)


def build_gate(cfg: Config, zone: Zone) -> AdaptiveGate | None:
    if not cfg.adaptive.enabled:
        return None
    return AdaptiveGate(cfg.adaptive, cfg.camera.fps, zone, cfg.waiting.dwell_s)
