"""``stopsafe models fetch``: put the manifest's models in place, checked by sha256."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from edge.cli.common import add_config_option, load


def cmd_fetch(args: argparse.Namespace) -> int:
    from detector.models import ModelError, fetch_models

    dest = Path(args.dir) if args.dir else load(args.config).detector.models_dir
    try:
        done = fetch_models(dest, Path(args.source) if args.source else None, args.names or None)
    except (ModelError, OSError) as exc:
        print(f"stopsafe models fetch: {exc}", file=sys.stderr)
        return 1
    for name, what in done:
        print(f"{name}: {what} (sha256 ok) in {dest}")
    return 0


def register(p: argparse.ArgumentParser) -> None:
    msub = p.add_subparsers(dest="models_command", required=True, metavar="ACTION")
    fetch = msub.add_parser("fetch", help="put the manifest's models into the models folder")
    fetch.add_argument("names", nargs="*", help="model files (default: all in the manifest)")
    fetch.add_argument("--from", dest="source", metavar="DIR",
                       help="offline bundle folder (default: download from the manifest's URLs)")
    fetch.add_argument("--dir", help="destination (default: the config's detector.models_dir)")
    add_config_option(fetch, required=False, what=" (for detector.models_dir)")
    fetch.set_defaults(func=cmd_fetch)
