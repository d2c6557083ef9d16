"""`schedules create | update | list | show | pause | resume | delete | pause-all | resume-all`;
`preview` and `backfill` are in fire_commands.py."""

from __future__ import annotations

import json

from automagik.cli import fire_commands
from automagik.cli.fire_commands import timing_options
from automagik.cli.output import info, print_fields, print_json, print_table, warn
from automagik.plural import counted
from automagik.scheduling import fires_on_time
from automagik.services import schedules as schedule_service
from automagik.services import tasks as task_service
from automagik.services.context import AppContext
from automagik.services.errors import InvalidInput
from automagik.services.flow_input import placeholder_help
from automagik.services.serialize import iso, schedule_to_dict
from automagik.services.triggers import double_run_warning
from automagik.timefmt import format_local


def register(groups) -> None:
    schedules = groups.add_parser("schedules", help="when flows run")
    commands = schedules.add_subparsers(dest="command", metavar="COMMAND", required=True)

    create = commands.add_parser("create", help="schedule a flow")
    create.add_argument("flow_id")
    timing_options(create)
    create.add_argument("--input", default=None, help=INPUT_HELP)
    create.add_argument(
        "--max-retries", type=int, default=3, help="retries of a run after a transient error (default 3)"
    )
    create.add_argument("--timeout", type=int, default=None, help="seconds a run may take (default: the daemon's)")
    create.add_argument("--missed", default="coalesce", help="after downtime: coalesce (default), skip or all")
    create.add_argument(
        "--alert-after-failures",
        type=int,
        default=1,
        metavar="N",
        help="alert once when N runs in a row fail for good (default 1: every failure alerts)",
    )
    create.add_argument(
        "--on",
        default=None,
        metavar="OUTCOME",
        help="type after: completed (default), failed or finished (either) runs of the flow start one",
    )
    create.add_argument("--json", action="store_true", help="print JSON")
    create.set_defaults(handler=create_schedule)

    update = commands.add_parser("update", help="change a schedule; a new type, expression or zone restarts its timing")
    update.add_argument("schedule_id")
    update.add_argument("--type", help="interval, cron, oneshot or after")
    update.add_argument(
        "--expr",
        help="the new expression, as for create (a oneshot time is read in the zone; "
        "for after, the flow id it follows)",
    )
    update.add_argument("--timezone", help="IANA zone for cron and oneshot")
    update.add_argument("--input", help="JSON, as for create; " + placeholder_help(chains=True))
    update.add_argument("--max-retries", type=int)
    update.add_argument("--timeout", type=int, help="seconds a run may take")
    update.add_argument("--missed", help="coalesce, skip or all")
    update.add_argument("--alert-after-failures", type=int, metavar="N", help="failures in a row that alert once")
    update.add_argument("--on", metavar="OUTCOME", help="type after: completed, failed or finished")
    update.add_argument("--json", action="store_true", help="print JSON")
    update.set_defaults(handler=update_schedule)

    listing = commands.add_parser("list", help="all schedules, soonest first")
    listing.add_argument("--status", choices=("active", "paused", "completed"))
    listing.add_argument("--flow-id")
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(handler=list_schedules)

    for name, handler, text in (
        ("show", show_schedule, "one schedule, its next fires and last runs"),
        ("pause", pause_schedule, "stop a schedule firing (kept)"),
        ("resume", resume_schedule, "let a paused schedule fire again, from now on"),
        ("delete", delete_schedule, "delete a schedule (its run history stays)"),
    ):
        command = commands.add_parser(name, help=text)
        command.add_argument("schedule_id")
        command.add_argument("--json", action="store_true", help="print JSON")
        command.set_defaults(handler=handler)

    pause_all = commands.add_parser("pause-all", help="pause every active schedule")
    pause_all.set_defaults(handler=pause_all_schedules)
    resume_all = commands.add_parser("resume-all", help="resume every paused schedule")
    resume_all.set_defaults(handler=resume_all_schedules)

    fire_commands.register(commands)


INPUT_HELP = 'JSON, like \'{"input": "message"}\' (optional "tweaks"); ' + placeholder_help(chains=True)


def create_schedule(context: AppContext, settings, args) -> int:
    schedule = schedule_service.create_schedule(
        context.db,
        schedule_service.ScheduleSpec(
            flow_id=args.flow_id,
            schedule_type=args.type,
            schedule_expr=args.expr,
            flow_input=args.input,
            timezone=args.timezone,
            max_retries=args.max_retries,
            timeout_seconds=args.timeout,
            missed_policy=args.missed,
            alert_after_failures=args.alert_after_failures,
            after_outcome=args.on,
        ),
        default_timezone=settings.timezone,
    )
    double = double_run_warning(context.db, schedule.flow_id)
    if double:
        warn(double)
    if args.json:
        print_json(schedule_to_dict(schedule))
        return 0
    info(f"Created schedule {schedule.id}: {_describe(context, schedule)}{_next_run(schedule, settings)}.")
    return 0


# update's options and the update_schedule argument each one sets; an option left out changes nothing.
_UPDATE_OPTIONS = {
    "type": "schedule_type",
    "expr": "schedule_expr",
    "timezone": "timezone",
    "input": "flow_input",
    "max_retries": "max_retries",
    "timeout": "timeout_seconds",
    "missed": "missed_policy",
    "alert_after_failures": "alert_after_failures",
    "on": "after_outcome",
}


