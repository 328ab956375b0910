"""Hooks: one link's hooks run in event order, only trusted ones run, with a minimal
environment and bounded output, and a hook that leaves a child behind is still ended."""

import asyncio
import logging
import time
from pathlib import Path

import pytest

from multiwan.daemon.hooks import OUTPUT_LIMIT, HookEvent, run_hooks


def hook(directory: Path, name: str, body: str) -> Path:
    path = directory / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return path


def event(state: str, previous: str) -> HookEvent:
    return HookEvent("isp1", state, previous, "wan1", "192.0.2.1")


async def in_order(directory: Path, *events: HookEvent) -> None:
    async with asyncio.TaskGroup() as group:  # as the engine spawns them, one per event
        for item in events:
            group.create_task(run_hooks(directory, item, 5.0))


def test_one_links_hooks_run_in_event_order(tmp_path: Path) -> None:
    record = tmp_path / "record"
    hooks = tmp_path / "hooks"
    hooks.mkdir(mode=0o755)
    # "down" is slow: run concurrently, "up" would be recorded first.
    hook(hooks, "10-record", f'[ "$STATE" = down ] && sleep 0.3\necho $STATE >> {record}\n')
    asyncio.run(in_order(hooks, event("down", "up"), event("up", "down")))
    assert record.read_text().split() == ["down", "up"]


def test_hooks_get_a_minimal_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SECRET_TOKEN", "do-not-leak")
    record = tmp_path / "env"
    hooks = tmp_path / "hooks"
    hooks.mkdir(mode=0o755)
    hook(hooks, "10-env", f"env > {record}\n")
    asyncio.run(in_order(hooks, event("down", "up")))
    names = {line.split("=", 1)[0] for line in record.read_text().splitlines()}
    assert {"LINK", "STATE", "PREVIOUS", "INTERFACE", "GATEWAY", "PATH"} <= names
    assert "SECRET_TOKEN" not in names
    assert "LINK=isp1" in record.read_text()


def test_hooks_others_could_change_are_refused(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    record = tmp_path / "ran"
    hooks = tmp_path / "hooks"
    hooks.mkdir(mode=0o755)
    hook(hooks, "10-open", f"touch {record}\n").chmod(0o777)
    with caplog.at_level(logging.ERROR):
        asyncio.run(in_order(hooks, event("down", "up")))
    assert not record.exists()
    assert "10-open not run: it is writable by group or others (mode 777)" in caplog.text
    hooks.chmod(0o777)
    hook(hooks, "20-fine", f"touch {record}\n")
    asyncio.run(in_order(hooks, event("down", "up")))
    assert not record.exists()
    assert "not run: the directory is writable by group or others" in caplog.text


def test_output_is_bounded(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    hooks = tmp_path / "hooks"
    hooks.mkdir(mode=0o755)
    hook(hooks, "10-loud", "head -c 1000000 /dev/zero | tr '\\0' x\nexit 3\n")
    with caplog.at_level(logging.WARNING):
        asyncio.run(in_order(hooks, event("down", "up")))
    (message,) = [r.getMessage() for r in caplog.records if "10-loud exited 3" in r.getMessage()]
    assert OUTPUT_LIMIT <= len(message) < OUTPUT_LIMIT + 200


def test_a_hook_leaving_a_child_holding_its_output_is_ended(tmp_path: Path) -> None:
    hooks = tmp_path / "hooks"
    hooks.mkdir(mode=0o755)
    hook(hooks, "10-fork", "setsid sleep 30 &\nsleep 30\n")

    async def timed() -> float:
        started = time.monotonic()
        await asyncio.wait_for(run_hooks(hooks, event("down", "up"), 0.3), 5)
        return time.monotonic() - started

    assert asyncio.run(timed()) < 2
