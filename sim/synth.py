"""Scenarios made from the shared footage at run time: a person cut out of one clip and pasted,
unchanging, into another (a poster, a hydrant the detector takes for a person).

Nothing here is committed as a picture: the frames are written to a folder the caller gives (a
test's tmp dir), with a generated scenario.yaml and an empty presence truth (the pasted thing
is no real person). The cut-out is the real detector's box on a real frame, so what the daemon
sees is what it would see of a real poster: the same pixels every frame, with the camera's own
noise and JPEG coding on top.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import yaml

from detector.base import Detection
from sim.scenario import Scenario

FULL_FRAME = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]


@dataclass(frozen=True, slots=True)
class Paste:
    """A picture pasted from ``start_s`` to ``end_s`` with its top-left corner at (x, y) px."""

    patch: np.ndarray
    x: int
    y: int
    start_s: float
    end_s: float

    def box(self, frame_wh: tuple[int, int]) -> tuple[float, float, float, float]:
        """x1, y1, x2, y2 of the pasted picture, in fractions of the frame."""
        fw, fh = frame_wh
        h, w = self.patch.shape[:2]
        return self.x / fw, self.y / fh, (self.x + w) / fw, (self.y + h) / fh


def read_frame(clip: Path, t_s: float) -> np.ndarray:
    """The frame of a video file at ``t_s`` seconds."""
    cap = cv2.VideoCapture(str(clip))
    try:
        cap.set(cv2.CAP_PROP_POS_MSEC, t_s * 1000.0)
        ok, frame = cap.read()
    finally:
        cap.release()
    if not ok:
        raise ValueError(f"{clip}: no frame at {t_s} s")
    return frame


def cut_out(frame: np.ndarray, box: Detection, margin: float = 0.15) -> np.ndarray:
    """The box's pixels plus ``margin`` (of the box's size) on every side: a detector needs a
    little background round a person to find them."""
    fh, fw = frame.shape[:2]
    mx, my = margin * box.width, margin * box.height
    x1, y1 = max(0, int((box.x1 - mx) * fw)), max(0, int((box.y1 - my) * fh))
    x2, y2 = min(fw, int((box.x2 + mx) * fw)), min(fh, int((box.y2 + my) * fh))
    return frame[y1:y2, x1:x2].copy()


def read_clip(clip: Path, fps: float) -> tuple[list[np.ndarray], float]:
    """Every frame of a video file, and its frame rate (``fps`` when the file has none)."""
    cap = cv2.VideoCapture(str(clip))
    frames = []
    try:
        while True:
            ok, f = cap.read()
            if not ok:
                break
            frames.append(f)
        rate = cap.get(cv2.CAP_PROP_FPS) or fps
    finally:
        cap.release()
    if not frames:
        raise ValueError(f"{clip}: no frames")
    return frames, rate


def background_frames(clip: Path, fps: float, duration_s: float) -> Iterator[np.ndarray]:
    """``duration_s`` of the clip sampled at ``fps``, played forwards then backwards as often as
    needed (so a 30 s clip makes a minute without a jump)."""
    frames, src_fps = read_clip(clip, fps)
    cycle = frames + frames[-2:0:-1]
    for n in range(round(duration_s * fps)):
        yield cycle[round(n / fps * src_fps) % len(cycle)]


def write_scenario(out: Path, background: Path, pastes: list[Paste], *, fps: float = 5.0,
                   duration_s: float = 60.0, dwell_s: float = 3.0, hold_s: float = 5.0,
                   zone: list[list[float]] | None = None, noise_sigma: float = 2.0,
                   jpeg_quality: int = 90, seed: int = 0, name: str = "synth",
                   on_frame: Callable[[int, np.ndarray], None] | None = None) -> Path:
    """Write ``out``/img/NNNNN.jpg and ``out``/scenario.yaml; returns the scenario's path.

    Every frame gets Gaussian noise of ``noise_sigma`` grey levels all over (a camera's sensor
    noise: the pasted picture is the same, its pixels are not bit for bit) and JPEG coding.
    """
    def composed() -> Iterator[np.ndarray]:
        for n, frame in enumerate(background_frames(background, fps, duration_s)):
            t = n / fps
            f = frame.copy()
            for p in pastes:
                if p.start_s <= t < p.end_s:
                    paste(f, p.patch, p.x, p.y)
            yield f

    write_frames(out, composed(), noise_sigma=noise_sigma, jpeg_quality=jpeg_quality,
                 seed=seed, on_frame=on_frame)
    return write_doc(out, name=name, fps=fps, zone=zone, dwell_s=dwell_s, hold_s=hold_s)


def paste(frame: np.ndarray, patch: np.ndarray, x: int, y: int,
          mask: np.ndarray | None = None) -> None:
    """``patch`` onto ``frame`` in place, its top-left corner at (``x``, ``y``) px, clipped to
    the frame; only its pixels where ``mask`` (the patch's size) is True, when given."""
    ph, pw = patch.shape[:2]
    fh, fw = frame.shape[:2]
    sx, sy = max(0, -x), max(0, -y)
    x1, y1, x2, y2 = max(0, x), max(0, y), min(fw, x + pw), min(fh, y + ph)
    if x2 <= x1 or y2 <= y1:
        return
    src = patch[sy:sy + y2 - y1, sx:sx + x2 - x1]
    if mask is None:
        frame[y1:y2, x1:x2] = src
    else:
        sub = mask[sy:sy + y2 - y1, sx:sx + x2 - x1]
        frame[y1:y2, x1:x2][sub] = src[sub]


def write_frames(out: Path, frames: Iterable[np.ndarray], *, noise_sigma: float = 2.0,
                 jpeg_quality: int = 90, seed: int = 0,
                 on_frame: Callable[[int, np.ndarray], None] | None = None) -> int:
    """``out``/img/NNNNN.jpg from ``frames``, each with the camera's noise and JPEG coding."""
    rng = np.random.default_rng(seed)
    img = out / "img"
    img.mkdir(parents=True, exist_ok=True)
    n = 0
    for n, frame in enumerate(frames, 1):
        f = frame
        if noise_sigma > 0:
            f = np.clip(f + rng.normal(0.0, noise_sigma, f.shape), 0, 255).astype(np.uint8)
        if on_frame is not None:
            on_frame(n - 1, f)
        cv2.imwrite(str(img / f"{n:05d}.jpg"), f, [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality])
    return n


def write_doc(out: Path, *, name: str, fps: float, zone: list[list[float]] | None,
              dwell_s: float, hold_s: float,
              presence: Iterable[tuple[float, float]] = (), presence_csv: str | None = None,
              tolerance_s: float = 0.0) -> Path:
    """``out``/presence.csv (the intervals in which a real person is in view; none: the pasted
    picture is no person; or ``presence_csv``, a truth file's text as it is) and
    ``out``/scenario.yaml; returns the scenario's path."""
    if presence_csv is None:
        rows = "".join(f"{a:.2f},{b:.2f}\n" for a, b in presence)
        presence_csv = ("# real people in view (pasted walkers); the pasted still picture is "
                        "no person\nstart_s,end_s\n" + rows)
    (out / "presence.csv").write_text(presence_csv)
    doc = {
        "name": name, "clip": "img", "fps": fps, "zone": zone or FULL_FRAME,
        "dwell_s": dwell_s, "hold_s": hold_s,
        "truth": {"presence": "presence.csv", "tolerance_s": tolerance_s},
    }
    path = out / "scenario.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


PERSON_CLIP = "clips/one-by-one/one-by-one-person-detection.mp4"
EMPTY_CLIP = "clips/intel-carpark-empty/car-detection.mp4"


def pasted_person(shared: Path, detect: Callable[[np.ndarray], list[Detection]],
                  start_s: float, end_s: float) -> tuple[Paste, tuple[int, int]]:
    """The one person the static-object scenarios paste: the surest of ``detect``'s boxes on
    one-by-one at 14 s, cut out and shrunk to 0.8, shown from ``start_s`` to ``end_s`` at
    (40, 40) px; with the frame's (width, height) for its box in fractions."""
    frame = read_frame(shared / PERSON_CLIP, 14.0)
    box = max(detect(frame), key=lambda d: d.score)
    patch = cv2.resize(cut_out(frame, box), None, fx=0.8, fy=0.8, interpolation=cv2.INTER_AREA)
    return Paste(patch, 40, 40, start_s, end_s), (frame.shape[1], frame.shape[0])



def dark_copy(sc: Scenario, out: Path, *, gain: float = 0.45, fps: float = 5.0,
              seed: int = 0) -> Path:
    """A night version of a presence-truth scenario: its clip sampled at ``fps``, every frame
    scaled by ``gain`` (the light meter then finds it dark and the night profile looks at it),
    with the camera's noise and JPEG coding, and the same zone, timings and truth."""
    if sc.truth.kind != "presence":
        raise ValueError(f"{sc.name}: only presence truth can be carried over")
    cap = cv2.VideoCapture(str(sc.clip_path))
    src_fps = cap.get(cv2.CAP_PROP_FPS) or fps

    def frames() -> Iterator[np.ndarray]:
        try:
            n = 0
            while True:
                ok, f = cap.read()
                if not ok:
                    return
                if n == 0 or int(n * fps / src_fps) > int((n - 1) * fps / src_fps):
                    yield np.clip(f.astype(np.float32) * gain, 0, 255).astype(np.uint8)
                n += 1
        finally:
            cap.release()

    write_frames(out, frames(), seed=seed)
    return write_doc(out, name=f"{sc.name}-dark", fps=fps, zone=[list(p) for p in sc.zone],
                     dwell_s=sc.dwell_s, hold_s=sc.hold_s,
                     presence_csv=sc.truth_path.read_text(), tolerance_s=sc.truth.tolerance_s)
