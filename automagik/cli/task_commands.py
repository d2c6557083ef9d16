"""`tasks list | show | retry | export`."""

from __future__ import annotations

from automagik.cli.output import info, print_fields, print_json, print_table
from automagik.costfmt import format_run_cost, format_tokens, format_usd
from automagik.plural import counted, word_for
from automagik.services import tasks as task_service
from automagik.services.context import AppContext
from automagik.services.errors import InvalidInput
from automagik.services.export import write_tasks_csv
from automagik.services.serialize import duration_seconds, log_to_dict, output_text, task_to_dict
from automagik.services.time_input import parse_time_input
from automagik.timefmt import format_local


def register(groups) -> None:
    tasks = groups.add_parser("tasks", help="the history of runs")
    commands = tasks.add_subparsers(dest="command", metavar="COMMAND", required=True)

    listing = commands.add_parser("list", help="runs, newest first")
    _filter_options(listing)
    listing.add_argument("--limit", type=int, default=50, help="at most this many (default 50)")
    listing.add_argument("--offset", type=int, default=0, help="skip this many first")
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(handler=list_tasks)

    show = commands.add_parser("show", help="one run: input, output, error and log lines")
    show.add_argument("task_id")
    show.add_argument("--json", action="store_true", help="print JSON")
    show.set_defaults(handler=show_task)

    retry = commands.add_parser("retry", help="put a failed run back in the queue")
    retry.add_argument("task_id")
    retry.add_argument("--force", action="store_true", help="retry even if the flow's daily budget is reached")
    retry.add_argument("--json", action="store_true", help="print JSON")
    retry.set_defaults(handler=retry_task)

    prune = commands.add_parser("prune", help="delete finished runs older than an age, with their log lines")
    prune.add_argument("--older-than", required=True, metavar="AGE", help="like 90d, 12w or 36h (planned time)")
    prune.add_argument("--status", action="append", help="completed, failed or skipped (repeatable; default all three)")
    prune.add_argument("--dry-run", action="store_true", help="say how many would go; delete nothing")
    prune.set_defaults(handler=prune_tasks)

    export = commands.add_parser("export", help="write the runs matching the filters to a CSV file")
    _filter_options(export)
    export.add_argument("--output", required=True, help="the CSV file to write")
    export.set_defaults(handler=export_tasks)


def _filter_options(parser) -> None:
    parser.add_argument("--status", action="append", help="pending, running, completed, failed or skipped (repeatable)")
    parser.add_argument("--flow-id")
    parser.add_argument("--schedule-id")
    parser.add_argument(
        "--trigger", action="append", help=f"what queued the run: {', '.join(task_service.TRIGGERS)} (repeatable)"
    )
    parser.add_argument("--since", help="ISO time (planned time ≥ this); no offset = in TIMEZONE")
    parser.add_argument("--until", help="ISO time (planned time < this); no offset = in TIMEZONE")


def _filters(args, zone: str) -> task_service.TaskFilter:
    # `is not None`, not truthiness: `--since "$SINCE"` with SINCE unset is refused by the
    # parser ("it is empty") instead of quietly meaning "no bound".
    times = {
        name: parse_time_input(getattr(args, name), zone, f"--{name}")
        for name in ("since", "until")
        if getattr(args, name) is not None
    }
    return task_service.TaskFilter(
        statuses=_listed(args.status),
        flow_id=args.flow_id,
        schedule_id=args.schedule_id,
        triggers=_listed(args.trigger),
        **times,
    )


def _listed(values: list[str] | None) -> tuple[str, ...]:
    """A repeatable option's values, each of which may also be a comma-separated list."""
    return tuple(s.strip().lower() for value in (values or []) for s in value.split(",") if s.strip())


def _summary(task) -> str:
    return task.error or output_text(task) or ""


