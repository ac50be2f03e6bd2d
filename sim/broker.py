"""A real mosquitto on a free loopback port with its own config file: for the tests, and for
``stopsafe sim --own-broker`` (scenarios that stop and start the broker)."""

from __future__ import annotations

import getpass
import shutil
import socket
import subprocess
import time
from pathlib import Path

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Broker:
    """mosquitto with a config file of its own in ``folder``; start/stop/kill at will."""

    def __init__(self, folder: Path, port: int | None = None, extra: str = "",
                 persistence: bool = False, tls: str = "") -> None:
        self.folder = folder
        self.port = port or free_port()
        self.host = "127.0.0.1"
        self.conf = folder / "mosquitto.conf"
        self.log = folder / "mosquitto.log"
        # as root, mosquitto would switch to the 'mosquitto' user, who cannot read our tmp files
        lines = [f"user {getpass.getuser()}", f"listener {self.port} 127.0.0.1", tls, extra,
                 f"log_dest file {self.log}", "log_type all", "sys_interval 1"]
        if persistence:
            lines += ["persistence true", f"persistence_location {folder}/",
                      "autosave_interval 1"]
        else:
            lines.append("persistence false")
        if "allow_anonymous" not in extra:
            lines.append("allow_anonymous true")
        self.conf.write_text("\n".join(x for x in lines if x) + "\n")
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 5.0) -> None:
        self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self.conf)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mosquitto exited: {self.proc.stderr.read().decode()}"
                                   f"{self.log.read_text() if self.log.exists() else ''}")
            try:
                with socket.create_connection((self.host, self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("mosquitto did not start listening")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"
