"""Config errors in full: what was found and what is expected, in the user's words (bounds
as they would write them, the kinds a table may take), for every shape of mistake."""

import pytest

from multiwan.config.load import ConfigError, Problem, format_problems, load_config_text

BASE = """\
default_policy = "p"
[links.a]
interface = "eth1"
[links.b]
interface = "eth2"
[policies.p]
links = ["a", "b"]
"""
HEALTH = '[health]\ntargets = [{ kind = "icmp", host = "192.0.2.1" }]\n'
SERVICE = (
    '[services.w]\nlisten = ["198.51.100.1"]\nports = [80]\nbackends = [{ address = "10.0.0.1" }]\n'
)
NAME = "a name (a letter, then up to 30 letters, digits, '_' or '-')"

MISTAKES = {
    "passive_down without passive": (
        HEALTH + "passive_down = true\n",
        "m.toml:8: health: passive_down needs passive = true (the connections it judges)",
    ),
    "one passive destination": (
        HEALTH + "passive = true\npassive_destinations = 1\n",
        "m.toml:11: health.passive_destinations: must be >= 2, got 1",
    ),
    "number range": (
        '[daemon]\nhook_timeout = "x"\n',
        "m.toml:9: daemon.hook_timeout: expected a number > 0 and <= 600, got 'x'",
    ),
    "a table for a number": (
        "[daemon]\nhook_timeout = {}\n",
        "m.toml:9: daemon.hook_timeout: expected a number > 0 and <= 600, got a table",
    ),
    "an array for a number": (
        "[daemon]\nhook_timeout = [1]\n",
        "m.toml:9: daemon.hook_timeout: expected a number > 0 and <= 600, got an array",
    ),
    "number too small": (
        "[daemon]\nhook_timeout = 0\n",
        "m.toml:9: daemon.hook_timeout: must be > 0, got 0",
    ),
    "integer lower bound only": (
        HEALTH + 'reliability = "x"\n',
        "m.toml:10: health.reliability: expected an integer >= 1, got 'x'",
    ),
    "optional number range": (
        HEALTH + 'degraded_latency_ms = "x"\n',
        "m.toml:10: health.degraded_latency_ms: expected a number >= 0 and <= 60000, got 'x'",
    ),
    "table without its kind": (
        '[health]\ntargets = [{ host = "192.0.2.1" }]\n',
        "m.toml:9: health.targets[0]: needs key 'kind', one of: 'icmp', 'tcp', 'udp', 'http', "
        "'dns', 'smtp', 'command'",
    ),
    "array": ('[health]\ntargets = "x"\n', "m.toml:9: health.targets: expected an array, got 'x'"),
    "missing array": (
        SERVICE.replace('listen = ["198.51.100.1"]\n', ""),
        "m.toml:8: services.w.listen: required key is missing: expected an array",
    ),
    "string": (
        "[daemon]\nstatus_group = 5\n",
        "m.toml:9: daemon.status_group: expected a string, got 5",
    ),
}


@pytest.mark.parametrize(("extra", "expected"), MISTAKES.values(), ids=MISTAKES.keys())
def test_each_mistake_in_full(extra: str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config_text(BASE + extra, "m.toml")
    assert [str(p) for p in caught.value.problems] == [expected]


UNIONS = {
    # A table is meant as a member: its own mistakes are the ones reported.
    "member with a bad weight": (
        '{ link = "b", weight = 0 }',
        "m.toml:7: policies.p.links[1].weight: must be > 0, got 0",
    ),
    "member without its link": (
        "{ weight = 2 }",
        f"m.toml:7: policies.p.links[1].link: required key is missing: expected {NAME}",
    ),
    # A string is meant as a name.
    "bad name": ('"2b"', f"m.toml:7: policies.p.links[1]: expected {NAME}, got '2b'"),
    # Neither: one problem naming both.
    "neither": ("7", f"m.toml:7: policies.p.links[1]: expected {NAME} or a table, got 7"),
}


@pytest.mark.parametrize(("member", "expected"), UNIONS.values(), ids=UNIONS.keys())
def test_a_value_of_a_union_is_judged_as_the_member_it_looks_like(
    member: str, expected: str
) -> None:
    text = BASE.replace('links = ["a", "b"]', f'links = ["a", {member}]')
    with pytest.raises(ConfigError) as caught:
        load_config_text(text, "m.toml")
    # (A bad name is also an unknown link: that check of references is not about the union.)
    assert [str(p) for p in caught.value.problems if "unknown link" not in str(p)] == [expected]


def test_problems_are_listed_one_a_line() -> None:
    problems = [
        Problem("a.toml", 3, "links.x.weight", "must be > 0"),
        Problem("a.toml", None, "", "bad"),
    ]
    assert format_problems(problems) == "a.toml:3: links.x.weight: must be > 0\na.toml: bad"


def _problems(text: str) -> list[Problem]:
    with pytest.raises(ConfigError) as caught:
        load_config_text(text, "m.toml")
    return caught.value.problems


def test_upper_bounds_ports_and_toml_syntax_in_full() -> None:
    heavy = BASE.replace('interface = "eth2"', 'interface = "eth2"\nweight = 1001')
    assert [str(p) for p in _problems(heavy)] == [
        "m.toml:6: links.b.weight: must be <= 1000, got 1001"
    ]
    for port, message in (
        ('"8o"', "expected a port (1-65535) or range 'LOW-HIGH', got '8o'"),
        ("65536", "expected ports 1-65535 with LOW <= HIGH, got 65536"),
    ):
        rule = f'[[rules]]\ndport = [{port}]\nvia = "a"\n'
        assert [str(p) for p in _problems(BASE + rule)] == [
            f"m.toml:9: rules[0].dport[0]: {message}"
        ]
    assert _problems("a = 1\nb = = 2\n") == [
        Problem("m.toml", 2, "", "invalid TOML: Invalid value")
    ]


def test_problems_without_a_line_come_first() -> None:
    assert [p.field for p in _problems("colour = 1\n")] == ["links", "colour"]
