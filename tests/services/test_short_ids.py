"""resolve_id, the one place a typed id is looked up: whole ids, unique starts of 8+
characters, ambiguous starts, and the primary key's index serving the prefix on both backends."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import event

from automagik.db.models import Flow, Schedule, Task
from automagik.services.errors import AmbiguousId
from automagik.services.lookup import MATCHES_SHOWN, find, resolve_id

NOW = datetime(2026, 11, 27, 9, tzinfo=UTC)


def add_flows(db, *ids: str) -> None:
    with db.write() as session:
        for flow_id in ids:
            session.add(Flow(id=flow_id, name=f"flow {flow_id}", data={}, created_at=NOW, updated_at=NOW))


def test_a_whole_id_or_a_unique_start_of_eight_or_more(db):
    add_flows(db, "abcdef12-one", "abcdef12-two", "abcdef12", "zz-flow-0001")
    with db.read() as session:
        assert resolve_id(session, Flow, "zz-flow-0001") == "zz-flow-0001"
        assert resolve_id(session, Flow, "zz-flow-") == "zz-flow-0001"
        assert resolve_id(session, Flow, "zz-flow") is None  # 7 characters: only a whole id
        assert resolve_id(session, Flow, "abcdef12-o") == "abcdef12-one"
        # A whole id wins over being the start of others.
        assert resolve_id(session, Flow, "abcdef12") == "abcdef12"
        assert resolve_id(session, Flow, "ABCDEF12-one") is None  # ids are case-sensitive
        assert resolve_id(session, Flow, "abcdef12-three") is None
        assert resolve_id(session, Flow, "bad\x00id-123") is None
        assert find(session, Flow, "abcdef12-t").id == "abcdef12-two"
        with pytest.raises(AmbiguousId) as raised:
            resolve_id(session, Flow, "abcdef12-")
    assert raised.value.message == (
        'The flow id "abcdef12-" is the start of 2 flow ids (abcdef12-one, abcdef12-two): give more of it.'
    )


def test_an_ambiguous_start_names_a_few_of_its_matches(db):
    add_flows(db, *(f"0123456789-{n}" for n in range(MATCHES_SHOWN + 3)))
    with db.read() as session, pytest.raises(AmbiguousId) as raised:
        resolve_id(session, Flow, "0123456789")
    message = raised.value.message
    assert message.startswith(f'The flow id "0123456789" is the start of {MATCHES_SHOWN} or more flow ids (')
    assert message.count("0123456789-") == MATCHES_SHOWN and ", ...)" in message


def test_characters_that_sort_around_the_prefix_are_not_matches(db):
    # The range's upper bound is the prefix with its last character + 1: neither bound leaks.
    add_flows(db, "prefixed-0", "prefixed-/", "prefixed.0", "prefixed-09", "prefixed,0")
    with db.read() as session:
        assert resolve_id(session, Flow, "prefixed-0") == "prefixed-0"  # whole id
        assert resolve_id(session, Flow, "prefixed-09") == "prefixed-09"
        assert resolve_id(session, Flow, "prefixed-/") == "prefixed-/"
        assert resolve_id(session, Flow, "prefixed.") == "prefixed.0"
        with pytest.raises(AmbiguousId, match=r"\(prefixed-/, prefixed-0, prefixed-09\)"):
            resolve_id(session, Flow, "prefixed-")


def test_a_prefix_ending_in_the_last_characters_of_unicode_is_still_looked_up(db):
    add_flows(db, "flow-id-\ud7ff-a", "flow-id-\U0010ffff-b")
    with db.read() as session:
        assert resolve_id(session, Flow, "flow-id-\ud7ff") == "flow-id-\ud7ff-a"  # next is a surrogate
        assert resolve_id(session, Flow, "flow-id-\U0010ffff") == "flow-id-\U0010ffff-b"  # no next at all


@pytest.mark.parametrize("model", [Flow, Schedule, Task])
def test_a_prefix_is_a_range_of_the_primary_key_index(db, model):
    statements = []

    def capture(conn, cursor, statement, params, context, executemany):
        statements.append((statement, params))

    event.listen(db.engine, "before_cursor_execute", capture)
    try:
        with db.read() as session:
            assert resolve_id(session, model, "0f1e2d3c-4b5a") is None
    finally:
        event.remove(db.engine, "before_cursor_execute", capture)
    statement, params = next((s, p) for s, p in statements if "substr" in s)
    table = model.__tablename__
    with db.engine.connect() as connection:
        cursor = connection.connection.driver_connection.cursor()
        if db.dialect == "sqlite":
            cursor.execute("EXPLAIN QUERY PLAN " + statement, params)
            plan = "\n".join(str(row[-1]) for row in cursor.fetchall())
            assert f"SEARCH {table} USING COVERING INDEX sqlite_autoindex_{table}_1 (id>? AND id<?)" in plan, plan
        else:
            # The test server's database is C.UTF-8 (code-point order): the range is used.
            cursor.execute("SET enable_seqscan = off")  # a few rows would make a scan cheapest
            cursor.execute("EXPLAIN " + statement, params)
            plan = "\n".join(row[0] for row in cursor.fetchall())
            assert f"Index Only Scan using pk_{table}" in plan and "Index Cond: ((id >= " in plan, plan
