"""`pip install .` into a fresh virtualenv gives the three commands, and they work from any folder.

The virtualenv is new (no pip, no packages of its own) and sees the suite's virtualenv through
a .pth file, so the dependencies are the pinned ones already installed and nothing is
downloaded; only automagik is installed, `--no-deps`, from a copy of the source (pip builds in
the folder it is given, so the checkout is left as it was). The wheel is built with the
suite's setuptools when it can build one (requirements-test.txt pins `wheel` for the setuptools
that `python -m venv` brings); otherwise pip fetches setuptools in an isolated build.
Every command runs outside the source tree with PYTHONPATH unset, so the installed copy is
what answers. About 20-30 s in all.
"""

from __future__ import annotations

import importlib.util
import os
import queue
import re
import shutil
import sqlite3
import subprocess
import sysconfig
import threading
import urllib.request
import venv
from pathlib import Path

import pytest
from packaging.version import Version

import automagik
from tests.conftest import PROJECT_ROOT
from tests.e2e.stack import free_port

pytestmark = pytest.mark.packaging

# What a user's checkout holds that the package must not need.
NOT_SHIPPED = shutil.ignore_patterns(
    ".venv",
    ".git",
    "tests",
    "bench",
    "data",
    "docs",
    "__pycache__",
    "*.egg-info",
    "build",
    ".pytest_cache",
)


def _setuptools_builds_wheels() -> bool:
    import setuptools

    return importlib.util.find_spec("wheel") is not None or Version(setuptools.__version__) >= Version("70.1")


