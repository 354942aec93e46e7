"""initial schema: projects, the append-only hash-chained event trail, PDSA, measures

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "counter",
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=50), nullable=False),
        sa.Column("value", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "idempotency",
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("project_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("command", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("result", sa.Text(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_table(
        "project",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("ref", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("workflow", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("workflow_version", sa.Integer(), nullable=False),
        sa.Column("state", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("previous_state", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("owner", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("sponsor", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("directorate", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("team", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("aim", sa.Text(), nullable=True),
        sa.Column("quality_objectives", sa.JSON(), nullable=False),
        sa.Column("primary_outcome", sa.Text(), nullable=True),
        sa.Column("secondary_outcomes", sa.JSON(), nullable=False),
        sa.Column("expected_saving", sa.Integer(), nullable=True),
        sa.Column("scale", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("learning", sa.Text(), nullable=True),
        sa.Column("current_cycle", sa.Integer(), nullable=False),
        sa.Column("next_review_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("event_count", sa.Integer(), nullable=False),
        sa.Column("head_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("number"),
        sa.UniqueConstraint("ref"),
    )
    with op.batch_alter_table("project", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_project_directorate"), ["directorate"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_project_next_review_at"), ["next_review_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_project_owner"), ["owner"], unique=False)
        batch_op.create_index(batch_op.f("ix_project_state"), ["state"], unique=False)

    op.create_table(
        "workflow_definition",
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("sha256", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("loaded_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", "version"),
    )
    op.create_table(
        "event",
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("project_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("pos", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("type", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("actor", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("prev_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["project.id"],
        ),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("project_id", "pos", name="uq_event_project_pos"),
    )
    op.create_table(
        "measure",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("unit", sqlmodel.sql.sqltypes.AutoString(length=50), nullable=False),
        sa.Column("direction", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["project.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("project_id", "name", name="uq_measure_project_name"),
    )
    op.create_table(
        "pdsa_cycle",
        sa.Column("project_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("plan", sa.Text(), nullable=True),
        sa.Column("prediction", sa.Text(), nullable=True),
        sa.Column("observations", sa.JSON(), nullable=False),
        sa.Column("study", sa.Text(), nullable=True),
        sa.Column("act", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["project.id"],
        ),
        sa.PrimaryKeyConstraint("project_id", "number"),
    )
    op.create_table(
        "data_point",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("measure_id", sa.Integer(), nullable=False),
        sa.Column("observed_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["measure_id"],
            ["measure.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("data_point", schema=None) as batch_op:
        batch_op.create_index(
            "ix_data_point_measure_observed", ["measure_id", "observed_at"], unique=False
        )

    append_only_events()


def append_only_events() -> None:
    """The audit trail is append-only in the database too, not only by convention."""
    if op.get_bind().dialect.name == "sqlite":
        for action in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER event_append_only_{action.lower()} BEFORE {action} ON event "
                "BEGIN SELECT RAISE(ABORT, 'the event table is append-only'); END"
            )
    else:
        op.execute(
            "CREATE FUNCTION qiflow_event_append_only() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'the event table is append-only'; END $$"
        )
        op.execute(
            "CREATE TRIGGER event_append_only BEFORE UPDATE OR DELETE ON event "
            "FOR EACH ROW EXECUTE FUNCTION qiflow_event_append_only()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER event_append_only_update")
        op.execute("DROP TRIGGER event_append_only_delete")
    else:
        op.execute("DROP TRIGGER event_append_only ON event")
        op.execute("DROP FUNCTION qiflow_event_append_only()")
    with op.batch_alter_table("data_point", schema=None) as batch_op:
        batch_op.drop_index("ix_data_point_measure_observed")

    op.drop_table("data_point")
    op.drop_table("pdsa_cycle")
    op.drop_table("measure")
    op.drop_table("event")
    op.drop_table("workflow_definition")
    with op.batch_alter_table("project", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_project_state"))
        batch_op.drop_index(batch_op.f("ix_project_owner"))
        batch_op.drop_index(batch_op.f("ix_project_next_review_at"))
        batch_op.drop_index(batch_op.f("ix_project_directorate"))

    op.drop_table("project")
    op.drop_table("idempotency")
    op.drop_table("counter")
