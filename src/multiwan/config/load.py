"""Read a config file and report every problem at once, each with file, line and field.

User mistakes are data (Problem values), never tracebacks: `check`, `apply` and the daemon's
reload all print the same messages and apply nothing.
"""

import re
import tomllib
from pathlib import Path

from pydantic import ValidationError

from multiwan.config.errors import ConfigError, Problem, format_problems, problems_from_validation
from multiwan.config.locate import index_lines, line_of
from multiwan.config.schema import Config, reference_problems

__all__ = ["ConfigError", "Problem", "format_problems", "load_config", "load_config_text"]

TOML_POSITION = re.compile(r" \(at line (\d+), column \d+\)$")


def _parse(text: str, filename: str) -> dict[str, object]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        position = TOML_POSITION.search(message)
        line = int(position[1]) if position else None
        message = TOML_POSITION.sub("", message)
        raise ConfigError([Problem(filename, line, "", f"invalid TOML: {message}")]) from None


def load_config_text(text: str, filename: str) -> Config:
    """Parse and validate config `text`; raise ConfigError listing every problem.

    Validation is strict: TOML has types, so "3" is not a number and 1 is not `true`.
    """
    data = _parse(text, filename)
    lines = index_lines(text)
    problems = [
        Problem(filename, line_of(lines, field), field, message)
        for field, message in reference_problems(data)
    ]
    try:
        config = Config.model_validate(data, strict=True)
    except ValidationError as exc:
        where = lambda field: line_of(lines, field)  # noqa: E731
        problems += problems_from_validation(exc, Config, where, filename)
    if problems:
        raise ConfigError(sorted(problems, key=lambda p: (p.line or 0, p.field)))
    return config


def load_config(path: Path) -> Config:
    """Read and validate the config file at `path`."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise ConfigError([Problem(str(path), None, "", f"cannot read: {reason}")]) from None
    return load_config_text(text, str(path))
