"""The generated documentation is current: regenerate it with scripts/gen-docs."""

import pytest

from multiwan.cli.docs import DOCS, generated

FILES = generated()


@pytest.mark.parametrize("name", sorted(FILES))
def test_generated_file_is_current(name: str) -> None:
    path = DOCS / name
    assert path.exists(), f"run scripts/gen-docs ({name})"
    assert path.read_text() == FILES[name], f"run scripts/gen-docs ({name})"
