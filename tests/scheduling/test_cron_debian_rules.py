"""Where the project's cron used to differ from Debian cron (the six points of issue 15), pinned by hand.

Every expected instant is written out, in UTC, with the wall time it stands for.
"""

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from automagik.scheduling import CronTrigger, InvalidSchedule, preview_fires
from automagik.scheduling import cron as cron_module


def utc(*fields):
    return datetime(*fields, tzinfo=UTC)


def fires(expr, zone, after, count):
    return preview_fires(CronTrigger(expr, zone), after, count)


# 1. A one-value range is that value ------------------------------------------------------------


def test_one_value_range_means_that_value():
    assert fires("5-5 * * * *", "UTC", utc(2026, 1, 1), 3) == [utc(2026, 1, 1, h, 5) for h in range(3)]
    assert fires("0 0 1 JAN-JAN *", "UTC", utc(2026, 1, 1), 2) == [utc(2027, 1, 1), utc(2028, 1, 1)]
    # 2026-01-01 is a Thursday: the next Mondays are the 5th and the 12th, the next Sunday the 4th.
    assert fires("0 12 * * MON-MON", "UTC", utc(2026, 1, 1), 2) == [utc(2026, 1, 5, 12), utc(2026, 1, 12, 12)]
    assert fires("0 12 * * 7-7", "UTC", utc(2026, 1, 1), 2) == [utc(2026, 1, 4, 12), utc(2026, 1, 11, 12)]


def test_one_value_range_with_a_step_is_still_that_value():
    # Debian cron sets every step-th value from 5 to 5: just 5.
    assert fires("5-5/10 * * * *", "UTC", utc(2026, 1, 1), 3) == [utc(2026, 1, 1, h, 5) for h in range(3)]


# 2. Backward ranges are refused ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expr", "field", "written"),
    [
        ("* * 5-1 * *", "day of month", "5-1"),
        ("30-10 * * * *", "minute", "30-10"),
        ("0 0 * * FRI-MON", "day of week", "FRI-MON"),
        ("0 0 * * 7-1", "day of week", "7-1"),
        ("0 0 * DEC-JAN/2 *", "month", "DEC-JAN"),
    ],
)
def test_backward_range_is_refused_saying_why(expr, field, written):
    with pytest.raises(InvalidSchedule) as caught:
        CronTrigger(expr, "UTC")
    message = str(caught.value)
    assert "\n" not in message
    assert f'the {field} range "{written}" runs backwards' in message


# 3. Day of month and day of week -----------------------------------------------------------------


def test_a_day_field_starting_with_a_star_means_both_days_must_match():
    # Saturdays that fall on odd days: January 2026 has Saturdays on 3, 10, 17, 24, 31; February on 7, 14, 21, 28.
    assert fires("0 16 */2 * sat", "UTC", utc(2026, 1, 1), 5) == [
        utc(2026, 1, 3, 16),
        utc(2026, 1, 17, 16),
        utc(2026, 1, 31, 16),
        utc(2026, 2, 7, 16),
        utc(2026, 2, 21, 16),
    ]


def test_two_restricted_day_fields_mean_either_day():
    # The 13th or a Friday: Friday 2, Friday 9, Tuesday 13, Friday 16 (January 2026).
    assert fires("0 16 13 * fri", "UTC", utc(2026, 1, 1), 4) == [
        utc(2026, 1, 2, 16),
        utc(2026, 1, 9, 16),
        utc(2026, 1, 13, 16),
        utc(2026, 1, 16, 16),
    ]
    # "1-31" is restricted (it does not start with a star), so any day matches it: every day.
    assert fires("0 16 1-31 * sat", "UTC", utc(2026, 1, 1), 3) == [utc(2026, 1, d, 16) for d in (1, 2, 3)]
    # Either day also when the day of week is an nth or a last weekday (croniter alone drops the day of month).
    assert fires("0 0 13 * 5#2", "UTC", utc(2026, 1, 1), 3) == [utc(2026, 1, 9), utc(2026, 1, 13), utc(2026, 2, 13)]
    assert fires("0 0 L * 5", "UTC", utc(2026, 1, 29), 3) == [utc(2026, 1, 30), utc(2026, 1, 31), utc(2026, 2, 6)]


# 4. The repeated hour in autumn: Europe/Riga falls back from 04:00 EEST to 03:00 EET -------------
# on 2021-10-31 at 01:00 UTC, so 03:00-03:59 happens twice: first at 00:xx UTC, then at 01:xx UTC.


def test_wildcard_job_with_a_fixed_minute_runs_in_both_copies_of_the_repeated_hour():
    assert fires("0 */3 * * *", "Europe/Riga", utc(2021, 10, 30, 22), 4) == [
        utc(2021, 10, 31, 0),  # 03:00 EEST
        utc(2021, 10, 31, 1),  # 03:00 EET
        utc(2021, 10, 31, 4),  # 06:00 EET
        utc(2021, 10, 31, 7),
    ]


def test_every_minute_job_in_some_hours_is_not_silent_through_the_repeated_hour():
    assert fires("* 1-6 * * *", "Europe/Riga", utc(2021, 10, 31, 0, 57), 5) == [
        utc(2021, 10, 31, 0, 58),
        utc(2021, 10, 31, 0, 59),  # 03:58, 03:59 EEST
        utc(2021, 10, 31, 1, 0),
        utc(2021, 10, 31, 1, 1),
        utc(2021, 10, 31, 1, 2),  # 03:00-03:02 EET
    ]


