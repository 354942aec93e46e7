"""redaction: an event's free text may be replaced by its digest marker, nothing else

The append-only triggers of qiflow_event now let one kind of UPDATE through: the payload
of an event whose seq is in qiflow_redaction (rows a redaction writes and deletes in its
own transaction), with every other column unchanged. The store checks that the new
payload commits to the same digests, so the hash chain still verifies.

Stop daemons first: yes (before the first release every migration is).

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

KEPT = ("seq", "project_id", "pos", "version", "type", "actor", "created_at", "prev_hash",
        "hash", "scheme")  # fmt: skip
SQLITE_UPDATE = (
    "CREATE TRIGGER qiflow_event_append_only_update BEFORE UPDATE ON qiflow_event "
    "WHEN NOT EXISTS (SELECT 1 FROM qiflow_redaction r WHERE r.seq = OLD.seq) OR "
    + " OR ".join(f"NEW.{c} IS NOT OLD.{c}" for c in KEPT)
    + " BEGIN SELECT RAISE(ABORT, 'the event table is append-only'); END"
)
POSTGRES_FUNCTION = (
    "CREATE OR REPLACE FUNCTION qiflow_event_append_only() RETURNS trigger LANGUAGE plpgsql "
    "AS $$ BEGIN "
    "IF TG_OP = 'UPDATE' AND EXISTS (SELECT 1 FROM qiflow_redaction r WHERE r.seq = OLD.seq) "
    f"AND ({', '.join(f'NEW.{c}' for c in KEPT)}) IS NOT DISTINCT FROM "
    f"({', '.join(f'OLD.{c}' for c in KEPT)}) THEN RETURN NEW; END IF; "
    "RAISE EXCEPTION 'the event table is append-only'; END $$"
)
OLD_SQLITE_UPDATE = (
    "CREATE TRIGGER qiflow_event_append_only_update BEFORE UPDATE ON qiflow_event "
    "BEGIN SELECT RAISE(ABORT, 'the event table is append-only'); END"
)
OLD_POSTGRES_FUNCTION = (
    "CREATE OR REPLACE FUNCTION qiflow_event_append_only() RETURNS trigger LANGUAGE plpgsql AS "
    "$$ BEGIN RAISE EXCEPTION 'the event table is append-only'; END $$"
)


def upgrade() -> None:
    op.create_table(
        "qiflow_redaction",
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.PrimaryKeyConstraint("seq"),
    )
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER qiflow_event_append_only_update")
        op.execute(SQLITE_UPDATE)
    else:
        op.execute(POSTGRES_FUNCTION)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER qiflow_event_append_only_update")
        op.execute(OLD_SQLITE_UPDATE)
    else:
        op.execute(OLD_POSTGRES_FUNCTION)
    op.drop_table("qiflow_redaction")
