"""The documentation generated from the code: the man page from the CLI, the config
reference and JSON Schema from the config schema. `python -m
multiwan.cli.docs` (scripts/gen-docs) rewrites the files under docs/; a unit test fails
when one is stale."""

from pathlib import Path

DOCS = Path(__file__).resolve().parents[3] / "docs"


def generated() -> dict[str, str]:
    """File name under docs/ -> its content."""
    from multiwan.cli.main import cli
    from multiwan.cli.manpage import render
    from multiwan.config.reference import json_schema, markdown

    return {
        "multiwan.1": render(cli),
        "config-reference.md": markdown(),
        "multiwan.schema.json": json_schema(),
    }


def main() -> None:
    for name, text in generated().items():
        path = DOCS / name
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
            print(f"wrote {path}")


if __name__ == "__main__":
    main()
