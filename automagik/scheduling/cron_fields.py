"""The five fields of a cron expression, read the way Debian cron (Vixie cron) reads them.

croniter does the calendar arithmetic, but it reads some spellings differently from Debian
cron: "5-5" as the whole field, "FRI-MON" as a range that wraps round the week, "5/1" in the
day of week as stopping on Saturday. So every term is read here first: what cannot be meant
is refused with a one-line reason, and croniter is handed only text that it reads the way
Debian cron would. How a line was written also matters to Debian cron in two places, kept
as properties of the result: a minute or hour field starting with "*" makes a "wildcard" job
(it follows real time when the clocks change), and a day field starting with "*" makes the
day of month and the day of week both have to match.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import InvalidSchedule, quoted

#: The @-shortcuts cron understands, as the 5-field expressions they stand for.
CRON_ALIASES: dict[str, str] = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}

_HINT = (
    'use 5 fields (minute hour day month weekday) like "*/5 * * * *" or "30 2 * * 1-5", '
    "or @hourly, @daily, @weekly, @monthly, @yearly"
)
_RANDOM_OR_HASHED = re.compile(r"^[hr](?:$|[(/])", re.IGNORECASE)


@dataclass(frozen=True)
class _Field:
    """One of the five fields: its name in messages, its bounds and its spelled values (from `low` up)."""

    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()
    # Where a range that runs backwards would be split in two; the day of week's 7 is Sunday again.
    last: int | None = None

    def describe_values(self) -> str:
        spelled = f" or {self.names[0]}-{self.names[-1]}" if self.names else ""
        sunday = ", Sunday is 0 or 7" if self.high == 7 else ""
        return f"{self.low}-{self.high}{spelled}{sunday}"


MINUTE = _Field("minute", 0, 59)
HOUR = _Field("hour", 0, 23)
DAY_OF_MONTH = _Field("day of month", 1, 31)
MONTH = _Field("month", 1, 12, ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"))
DAY_OF_WEEK = _Field("day of week", 0, 7, ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"), last=6)
FIELDS = (MINUTE, HOUR, DAY_OF_MONTH, MONTH, DAY_OF_WEEK)

_STAR = re.compile(r"\*(?:/(?P<step>[0-9]+))?", re.ASCII)
_VALUE_OR_RANGE = re.compile(r"(?P<start>[0-9A-Za-z]+)(?:-(?P<end>[0-9A-Za-z]+))?(?:/(?P<step>[0-9]+))?", re.ASCII)
# croniter's extensions, none of them Debian cron's: the weekday nearest a day of month
# ("15W"), the nth weekday of the month ("5#3": the third Friday), the last one ("L5").
_NEAREST_WEEKDAY = re.compile(r"(?:(?P<before>[0-9]+)W|W(?P<after>[0-9]+))", re.ASCII | re.IGNORECASE)
_NTH_WEEKDAY = re.compile(r"(?P<day>[0-9A-Za-z]+)#(?P<nth>[0-9]+)", re.ASCII)
_LAST_WEEKDAY = re.compile(r"L(?P<day>[0-9]+)", re.ASCII | re.IGNORECASE)


@dataclass(frozen=True)
class CronFields:
    """A checked cron expression, each field as croniter is to read it."""

    minute: str
    hour: str
    day_of_month: str
    month: str
    day_of_week: str

    @property
    def text(self) -> str:
        return " ".join((self.minute, self.hour, self.day_of_month, self.month, self.day_of_week))

    @property
    def follows_real_time(self) -> bool:
        """Debian cron's "wildcard" job: the minute or the hour field starts with "*"."""
        return self.minute.startswith("*") or self.hour.startswith("*")

    @property
    def days_must_both_match(self) -> bool:
        """Debian cron: a day field starting with "*" (even "*/2") makes the two day fields AND, not OR."""
        return self.day_of_month.startswith("*") or self.day_of_week.startswith("*")

    def croniter_texts(self) -> list[str]:
        """Expressions for croniter with day_or=False whose matches, together, are this expression's.

        "Either day" is read as two expressions, one per day field, rather than with croniter's
        own "or", which drops the day of month when the day of week uses "#" or "L" (croniter 7
        never fires "0 0 13 * 5#2" on a Tuesday the 13th).
        """
        if self.days_must_both_match:
            return [self.text]
        rest = (self.minute, self.hour)
        return [
            " ".join((*rest, self.day_of_month, self.month, "*")),
            " ".join((*rest, "*", self.month, self.day_of_week)),
        ]


def expand_cron(expr: str) -> str:
    """Normalize spacing and replace an @-shortcut by its 5-field form; refuse anything else.

    Seconds (6 fields) and years (7 fields) are croniter extensions that other cron
    implementations read differently, and random/hashed fields ("R", "H") would fire at a
    different minute each time the expression is parsed, so all are refused.
    """
    if not isinstance(expr, str) or not expr.strip():
        raise invalid_cron(expr, "it is empty")
    text = " ".join(expr.split())
    if text.startswith("@"):
        if text.lower() not in CRON_ALIASES:
            raise invalid_cron(expr, "unknown shortcut")
        return CRON_ALIASES[text.lower()]
    fields = text.split(" ")
    if len(fields) != 5:
        raise invalid_cron(expr, f"it has {len(fields)} fields, not 5")
    if any(_RANDOM_OR_HASHED.match(term) for field in fields for term in field.split(",")):
        raise invalid_cron(expr, "random/hashed fields are not supported")
    return text


