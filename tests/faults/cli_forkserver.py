"""Run many CLI invocations fast: import the CLI once, then fork one real process per command.

`python -m automagik.cli.cli` spends ~0.7 s of CPU importing before it does anything; a corpus
of a hundred commands would spend over a minute of a two-core machine on imports alone. This
server (`python -m tests.faults.cli_forkserver`, single-threaded, so fork is safe) imports the
CLI and its lazy dependencies once, reads a JSON list of commands on stdin, and runs each in a
forked child: a real process with its own environment, working folder, stdout/stderr files and
exit code, entering `automagik.cli.cli.main` exactly as `python -m` would. An exception that
escapes `main` is printed as Python prints it (a traceback) with exit code 1, like the real
entry point. tests/faults/test_bad_input_corpus.py checks that a sample of commands gives
identical results through the real `python -m automagik.cli.cli`.

Input: [{"args": [...], "env": {...}, "cwd": "...", "stdout": "path", "stderr": "path"}, ...];
output: a JSON list of exit codes, in the same order.
"""

from __future__ import annotations

import json
import os
import sys
import traceback

PARALLEL = 4


def _child(command: dict) -> None:
    os.environ.clear()
    os.environ.update(command["env"])
    os.chdir(command["cwd"])
    for fd, path, mode in (
        (0, os.devnull, os.O_RDONLY),
        (1, command["stdout"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC),
        (2, command["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC),
    ):
        handle = os.open(path, mode, 0o600)
        os.dup2(handle, fd)
        os.close(handle)
    code = 1
    try:
        code = main(command["args"]) or 0
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
        if not isinstance(stop.code, int) and stop.code is not None:
            print(stop.code, file=sys.stderr)
    except BaseException:  # what the interpreter does with an uncaught exception
        traceback.print_exc()
        code = 1
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def serve(commands: list[dict]) -> list[int]:
    codes: dict[int, int] = {}
    running: dict[int, int] = {}  # pid -> index
    pending = list(enumerate(commands))
    while pending or running:
        while pending and len(running) < PARALLEL:
            index, command = pending.pop(0)
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:
                _child(command)
            running[pid] = index
        pid, status = os.wait()
        codes[running.pop(pid)] = os.waitstatus_to_exitcode(status)
    return [codes[i] for i in range(len(commands))]


if __name__ == "__main__":
    # Everything the CLI imports, including what it imports lazily, before the first fork.
    import alembic.runtime.migration  # noqa: F401
    import alembic.script  # noqa: F401
    import sqlalchemy.dialects.sqlite  # noqa: F401

    import automagik.db.migrate  # noqa: F401
    from automagik.cli.cli import main

    print(json.dumps(serve(json.load(sys.stdin))))
