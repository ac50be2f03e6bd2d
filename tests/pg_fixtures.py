"""A real PostgreSQL server for the history tests: Debian's ``postgresql`` package, an own
cluster (initdb) in a temporary directory, reached only through a Unix socket in that directory
(no TCP listener), started once per test session and removed after.

initdb refuses to run as root, so as root the cluster belongs to the ``postgres`` user (made by
the Debian package) and the commands run through ``runuser``.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from sim.broker import free_port


def pg_bin() -> Path | None:
    """The newest installed server's bin directory (Debian: /usr/lib/postgresql/<major>/bin)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(Path(p).parent.parent.name))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


class PostgresCluster:
    """initdb + pg_ctl in ``folder``; ``url(db)`` is a SQLAlchemy URL over the socket."""

    def __init__(self, folder: Path, bin_dir: Path) -> None:
        self.folder = folder
        self.data = folder / "data"
        self.bin = bin_dir
        self.port = free_port()
        self.user = "postgres" if os.geteuid() == 0 else None
        self.role = self.user or os.environ.get("USER") or "postgres"

    def _run(self, *cmd: str) -> subprocess.CompletedProcess:
        argv = list(cmd)
        if self.user:
            argv = ["runuser", "-u", self.user, "--", *argv]
        return subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)

    def start(self) -> None:
        if self.user:
            shutil.chown(self.folder, self.user, self.user)
        p = self._run(str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust",
                      "-U", self.role, "-E", "UTF8", "--no-sync")
        if p.returncode:
            raise RuntimeError(f"initdb failed: {p.stderr[-2000:]}")
        opts = (f"-c listen_addresses='' -c unix_socket_directories={self.folder} "
                f"-p {self.port} -c fsync=on -c max_connections=50")
        p = self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l",
                      str(self.folder / "server.log"), "-o", opts, "-w", "-t", "60", "start")
        if p.returncode:
            log = (self.folder / "server.log")
            raise RuntimeError(f"pg_ctl start failed: {p.stderr[-1000:]} "
                               f"{log.read_text()[-2000:] if log.exists() else ''}")

    def stop(self) -> None:
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def url(self, db: str = "postgres") -> str:
        return f"postgresql://{self.role}@/{db}?host={self.folder}&port={self.port}"

    def new_database(self) -> str:
        """A fresh, empty database; its URL."""
        import psycopg

        name = f"t_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(host=str(self.folder), port=self.port, user=self.role,
                             dbname="postgres", autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresCluster]:
    bin_dir = pg_bin()
    if bin_dir is None:
        if os.environ.get("CI") == "true":
            pytest.fail("PostgreSQL is not installed (make system-packages)")
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql)")
    # not pytest's tmp_path: its parents are private to root, and the server runs as postgres
    folder = Path(tempfile.mkdtemp(prefix="stopsafe-pg-"))
    cluster = PostgresCluster(folder, bin_dir)
    t0 = time.monotonic()
    cluster.start()
    print(f"PostgreSQL cluster up in {time.monotonic() - t0:.1f} s at {folder}")
    try:
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def pg_url(postgres: PostgresCluster) -> str:
    return postgres.new_database()
