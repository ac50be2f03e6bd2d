"""Who may read and write the daemon's config and its MQTT password file.

A careless install leaves the config world-readable or the password file readable by every
user on the box, or writable by someone who could then point the stop at another broker or
model. The daemon does not refuse to run (the light matters more), but says so at start and in
``stopsafe selftest``.
"""

from __future__ import annotations

import grp
import os
import pwd
import stat
from dataclasses import dataclass
from enum import Enum
from pathlib import Path


class Secrecy(str, Enum):
    CONFIG = "config"  # nobody but root, the service user and its group need to read it
    SECRET = "secret"  # a password: no group outside root and the service's may read it


@dataclass(frozen=True, slots=True)
class FileProblem:
    path: Path
    what: str
    problem: str

    def line(self) -> str:
        return f"{self.what} {self.path}: {self.problem}"


def _group(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def _user(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def check_file(path: Path, what: str, secrecy: Secrecy, uid: int | None = None,
               gid: int | None = None) -> list[FileProblem]:
    """What is wrong with ``path``'s owner and mode for a file the service user (``uid``,
    ``gid``: this process's by default) reads: readable by others, or writable by anyone but
    root and the service user."""
    uid = os.geteuid() if uid is None else uid
    gid = os.getegid() if gid is None else gid
    try:
        st = path.stat()
    except OSError:
        return []  # unreadable files are reported where they are read
    mode = stat.S_IMODE(st.st_mode)
    trusted_group = st.st_gid in (0, gid)
    out: list[str] = []
    if mode & stat.S_IROTH:
        out.append(f"readable by every user (mode {mode:04o}; chmod o-r)")
    elif secrecy is Secrecy.SECRET and mode & stat.S_IRGRP and not trusted_group:
        out.append(f"readable by group {_group(st.st_gid)} (mode {mode:04o}; chmod g-r)")
    if mode & stat.S_IWOTH:
        out.append(f"writable by every user (mode {mode:04o}; chmod o-w)")
    if mode & stat.S_IWGRP and not trusted_group:
        out.append(f"writable by group {_group(st.st_gid)} (mode {mode:04o}; chmod g-w)")
    if st.st_uid not in (0, uid):
        out.append(f"owned by {_user(st.st_uid)}, who can change it (chown root)")
    return [FileProblem(path, what, p) for p in out]


def check_daemon_files(config_path: Path | None, password_file: Path | None
                       ) -> list[FileProblem]:
    """The config file and the MQTT password file, as the daemon reads them."""
    problems: list[FileProblem] = []
    if config_path is not None:
        problems += check_file(config_path, "config", Secrecy.CONFIG)
    if password_file is not None:
        problems += check_file(password_file, "password file", Secrecy.SECRET)
    return problems
