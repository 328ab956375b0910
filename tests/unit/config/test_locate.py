"""Line numbers of config fields, for every way TOML lets a user write a key."""

import tomllib

import pytest

from multiwan.config.locate import field_parts, index_lines, line_of

TEXT = """\
# a comment with [brackets
default_policy = "p"  # and ] here
links.wan1.interface = "eth1"

[links.wan2]
interface = 'eth[2'
"health" . interval = 2
notes = \"\"\"
[links.fake]
weight = 9
\"\"\"

[ links . "wan 3" ]
health = { targets = [{ kind = "icmp", host = "192.0.2.1" }] }

[[rules]]
dport = [
  22,  # ssh ]
  [1, 2],
  "20-10",
]
via = "main"

[[rules]]
src = ["10.0.0.0/8", "fd00::/8"]

[rules.extra]
when = 1979-05-27 07:32:00Z
"""


@pytest.mark.parametrize(
    ("field", "line"),
    [
        ("default_policy", 2),
        ("links", 3),  # first written by a dotted key
        ("links.wan1.interface", 3),
        ("links.wan2", 5),
        ("links.wan2.interface", 6),
        ("links.wan2.health.interval", 7),
        ("links.wan2.weight", 5),  # not written: its table's line
        ("links.fake", 3),  # inside a multi-line string: not a table
        ("links.wan 3", 13),
        ("links.wan 3.health.targets[0].host", 14),
        ("rules[0]", 16),
        ("rules[0].dport", 17),
        ("rules[0].dport[0]", 18),
        ("rules[0].dport[1]", 19),
        ("rules[0].dport[2]", 20),
        ("rules[0].via", 22),
        ("rules[1].src[1]", 25),
        ("rules[1].extra.when", 28),
        ("nowhere", None),
    ],
)
def test_line_of_each_way_of_writing_a_key(field: str, line: int | None) -> None:
    assert tomllib.loads(TEXT)
    assert line_of(index_lines(TEXT), field) == line


def test_field_parts() -> None:
    assert field_parts("rules[2].dport[0]") == ("rules", 2, "dport", 0)
    assert field_parts("links.wan-2.health.targets[10]") == (
        "links",
        "wan-2",
        "health",
        "targets",
        10,
    )


NESTED = """\
default_policy = "p"
[links.wan1]
interface = "eth1"
health = { targets = [
  { kind = "icmp", host = "192.0.2.1" },
  { kind = "icmp", host = "192.0.2.2" },
] }

[[services.web.backends]]
address = "10.0.0.1"

[[services.web.backends]]
address = "10.0.0.2"
"""


@pytest.mark.parametrize(
    ("field", "line"),
    [
        ("default_policy", 1),  # the very first line
        # An inline table's array may span lines (its elements are on their own).
        ("links.wan1.health.targets[1].host", 6),
        # Arrays of tables under a dotted name: each entry on its own header's line.
        ("services.web.backends[0].address", 10),
        ("services.web.backends[1].address", 13),
        ("services.web.backends[1]", 12),
    ],
)
def test_line_of_inline_arrays_and_nested_arrays_of_tables(field: str, line: int) -> None:
    assert tomllib.loads(NESTED)
    assert line_of(index_lines(NESTED), field) == line
