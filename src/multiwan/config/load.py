"""Read a config file and report every problem at once, each with file, line and field.

User mistakes are data (Problem values), never tracebacks: `check`, `apply` and the daemon's
reload all print the same messages and apply nothing.
"""

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, get_args, get_origin

from pydantic import BaseModel, ValidationError

from multiwan.config.locate import locate
from multiwan.config.schema import Config, reference_problems


@dataclass(frozen=True)
class Problem:
    """One mistake in a config file, rendered like a compiler message."""

    file: str
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return (
            f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"
        )


class ConfigError(Exception):
    """The config is invalid; `problems` lists every mistake found."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


UNION_TAGS = {"str": str, "constrained-str": str, "int": int, "Member": dict}


def _wrong_union_branch(error: Any) -> bool:
    """An error from a union branch the value was never meant for (a table tried as a string)."""
    loc = error["loc"]
    for index, part in enumerate(loc):
        if part in UNION_TAGS and index + 1 == len(loc):
            return not isinstance(error.get("input"), UNION_TAGS[part])
    return False


def _field_path(loc: tuple[int | str, ...]) -> str:
    parts: list[str] = []
    for position, item in enumerate(loc):
        if position >= 2 and loc[position - 2] == "targets" and isinstance(loc[position - 1], int):
            continue  # the target kind pydantic adds as a discriminator tag
        if isinstance(item, int):
            parts.append(f"[{item}]")
        elif item in UNION_TAGS:
            continue  # union branch names pydantic adds to locations
        else:
            parts.append(f".{item}" if parts else str(item))
    return "".join(parts)


def _model_at(loc: tuple[int | str, ...]) -> type[BaseModel] | None:
    """The schema model that owns the key at `loc` (for listing its allowed keys)."""
    current: Any = Config
    for part in loc[:-1]:
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(str(part))
            if field is None:
                return None
            current = field.annotation
            continue
        args = [a for a in get_args(current) if a is not type(None)]
        if get_origin(current) is dict:
            current = args[1]
        elif get_origin(current) is list:
            current = args[0]
        elif args:  # Optional[X] / Annotated[X, ...]
            current = next((a for a in args if isinstance(a, type)), args[0])
        if get_origin(current) is Annotated:
            current = get_args(current)[0]
    while not isinstance(current, type) and get_args(current):
        current = next((a for a in get_args(current) if isinstance(a, type)), None)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _message(error: Any) -> str:
    kind, found = error["type"], error.get("input")
    context = error.get("ctx") or {}
    if kind == "extra_forbidden":
        model = _model_at(tuple(error["loc"]))
        allowed = f"; expected one of: {', '.join(model.model_fields)}" if model else ""
        return f"unknown key{allowed}"
    if kind == "missing":
        return "required key is missing"
    if kind == "value_error":
        return str(context.get("error", error["msg"]))
    text = str(error["msg"])
    if kind.startswith(("greater_than", "less_than")):
        return f"{text.lower()}, got {found!r}"
    return f"{text}, got {found!r}" if "input" in error and not isinstance(found, dict) else text


def problems_from_validation(exc: ValidationError, text: str, filename: str) -> list[Problem]:
    """Field errors from pydantic; the model's own reference check is left to the caller."""
    problems = []
    for error in exc.errors(include_url=False):
        if _wrong_union_branch(error):
            continue
        field = _field_path(tuple(error["loc"]))
        if field:
            problems.append(Problem(filename, locate(text, field), field, _message(error)))
    return problems


def load_config_text(text: str, filename: str) -> Config:
    """Parse and validate config `text`; raise ConfigError listing every problem."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = None
        message = str(exc)
        if "(at line " in message:
            line = int(message.split("(at line ")[1].split(",", maxsplit=1)[0])
            message = message.split(" (at line ", maxsplit=1)[0]
        raise ConfigError([Problem(filename, line, "", f"invalid TOML: {message}")]) from None
    references = [
        Problem(filename, locate(text, field), field, message)
        for field, message in reference_problems(data)
    ]
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        problems = problems_from_validation(exc, text, filename) + references
        raise ConfigError(sorted(problems, key=lambda p: (p.line or 0, p.field))) from None
    return config


def load_config(path: Path) -> Config:
    """Read and validate the config file at `path`."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise ConfigError([Problem(str(path), None, "", f"cannot read: {reason}")]) from None
    return load_config_text(text, str(path))
