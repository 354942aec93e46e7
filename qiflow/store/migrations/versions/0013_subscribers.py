"""durable event subscribers; event notices become the subscriber ``qiflow.notices``

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01

The notice cursor (the counter ``event_notices``) moves to the subscriber
``qiflow.notices``. A database whose notices never ran gets no row: the first sweep
starts from the events committed by then ("now"), never from the first event.
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "qiflow_subscriber",
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("retry_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("claimed_by", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("lease_until", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("name"),
    )
    op.execute(
        "INSERT INTO qiflow_subscriber (name, position, created_at, updated_at, failures) "
        "SELECT 'qiflow.notices', value, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 0 "
        "FROM qiflow_counter WHERE name = 'event_notices'"
    )
    op.execute("DELETE FROM qiflow_counter WHERE name = 'event_notices'")


def downgrade() -> None:
    op.execute(
        "INSERT INTO qiflow_counter (name, value) "
        "SELECT 'event_notices', position FROM qiflow_subscriber WHERE name = 'qiflow.notices'"
    )
    op.drop_table("qiflow_subscriber")
