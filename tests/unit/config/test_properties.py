"""Properties: any valid config loads and compiles; any broken one is a ConfigError."""

import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from multiwan.config.load import ConfigError, load_config_text
from multiwan.config.schema import STRATEGIES, Config
from multiwan.core.compile import compile_state
from multiwan.core.links import FamilyFacts, InterfaceFacts, resolve_links
from multiwan.core.model import ActualState
from multiwan.core.plan import diff
from tests.golden.test_compile_golden import as_actual, fresh_sysctls

#: Any name the config takes, and names that look like the chains multiwan generates.
NAMES = st.one_of(
    st.from_regex(r"[A-Za-z][A-Za-z0-9_-]{0,30}", fullmatch=True),
    st.sampled_from(["a", "a_b0", "a_0", "b0", "nat_prerouting", "guard_output", "decide"]),
)
RULE_NAMES = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9 _.-]{0,63}", fullmatch=True)
#: Interface name styles, formatted with the link's index: dots, 2-byte characters, 15 bytes.
INTERFACES = st.sampled_from(["eth{}", "wé{}", "vlan0.{}", "x" * 12 + "{:03d}", "ü" * 6 + "{:03d}"])
CIDRS = st.sampled_from(["10.0.0.0/8", "192.0.2.0/24", "2001:db8::/32", "198.51.100.7/32"])
PORTS = st.one_of(st.integers(1, 65535), st.sampled_from(["1000-2000", "53", "5060-5061"]))
ANY_VALUE = st.recursive(
    st.one_of(st.integers(), st.text(max_size=8), st.booleans(), st.floats(allow_nan=False)),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(NAMES, inner, max_size=3)),
    max_leaves=6,
)
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def toml_value(value: Any) -> str:
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value)


def inline_toml(data: dict[str, Any]) -> str:
    """Any data as TOML, one top-level key a line (nested tables inline)."""
    return "".join(f"{k} = {toml_value(v)}\n" for k, v in data.items())


def to_toml(data: dict[str, Any]) -> str:
    sections = ("links", "policies", "services", "rules")
    lines = [f"{k} = {toml_value(v)}" for k, v in data.items() if k not in sections]
    for section in ("links", "policies", "services"):
        for name, body in data.get(section, {}).items():
            lines.append(f"[{section}.{name}]")
            lines += [f"{k} = {toml_value(v)}" for k, v in body.items()]
    for rule in data.get("rules", []):
        lines.append("[[rules]]")
        lines += [f"{k} = {toml_value(v)}" for k, v in rule.items()]
    return "\n".join(lines) + "\n"


@st.composite
def valid_configs(draw: st.DrawFn) -> dict[str, Any]:
    link_names = draw(
        st.lists(NAMES.filter(lambda n: n != "main"), min_size=1, max_size=5, unique=True)
    )
    links = {
        name: {
            "interface": draw(INTERFACES).format(i),
            "gateway": f"192.0.{i}.1",
            "weight": draw(st.integers(1, 1000)),
            "priority": draw(st.integers(0, 3)),
            "masquerade": draw(st.booleans()),
        }
        for i, name in enumerate(link_names)
    }
    policy_names = draw(
        st.lists(NAMES.filter(lambda n: n not in links and n != "main"), max_size=3, unique=True)
    )
    policies = {}
    for name in policy_names:
        members = draw(st.lists(st.sampled_from(link_names), min_size=1, unique=True))
        policies[name] = {
            "strategy": draw(st.sampled_from(STRATEGIES)),
            "links": [
                m if draw(st.booleans()) else {"link": m, "weight": draw(st.integers(1, 9))}
                for m in members
            ],
            "last_resort": draw(st.sampled_from(["main", "unreachable", "blackhole"])),
        }
    targets = [*link_names, *policy_names, "main"]
    rules = []
    for _ in range(draw(st.integers(0, 4))):
        rule: dict[str, Any] = {"via": draw(st.sampled_from(targets))}
        if draw(st.booleans()):
            rule["dst"] = draw(st.lists(CIDRS, min_size=1, max_size=2, unique=True))
        if draw(st.booleans()):
            rule["proto"] = draw(st.sampled_from(["tcp", "udp"]))
            rule["dport"] = draw(st.lists(PORTS, min_size=1, max_size=3))
        if draw(st.booleans()):
            rule["name"] = draw(RULE_NAMES)
        if draw(st.booleans()):
            rule["log"] = "mw: "
        if "dst" not in rule and draw(st.booleans()):
            rule["dst_set"] = draw(st.sampled_from(["wired", "vpn"]))
        if draw(st.booleans()):
            rule["iif"] = draw(st.sampled_from([link["interface"] for link in links.values()]))
        rules.append(rule)
    default = draw(st.sampled_from(policy_names or link_names))
    return {
        "default_policy": default,
        "conntrack_helpers": draw(st.lists(st.sampled_from(["ftp", "sip", "pptp"]), unique=True)),
        "links": links,
        "policies": policies,
        "services": draw(services()),
        "rules": rules,
    }


