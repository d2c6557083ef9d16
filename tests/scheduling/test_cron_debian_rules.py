"""Where the project's cron used to differ from Debian cron (the six points of issue 15), pinned by hand.

Every expected instant is written out, in UTC, with the wall time it stands for.
"""

import re
from datetime import UTC, datetime

import pytest

from automagik.scheduling import CronTrigger, InvalidSchedule, preview_fires


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
    [("* * 5-1 * *", "day of month", "5-1"), ("30-10 * * * *", "minute", "30-10"),
     ("0 0 * * FRI-MON", "day of week", "FRI-MON"), ("0 0 * * 7-1", "day of week", "7-1"),
     ("0 0 * DEC-JAN/2 *", "month", "DEC-JAN")],
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
        utc(2026, 1, 3, 16), utc(2026, 1, 17, 16), utc(2026, 1, 31, 16), utc(2026, 2, 7, 16), utc(2026, 2, 21, 16)
    ]


def test_two_restricted_day_fields_mean_either_day():
    # The 13th or a Friday: Friday 2, Friday 9, Tuesday 13, Friday 16 (January 2026).
    assert fires("0 16 13 * fri", "UTC", utc(2026, 1, 1), 4) == [
        utc(2026, 1, 2, 16), utc(2026, 1, 9, 16), utc(2026, 1, 13, 16), utc(2026, 1, 16, 16)
    ]
    # "1-31" is restricted (it does not start with a star), so any day matches it: every day.
    assert fires("0 16 1-31 * sat", "UTC", utc(2026, 1, 1), 3) == [utc(2026, 1, d, 16) for d in (1, 2, 3)]
    # Either day also when the day of week is an nth or a last weekday (croniter alone drops the day of month).
    assert fires("0 0 13 * 5#2", "UTC", utc(2026, 1, 1), 3) == [utc(2026, 1, 9), utc(2026, 1, 13), utc(2026, 2, 13)]
    assert fires("0 0 L * 5", "UTC", utc(2026, 1, 29), 3) == [utc(2026, 1, 30), utc(2026, 1, 31), utc(2026, 2, 6)]


# 6. Plain messages ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "expr",
    ["0 0 * * 5,6#3", "0 0 * * 5#6", "0 0 L-2 * *", "0 0 1-31/0 * *", "0 0 * * -1", "0 0 LW * *", "0 0 * JANUARY *",
     "*/5/2 * * * *", "1,,2 * * * *", "0 0 0 * *"],
)
def test_refusals_say_what_is_wrong_without_croniter_internals(expr):
    with pytest.raises(InvalidSchedule) as caught:
        CronTrigger(expr, "UTC")
    reason = str(caught.value).removeprefix(f'Invalid cron expression "{expr}": ').split("; use 5 fields")[0]
    assert "\n" not in reason
    assert not re.search(r"[{}\[\]]|dow=|nth=|field \d|Cron:|bands|acceptable", reason), reason
    assert reason != "a field is not valid"
