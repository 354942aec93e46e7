"""Benchmark: XmR charts for a portfolio, against a bare mean/moving-range baseline.

Run by hand (``python bench/spc.py --help``); it is not part of the test suite.

A seeded portfolio of ``--projects`` projects x ``--measures`` measures x ``--points``
points (1,000 x 3 x 60 = 180,000 points by default) with level shifts, trends and
rebases. It times ``qiflow.spc.xmr`` over every series, and in the same run two
baselines that compute only each series' mean and average moving range: a plain-Python
loop per series and numpy over the whole portfolio as one array. The best of
``--repeat`` rounds is reported for each, with the ratios. It measures, it does not test.

Then the statement count: the same portfolio stored in a SQLite file (projects seeded as
``bench/seeding.py`` does, measures, data points and rebases inserted in bulk), and
``Engine.progress()`` (every project's charts and suggested progress score, what the
daily score reminders read) run under an SQLAlchemy listener that counts the statements
it executes, for the whole portfolio and for a tenth of it: the count must not grow with
projects, measures or points. ``--no-store`` skips this part.
"""

from __future__ import annotations

import argparse
import itertools
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from seeding import connect, seed, sql_time
from sqlalchemy import event
from sqlalchemy.engine import Engine as SqlEngine

from qiflow import Engine
from qiflow.spc import xmr

Series = tuple[list[float], str, float | None, list[int]]


def portfolio(projects: int, measures: int, points: int, seed: int) -> list[Series]:
    rng = random.Random(seed)
    series: list[Series] = []
    for _ in range(projects * measures):
        level, spread, values = rng.uniform(20, 80), rng.uniform(1, 6), []
        for position in range(points):
            if rng.random() < 0.03:
                level += rng.choice([-2, -1, 1, 2]) * spread
            drift = spread * 0.3 * position / points if rng.random() < 0.2 else 0.0
            values.append(round(rng.gauss(level + drift, spread), 1))
        direction = rng.choice(["increase", "decrease", "neutral"])
        target = rng.choice([None, round(level, 1)])
        rebase = [points // 2] if rng.random() < 0.25 else []
        series.append((values, direction, target, rebase))
    return series


def run_xmr(series: list[Series]) -> int:
    signals = 0
    for values, direction, target, rebase in series:
        result = xmr(values, improvement=direction, target=target, rebase=rebase)
        signals += result.variation_icon != "common_cause"
    return signals


def run_python_baseline(series: list[Series]) -> int:
    checksum = 0.0
    for values, *_ in series:
        mean = sum(values) / len(values)
        ranges = [abs(b - a) for a, b in itertools.pairwise(values)]
        checksum += mean + sum(ranges) / len(ranges)
    return int(checksum)


def run_numpy_baseline(matrix: np.ndarray) -> int:
    means = matrix.mean(axis=1)
    amrs = np.abs(np.diff(matrix, axis=1)).mean(axis=1)
    return int((means + amrs).sum())


def store_portfolio(path: Path, projects: int, series: list[Series], points: int) -> None:
    """Seed ``projects`` projects, then give each its measures, points and rebases in bulk."""
    seed(path, projects)
    conn = connect(path)
    ids = [row[0] for row in conn.execute("SELECT id FROM qiflow_project ORDER BY number")]
    per_project = len(series) // len(ids)
    start = datetime(2022, 1, 3, tzinfo=UTC)
    kinds = ["outcome", "process", "balancing"]
    conn.execute("BEGIN")
    for number, (values, direction, target, rebase) in enumerate(series):
        project = ids[number // per_project]
        kind = kinds[number % per_project % len(kinds)]
        measure = conn.execute(
            "INSERT INTO qiflow_measure (project_id, name, kind, unit, direction, target, "
            "is_primary) VALUES (?, ?, ?, 'n', ?, ?, ?) RETURNING id",
            (project, f"m{number}", kind, direction, target, kind == "outcome"),
        ).fetchone()[0]
        conn.executemany(
            "INSERT INTO qiflow_data_point (measure_id, observed_at, value) VALUES (?, ?, ?)",
            [
                (measure, sql_time(start + timedelta(weeks=week)), value)
                for week, value in enumerate(values[:points])
            ],
        )
        for position in rebase:
            conn.execute(
                "INSERT INTO qiflow_measure_rebase (measure_id, at, reason, actor, created_at) "
                "VALUES (?, ?, 'bench', 'bench', ?)",
                (measure, sql_time(start + timedelta(weeks=position)), sql_time(start)),
            )
    conn.execute("COMMIT")
    conn.close()


def count_statements(url: str, subset: int | None) -> tuple[int, float, int]:
    """(statements, seconds, projects) of ``Engine.progress()`` over the portfolio, or over
    its first ``subset`` projects."""
    counted: list[str] = []

    def listen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        counted.append(statement)

    with Engine(url) as engine:
        refs = None if subset is None else [p.ref for p in engine.projects(limit=subset)]
        event.listen(SqlEngine, "before_cursor_execute", listen)
        try:
            began = time.perf_counter()
            found = engine.progress(refs)
            took = time.perf_counter() - began
        finally:
            event.remove(SqlEngine, "before_cursor_execute", listen)
    return len(counted), took, len(found)


def best(repeat: int, work: Callable[[], int]) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--projects", type=int, default=1_000)
    parser.add_argument("--measures", type=int, default=3)
    parser.add_argument("--points", type=int, default=60)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument(
        "--no-store", dest="store", action="store_false", help="Skip the statement count."
    )
    args = parser.parse_args()

    series = portfolio(args.projects, args.measures, args.points, args.seed)
    matrix = np.array([values for values, *_ in series])
    total = len(series) * args.points
    signals = run_xmr(series)

    spc = best(args.repeat, lambda: run_xmr(series))
    python = best(args.repeat, lambda: run_python_baseline(series))
    vectorised = best(args.repeat, lambda: run_numpy_baseline(matrix))
    per_series = spc / len(series) * 1e6
    print(
        f"portfolio: {args.projects} projects x {args.measures} measures x {args.points} "
        f"points = {total:,} points in {len(series):,} series ({signals:,} with a "
        f"special-cause variation icon)"
    )
    print(
        f"qiflow.spc.xmr      {spc:8.3f} s  ({per_series:6.1f} us a series, "
        f"{total / spc:,.0f} points/s)"
    )
    print(f"python mean + AMR   {python:8.3f} s  (xmr / this = {spc / python:5.1f}x)")
    print(f"numpy mean + AMR    {vectorised:8.3f} s  (xmr / this = {spc / vectorised:5.0f}x)")
    print(
        f"best of {args.repeat} rounds each; median xmr series size "
        f"{statistics.median(len(v) for v, *_ in series):.0f} points"
    )
    if not args.store:
        return
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "portfolio.db"
        store_portfolio(path, args.projects, series, args.points)
        url = f"sqlite:///{path}"
        tenth = max(args.projects // 10, 1)
        for subset in (None, tenth):
            statements, took, projects = count_statements(url, subset)
            print(
                f"Engine.progress() over {projects:,} projects x {args.measures} measures x "
                f"{args.points} points: {statements} SQL statements, {took:.2f} s"
            )


if __name__ == "__main__":
    main()
