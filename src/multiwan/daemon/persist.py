"""The link states a daemon saw last, kept across restarts so a restart neither puts a dead
link back into the balance nor disturbs the kernel state it finds (it reconciles, it does
not flush)."""

import json
from pathlib import Path

from multiwan.core.linkstate import State

STATES: tuple[State, ...] = ("up", "degraded", "down", "disabled", "absent")


def load_states(path: Path) -> dict[str, State]:
    try:
        raw = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in raw.items() if isinstance(k, str) and v in STATES}


def save_states(path: Path, states: dict[str, State]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(states, sort_keys=True))
    tmp.replace(path)
