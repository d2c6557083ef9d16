"""Run the CLI inside the test process: `automagik.cli.cli.main(argv)`, as a process would.

A `python -m automagik.cli.cli` process spends most of its ~0.7 s importing; in-process the
imports are paid once per test session. What a separate process would give each command is
given here per call, and put back afterwards:

- the environment (replaced whole, so the settings are read from this call's variables alone)
  and the working folder (so no stray .env is read);
- stdin (a pipe with `input`, never a terminal), stdout and stderr (UTF-8, strict, as the
  process's pipes are); `main`'s exit code, a SystemExit's code (argparse, --help,
  --version), or 1 and a traceback on stderr for an exception that escapes, as the
  interpreter would;
- the root logger: `main` calls logging.basicConfig, which only adds a handler when the root
  has none; pytest's capture handlers are set aside so log lines reach this call's stderr,
  and the handler added is removed (it holds this call's stream);
- the clock: a command reads the real time, as a process would, even under a test's
  frozen clock.

Calls are serialized (the environment, the folder and sys.std* are process-wide). The
engines a command opens are disposed by `main` itself (AppContext.close).
"""

from __future__ import annotations

import io
import logging
import os
import sys
import threading
import traceback
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from automagik import clock


@dataclass
class CliResult:
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


_one_at_a_time = threading.Lock()


def _pipe() -> io.TextIOWrapper:
    return io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="strict", newline="\n", write_through=True)


def _read(stream: io.TextIOWrapper) -> str:
    stream.flush()
    return stream.buffer.getvalue().decode("utf-8")  # type: ignore[attr-defined]


@contextmanager
def _process_state(
    env: Mapping[str, str], cwd: Path, stdin: str
) -> Iterator[tuple[io.TextIOWrapper, io.TextIOWrapper]]:
    saved_env, saved_cwd = dict(os.environ), os.getcwd()
    saved_streams = sys.stdin, sys.stdout, sys.stderr
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    saved_clock = clock._source
    out, err = _pipe(), _pipe()
    try:
        os.environ.clear()
        os.environ.update(env)
        os.chdir(cwd)
        sys.stdin, sys.stdout, sys.stderr = io.StringIO(stdin), out, err
        root.handlers = []
        clock.reset_clock()
        yield out, err
    finally:
        for handler in root.handlers:
            handler.close()
        root.handlers, root.level = saved_handlers, saved_level
        clock.set_clock(saved_clock)
        sys.stdin, sys.stdout, sys.stderr = saved_streams
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)


def _exit_code(stop: SystemExit) -> int:
    """What the interpreter makes of a SystemExit: None is 0, a message is printed and 1."""
    if stop.code is None:
        return 0
    if isinstance(stop.code, int):
        return stop.code
    print(stop.code, file=sys.stderr)
    return 1


def run_cli(args: Sequence[str], *, env: Mapping[str, str], cwd: Path, input: str | None = "") -> CliResult:
    """`python -m automagik.cli.cli ARGS` with environment `env` in folder `cwd`, in this process."""
    from automagik.cli.cli import main

    with _one_at_a_time, _process_state(env, cwd, input or "") as (out, err):
        try:
            code = main(list(args))
        except SystemExit as stop:
            code = _exit_code(stop)
        except Exception:  # what the interpreter does with an uncaught exception
            traceback.print_exc()
            code = 1
        return CliResult(code, _read(out), _read(err))
