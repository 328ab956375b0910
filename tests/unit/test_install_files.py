"""The files scripts/install ships agree with the project: the pinned versions it installs
match pyproject.toml's pins, and the unit runs the command where install links it."""

import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _pins(lines: list[str]) -> dict[str, str]:
    """name -> version of `name==version` lines (names normalised as pip does)."""
    pins = {}
    for line in lines:
        name, sep, version = line.partition("==")
        if sep and not line.lstrip().startswith("#"):
            pins[name.strip().lower().replace("_", "-")] = version.strip()
    return pins


def test_the_lock_pins_every_dependency_at_pyprojects_version() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    wanted = _pins(project["dependencies"])
    locked = _pins((REPO / "contrib/requirements.txt").read_text().splitlines())
    assert {name: locked.get(name) for name in wanted} == wanted


def test_the_unit_runs_the_installed_command_and_opens_the_socket_to_the_status_group() -> None:
    unit = (REPO / "contrib/multiwan.service").read_text().splitlines()
    assert "ExecStart=/usr/local/bin/multiwan run" in unit
    # 0750 kept status_group members out of the directory holding the 0660 socket.
    assert "RuntimeDirectoryMode=0755" in unit
