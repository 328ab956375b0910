"""The config reference covers every table and documents every field (a field added without
a description fails here; then run scripts/gen-docs)."""

import json

from multiwan.config.reference import SECTIONS, json_schema, undocumented
from multiwan.config.schema import Config


def test_every_table_of_the_schema_has_a_section() -> None:
    tables = set(Config.model_json_schema()["$defs"]) | {"Config"}
    assert {model.__name__ for _, model, _ in SECTIONS} == tables


def test_every_field_has_a_description() -> None:
    assert undocumented() == []


def test_the_json_schema_carries_the_descriptions() -> None:
    document = json.loads(json_schema())
    link = document["$defs"]["Link"]
    assert link["additionalProperties"] is False
    assert link["properties"]["weight"]["description"].startswith("Share of new connections")
    assert document["properties"]["mark_mask"]["description"].startswith("The packet/conntrack")
