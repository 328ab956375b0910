"""Shared fixtures: lab tests need root and get namespaces that are always deleted."""

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import settings

from multiwan.lab.netns import Netns, cleanup_stale, unique_tag

#: Namespaces of this run; override (ending in "-") to keep concurrent runs apart, since a
#: run first deletes stale namespaces of its own prefix.
TEST_PREFIX = os.environ.get("MULTIWAN_TEST_PREFIX", "mwt-")

#: `MULTIWAN_HYPOTHESIS=mutation` (set by scripts/mutate): few examples, always the same ones,
#: so each of thousands of mutant runs takes seconds and a mutant's verdict never depends on luck.
settings.register_profile(
    "mutation", max_examples=5, derandomize=True, database=None, deadline=None
)
HYPOTHESIS_PROFILE = os.environ.get("MULTIWAN_HYPOTHESIS")
if HYPOTHESIS_PROFILE:
    settings.load_profile(HYPOTHESIS_PROFILE)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-golden", action="store_true", help="rewrite golden outputs")


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    """Golden tests rewrite their expected files (review the diff) instead of comparing."""
    return bool(request.config.getoption("--update-golden"))


def pytest_sessionstart(session: pytest.Session) -> None:
    if os.geteuid() == 0:
        cleanup_stale(TEST_PREFIX)


def _cap_examples(items: list[pytest.Item]) -> None:
    """A test's own `@settings(max_examples=N)` outranks a profile: cap N at the profile's."""
    profile = settings()
    for item in items:
        test: Any = getattr(item, "obj", None)
        own = getattr(test, "_hypothesis_internal_use_settings", None)
        if own is not None:
            test._hypothesis_internal_use_settings = settings(
                own,
                max_examples=min(own.max_examples, profile.max_examples),
                derandomize=profile.derandomize,
                database=profile.database,
            )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if HYPOTHESIS_PROFILE:
        _cap_examples(items)
    if os.geteuid() != 0:
        skip = pytest.mark.skip(reason="lab tests need root (network namespaces)")
        for item in items:
            if "lab" in item.keywords:
                item.add_marker(skip)


@pytest.fixture
def netns_factory() -> Iterator[Callable[[str], Netns]]:
    """Make namespaces named mwt-<tag>-<role>; all are deleted at the end, also on failure."""
    tag = unique_tag()
    made: list[Netns] = []

    def make(role: str) -> Netns:
        ns = Netns(f"{TEST_PREFIX}{tag}-{role}")
        made.append(ns)
        return ns

    try:
        yield make
    finally:
        for ns in reversed(made):
            ns.delete()
