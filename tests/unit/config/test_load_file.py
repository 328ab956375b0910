"""Reading the config file, and the daemon's settings at the edges of what they accept."""

from pathlib import Path

import pytest

from multiwan.config.load import ConfigError, Problem, load_config, load_config_text


def _problems(path: Path) -> list[Problem]:
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    return caught.value.problems


def test_an_unreadable_file_is_a_problem_of_the_file_itself(tmp_path: Path) -> None:
    missing = tmp_path / "none.toml"
    assert _problems(missing) == [
        Problem(str(missing), None, "", "cannot read: No such file or directory")
    ]
    binary = tmp_path / "bin.toml"
    binary.write_bytes(b"a = '\xff'\n")
    assert _problems(binary) == [Problem(str(binary), None, "", "cannot read: not UTF-8 text")]


def test_a_files_problems_name_it(tmp_path: Path) -> None:
    path = tmp_path / "multiwan.toml"
    path.write_text('default_policy = "p"\n[links.a]\ninterface = "eth1"\ncolour = 1\n')
    assert {p.file for p in _problems(path)} == {str(path)}


BASE = 'default_policy = "p"\n[links.a]\ninterface = "eth1"\n[policies.p]\nlinks = ["a"]\n'
LISTEN = 'expected IPV4:PORT, [IPV6]:PORT (an address, port 1-65535), or "" for none'


@pytest.mark.parametrize(
    ("listen", "bound"), [("127.0.0.1:1", "127.0.0.1:1"), ("[::1]:65535", "[::1]:65535")]
)
def test_metrics_listen_takes_ports_1_to_65535(listen: str, bound: str) -> None:
    config = load_config_text(f'{BASE}[daemon]\nmetrics_listen = "{listen}"\n', "m.toml")
    assert config.daemon.metrics_listen == bound


@pytest.mark.parametrize("listen", ["127.0.0.1:0", "127.0.0.1:65536", "[::1x:9", "x::1]:9"])
def test_metrics_listen_refuses_what_is_not_an_address_and_port(listen: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config_text(f'{BASE}[daemon]\nmetrics_listen = "{listen}"\n', "m.toml")
    assert [str(p) for p in caught.value.problems] == [
        f"m.toml:7: daemon.metrics_listen: {LISTEN}, got {listen!r}"
    ]


def test_hooks_dir_cannot_hold_a_nul() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config_text(f'{BASE}[daemon]\nhooks_dir = "/etc/\\u0000x"\n', "m.toml")
    assert [p.field for p in caught.value.problems] == ["daemon.hooks_dir"]
