"""Defaults a person expects from the command line: the config file found without -c, and
report commands (make demo's sim) that print their table with no log line ahead of it."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys

import pytest
import yaml

from edge.cli import common
from edge.config import ConfigError
from tests.conftest import CLIPS, REPO

CLIP = CLIPS / "one-by-one" / "one-by-one-person-detection.mp4"


def stopsafe(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edge.cli", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture
def stop_config(tmp_path, models_dir, shared):
    path = tmp_path / "stopsafe.yaml"
    path.write_text(yaml.safe_dump({
        "camera": {"source": str(CLIP), "fps": 5},
        "detector": {"models_dir": str(models_dir)},
        "light": {"pin_factory": "mock"}}))
    path.chmod(0o640)  # as the installer writes it
    return path


def test_check_config_and_selftest_find_the_config_in_the_environment(stop_config):
    env = {**os.environ, common.CONFIG_ENV: str(stop_config)}
    proc = stopsafe("check-config", env=env)
    assert proc.returncode == 0, proc.stderr
    assert yaml.safe_load(proc.stdout)["camera"]["source"] == str(CLIP)
    assert f"config {stop_config} (from ${common.CONFIG_ENV})" in proc.stderr
    assert f"ok: {stop_config} is valid" in proc.stderr

    proc = stopsafe("selftest", "--seconds", "2", "--pulse", "0.2", env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "PASS relay" in proc.stdout and "PASS camera" in proc.stdout
    assert f"config {stop_config} (from ${common.CONFIG_ENV})" in proc.stderr


def test_the_order_is_c_then_environment_then_the_installed_file(tmp_path, monkeypatch, capsys):
    installed, env_file, given = (tmp_path / n for n in ("etc.yaml", "env.yaml", "c.yaml"))
    monkeypatch.setattr(common, "INSTALLED_CONFIG", installed)
    monkeypatch.delenv(common.CONFIG_ENV, raising=False)
    with pytest.raises(ConfigError, match=r"no config file: give -c FILE, set \$STOPSAFE_CONF"):
        common.config_path(None, required=True)
    assert common.config_path(None, required=False) is None  # sim: built-in defaults
    installed.write_text("{}\n")
    assert common.config_path(None, required=True) == installed
    assert "the installed one" in capsys.readouterr().err
    monkeypatch.setenv(common.CONFIG_ENV, str(env_file))
    assert common.config_path(None, required=True) == env_file
    assert common.config_path(str(given), required=True) == given
    assert capsys.readouterr().err.count("config ") == 1  # -c is not announced


def test_make_demo_prints_its_table_first(shared, models_dir, tmp_path):
    """The command `make demo` runs (from the Makefile itself), with standard error and output
    together as a terminal shows them: the table's title is the first line."""
    plan = subprocess.run(["make", "-n", "demo", f"SHARED={shared}", f"REPORT={tmp_path}"],
                          cwd=REPO, capture_output=True, text=True, check=True).stdout
    (line,) = [x for x in plan.splitlines() if "stopsafe sim" in x]
    proc = subprocess.run(shlex.split(line), cwd=REPO, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=600,
                          env={k: v for k, v in os.environ.items() if k != common.CONFIG_ENV})
    assert proc.returncode == 0, proc.stdout[-2000:]
    lines = [x for x in proc.stdout.splitlines() if x.strip()]
    assert lines[0].strip() == "stopsafe sim", lines[:5]
    assert not any(x.lstrip().startswith("{") or "INFO" in x for x in lines), lines[:5]


def test_logs_are_readable_lines_on_a_terminal(shared, models_dir):
    """Asked for (--log-level info), the log goes to the terminal as readable lines, not JSON,
    and the table still goes to standard output."""
    from tests.conftest import scenario_path
    from tests.terminal import run_on_terminal

    rc, out, shown = run_on_terminal([sys.executable, "-m", "edge.cli", "sim", "--log-level",
                                      "info", str(scenario_path("tud-campus"))], REPO)
    assert rc == 0, shown[-2000:]
    assert "light_on" in shown and '"event"' not in shown
    assert "stopsafe sim" in out and "light_on" not in out
