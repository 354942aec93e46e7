"""Structured logs that go through the standard library's ``logging``.

qiflow is a guest in its host's process: it never configures structlog globally and
never prints. Every module logs through :func:`get_logger`, a structlog logger bound
to a ``logging`` logger under ``qiflow`` (``qiflow``, ``qiflow.daemon``, ...), so the
host's logging configuration decides what is shown and where. The ``qiflow`` logger
has a ``NullHandler``, as the Python docs advise for libraries.

Each record's message is the event with its fields (``command project='QI-0001'
trigger='pause' ...``); the fields are also on the record as ``record.qiflow`` (a
dict) for JSON formatters. The command line calls :func:`configure_logging`.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import MutableMapping
from datetime import UTC, datetime
from typing import Any, TextIO

import structlog

ROOT = "qiflow"
logging.getLogger(ROOT).addHandler(logging.NullHandler())


def _to_stdlib(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> Any:
    """The last processor: one readable message, the fields kept on ``record.qiflow``."""
    event = str(event_dict.pop("event", ""))
    exc_info = event_dict.pop("exc_info", None)
    fields = {k: v for k, v in event_dict.items() if v is not None}
    shown = " ".join(f"{k}={v!r}" for k, v in fields.items())
    return {
        "msg": f"{event} {shown}" if shown else event,
        "extra": {"qiflow": {"event": event, **fields}},
        "exc_info": exc_info,
    }


def get_logger(name: str = ROOT) -> Any:
    """A structlog logger that writes to the ``logging`` logger ``name``."""
    return structlog.wrap_logger(
        logging.getLogger(name),
        processors=[structlog.contextvars.merge_contextvars, _to_stdlib],
        wrapper_class=structlog.stdlib.BoundLogger,
    )


class _Formatter(logging.Formatter):
    """Key-value lines for a terminal, JSON lines otherwise."""

    def __init__(self, as_json: bool) -> None:
        super().__init__()
        self.as_json = as_json

    def format(self, record: logging.LogRecord) -> str:
        at = datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
        fields = dict(getattr(record, "qiflow", None) or {"event": record.getMessage()})
        if record.exc_info:
            fields["exception"] = self.formatException(record.exc_info)
        if self.as_json:
            data = {"timestamp": at, "level": record.levelname.lower(), "logger": record.name}
            return json.dumps({**data, **fields}, default=str)
        event = fields.pop("event")
        exception = fields.pop("exception", None)
        shown = " ".join(f"{k}={v!r}" for k, v in fields.items())
        line = f"{at} [{record.levelname.lower():<7}] {event} {shown}".rstrip()
        return f"{line}\n{exception}" if exception else line


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at the moment (tests swap it)."""

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        pass


def configure_logging(
    *, json: bool | None = None, level: str = "info", stream: TextIO | None = None
) -> None:
    """Show qiflow's logs on ``stream`` (default: stderr), as JSON unless it is a terminal.

    For the command line; an embedding service configures ``logging`` itself. ``json``
    forces JSON (True) or key-value lines (False). Calling it again replaces the handler.
    """
    as_json = json if json is not None else not (stream or sys.stderr).isatty()
    logger = logging.getLogger(ROOT)
    reset_logging()
    handler: logging.Handler = (
        logging.StreamHandler(stream) if stream is not None else _StderrHandler()
    )
    handler.setFormatter(_Formatter(as_json))
    handler.qiflow_cli = True  # type: ignore[attr-defined]
    logger.addHandler(handler)
    logger.setLevel(logging.getLevelNamesMapping()[level.upper()])


def reset_logging() -> None:
    """Undo :func:`configure_logging`: the process's logging is as it was before."""
    logger = logging.getLogger(ROOT)
    for old in [h for h in logger.handlers if getattr(h, "qiflow_cli", False)]:
        logger.removeHandler(old)
    logger.setLevel(logging.NOTSET)
    logger.propagate = False
