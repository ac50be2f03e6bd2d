"""``stopsafe last-word -c CONFIG``: systemd runs it after the daemon ended (``ExecStopPost``),
to leave why on the broker when the daemon could not say it itself: killed (``kill -9``, the
out-of-memory killer, systemd's watchdog) or crashed. Then ``light/state`` is ``OFF`` (the pin
is released), ``status`` ``failed`` and ``daemon_failed`` holds the reason, so a dead stop's
retained ``ON`` does not outlive it. After a clean stop (``$SERVICE_RESULT`` ``success``), or
an exit 78 (the daemon left its own reason), it says nothing.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from edge.config import EX_CONFIG


def cmd_last_word(args: argparse.Namespace) -> int:
    from edge.config import ConfigError, load_config, state_dir
    from edge.mqtt.last_word import broker_config, say_last_word
    from edge.runtime.faults import Fault
    from edge.runtime.last_good import load_last_good
    from edge.runtime.run_marker import RunEnd, RunMarker

    result = os.environ.get("SERVICE_RESULT", "")
    code, status = os.environ.get("EXIT_CODE", ""), os.environ.get("EXIT_STATUS", "")
    if result in ("", "success") or status == str(EX_CONFIG):
        return 0
    path = Path(args.config)
    try:
        cfg = load_config(path)
    except ConfigError:
        kept = load_last_good()
        cfg = kept[0] if kept is not None else broker_config(path)
    if cfg is None:
        return 0
    previous = RunMarker(state_dir() / f"run-{cfg.stop.id}.json").read()
    said = f"systemd: {result} ({code} {status})".replace(" ()", "")
    if previous.end is RunEnd.CRASHED and previous.reason:
        reason = f"{previous.reason}; {said}"
    else:
        reason = f"ended without a word: {said}"
    say_last_word(cfg, Fault.DAEMON_FAILED, reason, path)
    return 0


def register(p: argparse.ArgumentParser) -> None:
    p.add_argument("-c", "--config", required=True, help="the daemon's YAML config file")
    p.set_defaults(func=cmd_last_word)
