"""tokens and cost of every run; flows' daily budgets; LangFlow's own triggers of each flow;
why a schedule was paused; limits per flow, when a limit held a run back, the runs started under a rate limit; what queued each task; incidents, and the failures in a row that alert

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 02:10:00
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.add_column(sa.Column("input_tokens", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("output_tokens", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("total_tokens", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("model", sa.String(length=255), nullable=True))
        batch.add_column(sa.Column("cost_usd", sa.Float(), nullable=True))
        batch.add_column(sa.Column("flow_updated_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("held_since", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("trigger", sa.String(length=16), nullable=False, server_default="schedule"))
    # Manual runs are the runs without a schedule (a manual run of a schedule cannot be told apart).
    op.execute("UPDATE tasks SET trigger = 'manual' WHERE schedule_id IS NULL")
    op.create_index("ix_tasks_flow_finished", "tasks", ["flow_id", "finished_at"])
    op.create_table(
        "langflow_starts",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_langflow_starts")),
    )
    op.create_index("ix_langflow_starts_started_at", "langflow_starts", ["started_at"])
    with op.batch_alter_table("schedules") as batch:
        batch.add_column(sa.Column("paused_reason", sa.Text(), nullable=True))
        batch.add_column(sa.Column("alert_after_failures", sa.Integer(), nullable=False, server_default="1"))
    op.create_table(
        "incidents",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("subject", sa.String(length=128), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cleared_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incidents")),
    )
    op.create_index(
        "uq_incidents_open",
        "incidents",
        ["kind", "subject"],
        unique=True,
        sqlite_where=sa.text("cleared_at IS NULL"),
        postgresql_where=sa.text("cleared_at IS NULL"),
    )
    with op.batch_alter_table("flows") as batch:
        batch.add_column(sa.Column("daily_budget_usd", sa.Float(), nullable=True))
        batch.add_column(sa.Column("budget_alerted_on", sa.String(length=10), nullable=True))
        batch.add_column(sa.Column("max_concurrency", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("langflow_triggers", sa.JSON().with_variant(JSONB(), "postgresql"), nullable=True))


def downgrade() -> None:
    op.drop_index("uq_incidents_open", table_name="incidents")
    op.drop_table("incidents")
    with op.batch_alter_table("schedules") as batch:
        batch.drop_column("alert_after_failures")
        batch.drop_column("paused_reason")
    op.drop_index("ix_langflow_starts_started_at", table_name="langflow_starts")
    op.drop_table("langflow_starts")
    op.drop_index("ix_tasks_flow_finished", table_name="tasks")
    with op.batch_alter_table("flows") as batch:
        batch.drop_column("langflow_triggers")
        batch.drop_column("max_concurrency")
        batch.drop_column("budget_alerted_on")
        batch.drop_column("daily_budget_usd")
    with op.batch_alter_table("tasks") as batch:
        for name in (
            "trigger",
            "held_since",
            "flow_updated_at",
            "cost_usd",
            "model",
            "total_tokens",
            "output_tokens",
            "input_tokens",
        ):
            batch.drop_column(name)
