"""measurement: measure targets, primary and baseline, rebases, point cycles, scores

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("qiflow_measure") as batch_op:
        batch_op.add_column(sa.Column("target", sa.Float(), nullable=True))
        batch_op.add_column(
            sa.Column("is_primary", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(sa.Column("baseline_points", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("chart_state", sa.JSON(), nullable=True))
    with op.batch_alter_table("qiflow_data_point") as batch_op:
        batch_op.add_column(sa.Column("cycle", sa.Integer(), nullable=True))
    op.create_table(
        "qiflow_measure_rebase",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("measure_id", sa.Integer(), nullable=False),
        sa.Column("at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("actor", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["measure_id"], ["qiflow_measure.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        op.f("ix_qiflow_measure_rebase_measure_id"), "qiflow_measure_rebase", ["measure_id"]
    )
    op.create_table(
        "qiflow_progress_score",
        sa.Column("project_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("confirmed_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["qiflow_project.id"]),
        sa.PrimaryKeyConstraint("project_id"),
    )


def downgrade() -> None:
    op.drop_table("qiflow_progress_score")
    op.drop_index(op.f("ix_qiflow_measure_rebase_measure_id"), table_name="qiflow_measure_rebase")
    op.drop_table("qiflow_measure_rebase")
    with op.batch_alter_table("qiflow_data_point") as batch_op:
        batch_op.drop_column("cycle")
    with op.batch_alter_table("qiflow_measure") as batch_op:
        batch_op.drop_column("chart_state")
        batch_op.drop_column("baseline_points")
        batch_op.drop_column("is_primary")
        batch_op.drop_column("target")
