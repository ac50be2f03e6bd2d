"""edge.files.write_atomic: the one way the box replaces a small file (run marker, last good
config, static places, the zone edit)."""

from __future__ import annotations

import os
import stat

import pytest

from edge.files import write_atomic


def test_replaces_the_file_with_the_mode_asked_whatever_the_umask(tmp_path):
    path = tmp_path / "secret.yaml"
    path.write_text("old")
    old_mask = os.umask(0o077)
    try:
        write_atomic(path, "new ü", mode=0o640)
    finally:
        os.umask(old_mask)
    assert path.read_bytes() == "new ü".encode()
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["secret.yaml"]


def test_without_a_mode_the_umask_decides_as_for_open(tmp_path):
    old_mask = os.umask(0o022)
    try:
        write_atomic(tmp_path / "a.json", b"{}")
    finally:
        os.umask(old_mask)
    assert stat.S_IMODE((tmp_path / "a.json").stat().st_mode) == 0o644


def test_the_backup_holds_the_old_file(tmp_path):
    path, backup = tmp_path / "stop.yaml", tmp_path / "stop.yaml.bak"
    path.write_text("zone: old\n")
    write_atomic(path, "zone: new\n", backup=backup, sync_dir=True)
    assert path.read_text() == "zone: new\n" and backup.read_text() == "zone: old\n"


def test_a_failed_write_leaves_the_old_file_backup_and_no_sibling(tmp_path, monkeypatch):
    path, backup = tmp_path / "stop.yaml", tmp_path / "stop.yaml.bak"
    path.write_text("zone: old\n")
    backup.write_text("zone: older\n")

    def full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError, match="No space"):
        write_atomic(path, "zone: new\n", backup=backup)
    assert path.read_text() == "zone: old\n" and backup.read_text() == "zone: older\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["stop.yaml", "stop.yaml.bak"]
