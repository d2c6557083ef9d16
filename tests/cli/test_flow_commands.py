"""`flows list | sync | run`: the sync report, choosing components (by option or at a terminal),
LangFlow down or refusing the key, flows gone from LangFlow, and queueing a run."""

from __future__ import annotations

import io
import json
import sys
from datetime import timedelta

import pexpect
import pytest

from automagik.clock import utcnow
from automagik.db.models import Flow, ScheduleStatus, Task
from automagik.services import flows as flow_service
from automagik.services import schedules as schedule_service
from automagik.services import tasks as task_service
from automagik.services.serialize import flow_to_dict
from tests.cli.conftest import (
    ECHO,
    TWO_OUT,
    assert_one_line_error,
    assert_times_are_utc,
    choose_two_out_output,
    cli_environment,
    create_schedule,
    flow_names,
    insert_task,
    ok_json,
    ok_lines,
    parse_utc,
    record,
    run_all,
    sync_now,
    table_rows,
)
from tests.langflow_server import LIST_NO_KEY_DETAIL, WRONG_KEY_DETAIL

CHOOSE_HINT = "Choose with: flows sync --flow-id ID --input-component ID --output-component ID"
NEEDS_CHOICE = "These flows need their input and output component chosen before they can be scheduled:"
FLOW_KEYS = {
    "id",
    "name",
    "input_component",
    "output_component",
    "synced_at",
    "changed_at",
    "removed_at",
    "created_at",
    "updated_at",
    "description",
    "langflow_updated_at",
    "components",
    "daily_budget_usd",
    "spent_today_usd",
    "langflow_triggers",
    "max_concurrency",
}
FLOW_TIMES = ("synced_at", "changed_at", "removed_at", "created_at", "updated_at")


def selections(flows: list[dict]) -> dict[str, tuple]:
    """What a refused choice must leave alone."""
    return {
        f["id"]: (
            f["name"],
            f["input_component"],
            f["output_component"],
            f["changed_at"],
            f["removed_at"],
            f["updated_at"],
            f["components"],
        )
        for f in flows
    }


def test_list_and_sync_report(cli, langflow, db):
    names = flow_names(langflow)
    # Without a terminal, sync chooses what is unambiguous and names the flows that need a choice.
    report = ok_lines(cli("flows", "sync"))
    assert report == [
        f"Synced 2 flows from {langflow.url}: 2 new, 0 changed, 0 back, 0 gone from LangFlow.",
        NEEDS_CHOICE,
        f'- {TWO_OUT} "{names[TWO_OUT]}"',
        CHOOSE_HINT,
    ]

    table, listing = run_all(cli, ("flows", "list"), ("flows", "list", "--json"))
    table = ok_lines(table)
    assert table[0].split() == [
        "ID",
        "NAME",
        "INPUT",
        "OUTPUT",
        "COST",
        "TODAY",
        "(Europe/Berlin)",
        "DAILY",
        "BUDGET",
        "LANGFLOW",
        "TRIGGERS",
        "STATE",
    ]
    assert table[1].startswith(ECHO) and table[1].split()[-6:] == [
        "ChatInput-acc01",
        "ChatOutput-acc02",
        "$0.00",
        "-",
        "-",
        "ready",
    ]
    assert table[2].startswith(TWO_OUT) and table[2].split()[-7:] == [
        "ChatInput-tw001",
        "-",
        "$0.00",
        "-",
        "-",
        "needs",
        "components",
    ]

    flows = ok_json(listing)
    assert [f["id"] for f in flows] == [ECHO, TWO_OUT]  # by name
    for flow in flows:
        assert set(flow) >= FLOW_KEYS and flow["name"] == names[flow["id"]]
        assert_times_are_utc(flow, FLOW_TIMES + ("langflow_updated_at",))
        assert flow["removed_at"] is None and flow["changed_at"] is None
    echo, two_out = flows
    assert (echo["input_component"], echo["output_component"]) == ("ChatInput-acc01", "ChatOutput-acc02")
    assert (two_out["input_component"], two_out["output_component"]) == ("ChatInput-tw001", None)
    assert [(c["id"], c["role"]) for c in two_out["components"]] == [
        ("ChatInput-tw001", "input"),
        ("ChatOutput-tw002", "output"),
        ("ChatOutput-tw004", "output"),
    ]

    # LangFlow changes: a flow is added, one renamed. The rename keeps Echo's components.
    langflow.add_flow("Later", inputs=("ChatInput-la001",), outputs=("ChatOutput-la002",))
    renamed = [dict(f, name="Echo renamed") if f["id"] == ECHO else f for f in langflow.flows]
    langflow.set_flows(renamed)
    again = ok_lines(cli("flows", "sync"))
    assert again[0] == f"Synced 3 flows from {langflow.url}: 1 new, 1 changed, 0 back, 0 gone from LangFlow."
    assert again[1:] == [NEEDS_CHOICE, f'- {TWO_OUT} "{names[TWO_OUT]}"', CHOOSE_HINT]
    echo = flow_service.get_flow(db, ECHO)
    assert echo.name == "Echo renamed" and echo.changed_at is not None
    assert (echo.input_component, echo.output_component) == ("ChatInput-acc01", "ChatOutput-acc02")


