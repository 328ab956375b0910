"""The generated documentation is current: regenerate it with scripts/gen-docs."""

import pytest

from multiwan.cli.docs import DOCS, generated


# The text is generated in the test, not at import: a module-level value would be made once,
# before mutation testing switches a mutant on, and no mutant of the generators would show.
@pytest.mark.parametrize("name", sorted(generated()))
def test_generated_file_is_current(name: str) -> None:
    path = DOCS / name
    assert path.exists(), f"run scripts/gen-docs ({name})"
    assert path.read_text() == generated()[name], f"run scripts/gen-docs ({name})"
