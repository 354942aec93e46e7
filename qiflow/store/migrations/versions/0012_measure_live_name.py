"""a voided measure frees its name: unique among a project's live measures only

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

LIVE = sa.text("voided_at IS NULL")


def upgrade() -> None:
    with op.batch_alter_table("qiflow_measure") as batch_op:
        batch_op.drop_constraint("uq_measure_project_name", type_="unique")
    op.create_index(
        "uq_qiflow_measure_live_name",
        "qiflow_measure",
        ["project_id", "name"],
        unique=True,
        sqlite_where=LIVE,
        postgresql_where=LIVE,
    )


def downgrade() -> None:
    op.drop_index("uq_qiflow_measure_live_name", table_name="qiflow_measure")
    with op.batch_alter_table("qiflow_measure") as batch_op:
        batch_op.create_unique_constraint("uq_measure_project_name", ["project_id", "name"])
