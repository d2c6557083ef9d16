"""`schedules create | update | list | show | pause | resume | delete | pause-all | resume-all | preview |
backfill`."""

from __future__ import annotations

import argparse
import json

from automagik.cli.output import info, print_fields, print_json, print_table, warn
from automagik.clock import utcnow
from automagik.plural import counted
from automagik.scheduling import InvalidSchedule, describe, fires_on_time
from automagik.services import backfill as backfill_service
from automagik.services import schedules as schedule_service
from automagik.services import tasks as task_service
from automagik.services.context import AppContext
from automagik.services.errors import InvalidInput
from automagik.services.flow_input import placeholder_help
from automagik.services.flows import get_flow
from automagik.services.input_preview import preview_input
from automagik.services.serialize import backfill_to_dict, iso, schedule_to_dict
from automagik.services.time_input import parse_time_input
from automagik.services.triggers import double_run_warning
from automagik.timefmt import format_local


def register(groups) -> None:
    schedules = groups.add_parser("schedules", help="when flows run")
    commands = schedules.add_subparsers(dest="command", metavar="COMMAND", required=True)

    create = commands.add_parser("create", help="schedule a flow")
    create.add_argument("flow_id")
    _timing_options(create)
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

    preview = commands.add_parser(
        "preview",
        help="print the next fires of an expression and, with --input, what the next one would send; "
        "creating nothing",
    )
    _timing_options(preview)
    preview.add_argument("--after", help="ISO time to start from (default now; no offset = in --timezone)")
    preview.add_argument("--count", type=int, default=5)
    preview.add_argument(
        "--input",
        default=None,
        help="the input, as for create: printed as the next fire would "
        'send it (--json then prints {"fires": [...], "next_input": {...}})',
    )
    preview.add_argument("--flow-id", action=_ReadsDatabase, help="the flow, for {{ flow_name }} in --input")
    preview.add_argument("--json", action="store_true", help="print JSON")
    preview.set_defaults(handler=preview_schedule, needs_database=False)

    backfill = commands.add_parser("backfill", help="run a schedule's past fires in a range (oldest first)")
    backfill.add_argument("schedule_id")
    backfill.add_argument(
        "--from",
        dest="range_from",
        required=True,
        metavar="ISO",
        help="first fire time included; no offset = in the schedule's zone (or --timezone)",
    )
    backfill.add_argument("--to", dest="range_to", required=True, metavar="ISO", help="end of the range, excluded")
    backfill.add_argument(
        "--only",
        default="missing",
        help="missing (default: fires without a run), failed (their failed runs once more) or all",
    )
    backfill.add_argument(
        "--max-parallel",
        type=int,
        default=1,
        metavar="N",
        help="this backfill's runs at once, across every daemon (default 1)",
    )
    backfill.add_argument("--timezone", default=None, help="IANA zone the range is typed in (default: the schedule's)")
    backfill.add_argument("--dry-run", action="store_true", help="print the fires and what would happen; write nothing")
    backfill.add_argument("--yes", action="store_true", help=f"allow more than {backfill_service.WITHOUT_YES:,} fires")
    backfill.add_argument("--json", action="store_true", help="print JSON")
    backfill.set_defaults(handler=backfill_schedule)


INPUT_HELP = 'JSON, like \'{"input": "message"}\' (optional "tweaks"); ' + placeholder_help(chains=True)


class _ReadsDatabase(argparse.Action):
    """An option whose value is looked up: the command then opens the database (preview does not
    otherwise)."""

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, values)
        namespace.needs_database = True


def _timing_options(parser) -> None:
    parser.add_argument("--type", required=True, help="interval, cron, oneshot or after (when another flow's run ends)")
    parser.add_argument(
        "--expr",
        required=True,
        help='"5m", "1h30m" | "*/5 * * * *", "@daily" | "2026-12-01T09:00" | for after: the flow id it follows',
    )
    parser.add_argument("--timezone", default=None, help="IANA zone for cron and oneshot (default: TIMEZONE)")


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


def preview_schedule(context, settings, args) -> int:
    zone = settings.timezone if args.timezone is None else args.timezone  # "" is refused, not the default
    after = None if args.after is None else parse_time_input(args.after, zone, "--after")
    fires = schedule_service.preview(args.type, args.expr, zone, after=after, count=args.count)
    sent = None
    if args.input is not None:  # checked even when nothing would fire
        flow_name = get_flow(context.db, args.flow_id).name if args.flow_id else None
        sent = preview_input(
            args.input,
            fire_time=fires[0] if fires else after or utcnow(),
            zone=zone,
            flow_name=flow_name,
            chained=schedule_service.is_chain(args.type.strip().lower()),
        )
    if args.json:
        if args.input is None:
            print_json([iso(t) for t in fires])
        else:
            print_json({"fires": [iso(t) for t in fires], "next_input": sent if fires else None})
        return 0
    try:
        info(describe(args.type, args.expr, zone))
    except InvalidSchedule:
        pass
    for fire in fires:
        info(f"  {format_local(fire, zone)}   ({iso(fire)})")
    if not fires:
        info("  (no fire after that time)")
    if sent is not None and fires:
        _print_sent(sent, format_local(fires[0], zone))
    return 0


def _print_sent(sent: dict, when: str) -> None:
    info(f"The fire at {when} would send:")
    for line in (sent.get("input") or "").splitlines() or [""]:
        info(f"  {line}")
    if sent.get("tweaks"):
        info(f"  tweaks: {json.dumps(sent['tweaks'], ensure_ascii=False)}")


def backfill_schedule(context: AppContext, settings, args) -> int:
    result = backfill_service.backfill_schedule(
        context.db,
        args.schedule_id,
        args.range_from,
        args.range_to,
        only=args.only,
        max_parallel=args.max_parallel,
        dry_run=args.dry_run,
        yes=args.yes,
        zone=args.timezone,
    )
    if args.json:
        print_json(backfill_to_dict(result))
        return 0
    zone = settings.timezone
    span = f"{format_local(result.range_from, zone)} to {format_local(result.range_to, zone)}"
    if result.dry_run:
        print_table(
            ("FIRE (" + zone + ")", "TASK", "BACKFILL"),
            [(format_local(f.at, zone), f.status, f.action) for f in result.fires],
            empty="(no fire in the range)",
        )
        info(
            f"Dry run: {counted(len(result.fires), 'fire')} from {span}; would queue {result.queued} and redo "
            f"{result.redone} (nothing written)."
        )
        return 0
    info(
        f"Backfill {result.backfill_id}: {counted(len(result.fires), 'fire')} from {span}; queued {result.queued}, "
        f"redone {result.redone}, at most {result.max_parallel} at once. A running daemon runs them, oldest first."
    )
    return 0
