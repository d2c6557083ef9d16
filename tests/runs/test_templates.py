"""Placeholders in a run's input: filled from the fire (never from the clock), refused when unknown."""

from datetime import UTC, datetime

import pytest

from automagik.runs.templates import FireValues, TemplateError, check_input, has_placeholders, render_input


def _values(fire: datetime, zone: str = "Europe/Berlin", **extra) -> FireValues:
    return FireValues(fire_time=fire, zone=zone, task_id="t-1", flow_name="Digest", schedule_id="s-1", **extra)


def test_fire_time_and_date_are_the_fires_own_in_the_schedules_zone():
    # 23:30 UTC on 28 March is already 29 March in Berlin, the night the clocks go forward.
    fire = datetime(2026, 3, 28, 23, 30, tzinfo=UTC)
    sent = render_input({"input": "Digest of {{ fire_date }} at {{fire_time}}", "tweaks": {}}, _values(fire))
    assert sent["input"] == "Digest of 2026-03-29 at 2026-03-29T00:30:00+01:00"
    after_change = datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    assert render_input({"input": "{{ fire_time }}"}, _values(after_change))["input"] == "2026-03-29T03:30:00+02:00"


def test_every_name_is_filled_in_text_and_tweak_values_but_not_keys():
    fire = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    given = {
        "input": "{{ flow_name }} {{ schedule_id }} {{ task_id }}",
        "tweaks": {"Prompt-1": {"template": "day {{ fire_date }}", "{{ task_id }}": 3, "n": 2}},
    }
    sent = render_input(given, _values(fire, zone="UTC"))
    assert sent == {
        "input": "Digest s-1 t-1",
        "tweaks": {"Prompt-1": {"template": "day 2026-12-01", "{{ task_id }}": 3, "n": 2}},
    }
    assert given["input"].startswith("{{"), "the stored template is not changed in place"


def test_upstream_output_and_a_run_of_no_schedule():
    values = FireValues(
        fire_time=datetime(2026, 12, 1, tzinfo=UTC),
        zone="UTC",
        task_id="t",
        flow_name="B",
        upstream_output="A said {{ task_id }}",
    )
    # The upstream's text is data: its braces are not rendered again.
    assert (
        render_input({"input": "[{{ schedule_id }}] {{ upstream_output }}"}, values)["input"]
        == "[] A said {{ task_id }}"
    )


def test_escaped_braces_are_sent_literally():
    fire = datetime(2026, 12, 1, tzinfo=UTC)
    given = {"input": r"keep \{{ fire_date }} and {{ fire_date }}"}
    check_input(given)
    assert render_input(given, _values(fire, zone="UTC"))["input"] == "keep {{ fire_date }} and 2026-12-01"


def test_an_input_without_braces_is_returned_as_is():
    given = {"input": "plain", "tweaks": {"a": {"b": "{ not one }"}}}
    assert not has_placeholders(given)
    assert render_input(given, _values(datetime(2026, 1, 1, tzinfo=UTC))) is given


@pytest.mark.parametrize(
    "text, says",
    [
        ("{{ fire_day }}", "Unknown placeholder {{ fire_day }}"),
        ("{{ fire_date.__class__ }}", "Unknown placeholder"),
        ("{{ 1 + 1 }}", "Unknown placeholder {{ 1 + 1 }}"),
        ("{{ fire_date", "not a placeholder"),
        ("{{ upstream_output }}", "only for a schedule of type after"),
    ],
)
def test_bad_placeholders_are_refused_with_what_to_write(text, says):
    with pytest.raises(
        TemplateError,
        match=r"(?s).*" + says.replace("{", r"\{").replace("}", r"\}").replace("+", r"\+").replace(".", r"\."),
    ):
        check_input({"input": "x", "tweaks": {"c": {"f": text}}})


def test_upstream_output_is_allowed_on_a_chain():
    check_input({"input": "{{ upstream_output }}"}, chained=True)
