"""`flows list | sync | update | run | adopt-trigger`."""

from __future__ import annotations

import sys

from automagik.cli.output import info, print_fields, print_json, print_table
from automagik.costfmt import usd
from automagik.langflow import display_url
from automagik.plural import counted
from automagik.services import flows as flow_service
from automagik.services import tasks as task_service
from automagik.services import triggers as trigger_service
from automagik.services.context import AppContext
from automagik.services.errors import InvalidInput
from automagik.services.flow_input import placeholder_help
from automagik.services.serialize import flow_to_dict, schedule_to_dict, task_to_dict
from automagik.services.triggers import describe_trigger
from automagik.timefmt import format_local


def register(groups) -> None:
    flows = groups.add_parser("flows", help="LangFlow flows")
    commands = flows.add_subparsers(dest="command", metavar="COMMAND", required=True)

    listing = commands.add_parser("list", help="the synced flows and their chosen components")
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(handler=list_flows)

    show = commands.add_parser(
        "show",
        help="one flow: its input and output components (which are chosen), "
        "budget, limits and LangFlow's own triggers",
    )
    show.add_argument("flow_id")
    show.add_argument("--json", action="store_true", help="print JSON")
    show.set_defaults(handler=show_flow)

    sync = commands.add_parser("sync", help="fetch the flows from LangFlow")
    sync.add_argument("--flow-id", help="after syncing, set this flow's components (with one or both options below)")
    sync.add_argument("--input-component", help="id of the component the run's input text goes to")
    sync.add_argument("--output-component", help="id of the component the answer is read from")
    sync.add_argument("--no-input", action="store_true", help="never ask; leave ambiguous flows unset")
    sync.set_defaults(handler=sync_flows)

    run = commands.add_parser("run", help="queue a run of a flow now (a running daemon executes it)")
    run.add_argument("flow_id")
    run.add_argument(
        "--input",
        default=None,
        help='JSON, like \'{"input": "message"}\' (optional "tweaks"); ' + placeholder_help(zone="TIMEZONE"),
    )
    run.add_argument("--max-retries", type=int, default=3)
    run.add_argument("--timeout", type=int, default=None, help="seconds")
    run.add_argument("--force", action="store_true", help="run even if the flow's daily budget is reached")
    run.add_argument("--json", action="store_true", help="print JSON")
    run.set_defaults(handler=run_flow)

    update = commands.add_parser("update", help="change a flow's settings in Automagik")
    update.add_argument("flow_id")
    update.add_argument(
        "--daily-budget-usd",
        metavar="USD",
        help="skip the flow's fires for the rest of a day (in TIMEZONE) once its runs have cost "
        "this much; 0 or none removes the budget",
    )
    update.add_argument(
        "--max-concurrency",
        metavar="N",
        help="runs of the flow in flight at once, across every daemon; none removes the limit",
    )
    update.add_argument("--json", action="store_true", help="print JSON")
    update.set_defaults(handler=update_flow)

    adopt = commands.add_parser("adopt-trigger", help="move one of LangFlow's own schedule triggers to Automagik")
    adopt.add_argument("trigger_id", help="as `flows list` shows it (after `flows sync`)")
    adopt.add_argument("--input", default=None, help='JSON for the new schedule\'s runs, like \'{"input": "message"}\'')
    adopt.add_argument("--json", action="store_true", help="print JSON")
    adopt.set_defaults(handler=adopt_trigger)


def list_flows(context: AppContext, settings, args) -> int:
    flows = flow_service.list_flows(context.db)
    spent = flow_service.spent_today(context.db, flows, settings.timezone)
    if args.json:
        print_json([flow_to_dict(f, spent_today_usd=spent.get(f.id, 0.0)) for f in flows])
        return 0
    print_table(
        (
            "ID",
            "NAME",
            "INPUT",
            "OUTPUT",
            f"COST TODAY ({settings.timezone})",
            "DAILY BUDGET",
            "LANGFLOW TRIGGERS",
            "STATE",
        ),
        [
            (
                f.id,
                f.name,
                f.input_component,
                f.output_component,
                usd(spent.get(f.id, 0.0)),
                usd(f.daily_budget_usd) if f.daily_budget_usd is not None else None,
                "; ".join(describe_trigger(t) for t in f.langflow_triggers or []),
                flow_service.flow_state(f),
            )
            for f in flows
        ],
        empty="No flows yet: run `python -m automagik.cli.cli flows sync`.",
    )
    return 0


def show_flow(context: AppContext, settings, args) -> int:
    flow = flow_service.get_flow(context.db, args.flow_id)
    spent = flow_service.spent_today(context.db, [flow], settings.timezone).get(flow.id, 0.0)
    if args.json:
        print_json(flow_to_dict(flow, spent_today_usd=spent))
        return 0
    print_fields(
        [
            ("id", flow.id),
            ("name", flow.name),
            ("state", flow_service.flow_state(flow)),
            ("synced", format_local(flow.synced_at, settings.timezone)),
            (f"cost today ({settings.timezone})", usd(spent)),
            ("daily budget", usd(flow.daily_budget_usd) if flow.daily_budget_usd is not None else None),
            ("max runs at once", flow.max_concurrency),
            (
                "LangFlow triggers",
                "; ".join(describe_trigger(t) for t in flow.langflow_triggers or [])
                if flow.langflow_triggers is not None
                else "not supported by this LangFlow",
            ),
        ]
    )
    for role, chosen in (("input", flow.input_component), ("output", flow.output_component)):
        info(f"{role} components (* chosen):")
        for component in flow.components_with_role(role) or [{"id": "(none)"}]:
            mark = "*" if component["id"] == chosen else " "
            label = flow_service.component_label(component) if "type" in component else component["id"]
            info(f"  {mark} {label}")
    return 0


