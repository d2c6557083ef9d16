"""Finding a row by the id a user typed (a whole id, or a unique prefix of 8+ characters);
flows' names by id.

Every service that takes a flow, schedule or task id from a person resolves it here, so the
CLI and the dashboard accept the same short ids (the dashboard labels rows with the first
8 characters). A prefix is looked up as a range of the primary key's index
(`prefix <= id < prefix with its last character + 1`), never a scan, wherever the database
orders text by code point (SQLite always; PostgreSQL under the C, POSIX or C.UTF-8
collation). Under a linguistic collation that range need not hold every id starting with the
prefix, so there the ids are compared one by one: correct, but a scan of the table.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeGuard

from sqlalchemy import and_, func, select, text

from automagik.db.models import Flow
from automagik.services.errors import AmbiguousId

MAX_ID_LENGTH = 255
SHORT_ID_LENGTH = 8  # the shortest prefix accepted for an id: what the dashboard shows
MATCHES_SHOWN = 5  # an ambiguous prefix's error names at most this many ids
_CODE_POINT_COLLATIONS = {"C", "POSIX", "C.UTF-8", "C.utf8"}


def storable_id(key: object) -> TypeGuard[str]:
    """Whether any row could have this id. PostgreSQL refuses NUL in a query outright, so an id
    with one must be answered "not found" before it reaches the database, on every backend."""
    return isinstance(key, str) and "\x00" not in key and 0 < len(key) <= MAX_ID_LENGTH


def resolve_id(session, model, key: object) -> str | None:
    """The id of the row of `model` that `key` names: the row with that id, else the one row
    whose id starts with `key` (8 characters or more). None when no row matches; AmbiguousId,
    naming the matches, when several do."""
    if not storable_id(key):
        return None
    if session.get(model, key) is not None:
        return key
    if len(key) < SHORT_ID_LENGTH:
        return None
    column = model.__table__.c.id
    matches = session.scalars(
        select(column).where(_starts_with(session, column, key)).order_by(column).limit(MATCHES_SHOWN + 1)
    ).all()
    if len(matches) > 1:
        noun = model.__tablename__.removesuffix("s")
        shown = ", ".join(matches[:MATCHES_SHOWN]) + (", ..." if len(matches) > MATCHES_SHOWN else "")
        count = f"{MATCHES_SHOWN} or more" if len(matches) > MATCHES_SHOWN else str(len(matches))
        raise AmbiguousId(f'The {noun} id "{key}" is the start of {count} {noun} ids ({shown}): give more of it.')
    return matches[0] if matches else None


def find(session, model, key: object):
    """The row `key` names (see resolve_id), or None: session.get that also takes a short id."""
    full = resolve_id(session, model, key)
    return None if full is None else session.get(model, full)


def _starts_with(session, column, prefix: str):
    exact = func.substr(column, 1, len(prefix)) == prefix
    if not _ordered_by_code_point(session):
        return exact
    following = ord(prefix[-1]) + 1
    if 0xD800 <= following <= 0xDFFF:
        following = 0xE000  # surrogates cannot be encoded; none sorts between them anyway
    if following > 0x10FFFF:
        return and_(column >= prefix, exact)
    # The range is what the index serves; `exact` keeps the answer right whatever it holds.
    return and_(column >= prefix, column < prefix[:-1] + chr(following), exact)


def _ordered_by_code_point(session) -> bool:
    if session.get_bind().dialect.name != "postgresql":
        return True  # SQLite compares text with memcmp (BINARY), the primary keys' collation
    collation, provider = session.execute(
        text(
            # to_jsonb: datlocprovider exists from PostgreSQL 15 on (NULL before: libc)
            "SELECT datcollate, to_jsonb(d) ->> 'datlocprovider' FROM pg_database d WHERE datname = current_database()"
        )
    ).one()
    return provider in (None, "c", "b") and collation in _CODE_POINT_COLLATIONS


def flow_names(session, flow_ids: Iterable[str]) -> dict[str, str]:
    """The names of these flows, in one query (aggregates group by the id, not the name)."""
    return dict(session.execute(select(Flow.id, Flow.name).where(Flow.id.in_(list(flow_ids)))).all())
