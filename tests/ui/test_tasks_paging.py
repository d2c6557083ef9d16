"""Tasks: moving through the pages (keyset paging), and pages that hold still as runs arrive."""

from __future__ import annotations

from datetime import timedelta

import pytest

from automagik.clock import utcnow
from automagik.db.models import TaskStatus
from tests.services.helpers import TWO_OUT_ID
from tests.ui.helpers import add_task, ready_flows


@pytest.fixture
def runs(db, langflow):
    """60 runs over the last 50 minutes, newest first in the list (ids[0] is the newest);
    every 4th failed (of the other flow)."""
    ready_flows(db, langflow)
    now = utcnow()
    return [
        add_task(db, flow_id=TWO_OUT_ID, status=TaskStatus.FAILED, planned=now - timedelta(seconds=50 * n + 10))
        if n % 4 == 0
        else add_task(db, planned=now - timedelta(seconds=50 * n + 10))
        for n in range(60)
    ]


def _caption(at) -> str:
    return next(c.value for c in at.caption if "match" in c.value)


def _ids(at) -> list[str]:
    return list(at.dataframe[0].value["id"])


def _page_number(at):
    return at.number_input(key="tasks_page_number")


def test_first_next_previous_and_last_pages(open_page, runs):
    at = open_page("tasks")
    (pages,) = at.pagination
    assert (pages.num_pages, pages.value) == (3, 1)
    assert _page_number(at).label == "Go to page" and _page_number(at).value is None
    assert _page_number(at).proto.placeholder == "1 to 3" and "· page 1 of 3 ·" in _caption(at)
    assert _ids(at) == runs[:25]
    at.pagination[0].select(2).run()  # next
    assert _ids(at) == runs[25:50]
    at.pagination[0].select(3).run()  # the last page, read from the oldest run
    assert _ids(at) == runs[50:60]
    at.pagination[0].select(2).run()  # previous
    assert _ids(at) == runs[25:50]
    at.pagination[0].select(1).run()  # first
    assert _ids(at) == runs[:25] and _caption(at).startswith("60 runs match")


def test_a_page_number_typed_is_read_and_shown_by_the_pagination(open_page, runs):
    at = open_page("tasks")
    at.selectbox(key="tasks_page_size").select(25).run()
    _page_number(at).set_value(3).run()
    assert _ids(at) == runs[50:60] and "· page 3 of 3 ·" in _caption(at)
    assert at.pagination[0].value == 3 and _page_number(at).value is None  # the box empties again
    at.pagination[0].select(2).run()  # the arrows and numbers go on from there
    assert _ids(at) == runs[25:50]
    _page_number(at).set_value(3).run()  # the same number typed again is a new jump
    assert _ids(at) == runs[50:60] and at.pagination[0].value == 3


def test_a_page_past_the_end_after_a_filter_narrows_shows_the_last_page(open_page, runs):
    at = open_page("tasks")
    at.pagination[0].select(3).run()
    at.multiselect(key="tasks_status").select("failed").run()  # 15 runs: one page
    assert _caption(at).startswith("15 runs match")
    assert at.pagination[0].value == 1 and at.pagination[0].num_pages == 1
    assert _ids(at) == runs[0:60:4]


def test_runs_arriving_do_not_move_the_page_being_read(open_page, runs, db):
    at = open_page("tasks")
    at.pagination[0].select(2).run()
    assert _ids(at) == runs[25:50]
    new = [add_task(db, planned=utcnow() - timedelta(seconds=s)) for s in (3, 2, 1)]
    at.run()  # what a refresh of the table does
    assert _ids(at) == runs[25:50] and at.pagination[0].num_pages == 3
    assert _caption(at).startswith("63 runs match")
    assert "3 newer runs since you left page 1: go to page 1 to see them" in _caption(at)
    at.pagination[0].select(3).run()
    assert _ids(at) == runs[50:60]
    at.pagination[0].select(1).run()  # page 1 follows the newest runs again
    assert _ids(at)[:4] == [*reversed(new), runs[0]] and "newer" not in _caption(at)
    assert at.pagination[0].num_pages == 3  # 63 runs
    at.pagination[0].select(3).run()  # a new visit past page 1: positions from the newest now
    assert _ids(at) == runs[47:60]


def test_a_visit_to_another_page_and_back_does_not_return_to_an_old_typed_page(open_page, runs):
    """Found by review: the last page typed stayed in the session and was the page shown at
    every later visit, wherever the pagination had been since (here page 3, not page 1)."""
    at = open_page("tasks")
    _page_number(at).set_value(3).run()
    at.pagination[0].select(1).run()  # back to the first page with the pagination
    assert _ids(at) == runs[:25]
    at.switch_page("pages/flows.py").run()
    at.switch_page("pages/tasks.py").run()
    assert _ids(at) == runs[:25] and "· page 1 of 3 ·" in _caption(at)
    _page_number(at).set_value(2).run()  # and a page typed now is read as before
    assert _ids(at) == runs[25:50] and at.pagination[0].value == 2


def test_a_page_size_that_leaves_one_page_shows_the_newest_runs_as_page_1_does(open_page, runs, db):
    """Found by review: a page past the first that fell back to page 1 (here a larger page
    size) was still read under the old top, so "page 1 of 1" hid the newer runs and told the
    user to go to page 1 to see them, until the next refresh."""
    at = open_page("tasks")
    at.pagination[0].select(2).run()
    new = [add_task(db, planned=utcnow() - timedelta(seconds=s)) for s in (3, 2, 1)]
    at.run()
    assert "3 newer runs since you left page 1" in _caption(at)
    at.selectbox(key="tasks_page_size").select(100).run()  # 63 runs: one page
    assert "· page 1 of 1 ·" in _caption(at) and "newer" not in _caption(at)
    assert _ids(at)[:4] == [*reversed(new), runs[0]] and len(_ids(at)) == 63


def test_a_new_filter_or_page_size_starts_again_at_page_1(open_page, runs):
    """Page 3 of other filters or another page size is other rows: the list starts again
    from its newest run, as a search does."""
    at = open_page("tasks")
    at.pagination[0].select(3).run()
    assert _ids(at) == runs[50:60]
    at.multiselect(key="tasks_status").select("completed").run()
    completed = [run for n, run in enumerate(runs) if n % 4]
    assert at.pagination[0].value == 1 and _ids(at) == completed[:25]
    assert "· page 1 of 2 ·" in _caption(at)
    at.pagination[0].select(2).run()
    assert _ids(at) == completed[25:45]
    at.selectbox(key="tasks_page_size").select(50).run()
    assert at.pagination[0].value == 1 and _ids(at) == completed[:45]
    at.selectbox(key="tasks_page_size").select(25).run()
    at.pagination[0].select(2).run()  # and the pages move on from there as before
    assert _ids(at) == completed[25:45]
