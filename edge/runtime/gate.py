"""The frame gate of the adaptive rate: motion measure plus the pure rate governor."""

from __future__ import annotations

from edge.config import AdaptiveConfig, Config
from edge.decision.controller import StopState
from edge.decision.rate import RateGovernor, RateSettings, RateState
from edge.decision.zones import Zone
from edge.runtime.frames import Frame
from edge.runtime.motion import MotionDetector


class AdaptiveGate:
    """Decides per frame whether the detector runs; the pipeline calls it before detecting."""

    def __init__(self, a: AdaptiveConfig, full_fps: float, zone: Zone) -> None:
        x1, y1, x2, y2 = zone.bounds()
        m = a.motion_margin
        region = (max(0.0, x1 - m), max(0.0, y1 - m), min(1.0, x2 + m), min(1.0, y2 + m))
        self.motion = MotionDetector(region, a.motion_fraction)
        self.governor = RateGovernor(RateSettings(
            full_fps=full_fps, idle_fps=min(a.idle_fps, full_fps),
            watch_fps=min(a.watch_fps, full_fps), near=region,
        ))

    @property
    def state(self) -> RateState:
        return self.governor.state

    def reset(self) -> None:
        self.motion.reset()
        self.governor.reset()

    def should_detect(self, frame: Frame, state: StopState) -> bool:
        # mask only people found at the last detector run: a coasting track's old box may be
        # where nobody is any more
        people = [p.box for p in state.people if not p.misses]
        moved = self.motion.update(frame.image, people)
        return self.governor.should_detect(frame.t, state, moved)


def build_gate(cfg: Config, zone: Zone) -> AdaptiveGate | None:
    return AdaptiveGate(cfg.adaptive, cfg.camera.fps, zone) if cfg.adaptive.enabled else None