def test_sync_chooses_components_non_interactively(cli, langflow, db):
    names = flow_names(langflow)
    chosen = ok_lines(
        cli(
            "flows",
            "sync",
            "--flow-id",
            TWO_OUT,
            "--input-component",
            "ChatInput-tw001",
            "--output-component",
            "ChatOutput-tw004",
        )
    )
    assert chosen == [  # synced, chosen, and so nothing is left needing a choice
        f"Synced 2 flows from {langflow.url}: 2 new, 0 changed, 0 back, 0 gone from LangFlow.",
        f'Flow "{names[TWO_OUT]}": input ChatInput-tw001, output ChatOutput-tw004.',
    ]
    two_out = flow_service.get_flow(db, TWO_OUT)
    assert (two_out.input_component, two_out.output_component) == ("ChatInput-tw001", "ChatOutput-tw004")
    assert flow_service.get_flow(db, ECHO).output_component == "ChatOutput-acc02"


def test_bad_component_choice_changes_no_selection(cli, langflow, db, settings, subtests):
    sync_now(db, settings)
    choose_two_out_output(db, "ChatOutput-tw002")
    before = json.loads(json.dumps([flow_to_dict(f) for f in flow_service.list_flows(db)], default=str))

    def choice(flow_id, input_component, output_component):
        return (
            "flows",
            "sync",
            "--flow-id",
            flow_id,
            "--input-component",
            input_component,
            "--output-component",
            output_component,
        )

    cases = {
        "unknown component": (
            choice(TWO_OUT, "ChatInput-tw001", "ChatOutput-nope"),
            'Component "ChatOutput-nope" is not in flow',
        ),
        "output given as input": (
            choice(TWO_OUT, "ChatOutput-tw002", "ChatOutput-tw004"),
            'Component "ChatOutput-tw002" of flow "'
            + flow_names(langflow)[TWO_OUT]
            + '" is not an input component: choose one of ChatInput-tw001.',
        ),
        "unknown flow": (
            choice("no-such-flow", "ChatInput-tw001", "ChatOutput-tw004"),
            'Unknown flow id "no-such-flow"',
        ),
        "component without a flow": (
            ("flows", "sync", "--output-component", "ChatOutput-tw004"),
            "--flow-id goes with --input-component and/or --output-component",
        ),
        "flow without a component": (
            ("flows", "sync", "--flow-id", TWO_OUT),
            "--flow-id goes with --input-component and/or --output-component",
        ),
    }
    results = run_all(cli, *(args for args, _ in cases.values()))
    for (name, (_, message)), result in zip(cases.items(), results, strict=False):
        with subtests.test(case=name):
            assert_one_line_error(result, 2, contains=message, stdout="")

    after = ok_json(cli("flows", "list", "--json"))
    assert selections(after) == selections(before)
    assert (after[1]["input_component"], after[1]["output_component"]) == ("ChatInput-tw001", "ChatOutput-tw002")


