"""Benchmark: the read paths, list filters and project history, against raw ``sqlite3``.

Run by hand (``python bench/queries.py --help``); it is not part of the test suite.

A SQLite portfolio of ``--projects`` projects (default 100,000) spread over states,
owners, directorates, programme status and review dates. In one run and interleaved:

* ``Engine.projects(<filter>, limit=50)`` for each filter, against ``sqlite3`` running the
  same SELECT (the first 50 by reference) and building a tuple per row;
* ``Engine.history(ref)`` of a project with ``--events`` events, against ``sqlite3``
  reading the same events in order and decoding each payload's JSON.

It prints the median time of each side and the ratio engine / raw (issue 16 aims:
a list filter within 1 ms, history within 2x raw). It measures, it does not test.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from seeding import connect, note, seed, sql_time

from qiflow import Engine, ManualClock

NOW = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)
STATES = ("idea", "diagnosis", "measurement_plan", "pdsa_testing", "adopted", "on_hold")
LIST_AIM_MS = 1.0
HISTORY_AIM = 2.0


def spread(path: Path) -> None:
    """Give the seeded projects varied states, owners, directorates, programme status and
    review dates (half of them overdue), as a real portfolio has."""
    conn = connect(path)
    conn.execute("BEGIN IMMEDIATE")
    cases = " ".join(f"WHEN {n} THEN '{s}'" for n, s in enumerate(STATES))
    conn.execute(
        f"UPDATE qiflow_project SET state = CASE number % {len(STATES)} {cases} END, "
        "owner = 'owner-' || (number % 200), directorate = 'dir-' || (number % 12), "
        "programme_status = CASE WHEN number % 97 = 0 THEN 'programme' ELSE 'none' END"
    )
    past, future = sql_time(NOW - timedelta(days=3)), sql_time(NOW + timedelta(days=60))
    conn.execute(
        "UPDATE qiflow_project SET next_review_at = CASE WHEN number % 2 = 0 THEN ? ELSE ? END",
        (past, future),
    )
    conn.execute("COMMIT")
    conn.close()


def median_ms(run: Callable[[], Any], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def interleaved(
    engine_side: Callable[[], Any], raw_side: Callable[[], Any], repeats: int, blocks: int = 5
) -> tuple[float, float]:
    """Median of each side, run in alternating blocks so drift hits both alike."""
    mine, raw = [], []
    for _ in range(blocks):
        mine.append(median_ms(engine_side, repeats))
        raw.append(median_ms(raw_side, repeats))
    return statistics.median(mine), statistics.median(raw)


RAW_LIST = (
    "SELECT * FROM qiflow_project WHERE {where} AND withdrawn_at IS NULL "
    "ORDER BY number LIMIT 50"
)


def list_filters(engine: Engine, conn: sqlite3.Connection, repeats: int) -> list[dict[str, Any]]:
    now = sql_time(NOW)
    cases: list[tuple[str, dict[str, Any], str, tuple[Any, ...]]] = [
        ("state", {"state": "adopted"}, "state = ?", ("adopted",)),
        ("rare state", {"state": "on_hold"}, "state = ?", ("on_hold",)),
        ("owner", {"owner": "owner-7"}, "owner = ?", ("owner-7",)),
        ("directorate", {"directorate": "dir-3"}, "directorate = ?", ("dir-3",)),
        ("programme", {"programme": "programme"}, "programme_status = ?", ("programme",)),
        ("overdue", {"overdue": True}, "next_review_at < ?", (now,)),
        (
            "state + owner",
            {"state": "adopted", "owner": "owner-4"},
            "state = ? AND owner = ?",
            ("adopted", "owner-4"),
        ),
    ]
    rows = []
    for name, kwargs, where, params in cases:
        sql = RAW_LIST.format(where=where)

        def mine(kwargs: dict[str, Any] = kwargs) -> Any:
            return engine.projects(limit=50, **kwargs)

        def raw(sql: str = sql, params: tuple[Any, ...] = params) -> Any:
            return [tuple(r) for r in conn.execute(sql, params)]

        assert len(mine()) == len(raw()), name
        ms, raw_ms = interleaved(mine, raw, repeats)
        rows.append({"filter": name, "engine_ms": ms, "raw_ms": raw_ms, "ratio": ms / raw_ms})
        note(f"  {name:<14} engine {ms:7.3f} ms   raw {raw_ms:7.3f} ms")
    return rows


def make_history(engine: Engine, events: int) -> str:
    """A project whose trail holds ``events`` events: paused and resumed in turn."""
    project = engine.create_project("History", actor="alice", owner="alice", sponsor="bob")
    while len(engine.history(project.ref)) < events:
        engine.fire(project.ref, "pause", actor="alice")
        engine.fire(project.ref, "resume", actor="alice")
    return project.ref


def history(engine: Engine, conn: sqlite3.Connection, ref: str, repeats: int) -> dict[str, Any]:
    pid = conn.execute("SELECT id FROM qiflow_project WHERE ref = ?", (ref,)).fetchone()[0]
    sql = "SELECT * FROM qiflow_event WHERE project_id = ? ORDER BY pos"

    def raw() -> Any:
        return [(*r, json.loads(r["payload"])) for r in conn.execute(sql, (pid,))]

    count = len(engine.history(ref))
    assert count == len(raw())
    ms, raw_ms = interleaved(lambda: engine.history(ref), raw, repeats)
    note(f"  history of {count:,} events: engine {ms:.3f} ms   raw {raw_ms:.3f} ms")
    return {"events": count, "engine_ms": ms, "raw_ms": raw_ms, "ratio": ms / raw_ms}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--projects", type=int, default=100_000, help="portfolio size (100000)")
    parser.add_argument("--events", type=int, default=1000, help="events in the history (1000)")
    parser.add_argument("--repeats", type=int, default=20, help="timed calls per block (20)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="qiflow-bench-queries-") as folder:
        path = Path(folder) / "portfolio.db"
        note(f"seeding {args.projects:,} projects into {path}")
        seed(path, args.projects)
        spread(path)
        with Engine(f"sqlite:///{path}", clock=ManualClock(NOW)) as engine:
            ref = make_history(engine, args.events)
            conn = sqlite3.connect(path)
            conn.row_factory = sqlite3.Row
            note("list filters, limit 50:")
            lists = list_filters(engine, conn, args.repeats)
            hist = history(engine, conn, ref, args.repeats)
            conn.close()
    worst = max(lists, key=lambda r: r["engine_ms"])
    verdicts = [
        {
            "target": f"every list filter <= {LIST_AIM_MS} ms at {args.projects:,} projects",
            "result": "PASS" if worst["engine_ms"] <= LIST_AIM_MS else "FAIL",
            "value": f"{worst['engine_ms']:.3f} ms ({worst['filter']})",
        },
        {
            "target": f"history of {hist['events']:,} events <= {HISTORY_AIM}x raw",
            "result": "PASS" if hist["ratio"] <= HISTORY_AIM else "FAIL",
            "value": f"{hist['ratio']:.2f}x",
        },
    ]
    report = {"projects": args.projects, "lists": lists, "history": hist, "verdicts": verdicts}
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"{'filter':<16}{'engine ms':>11}{'raw ms':>9}{'ratio':>8}")
    for row in lists:
        print(f"{row['filter']:<16}{row['engine_ms']:>11.3f}{row['raw_ms']:>9.3f}{row['ratio']:>8.2f}")
    print(
        f"history ({hist['events']:,} events): engine {hist['engine_ms']:.3f} ms, "
        f"raw {hist['raw_ms']:.3f} ms, ratio {hist['ratio']:.2f}"
    )
    for verdict in verdicts:
        print(f"{verdict['result']}: {verdict['target']}: {verdict['value']}")


if __name__ == "__main__":
    main()
