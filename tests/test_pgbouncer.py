"""qiflow behind PgBouncer in transaction mode: psycopg's prepared statements can be
turned off from the URL (``?prepare_threshold=none``), and qiflow keeps no session state.

The concurrency, event-trail and daemon tests run through a real PgBouncer as well when
QIFLOW_TEST_PGBOUNCER_URL is set (``.ci/run`` starts one with ``.ci/pgbouncer/start``).
Without the option, eight threads firing commands there fail with ``prepared statement
"_pg3_0" already exists``; with it, none does.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from qiflow.exceptions import DatabaseError
from qiflow.store import create_sql_engine

QIFLOW = Path(__file__).resolve().parents[1] / "qiflow"


@pytest.mark.postgres
def test_prepare_threshold_none_in_the_url_turns_prepared_statements_off(pg_url: str) -> None:
    separator = "&" if "?" in pg_url else "?"
    for option, expected in (("prepare_threshold=none", None), ("prepare_threshold=0", 0)):
        engine = create_sql_engine(f"{pg_url}{separator}{option}")
        try:
            with engine.connect() as conn:
                driver = conn.connection.driver_connection
                assert driver is not None
                assert driver.prepare_threshold == expected
        finally:
            engine.dispose()
    engine = create_sql_engine(pg_url.split("?")[0])
    try:
        with engine.connect() as conn:
            assert conn.connection.driver_connection.prepare_threshold == 5  # psycopg's own
    finally:
        engine.dispose()


def test_a_bad_prepare_threshold_is_refused_in_one_line() -> None:
    with pytest.raises(DatabaseError) as refused:
        create_sql_engine("postgresql://qiflow:s3cret@db.example/qiflow?prepare_threshold=never")
    message = str(refused.value)
    assert message == (
        "postgresql+psycopg://qiflow:***@db.example/qiflow?prepare_threshold=never: "
        "prepare_threshold='never' must be none (behind PgBouncer in transaction mode) "
        "or a whole number"
    )


def test_no_session_state_outlives_a_transaction() -> None:
    """Behind a transaction pooler the next transaction may run on another server
    connection: no session-level SET, advisory lock or LISTEN anywhere in qiflow."""
    assert re.search(r"[\"']SET\s+(?!LOCAL\b)", 'execute("SET lock_timeout = 5")')
    assert not re.search(r"[\"']SET\s+(?!LOCAL\b)", 'execute("SET LOCAL lock_timeout = 5")')
    found = []
    for path in QIFLOW.rglob("*.py"):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            code = line.split("#")[0]
            if re.search(r"[\"']SET\s+(?!LOCAL\b)", code) or re.search(
                r"pg_advisory_lock|pg_try_advisory_lock\(|[\"']LISTEN\b", code
            ):
                found.append(f"{path.relative_to(QIFLOW.parent)}:{number}: {line.strip()}")
    assert found == []