def test_bad_component_choice_writes_nothing(cli, db):
    refused = cli(
        "flows",
        "sync",
        "--flow-id",
        TWO_OUT,
        "--input-component",
        "ChatInput-tw001",
        "--output-component",
        "ChatOutput-nope",
    )
    assert_one_line_error(refused, 2, contains='Component "ChatOutput-nope" is not in flow', stdout=None)
    assert table_rows(db, "flows") == []
    assert refused.stdout == ""


# A terminal is a process of its own (0.8 s); what it saves is written by the services that
# the other tests run on both databases.
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_interactive_sync_asks_for_two_out_output(langflow, db, settings, tmp_path):
    """At a terminal, sync asks for each ambiguous flow's components, by number."""
    names = flow_names(langflow)
    no_out = langflow.add_flow("NoOut", inputs=("ChatInput-no001",), outputs=())
    screen = io.StringIO()
    child = pexpect.spawn(
        sys.executable,
        ["-m", "automagik.cli.cli", "flows", "sync"],
        cwd=str(tmp_path),
        env=cli_environment(settings),
        encoding="utf-8",
        timeout=30,
        dimensions=(50, 200),
    )
    child.logfile_read = screen
    try:
        child.expect_exact(f"Synced 3 flows from {langflow.url}: 3 new, 0 changed, 0 back, 0 gone from LangFlow.")
        child.expect_exact(f'Flow "{names[TWO_OUT]}" ({TWO_OUT}) needs a choice.')
        child.expect_exact("1. Chat Output · ChatOutput-tw002")
        child.expect_exact("2. Chat Output · ChatOutput-tw004")
        child.expect_exact("output component [1-2, empty to skip]: ")
        child.sendline("7")
        child.expect_exact("Type a number from 1 to 2.")
        child.expect_exact("output component [1-2, empty to skip]: ")
        child.sendline("2")
        child.expect_exact("Saved: input ChatInput-tw001, output ChatOutput-tw004.")
        child.expect_exact(f'Flow "NoOut" ({no_out}) needs a choice.')
        child.expect_exact("It has no output component, so it cannot be scheduled; add one in LangFlow.")
        child.expect(pexpect.EOF)
    finally:
        child.close()
        transcript = screen.getvalue()
        record(("flows", "sync", "(pty)"), transcript)
    assert child.exitstatus == 0
    assert "Saved: input ChatInput-tw001" in transcript  # the whole screen was recorded
    assert NEEDS_CHOICE not in transcript and "Traceback" not in transcript

    two_out, no_out_flow, echo = (flow_service.get_flow(db, f) for f in (TWO_OUT, no_out, ECHO))
    assert (two_out.input_component, two_out.output_component) == ("ChatInput-tw001", "ChatOutput-tw004")
    assert (no_out_flow.input_component, no_out_flow.output_component) == ("ChatInput-no001", None)
    assert (echo.input_component, echo.output_component) == ("ChatInput-acc01", "ChatOutput-acc02")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # refused by LangFlow before any write
def test_langflow_down_and_refused_keys(cli, langflow, db):
    wrong_key = "sk-wrong-Ht5pLq0987"
    wrong, missing, empty = run_all(
        cli,
        (("flows", "sync"), {"LANGFLOW_API_KEY": wrong_key}),
        (("flows", "sync"), {"LANGFLOW_API_KEY": ""}),
        ("flows", "list"),
    )
    assert ok_lines(empty) == ["No flows yet: run `python -m automagik.cli.cli flows sync`."]
    message = assert_one_line_error(wrong, 1, contains=f"LangFlow at {langflow.url}")
    assert WRONG_KEY_DETAIL in message and "HTTP 403" in message and "LANGFLOW_API_KEY" in message
    assert wrong_key not in wrong.output
    message = assert_one_line_error(missing, 1, contains=LIST_NO_KEY_DETAIL)
    assert "none is set" in message

    langflow.pause()
    down = cli("flows", "sync")
    message = assert_one_line_error(down, 1, contains=f"LangFlow at {langflow.url} is unreachable")
    assert "LANGFLOW_API_URL" in message
    assert table_rows(db, "flows") == []


