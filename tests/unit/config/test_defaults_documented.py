"""README's "Defaults, and why" table names every health default with its actual value."""

import re
from pathlib import Path

from multiwan.config.health import HealthCheck

README = Path(__file__).parents[3] / "README.md"
WORDS_FOR_NONE = {"off", "none", "interval"}  # fast_interval's default is `interval`


def _table() -> dict[str, str]:
    text = README.read_text()
    section = text[text.index("### Defaults, and why") :]
    section = section[: section.index("\n## ")]
    rows: dict[str, str] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if line.startswith("| `"):
            for name in re.findall(r"`(\w+)`", cells[0]):
                rows.setdefault(name, cells[1])
    return rows


def test_every_health_default_is_in_the_readme_table_with_its_value() -> None:
    rows = _table()
    for name, field in HealthCheck.model_fields.items():
        if field.is_required():
            continue
        assert name in rows, f"README's defaults table lacks {name}"
        token = rows[name].strip("`").split()[0].strip("`")
        documented = None if token in WORDS_FOR_NONE else token
        actual = None if field.default is None else str(field.default).lower()
        assert documented == actual, (name, rows[name], field.default)
