"""Find the line of a config field from its path (e.g. `rules[2].dport[1]` -> 31).

tomllib keeps no positions, so this scans the text (already parsed by tomllib, hence valid)
once and records the line of every table header, array-of-tables entry, key, array element
and inline-table key. A field written nowhere (a missing key) gets the line of its nearest
enclosing table or key.
"""

import bisect
import re
import tomllib

Path = tuple[str | int, ...]

BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
STRING = re.compile(r'"""[\s\S]*?"""|\'\'\'[\s\S]*?\'\'\'|"(?:\\.|[^"\\\n])*"|\'[^\'\n]*\'')
SCALAR = re.compile(r"[^,\]}\s#]+(?: \d[^,\]}\s#]*)?")  # a date may have a time after a space
BLANKS = re.compile(r"(?:[ \t]|#[^\n]*)*")
BLANK_LINES = re.compile(r"(?:[ \t\r\n]|#[^\n]*)*")
PATH_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def field_parts(field: str) -> Path:
    """`rules[2].dport[0]` -> ("rules", 2, "dport", 0)."""
    return tuple(int(index) if index else name for name, index in PATH_PART.findall(field))


def line_of(lines: dict[Path, int], field: str) -> int | None:
    """Line of `field`, else of its nearest enclosing key or table; None if nowhere."""
    parts = field_parts(field)
    for end in range(len(parts), 0, -1):
        if parts[:end] in lines:
            return lines[parts[:end]]
    return None


def index_lines(text: str) -> dict[Path, int]:
    """The first line (1-based) of every path the TOML `text` writes."""
    return _Scanner(text).document()


class _Scanner:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.starts = [0, *(m.end() for m in re.finditer("\n", text))]
        self.lines: dict[Path, int] = {}
        self.array_tables: dict[Path, int] = {}  # the current entry of each [[table]]

    def mark(self, path: Path) -> None:
        line = bisect.bisect_right(self.starts, self.pos)
        for end in range(1, len(path) + 1):
            self.lines.setdefault(path[:end], line)

    def skip(self, blanks: re.Pattern[str] = BLANKS) -> None:
        match = blanks.match(self.text, self.pos)
        self.pos = match.end() if match else self.pos

    def take(self, literal: str) -> bool:
        if self.text.startswith(literal, self.pos):
            self.pos += len(literal)
            return True
        return False

    def key(self) -> list[str]:
        """A dotted key; quoted parts are decoded by tomllib itself."""
        parts: list[str] = []
        while True:
            self.skip()
            match = STRING.match(self.text, self.pos) or BARE_KEY.match(self.text, self.pos)
            if not match:
                return parts
            parts.append(tomllib.loads(f"k = {match[0]}")["k"] if match.re is STRING else match[0])
            self.pos = match.end()
            self.skip()
            if not self.take("."):
                return parts

    def resolve(self, keys: list[str]) -> Path:
        """A header's path, with the current entry of every array of tables it passes."""
        path: Path = ()
        for part in keys:
            path = (*path, part)
            if path in self.array_tables:
                path = (*path, self.array_tables[path])
        return path

    def key_value(self, prefix: Path) -> None:
        path = (*prefix, *self.key())
        self.mark(path)
        self.skip()
        if self.take("="):
            self.value(path)

    def value(self, path: Path) -> None:
        self.skip()
        if self.take("["):
            self.items(path, "]")
        elif self.take("{"):
            self.items(path, "}")
        else:
            match = STRING.match(self.text, self.pos) or SCALAR.match(self.text, self.pos)
            self.pos = match.end() if match else self.pos + 1

    def items(self, path: Path, close: str) -> None:
        """Elements of an array (each marked with its index) or keys of an inline table."""
        index = 0
        while self.pos < len(self.text):
            self.skip(BLANK_LINES)
            if self.take(close):
                return
            start = self.pos
            if close == "]":
                self.mark((*path, index))
                self.value((*path, index))
            else:
                self.key_value(path)
            self.skip(BLANK_LINES)
            if self.take(","):
                index += 1
            elif self.pos == start:
                self.pos += 1  # never loop on text this scanner does not understand

    def document(self) -> dict[Path, int]:
        prefix: Path = ()
        while True:
            self.skip(BLANK_LINES)
            if self.pos >= len(self.text):
                return self.lines
            start = self.pos
            if self.take("[["):
                keys = self.key()
                table = (*self.resolve(keys[:-1]), *keys[-1:])
                self.array_tables[table] = self.array_tables.get(table, -1) + 1
                prefix = (*table, self.array_tables[table])
                self.mark(prefix)
                self.take("]]")
            elif self.take("["):
                prefix = self.resolve(self.key())
                self.mark(prefix)
                self.take("]")
            else:
                self.key_value(prefix)
            if self.pos == start:
                self.pos += 1