def test_resync_marks_removed_flow_and_pauses_its_schedules(cli, langflow, db, settings):
    names = flow_names(langflow)
    original = langflow.flows
    sync_now(db, settings)
    choose_two_out_output(db)
    echo_schedules = [create_schedule(db, ECHO, "interval", "5m").id, create_schedule(db, ECHO, "cron", "@daily").id]
    two_out_schedule = create_schedule(db, TWO_OUT, "interval", "1h").id

    langflow.remove_flow(ECHO)
    report = ok_lines(cli("flows", "sync"))
    assert report == [
        f"Synced 1 flow from {langflow.url}: 0 new, 0 changed, 0 back, 1 gone from LangFlow.",
        f'- Flow "{names[ECHO]}" is no longer in LangFlow: 2 schedules paused.',
    ]

    listing, schedules, run, resume = run_all(
        cli,
        ("flows", "list", "--json"),
        ("schedules", "list", "--json"),
        ("flows", "run", ECHO),
        ("schedules", "resume", echo_schedules[0]),
    )
    removed = {f["id"]: f for f in ok_json(listing)}[ECHO]
    parse_utc(removed["removed_at"])
    assert removed["input_component"] == "ChatInput-acc01"  # kept, for when it comes back
    statuses = {s["id"]: s["status"] for s in ok_json(schedules)}
    assert statuses == {echo_schedules[0]: "paused", echo_schedules[1]: "paused", two_out_schedule: "active"}
    assert_one_line_error(run, 2, contains=f'Flow "{names[ECHO]}" is no longer in LangFlow')
    assert_one_line_error(resume, 2, contains=f'Flow "{names[ECHO]}" is no longer in LangFlow')
    assert table_rows(db, "tasks") == []

    # Back in LangFlow: restored, selection intact; its schedules stay paused until resumed.
    langflow.set_flows(original)
    back = ok_lines(cli("flows", "sync"))
    assert back == [f"Synced 2 flows from {langflow.url}: 0 new, 0 changed, 1 back, 0 gone from LangFlow."]
    assert flow_service.get_flow(db, ECHO).removed_at is None
    assert {schedule_service.get_schedule(db, s).status for s in echo_schedules} == {ScheduleStatus.PAUSED}


def test_flows_run_queues_a_pending_task(cli, langflow, db, settings):
    sync_now(db, settings)
    tweaks = {"ChatOutput-acc02": {"sender_name": "Bot"}}
    with_json, as_text, *refused = run_all(
        cli,
        (
            "flows",
            "run",
            ECHO,
            "--input",
            json.dumps({"input": "hello", "tweaks": tweaks}),
            "--max-retries",
            "1",
            "--timeout",
            "30",
            "--json",
        ),
        ("flows", "run", ECHO, "--input", '{"input_value": "second"}'),
        ("flows", "run", TWO_OUT, "--input", '{"input": "x"}'),
        ("flows", "run", ECHO, "--input", '{"input": '),
        ("flows", "run", ECHO, "--input", '{"input": "a", "input_value": "b"}'),
    )
    queued = ok_json(with_json)
    assert queued["status"] == "pending" and queued["flow_id"] == ECHO and queued["schedule_id"] is None
    assert queued["input_data"] == {"input": "hello", "tweaks": tweaks}
    assert (queued["tries"], queued["max_retries"], queued["timeout_seconds"]) == (0, 1, 30)
    parse_utc(queued["scheduled_for"])
    text_line = ok_lines(as_text)
    assert len(text_line) == 1 and text_line[0].startswith("Queued task ")
    text_id = text_line[0].split()[2].rstrip(":")

    for result, message in zip(
        refused,
        [
            f'Flow "{flow_names(langflow)[TWO_OUT]}" has no output component chosen yet',
            "The input is not valid JSON",
            'Give the text once: "input" or "input_value", not both.',
        ],
        strict=False,
    ):
        assert_one_line_error(result, 2, contains=message)

    listed = ok_json(cli("tasks", "list", "--json"))
    assert {t["id"]: (t["status"], t["input_data"]["input"]) for t in listed} == {
        queued["id"]: ("pending", "hello"),
        text_id: ("pending", "second"),
    }
    assert all(t["schedule_id"] is None for t in listed)
    assert langflow.run_count == 0  # queued for a daemon, not run by the CLI
    assert [r.task.id for r in task_service.list_tasks(db)] == [t["id"] for t in listed]


