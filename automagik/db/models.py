"""ORM models: flows, schedules, tasks and their log lines.

Every time column is a UTCDateTime: stored as UTC, read back timezone-aware. Statuses are
stored as short strings with a CHECK constraint (portable across SQLite and PostgreSQL).
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from sqlalchemy import (
    BigInteger,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from automagik.db.types import JSONDocument, UTCDateTime
from automagik.scheduling.types import ScheduleType

# Named constraints keep Alembic migrations deterministic on both databases.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)

    if TYPE_CHECKING:
        # SQLAlchemy types __table__ as any FromClause (a class may be mapped to a subquery);
        # every model here declares its own table, so it is a Table, which Core's insert()
        # and update() take. Declared for the checker only: the runtime attribute is unchanged.
        __table__: ClassVar[Table]


def new_id() -> str:
    return str(uuid.uuid4())


class ScheduleStatus(str, enum.Enum):
    ACTIVE = "active"  # fires when next_run_at comes
    PAUSED = "paused"  # kept, never fires until resumed
    COMPLETED = "completed"  # a oneshot whose single fire was recorded


class TaskStatus(str, enum.Enum):
    PENDING = "pending"  # waiting for a daemon (first try or a retry at next_retry_at)
    RUNNING = "running"  # a daemon holds it under a lease
    COMPLETED = "completed"  # LangFlow answered with the chosen component's output
    FAILED = "failed"  # failed for good: permanent error or retries used up
    SKIPPED = "skipped"  # a fire that was not run (its previous run was still going)

    @property
    def is_terminal(self) -> bool:
        return self in (TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.SKIPPED)


class MissedRunPolicy(str, enum.Enum):
    COALESCE = "coalesce"  # after downtime, one run for the latest missed fire
    SKIP = "skip"  # after downtime, no run; wait for the next fire
    ALL = "all"  # after downtime, one run per missed fire (capped)


class LogLevel(str, enum.Enum):
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


def _enum(cls: type[enum.Enum], name: str) -> Enum:
    return Enum(
        cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=16,
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
    )


class Flow(Base):
    """A LangFlow flow as the scheduler needs it: names, chosen components, trimmed graph facts."""

    __tablename__ = "flows"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    # description, LangFlow's updated_at, endpoint_name, components [{id, type, display_name, role}]
    data: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)
    input_component: Mapped[str | None] = mapped_column(String(128))
    output_component: Mapped[str | None] = mapped_column(String(128))
    synced_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set when a sync saw the flow change in LangFlow (its graph or name).
    changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set when a sync no longer found the flow in LangFlow; cleared if it comes back.
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Once the runs planned today (in TIMEZONE) have cost this much, the day's further fires are
    # skipped (automagik.costs.budgets); NULL: no budget.
    daily_budget_usd: Mapped[float | None] = mapped_column(Float)
    # Runs of this flow in flight at once, across every daemon (automagik.runs.limits); NULL: no limit.
    max_concurrency: Mapped[int | None] = mapped_column(Integer)
    # LangFlow's own triggers of the flow as the last sync read them (langflow/triggers.py);
    # NULL when that LangFlow has none to read. Kept apart from `data`: a trigger's state and
    # next fire change without the flow changing.
    langflow_triggers: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONDocument)

    schedules: Mapped[list[Schedule]] = relationship(back_populates="flow")

    @property
    def components(self) -> list[dict[str, Any]]:
        return list((self.data or {}).get("components") or [])

    def components_with_role(self, role: str) -> list[dict[str, Any]]:
        return [c for c in self.components if c.get("role") == role]

    @property
    def is_ready(self) -> bool:
        """Whether runs can be sent: both components chosen and the flow still in LangFlow."""
        return bool(self.input_component and self.output_component and self.removed_at is None)


class Schedule(Base):
    __tablename__ = "schedules"
    __table_args__ = (
        Index("ix_schedules_due", "status", "next_run_at"),
        # Which chains follow a flow is asked whenever one of its runs ends.
        Index(
            "ix_schedules_after",
            "schedule_expr",
            sqlite_where=text("schedule_type = 'after'"),
            postgresql_where=text("schedule_type = 'after'"),
        ),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    flow_id: Mapped[str] = mapped_column(ForeignKey("flows.id", ondelete="CASCADE"), index=True)
    schedule_type: Mapped[ScheduleType] = mapped_column(_enum(ScheduleType, "schedule_type"))
    schedule_expr: Mapped[str] = mapped_column(String(255))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    # Interval grids are anchored here (fires at anchor + k * every), so runs never drift.
    anchor_at: Mapped[datetime] = mapped_column(UTCDateTime)
    flow_params: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)
    next_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[ScheduleStatus] = mapped_column(_enum(ScheduleStatus, "schedule_status"))
    max_retries: Mapped[int] = mapped_column(Integer, default=3)
    timeout_seconds: Mapped[int | None] = mapped_column(Integer)
    missed_policy: Mapped[MissedRunPolicy] = mapped_column(_enum(MissedRunPolicy, "missed_policy"))
    last_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Failures for good in a row that make one alert (1: every failure alerts; see monitoring).
    alert_after_failures: Mapped[int] = mapped_column(Integer, default=1)
    # Why Automagik paused it (its flow or chosen component gone from LangFlow); NULL when a
    # person paused it or it is not paused. A resume clears it.
    paused_reason: Mapped[str | None] = mapped_column(Text)
    # For a schedule of type "after" (its schedule_expr is the upstream flow's id): which ends
    # of an upstream run start one: "completed", "failed" or "finished" (either). NULL otherwise.
    after_outcome: Mapped[str | None] = mapped_column(String(16))

    flow: Mapped[Flow] = relationship(back_populates="schedules")


class Task(Base):
    """One run of a flow: a schedule's fire, a manual run, with its retries on the same row."""

    __tablename__ = "tasks"
    __table_args__ = (
        # One fire can never become two tasks, whatever daemons race for it.
        UniqueConstraint("schedule_id", "scheduled_for", name="uq_tasks_schedule_fire"),
        Index("ix_tasks_due", "status", "next_retry_at"),
        Index("ix_tasks_lease", "status", "lease_until"),
        # The runs list's order, newest planned first with the id breaking ties, alone and
        # under a flow or status filter: a deep page's first key is read from the index alone.
        # A flow's run calendar counts its runs by day and status from its index alone.
        Index("ix_tasks_scheduled_for", "scheduled_for", "id"),
        Index("ix_tasks_flow_time", "flow_id", "scheduled_for", "id", "status"),
        # What a flow's runs cost today (its daily budget) is summed at every fire of it.
        Index("ix_tasks_flow_finished", "flow_id", "finished_at"),
        Index("ix_tasks_status_time", "status", "scheduled_for", "id"),
        # "Is a run of this schedule still going?" is asked at every fire; a schedule's run
        # calendar counts its runs by status and day from this index alone.
        Index("ix_tasks_schedule_status", "schedule_id", "status", "scheduled_for"),
        # A schedule never has two runs at once, even when two daemons claim its tasks together.
        # A backfill's runs are a stream of their own, limited by the backfill's max_parallel.
        Index(
            "uq_tasks_one_running_per_schedule",
            "schedule_id",
            unique=True,
            sqlite_where=text("status = 'running' AND backfill_id IS NULL"),
            postgresql_where=text("status = 'running' AND backfill_id IS NULL"),
        ),
        # One run of a chain per upstream run, whatever daemons race or crash.
        Index(
            "uq_tasks_chain",
            "upstream_task_id",
            "schedule_id",
            unique=True,
            sqlite_where=text("upstream_task_id IS NOT NULL"),
            postgresql_where=text("upstream_task_id IS NOT NULL"),
        ),
        # A backfill's waiting runs, oldest fire first (the claim takes them after all else due).
        Index(
            "ix_tasks_backfill",
            "backfill_id",
            "status",
            "scheduled_for",
            sqlite_where=text("backfill_id IS NOT NULL"),
            postgresql_where=text("backfill_id IS NOT NULL"),
        ),
        # The overview's cost sums (automagik.services.usage) read this index alone: it holds
        # only the runs that reported tokens, by finish time, with every column summed.
        Index(
            "ix_tasks_usage",
            "finished_at",
            "flow_id",
            "total_tokens",
            "input_tokens",
            "output_tokens",
            "cost_usd",
            sqlite_where=text("total_tokens IS NOT NULL"),
            postgresql_where=text("total_tokens IS NOT NULL"),
        ),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    flow_id: Mapped[str] = mapped_column(ForeignKey("flows.id", ondelete="CASCADE"))
    # NULL for manual runs, and for runs of a schedule deleted since (the history stays).
    schedule_id: Mapped[str | None] = mapped_column(ForeignKey("schedules.id", ondelete="SET NULL"))
    status: Mapped[TaskStatus] = mapped_column(_enum(TaskStatus, "task_status"))
    input_data: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument)
    error: Mapped[str | None] = mapped_column(Text)
    tries: Mapped[int] = mapped_column(Integer, default=0)
    max_retries: Mapped[int] = mapped_column(Integer, default=3)
    timeout_seconds: Mapped[int | None] = mapped_column(Integer)
    scheduled_for: Mapped[datetime] = mapped_column(UTCDateTime)
    next_retry_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claimed_by: Mapped[str | None] = mapped_column(String(128))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # What the run's messages reported using, and its price (automagik.costs); all NULL when
    # LangFlow reported no usage. cost_usd is also NULL when a model's price is unknown.
    input_tokens: Mapped[int | None] = mapped_column(Integer)
    output_tokens: Mapped[int | None] = mapped_column(Integer)
    total_tokens: Mapped[int | None] = mapped_column(Integer)
    model: Mapped[str | None] = mapped_column(String(255))
    cost_usd: Mapped[float | None] = mapped_column(Float)
    # LangFlow's updated_at of the flow its last try ran against (as the last sync read it).
    flow_updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # What queued it last: "schedule" (a fire), "manual", "retry" (a person's), "backfill" or
    # "chain" (another run's end).
    trigger: Mapped[str] = mapped_column(String(16), default="schedule")
    # The backfill that queued or redid it (its parallelism limit); NULL for any other run.
    backfill_id: Mapped[str | None] = mapped_column(ForeignKey("backfills.id", ondelete="SET NULL"))
    # For a chain's run: the task whose end started it. A plain id, not a key: the upstream
    # run may be pruned while this one's history stays.
    upstream_task_id: Mapped[str | None] = mapped_column(String(36))
    # When a limit first held it back (automagik.runs.limits); NULL if it never waited.
    held_since: Mapped[datetime | None] = mapped_column(UTCDateTime)

    flow: Mapped[Flow] = relationship()
    logs: Mapped[list[TaskLog]] = relationship(order_by="TaskLog.id", passive_deletes=True)


