"""structlog set-up: JSON lines when not on a terminal, readable key=value on one."""

from __future__ import annotations

import logging
import sys
from typing import TextIO

import structlog

from edge.config import LogFormat


def configure_logging(level: str = "info", fmt: LogFormat = LogFormat.AUTO,
                      stream: TextIO | None = None) -> None:
    """Logs always go to ``stream`` (standard error by default), never to standard output."""
    probe = stream or sys.stderr
    use_json = fmt is LogFormat.JSON or (fmt is LogFormat.AUTO and not probe.isatty())
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer() if use_json
        else structlog.dev.ConsoleRenderer(colors=probe.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        # without a stream, look sys.stderr up at each call (it may be replaced, e.g. by tests)
        logger_factory=(structlog.PrintLoggerFactory(file=stream) if stream is not None
                        else lambda *_: structlog.PrintLogger(file=sys.stderr)),
        cache_logger_on_first_use=False,
    )
