"""Benchmark: ``Engine.verify_audit()`` over 100,000 events, against a plain sqlite3 chain walk.

Run by hand (``python bench/audit.py --help``); it is not part of the test suite.

One project with a realistic trail (``--events`` events: created, fields with free text,
a driver diagram, a transition, reviews with notes) is made through the engine in a
SQLite file, then copied ``--projects`` times in bulk, each copy with its own id,
reference and hash chain (scheme 2: RFC 8785 with free text by digest, recomputed with
:mod:`qiflow.canonical`). ``verify_audit`` must find nothing wrong.

It then times, best of ``--repeat`` rounds, ``verify_audit`` (every chain recomputed, the
events replayed against each project row and driver diagram) and, in the same run over
the same rows, a plain ``sqlite3`` walk: one query in chain order, SHA-256 over each
row's stored fields as compact JSON, each link checked. The report is events per second
for each and their ratio. It measures, it does not test.
"""

from __future__ import annotations

import sys
from pathlib import Path

# The bench folder is on sys.path when this runs as a script; its http.py would shadow the
# standard library's http (imported by httpx), so take it off before importing anything.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent.resolve()]

import argparse  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import sqlite3  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from datetime import UTC, datetime, timedelta  # noqa: E402

from qiflow import Engine, ManualClock  # noqa: E402
from qiflow import canonical as scheme2  # noqa: E402
from qiflow.audit import GENESIS  # noqa: E402
from qiflow.store import SQLITE_PRAGMAS  # noqa: E402

OWNER, SPONSOR = "alice", "bob"


def note(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def template(url: str, events: int) -> None:
    """One project with about ``events`` events, made through the engine."""
    clock = ManualClock(datetime(2027, 1, 4, 10, 0, tzinfo=UTC))
    with Engine(url, clock=clock, migrate=True) as engine:
        project = engine.create_project(
            "Reduce missed doses on ward 7", actor=OWNER, owner=OWNER, sponsor=SPONSOR
        )
        ref = project.ref
        engine.update_project(
            ref,
            actor=OWNER,
            aim="Halve missed doses of critical medicines by June",
            quality_objectives=["Safer medicines", "Better experience"],
        )
        engine.add_driver(ref, "Reliable prescribing", kind="primary", actor=OWNER)
        engine.add_driver(ref, "Pharmacy reminders", kind="idea", under="P1", actor=OWNER)
        engine.fire(ref, "diagnose", actor=OWNER)
        while len(engine.history(ref)) < events:
            clock.advance(timedelta(days=7))
            engine.record_review(
                ref, actor=OWNER, notes=f"Week {clock.now():%V}: on track, ünïcode"
            )


def seed(path: Path, projects: int, events: int) -> int:
    """The template, then ``projects - 1`` copies; returns the number of events."""
    template(f"sqlite:///{path}", events)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.row_factory = sqlite3.Row
    for pragma in SQLITE_PRAGMAS:
        conn.execute(pragma)
    project = dict(conn.execute("SELECT * FROM qiflow_project").fetchone())
    trail = [dict(r) for r in conn.execute("SELECT * FROM qiflow_event ORDER BY pos")]
    nodes = [dict(r) for r in conn.execute("SELECT * FROM qiflow_driver_node")]
    p_cols, e_cols = list(project), [c for c in trail[0] if c != "seq"]
    n_cols = list(nodes[0]) if nodes else []

    def insert(table: str, cols: list[str]) -> str:
        return f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"

    old_id, old_ref = project["id"], project["ref"]
    started = time.perf_counter()
    p_rows, e_rows, n_rows = [], [], []
    for number in range(2, projects + 1):
        pid, ref = uuid.uuid4().hex, f"QI-{number:05d}"
        head = GENESIS
        for event in trail:
            text = event["payload"].replace(old_id, pid).replace(old_ref, ref)
            created = datetime.fromisoformat(event["created_at"]).replace(tzinfo=UTC)
            body = scheme2.content(
                project_id=pid,
                pos=event["pos"],
                version=event["version"],
                type=event["type"],
                actor=event["actor"],
                payload=json.loads(text),
                created_at=created,
            )
            digest = scheme2.chain(head, body)
            row = {**event, "project_id": pid, "payload": text, "prev_hash": head, "hash": digest}
            e_rows.append(tuple(row[c] for c in e_cols))
            head = digest
        p_row = {**project, "id": pid, "number": number, "ref": ref, "head_hash": head}
        p_rows.append(tuple(p_row[c] for c in p_cols))
        n_rows += [tuple({**n, "project_id": pid}[c] for c in n_cols) for n in nodes]
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany(insert("qiflow_project", p_cols), p_rows)
    conn.executemany(insert("qiflow_event", e_cols), e_rows)
    if nodes:
        conn.executemany(insert("qiflow_driver_node", n_cols), n_rows)
    conn.execute("UPDATE qiflow_counter SET value = ? WHERE name = 'project'", (projects,))
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    total = int(conn.execute("SELECT count(*) FROM qiflow_event").fetchone()[0])
    conn.close()
    note(f"seeded {projects:,} projects, {total:,} events in {time.perf_counter() - started:.1f} s")
    return total


def plain_walk(path: Path) -> int:
    """The baseline: one query in chain order, SHA-256 over each row's fields, links checked."""
    conn = sqlite3.connect(path)
    rows = conn.execute(
        "SELECT project_id, pos, version, type, actor, payload, created_at, prev_hash, hash "
        "FROM qiflow_event ORDER BY project_id, pos"
    )
    current, prev, walked = None, GENESIS, 0
    sha256, dumps = hashlib.sha256, json.dumps
    for pid, pos, version, kind, actor, payload, at, prev_hash, digest in rows:
        if pid != current:
            current, prev = pid, GENESIS
        if prev_hash != prev:
            raise SystemExit(f"plain walk: broken link at {pid} {pos}")
        body = dumps([pid, pos, version, kind, actor, payload, at], separators=(",", ":"))
        sha256(f"{prev}\n{body}".encode()).hexdigest()  # the work of recomputing a hash
        prev, walked = digest, walked + 1
    conn.close()
    return walked


def best(repeat: int, run: object) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()  # type: ignore[operator]
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--projects", type=int, default=5_000)
    parser.add_argument("--events", type=int, default=20, help="events per project")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "audit.db"
        total = seed(path, args.projects, args.events)
        with Engine(f"sqlite:///{path}") as engine:
            found = engine.verify_audit()
            if found:
                raise SystemExit(f"the seeded trail does not verify: {found[0]}")
            audit = best(args.repeat, engine.verify_audit)
        walk = best(args.repeat, lambda: plain_walk(path))
    result = {
        "events": total,
        "projects": args.projects,
        "verify_audit_events_per_s": round(total / audit),
        "plain_sqlite3_walk_events_per_s": round(total / walk),
        "ratio": round(walk / audit, 3),
    }
    if args.json:
        print(json.dumps(result))
        return
    print(f"events                    {total:>10,}")
    print(f"verify_audit              {result['verify_audit_events_per_s']:>10,} events/s")
    print(f"plain sqlite3 chain walk  {result['plain_sqlite3_walk_events_per_s']:>10,} events/s")
    print(f"ratio                     {result['ratio']:>10.3f}")


if __name__ == "__main__":
    main()
