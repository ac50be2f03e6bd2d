"""The daemon's signals: SIGHUP reloads the config, every other signal that would end the process
ends it cleanly (light off first, ``status`` ``stopped``).

Many tools send SIGHUP to ask for a reload (``systemctl reload``, log rotators, a closed
terminal); left at its default it would kill the daemon with the light on and the retained state
``ON``. Signals whose default is to end the process (SIGUSR1, SIGALRM, SIGXCPU, ...) are caught
for the same reason: whoever sends one, the stop must not go dark with the relay on.

The handlers only set events: a handler runs between two bytecodes of the main thread, which may
hold the log writer's lock at that moment (logging in it deadlocked once and ignored SIGTERM).
A small thread turns a SIGHUP into a reload and logs its outcome.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable

import structlog

log = structlog.get_logger("stopsafe.signals")

RELOAD = signal.SIGHUP
# every catchable signal whose default action ends the process (signal(7)), except SIGPIPE,
# which stays ignored (Python's start-up setting, see edge.cli.main): a closed socket is EPIPE
TERMINATING: tuple[signal.Signals, ...] = tuple(
    getattr(signal, name) for name in (
        "SIGTERM", "SIGINT", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGALRM", "SIGVTALRM",
        "SIGPROF", "SIGIO", "SIGPWR", "SIGXCPU", "SIGXFSZ", "SIGSTKFLT",
    ) if hasattr(signal, name)
)


class SignalWatch:
    """Installs the daemon's handlers; ``stop`` is set by a terminating signal, ``reload`` is
    called (from the watch's own thread) once per SIGHUP burst."""

    def __init__(self, stop: threading.Event, reload: Callable[[], None]) -> None:
        self.stop = stop
        self.reload = reload
        self.received: list[str] = []  # names of the terminating signals, first one first
        self.reloads = 0
        self._hup = threading.Event()
        self._done = threading.Event()
        self._old: dict[int, object] = {}
        self._thread = threading.Thread(target=self._watch, name="signals", daemon=True)

    def install(self) -> SignalWatch:
        """Only in the main thread (Python delivers signals there); elsewhere a no-op."""
        if threading.current_thread() is not threading.main_thread():
            return self
        for sig in TERMINATING:
            self._old[sig] = signal.signal(sig, self._on_terminate)
        self._old[RELOAD] = signal.signal(RELOAD, self._on_hup)
        self._thread.start()
        return self

    def _on_terminate(self, signum: int, _frame: object) -> None:
        self.received.append(signal.Signals(signum).name)
        self.stop.set()

    def _on_hup(self, _signum: int, _frame: object) -> None:
        self._hup.set()

    def _watch(self) -> None:
        while not self._done.is_set():
            if not self._hup.wait(0.5):
                continue
            self._hup.clear()
            if self._done.is_set() or self.stop.is_set():
                return
            self.reloads += 1
            log.info("signal", signal=RELOAD.name, action="reload")
            try:
                self.reload()
            except Exception as exc:  # a failed reload never ends the daemon
                log.error("reload_failed", error=f"{type(exc).__name__}: {exc}"[:300])

    def restore(self) -> None:
        """Put the previous handlers back (the light is off by then)."""
        self._done.set()
        self._hup.set()
        if threading.current_thread() is threading.main_thread():
            for sig, old in self._old.items():
                signal.signal(sig, old)  # type: ignore[arg-type]
        self._old.clear()
