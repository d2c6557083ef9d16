"""Schedules: the create form checked as you type, the table, per-schedule actions, bulk actions."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from automagik.clock import utcnow
from automagik.db.models import Schedule, ScheduleStatus, Task
from automagik.services import schedules as schedule_service
from tests.services.helpers import ECHO_ID, TWO_OUT_ID, synced
from tests.ui.helpers import ECHO_NAME, alerts, page_errors, ready_flows


@pytest.fixture
def flows_ready(db, langflow):
    ready_flows(db, langflow)


def _button(at, label: str):
    return next(b for b in at.button if b.label == label)


def _schedules(db) -> list[Schedule]:
    with db.read() as session:
        return list(session.scalars(select(Schedule)))


def _create(db, flow_id=ECHO_ID, kind="interval", expr="5m", **extra) -> Schedule:
    return schedule_service.create_schedule(db, schedule_service.ScheduleSpec(flow_id, kind, expr, **extra))


def _fill(at, kind="interval", expr="", zone=None, flow_input=None):
    at.selectbox(key="new_type").select(kind).run()
    if zone:
        at.selectbox(key="new_zone").select(zone).run()
    if flow_input is not None:
        at.text_area(key="new_input").input(flow_input).run()
    at.text_input(key="new_expr").input(expr).run()
    return at


def test_without_a_ready_flow_the_form_says_what_to_do(open_page):
    at = open_page("schedules")
    assert any("No flow is ready to schedule" in i for i in alerts(at, "info"))


def test_cron_preview_in_the_chosen_zone_with_plain_english(open_page, flows_ready):
    at = _fill(open_page("schedules"), "cron", "0 9 * * 1-5", zone="America/New_York")
    texts = [t.value for t in at.text]
    assert "At 09:00, Monday through Friday (America/New_York)" in texts
    preview = next(t for t in texts if t.startswith("Next fires:"))
    fires = preview.splitlines()[1:]
    assert len(fires) == 5
    assert all("09:00:00 E" in line and line.rstrip().endswith(("EST", "EDT")) for line in fires)
    assert not page_errors(at)


def test_creating_a_schedule(open_page, db, flows_ready):
    at = _fill(open_page("schedules"), "interval", "1h30m", flow_input='{"input": "daily report"}')
    assert "every 1h30m" in [t.value for t in at.text]
    at.number_input(key="new_retries").set_value(5).run()
    at.number_input(key="new_timeout").set_value(120).run()
    at.selectbox(key="new_policy").select("skip").run()
    _button(at, "Create schedule").click().run()
    assert not page_errors(at)
    assert any(s.startswith("Created schedule") for s in alerts(at, "success"))
    (schedule,) = _schedules(db)
    assert (schedule.schedule_type.value, schedule.schedule_expr, schedule.timezone) == (
        "interval",
        "1h30m",
        "Europe/Berlin",
    )
    assert schedule.flow_params == {"input": "daily report", "tweaks": {}}
    assert (schedule.max_retries, schedule.timeout_seconds, schedule.missed_policy.value) == (5, 120, "skip")
    table = at.dataframe[0].value
    assert list(table["flow"]) == [ECHO_NAME]
    assert list(table["when"]) == ["every 1h30m"]
    assert list(table["status"]) == ["active"]
    assert table.iloc[0, 6].endswith(("CET", "CEST"))  # next run, in TIMEZONE with the zone named


@pytest.mark.parametrize(
    "kind, expr, flow_input, message",
    [
        ("interval", "5 parsecs", "", "Invalid interval"),
        ("cron", "61 * * * *", "", "Invalid cron"),
        ("oneshot", "2020-01-01 09:00", "", "That time has passed"),
        # The one parser of typed times, as on the CLI and the Tasks page: Berlin skips 02:00-03:00.
        (
            "oneshot",
            "2031-03-30 02:30",
            "",
            'Invalid time "2031-03-30 02:30": it does not exist in Europe/Berlin (the clocks jump from 02:00 to 03:00)',
        ),
        ("interval", "5m", '{"input": 42}', "The input text must be a string"),
        ("interval", "5m", "{nope", "The input is not valid JSON"),
        ("interval", "5m", '{"input": "{{ fire_day }}"}', "Unknown placeholder {{ fire_day }}"),
        ("cron", "@daily", '{"input": "{{ upstream_output }}"}', "{{ upstream_output }} is filled only"),
    ],
)
def test_bad_input_is_shown_as_you_type_and_refused_on_create(
    open_page, db, flows_ready, kind, expr, flow_input, message
):
    at = _fill(open_page("schedules"), kind, expr, flow_input=flow_input)
    assert any(e.startswith(message) for e in page_errors(at)), page_errors(at)
    _button(at, "Create schedule").click().run()
    assert not at.exception
    # The error shown as you type stays, and the refused create says why in one more line.
    assert len(page_errors(at)) == 2 and all("\n" not in e for e in page_errors(at)), page_errors(at)
    assert _schedules(db) == []


def test_pause_resume_and_run_now(open_page, db, flows_ready):
    schedule = _create(db)
    at = open_page("schedules")
    _button(at, "Pause").click().run()
    assert schedule_service.get_schedule(db, schedule.id).status is ScheduleStatus.PAUSED
    assert list(at.dataframe[0].value["status"]) == ["paused"]
    _button(at, "Resume").click().run()
    assert schedule_service.get_schedule(db, schedule.id).status is ScheduleStatus.ACTIVE
    _button(at, "Run now").click().run()
    assert any(s.startswith("Queued run") for s in alerts(at, "success"))
    with db.read() as session:
        task = session.scalars(select(Task)).one()
    assert (task.schedule_id, task.flow_id) == (schedule.id, ECHO_ID)


def test_delete_asks_first(open_page, db, flows_ready):
    schedule = _create(db)
    at = open_page("schedules")
    _button(at, "Delete").click().run()
    assert any(w.startswith("Delete this schedule?") for w in alerts(at, "warning"))
    assert len(_schedules(db)) == 1
    _button(at, "Cancel").click().run()
    assert len(_schedules(db)) == 1
    assert not any(w.startswith("Delete this schedule?") for w in alerts(at, "warning"))
    _button(at, "Delete").click().run()
    _button(at, "Yes, delete").click().run()
    assert _schedules(db) == []
    assert any(s == f"Deleted schedule {schedule.id}." for s in alerts(at, "success"))
    assert any(i == "No schedules yet." for i in alerts(at, "info"))


def test_the_edit_form_checks_as_you_type_and_saves_only_valid_changes(open_page, db, flows_ready):
    schedule = _create(db, flow_input={"input": "a"})
    at = open_page("schedules")
    assert not at.get("form")  # like the New form: no submit needed to see what is wrong
    expression = at.text_input(key=f"edit_expr_{schedule.id}")
    assert expression.value == "5m"
    expression.input("10 parsecs").run()
    assert len(page_errors(at)) == 1 and page_errors(at)[0].startswith("Invalid interval")
    _button(at, "Save changes").click().run()
    assert page_errors(at) and all(e.startswith("Invalid interval") for e in page_errors(at))
    assert schedule_service.get_schedule(db, schedule.id).schedule_expr == "5m"
    at.text_input(key=f"edit_expr_{schedule.id}").input("15m").run()
    assert not page_errors(at)
    assert "every 15m" in [t.value for t in at.text]
    assert any(t.value.startswith("Next fires:") for t in at.text)
    _button(at, "Save changes").click().run()
    assert not page_errors(at)
    saved = schedule_service.get_schedule(db, schedule.id)
    assert saved.schedule_expr == "15m" and saved.flow_params == {"input": "a", "tweaks": {}}


def test_the_edit_form_refuses_a_bad_placeholder_as_you_type(open_page, db, flows_ready):
    schedule = _create(db, flow_input={"input": "a"})
    at = open_page("schedules")
    at.text_area(key=f"edit_input_{schedule.id}").input('{"input": "{{ fire_day }}"}').run()
    assert any(e.startswith("Unknown placeholder {{ fire_day }}") for e in page_errors(at)), page_errors(at)
    _button(at, "Save changes").click().run()
    assert schedule_service.get_schedule(db, schedule.id).flow_params["input"] == "a"


def test_pause_all_and_resume_all(open_page, db, flows_ready):
    _create(db)
    _create(db, flow_id=TWO_OUT_ID, kind="cron", expr="@daily")
    at = open_page("schedules")
    _button(at, "Pause all").click().run()
    assert any(s == "Paused 2 schedules." for s in alerts(at, "success"))
    assert {s.status for s in _schedules(db)} == {ScheduleStatus.PAUSED}
    _button(at, "Resume all").click().run()
    assert any(s == "Resumed 2 schedules." for s in alerts(at, "success"))
    assert {s.status for s in _schedules(db)} == {ScheduleStatus.ACTIVE}


def test_a_oneshot_preview_names_its_single_fire(open_page, flows_ready):
    when = (utcnow() + timedelta(days=2)).strftime("%Y-%m-%d 09:00")
    at = _fill(open_page("schedules"), "oneshot", when)
    preview = next(t.value for t in at.text if t.value.startswith("Next fires:"))
    assert len(preview.splitlines()) == 2 and "09:00:00 CE" in preview


def test_a_flow_langflow_also_schedules_is_warned_about_before_the_button(open_page, db, langflow, flows_ready):
    at = open_page("schedules")
    assert not any("also scheduled by LangFlow" in w for w in alerts(at, "warning"))
    trigger_id = langflow.add_schedule_trigger(ECHO_ID, cron="0 9 * * *", zone="UTC")
    synced(db, langflow)
    at = open_page("schedules")
    at.selectbox(key="new_flow").select(ECHO_ID).run()
    [warning] = [w for w in alerts(at, "warning") if "also scheduled by LangFlow" in w]
    assert trigger_id in warning and "Adopting it on the Flows page" in warning and "`flows" not in warning


DIGEST = '{"input": "Digest of {{ fire_date }} for {{ flow_name }} ({{ task_id }})", "tweaks": {"C-1": {"at": "{{ fire_time }}"}}}'


def _codes(at) -> list[str]:
    return [c.value for c in at.code]


def test_the_new_form_shows_what_the_next_fire_would_send(open_page, db, flows_ready, frozen_clock):
    # Friday 27 March 2026, noon UTC: the next 07:00 in Berlin is Saturday's, still CET.
    frozen_clock.now = datetime(2026, 3, 27, 12, 0, tzinfo=UTC)
    at = _fill(open_page("schedules"), "cron", "0 7 * * *", zone="Europe/Berlin", flow_input=DIGEST)
    assert not page_errors(at)
    assert "The next fire (2026-03-28 07:00:00 CET) would send:" in [t.value for t in at.text]
    assert f"Digest of 2026-03-28 for {ECHO_NAME} ((new task id))" in _codes(at)
    assert json.loads(next(c for c in _codes(at) if c.startswith("{"))) == {"C-1": {"at": "2026-03-28T07:00:00+01:00"}}
    # A plain input has nothing to preview; a bad placeholder is refused as you type and on create.
    at.text_area(key="new_input").input('{"input": "plain"}').run()
    assert not any(t.value.startswith("The next fire") for t in at.text)
    at.text_area(key="new_input").input('{"input": "{{ fire_day }}"}').run()
    assert any(e.startswith("Unknown placeholder {{ fire_day }}") for e in page_errors(at)), page_errors(at)
    _button(at, "Create schedule").click().run()
    assert _schedules(db) == []


def test_the_edit_form_previews_the_saved_schedule_and_its_edits_without_saving(
    open_page, db, flows_ready, frozen_clock
):
    frozen_clock.now = datetime(2026, 3, 28, 12, 0, tzinfo=UTC)
    schedule = _create(
        db,
        kind="cron",
        expr="0 7 * * *",
        timezone="Europe/Berlin",
        flow_input={"input": "Digest of {{ fire_date }} ({{ schedule_id }})"},
    )
    at = open_page("schedules")
    # The saved schedule's next fire: Sunday 29 March, the first day of summer time.
    assert "The next fire (2026-03-29 07:00:00 CEST) would send:" in [t.value for t in at.text]
    assert f"Digest of 2026-03-29 ({schedule.id})" in _codes(at)
    assert "Next fire: 2026-03-29 07:00:00 CEST" in [t.value for t in at.text]
    at.text_area(key=f"edit_input_{schedule.id}").input('{"input": "Week of {{ fire_date }}"}').run()
    at.text_input(key=f"edit_expr_{schedule.id}").input("0 7 * * 1").run()
    assert not page_errors(at)
    assert "The next fire (2026-03-30 07:00:00 CEST) would send:" in [t.value for t in at.text]
    assert "Week of 2026-03-30" in _codes(at)
    saved = schedule_service.get_schedule(db, schedule.id)
    assert (saved.schedule_expr, saved.flow_params["input"]) == (
        "0 7 * * *",
        "Digest of {{ fire_date }} ({{ schedule_id }})",
    )


def _backfill(at, schedule_id: str, start: str, end: str, only: str = "missing"):
    key = f"backfill_{schedule_id}"
    at.text_input(key=f"{key}_from").input(start).run()
    at.text_input(key=f"{key}_to").input(end).run()
    at.selectbox(key=f"{key}_only").select(only).run()
    at.number_input(key=f"{key}_parallel").set_value(2).run()
    return _button(at, "Preview").click().run()


def _tasks(db) -> list[Task]:
    with db.read() as session:
        return list(session.scalars(select(Task).order_by(Task.scheduled_for)))


def test_backfill_previews_the_fires_then_queues_them_on_confirm(open_page, db, flows_ready):
    schedule = _create(db, kind="cron", expr="0 */6 * * *", timezone="Europe/Berlin")
    at = _backfill(open_page("schedules"), schedule.id, "2026-11-01", "2026-11-02")
    assert not page_errors(at)
    preview = next(frame.value for frame in at.dataframe if "fire (Europe/Berlin)" in frame.value.columns)
    assert list(preview["fire (Europe/Berlin)"]) == [f"2026-11-01 {h}:00:00 CET" for h in ("00", "06", "12", "18")]
    assert list(preview["backfill"]) == ["new"] * 4
    assert _tasks(db) == []  # a preview writes nothing

    _button(at, "Queue 4 runs").click().run()
    assert not page_errors(at)
    assert any(s.startswith("Backfill ") and "queued 4 and redid 0" in s for s in alerts(at, "success"))
    tasks = _tasks(db)
    assert [t.trigger for t in tasks] == ["backfill"] * 4 and {t.backfill_id for t in tasks} != {None}
    # Twice: the same range has nothing left to do.
    at = _backfill(at, schedule.id, "2026-11-01", "2026-11-02")
    assert any(i.startswith("Nothing to do") for i in alerts(at, "info"))
    assert len(_tasks(db)) == 4


def test_backfill_refuses_bad_input_with_one_error_and_asks_again_after_a_change(open_page, db, flows_ready):
    schedule = _create(db, kind="cron", expr="0 */6 * * *", timezone="Europe/Berlin")
    at = _backfill(open_page("schedules"), schedule.id, "2026-11-02", "2026-11-01")
    assert page_errors(at) == ["The range is empty: --from must be before --to."]
    assert not [b for b in at.button if b.label.startswith("Queue")]
    at = _backfill(at, schedule.id, "2026-11-01", "2026-11-02")
    at.text_input(key=f"backfill_{schedule.id}_to").input("2026-11-03").run()  # changed after the preview
    assert any("preview again" in c.value for c in at.caption)
    assert not [b for b in at.button if b.label.startswith("Queue")]
    assert _tasks(db) == []


def test_many_schedules_are_listed_a_page_at_a_time(open_page, db, flows_ready):
    made = [_create(db, expr=f"{minutes}m") for minutes in range(1, 231)]  # 230: three pages of 100
    at = open_page("schedules")
    assert not page_errors(at)
    (pages,) = at.pagination
    assert pages.num_pages == 3
    assert len(at.dataframe[0].value) == 100
    assert any(c.value.startswith("230 schedules, soonest next run first · 1–100 shown") for c in at.caption)
    # The chooser offers this page's schedules; the last page holds the 30 furthest fires.
    assert len(at.selectbox(key="schedules_selected").options) == 100
    at.pagination[0].select(3).run()
    last = at.dataframe[0].value
    assert len(last) == 30 and set(last["id"]) == {s.id for s in made[200:]}
    assert len(at.selectbox(key="schedules_selected").options) == 30


def test_a_save_never_reverts_a_change_made_elsewhere_while_the_edit_form_was_open(open_page, db, flows_ready):
    """Found by review: the Edit form's widgets are keyed, so they kept the values of the
    schedule as first shown; a change made elsewhere meanwhile (the CLI, another browser) was
    undone by the next Save of any field, without a word."""
    schedule = _create(db, flow_input={"input": "a"})
    at = open_page("schedules")
    assert at.text_input(key=f"edit_expr_{schedule.id}").value == "5m"
    schedule_service.update_schedule(db, schedule.id, schedule_expr="2h", flow_input={"input": "b"})
    at.run()  # the page reread (any widget elsewhere on it)
    assert any(w.startswith("This schedule was changed elsewhere") for w in alerts(at, "warning"))
    assert at.text_input(key=f"edit_expr_{schedule.id}").value == "2h"
    at.number_input(key=f"edit_retries_{schedule.id}").set_value(5).run()
    _button(at, "Save changes").click().run()
    saved = schedule_service.get_schedule(db, schedule.id)
    assert (saved.schedule_expr, saved.flow_params["input"], saved.max_retries) == ("2h", "b", 5)
    # Its own save is not a change made elsewhere: no warning, the form keeps what was typed.
    assert not any(w.startswith("This schedule was changed elsewhere") for w in alerts(at, "warning"))
    # A Save clicked first thing after a change elsewhere saves nothing: the form shows it now.
    schedule_service.update_schedule(db, schedule.id, schedule_expr="3h")
    at.number_input(key=f"edit_retries_{schedule.id}").set_value(7)
    _button(at, "Save changes").click().run()
    assert any(w.startswith("This schedule was changed elsewhere") for w in alerts(at, "warning"))
    saved = schedule_service.get_schedule(db, schedule.id)
    assert (saved.schedule_expr, saved.max_retries) == ("3h", 5)
    assert at.text_input(key=f"edit_expr_{schedule.id}").value == "3h"


def test_a_later_save_keeps_the_timing_saved_in_another_spelling(open_page, db, flows_ready, frozen_clock):
    """Found by review: the keyed Expression box kept "90m" after its Save stored "1h30m", so
    the next Save of any other field sent "90m" again, a timing change to the service, which
    restarted the schedule's grid from that moment."""
    frozen_clock.now = datetime(2026, 3, 28, 12, 0, tzinfo=UTC)
    schedule = _create(db)
    at = open_page("schedules")
    at.text_input(key=f"edit_expr_{schedule.id}").input("90m").run()
    _button(at, "Save changes").click().run()
    saved = schedule_service.get_schedule(db, schedule.id)
    assert saved.schedule_expr == "1h30m" and saved.next_run_at == datetime(2026, 3, 28, 13, 30, tzinfo=UTC)
    assert not at.exception and at.text_input(key=f"edit_expr_{schedule.id}").value == "1h30m"  # as saved
    frozen_clock.now = datetime(2026, 3, 28, 12, 20, tzinfo=UTC)
    at.number_input(key=f"edit_retries_{schedule.id}").set_value(4).run()
    _button(at, "Save changes").click().run()
    again = schedule_service.get_schedule(db, schedule.id)
    assert again.max_retries == 4
    assert (again.anchor_at, again.next_run_at) == (saved.anchor_at, saved.next_run_at)
