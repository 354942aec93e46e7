"""the project reference counter exists from the start

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-01

The counter row was created by the first project: two first creations at once both
found no row and both inserted one, and one of them failed. It is seeded here, at the
highest number in use (0 on a new database).
"""

from __future__ import annotations

from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The maximum is a scalar subquery: an aggregate over the filtered project rows would
    # still give one row (of NULL) when the counter exists, and insert it a second time.
    op.execute(
        "INSERT INTO qiflow_counter (name, value) "
        "SELECT 'project', (SELECT COALESCE(MAX(number), 0) FROM qiflow_project) "
        "WHERE NOT EXISTS (SELECT 1 FROM qiflow_counter WHERE name = 'project')"
    )


def downgrade() -> None:
    pass  # the row is harmless to an older qiflow, which creates it if missing
