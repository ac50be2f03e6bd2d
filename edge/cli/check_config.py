"""``stopsafe check-config -c CONFIG``: validate and print the effective config."""

from __future__ import annotations

import argparse
import json
import sys

from edge.cli.common import add_config_option, load


def cmd_check_config(args: argparse.Namespace) -> int:
    cfg = load(args.config)
    print(json.dumps(cfg.model_dump(mode="json"), indent=2))
    print(f"ok: {args.config} is valid", file=sys.stderr)
    return 0


def register(p: argparse.ArgumentParser) -> None:
    add_config_option(p, required=True)
    p.set_defaults(func=cmd_check_config)
