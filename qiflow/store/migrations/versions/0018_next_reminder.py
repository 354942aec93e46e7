"""each project keeps when its next review reminder stage falls due

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-01

The reminder sweep read every project past its review date on every sweep and
re-inserted its reminders for the unique key to drop, so an idle daemon worked in
proportion to the whole overdue backlog. ``next_reminder_at`` holds when the next stage
(owner, sponsor, transformation team) falls due; the sweep reads only projects at or
past it and moves it on. It starts equal to ``next_review_at``, so the first sweep after
the upgrade looks at every overdue project once (its reminders already sent are not
sent again: the outbox's unique key still holds). Daemons need not be stopped: an older
daemon ignores the column and keeps sweeping as before.
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("qiflow_project") as batch_op:
        batch_op.add_column(
            sa.Column("next_reminder_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True)
        )
        batch_op.create_index("ix_qiflow_project_next_reminder_at", ["next_reminder_at"])
    op.execute("UPDATE qiflow_project SET next_reminder_at = next_review_at")


def downgrade() -> None:
    with op.batch_alter_table("qiflow_project") as batch_op:
        batch_op.drop_index("ix_qiflow_project_next_reminder_at")
        batch_op.drop_column("next_reminder_at")
