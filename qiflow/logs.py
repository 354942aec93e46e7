"""Structured logs: readable key-value lines on a terminal, JSON lines otherwise.

Nothing is configured at import time; the CLI (or an embedding service) calls
:func:`configure_logging` once.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO

import structlog


class _StderrLogger:
    """Writes each line to whatever ``sys.stderr`` is at that moment (tests swap it)."""

    def msg(self, message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    log = debug = info = warning = warn = error = critical = exception = fatal = msg


def configure_logging(
    *, json: bool | None = None, level: str = "info", stream: TextIO | None = None
) -> None:
    """Send qiflow's logs to ``stream`` (default: stderr), as JSON unless it is a terminal.

    ``json`` forces JSON (True) or key-value lines (False).
    """
    as_json = json if json is not None else not (stream or sys.stderr).isatty()
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if as_json
        else structlog.dev.ConsoleRenderer(colors=False)
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
        logger_factory=(
            structlog.PrintLoggerFactory(file=stream)
            if stream is not None
            else lambda *_args: _StderrLogger()
        ),
        cache_logger_on_first_use=False,
    )