def update_schedule(context: AppContext, settings, args) -> int:
    changes = {
        name: getattr(args, option) for option, name in _UPDATE_OPTIONS.items() if getattr(args, option) is not None
    }
    if not changes:
        raise InvalidInput(
            "Nothing to change: give at least one of --type, --expr, --timezone, --input, --max-retries, --timeout, "
            "--missed, --alert-after-failures or --on."
        )
    schedule = schedule_service.update_schedule(context.db, args.schedule_id, **changes)
    if args.json:
        print_json(schedule_to_dict(schedule))
        return 0
    info(
        f"Updated schedule {schedule.id}: {_describe(context, schedule)}, {schedule.status.value}"
        f"{_next_run(schedule, settings)}."
    )
    return 0


def _describe(context: AppContext, schedule) -> str:
    return schedule_service.describe_schedule(context.db, schedule)


def _next_run(schedule, settings) -> str:
    """ "; next run 2026-12-01 09:00 CET", or nothing for a schedule that has no times (after)."""
    if not fires_on_time(schedule.schedule_type):
        return ""
    return f"; next run {format_local(schedule.next_run_at, settings.timezone)}"


def list_schedules(context: AppContext, settings, args) -> int:
    rows = schedule_service.list_schedules(context.db, status=args.status, flow_id=args.flow_id)
    if args.json:
        print_json(
            [
                schedule_to_dict(
                    r.schedule,
                    flow_name=r.flow_name,
                    last_status=r.last_status,
                    when=r.when,
                    upstream_flow_name=r.upstream_name,
                )
                for r in rows
            ]
        )
        return 0
    print_table(
        ("ID", "FLOW", "TYPE", "EXPRESSION", "ZONE", "STATUS", f"NEXT RUN ({settings.timezone})", "LAST RUN", "WHEN"),
        [
            (
                r.schedule.id,
                r.flow_name,
                r.schedule.schedule_type.value,
                r.schedule.schedule_expr,
                r.schedule.timezone,
                r.schedule.status.value,
                format_local(r.schedule.next_run_at, settings.timezone) if r.schedule.status.value == "active" else "-",
                r.last_status,
                r.when,
            )
            for r in rows
        ],
        empty="No schedules yet: create one with `schedules create --type interval --expr 5m FLOW_ID`.",
    )
    return 0


def show_schedule(context: AppContext, settings, args) -> int:
    schedule = schedule_service.get_schedule(context.db, args.schedule_id)
    recent = task_service.list_tasks(context.db, task_service.TaskFilter(schedule_id=schedule.id), limit=5)
    upcoming = []
    if schedule.status.value == "active" and schedule.next_run_at is not None:
        trigger = schedule_service.schedule_trigger(schedule)
        upcoming = [schedule.next_run_at]
        while len(upcoming) < 5 and (following := trigger.next_fire_after(upcoming[-1])) is not None:
            upcoming.append(following)
    if args.json:
        print_json(
            schedule_to_dict(
                schedule,
                next_fires=[iso(t) for t in upcoming],
                recent_task_ids=[r.task.id for r in recent],
                when=_describe(context, schedule),
            )
        )
        return 0
    zone = settings.timezone
    print_fields(
        [
            ("id", schedule.id),
            ("flow", schedule.flow_id),
            ("when", _describe(context, schedule)),
            ("status", schedule.status.value + (f" ({schedule.paused_reason})" if schedule.paused_reason else "")),
            ("input", json.dumps(schedule.flow_params, ensure_ascii=False)),  # the template, as stored
            ("max retries", schedule.max_retries),
            ("timeout", f"{schedule.timeout_seconds} s" if schedule.timeout_seconds else "daemon default"),
            ("missed runs", schedule.missed_policy.value),
            (
                "alerts",
                "every failure for good"
                if schedule.alert_after_failures <= 1
                else f"once after {schedule.alert_after_failures} failures in a row",
            ),
            ("last run", format_local(schedule.last_run_at, zone)),
            (
                "next fires",
                ", ".join(format_local(t, zone) for t in upcoming) or "-"
                if fires_on_time(schedule.schedule_type)
                else "none of its own: started by the runs it follows",
            ),
            ("created", format_local(schedule.created_at, zone)),
        ]
    )
    for row in recent:
        info(f"  {format_local(row.task.scheduled_for, zone)}  {row.task.status.value}  task {row.task.id}")
    return 0


def _print_one(schedule, settings, args, verb: str) -> int:
    if args.json:
        print_json(schedule_to_dict(schedule))
    else:
        extra = _next_run(schedule, settings) if verb == "resumed" else ""
        info(f"Schedule {schedule.id} {verb}{extra}.")
    return 0


def pause_schedule(context: AppContext, settings, args) -> int:
    return _print_one(schedule_service.pause_schedule(context.db, args.schedule_id), settings, args, "paused")


def resume_schedule(context: AppContext, settings, args) -> int:
    return _print_one(schedule_service.resume_schedule(context.db, args.schedule_id), settings, args, "resumed")


def delete_schedule(context: AppContext, _settings, args) -> int:
    deleted = schedule_service.delete_schedule(context.db, args.schedule_id)
    if args.json:
        print_json({"id": deleted, "deleted": True})
    else:
        info(f"Schedule {deleted} deleted; its past runs stay in the task history.")
    return 0


def pause_all_schedules(context: AppContext, _settings, _args) -> int:
    info(f"Paused {counted(schedule_service.pause_all(context.db), 'schedule')}.")
    return 0


def resume_all_schedules(context: AppContext, _settings, _args) -> int:
    resumed, refused = schedule_service.resume_all(context.db)
    info(f"Resumed {counted(resumed, 'schedule')}.")
    for reason in refused:
        info(f"- not resumed: {reason}")
    return 0
