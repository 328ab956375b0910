"""Config errors: every mistake reported at once, each with file, line, field and the fix."""

from pathlib import Path

import pytest

from multiwan.config.load import ConfigError, load_config, load_config_text

GOOD = """\
default_policy = "balanced"

[links.wan1]
interface = "eth1"
gateway = "192.0.2.1"

[links.wan2]
interface = "eth2"
weight = 2

[policies.balanced]
links = ["wan1", "wan2"]

[[rules]]
dst = ["10.0.0.0/8"]
via = "main"
"""


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config_text(text, "m.toml")
    return [str(p) for p in caught.value.problems]


def test_good_config_loads() -> None:
    config = load_config_text(GOOD, "m.toml")
    assert config.link_ids() == {"wan1": 1, "wan2": 2}


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            ("weight = 2", "weight = 0"),
            "m.toml:9: links.wan2.weight: input should be greater than 0, got 0",
        ),
        (('gateway = "192.0.2.1"', 'gateway = "192.0.2.300"'), "m.toml:5: links.wan1.gateway: "),
        (
            ('gateway = "192.0.2.1"', 'gateway6 = "192.0.2.1"'),
            "m.toml:5: links.wan1.gateway6: expected an IPv6 address",
        ),
        (
            ('interface = "eth2"', 'interface = "eth1"'),
            "m.toml:8: links.wan2.interface: 'eth1' is already used by link 'wan1'",
        ),
        (
            ('links = ["wan1", "wan2"]', 'links = ["wan1", "wan3"]'),
            "m.toml:12: policies.balanced.links[1]: unknown link 'wan3' (links: wan1, wan2)",
        ),
        (
            ('via = "main"', 'via = "nowhere"'),
            "m.toml:16: rules[0].via: 'nowhere' is not a policy, a link or 'main'",
        ),
        (('dst = ["10.0.0.0/8"]', 'dst = ["10.0.0.0/33"]'), "m.toml:15: rules[0].dst: "),
        (
            ('dst = ["10.0.0.0/8"]', "dport = [70000]"),
            "m.toml:15: rules[0].dport: expected ports 1-65535",
        ),
        (
            ('dst = ["10.0.0.0/8"]', 'dport = ["20-10"]'),
            "m.toml:15: rules[0].dport: expected ports 1-65535 with LOW <= HIGH",
        ),
        (
            ("weight = 2", "wieght = 2"),
            "m.toml:9: links.wan2.wieght: unknown key; expected one of: interface, id,",
        ),
        (
            ('default_policy = "balanced"', 'default_policy = "fast"'),
            "m.toml:1: default_policy: unknown policy 'fast' (policies: balanced)",
        ),
        (("[links.wan2]", "[links.wan2"), "m.toml:7: invalid TOML: "),
    ],
)
def test_each_mistake_is_named_with_its_line(change: tuple[str, str], expected: str) -> None:
    found = problems(GOOD.replace(*change))
    assert any(p.startswith(expected) for p in found), found


def test_every_problem_is_reported_in_one_pass() -> None:
    text = GOOD.replace("weight = 2", "weight = -1").replace('via = "main"', 'via = "x"')
    text = text.replace('"wan1", "wan2"]', '"wan1", "ghost"]') + "\ncolour = 1\n"
    found = problems(text)
    assert len(found) == 4, found
    assert [p.split(":")[1] for p in found] == ["9", "12", "16", "18"]


def test_unreadable_file_is_a_problem_not_a_traceback(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "missing.toml")
    assert "cannot read: No such file or directory" in str(caught.value)
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(binary)


def test_shipped_example_is_valid() -> None:
    example = Path(__file__).parents[3] / "src/multiwan/examples/multiwan.toml"
    config = load_config(example)
    assert config.default_policy in config.policies
