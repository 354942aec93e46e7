"""prefix every qiflow table with qiflow_ (data kept)

A host application on the same database may have its own ``project`` or ``event``
table. The tables are renamed in place, so every row stays; the indexes, and on
PostgreSQL the constraints and sequences named after the tables, follow them, so no
name qiflow uses can collide with a host's.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

PREFIX = "qiflow_"
TABLES = (
    "project",
    "event",
    "counter",
    "idempotency",
    "workflow_definition",
    "pdsa_cycle",
    "measure",
    "data_point",
    "person",
    "signoff",
    "signoff_decision",
    "notification",
    "daemon",
)
#: Index name (without prefix) -> (table, columns).
INDEXES = {
    "ix_project_directorate": ("project", ["directorate"]),
    "ix_project_next_review_at": ("project", ["next_review_at"]),
    "ix_project_owner": ("project", ["owner"]),
    "ix_project_state": ("project", ["state"]),
    "ix_project_programme_status": ("project", ["programme_status"]),
    "ix_data_point_measure_observed": ("data_point", ["measure_id", "observed_at"]),
    "ix_signoff_valid_until": ("signoff", ["valid_until"]),
    "ix_notification_project_id": ("notification", ["project_id"]),
    "ix_notification_status_due": ("notification", ["status", "not_before"]),
}


def _prefixed_index(name: str) -> str:
    return name.replace("ix_", f"ix_{PREFIX}", 1)


def _rename_postgres_names(old: str, new: str) -> None:
    """Constraints (and so their indexes) and sequences named after the table."""
    conn = op.get_bind()
    constraints = conn.execute(
        sa.text("SELECT conname FROM pg_constraint WHERE conrelid = CAST(:t AS regclass)"),
        {"t": new},
    ).scalars()
    for name in list(constraints):
        if name.startswith(f"{old}_"):
            op.execute(
                f'ALTER TABLE "{new}" RENAME CONSTRAINT "{name}" TO "{new}{name[len(old) :]}"'
            )
    sequences = conn.execute(
        sa.text(
            "SELECT s.relname FROM pg_class s JOIN pg_depend d ON d.objid = s.oid "
            "JOIN pg_class t ON d.refobjid = t.oid "
            "WHERE s.relkind = 'S' AND t.relname = :t"
        ),
        {"t": new},
    ).scalars()
    for name in list(sequences):
        if name.startswith(f"{old}_"):
            op.execute(f'ALTER SEQUENCE "{name}" RENAME TO "{new}{name[len(old) :]}"')


def _rename_all(old_prefix: str, new_prefix: str) -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for index, (table, _columns) in INDEXES.items():
        op.drop_index(
            _prefixed_index(index) if old_prefix else index, table_name=old_prefix + table
        )
    for table in TABLES:
        op.rename_table(old_prefix + table, new_prefix + table)
        if postgres:
            _rename_postgres_names(old_prefix + table, new_prefix + table)
    for index, (table, columns) in INDEXES.items():
        op.create_index(
            _prefixed_index(index) if new_prefix else index, new_prefix + table, columns
        )


def _rename_triggers(old: str, new: str) -> None:
    """The append-only triggers of the event table (SQLite cannot rename a trigger)."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f'ALTER TRIGGER "{old}event_append_only" ON "{new}event" '
            f'RENAME TO "{new}event_append_only"'
        )
        return
    for action in ("UPDATE", "DELETE"):
        op.execute(f"DROP TRIGGER {old}event_append_only_{action.lower()}")
        op.execute(
            f"CREATE TRIGGER {new}event_append_only_{action.lower()} BEFORE {action} "
            f"ON {new}event BEGIN SELECT RAISE(ABORT, 'the event table is append-only'); END"
        )


def upgrade() -> None:
    _rename_all("", PREFIX)
    _rename_triggers("", PREFIX)


def downgrade() -> None:
    _rename_all(PREFIX, "")
    _rename_triggers(PREFIX, "")
