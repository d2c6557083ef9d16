"""A real LangFlow 1.13 for the tests in this folder, started once for all of them.

LangFlow comes from its own cached virtualenv (tests/real_langflow/install.py, run by
scripts/test.sh). When it could not be installed, every test here is skipped with the reason;
when it is installed but does not start, every test here fails with LangFlow's log tail. The
line "real LangFlow: ..." at the end of pytest's output says which it was.

The server lives for this folder's tests only (package scope): it is started by the first of
them and stopped after the last, so the rest of the suite never runs beside it, and a run
that selects none of these tests never starts it.
"""

from __future__ import annotations

import os

import pytest

from automagik.config import Settings
from tests.daemon.process_helpers import DaemonLauncher
from tests.real_langflow import flows
from tests.real_langflow.install import LANGFLOW_VERSION, installed_python, venv_dir
from tests.real_langflow.server import LangFlowAdmin, LangFlowDidNotStart, RealLangFlow

#: Set by scripts/test.sh to the reason when the install failed.
UNAVAILABLE_VARIABLE = "AUTOMAGIK_LANGFLOW_UNAVAILABLE"

#: What became of the server, for the line at the end of pytest's output.
_outcome: list[str] = []


@pytest.fixture(scope="package")
def real_langflow(tmp_path_factory):
    reason = os.environ.get(UNAVAILABLE_VARIABLE)
    python = installed_python()
    if python is None and not reason:
        reason = (
            f"LangFlow {LANGFLOW_VERSION} is not installed in {venv_dir()}: `bash scripts/test.sh` installs it "
            "(or `.venv/bin/python -m tests.real_langflow.install`)."
        )
    if python is None:
        _outcome.append(f"not run: {reason}")
        pytest.skip(reason)
    server = RealLangFlow(python, tmp_path_factory.mktemp("langflow"))
    try:
        server.start()
    except LangFlowDidNotStart as exc:
        _outcome.append(f"did not start: {str(exc).splitlines()[0]}")
        pytest.fail(str(exc), pytrace=False)
    _outcome.append(f"LangFlow {LANGFLOW_VERSION} at {server.url}, ready in {server.started_in:.1f} s")
    yield server
    server.stop()


@pytest.fixture(scope="package")
def admin(real_langflow) -> LangFlowAdmin:
    """LangFlow's owner (auto-login) and the API key the project is given."""
    owner = LangFlowAdmin(real_langflow.url)
    real_langflow.hide(owner.api_key)
    return owner


# One flow of each kind for the whole folder: LangFlow keeps them across the tests, and each
# test's own (empty) database syncs them afresh.


@pytest.fixture(scope="package")
def echo_flow(admin) -> flows.BuiltFlow:
    return flows.create_echo_flow(admin)


@pytest.fixture(scope="package")
def two_outputs_flow(admin) -> flows.BuiltFlow:
    return flows.create_two_outputs_flow(admin)


@pytest.fixture(scope="package")
def usage_flow(admin) -> flows.BuiltFlow:
    return flows.create_usage_flow(admin)


@pytest.fixture(scope="package")
def trigger_flow(admin) -> flows.BuiltFlow:
    return flows.create_schedule_trigger_flow(admin)


@pytest.fixture(scope="package")
def broken_flow(admin) -> flows.BuiltFlow:
    return flows.create_broken_flow(admin)


@pytest.fixture(scope="package")
def failing_flow(admin) -> flows.BuiltFlow:
    return flows.create_failing_flow(admin)


@pytest.fixture
def settings(database_url, real_langflow, admin) -> Settings:
    """The suite's settings, pointed at the real LangFlow (the suite's `cli` uses them)."""
    return Settings(
        langflow_api_url=real_langflow.url,
        langflow_api_key=admin.api_key,
        database_url=database_url,
        timezone="Europe/Berlin",
        langflow_connect_timeout=5.0,
        langflow_read_timeout=60.0,
    )


@pytest.fixture
def cli(cli, admin):
    """The suite's `cli` (a real `python -m automagik.cli.cli` process), stdin closed, and
    checked never to print the API key."""

    def run(*args: str, **options):
        result = cli(*args, input=options.pop("input", ""), **options)
        assert admin.api_key not in result.output, f"the API key was printed by {args}"
        return result

    return run


@pytest.fixture
def run_daemon_once(settings, admin, tmp_path):
    """Run `scheduler_daemon.py --once` for real: it runs what is due against LangFlow, then exits."""
    launcher = DaemonLauncher(tmp_path, settings.database_url, settings.langflow_api_url, admin.api_key)

    def run() -> str:
        completed = launcher.run(args=["--once"], timeout=120)
        output = completed.stdout + completed.stderr
        assert admin.api_key not in output, "the daemon logged the API key"
        assert completed.returncode == 0, output
        return output

    return run


def pytest_terminal_summary(terminalreporter):
    if _outcome:
        terminalreporter.write_line(f"real LangFlow: {_outcome[0]}")
