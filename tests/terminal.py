"""Run a command with its standard error on a pseudo-terminal, as a person at a shell sees it
(progress bars and readable log lines are for terminals only)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path


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
