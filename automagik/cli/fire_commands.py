"""`schedules preview` (the fires a timing would make, and what the next would send) and
`schedules backfill` (a schedule's past fires, run now): the commands about fires in a range."""

from __future__ import annotations

import argparse
import json

from automagik.cli.output import info, print_json, print_table
from automagik.clock import utcnow
from automagik.plural import counted
from automagik.scheduling import InvalidSchedule, describe
from automagik.services import backfill as backfill_service
from automagik.services import schedules as schedule_service
from automagik.services.context import AppContext
from automagik.services.flows import get_flow
from automagik.services.input_preview import preview_input
from automagik.services.serialize import backfill_to_dict, iso
from automagik.services.time_input import parse_time_input
from automagik.timefmt import format_local


def register(commands) -> None:
    """The two commands, added to `schedules`' subcommands."""
    preview = commands.add_parser(
        "preview",
        help="print the next fires of an expression and, with --input, what the next one would send; "
        "creating nothing",
    )
    timing_options(preview)
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


def timing_options(parser) -> None:
    parser.add_argument("--type", required=True, help="interval, cron, oneshot or after (when another flow's run ends)")
    parser.add_argument(
        "--expr",
        required=True,
        help='"5m", "1h30m" | "*/5 * * * *", "@daily" | "2026-12-01T09:00" | for after: the flow id it follows',
    )
    parser.add_argument("--timezone", default=None, help="IANA zone for cron and oneshot (default: TIMEZONE)")


class _ReadsDatabase(argparse.Action):
    """An option whose value is looked up: the command then opens the database (preview does not
    otherwise)."""

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, values)
        namespace.needs_database = True


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
