"""The optional pip extras: which extra brings which module, which ones a box's config needs,
and the one line a command says when the extra it needs is not installed.

A box installed with ``systemd/install.sh`` gets the extras its config uses (and ``history``
with ``--with-history``); a command run without its extra (``stopsafe history`` on a bare box)
ends with one line naming the extra, never a ``ModuleNotFoundError`` traceback.

``python -m edge.extras CONFIG`` prints the extras a config needs, comma-separated (what
``install.sh`` asks before it runs pip).
"""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path

EX_UNAVAILABLE = 69  # sysexits: a service (here: a package) the command needs is not there


class Extra(str, Enum):
    """The extras of setup.cfg's ``[options.extras_require]`` that a user may need."""

    PI5 = "pi5"
    ONNX = "onnx"
    HISTORY = "history"
    CONSOLE = "console"


# top-level module -> the extra that installs it (setup.cfg says the versions)
PROVIDED_BY: dict[str, Extra] = {
    "lgpio": Extra.PI5,
    "onnxruntime": Extra.ONNX,
    "sqlalchemy": Extra.HISTORY,
    "psycopg": Extra.HISTORY,
    "matplotlib": Extra.HISTORY,
    "textual": Extra.CONSOLE,
}


def extra_for(module: str | None) -> Extra | None:
    """The extra that installs ``module`` (a dotted name counts by its top package)."""
    if not module:
        return None
    return PROVIDED_BY.get(module.partition(".")[0])


def install_hint(extra: Extra) -> str:
    return (f"pip install 'stopsafe[{extra.value}]' into stopsafe's venv "
            f"(a box: systemd/install.sh --extras {extra.value})")


def missing_line(command: str, exc: ModuleNotFoundError) -> str | None:
    """The one line for a command that ran into a module of a missing extra, None when the
    missing module is no extra's (a real bug: let it raise)."""
    extra = extra_for(exc.name)
    if extra is None or not exc.name:
        return None
    return (f"stopsafe {command}: needs the '{extra.value}' extra "
            f"({exc.name.partition('.')[0]} is not installed): {install_hint(extra)}")


def config_extras(config_path: Path) -> list[Extra]:
    """The extras the box's config uses: ``onnx`` for a detector (or a profile) on ONNX
    Runtime, ``pi5`` for the lgpio pin factory."""
    from edge.config import DetectorBackend, PinFactory, load_config

    cfg = load_config(config_path)
    out: set[Extra] = set()
    d = cfg.detector
    backends = {d.backend, *(p.backend for p in (d.wide, d.night) if p is not None)}
    if DetectorBackend.YOLOX_ONNX in backends:
        out.add(Extra.ONNX)
    if cfg.light.pin_factory is PinFactory.LGPIO:
        out.add(Extra.PI5)
    return sorted(out, key=list(Extra).index)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m edge.extras CONFIG", file=sys.stderr)
        return 2
    from edge.config import EX_CONFIG, ConfigError

    try:
        print(",".join(e.value for e in config_extras(Path(args[0]))))
    except ConfigError as exc:
        print(f"edge.extras: config error: {exc}", file=sys.stderr)
        return EX_CONFIG
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
