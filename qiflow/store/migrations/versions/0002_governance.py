"""governance: people, sign-offs, programme status

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "person",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("email", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=True),
        sa.Column("directorate", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("roles", sa.JSON(), nullable=False),
        sa.Column("deputy_for", sa.JSON(), nullable=False),
        sa.Column("channels", sa.JSON(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "signoff",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("gate", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("stage", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("form", sa.Text(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("roles", sa.JSON(), nullable=False),
        sa.Column("mode", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("valid_for", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("requested_by", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("requested_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("requested_version", sa.Integer(), nullable=False),
        sa.Column("decided_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("valid_until", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["project.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("project_id", "gate", "round", name="uq_signoff_round"),
    )
    with op.batch_alter_table("signoff", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_signoff_valid_until"), ["valid_until"], unique=False)

    op.create_table(
        "signoff_decision",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("signoff_id", sa.Integer(), nullable=False),
        sa.Column("role", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("approver", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("delegated_by", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("decision", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("decided_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["signoff_id"],
            ["signoff.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("signoff_id", "role", name="uq_decision_role"),
    )
    with op.batch_alter_table("project", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "lead_executive_sponsor",
                sqlmodel.sql.sqltypes.AutoString(length=200),
                nullable=True,
            )
        )
        batch_op.add_column(
            sa.Column("qi_sponsor", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True)
        )
        batch_op.add_column(
            sa.Column(
                "programme_status",
                sqlmodel.sql.sqltypes.AutoString(length=20),
                nullable=False,
                server_default="none",
            )
        )
        batch_op.add_column(sa.Column("escalation_dismissed", sa.JSON(), nullable=True))
        batch_op.add_column(
            sa.Column("state_entered_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True)
        )
        batch_op.add_column(sa.Column("state_entered_version", sa.Integer(), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_project_programme_status"), ["programme_status"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("project", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_project_programme_status"))
        batch_op.drop_column("state_entered_version")
        batch_op.drop_column("state_entered_at")
        batch_op.drop_column("escalation_dismissed")
        batch_op.drop_column("programme_status")
        batch_op.drop_column("qi_sponsor")
        batch_op.drop_column("lead_executive_sponsor")

    op.drop_table("signoff_decision")
    with op.batch_alter_table("signoff", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_signoff_valid_until"))

    op.drop_table("signoff")
    op.drop_table("person")
