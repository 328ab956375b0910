"""The config reference and the JSON Schema, generated from the schema itself: every field's
`description`, its type in the words error messages use, and its default. scripts/gen-docs
writes docs/config-reference.md and docs/multiwan.schema.json; a test keeps them current."""

import json
from typing import Any, get_args

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from multiwan.config import autoweight, health, schema, services
from multiwan.config.errors import expected

#: Every table of the file, in reading order: (heading, model, what it is).
SECTIONS: list[tuple[str, type[BaseModel], str]] = [
    ("Top level", schema.Config, "The keys outside any table."),
    ("[links.NAME]", schema.Link, "One uplink per table."),
    ("[links.NAME.auto_weight]", autoweight.AutoWeight, 'How a `weight = "auto"` link is weighed.'),
    ("[policies.NAME]", schema.Policy, "How new connections choose among links."),
    ("Policy members", schema.Member, "An entry of `links` in a policy, as a table."),
    ("[[rules]]", schema.Rule, "Traffic selectors, first match wins."),
    ("[health], [links.NAME.health]", health.HealthCheck, "How links are probed and judged."),
    *(
        (f'Health target: kind = "{get_args(kind.annotation)[0]}"', model, kind.description or "")
        for model in get_args(get_args(health.Target)[0])
        for kind in [model.model_fields["kind"]]
    ),
    ("[services.NAME]", services.Service, "An inbound service: a virtual IP:port balanced."),
    ("Service backends", services.Backend, "An entry of a service's `backends`."),
    ("[services.NAME.check]", services.ServiceCheck, "How each backend is checked."),
    ("[daemon]", schema.Daemon, "Settings of `multiwan run`."),
]


def _toml(value: object) -> str:
    """A default as it would be written in the file."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, BaseModel):
        return "(a table of defaults)"
    if value == {}:
        return "{}"
    return json.dumps(value) if isinstance(value, list) else str(value)


def _default(name: str, field: FieldInfo) -> str:
    if field.is_required():
        return "required"
    if field.default_factory is not None:
        return "(a table of defaults)"
    if name.endswith("mask"):
        return f"`{field.default:#x}`"
    return "omitted" if field.default is None else f"`{_toml(field.default)}`"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def undocumented() -> list[str]:
    """`Model.field` of every field without a description (the reference needs one)."""
    return [
        f"{model.__name__}.{name}"
        for _, model, _ in SECTIONS
        for name, field in model.model_fields.items()
        if not field.description
    ]


def markdown() -> str:
    """docs/config-reference.md."""
    lines = [
        "# Config reference",
        "",
        "Generated from the schema (`src/multiwan/config/`) by `scripts/gen-docs`; do not edit.",
        "The commented example is `src/multiwan/examples/multiwan.toml`; editors can check a",
        "config against [`multiwan.schema.json`](multiwan.schema.json) (see the README).",
    ]
    for heading, model, about in SECTIONS:
        lines += ["", f"## {heading}", "", about, "", "| key | value | default | meaning |"]
        lines.append("| --- | --- | --- | --- |")
        for name, field in model.model_fields.items():
            kind = expected(field.annotation, (*field.metadata, field))
            lines.append(f"| `{name}` | {_cell(kind)} | {_default(name, field)} | "
                         f"{_cell(field.description or '')} |")  # fmt: skip
    return "\n".join(lines) + "\n"


def json_schema() -> str:
    """docs/multiwan.schema.json, for editors (Taplo, Even Better TOML)."""
    generated: dict[str, Any] = schema.Config.model_json_schema()
    document = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        **generated,
        "title": "multiwan config (/etc/multiwan/multiwan.toml)",
    }
    return json.dumps(document, indent=2, sort_keys=True) + "\n"
