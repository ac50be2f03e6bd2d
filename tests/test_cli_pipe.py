"""SIGPIPE: the CLI must not make a write to a closed socket fatal for the whole process (the
daemon's web page, webhook and broker threads write to sockets a peer may have closed), while a
reader that goes away early (``stopsafe ... | head``) still ends the command quietly."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from pathlib import Path

from edge.cli import main

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "edge" / "stopsafe.example.yaml"


def test_main_leaves_sigpipe_ignored_so_a_closed_socket_is_an_error_not_death():
    assert main(["check-config", "-c", str(EXAMPLE)]) == 0
    assert signal.getsignal(signal.SIGPIPE) == signal.SIG_IGN
    a, b = socket.socketpair()
    b.close()
    try:
        for _ in range(3):  # the first send may still be buffered
            a.send(b"x" * 65536)
    except (BrokenPipeError, ConnectionResetError):
        pass  # this process is still alive to see it
    finally:
        a.close()


def test_a_reader_that_goes_away_ends_the_command_quietly():
    # ``true`` has gone before the command (a second of start-up) writes its first line
    cmd = (f"{sys.executable} -m edge.cli check-config -c {EXAMPLE} | true; "
           "echo \"status ${PIPESTATUS[0]}\"")
    out = subprocess.run(["bash", "-c", cmd], cwd=REPO, capture_output=True, text=True,
                         timeout=120)
    assert "Traceback" not in out.stderr, out.stderr
    assert out.stdout.split() == ["status", str(128 + signal.SIGPIPE)], out
