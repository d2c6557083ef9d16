"""The project's cron against cronsim as an oracle (cron_oracle.py): random expressions, random
instants, zones with odd clock changes; the next fires must be the same instants.

The seed is random on each run and printed in every failure; set CRON_ORACLE_SEED to replay one.
The generator never writes syntax that only one side reads, or that the two read differently
(README, "Cron expressions"): a one-value range with a step ("5-5/10", cronsim reads it as
"5/10"), "?", "W", "LW"; the last weekday of a month is spelled "L5" for the project and "5L"
for cronsim. Nor does it write what cronsim's known bugs misread (cron_oracle.py).
"""

import os
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from itertools import islice
from zoneinfo import ZoneInfo

from cronsim import CronSimError

from automagik.scheduling import CronTrigger, InvalidSchedule, preview_fires
from automagik.scheduling.cron_fields import CRON_ALIASES

from .cron_oracle import cronsim_fires, cronsim_misreads

EXPRESSIONS = 3000
FIRES = 5

#: Zones and the years they are tested in: Sao Paulo only while Brazil still changed its clocks.
ZONES = {
    "Europe/Berlin": (1996, 2037),
    "America/New_York": (2007, 2037),
    "Australia/Lord_Howe": (1996, 2037),  # moves by 30 minutes
    "Pacific/Chatham": (2008, 2037),  # +12:45 / +13:45
    "America/Sao_Paulo": (2000, 2018),  # changed at midnight, so whole days start late or twice
    "Europe/Riga": (2000, 2037),
    "Asia/Kolkata": (2000, 2037),  # +05:30, no clock changes: the baseline
}

MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")


@dataclass(frozen=True)
class Case:
    project: str  # what a user types
    cronsim: str  # the same schedule as cronsim spells it
    zone: str
    after: datetime


class Generator:
    """Random cron expressions built from what Debian cron, the project and cronsim all read alike."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def case(self) -> Case:
        zone = self.rng.choice(list(ZONES))
        if self.rng.random() < 0.05:
            alias = self.rng.choice(list(CRON_ALIASES))
            project, cronsim = self.rng.choice([alias, alias.upper()]), CRON_ALIASES[alias]
        else:
            project, cronsim = (" ".join(words) for words in zip(*self.fields(zone), strict=False))
        return Case(project, cronsim, zone, self.instant(zone))

    def fields(self, zone: str) -> list[tuple[str, str]]:
        minute, hour = self.field(0, 59, (), star=0.3), self.field(0, 23, (), star=0.4)
        while cronsim_misreads(f"{minute} {hour} * * *", zone):  # see cron_oracle.py
            minute, hour = self.field(0, 59, (), star=0.3), self.field(0, 23, (), star=0.4)
        day = self.day_of_month()
        month = self.field(1, 12, MONTHS, star=0.7)
        weekday = self.day_of_week()
        return [(minute, minute), (hour, hour), (day, day), (month, month), weekday]

    def field(self, low: int, high: int, names: tuple[str, ...], star: float) -> str:
        if self.rng.random() < star:
            return "*"
        return ",".join(self.term(low, high, names) for _ in range(self.rng.choice((1, 1, 1, 2, 3))))

    def term(self, low: int, high: int, names: tuple[str, ...]) -> str:
        start, end = sorted(self.rng.randint(low, high) for _ in range(2))
        step = self.rng.choice((2, 3, 5, 7, 10, 15, 30, 45, 100))
        shape = self.rng.choice(("value", "value", "range", "range", "stepped range", "star step", "start step"))
        if shape == "value":
            return self.spelled(start, low, names)
        if shape == "star step":
            return f"*/{step}"
        if shape == "start step":
            return f"{self.spelled(start, low, names)}/{step}"
        if shape == "stepped range" and start < end:  # never "5-5/10": cronsim reads that as "5/10"
            return f"{self.spelled(start, low, names)}-{self.spelled(end, low, names)}/{step}"
        return f"{self.spelled(start, low, names)}-{self.spelled(end, low, names)}"

    def spelled(self, value: int, low: int, names: tuple[str, ...]) -> str:
        if names and value - low < len(names) and self.rng.random() < 0.5:
            return self.rng.choice((str.upper, str.lower, str.title))(names[value - low])
        return str(value)

    def day_of_month(self) -> str:
        if self.rng.random() < 0.05:
            return self.rng.choice(("L", "l", f"1,L,{self.rng.randint(2, 27)}"))
        return self.field(1, 31, (), star=0.6)

    def day_of_week(self) -> tuple[str, str]:
        """The day of week for the project and for cronsim: "L5" is cronsim's "5L"."""
        if self.rng.random() < 0.08:
            days = [self.rng.randint(0, 7) for _ in range(self.rng.choice((1, 1, 2)))]
            if self.rng.random() < 0.5:
                nth = [f"{self.spelled(day, 0, DAYS)}#{self.rng.randint(1, 5)}" for day in days]
                return ",".join(nth), ",".join(nth)
            return ",".join(f"L{day}" for day in days), ",".join(f"{day}L" for day in days)
        text = self.field(0, 7, DAYS, star=0.6)
        return text, text

    def instant(self, zone: str) -> datetime:
        """Mostly close to a clock change (a few minutes to a few days), sometimes anywhere."""
        first, last = ZONES[zone]
        changes = clock_changes(zone, first, last)
        kind = self.rng.random()
        if not changes or kind < 0.2:
            start = datetime(first, 1, 1, tzinfo=UTC)
            seconds = self.rng.randrange(int((datetime(last, 12, 31, tzinfo=UTC) - start).total_seconds()))
            return start + timedelta(seconds=seconds)
        spread = 3 * 3600 if kind < 0.7 else 3 * 86400
        return self.rng.choice(changes) + timedelta(seconds=self.rng.randint(-spread, spread))