@st.composite
def services(draw: st.DrawFn) -> dict[str, Any]:
    """Inbound services, their names including ones that look like generated chain names."""
    found = {}
    for k, name in enumerate(draw(st.lists(NAMES, max_size=3, unique=True))):
        v6 = draw(st.booleans())
        listen = f"2001:db8::{k + 1}" if v6 else f"198.51.100.{k + 1}"
        backends = []
        for j in range(draw(st.integers(1, 3))):
            backend: dict[str, Any] = {
                "address": f"2001:db8:{k + 1}::{j + 1}" if v6 else f"10.{k}.0.{j + 1}",
                "weight": draw(st.integers(1, 9)),
                "backup": j > 0 and draw(st.booleans()),
            }
            if draw(st.booleans()):
                backend["port"] = draw(st.integers(1, 65535))
            backends.append(backend)
        found[name] = {
            "listen": [listen],
            "ports": draw(st.lists(st.integers(1, 65535), min_size=1, max_size=3, unique=True)),
            "protocol": draw(st.sampled_from(["tcp", "udp"])),
            "scheduler": draw(st.sampled_from(["weighted", "round-robin", "source-hash"])),
            "snat": draw(st.booleans()),
            "backends": backends,
        }
    return found


def facts_for(config: Config) -> dict[str, InterfaceFacts]:
    """Every link's interface present, with a gateway-less subnet of its own."""
    return {
        link.interface: InterfaceFacts(
            True, FamilyFacts(None, f"192.0.{i}.2", (f"192.0.{i}.0/24",))
        )
        for i, link in enumerate(config.links.values())
    }


@FAST
@given(valid_configs(), st.data())
def test_valid_configs_load_and_compile(data: dict[str, Any], draw: st.DataObject) -> None:
    config = load_config_text(to_toml(data), "gen.toml")
    links = resolve_links(config, facts_for(config))
    live = draw.draw(st.sets(st.sampled_from(sorted(config.links))))
    desired = compile_state(config, links, live)
    fresh = ActualState(None, frozenset(), frozenset(), fresh_sysctls(desired))
    assert not diff(desired, fresh).empty
    assert diff(desired, as_actual(desired)).empty
    # A change of health only ever rewrites one-rule chains, never the table.
    other = compile_state(config, links, set(config.links) - live)
    assert "replace table" not in diff(other, as_actual(desired)).nft_summary


def first_link(data: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    name = next(iter(data["links"]))
    return f"links.{name}", data["links"][name]


def new_rule(data: dict[str, Any], rule: dict[str, Any]) -> str:
    data["rules"].append(rule)
    return f"rules[{len(data['rules']) - 1}]"


#: Each injects one mistake into valid config data and returns the field path it must name.
MISTAKES: list[Callable[[dict[str, Any]], str]] = [
    lambda d: (first_link(d)[1].update(weight=0), f"{first_link(d)[0]}.weight")[1],
    lambda d: (first_link(d)[1].update(gateway="999.1.1.1"), f"{first_link(d)[0]}.gateway")[1],
    lambda d: (first_link(d)[1].update(weight="3"), f"{first_link(d)[0]}.weight")[1],
    lambda d: (first_link(d)[1].update(colour="red"), f"{first_link(d)[0]}.colour")[1],
    lambda d: (first_link(d)[1].pop("interface"), f"{first_link(d)[0]}.interface")[1],
    lambda d: (d.update(default_policy="zz-nope"), "default_policy")[1],
    lambda d: (d.update(colour=1), "colour")[1],
    lambda d: new_rule(d, {"via": "zz-nope"}) + ".via",
    lambda d: new_rule(d, {"via": "main", "dport": [22, 0]}) + ".dport[1]",
    lambda d: new_rule(d, {"via": "main", "sport": ["9-1"]}) + ".sport[0]",
    lambda d: new_rule(d, {"via": "main", "dst": ["1.2.3.4/40"]}) + ".dst[0]",
    lambda d: new_rule(d, {"via": "main", "proto": "sctp"}) + ".proto",
]


@FAST
@given(valid_configs(), st.sampled_from(MISTAKES))
def test_one_mistake_is_reported_with_its_field(
    data: dict[str, Any], inject: Callable[[dict[str, Any]], str]
) -> None:
    field = inject(data)
    with pytest.raises(ConfigError) as caught:
        load_config_text(to_toml(data), "gen.toml")
    named = [p for p in caught.value.problems if p.field == field]
    assert named, caught.value.problems
    assert all(p.line for p in named), named


def assert_config_or_problems(text: str) -> None:
    """Loading gives a Config or a ConfigError that lists problems; never anything else."""
    try:
        load_config_text(text, "fuzz.toml")
    except ConfigError as exc:
        if not exc.problems:
            raise AssertionError("ConfigError without problems") from exc


@FAST
@given(st.text(max_size=300))
def test_arbitrary_text_is_a_config_or_a_config_error(text: str) -> None:
    assert_config_or_problems(text)


@FAST
@given(st.dictionaries(NAMES, ANY_VALUE, max_size=4))
def test_arbitrary_toml_data_is_a_config_or_a_config_error(data: dict[str, Any]) -> None:
    assert_config_or_problems(inline_toml(data))


@FAST
@given(valid_configs(), st.data())
def test_any_value_anywhere_in_a_config_is_a_config_or_a_config_error(
    data: dict[str, Any], draw: st.DataObject
) -> None:
    """Replace one node of a valid config (a link, a field, a list element) with anything."""
    node: Any = data
    while True:
        keys = list(node) if isinstance(node, dict) else list(range(len(node)))
        if not keys:
            break
        key = draw.draw(st.sampled_from(keys))
        child = node[key]
        if isinstance(child, dict | list) and child and draw.draw(st.booleans()):
            node = child
            continue
        node[key] = draw.draw(ANY_VALUE)
        break
    assert_config_or_problems(inline_toml(data))
