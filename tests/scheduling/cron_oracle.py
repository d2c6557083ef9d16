"""cronsim (healthchecks' cron library, which implements Debian cron's rules, clock changes
included) as an oracle for the project's cron, and the rule for where it cannot be one.

cronsim has three bugs with wildcard jobs (minute or hour field starting with "*": they follow
real time) in zones whose clocks change off the hour, by 30 minutes or at midnight. Debian cron
reads the wall clock each minute and has none of them:

1. It moves through real time by whole hours to a restricted hour, or by the minutes to a single
   minute, so it lands 30 minutes off where the clocks moved by 30 minutes: on Lord Howe's spring
   night it misses 03:00-03:29 of "* 3 * * *" and 02:43 of "43 * * * *".
2. Resetting to the top of an hour inside Chatham's repeated 02:45-03:44 takes it back to the
   first copy, and it loops for ever ("* 3 * * *").
3. A day whose midnight was skipped starts at the skipped midnight: "*/30 0,7 * * SUN" fires at
   Sao Paulo's jump to 01:00 on Sunday 2018-11-04.

So in those zones the random test compares only wildcard jobs whose hour field is "*" (and on
Lord Howe only those whose minute field cronsim walks minute by minute);
test_cron_debian_rules.py pins the three cases by hand.
"""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from cronsim import CronSim

#: Zones whose clock changes cronsim gets wrong for some wildcard jobs (see above).
CHANGES_OFF_THE_HOUR = {"Australia/Lord_Howe", "Pacific/Chatham", "America/Sao_Paulo", "Pacific/Apia"}
CHANGES_BY_HALF_AN_HOUR = {"Australia/Lord_Howe"}


def cronsim_misreads(expr: str, zone: str) -> bool:
    """Whether one of cronsim's bugs above can give a wrong answer for this 5-field expression."""
    minute, hour = expr.split()[:2]
    if zone not in CHANGES_OFF_THE_HOUR or not (minute.startswith("*") or hour.startswith("*")):
        return False
    if hour != "*":
        return True
    walks_by_minute = len(CronSim(f"{minute} * * * *", datetime(2000, 1, 1)).minutes) > 1
    return zone in CHANGES_BY_HALF_AN_HOUR and not walks_by_minute


def cronsim_fires(expr: str, zone: str, after: datetime) -> Iterator[datetime]:
    """cronsim's fires strictly after `after`, in UTC (raises CronSimError if it refuses `expr`).

    cronsim reads a fixed-time job's start as a wall time, so started inside a repeated hour it
    would answer with the hour's first copy, before `after`; it is then started 3 hours earlier
    and its answers up to `after` dropped. It stops when it finds nothing within 50 years.
    """
    tz = ZoneInfo(zone)
    start = after
    if (start - timedelta(hours=3)).astimezone(tz).utcoffset() != start.astimezone(tz).utcoffset():
        start -= timedelta(hours=3)
    for fire in CronSim(expr, start.astimezone(tz)):
        if fire.astimezone(UTC) > after:
            yield fire.astimezone(UTC)
