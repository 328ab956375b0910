"""Shell completion offers the config's names (the config given with -c)."""

from pathlib import Path

import pytest
from click.testing import CliRunner

from multiwan.cli.main import cli

CONFIG = """
default_policy = "all"
[links.wan1]
interface = "eth1"
[links.lte2]
interface = "usb0"
[policies.all]
links = ["wan1", "lte2"]
[services.mail]
listen = ["10.0.0.1"]
ports = [25]
backends = [{ address = "10.0.1.1" }, { address = "10.0.1.2", port = 2525 }]
"""


def _complete(words: str, config: Path) -> list[str]:
    argv = f"multiwan -c {config} {words}"
    env = {
        "_MULTIWAN_COMPLETE": "bash_complete",
        "COMP_WORDS": argv,
        "COMP_CWORD": str(len(argv.split()) - (0 if argv.endswith(" ") else 1)),
    }
    result = CliRunner().invoke(cli, [], env=env, prog_name="multiwan")
    return [line.split(",", 1)[1] for line in result.output.splitlines() if line]


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        ("link disable ", ["wan1", "lte2"]),
        ("link drain l", ["lte2"]),
        ("weight ", ["wan1", "lte2"]),
        ("use w", ["wan1"]),
        ("mode ", ["all", "wan1", "lte2", "balance", "failover"]),
        ("backend drain ", ["mail"]),
        ("backend drain mail ", ["10.0.1.1:25", "10.0.1.2:2525"]),
    ],
)
def test_names_from_the_config(tmp_path: Path, words: str, expected: list[str]) -> None:
    config = tmp_path / "multiwan.toml"
    config.write_text(CONFIG)
    assert _complete(words, config) == expected


def test_an_unreadable_config_completes_nothing(tmp_path: Path) -> None:
    assert _complete("link disable ", tmp_path / "missing.toml") == []
