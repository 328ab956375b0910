"""Config -> rendered kernel changes, compared with reviewed files.

Each case directory holds config.toml, facts.json (what discovery would report per
interface, and which links are down in the second step) and expected.txt: the plan from an
empty kernel, then the plan once the listed links go down (which must touch only the
one-rule policy chains).
"""

import json
import tomllib
from pathlib import Path
from typing import Any

import pytest

from multiwan.config.schema import Config
from multiwan.core.compile import compile_state
from multiwan.core.links import FamilyFacts, InterfaceFacts, ResolvedLink, resolve_links
from multiwan.core.model import ActualState, DesiredState, Sysctl
from multiwan.core.plan import diff

CASES = sorted(p for p in (Path(__file__).parent / "cases").iterdir() if p.is_dir())


def _facts(raw: dict[str, dict[str, dict[str, Any]]]) -> dict[str, InterfaceFacts]:
    facts = {}
    for interface, families in raw.items():
        per = {
            fam: FamilyFacts(
                gateway=values.get("gateway"),
                source=values.get("source"),
                subnets=tuple(values.get("subnets", ())),
            )
            for fam, values in families.items()
        }
        facts[interface] = InterfaceFacts(
            present=True, v4=per.get("v4", FamilyFacts()), v6=per.get("v6", FamilyFacts())
        )
    return facts


def fresh_sysctls(desired: DesiredState) -> frozenset[Sysctl]:
    """Kernel defaults (0) for every sysctl multiwan wants."""
    return frozenset(Sysctl(s.key, "0") for s in desired.sysctls)


def as_actual(desired: DesiredState) -> ActualState:
    """What the kernel holds after `desired` was applied."""
    return ActualState(desired.nft.digests, desired.routes, desired.rules, desired.sysctls)


def compile_case(case: Path) -> tuple[Config, list[ResolvedLink], DesiredState]:
    """The case's config, its links as discovered, and the state with every link live."""
    config = Config.model_validate(tomllib.loads((case / "config.toml").read_text()))
    raw = json.loads((case / "facts.json").read_text())
    links = resolve_links(config, _facts(raw["interfaces"]))
    return config, links, compile_state(config, links, set(config.links))


def render_case(case: Path) -> str:
    config, links, desired = compile_case(case)
    raw = json.loads((case / "facts.json").read_text())
    everyone = set(config.links)
    fresh = ActualState(None, frozenset(), frozenset(), fresh_sysctls(desired))
    out = ["## apply on a kernel without multiwan", diff(desired, fresh).render()]
    assert diff(desired, as_actual(desired)).empty, "applying twice must be a no-op"
    down = set(raw.get("down", []))
    if down:
        degraded = compile_state(config, links, everyone - down)
        out += [
            f"## then {', '.join(sorted(down))} down",
            diff(degraded, as_actual(desired)).render(),
        ]
    return "\n".join(out)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_golden(case: Path, update_golden: bool) -> None:
    rendered = render_case(case)
    expected = case / "expected.txt"
    if update_golden:
        expected.write_text(rendered)
    assert expected.exists(), f"{expected} missing: run pytest --update-golden and review it"
    assert rendered == expected.read_text()
