"""systemd's notify protocol, as a pipeline sink: READY, WATCHDOG and STATUS from the frame loop.

READY=1 goes out with the frame loop's first cycle: by then the relay is set up and the loop owns
the light, even if the model or the camera is not there yet (those are faults the loop retries,
under the fail-safe; a daemon that never said READY would be killed and restarted by systemd
every TimeoutStartSec, dark at every restart). WATCHDOG=1 is sent only from ``on_record``, i.e.
only while the loop completes cycles, blind ones included (a lost camera is retried in the
process, with the fail-safe light; a restart would only turn the light off for
``failsafe.after_s``); there is no timer thread, so a stage that hangs stops the pings and
systemd restarts the daemon (the stage watchdog usually ends it first). STATUS= (fps, light,
waiting, faults) is rate-limited, and sent at once when the light switches or the daemon goes
blind. Without ``$NOTIFY_SOCKET`` (not under systemd) it does nothing.
"""

from __future__ import annotations

import os
import socket
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

import structlog

from edge.runtime.faults import Fault

if TYPE_CHECKING:
    from edge.runtime.pipeline import StopRecord

log = structlog.get_logger("stopsafe.notify")

STATUS_EVERY_S = 5.0


class Notifier:
    """A few lines on the datagram socket named by ``$NOTIFY_SOCKET`` (``@`` = abstract)."""

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        env = os.environ if env is None else env
        addr = env.get("NOTIFY_SOCKET", "")
        self.address: str | None = None
        if addr.startswith("@"):
            self.address = "\0" + addr[1:]
        elif addr.startswith("/"):
            self.address = addr
        self._sock: socket.socket | None = None
        self.failures = 0

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def send(self, *fields: str) -> bool:
        """Send ``KEY=VALUE`` lines as one datagram; False when not under systemd or it failed."""
        if self.address is None:
            return False
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            self._sock.sendto("\n".join(fields).encode(), self.address)
            return True
        except OSError as exc:
            self.failures += 1
            if self.failures in (1, 10, 100) or self.failures % 1000 == 0:
                log.warning("notify_failed", error=str(exc), failures=self.failures)
            return False

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def watchdog_interval(env: Mapping[str, str] | None = None) -> float | None:
    """Half of systemd's watchdog period (``$WATCHDOG_USEC``) when it is meant for this process."""
    env = os.environ if env is None else env
    usec = env.get("WATCHDOG_USEC")
    pid = env.get("WATCHDOG_PID")
    if not usec or (pid and pid.isdigit() and int(pid) != os.getpid()):
        return None
    try:
        return max(int(usec) / 1e6 / 2.0, 0.0)
    except ValueError:
        return None


class SystemdSink:
    """The pipeline's sink for systemd. Pings at most every half watchdog period (every frame
    when no period is given), never from anywhere but the frame loop."""

    def __init__(self, notifier: Notifier | None = None, *, env: Mapping[str, str] | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 status_every_s: float | None = None) -> None:
        self.notifier = notifier or Notifier(env)
        self.clock = clock
        self.ping_every_s = watchdog_interval(env) or 0.0
        self.status_every_s = STATUS_EVERY_S if status_every_s is None else status_every_s
        self.ready = False
        self._last_ping: float | None = None
        self._last_status: float | None = None
        self._last_light: bool | None = None
        self._was_blind = False
        self._times: deque[float] = deque(maxlen=25)
        self.fps = 0.0

    def on_record(self, record: StopRecord) -> None:
        """READY with the first cycle, a ping after every cycle (at most every half watchdog
        period), and the STATUS: running, or blind with its cause and the fail-safe."""
        now = self.clock()
        fields: list[str] = []
        if not self.ready:
            fields.append("READY=1")
            self.ready = True
            log.info("systemd_ready", notify=self.notifier.enabled,
                     seeing=record.frame is not None and record.error is None)
        if self._last_ping is None or now - self._last_ping >= self.ping_every_s:
            fields.append("WATCHDOG=1")
            self._last_ping = now
        if record.frame is None or record.error is not None:
            fields += self._blind(record, now)
        else:
            fields += self._running(record, now)
        if fields:
            self.notifier.send(*fields)

    def _running(self, record: StopRecord, now: float) -> list[str]:
        self._count_fps(now)
        light = bool(record.light_on)
        if (self._last_status is None or now - self._last_status >= self.status_every_s
                or light != self._last_light or self._was_blind):
            self._last_status, self._last_light, self._was_blind = now, light, False
            faults = ",".join(sorted(f.value for f in record.faults)) or "none"
            return [f"STATUS=running: {self.fps:.1f} fps, light {'on' if light else 'off'}, "
                    f"waiting {record.state.waiting}, faults {faults}"]
        return []

    def _blind(self, record: StopRecord, now: float) -> list[str]:
        self._times.clear()
        self.fps = 0.0
        if not self._was_blind or self._last_status is None or \
                now - self._last_status >= self.status_every_s:
            st = record.state
            light = "on" if record.light_on else "off"
            state = f"fail-safe, light {light}" if st.failsafe else f"light {light}"
            cause = next((f.value for f in (Fault.CAMERA_LOST, Fault.MODEL_FAILED)
                          if f in record.faults), "blind")
            self._last_status, self._was_blind = now, True
            return [f"STATUS=blind {st.blind_s:.1f} s ({cause}): {state}"]
        return []

    def _count_fps(self, now: float) -> None:
        """The rate over the last couple of dozen frames."""
        self._times.append(now)
        span = self._times[-1] - self._times[0]
        self.fps = (len(self._times) - 1) / span if span > 0 else 0.0

    def close(self) -> None:
        self.notifier.send("STOPPING=1", "STATUS=stopping: light off")
        self.notifier.close()
