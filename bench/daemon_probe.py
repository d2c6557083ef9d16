"""Timing wrappers on an in-process daemon, and what they say: beats, ticks and transactions.

    probe = Probe(daemon)          # before daemon.run(); the daemon's code runs unchanged
    ...
    timeline = probe.timeline(end) # what began before `end`, seconds since probe.restart_clock()
    print("\\n".join(timeline.report()))

Instance attributes shadow the methods of that one Daemon and its Database (beat, tick,
write, read), so nothing else is timed: not another daemon, not the benchmark's own reads.
Each transaction is named by the function that opened it (`runs.fires.dispatch_due`) and
carries what it did: its statements by kind and the rows they wrote, the time spent in the
driver's calls (the slowest statement named) and in its commit; the rest of its time is
Python's (building statements and objects, waiting for the GIL).
Used by bench/soak.py; it names the daemon's internals, so it follows them when they change.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import event

from automagik.daemon.loop import Daemon
from bench.common import percentile

DAEMON_THREAD = "daemon"  # the name to give the thread running Daemon.run: its transactions are the ticks'


@dataclass(frozen=True)
class Span:
    """One timed call: what it was (for a transaction, the function that opened it), when it
    began (seconds since the probe's clock started, monotonic), how long it took, on which thread."""

    what: str
    began: float
    seconds: float
    thread: str
    ok: bool = True  # False: it raised (a transaction rolled back)
    statements: str = ""  # for a transaction, what it did (Noted.text)

    @property
    def ended(self) -> float:
        return self.began + self.seconds


def _opener(frame) -> str:
    """`runs.fires.dispatch_due` for the frame of automagik.runs.fires.dispatch_due."""
    module = frame.f_globals.get("__name__", "?").removeprefix("automagik.")
    return f"{module}.{frame.f_code.co_name}"


def _rows_written(statement, multiparams, result) -> int | None:
    """Rows a statement wrote: one per parameter set of an executemany (psycopg2's execute_batch
    reports only its last page), else the rowcount; None when unknown (a single statement with
    RETURNING: SQLite counts its rows only as they are fetched)."""
    if len(multiparams) > 1:
        return len(multiparams)
    if len(getattr(statement, "exported_columns", ())) or getattr(result, "rowcount", -1) < 0:
        return None
    return result.rowcount


def _compact(sql: str, limit: int = 110) -> str:
    """A statement on one line, a SELECT's column list left out."""
    sql = " ".join(sql.split())
    if sql.startswith("SELECT ") and " FROM " in sql:
        sql = "SELECT ... FROM " + sql.split(" FROM ", 1)[1]
    return sql if len(sql) <= limit else sql[:limit] + "..."


class Noted:
    """What one transaction did, as the engine's events saw it."""

    def __init__(self) -> None:
        self.kinds: dict[str, list[int | None]] = defaultdict(list)  # statement kind -> rows each wrote
        self.driver = 0.0  # seconds inside the driver's execute calls (SQLite's BEGIN IMMEDIATE included)
        self.slowest: tuple[float, str] = (0.0, "")
        self.cursor_began = 0.0
        self.commit_began: float | None = None

    def text(self, ended: float) -> str:
        """'SELECT 2, UPDATE 1 (500 rows), INSERT 1 (500 rows); driver 120 ms (slowest 80 ms: INSERT
        INTO tasks ...); commit 30 ms' ('+' after rows: some statements did not say)."""
        parts = []
        for kind, counts in self.kinds.items():
            known = [n for n in counts if n is not None]
            more = "+" if len(known) < len(counts) else ""
            rows = "" if kind == "SELECT" or not known else f" ({sum(known)}{more} rows)"
            parts.append(f"{kind} {len(counts)}{rows}")
        text = ", ".join(parts) + f"; driver {self.driver * 1000:.0f} ms"
        if self.slowest[1]:
            text += f" (slowest {self.slowest[0] * 1000:.0f} ms: {self.slowest[1]})"
        if self.commit_began is not None:
            text += f"; commit {(ended - self.commit_began) * 1000:.0f} ms"
        return text


class Probe:
    """Timing wrappers on one Daemon and its Database. Lists are appended from several threads
    (list.append is atomic under the GIL)."""

    def __init__(self, daemon: Daemon) -> None:
        self.origin = time.monotonic()
        self.beats: list[Span] = []
        self.ticks: list[Span] = []
        self.writes: list[Span] = []
        self.reads: list[Span] = []
        self._local = threading.local()  # the statements of the transaction open on this thread
        daemon.beat = self._timed_beat(daemon.beat)
        daemon.tick = self._timed_tick(daemon.tick)  # the loop calls self.tick through _ticked
        daemon.db.write = self._timed_transactions(daemon.db.write, self.writes)
        daemon.db.read = self._timed_transactions(daemon.db.read, self.reads)
        engine = daemon.db.engine
        event.listen(engine, "after_execute", self._note_statement)
        event.listen(engine, "before_cursor_execute", self._note_cursor_began)
        event.listen(engine, "after_cursor_execute", self._note_cursor_ended)
        event.listen(engine, "commit", self._note_commit)

    def restart_clock(self) -> None:
        self.origin = time.monotonic()

    def now(self) -> float:
        return time.monotonic() - self.origin

    def timeline(self, end: float) -> Timeline:
        """What began before `end`: a shutdown's own transactions are not part of a measure."""

        def kept(spans: list[Span]) -> list[Span]:
            return [s for s in list(spans) if s.began < end]

        return Timeline(end, kept(self.beats), kept(self.ticks), kept(self.writes), kept(self.reads))

    def _record(self, spans: list[Span], what: str, began: float, ok: bool, statements: str = "") -> None:
        spans.append(
            Span(what, began - self.origin, time.monotonic() - began, threading.current_thread().name, ok, statements)
        )

    def _noted(self) -> Noted | None:
        return getattr(self._local, "noted", None)

    def _note_statement(self, _connection, statement, multiparams, _params, _options, result) -> None:
        if (noted := self._noted()) is not None:
            noted.kinds[type(statement).__name__.upper()].append(_rows_written(statement, multiparams, result))

    def _note_cursor_began(self, *_args) -> None:
        if (noted := self._noted()) is not None:
            noted.cursor_began = time.monotonic()

    def _note_cursor_ended(self, _connection, _cursor, statement, *_args) -> None:
        if (noted := self._noted()) is not None:
            seconds = time.monotonic() - noted.cursor_began
            noted.driver += seconds
            if seconds > noted.slowest[0]:
                noted.slowest = (seconds, _compact(statement))

    def _note_commit(self, _connection) -> None:
        if (noted := self._noted()) is not None:
            noted.commit_began = time.monotonic()

    def _timed_beat(self, beat):
        def timed_beat() -> None:
            began, ok = time.monotonic(), False
            try:
                beat()
                ok = True
            finally:
                self._record(self.beats, "beat", began, ok)

        timed_beat.__name__ = "beat"  # the loop's job guard logs a failure under this name
        return timed_beat

    def _timed_tick(self, tick):
        def timed_tick(poll: bool = True) -> None:
            began, ok = time.monotonic(), False
            try:
                tick(poll=poll)
                ok = True
            finally:
                self._record(self.ticks, "poll" if poll else "between polls", began, ok)

        timed_tick.__name__ = "tick"
        return timed_tick

    def _timed_transactions(self, open_transaction, spans: list[Span]):
        def timed_transaction():
            return self._transaction(open_transaction, spans, _opener(sys._getframe(1)))

        return timed_transaction

    @contextmanager
    def _transaction(self, open_transaction, spans: list[Span], what: str):
        """From entering the transaction (on SQLite, waiting for the write lock included) to the
        end of its commit (or rollback)."""
        began, ok = time.monotonic(), False
        self._local.noted = noted = Noted()
        try:
            with open_transaction() as session:
                yield session
            ok = True  # the original's exit has committed
        finally:
            self._local.noted = None
            self._record(spans, what, began, ok, noted.text(time.monotonic()))


@dataclass
class Timeline:
    """The spans a Probe recorded up to `end` (seconds on its clock)."""

    end: float
    beats: list[Span]
    ticks: list[Span]
    writes: list[Span]
    reads: list[Span]

    def heartbeat_gaps(self) -> list[tuple[float, float]]:
        """(from, to) between the start, each successful beat, and the end: a daemon that
        stopped beating shows as a gap running to the end."""
        moments = [0.0] + sorted(s.began for s in self.beats if s.ok) + [self.end]
        return list(zip(moments, moments[1:], strict=False))

    def longest_gap(self) -> tuple[float, float]:
        return max(self.heartbeat_gaps(), key=lambda gap: gap[1] - gap[0])

    def write_ms(self) -> list[float]:
        return sorted(s.seconds * 1000 for s in self.writes)

    def report(self, top: int = 8) -> list[str]:
        """Where the time went: transactions by function, the longest writes and ticks (with
        what each tick spent its time on), the longest heartbeat gap and the ticks inside it."""
        lines = [
            f"  write transactions by function ({len(self.writes)}):",
            *by_function(self.writes),
            f"  read transactions by function ({len(self.reads)}):",
            *by_function(self.reads),
        ]
        for kind, spans, count in (("write", self.writes, top), ("read", self.reads, 3)):
            lines.append(f"  longest {kind} transactions:")
            for span in sorted(spans, key=lambda s: -s.seconds)[:count]:
                lines.append(
                    f"    +{span.began:6.2f} s  {span.seconds * 1000:7.1f} ms  {span.what}"
                    + ("" if span.ok else " (rolled back)")
                    + f": {span.statements}"
                )
        for tick in sorted(self.ticks, key=lambda s: -s.seconds)[:3]:
            lines.append(
                f"  tick at +{tick.began:.2f} s ({tick.what}): {tick.seconds * 1000:.0f} ms: "
                f"{self.tick_breakdown(tick)}"
            )
        began, ended = self.longest_gap()
        ticks = inside(self.ticks, began, ended)
        longest = max((t.seconds for t in ticks), default=0.0)
        slowest_beat = max((b.seconds for b in self.beats), default=0.0)
        lines.append(
            f"  longest heartbeat gap: +{began:.2f} s to +{ended:.2f} s ({ended - began:.2f} s): "
            f"{len(ticks)} tick(s) began in it, {sum(t.seconds for t in ticks):.2f} s in all, the longest "
            f"{longest * 1000:.0f} ms; beats took up to {slowest_beat * 1000:.0f} ms"
        )
        return lines

    def tick_breakdown(self, tick: Span) -> str:
        """A tick's transactions by function, and the rest of its time (planning in Python, the
        pool, waiting for the GIL)."""
        spans = inside(self.writes, tick.began, tick.ended, DAEMON_THREAD) + [
            Span("read: " + s.what, s.began, s.seconds, s.thread)
            for s in inside(self.reads, tick.began, tick.ended, DAEMON_THREAD)
        ]
        totals: dict[str, list[float]] = defaultdict(list)
        for span in spans:
            totals[span.what].append(span.seconds)
        parts = [
            f"{what} {len(v)}x {sum(v) * 1000:.0f} ms (max {max(v) * 1000:.0f})"
            for what, v in sorted(totals.items(), key=lambda item: -sum(item[1]))
        ]
        rest = tick.seconds - sum(s.seconds for s in spans)
        return "; ".join(parts + [f"outside transactions {rest * 1000:.0f} ms"])


def inside(spans: list[Span], began: float, ended: float, thread: str | None = None) -> list[Span]:
    return [s for s in spans if began <= s.began < ended and (thread is None or s.thread == thread)]


def by_function(spans: list[Span]) -> list[str]:
    """One line per function: count, p50, p99, max, total (ms), the slowest first."""
    groups: dict[str, list[float]] = defaultdict(list)
    for span in spans:
        groups[span.what].append(span.seconds * 1000)
    lines = []
    for what, values in sorted(groups.items(), key=lambda item: -max(item[1])):
        values.sort()
        lines.append(
            f"    {what:<34}{len(values):>7}  p50 {percentile(values, 50):7.1f}  p99 "
            f"{percentile(values, 99):7.1f}  max {values[-1]:7.1f}  total {sum(values):8.0f} ms"
        )
    return lines


class LogCapture(logging.Handler):
    """A logger's warnings and errors, kept instead of printed (attach it to "automagik")."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def errors(self) -> list[str]:
        return [
            r.getMessage() + (f" ({r.exc_info[0].__name__}: {r.exc_info[1]})" if r.exc_info else "")
            for r in self.records
            if r.levelno >= logging.ERROR
        ]