@cache
def clock_changes(zone: str, first: int, last: int) -> list[datetime]:
    """The instants (UTC) at which `zone` changed its offset from `first` to `last`, to the minute."""
    tz, changes = ZoneInfo(zone), []
    day, end = datetime(first, 1, 1, tzinfo=UTC), datetime(last + 1, 1, 1, tzinfo=UTC)
    while day < end:
        following = day + timedelta(days=1)
        if day.astimezone(tz).utcoffset() != following.astimezone(tz).utcoffset():
            before, low, high = day.astimezone(tz).utcoffset(), day, following
            while high - low > timedelta(minutes=1):
                middle = low + (high - low) / 2
                low, high = (middle, high) if middle.astimezone(tz).utcoffset() == before else (low, middle)
            changes.append(high.replace(second=0, microsecond=0))
        day = following
    return changes


def oracle_fires(case: Case) -> list[datetime] | None:
    """cronsim's next fires in UTC (fewer if it finds none within 50 years); None if it refuses the expression."""
    try:
        return list(islice(cronsim_fires(case.cronsim, case.zone, case.after), FIRES))
    except CronSimError:
        return None


def project_fires(case: Case) -> list[datetime] | None:
    try:
        return preview_fires(CronTrigger(case.project, case.zone), case.after, FIRES)
    except InvalidSchedule:
        return None


def test_next_fires_agree_with_cronsim():
    seed = int(os.environ.get("CRON_ORACLE_SEED") or random.randrange(2**32))
    print(f"CRON_ORACLE_SEED={seed}")
    generator = Generator(seed)
    compared = 0
    for _ in range(EXPRESSIONS):
        case = generator.case()
        ours, theirs = project_fires(case), oracle_fires(case)
        # The project refuses an expression that never fires; cronsim accepts it and finds nothing.
        assert ours == theirs or (ours is None and theirs == []), (
            f"{case}: the project says {ours}, cronsim says {theirs}. "
            f"Replay with CRON_ORACLE_SEED={seed} pytest {__file__}"
        )
        compared += ours is not None
    assert compared > EXPRESSIONS * 0.9  # the generator writes mostly expressions both accept