def test_sync_report_shows_the_address_without_its_login(cli, langflow, db):
    """A user:password in LANGFLOW_API_URL reaches LangFlow (a proxy in front may want it), not the screen."""
    with_login = langflow.url.replace("://", "://ops-7f3a:pw-s3cr3t@", 1)
    report = ok_lines(cli("flows", "sync", env={"LANGFLOW_API_URL": with_login}))
    assert report[0].startswith(f"Synced 2 flows from {langflow.url}: "), report
    langflow.pause()
    down = cli("flows", "sync", env={"LANGFLOW_API_URL": with_login})
    assert down.returncode == 1 and str(langflow.port) in down.output, down.output
    for output in ("\n".join(report), down.output):
        assert "ops-7f3a" not in output and "s3cr3t" not in output, output


def test_a_daily_budget_is_set_shown_enforced_and_removed(cli, langflow, db, settings):
    sync_now(db, settings)
    name = flow_names(langflow)[ECHO]
    assert ok_json(cli("flows", "update", ECHO, "--daily-budget-usd", "0.50", "--json"))["daily_budget_usd"] == 0.5
    for result in run_all(
        cli, *[("flows", "update", ECHO, "--daily-budget-usd", value) for value in ("-1", "abc", "nan", "")]
    ):
        assert_one_line_error(result, 2, contains="daily budget")
    for result in run_all(
        cli,
        ("flows", "update", ECHO),
        ("flows", "update", ECHO, "--max-concurrency", "0"),
        ("flows", "update", ECHO, "--max-concurrency", "2.5"),
    ):
        assert_one_line_error(result, 2)
    assert flow_service.get_flow(db, ECHO).daily_budget_usd == 0.5  # the refused values changed nothing

    # A run that finished a second ago (the CLI runs on the real clock) cost more than the budget.
    task_id = insert_task(db, ECHO, "completed", utcnow() - timedelta(seconds=3), seconds=1, output="x")
    with db.write() as session:
        session.get(Task, task_id).cost_usd = 0.6
    refused, listing, forced = run_all(
        cli, ("flows", "run", ECHO), ("flows", "list", "--json"), ("flows", "run", ECHO, "--force", "--json")
    )
    assert_one_line_error(
        refused,
        2,
        contains=f'Flow "{name}": daily budget of $0.50 reached ($0.60 spent) today '
        "(Europe/Berlin). To run it anyway, force it: --force",
    )
    echo = next(flow for flow in ok_json(listing) if flow["id"] == ECHO)
    assert (echo["daily_budget_usd"], echo["spent_today_usd"]) == (0.5, 0.6)
    assert ok_json(forced)["status"] == "pending"
    assert [t.task.id for t in task_service.list_tasks(db)].count(ok_json(forced)["id"]) == 1

    assert ok_lines(cli("flows", "update", ECHO, "--daily-budget-usd", "none")) == [
        f'Flow "{name}" has no daily budget now.'
    ]
    assert flow_service.get_flow(db, ECHO).daily_budget_usd is None


