"""automagik-dashboard's own part: where app.py is, which port, what Streamlit is given.
(Started for real from an installed copy in tests/packaging/test_install.py.)"""

from __future__ import annotations

import sys

import pytest

from automagik import dashboard
from tests.conftest import PROJECT_ROOT


def test_app_py_is_found_in_a_checkout_and_in_an_installed_layout(tmp_path):
    assert dashboard.app_path() == PROJECT_ROOT / "app.py"
    installed = tmp_path / "automagik_dashboard" / "app.py"
    installed.parent.mkdir()
    installed.write_text("")
    assert dashboard.app_path(tmp_path) == installed
    with pytest.raises(FileNotFoundError, match="reinstall automagik"):
        dashboard.app_path(tmp_path / "elsewhere")


@pytest.mark.parametrize(
    "argv, env, says",
    [
        (["--port", "eighty"], {}, "--port='eighty' is not a port"),
        (["--port", "70000"], {}, "--port='70000' is not a port"),
        ([], {"AUTOMAGIK_DASHBOARD_PORT": "0"}, "AUTOMAGIK_DASHBOARD_PORT='0' is not a port"),
    ],
)
def test_a_bad_port_is_one_line_and_exit_2(argv, env, says, monkeypatch, capsys, tmp_path):
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.delenv("AUTOMAGIK_DASHBOARD_PORT", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(dashboard.os, "execv", lambda *args: pytest.fail("Streamlit was started"))
    assert dashboard.main(argv) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith(f"error: {says}") and err.count("\n") == 1, err


def test_streamlit_gets_the_app_the_port_and_the_options_passed_through(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AUTOMAGIK_DASHBOARD_PORT", "8600")
    started = []
    monkeypatch.setattr(dashboard.os, "execv", lambda path, argv: started.append((path, argv)))
    dashboard.main(["--server.address", "0.0.0.0"])
    assert started == [
        (
            sys.executable,
            [
                sys.executable,
                "-m",
                "streamlit",
                "run",
                str(PROJECT_ROOT / "app.py"),
                "--server.port",
                "8600",
                "--server.address",
                "0.0.0.0",
            ],
        )
    ]
