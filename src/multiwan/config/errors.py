"""Config mistakes as data: a Problem per mistake, worded for the person who wrote the file.

pydantic reports every error with a location and a machine type; this turns each into the
user's field path (`links.wan2.weight`, `rules[3].dport[1]`) and a message saying what was
found and what is expected, in TOML's words rather than Python's.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from annotated_types import Ge, Gt, Le, Lt
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails

from multiwan.config.base import Expected


@dataclass(frozen=True)
class Problem:
    """One mistake in a config file, rendered like a compiler message."""

    file: str
    line: int | None
    field: str  # dotted path; "" when the mistake is the file itself (syntax, unreadable)
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return (
            f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"
        )


class ConfigError(Exception):
    """The config is invalid; `problems` lists every mistake found."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(format_problems(problems))
        self.problems = problems


def format_problems(problems: Iterable[Problem]) -> str:
    """One problem a line, as `check` prints them."""
    return "\n".join(str(p) for p in problems)


@dataclass
class _Site:
    """Where a pydantic error location lands in the schema."""

    path: str = ""
    annotation: Any = None  # the type expected there (None past an unknown key)
    constraints: tuple[Any, ...] = ()  # bounds and descriptions from Annotated / Field
    owner: type[BaseModel] | None = None  # the model whose key the location names
    union: tuple[int | str, ...] | None = None  # location of the last union passed
    branch: Any = None  # the union member the location went into


def _unwrap(annotation: Any, constraints: tuple[Any, ...]) -> tuple[Any, tuple[Any, ...]]:
    """Strip Annotated and Optional, collecting constraints on the way."""
    while True:
        args = get_args(annotation)
        if get_origin(annotation) is Annotated:
            annotation = args[0]
            for extra in args[1:]:
                infos = (*extra.metadata, extra) if isinstance(extra, FieldInfo) else (extra,)
                constraints = (*constraints, *infos)
        elif _is_union(annotation) and type(None) in args and len(args) == 2:
            annotation = next(a for a in args if a is not type(None))
        else:
            return annotation, constraints


def _is_union(annotation: Any) -> bool:
    return get_origin(annotation) in (Union, type(int | str))


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _branch(members: tuple[Any, ...], tag: str) -> Any:
    """The union member pydantic calls `tag`: a model's name or the value of its Literal key
    (a discriminator), or a scalar type's name ('int', 'str', 'constrained-str')."""
    for member in members:
        plain, _ = _unwrap(member, ())
        if _is_model(plain):
            literals = (get_args(f.annotation) for f in plain.model_fields.values())
            if tag == plain.__name__ or any(tag in values for values in literals):
                return member
        elif isinstance(plain, type) and plain.__name__ in tag:
            return member
    return None


def _site(root: type[BaseModel], loc: tuple[int | str, ...]) -> _Site:
    site = _Site()
    annotation: Any = root
    constraints: tuple[Any, ...] = ()
    for depth, part in enumerate(loc):
        if part == "[key]":
            continue  # the dict key just passed is itself invalid (see below)
        annotation, constraints = _unwrap(annotation, constraints)
        origin, args = get_origin(annotation), get_args(annotation)
        if _is_union(annotation):
            site.union, site.branch = loc[:depth], _branch(args, str(part))
            annotation, constraints = site.branch, ()
            continue
        constraints = ()
        if _is_model(annotation):
            site.owner = annotation
            field = annotation.model_fields.get(str(part))
            annotation = field and field.annotation
            constraints = (*field.metadata, field) if field else ()
        elif origin is dict:
            annotation = args[0] if loc[depth + 1 : depth + 2] == ("[key]",) else args[1]
        elif origin is list:
            annotation = args[0]
        else:
            annotation = None
        site.path += f"[{part}]" if isinstance(part, int) else f".{part}" if site.path else part
        if annotation is None:
            break
    site.annotation, site.constraints = _unwrap(annotation, constraints)
    return site


def _bounds(constraints: tuple[Any, ...], integer: bool) -> str:
    """' 1-1000' for an integer range, else like ' > 0 and <= 600'."""
    low: tuple[str, Any] | None = None
    high: tuple[str, Any] | None = None
    for constraint in constraints:
        if isinstance(constraint, Gt | Ge):
            low = (">", constraint.gt) if isinstance(constraint, Gt) else (">=", constraint.ge)
        elif isinstance(constraint, Lt | Le):
            high = ("<", constraint.lt) if isinstance(constraint, Lt) else ("<=", constraint.le)
    if integer and low and high:
        return f" {low[1] + (low[0] == '>')}-{high[1] - (high[0] == '<')}"
    words = [f"{sign} {_number(bound)}" for sign, bound in filter(None, (low, high))]
    return " " + " and ".join(words) if words else ""


