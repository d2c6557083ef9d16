"""Errors raised for schedules a user typed wrong.

Every message is one line a person can act on: it names what was given and shows what a
valid value looks like, so the dashboard and the CLI can print it as-is, never a traceback.
"""


class InvalidSchedule(ValueError):
    """A schedule expression (interval, cron or one-shot time) that cannot be used."""


class InvalidTimezone(InvalidSchedule):
    """A time zone name that is not a known IANA zone."""


class InvalidTime(InvalidSchedule):
    """A typed time that names no single instant: not ISO 8601, empty, or skipped by the clocks."""


class NaiveDatetimeError(ValueError):
    """A datetime without a time zone where an instant was expected.

    This is a programming error rather than user input: naive datetimes are ambiguous, and
    the scheduler compares instants in UTC everywhere.
    """


def quoted(text: object, limit: int = 60) -> str:
    """Quote user input for an error message, keeping the message on one line and short."""
    shown = " ".join(str(text).split()) if isinstance(text, str) else repr(text)
    if len(shown) > limit:
        shown = shown[: limit - 1] + "…"
    return f'"{shown}"'
