"""Benchmark: transitions fired one per transaction through ``Engine.fire``.

Run by hand (``python bench/fire.py --help``); it is not part of the test suite.

N projects are put in a SQLite file: one through the engine, the rest bulk-inserted
with the same columns and valid hash chains. Timed fires alternate ``pause`` and
``resume`` on randomly chosen projects, interleaved in blocks with a raw ``sqlite3``
loop doing the same writes (same pragmas) on its own copy of the database. Then the
engine fires once on each of ``--memory-projects`` distinct projects while its RSS
is watched. It always exits 0 unless something errors: it measures, it does not test.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import random
import shutil
import tempfile
import time
from collections.abc import Callable
from contextlib import closing
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path
from typing import Any

from seeding import OWNER, SPONSOR, connect, link, note, seed, sql_time

from qiflow import Engine
from qiflow.audit import dumps
from qiflow.durations import Duration
from qiflow.logs import configure_logging

TARGET_RATIO, AIM_RATIO, TARGET_P99_MS, TARGET_MEMORY_MB = 0.10, 0.20, 5.0, 50.0
TARGET_PROJECTS = 100_000
BLOCK = 500  # fires per interleaved block; even, so every block ends on a resume
SAMPLE_AUDIT = 1_000  # projects whose chains are checked by the engine after seeding

TRANSITIONED = "project.transitioned"
Fire = tuple[str, str, str]  # (project id, trigger, actor)


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status (this benchmark needs Linux)")


def check_seed(engine: Engine, last_id: str) -> None:
    """The engine accepts the seeded rows: chains verify and a seeded project fires."""
    breaks = [b for _, b in islice(engine.iter_audit(), SAMPLE_AUDIT) if b is not None]
    if breaks:
        raise RuntimeError(f"seeded hash chains do not verify: {breaks[0]}")
    paused = engine.fire(last_id, "pause", actor=OWNER)
    resumed = engine.fire(last_id, "resume", actor=SPONSOR)
    if (paused.state, resumed.state, resumed.version) != ("on_hold", "idea", 3):
        raise RuntimeError(f"firing on a seeded project went wrong: {resumed}")


class RawLoop:
    """The same writes as ``Engine.fire`` for pause/resume, in plain sqlite3."""

    def __init__(self, path: Path, reviews: dict[str, Duration | None]) -> None:
        self.conn, self.reviews = connect(path), reviews

    def fire(self, pid: str, trigger: str, *, actor: str) -> None:
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            row = conn.execute("SELECT * FROM qiflow_project WHERE id = ?", (pid,)).fetchone()
            if actor not in (row["owner"], row["sponsor"]):
                raise PermissionError(f"{actor} may not {trigger} {row['ref']}")
            dest = "on_hold" if trigger == "pause" else row["previous_state"]
            now = datetime.now(UTC)
            review = self.reviews[dest]
            due = review.after(now) if review else None
            payload = dumps(
                {
                    "trigger": trigger,
                    "from": row["state"],
                    "to": dest,
                    "cycle": row["current_cycle"],
                    "next_review_at": due.isoformat() if due else None,
                }
            )
            version, pos = row["version"] + 1, row["event_count"] + 1
            digest = link(row["head_hash"], pid, pos, version, TRANSITIONED, actor, payload, now)
            stamp = sql_time(now)
            conn.execute(
                "INSERT INTO qiflow_event (project_id, pos, version, type, actor, payload,"
                " created_at, prev_hash, hash)"
                " VALUES (?, ?, ?, 'project.transitioned', ?, ?, ?, ?, ?)",
                (pid, pos, version, actor, payload, stamp, row["head_hash"], digest),
            )
            review_at = sql_time(due) if due else None
            updated = conn.execute(
                "UPDATE qiflow_project SET state = ?, previous_state = ?, next_review_at = ?,"
                " version = ?, updated_at = ?, event_count = ?, head_hash = ?"
                " WHERE id = ? AND version = ?",
                (dest, row["state"], review_at, version, stamp, pos, digest, pid, row["version"]),
            )
            if updated.rowcount != 1:
                raise RuntimeError(f"version conflict on {row['ref']}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise


def figures(latencies_ns: list[int]) -> dict[str, float]:
    ordered = sorted(latencies_ns)

    def pct(q: float) -> float:
        return ordered[max(0, math.ceil(q * len(ordered)) - 1)] / 1e6

    return {
        "fires_per_s": len(ordered) / (sum(ordered) / 1e9),
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "max_ms": ordered[-1] / 1e6,
    }


def timed(engine: Engine, raw: RawLoop, plan: list[Fire]) -> tuple[list[int], list[int]]:
    """Fire ``plan`` through both, in alternating blocks; per-fire wall times in ns."""
    clock = time.perf_counter_ns
    runs: dict[str, list[int]] = {"engine": [], "raw": []}
    fires: dict[str, Callable[..., object]] = {"engine": engine.fire, "raw": raw.fire}
    for index, first in enumerate(range(0, len(plan), BLOCK)):
        block = plan[first : first + BLOCK]
        for name in ("engine", "raw") if index % 2 == 0 else ("raw", "engine"):
            fire, out = fires[name], runs[name]
            for pid, trigger, actor in block:
                start = clock()
                fire(pid, trigger, actor=actor)
                out.append(clock() - start)
        if index % 10 == 9 or first + BLOCK >= len(plan):
            note(f"  timed {min(first + BLOCK, len(plan)):>7,} / {len(plan):,} fires each")
    return runs["engine"], runs["raw"]


def memory(engine: Engine, ids: list[str]) -> dict[str, float]:
    """RSS growth across one ``pause`` on each of ``ids`` (all distinct)."""
    gc.collect()
    before, half = rss_mb(), rss_mb()
    started = time.perf_counter()
    for done, pid in enumerate(ids, start=1):
        engine.fire(pid, "pause", actor=OWNER)
        if done == len(ids) // 2:
            gc.collect()
            half = rss_mb()
        if done % 10_000 == 0:
            note(f"  memory {done:>9,} / {len(ids):,} fires, RSS {rss_mb():.1f} MB")
    elapsed = time.perf_counter() - started
    gc.collect()
    after = rss_mb()
    return {
        "projects": len(ids),
        "rss_before_mb": before,
        "rss_after_mb": after,
        "growth_mb": after - before,
        "second_half_growth_mb": after - half,
        "fires_per_s": len(ids) / elapsed,
    }


def run(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    fires = args.fires + args.fires % 2  # whole pause/resume pairs
    engine_db, raw_db = workdir / "fire-engine.db", workdir / "fire-raw.db"
    for db in (engine_db, raw_db):
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
    note(f"seeding {args.projects:,} projects into {engine_db}")
    seed(engine_db, args.projects)
    with closing(connect(engine_db)) as src, closing(connect(raw_db)) as dst:
        src.backup(dst)
        ids = [r[0] for r in src.execute("SELECT id FROM qiflow_project ORDER BY number")]
    chosen = random.Random(args.seed).sample(ids, k=min(len(ids), fires // 2))
    plan: list[Fire] = []
    for i in range(fires // 2):
        pid = chosen[i % len(chosen)]
        plan += [(pid, "pause", OWNER), (pid, "resume", SPONSOR)]

    with Engine(f"sqlite:///{engine_db}") as engine:
        rss_open = rss_mb()
        check_seed(engine, ids[-1])
        raw = RawLoop(raw_db, {s.name: s.review for s in engine.workflow().states})
        raw.fire(ids[-1], "pause", actor=OWNER)  # the two fires check_seed did on the engine
        raw.fire(ids[-1], "resume", actor=SPONSOR)
        note(f"timing {fires:,} fires each, engine and raw sqlite3 interleaved")
        engine_ns, raw_ns = timed(engine, raw, plan)
        raw.conn.close()
        mem_projects = min(args.memory_projects or args.projects, args.projects)
        note(f"memory: one fire on each of {mem_projects:,} distinct projects")
        mem = {"rss_engine_open_mb": rss_open, **memory(engine, ids[:mem_projects])}
    breaks: dict[str, int] = {}
    if args.verify_all:
        note("verifying every hash chain of both databases")
        for name, db in (("engine", engine_db), ("raw_sqlite3", raw_db)):
            with Engine(f"sqlite:///{db}") as checker:
                breaks[name] = len(checker.verify_audit())
    eng, base = figures(engine_ns), figures(raw_ns)
    ratio = eng["fires_per_s"] / base["fires_per_s"]
    n = f"{args.projects:,}"
    checks = [
        (f"ratio >= {TARGET_RATIO} (aim {AIM_RATIO})", ratio >= TARGET_RATIO, f"{ratio:.3f}"),
        (f"p99 <= {TARGET_P99_MS:g} ms, {n} projects", eng["p99_ms"] <= TARGET_P99_MS,
         f"{eng['p99_ms']:.3f} ms"),
        (f"memory growth < {TARGET_MEMORY_MB:g} MB, {mem_projects:,} distinct projects",
         mem["growth_mb"] < TARGET_MEMORY_MB, f"{mem['growth_mb']:+.1f} MB"),
    ]  # fmt: skip
    return {
        "projects": args.projects,
        "fires": fires,
        "block": BLOCK,
        "logging": "engine info logs dropped: configure_logging(level='warning')",
        "engine": eng,
        "raw_sqlite3": base,
        "ratio": ratio,
        "memory": mem,
        "audit_breaks": breaks or None,
        "verdicts": [{"target": t, "result": "PASS" if ok else "FAIL", "value": v}
                     for t, ok, v in checks],
    }  # fmt: skip


def show(r: dict[str, Any]) -> None:
    print(
        f"qiflow fire benchmark: {r['projects']:,} projects in SQLite (WAL, synchronous=NORMAL); "
        f"{r['fires']:,} timed pause/resume fires, one per transaction, for Engine.fire and for "
        f"a raw sqlite3 loop, interleaved in blocks of {r['block']}; {r['logging']}"
    )
    print(f"\n{'':24}{'fires/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'max ms':>10}")
    for name, row in (("engine (Engine.fire)", r["engine"]), ("raw sqlite3", r["raw_sqlite3"])):
        print(
            f"{name:24}{row['fires_per_s']:>10,.0f}{row['p50_ms']:>10.3f}"
            f"{row['p99_ms']:>10.3f}{row['max_ms']:>10.3f}"
        )
    print(f"{'ratio engine / raw':24}{r['ratio']:>10.3f}")
    m = r["memory"]
    print(
        f"\nmemory: RSS {m['rss_before_mb']:.1f} MB -> {m['rss_after_mb']:.1f} MB across one fire "
        f"on each of {m['projects']:,} distinct projects: {m['growth_mb']:+.1f} MB "
        f"({m['second_half_growth_mb']:+.1f} MB in the second half; {m['fires_per_s']:,.0f} "
        f"fires/s); RSS was {m['rss_engine_open_mb']:.1f} MB when the engine opened"
    )
    if r["audit_breaks"] is not None:
        print(f"audit: Engine.verify_audit() breaks after the run: {r['audit_breaks']}")
    if r["projects"] < TARGET_PROJECTS:
        print(f"(the targets are stated for {TARGET_PROJECTS:,} projects: this run is indicative)")
    print()
    for v in r["verdicts"]:
        print(f"{v['result']}  {v['target']}: {v['value']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add = parser.add_argument
    add("--projects", type=int, default=TARGET_PROJECTS, help="projects in the DB (%(default)s)")
    add("--fires", type=int, default=20_000, help="timed fires, each side (%(default)s)")
    add("--dir", type=Path, help="where the SQLite files go, kept (default: a tempdir, removed)")
    add("--json", action="store_true", help="print the figures as JSON")
    add("--memory-projects", type=int, help="projects fired once for RSS (default: --projects)")
    add("--seed", type=int, default=1, help="random seed for the timed projects (%(default)s)")
    add("--verify-all", action="store_true", help="verify_audit() both DBs at the end (slow)")
    args = parser.parse_args()
    if args.projects < 2 or args.fires < 2:
        parser.error("need --projects >= 2 and --fires >= 2")
    configure_logging(level="warning")  # drop the engine's per-command info logs
    workdir = args.dir or Path(tempfile.mkdtemp(prefix="qiflow-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        report = run(args, workdir)
    finally:
        if args.dir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        show(report)


if __name__ == "__main__":
    main()
