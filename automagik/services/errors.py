"""Errors the services raise, each with a one-line message meant for the user.

The CLI maps them to exit codes (2 for bad input, 1 for a failure at run time) and the
dashboard shows the message with st.error: neither ever shows a traceback.
"""

from __future__ import annotations


class ServiceError(Exception):
    """Base class: `str(error)` is the message to show."""

    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(ServiceError):
    """The user asked for something that cannot be done as given; nothing was written."""

    exit_code = 2


class NotFound(InvalidInput):
    """An id that names nothing (flow, schedule, task)."""


class AmbiguousId(InvalidInput):
    """A short id that is the start of several ids: the message names them."""


class BudgetExceeded(InvalidInput):
    """A run refused because its flow's daily budget is reached (it can be forced)."""


class Unavailable(ServiceError):
    """Something outside the user's input failed (LangFlow unreachable, refused...)."""

    exit_code = 1