def sync_flows(context: AppContext, settings, args) -> int:
    components = (args.input_component, args.output_component)
    if bool(args.flow_id) != any(components):
        raise InvalidInput(
            "--flow-id goes with --input-component and/or --output-component: give the flow and "
            "the component(s) to choose."
        )
    chosen = flow_service.ComponentChoice(args.flow_id, *components) if args.flow_id else None
    with context.langflow() as client:
        report = flow_service.sync_flows(context.db, client, choice=chosen)
    info(
        f"Synced {counted(report.total, 'flow')} from {display_url(settings.langflow_api_url)}: {len(report.added)} new, "
        f"{len(report.updated)} changed, {len(report.restored)} back, {len(report.removed)} gone from LangFlow."
    )
    for notice in report.notices:
        info(f"- {notice}")
    if chosen:
        flow = flow_service.get_flow(context.db, chosen.flow_id)
        info(f'Flow "{flow.name}": input {flow.input_component}, output {flow.output_component}.')
    pending = report.needs_choice
    if pending and sys.stdin.isatty() and not args.no_input:
        for flow_id in pending:
            _ask_components(context, flow_id)
    elif pending:
        info("These flows need their input and output component chosen before they can be scheduled:")
        for flow_id in pending:
            flow = flow_service.get_flow(context.db, flow_id)
            info(f'- {flow.id} "{flow.name}"')
        info("Choose with: flows sync --flow-id ID --input-component ID --output-component ID")
    return 0


def _ask_components(context: AppContext, flow_id: str) -> None:
    flow = flow_service.get_flow(context.db, flow_id)
    info(f'Flow "{flow.name}" ({flow.id}) needs a choice.')
    chosen: list[str] = []
    for role, current in (("input", flow.input_component), ("output", flow.output_component)):
        options = flow.components_with_role(role)
        if not options:
            info(f"  It has no {role} component, so it cannot be scheduled; add one in LangFlow.")
            return
        choice = current if current else _pick(role, options)
        if choice is None:
            info("  Skipped; choose later with `flows sync --flow-id ...`.")
            return
        chosen.append(choice)
    flow = flow_service.set_components(context.db, flow.id, chosen[0], chosen[1])
    info(f"  Saved: input {flow.input_component}, output {flow.output_component}.")


def _pick(role: str, options: list[dict]) -> str | None:
    for number, component in enumerate(options, start=1):
        info(f"  {number}. {flow_service.component_label(component)}")
    while True:
        try:
            answer = input(f"  {role} component [1-{len(options)}, empty to skip]: ").strip()
        except EOFError:
            return None
        if not answer:
            return None
        if answer.isdigit() and 1 <= int(answer) <= len(options):
            return options[int(answer) - 1]["id"]
        info(f"  Type a number from 1 to {len(options)}.")


def update_flow(context: AppContext, settings, args) -> int:
    if args.daily_budget_usd is None and args.max_concurrency is None:
        raise InvalidInput("Nothing to change: give --daily-budget-usd and/or --max-concurrency.")
    changes = {}
    if args.daily_budget_usd is not None:
        changes["daily_budget_usd"] = flow_service.parse_daily_budget(args.daily_budget_usd)
    if args.max_concurrency is not None:
        changes["max_concurrency"] = flow_service.parse_max_concurrency(args.max_concurrency)
    flow = flow_service.update_flow_settings(context.db, args.flow_id, **changes)
    if args.json:
        print_json(flow_to_dict(flow))
        return 0
    if "daily_budget_usd" in changes:
        info(
            f'Flow "{flow.name}" has no daily budget now.'
            if flow.daily_budget_usd is None
            else f'Flow "{flow.name}": its fires are skipped for the rest of a day ({settings.timezone}) once its runs '
            f"have cost {usd(flow.daily_budget_usd)}."
        )
    if "max_concurrency" in changes:
        info(
            f'Flow "{flow.name}" has no concurrency limit now.'
            if flow.max_concurrency is None
            else f'Flow "{flow.name}": at most {counted(flow.max_concurrency, "run")} at once, across every daemon.'
        )
    return 0


def adopt_trigger(context: AppContext, settings, args) -> int:
    with context.langflow() as client:
        adopted = trigger_service.adopt_trigger(context.db, client, args.trigger_id, args.input)
    schedule = adopted.schedule
    if args.json:
        print_json(
            {
                "schedule_id": schedule.id,
                "trigger_id": adopted.trigger["id"],
                "schedule": schedule_to_dict(schedule),
                "trigger": adopted.trigger,
            }
        )
        return 0
    info(
        f"Created schedule {schedule.id} (cron \"{schedule.schedule_expr}\" in {schedule.timezone}, next run "
        f"{format_local(schedule.next_run_at, settings.timezone)}) and disabled LangFlow trigger "
        f"{adopted.trigger['id']} (now {adopted.trigger.get('state')})."
    )
    return 0


def run_flow(context: AppContext, settings, args) -> int:
    task = task_service.run_flow_now(
        context.db,
        args.flow_id,
        args.input,
        max_retries=args.max_retries,
        timeout_seconds=args.timeout,
        force=args.force,
        zone=settings.timezone,
    )
    if args.json:
        print_json(task_to_dict(task))
    else:
        info(f"Queued task {task.id}: a running daemon (python scheduler_daemon.py) will run it now.")
    return 0
