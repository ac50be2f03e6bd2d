"""Real camera sources: V4L2 devices, RTSP/HTTP streams, video files and folders of frames.

A live source has a reader thread that always holds only the newest frame (drop, never queue), so
a slow detector never works on stale pictures; reads that fail make it reopen the camera with a
doubling back-off, and it says so in the log.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime
from pathlib import Path

import cv2
import numpy as np
import structlog

from edge.config import CameraConfig
from edge.frames import CameraError, Frame

log = structlog.get_logger("stopsafe.camera")

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
        reconnect_min_s: float = 1.0, reconnect_max_s: float = 30.0, timeout_s: float = 5.0,
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


class PacedFileSource:
    """A video file or a folder of frames played like a camera: at its own pace, in real time.

    For installers who point the daemon at a recording. Frames are stamped with the host's
    monotonic clock; frames that fall between processing slots are skipped.
    """

    live = True

    def __init__(self, source: str, fps: float, folder_fps: float = 10.0) -> None:
        self.path = Path(source)
        self.fps = fps
        self._files = frame_files(self.path) if self.path.is_dir() else None
        self._cap = None if self._files else cv2.VideoCapture(str(self.path))
        if self._cap is not None and not self._cap.isOpened():
            raise CameraError(f"cannot open video file {self.path}")
        clip_fps = self._cap.get(cv2.CAP_PROP_FPS) if self._cap is not None else folder_fps
        self.clip_fps = clip_fps if clip_fps and clip_fps > 0 else folder_fps
        self._index = 0
        self._start = time.monotonic()
        self._next_due = self._start

    def read(self) -> Frame | None:
        now = time.monotonic()
        if self._next_due > now:
            time.sleep(self._next_due - now)
        t0 = time.monotonic()
        self._next_due += 1.0 / self.fps
        want = int((time.monotonic() - self._start) * self.clip_fps) + 1
        image = None
        path = None
        while self._index < want:
            self._index += 1
            if self._files is not None:
                if self._index > len(self._files):
                    return None
                if self._index == want:
                    path = self._files[self._index - 1]
                    image = read_image(path)
            else:
                ok = self._cap.grab()
                if not ok:
                    return None
                if self._index == want:
                    ok, image = self._cap.retrieve()
                    if not ok:
                        return None
        if image is None:
            return self.read()
        return Frame(image, time.monotonic(), self._index, wall=datetime.now(),
                     path=str(path) if path else None, read_ms=(time.monotonic() - t0) * 1e3)

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()


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
