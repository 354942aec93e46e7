"""Seeding for the benchmarks: many projects in a SQLite file, fast, with valid hash chains.

Project 1 is created through the engine; the rest copy its row and event in bulk,
each with its own id, reference and hash chain, so the engine (and `qiflow audit
verify`) accepts them.
"""

from __future__ import annotations

import json
import sqlite3
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from qiflow import Engine, canonical
from qiflow.audit import GENESIS, dumps
from qiflow.store import SQLITE_PRAGMAS

OWNER, SPONSOR = "alice", "bob"
CHUNK = 20_000  # projects per bulk-insert transaction


def note(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, timeout=30)
    conn.row_factory = sqlite3.Row
    for pragma in SQLITE_PRAGMAS:
        conn.execute(pragma)
    return conn


def sql_time(when: datetime) -> str:
    """A datetime as SQLAlchemy stores it in SQLite (naive UTC, microseconds)."""
    return when.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def link(
    prev: str, pid: str, pos: int, version: int, kind: str, actor: str, payload: str, at: datetime
) -> str:
    """An event's hash, computed as the engine's store computes it (the current scheme)."""
    content = canonical.content(
        project_id=pid,
        pos=pos,
        version=version,
        type=kind,
        actor=actor,
        payload=json.loads(payload),
        created_at=at,
    )
    return canonical.chain(prev, content)


def seed(path: Path, projects: int) -> None:
    """Create project 1 through the engine, then copy its shape to the others in bulk."""
    with Engine(f"sqlite:///{path}", migrate=True) as engine:
        engine.create_project("Benchmark project 1", actor=OWNER, owner=OWNER, sponsor=SPONSOR)
    conn = connect(path)
    project = dict(conn.execute("SELECT * FROM qiflow_project").fetchone())
    event = dict(conn.execute("SELECT * FROM qiflow_event").fetchone())
    payload = json.loads(event["payload"])
    created = datetime.fromisoformat(event["created_at"]).replace(tzinfo=UTC)  # stored naive UTC
    p_cols, e_cols = list(project), [c for c in event if c != "seq"]
    p_sql = (
        f"INSERT INTO qiflow_project ({', '.join(p_cols)}) VALUES ({', '.join('?' * len(p_cols))})"
    )
    e_sql = (
        f"INSERT INTO qiflow_event ({', '.join(e_cols)}) VALUES ({', '.join('?' * len(e_cols))})"
    )
    started = time.perf_counter()
    for first in range(2, projects + 1, CHUNK):
        p_rows, e_rows = [], []
        for number in range(first, min(first + CHUNK, projects + 1)):
            pid, ref, title = uuid.uuid4().hex, f"QI-{number:04d}", f"Benchmark project {number}"
            body = dumps({**payload, "ref": ref, "title": title})
            digest = link(GENESIS, pid, 1, 1, event["type"], event["actor"], body, created)
            p_row = {**project, "id": pid, "number": number, "ref": ref, "title": title}
            p_row["head_hash"] = digest
            e_row = {**event, "project_id": pid, "payload": body, "hash": digest}
            p_rows.append(tuple(p_row[c] for c in p_cols))
            e_rows.append(tuple(e_row[c] for c in e_cols))
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(p_sql, p_rows)
        conn.executemany(e_sql, e_rows)
        conn.execute("UPDATE qiflow_counter SET value = ? WHERE name = 'project'", (number,))
        conn.execute("COMMIT")
        rate = (number - 1) / (time.perf_counter() - started)
        note(f"  seeded {number:>9,} / {projects:,} projects ({rate:,.0f}/s)")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
