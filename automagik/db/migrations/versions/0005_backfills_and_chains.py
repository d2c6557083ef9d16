"""backfills of past fires and chains of flows: schedules of type "after", the backfill or
upstream run of each task; a backfill's runs are not held by its schedule's one-run-at-a-time rule;
a reached budget is an incident now (flows.budget_alerted_on goes); the runs list's time
indexes end with the id, its tie-break, so its keyset pages read the index alone

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 05:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

OLD_TYPES = "'interval', 'cron', 'oneshot'"
NEW_TYPES = "'interval', 'cron', 'oneshot', 'after'"


def upgrade() -> None:
    op.create_table(
        "backfills",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("schedule_id", sa.String(length=36), nullable=False),
        sa.Column("range_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("range_to", sa.DateTime(timezone=True), nullable=False),
        sa.Column("only", sa.String(length=16), nullable=False),
        sa.Column("max_parallel", sa.Integer(), nullable=False),
        sa.Column("fires", sa.Integer(), nullable=False),
        sa.Column("queued", sa.Integer(), nullable=False),
        sa.Column("redone", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["schedule_id"], ["schedules.id"], name=op.f("fk_backfills_schedule_id_schedules"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_backfills")),
    )
    op.create_index(op.f("ix_backfills_schedule_id"), "backfills", ["schedule_id"])
    with op.batch_alter_table("flows") as batch:
        batch.drop_column("budget_alerted_on")
    with op.batch_alter_table("schedules") as batch:
        batch.add_column(sa.Column("after_outcome", sa.String(length=16), nullable=True))
        batch.drop_constraint(op.f("ck_schedules_schedule_type"), type_="check")
        batch.create_check_constraint("schedule_type", sa.text(f"schedule_type IN ({NEW_TYPES})"))
    op.create_index(
        "ix_schedules_after",
        "schedules",
        ["schedule_expr"],
        sqlite_where=sa.text("schedule_type = 'after'"),
        postgresql_where=sa.text("schedule_type = 'after'"),
    )
    op.drop_index("uq_tasks_one_running_per_schedule", table_name="tasks")
    with op.batch_alter_table("tasks") as batch:
        batch.add_column(sa.Column("backfill_id", sa.String(length=36), nullable=True))
        batch.add_column(sa.Column("upstream_task_id", sa.String(length=36), nullable=True))
        batch.create_foreign_key(
            op.f("fk_tasks_backfill_id_backfills"), "backfills", ["backfill_id"], ["id"], ondelete="SET NULL"
        )
    op.create_index(
        "uq_tasks_one_running_per_schedule",
        "tasks",
        ["schedule_id"],
        unique=True,
        sqlite_where=sa.text("status = 'running' AND backfill_id IS NULL"),
        postgresql_where=sa.text("status = 'running' AND backfill_id IS NULL"),
    )
    op.create_index(
        "uq_tasks_chain",
        "tasks",
        ["upstream_task_id", "schedule_id"],
        unique=True,
        sqlite_where=sa.text("upstream_task_id IS NOT NULL"),
        postgresql_where=sa.text("upstream_task_id IS NOT NULL"),
    )
    op.create_index(
        "ix_tasks_backfill",
        "tasks",
        ["backfill_id", "status", "scheduled_for"],
        sqlite_where=sa.text("backfill_id IS NOT NULL"),
        postgresql_where=sa.text("backfill_id IS NOT NULL"),
    )
    _time_indexes(widened=True)


# The runs list's order is (scheduled_for, id): with the id in its time indexes, a deep page's
# first key is found over the index alone (services/task_pages.py). A flow's or a schedule's
# run calendar (services/run_calendar.py) counts runs by status and day from the index alone
# too: the flow's index ends with the status, the schedule's with the planned time. Each
# replaces the index of the same name: as many indexes to write as before, a little wider.
WIDENED = {
    "ix_tasks_scheduled_for": (["scheduled_for"], ["scheduled_for", "id"]),
    "ix_tasks_flow_time": (["flow_id", "scheduled_for"], ["flow_id", "scheduled_for", "id", "status"]),
    "ix_tasks_status_time": (["status", "scheduled_for"], ["status", "scheduled_for", "id"]),
    "ix_tasks_schedule_status": (["schedule_id", "status"], ["schedule_id", "status", "scheduled_for"]),
}


def _time_indexes(widened: bool) -> None:
    for name, (before, after) in WIDENED.items():
        op.drop_index(name, table_name="tasks")
        op.create_index(name, "tasks", after if widened else before)


def downgrade() -> None:
    _time_indexes(widened=False)
    op.drop_index("ix_tasks_backfill", table_name="tasks")
    op.drop_index("uq_tasks_chain", table_name="tasks")
    op.drop_index("uq_tasks_one_running_per_schedule", table_name="tasks")
    with op.batch_alter_table("tasks") as batch:
        batch.drop_constraint(op.f("fk_tasks_backfill_id_backfills"), type_="foreignkey")
        batch.drop_column("upstream_task_id")
        batch.drop_column("backfill_id")
    op.create_index(
        "uq_tasks_one_running_per_schedule",
        "tasks",
        ["schedule_id"],
        unique=True,
        sqlite_where=sa.text("status = 'running'"),
        postgresql_where=sa.text("status = 'running'"),
    )
    op.drop_index("ix_schedules_after", table_name="schedules")
    op.execute("DELETE FROM schedules WHERE schedule_type = 'after'")
    with op.batch_alter_table("schedules") as batch:
        batch.drop_constraint(op.f("ck_schedules_schedule_type"), type_="check")
        batch.create_check_constraint("schedule_type", sa.text(f"schedule_type IN ({OLD_TYPES})"))
        batch.drop_column("after_outcome")
    op.drop_index(op.f("ix_backfills_schedule_id"), table_name="backfills")
    op.drop_table("backfills")
    with op.batch_alter_table("flows") as batch:
        batch.add_column(sa.Column("budget_alerted_on", sa.String(length=10), nullable=True))
