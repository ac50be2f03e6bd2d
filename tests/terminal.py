"""Commands on a pseudo-terminal, as a person at a shell sees them: ``run_on_terminal`` (its
standard error there: progress bars and readable log lines are for terminals only) and
``Terminal`` (a full-screen program driven by keys, read back as drawn)."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from tests.conftest import REPO


def run_on_terminal(argv: list[str], cwd: Path, env: dict[str, str] | None = None,
                    timeout: float = 600.0) -> tuple[int, str, str]:
    """(exit status, standard output (a pipe), what the terminal showed on standard error)."""
    master, slave = os.openpty()
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=slave)
    os.close(slave)
    shown = bytearray()
    try:
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the command closed its end
                break
            if not chunk:
                break
            shown += chunk
    finally:
        os.close(master)
    out = proc.stdout.read() if proc.stdout else b""
    rc = proc.wait(timeout=timeout)
    return rc, out.decode(errors="replace"), shown.decode(errors="replace")


class Terminal:
    """``stopsafe console`` in a pseudo-terminal of its own, as a crew member runs it: keys are
    written to it, and what it draws is read back as the terminal would receive it."""

    def __init__(self, argv: list[str], cols: int = 200, rows: int = 50) -> None:
        import fcntl
        import os
        import pty
        import struct
        import termios

        self.master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": str(cols),
               "LINES": str(rows)}
        self.proc = subprocess.Popen(argv, cwd=REPO, stdin=slave, stdout=slave, stderr=slave,
                                     env=env, start_new_session=True)
        os.close(slave)
        self.screen = b""

    def read(self, timeout: float) -> bytes:
        import os
        import select

        got = b""
        end = time.monotonic() + timeout
        while (left := end - time.monotonic()) > 0:
            ready, _, _ = select.select([self.master], [], [], left)
            if not ready:
                break
            try:
                chunk = os.read(self.master, 65536)
            except OSError:
                break
            got += chunk
            if len(got) > 0 and not select.select([self.master], [], [], 0)[0]:
                break
        return got

    def wait_for(self, text: str, timeout: float) -> float | None:
        """Seconds until ``text`` arrives in what is drawn from now on (None: never)."""
        t0 = time.perf_counter()
        seen = b""
        want = text.encode()
        while time.perf_counter() - t0 < timeout:
            seen += self.read(0.05)
            if want in seen:
                return time.perf_counter() - t0
        return None

    def key(self, data: bytes, expect: str, timeout: float = 10.0) -> float | None:
        import os

        self.read(0.0)  # drop what was drawn before the key
        t0 = time.perf_counter()
        os.write(self.master, data)
        waited = self.wait_for(expect, timeout)
        return None if waited is None else time.perf_counter() - t0

    def close(self) -> None:
        import os

        os.write(self.master, b"q")
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        os.close(self.master)
