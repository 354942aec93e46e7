"""record each event's hash scheme (2: RFC 8785, free text by digest)

Events written before keep scheme 1, so their chains still verify.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


# Plain ALTER TABLE on both backends: a batch copy on SQLite would drop the event
# table's append-only triggers.
def upgrade() -> None:
    op.add_column(
        "qiflow_event", sa.Column("scheme", sa.Integer(), server_default="1", nullable=False)
    )


def downgrade() -> None:
    op.execute("ALTER TABLE qiflow_event DROP COLUMN scheme")