def expected(annotation: Any, constraints: tuple[Any, ...]) -> str:
    """What a value of this type looks like, in words."""
    annotation, constraints = _unwrap(annotation, constraints)
    description = next((c.text for c in constraints if isinstance(c, Expected)), None)
    origin = get_origin(annotation)
    if description:
        return description
    if _is_union(annotation):
        members = get_args(annotation)
        return " or ".join(dict.fromkeys(expected(a, ()) for a in members if a is not type(None)))
    if origin is Literal:
        return "one of " + ", ".join(repr(v) for v in get_args(annotation))
    if annotation is bool:
        return "true or false"
    if annotation in (int, float):
        noun = "an integer" if annotation is int else "a number"
        return noun + _bounds(constraints, integer=annotation is int)
    if annotation is str:
        return "a string"
    if origin is list:
        return "an array"
    return "a table"


def _tags(union: Any, name: str) -> list[Any]:
    """The values a discriminated union's members take for key `name`."""
    members = (_unwrap(member, ())[0] for member in get_args(union))
    return [tag for m in members for tag in get_args(m.model_fields[name].annotation)]


def _number(value: object) -> object:
    """0.0 -> 0: bounds read as the user would write them."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _shown(value: object) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    return repr(value)


def _fits(value: object, annotation: Any) -> bool:
    """Is `value` of the kind this union member takes (so its errors are the relevant ones)?"""
    plain, _ = _unwrap(annotation, ())
    if _is_model(plain):
        return isinstance(value, dict)
    return isinstance(plain, type) and type(value) is plain


COMPARISONS = {
    "greater_than": ">",
    "greater_than_equal": ">=",
    "less_than": "<",
    "less_than_equal": "<=",
}


def _message(error: ErrorDetails, site: _Site) -> str:
    kind, found, context = error["type"], error.get("input"), error.get("ctx") or {}
    got = f", got {_shown(found)}"
    if kind == "extra_forbidden":
        allowed = f"; expected one of: {', '.join(site.owner.model_fields)}" if site.owner else ""
        return f"unknown key{allowed}"
    if kind == "missing":
        return f"required key is missing: expected {expected(site.annotation, site.constraints)}"
    if kind in ("value_error", "assertion_error"):
        return str(context.get("error", error["msg"]))
    if kind in COMPARISONS:
        bound = next(v for k, v in context.items() if k in ("gt", "ge", "lt", "le"))
        return f"must be {COMPARISONS[kind]} {_number(bound)}{got}"
    if kind == "too_short":
        return f"needs at least {context['min_length']} item(s), got {context['actual_length']}"
    if kind == "too_long":
        return f"takes at most {context['max_length']} item(s), got {context['actual_length']}"
    if kind == "union_tag_invalid":
        name = context["discriminator"].strip("'")
        return f"unknown {name} {context['tag']!r}; expected one of: {context['expected_tags']}"
    if kind == "union_tag_not_found":
        name = context["discriminator"].strip("'")
        tags = ", ".join(repr(t) for t in _tags(site.annotation, name))
        return f"needs key {name!r}, one of: {tags}"
    return f"expected {expected(site.annotation, site.constraints)}{got}"


def problems_from_validation(
    exc: ValidationError, root: type[BaseModel], where: Callable[[str], int | None], file: str
) -> list[Problem]:
    """A Problem for each of pydantic's errors, except its tries at union members the value
    was never meant for (a table tried as a string); a value that fits no member at all gets
    one Problem naming them all. Errors of the whole document (model validators) are left to
    the caller, which checks references on the raw data.
    """
    problems: list[Problem] = []
    unions: dict[tuple[int | str, ...], ErrorDetails] = {}  # a union's first type mismatch
    relevant: set[tuple[int | str, ...]] = set()
    for error in exc.errors(include_url=False):
        loc = tuple(error["loc"])
        site = _site(root, loc)
        if site.union is not None and len(site.union) == len(loc) - 1:
            unions.setdefault(site.union, error)
            if not _fits(error.get("input"), site.branch):
                continue
        if site.union is not None:
            relevant.add(site.union)
        if site.path:
            problems.append(Problem(file, where(site.path), site.path, _message(error, site)))
    for loc, error in unions.items():
        if loc not in relevant:
            union = _site(root, loc)
            wanted = expected(union.annotation, union.constraints)
            message = f"expected {wanted}, got {_shown(error.get('input'))}"
            problems.append(Problem(file, where(union.path), union.path, message))
    return problems