def list_tasks(context: AppContext, settings, args) -> int:
    rows = task_service.list_tasks(context.db, _filters(args, settings.timezone), limit=args.limit, offset=args.offset)
    if args.json:
        print_json([task_to_dict(r.task, flow_name=r.flow_name, started_by=r.started_by) for r in rows])
        return 0
    zone = settings.timezone
    print_table(
        (
            "ID",
            "FLOW",
            "STATUS",
            "QUEUED BY",
            f"PLANNED ({zone})",
            "STARTED",
            "DURATION",
            "TRIES",
            "TOKENS",
            "COST",
            "OUTPUT / ERROR",
        ),
        [
            (
                r.task.id,
                r.flow_name,
                r.task.status.value,
                r.task.trigger,
                format_local(r.task.scheduled_for, zone),
                format_local(r.task.started_at, zone),
                f"{duration_seconds(r.task)} s" if duration_seconds(r.task) is not None else None,
                r.task.tries,
                format_tokens(r.task.total_tokens),
                format_usd(r.task.cost_usd),
                _summary(r.task),
            )
            for r in rows
        ],
        empty="No runs match.",
    )
    return 0


def show_task(context: AppContext, settings, args) -> int:
    detail = task_service.get_task(context.db, args.task_id)
    task, zone = detail.task, settings.timezone
    if args.json:
        print_json(
            task_to_dict(
                task,
                flow_name=detail.flow_name,
                logs=[log_to_dict(line) for line in detail.logs],
                started_by=detail.started_by,
                started_runs=[
                    {"id": run.task_id, "flow_name": run.flow_name, "status": run.status} for run in detail.started
                ],
            )
        )
        return 0
    print_fields(
        [
            ("id", task.id),
            ("flow", f"{detail.flow_name} ({task.flow_id})"),
            ("schedule", task.schedule_id or "manual run"),
            ("status", task.status.value),
            ("planned", format_local(task.scheduled_for, zone)),
            ("started", format_local(task.started_at, zone)),
            ("finished", format_local(task.finished_at, zone)),
            ("queued by", task.trigger + (f" (backfill {task.backfill_id})" if task.backfill_id else "")),
            ("chain", detail.started_by and f"{detail.started_by} (task {task.upstream_task_id})"),
            ("runs started", "; ".join(f"{run}: task {run.task_id}" for run in detail.started) or None),
            (
                "flow version",
                f"LangFlow's updated_at {format_local(task.flow_updated_at, zone)}" if task.flow_updated_at else None,
            ),
            ("tries", f"{task.tries} (retries allowed: {task.max_retries})"),
            ("next retry", format_local(task.next_retry_at, zone) if task.status.value == "pending" else None),
            ("tokens in", format_tokens(task.input_tokens)),
            ("tokens out", format_tokens(task.output_tokens)),
            ("tokens total", format_tokens(task.total_tokens)),
            ("model", task.model),
            ("cost", format_run_cost(task.cost_usd, task.total_tokens)),
            ("input", (task.input_data or {}).get("input")),
            ("output", output_text(task)),
            ("error", task.error),
        ]
    )
    if detail.logs:
        info("log:")
        for line in detail.logs:
            info(f"  {format_local(line.created_at, zone)}  {line.level.value:<7}  {line.message}")
    return 0


def retry_task(context: AppContext, settings, args) -> int:
    task = task_service.retry_task(context.db, args.task_id, force=args.force, zone=settings.timezone)
    if args.json:
        print_json(task_to_dict(task))
    else:
        info(f"Task {task.id} is pending again; a running daemon will retry it now.")
    return 0


def export_tasks(context: AppContext, settings, args) -> int:
    filters = _filters(args, settings.timezone)
    try:
        count = write_tasks_csv(context.db, args.output, filters)
    except OSError as exc:
        raise InvalidInput(f"Cannot write {args.output}: {exc.strerror or exc}.") from None
    info(f"Wrote {counted(count, 'run')} to {args.output}.")
    return 0


def prune_tasks(context: AppContext, settings, args) -> int:
    statuses = tuple(s.strip().lower() for value in (args.status or []) for s in value.split(",") if s.strip())
    plan = task_service.plan_prune(context.db, args.older_than, statuses)
    kinds = "/".join(s.value for s in plan.statuses)
    before = f"planned before {format_local(plan.before, settings.timezone)}"
    if args.dry_run:
        info(
            f"Would delete {plan.count:,} {kinds} {word_for(plan.count, 'run')} {before}, "
            "with their log lines (dry run: nothing deleted)."
        )
        return 0
    deleted = task_service.prune(context.db, plan)
    info(f"Deleted {deleted:,} {kinds} {word_for(deleted, 'run')} {before}, with their log lines.")
    return 0