class Backfill(Base):
    """One request to run a schedule's past fires in a range (automagik.runs.backfill)."""

    __tablename__ = "backfills"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    schedule_id: Mapped[str] = mapped_column(ForeignKey("schedules.id", ondelete="CASCADE"), index=True)
    range_from: Mapped[datetime] = mapped_column(UTCDateTime)  # included
    range_to: Mapped[datetime] = mapped_column(UTCDateTime)  # excluded
    only: Mapped[str] = mapped_column(String(16))  # "missing", "failed" or "all"
    # Runs of this backfill in flight at once, across every daemon.
    max_parallel: Mapped[int] = mapped_column(Integer, default=1)
    fires: Mapped[int] = mapped_column(Integer)  # the schedule's fires in the range
    queued: Mapped[int] = mapped_column(Integer)  # new tasks for fires that had none
    redone: Mapped[int] = mapped_column(Integer)  # failed tasks tried again
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Incident(Base):
    """Something wrong that lasts, opened and cleared once (automagik.monitoring.incidents)."""

    __tablename__ = "incidents"
    __table_args__ = (
        # One open incident per kind and subject, however many daemons notice it.
        Index(
            "uq_incidents_open",
            "kind",
            "subject",
            unique=True,
            sqlite_where=text("cleared_at IS NULL"),
            postgresql_where=text("cleared_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    kind: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str] = mapped_column(String(128))  # a daemon's or schedule's id; "" for all
    message: Mapped[str] = mapped_column(Text)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime)
    cleared_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class LangFlowStart(Base):
    """One row per run started on LangFlow while a rate limit is set (automagik.runs.limits):
    a task keeps only its latest start, but a retry is a start too. Rows older than the limit's
    minute are deleted by the claims that write new ones."""

    __tablename__ = "langflow_starts"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class TaskLog(Base):
    __tablename__ = "task_logs"
    __table_args__ = (Index("ix_task_logs_task", "task_id", "id"),)

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    task_id: Mapped[str] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"))
    level: Mapped[LogLevel] = mapped_column(_enum(LogLevel, "log_level"))
    message: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class DaemonHeartbeat(Base):
    """One row per scheduler daemon process, refreshed while it lives (shown on the dashboard)."""

    __tablename__ = "daemons"

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    version: Mapped[str] = mapped_column(String(32))
    workers: Mapped[int] = mapped_column(Integer)
    in_flight: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    # Set by a clean shutdown; a row with neither a recent last_seen nor stopped_at is a daemon that died.
    stopped_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