class Installed:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.bin = root / "venv" / "bin"
        self.work = root / "work"  # the folder commands run in: no source, no .env
        self.work.mkdir()

    def environment(self, **extra: str) -> dict[str, str]:
        inherited = {
            k: v
            for k, v in os.environ.items()
            if k != "PYTHONPATH"
            and not k.startswith(("LANGFLOW_", "AUTOMAGIK_", "STREAMLIT_"))
            and k not in ("DATABASE_URL", "TIMEZONE")
        }
        return {**inherited, "HOME": str(self.root / "home"), "XDG_DATA_HOME": "", **extra}

    def run(self, command: str, *args: str, **env: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(self.bin / command), *args],
            cwd=self.work,
            env=self.environment(**env),
            capture_output=True,
            text=True,
            timeout=60,
        )


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Installed:
    root = tmp_path_factory.mktemp("install")
    source = root / "source"
    shutil.copytree(PROJECT_ROOT, source, ignore=NOT_SHIPPED)
    venv.EnvBuilder(with_pip=False).create(root / "venv")
    (site,) = (root / "venv" / "lib").glob("python3*/site-packages")
    (site / "suite_packages.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    isolation = ["--no-build-isolation"] if _setuptools_builds_wheels() else []
    done = subprocess.run(
        [
            str(root / "venv" / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "--no-deps",
            *isolation,
            "--disable-pip-version-check",
            "--no-input",
            "-q",
            str(source),
        ],
        cwd=root,
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return Installed(root)


def test_the_installed_package_is_the_one_that_answers(installed):
    where = subprocess.run(
        [str(installed.bin / "python"), "-c", "import automagik; print(automagik.__file__)"],
        cwd=installed.work,
        env=installed.environment(),
        capture_output=True,
        text=True,
    )
    assert Path(where.stdout.strip()).is_relative_to(installed.root / "venv"), where.stdout + where.stderr


def test_automagik_help_and_version(installed):
    shown = installed.run("automagik", "--help")
    assert shown.returncode == 0 and shown.stderr == "", shown.stderr
    assert shown.stdout.startswith("usage: automagik [-h] [--version] COMMAND ...")
    for group in ("db", "flows", "schedules", "tasks", "check"):
        assert re.search(rf"^    {group}\b", shown.stdout, re.MULTILINE), group

    version = installed.run("automagik", "--version")
    assert (version.returncode, version.stdout, version.stderr) == (0, f"automagik {automagik.__version__}\n", "")


def test_automagik_daemon_help_and_version(installed):
    shown = installed.run("automagik-daemon", "--help")
    assert shown.returncode == 0 and shown.stderr == "", shown.stderr
    assert shown.stdout.startswith("usage: automagik-daemon ")
    assert "--once" in shown.stdout and "--workers" in shown.stdout
    version = installed.run("automagik-daemon", "--version")
    assert version.stdout == f"automagik {automagik.__version__}\n"


def test_db_init_creates_the_schema_from_the_shipped_migrations(installed):
    path = installed.root / "named.db"
    init = installed.run("automagik", "db", "init", DATABASE_URL=f"sqlite:///{path}")
    assert init.returncode == 0 and init.stderr == "", init.stderr
    assert init.stdout.startswith(f"Database sqlite:///{path} created (schema ")
    again = installed.run("automagik", "db", "init", DATABASE_URL=f"sqlite:///{path}")
    assert again.returncode == 0 and " is up to date (schema " in again.stdout, again.stdout + again.stderr


def test_the_installed_daemon_runs_once_and_its_heartbeat_records_the_version(installed):
    path = installed.root / "daemon.db"
    assert installed.run("automagik", "db", "init", DATABASE_URL=f"sqlite:///{path}").returncode == 0
    once = installed.run(
        "automagik-daemon", "--once", DATABASE_URL=f"sqlite:///{path}", LANGFLOW_API_URL="http://127.0.0.1:9"
    )
    assert once.returncode == 0, once.stderr
    assert " starting: " in once.stderr and " stopped" in once.stderr and "Traceback" not in once.stderr
    with sqlite3.connect(path) as connection:
        assert connection.execute("SELECT version, stopped_at IS NOT NULL FROM daemons").fetchall() == [
            (automagik.__version__, 1)
        ]


def test_without_database_url_the_database_goes_to_the_users_data_folder(installed):
    """Installed, the package folder is site-packages: no database is written there."""
    init = installed.run("automagik", "db", "init")
    expected = installed.root / "home" / ".local" / "share" / "automagik" / "automagik.db"
    assert init.returncode == 0, init.stderr
    assert init.stdout.startswith(f"Database sqlite:///{expected} created"), init.stdout
    assert expected.is_file()


def test_python_m_automagik_runs_the_cli(installed):
    shown = subprocess.run(
        [str(installed.bin / "python"), "-m", "automagik", "--version"],
        cwd=installed.work,
        env=installed.environment(),
        capture_output=True,
        text=True,
    )
    assert shown.stdout == f"automagik {automagik.__version__}\n", shown.stderr


def test_the_dashboard_serves_on_127_0_0_1_with_the_shipped_config(installed, tmp_path):
    port = free_port()
    dashboard = subprocess.Popen(
        [str(installed.bin / "automagik-dashboard"), "--port", str(port)],
        cwd=installed.work,
        env=installed.environment(DATABASE_URL=f"sqlite:///{tmp_path / 'd.db'}"),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in dashboard.stdout], daemon=True).start()
    try:
        said = []
        while not any("URL: http://" in line for line in said):
            said.append(lines.get(timeout=30))  # Streamlit prints the address once it listens
        assert any(f"URL: http://127.0.0.1:{port}" in line for line in said), said
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=10) as answer:
            assert answer.read() == b"ok"
    finally:
        dashboard.terminate()
        dashboard.wait(timeout=10)


def test_the_installed_app_renders_its_pages(installed, tmp_path):
    """app.py and pages/ from site-packages/automagik_dashboard: the Overview renders (AppTest)."""
    script = (
        "import pathlib, automagik_dashboard\n"
        "from streamlit.testing.v1 import AppTest\n"
        "app = pathlib.Path(automagik_dashboard.__path__[0]) / 'app.py'\n"
        "at = AppTest.from_file(str(app), default_timeout=60).run()\n"
        "print(app); print(not at.exception); print([t.value for t in at.title])\n"
    )
    url = f"sqlite:///{tmp_path / 'd.db'}"
    assert installed.run("automagik", "db", "init", DATABASE_URL=url).returncode == 0
    shown = subprocess.run(
        [str(installed.bin / "python"), "-c", script],
        cwd=installed.work,
        env=installed.environment(DATABASE_URL=url, LANGFLOW_API_URL="http://127.0.0.1:9"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    app, no_exception, titles = shown.stdout.splitlines()[-3:]
    assert Path(app).is_relative_to(installed.root / "venv"), app
    assert (no_exception, titles) == ("True", "['Overview']"), shown.stdout + shown.stderr
