"""Helpers for testing code that embeds qiflow.

>>> from qiflow.testing import temporary_engine
>>> with temporary_engine() as (engine, clock):  # doctest: +SKIP
...     project = engine.create_project("Test", actor="alice", owner="alice")
...     clock.advance(days=31)
...     assert engine.projects(overdue=True) == [engine.get(project.ref)]
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from qiflow.clock import ManualClock
from qiflow.engine import Engine


@contextmanager
def temporary_engine(
    *,
    start: datetime | None = None,
    workflows_dir: str | Path | Sequence[str | Path] | None = None,
    plugins: Sequence[object] = (),
    clock: ManualClock | None = None,
) -> Iterator[tuple[Engine, ManualClock]]:
    """An engine on a fresh, migrated SQLite file that is deleted afterwards,
    with a :class:`ManualClock` you move by hand (``clock``, or a new one at ``start``).

    Installed plugins load through their entry points, as in production; ``plugins``
    are registered besides them. Yields ``(engine, clock)``."""
    clock = clock or ManualClock(start)
    with tempfile.TemporaryDirectory(prefix="qiflow-test-") as directory:
        url = f"sqlite:///{Path(directory) / 'qiflow.db'}"
        with Engine(
            url, clock=clock, workflows_dir=workflows_dir, plugins=plugins, migrate=True
        ) as engine:
            yield engine, clock