def test_langflow_triggers_are_listed_warned_about_and_adopted(cli, langflow, db, settings):
    trigger_id = langflow.add_schedule_trigger(ECHO, cron="0 9 * * *", zone="Europe/Lisbon")
    sync_now(db, settings)
    listing, created = run_all(
        cli, ("flows", "list", "--json"), ("schedules", "create", "--type", "interval", "--expr", "1h", ECHO)
    )
    echo = next(flow for flow in ok_json(listing) if flow["id"] == ECHO)
    assert [(t["id"], t["kind"], t["cron"], t["timezone"], t["state"]) for t in echo["langflow_triggers"]] == [
        (trigger_id, "schedule", "0 9 * * *", "Europe/Lisbon", "active")
    ]
    # Created all the same (exit 0), with one warning line.
    assert created.returncode == 0 and created.stdout.startswith("Created schedule ")
    assert created.stderr.startswith(
        f'warning: Flow "{flow_names(langflow)[ECHO]}" is also scheduled by LangFlow '
        f'itself (trigger {trigger_id} ("0 9 * * *" in Europe/Lisbon, active))'
    )
    assert len(created.stderr.splitlines()) == 1

    langflow.trigger_disable_status = 409
    assert_one_line_error(cli("flows", "adopt-trigger", trigger_id), 1, contains="nothing changed")
    assert len(schedule_service.list_schedules(db)) == 1  # only the interval one
    langflow.trigger_disable_status = None
    adopted = ok_json(cli("flows", "adopt-trigger", trigger_id, "--json"))
    assert adopted["trigger_id"] == trigger_id and adopted["trigger"]["state"] == "paused"
    schedule = schedule_service.get_schedule(db, adopted["schedule_id"])
    assert (schedule.schedule_expr, schedule.timezone) == ("0 9 * * *", "Europe/Lisbon")
    assert langflow.triggers[trigger_id]["state"] == "paused"
    assert_one_line_error(cli("flows", "adopt-trigger", "nope"), 2, contains='Unknown LangFlow trigger id "nope"')


def test_one_component_may_be_chosen_alone_and_flows_show_lists_them(cli, langflow, db, settings):
    sync_now(db, settings)  # TwoOut's one input is chosen by the sync; its output is not
    chosen, shown = run_all(
        cli,
        ("flows", "sync", "--flow-id", TWO_OUT, "--output-component", "ChatOutput-tw004"),
        ("flows", "show", TWO_OUT),
    )
    assert (
        ok_lines(chosen)[-1]
        == f'Flow "{flow_names(langflow)[TWO_OUT]}": input ChatInput-tw001, output ChatOutput-tw004.'
    )
    lines = ok_lines(shown)  # run beside the choice: it may show either state, so only its shape is checked
    assert "input components (* chosen):" in lines and "output components (* chosen):" in lines
    after = ok_lines(cli("flows", "show", TWO_OUT))
    assert after[after.index("output components (* chosen):") + 1 :] == [
        "    Chat Output · ChatOutput-tw002",
        "  * Chat Output · ChatOutput-tw004",
    ]
    assert "  * Chat Input · ChatInput-tw001" in after

    with db.write() as session:  # neither chosen: an output alone cannot make the flow runnable
        flow = session.get(Flow, TWO_OUT)
        flow.input_component = flow.output_component = None
    langflow.add_flow(
        "Two inputs",
        inputs=["ChatInput-x1", "ChatInput-x2"],
        outputs=["ChatOutput-x3"],
        flow_id="0a0a0a0a-0000-4000-8000-000000000001",
    )
    refused = cli(
        "flows", "sync", "--flow-id", "0a0a0a0a-0000-4000-8000-000000000001", "--output-component", "ChatOutput-x3"
    )
    assert_one_line_error(
        refused, 2, contains="has no input component chosen yet: give --input-component too", stdout=None
    )