def read_cron(expr: str) -> CronFields:
    """Check every field of `expr` (or its @-shortcut) and return it as croniter is to read it."""
    written = expand_cron(expr).split(" ")
    try:
        return CronFields(*(_read_field(field, text) for field, text in zip(FIELDS, written, strict=False)))
    except _Unreadable as problem:
        raise invalid_cron(expr, str(problem)) from None


def invalid_cron(expr: object, reason: str) -> InvalidSchedule:
    """The one-line refusal: what was given, what is wrong with it, what a valid one looks like."""
    return InvalidSchedule(f"Invalid cron expression {quoted(expr)}: {reason}; {_HINT}.")


class _Unreadable(ValueError):
    """A term that is not cron; the message says why, in words for the person who typed it."""


def _read_field(field: _Field, text: str) -> str:
    if text == "?":  # Quartz's "no particular day", which croniter reads as "*"
        if field not in (DAY_OF_MONTH, DAY_OF_WEEK):
            raise _Unreadable(f'"?" is only for the day of month or the day of week, not the {field.name}')
        return "*"
    terms = [_read_term(field, term) for term in text.split(",")]
    if len(terms) > 1 and any(_NEAREST_WEEKDAY.fullmatch(term) for term in terms):
        raise _Unreadable(f'a nearest weekday like "15W" must be the whole day of month, not part of {quoted(text)}')
    special = [term for term in terms if "#" in term or term.startswith("L")]
    if field is DAY_OF_WEEK and special and len(special) < len(terms):
        raise _Unreadable(
            f"the day of week {quoted(text)} mixes {quoted(special[0])} with plain weekdays (make two schedules)"
        )
    return ",".join(terms)


def _read_term(field: _Field, term: str) -> str:
    """One comma-separated item, rewritten so that croniter reads it as Debian cron does."""
    if not term:
        raise _Unreadable(f"the {field.name} list has an empty item")
    if field is DAY_OF_MONTH:
        if term.upper() == "L":
            return "L"
        if nearest := _NEAREST_WEEKDAY.fullmatch(term):
            return f"{_value(field, nearest['before'] or nearest['after'])}W"
    if field is DAY_OF_WEEK:
        if nth := _NTH_WEEKDAY.fullmatch(term):
            if not 1 <= int(nth["nth"]) <= 5:
                raise _Unreadable(f'{quoted(term)}: a month has 1 to 5 of each weekday ("5#3" is the third Friday)')
            return f"{_value(field, nth['day'])}#{int(nth['nth'])}"
        if last := _LAST_WEEKDAY.fullmatch(term):
            return f"L{_value(field, last['day'])}"
        if term[:-1].isdigit() and term[-1:] in "lL":
            raise _Unreadable(f'{quoted(term)}: a last weekday is written L first ("L5" is the last Friday)')
    if star := _STAR.fullmatch(term):
        return "*" if star["step"] is None else f"*/{_step(field, star['step'])}"
    shape = _VALUE_OR_RANGE.fullmatch(term)
    if shape is None:
        raise _Unreadable(f"{quoted(term)} is not a {field.name}, a range or a step (like 5, 1-5, */15)")
    start = _value(field, shape["start"])
    step = None if shape["step"] is None else _step(field, shape["step"])
    if shape["end"] is None:
        # "5/15" means 5 to the end of the field, every 15th (croniter's and cronsim's reading;
        # Debian cron refuses it). Written out, croniter cannot stop the week at Saturday.
        return str(start) if step is None or start == field.high else f"{start}-{field.high}/{step}"
    end = _value(field, shape["end"])
    if end < start:
        raise _Unreadable(_backwards(field, term, start, end, step))
    if end == start:  # Debian cron sets every step-th value from 5 to 5: only 5
        return str(start)
    return f"{start}-{end}" if step is None else f"{start}-{end}/{step}"


def _value(field: _Field, token: str) -> int:
    number = None
    if token.isdigit():
        number = int(token)
    elif token.upper() in field.names:
        number = field.low + field.names.index(token.upper())
    if number is None or not field.low <= number <= field.high:
        raise _Unreadable(f"{quoted(token)} is not a {field.name} ({field.describe_values()})")
    return number


def _step(field: _Field, token: str) -> int:
    if int(token) == 0:
        raise _Unreadable(f"a step of 0 in the {field.name} field never moves on (use /1 or more)")
    return int(token)


def _backwards(field: _Field, term: str, start: int, end: int, step: int | None) -> str:
    """Debian cron refuses a range whose end comes before its start; croniter would wrap it round."""
    written = term.split("/")[0]
    reason = f"the {field.name} range {quoted(written)} runs backwards ({start} to {end})"
    if step is not None:
        return f"{reason}, and ranges go from low to high"
    last = field.high if field.last is None else field.last
    pieces = [f"{low}-{high}" if low < high else str(low) for low, high in ((start, last), (field.low, end))]
    return f'{reason}, and ranges go from low to high: write "{",".join(pieces)}" instead'