def test_job_listing_every_hour_runs_once_in_the_repeated_hour():
    every_hour = ",".join(str(hour) for hour in range(24))
    assert fires(f"0 {every_hour} * * *", "Europe/Riga", utc(2021, 10, 30, 23, 30), 3) == [
        utc(2021, 10, 31, 0),  # 03:00 EEST only
        utc(2021, 10, 31, 2),  # 04:00 EET
        utc(2021, 10, 31, 3),
    ]


# 5. The skipped hour in spring -------------------------------------------------------------------


def test_wildcard_job_skips_wall_times_that_do_not_exist():
    # Europe/London jumps from 01:00 GMT to 02:00 BST at 2021-03-28 01:00 UTC: 01:07 never shows.
    assert fires("7 * * * *", "Europe/London", utc(2021, 3, 28), 3) == [
        utc(2021, 3, 28, 0, 7),  # 00:07 GMT
        utc(2021, 3, 28, 1, 7),  # 02:07 BST
        utc(2021, 3, 28, 2, 7),
    ]
    # Pacific/Chatham jumps from 02:45 (+12:45) to 03:45 (+13:45) at 2021-09-25 14:00 UTC.
    assert fires("*/30 * * * *", "Pacific/Chatham", utc(2021, 9, 25, 13), 4) == [
        utc(2021, 9, 25, 13, 15),  # 02:00 +12:45
        utc(2021, 9, 25, 13, 45),  # 02:30 +12:45
        utc(2021, 9, 25, 14, 15),  # 04:00 +13:45: 03:00 and 03:30 do not exist
        utc(2021, 9, 25, 14, 45),
    ]


def test_fixed_time_job_in_the_skipped_hour_runs_at_the_jump():
    assert fires("30 1 * * *", "Europe/London", utc(2021, 3, 27), 3) == [
        utc(2021, 3, 27, 1, 30),
        utc(2021, 3, 28, 1, 0),  # 01:30 does not exist: the moment the clocks jump
        utc(2021, 3, 29, 0, 30),
    ]


# Where cronsim, the oracle of test_cron_oracle.py, is wrong (cron_oracle.py): pinned by hand ----


def test_wildcard_jobs_where_the_clocks_move_by_half_an_hour():
    # Australia/Lord_Howe jumps from 02:00 (+10:30) to 02:30 (+11) at 2026-10-03 15:30 UTC.
    assert fires("* 3 * * *", "Australia/Lord_Howe", utc(2026, 10, 3, 15, 50), 2) == [
        utc(2026, 10, 3, 16, 0),
        utc(2026, 10, 3, 16, 1),  # 03:00, 03:01 (+11)
    ]
    assert fires("43 * * * *", "Australia/Lord_Howe", utc(2026, 10, 3, 14), 4) == [
        utc(2026, 10, 3, 14, 13),  # 00:43 (+10:30)
        utc(2026, 10, 3, 15, 13),  # 01:43 (+10:30)
        utc(2026, 10, 3, 15, 43),  # 02:43 (+11), shown 13 minutes after the jump
        utc(2026, 10, 3, 16, 43),
    ]


def test_wildcard_job_in_a_repeated_hour_that_starts_off_the_hour():
    # Pacific/Chatham falls back from 03:45 (+13:45) to 02:45 (+12:45) at 2026-04-04 14:00 UTC.
    assert fires("* 3 * * *", "Pacific/Chatham", utc(2026, 4, 4, 13, 58), 3) == [
        utc(2026, 4, 4, 13, 59),  # 03:44 (+13:45)
        utc(2026, 4, 4, 14, 15),  # 03:00 (+12:45): 02:45-02:59 came first
        utc(2026, 4, 4, 14, 16),
    ]


def test_wildcard_job_on_a_day_whose_midnight_was_skipped():
    # America/Sao_Paulo jumped from 00:00 (-03) to 01:00 (-02) on Sunday 2018-11-04, at 03:00 UTC.
    assert fires("*/30 0,7 * * SUN", "America/Sao_Paulo", utc(2018, 11, 3, 12), 3) == [
        utc(2018, 11, 4, 9, 0),  # 07:00 (-02): 00:00 and 00:30 never showed
        utc(2018, 11, 4, 9, 30),
        utc(2018, 11, 11, 2, 0),
    ]


# 6. One rule in the docs, plain messages ---------------------------------------------------------


@pytest.mark.parametrize(
    "expr",
    [
        "0 0 * * 5,6#3",
        "0 0 * * 5#6",
        "0 0 L-2 * *",
        "0 0 1-31/0 * *",
        "0 0 * * -1",
        "0 0 LW * *",
        "0 0 * JANUARY *",
        "*/5/2 * * * *",
        "1,,2 * * * *",
        "0 0 0 * *",
    ],
)
def test_refusals_say_what_is_wrong_without_croniter_internals(expr):
    with pytest.raises(InvalidSchedule) as caught:
        CronTrigger(expr, "UTC")
    reason = str(caught.value).removeprefix(f'Invalid cron expression "{expr}": ').split("; use 5 fields")[0]
    assert "\n" not in reason
    assert not re.search(r"[{}\[\]]|dow=|nth=|field \d|Cron:|bands|acceptable", reason), reason
    assert reason != "a field is not valid"


RULE_HEADING = "Jobs and clock changes, as Debian cron (Vixie cron) runs them:"


def clock_change_rule(text: str) -> str:
    """The heading and the list after it, spacing ignored."""
    assert RULE_HEADING in text
    return " ".join(" ".join(text[text.index(RULE_HEADING) :].split("\n\n")[:2]).split())


def test_readme_and_cron_module_state_the_same_clock_change_rule():
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    assert clock_change_rule(readme) == clock_change_rule(cron_module.__doc__)
    assert "0 */3 * * *` in Europe/Riga runs at 03:00 EEST and again at 03:00 EET" in clock_change_rule(readme)
