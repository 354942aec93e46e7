"""driver diagrams, project teams, and the change ideas a PDSA cycle tests

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "qiflow_driver_node",
        sa.Column("project_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("node_id", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("parents", sa.JSON(), nullable=False),
        sa.Column("measures", sa.JSON(), nullable=False),
        sa.Column("removed", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["qiflow_project.id"]),
        sa.PrimaryKeyConstraint("project_id", "node_id"),
    )
    op.create_table(
        "qiflow_team_member",
        sa.Column("project_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("person", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("role", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["qiflow_project.id"]),
        sa.PrimaryKeyConstraint("project_id", "person", "role"),
    )
    with op.batch_alter_table("qiflow_pdsa_cycle") as batch_op:
        batch_op.add_column(sa.Column("tests", sa.JSON(), nullable=False, server_default="[]"))


def downgrade() -> None:
    with op.batch_alter_table("qiflow_pdsa_cycle") as batch_op:
        batch_op.drop_column("tests")
    op.drop_table("qiflow_team_member")
    op.drop_table("qiflow_driver_node")
