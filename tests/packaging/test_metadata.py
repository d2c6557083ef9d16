"""pyproject.toml agrees with the rest of the project: the pins, the packages, the version."""

from __future__ import annotations

import tomllib

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

import automagik
from tests.conftest import PROJECT_ROOT

PYPROJECT = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())


def pinned_requirements() -> dict[str, str]:
    """requirements.txt as {name: exact version}; every line there is `name==version`."""
    pins = {}
    for line in (PROJECT_ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            requirement = Requirement(line)
            (specifier,) = requirement.specifier
            assert specifier.operator == "==", line
            pins[canonicalize_name(requirement.name)] = specifier.version
    return pins


def test_each_pin_of_requirements_txt_satisfies_the_package_range_and_no_dependency_is_extra():
    pins = pinned_requirements()
    ranges = {canonicalize_name(r.name): r.specifier for r in map(Requirement, PYPROJECT["project"]["dependencies"])}
    assert sorted(ranges) == sorted(pins)
    for name, version in pins.items():
        assert str(ranges[name]) and "==" not in str(ranges[name]), f"{name}: a range, not a pin or nothing"
        assert ranges[name].contains(version), f"{name}=={version} is outside {ranges[name]}"


def test_the_version_is_written_once_and_read_from_the_package():
    assert PYPROJECT["project"]["dynamic"] == ["version"] and "version" not in PYPROJECT["project"]
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "automagik.__version__"}
    assert automagik.__version__.count(".") == 2


def test_every_folder_of_python_code_is_a_listed_package():
    """Packages are listed by hand (the dashboard's folder mapping rules out discovery): a new
    folder under automagik/ that is left out would be missing from an installed copy."""
    listed = set(PYPROJECT["tool"]["setuptools"]["packages"])
    on_disk = {
        ".".join(folder.relative_to(PROJECT_ROOT).parts)
        for folder in (PROJECT_ROOT / "automagik").rglob("*")
        if folder.is_dir() and folder.name != "__pycache__" and any(folder.glob("*.py"))
    } | {"automagik"}
    assert on_disk <= listed, sorted(on_disk - listed)
    assert listed - on_disk == {"automagik_dashboard", "automagik_dashboard.pages"}


def test_console_scripts_name_the_entry_functions():
    assert PYPROJECT["project"]["scripts"] == {
        "automagik": "automagik.cli.cli:run",
        "automagik-daemon": "automagik.daemon.command:run",
        "automagik-dashboard": "automagik.dashboard:run",
    }
