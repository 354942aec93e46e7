"""risk registers

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "qiflow_risk",
        sa.Column("project_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("risk", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("category", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("owner", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("consequence", sa.Integer(), nullable=False),
        sa.Column("likelihood", sa.Integer(), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("band", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("target", sa.Integer(), nullable=True),
        sa.Column("controls", sa.Text(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("review_by", sa.Date(), nullable=False),
        sa.Column("raised_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("raised_by", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("reviewed_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("reviewed_by", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("extreme_since", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("sponsor_reviewed_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["qiflow_project.id"],
        ),
        sa.PrimaryKeyConstraint("project_id", "risk"),
    )
    with op.batch_alter_table("qiflow_risk", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_qiflow_risk_band"), ["band"], unique=False)
        batch_op.create_index(batch_op.f("ix_qiflow_risk_owner"), ["owner"], unique=False)
        batch_op.create_index(batch_op.f("ix_qiflow_risk_review_by"), ["review_by"], unique=False)

    op.create_table(
        "qiflow_risk_action",
        sa.Column("project_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("risk", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("action", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("owner", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("due", sa.Date(), nullable=False),
        sa.Column("done_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["project_id", "risk"],
            ["qiflow_risk.project_id", "qiflow_risk.risk"],
            name="fk_qiflow_risk_action_risk",
        ),
        sa.PrimaryKeyConstraint("project_id", "risk", "action"),
    )
    with op.batch_alter_table("qiflow_risk_action", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_qiflow_risk_action_due"), ["due"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("qiflow_risk_action", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_qiflow_risk_action_due"))

    op.drop_table("qiflow_risk_action")
    with op.batch_alter_table("qiflow_risk", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_qiflow_risk_review_by"))
        batch_op.drop_index(batch_op.f("ix_qiflow_risk_owner"))
        batch_op.drop_index(batch_op.f("ix_qiflow_risk_band"))

    op.drop_table("qiflow_risk")
