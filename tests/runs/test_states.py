"""The task state machine: the transitions table is the only way a status changes."""

from __future__ import annotations

import ast
from pathlib import Path

from automagik.db.models import TaskStatus
from automagik.runs.states import TRANSITIONS, RetryPolicy, Transition, allowed, sole_source

AUTOMAGIK = Path(__file__).resolve().parents[2] / "automagik"


def test_every_transition_is_in_the_table_and_ends_where_it_says():
    assert set(TRANSITIONS) == set(Transition)
    assert TRANSITIONS[Transition.CLAIM].sources == {TaskStatus.PENDING}
    assert TRANSITIONS[Transition.USER_RETRY].sources == {TaskStatus.FAILED}
    for created in (Transition.FIRE, Transition.SKIP, Transition.QUEUE, Transition.BACKFILL):
        assert TRANSITIONS[created].sources == frozenset()
    # Terminal states leave only by one more try of a failed task: a person's, or a backfill's.
    for status in (TaskStatus.COMPLETED, TaskStatus.SKIPPED):
        assert not [t for t in Transition if allowed(status, t)]
    assert [t for t in Transition if allowed(TaskStatus.FAILED, t)] == [Transition.USER_RETRY, Transition.BACKFILL_REDO]


def test_a_try_is_recorded_from_one_status_whatever_it_came_to():
    # record_and_claim writes complete, retry-later and fail in one batched UPDATE.
    assert {sole_source(t) for t in (Transition.COMPLETE, Transition.RETRY_LATER, Transition.FAIL)} == {"running"}


def test_the_retry_rule_counts_tries_and_backs_off_with_jitter():
    rule = RetryPolicy(base_seconds=10, max_seconds=60)
    assert rule.may_retry(1, 3) and rule.may_retry(4, 3) is False and rule.may_retry(1, 0) is False
    delays = [rule.delay(tries) for tries in (1, 2, 3, 4, 5)]
    assert 8 <= delays[0] <= 12 and 16 <= delays[1] <= 24 and 32 <= delays[2] <= 48
    assert all(d <= 72 for d in delays[3:])  # capped, then jittered
    assert rule.delay(1, retry_after=50) >= 50  # a 429's Retry-After asks for longer


def _writes_task_state(tree: ast.AST) -> list[str]:
    """Statements that create a task or change a task row: Task(...), insert/update(Task...),
    insert/update(table) where `table = Task.__table__` (Core, for speed), or
    `something.status = ...` on a task."""
    task_tables = {
        target.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign) and ast.unparse(node.value) == "Task.__table__"
        for target in node.targets
        if isinstance(target, ast.Name)
    }
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
            first = ast.unparse(node.args[0]) if node.args else ""
            if name == "Task" or (name in ("insert", "update") and (first.startswith("Task") or first in task_tables)):
                found.append(ast.unparse(node)[:80])
        if isinstance(node, (ast.Assign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                for element in ast.walk(target):
                    if (
                        isinstance(element, ast.Attribute)
                        and element.attr == "status"
                        and "task" in ast.unparse(element.value).lower()
                    ):
                        found.append(ast.unparse(node)[:80])
    return found


def test_only_automagik_runs_writes_task_rows():
    offenders = {}
    for path in AUTOMAGIK.rglob("*.py"):
        if path.parts[-2] == "runs" or "migrations" in path.parts:
            continue
        writes = _writes_task_state(ast.parse(path.read_text()))
        if writes:
            offenders[str(path.relative_to(AUTOMAGIK))] = writes
    assert offenders == {}
    # ...and the check does find such writes where they are allowed, through Core's table too.
    assert _writes_task_state(ast.parse("table = Task.__table__\nsession.execute(update(table).values(status=s))"))
    for module in ("leases.py", "outcomes.py", "recovery.py"):
        assert _writes_task_state(ast.parse((AUTOMAGIK / "runs" / module).read_text())), module
