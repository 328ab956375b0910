"""Find the line of a config field from its path (e.g. `rules[2].dport[0]` -> 31).

tomllib keeps no positions, so this scans the text for table headers, array-of-tables
entries and keys, and answers with the line of the longest known prefix of the path: an
element inside an inline array points at its key's line.
"""

import re

HEADER = re.compile(r"^\s*\[\s*([^\[\]]+?)\s*\]\s*(#.*)?$")
ARRAY_HEADER = re.compile(r"^\s*\[\[\s*([^\[\]]+?)\s*\]\]\s*(#.*)?$")
KEY = re.compile(r"^\s*([A-Za-z0-9_\-\"'. ]+?)\s*=")
PATH_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")

Path = tuple[str | int, ...]


def _split_key(key: str) -> list[str]:
    return [part.strip().strip("\"'") for part in key.split(".")]


def field_parts(field: str) -> Path:
    """`rules[2].dport[0]` -> ("rules", 2, "dport", 0)."""
    return tuple(int(index) if index else name for name, index in PATH_PART.findall(field))


def index_lines(text: str) -> dict[Path, int]:
    """Line number (1-based) of every table, array entry and key the text defines."""
    lines: dict[Path, int] = {}
    prefix: Path = ()
    counts: dict[Path, int] = {}
    in_multiline = False
    for number, line in enumerate(text.splitlines(), start=1):
        if in_multiline:
            if line.count("]") > line.count("["):
                in_multiline = False
            continue
        if match := ARRAY_HEADER.match(line):
            table = tuple(_split_key(match[1]))
            counts[table] = counts.get(table, -1) + 1
            prefix = (*table, counts[table])
            lines.setdefault(table, number)
            lines.setdefault(prefix, number)
        elif match := HEADER.match(line):
            prefix = tuple(_split_key(match[1]))
            lines.setdefault(prefix, number)
        elif match := KEY.match(line):
            path = (*prefix, *_split_key(match[1]))
            lines.setdefault(path, number)
            value = line.split("=", 1)[1]
            if value.count("[") > value.count("]"):
                in_multiline = True
    return lines


def locate(text: str, field: str) -> int | None:
    """Line of `field`, or of its nearest enclosing key or table; None if nowhere."""
    lines = index_lines(text)
    parts = field_parts(field)
    for end in range(len(parts), 0, -1):
        if parts[:end] in lines:
            return lines[parts[:end]]
    return None
