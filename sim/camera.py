"""The simulator's camera: a recorded clip (video file or folder of frames) on the clip's own clock.

Frame n (from 1) is at (n - 1) / fps seconds; that time is the pipeline's clock, and the wall time
for the schedule is ``start_wall`` plus it, so a simulation never reads the host's clock (except
to pace itself with ``realtime``).
"""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path

import cv2

from edge.camera import frame_files, read_image
from edge.frames import CameraError, Frame

DEFAULT_START = datetime(2026, 1, 5, 12, 0, 0)  # a Monday noon: inside any sensible schedule


class ClipSource:
    """Frames of a clip, sampled at ``process_fps`` (every frame when it is None or higher)."""

    live = False

    def __init__(
        self, clip: Path, *, fps: float | None = None, process_fps: float | None = None,
        realtime: bool = False, start_wall: datetime = DEFAULT_START,
    ) -> None:
        self.clip = Path(clip)
        self.realtime = realtime
        self.start_wall = start_wall
        if self.clip.is_dir():
            self._files: list[Path] | None = frame_files(self.clip)
            self._cap = None
            if fps is None:
                raise CameraError(f"{self.clip}: a folder of frames needs the scenario's fps")
            self.fps = fps
            self.frame_count = len(self._files)
        else:
            if not self.clip.exists():
                raise CameraError(f"clip {self.clip} does not exist")
            self._files = None
            self._cap = cv2.VideoCapture(str(self.clip))
            if not self._cap.isOpened():
                raise CameraError(f"cannot open clip {self.clip}")
            native = self._cap.get(cv2.CAP_PROP_FPS)
            self.fps = fps or (native if native and native > 0 else 10.0)
            self.frame_count = int(self._cap.get(cv2.CAP_PROP_FRAME_COUNT))
        self.process_fps = process_fps if process_fps and process_fps < self.fps else self.fps
        self._index = 0
        self._next_due = 0.0
        self._wall_start: float | None = None

    @property
    def duration_s(self) -> float:
        return self.frame_count / self.fps

    def _advance(self, decode: bool):
        self._index += 1
        if self._files is not None:
            if self._index > len(self._files):
                return False, None
            path = self._files[self._index - 1]
            return True, (read_image(path) if decode else None)
        assert self._cap is not None
        if not self._cap.grab():
            return False, None
        if not decode:
            return True, None
        ok, image = self._cap.retrieve()
        return ok, image

    def read(self) -> Frame | None:
        t0 = time.perf_counter()
        eps = 1e-6
        if self.realtime and self._wall_start is not None:
            # like a live camera: a pipeline that fell behind gets the newest frame, not a queue
            self._next_due = max(self._next_due, time.monotonic() - self._wall_start)
        while True:
            t_next = self._index / self.fps  # time of the frame that comes next
            take = t_next + eps >= self._next_due
            ok, image = self._advance(decode=take)
            if not ok:
                return None
            if take:
                break
        t = (self._index - 1) / self.fps
        self._next_due += 1.0 / self.process_fps
        if self._next_due < t:
            self._next_due = t + 1.0 / self.process_fps
        read_ms = (time.perf_counter() - t0) * 1e3
        if self.realtime:
            if self._wall_start is None:
                self._wall_start = time.monotonic() - t
            delay = self._wall_start + t - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        path = str(self._files[self._index - 1]) if self._files is not None else None
        return Frame(image, t, self._index, wall=self.start_wall_at(t), path=path, read_ms=read_ms)

    def start_wall_at(self, t: float) -> datetime:
        from datetime import timedelta

        return self.start_wall + timedelta(seconds=t)

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()


class StillsSource:
    """Unrelated stills, each shown as a short static scene of ``repeats`` frames.

    Before each new still ``on_new_still`` is called (the runner resets the decision core there),
    so every still is judged alone, as the scoring rules ask.
    """

    live = False

    def __init__(self, files: list[Path], fps: float, repeats: int,
                 on_new_still=None, start_wall: datetime = DEFAULT_START) -> None:
        self.files = files
        self.fps = fps
        self.repeats = max(1, repeats)
        self.on_new_still = on_new_still
        self.start_wall = start_wall
        self._n = 0
        self._image = None
        self.frame_count = len(files)

    @property
    def duration_s(self) -> float:
        return len(self.files) / self.fps

    def read(self) -> Frame | None:
        from datetime import timedelta

        still, rep = divmod(self._n, self.repeats)
        if still >= len(self.files):
            return None
        t0 = time.perf_counter()
        if rep == 0:
            if self.on_new_still is not None:
                self.on_new_still()
            self._image = read_image(self.files[still])
        self._n += 1
        # a still owns one second-slot of the clip's clock; its repeats fill the start of it
        t = (still + rep / self.repeats) / self.fps
        return Frame(self._image, t, still + 1, wall=self.start_wall + timedelta(seconds=t),
                     path=str(self.files[still]), read_ms=(time.perf_counter() - t0) * 1e3)

    def close(self) -> None:
        self._image = None
