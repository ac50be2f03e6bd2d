"""Real camera sources: V4L2 devices, RTSP/HTTP streams, video files and folders of frames.

A live source has a reader thread that always holds only the newest frame (drop, never queue), so
a slow detector never works on stale pictures; reads that fail make it reopen the camera with a
doubling back-off, and it says so in the log.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import structlog

from edge.config import CameraConfig
from edge.runtime.frames import CameraError, Frame

log = structlog.get_logger("stopsafe.camera")

# a container's frame count may be off by a frame or two (edit lists, a last partial frame)
FRAME_COUNT_SLACK = 2
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".pgm", ".ppm"}


def frame_files(folder: Path) -> list[Path]:
    """Image files of a folder, in name order."""
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise CameraError(f"no image files in {folder}")
    return files


def read_image(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise CameraError(f"cannot decode image {path}")
    return image


def _open_capture(source: str, width: int | None, height: int | None) -> cv2.VideoCapture:
    if source.isdigit():
        cap = cv2.VideoCapture(int(source), cv2.CAP_V4L2)
    elif source.startswith("/dev/video"):
        cap = cv2.VideoCapture(source, cv2.CAP_V4L2)
    else:
        cap = cv2.VideoCapture(source)
    if width:
        cap.set(cv2.CAP_PROP_FRAME_WIDTH, width)
    if height:
        cap.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
    cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)
    return cap


class LiveCamera:
    """A camera (device or stream) read by a background thread that keeps the newest frame.

    ``read`` hands out each captured frame at most once, no faster than ``fps``; the frames in
    between are dropped. It waits at most ``timeout_s`` for a fresh frame and then raises
    :class:`CameraError`, so a silent camera never blocks the daemon for good.
    """

    live = True

    def __init__(
        self, source: str, fps: float, *, width: int | None = None, height: int | None = None,
        reconnect_min_s: float, reconnect_max_s: float, timeout_s: float,
    ) -> None:
        self.source, self.fps = source, fps
        self.width, self.height = width, height
        self.reconnect_min_s, self.reconnect_max_s = reconnect_min_s, reconnect_max_s
        self.timeout_s = timeout_s
        self._cond = threading.Condition()
        self._latest: np.ndarray | None = None
        self._latest_t = 0.0
        self._seq = 0
        self._given = 0
        self._next_due = 0.0
        self._stop = threading.Event()
        self.reconnects = 0
        self._thread = threading.Thread(target=self._reader, name="camera-reader", daemon=True)
        self._thread.start()

    def _reader(self) -> None:
        backoff = self.reconnect_min_s
        while not self._stop.is_set():
            cap = _open_capture(self.source, self.width, self.height)
            if not cap.isOpened():
                log.warning("camera_open_failed", source=self.source, retry_in_s=backoff)
                cap.release()
                self._stop.wait(backoff)
                backoff = min(self.reconnect_max_s, max(backoff * 2, self.reconnect_min_s))
                continue
            log.info("camera_opened", source=self.source)
            while not self._stop.is_set():
                ok, image = cap.read()
                if not ok or image is None:
                    break
                backoff = self.reconnect_min_s
                with self._cond:
                    self._latest, self._latest_t = image, time.monotonic()
                    self._seq += 1
                    self._cond.notify_all()
            cap.release()
            if not self._stop.is_set():
                self.reconnects += 1
                log.warning("camera_read_failed", source=self.source, retry_in_s=backoff)
                self._stop.wait(backoff)
                backoff = min(self.reconnect_max_s, max(backoff * 2, self.reconnect_min_s))

    def read(self) -> Frame | None:
        now = time.monotonic()
        if self._next_due > now:
            time.sleep(self._next_due - now)
        t0 = time.monotonic()
        deadline = t0 + self.timeout_s
        with self._cond:
            while self._seq == self._given and not self._stop.is_set():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise CameraError(f"no frame from {self.source} for {self.timeout_s:.0f} s")
                self._cond.wait(left)
            if self._stop.is_set():
                return None
            image, t, seq = self._latest, self._latest_t, self._seq
            self._given = seq
        self._next_due = max(self._next_due + 1.0 / self.fps, t0)
        assert image is not None
        # read_ms is the wait for a fresh frame; the pacing sleep before it is not work
        return Frame(image, t, seq, wall=datetime.now(), read_ms=(time.monotonic() - t0) * 1e3)

    def close(self) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        self._thread.join(timeout=5)


DEFAULT_START = datetime(2026, 1, 5, 12, 0, 0)  # a Monday noon: inside any sensible schedule


class ClipSource:
    """Frames of a recorded clip (video file or folder of frames) on the clip's own clock,
    sampled at ``process_fps`` (every frame when it is None or higher).

    Frame n (from 1) is at (n - 1) / fps seconds and the wall time is ``start_wall`` plus that,
    so the simulator never reads the host's clock. With ``realtime`` it plays at the clip's
    pace and, like a live camera, hands a pipeline that fell behind the newest frame.
    """

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
        self._problem: str | None = None
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
            read = self._index - 1
            if self.frame_count > 0 and read < self.frame_count - FRAME_COUNT_SLACK:
                self._problem = (f"{self.clip}: ended after {read} of its {self.frame_count} "
                                 "frames (truncated or damaged file)")
            return False, None
        if not decode:
            return True, None
        ok, image = self._cap.retrieve()
        if not ok or image is None:
            self._problem = f"{self.clip}: frame {self._index} cannot be decoded (damaged file)"
            return False, None
        return ok, image

    def ended_early(self) -> str | None:
        """Once ``read`` returned None: why the clip ended before the frames its container
        announces (truncated, damaged), or None when it played to its end."""
        return self._problem

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
        return self.start_wall + timedelta(seconds=t)

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()


class PacedFileSource:
    """A video file or a folder of frames played like a camera, in real time (for installers who
    point the daemon at a recording): a realtime :class:`ClipSource` whose frames carry the
    host's monotonic clock and local time, as a live camera's do."""

    live = True

    def __init__(self, source: str, fps: float, folder_fps: float = 10.0) -> None:
        path = Path(source)
        self.fps = fps
        self._clip = ClipSource(path, fps=folder_fps if path.is_dir() else None,
                                process_fps=fps, realtime=True)

    def read(self) -> Frame | None:
        frame = self._clip.read()
        if frame is not None:
            frame.t, frame.wall = time.monotonic(), datetime.now()
        return frame

    def ended_early(self) -> str | None:
        return self._clip.ended_early()

    def close(self) -> None:
        self._clip.close()


STREAM_PREFIXES = ("/dev/video", "rtsp://", "rtsps://", "http://", "https://")


def is_stream(source: str) -> bool:
    """A device or a network stream (live), as opposed to a file or folder of frames."""
    return source.isdigit() or source.startswith(STREAM_PREFIXES)


def open_camera(cam: CameraConfig) -> LiveCamera | PacedFileSource:
    """The right real source for a config's ``camera`` section."""
    if is_stream(cam.source):
        return LiveCamera(
            cam.source, cam.fps, width=cam.width, height=cam.height,
            reconnect_min_s=cam.reconnect_min_s, reconnect_max_s=cam.reconnect_max_s,
            timeout_s=cam.timeout_s,
        )
    if not Path(cam.source).exists():
        raise CameraError(f"camera source {cam.source} does not exist")
    return PacedFileSource(cam.source, cam.fps)
