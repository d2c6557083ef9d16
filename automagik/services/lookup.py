"""Finding a row by the id a user typed; flows' names by id."""

from __future__ import annotations

from typing import Iterable

from sqlalchemy import select

from automagik.db.models import Flow

MAX_ID_LENGTH = 255


def storable_id(key: object) -> bool:
    """Whether any row could have this id. PostgreSQL refuses NUL in a query outright, so an id
    with one must be answered "not found" before it reaches the database, on every backend."""
    return isinstance(key, str) and "\x00" not in key and 0 < len(key) <= MAX_ID_LENGTH


def find(session, model, key: object):
    """session.get, returning None (not an error) for an id no row can have."""
    return session.get(model, key) if storable_id(key) else None


def flow_names(session, flow_ids: Iterable[str]) -> dict[str, str]:
    """The names of these flows, in one query (aggregates group by the id, not the name)."""
    return dict(session.execute(select(Flow.id, Flow.name).where(Flow.id.in_(list(flow_ids)))).all())
