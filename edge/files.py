"""One way to replace a small file on the box: write a sibling, flush it to the disk, rename it
over the old one. A shelter box loses power without warning; a file half written (an empty run
marker, a cut config) would be worse than the old one, and a rename is all or nothing."""

from __future__ import annotations

import os
import shutil
from pathlib import Path


def write_atomic(path: Path, data: bytes | str, *, mode: int | None = None,
                 owner: tuple[int, int] | None = None, backup: Path | None = None,
                 sync_dir: bool = False) -> None:
    """Replace ``path`` with ``data`` (text is written as UTF-8) in one rename.

    ``mode`` sets the new file's permissions (e.g. 0o600 for a file that may hold secrets);
    otherwise the umask's default applies. ``owner`` (uid, gid) gives it an owner. ``backup``
    gets a copy of the old file once the new one is safely written, just before the rename. With
    ``sync_dir`` the folder is flushed too, so the rename itself survives a power cut. The
    sibling is removed when anything fails, and the error is raised (``OSError``)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    raw = data.encode("utf-8") if isinstance(data, str) else data
    try:
        # as open() does, less the umask; a given mode is then set exactly
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666 if mode is None else mode)
        with os.fdopen(fd, "wb") as f:
            if mode is not None:
                os.fchmod(f.fileno(), mode)
            if owner is not None:
                os.fchown(f.fileno(), *owner)
            f.write(raw)
            f.flush()
            os.fsync(f.fileno())
        if backup is not None:
            shutil.copy2(path, backup)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if sync_dir:
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

