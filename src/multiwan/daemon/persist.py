"""The state directory: the link states a daemon saw last, kept across restarts so a restart
neither puts a dead link back into the balance nor disturbs the kernel state it finds (it
reconciles, it does not flush); and the lock that lets one daemon at a time use it.

Root writes there and reads back what it wrote, so the directory must be root's alone: one
that others could write is refused at start, temporary files never follow links, and a
corrupt file is reported and moved aside.
"""

import fcntl
import json
import logging
import os
import stat
from collections.abc import Mapping
from pathlib import Path

from multiwan.config.autoweight import WEIGHT_MAX
from multiwan.core.linkstate import State
from multiwan.core.pools import Seat
from multiwan.kernel.journal import read_json_object, write_atomic

STATES: tuple[State, ...] = ("up", "degraded", "down", "disabled", "absent")
LOCK_NAME = "daemon.lock"

log = logging.getLogger(__name__)


class StateDirError(Exception):
    """The state directory cannot be trusted or is in use; the message says why."""


def claim_state_dir(path: Path) -> int:
    """Create or check the state directory and take its lock (held while the returned
    descriptor stays open): owned by this (root) user, writable by nobody else, and used by
    no other daemon."""
    path.mkdir(mode=0o755, parents=True, exist_ok=True)
    info = os.lstat(path)
    if not stat.S_ISDIR(info.st_mode):
        raise StateDirError(f"state directory {path} is not a directory (a link?)")
    if info.st_uid != os.geteuid():
        raise StateDirError(f"state directory {path} is owned by uid {info.st_uid}, not by "
                            f"uid {os.geteuid()} (root): refusing to trust it")  # fmt: skip
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise StateDirError(f"state directory {path} is writable by group or others (mode "
                            f"{stat.S_IMODE(info.st_mode):o}): make it 0755")  # fmt: skip
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(path / LOCK_NAME, flags, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise StateDirError(
            f"another multiwan daemon is running with state directory {path}"
        ) from None
    return fd


#: The link states of the last run, in the state directory.
STATES_FILE = "link-states.json"
#: The mode an operator made persistent (`multiwan mode NAME --persist`).
MODE_FILE = "mode.json"
#: The seats of least-loaded pools' clients.
SEATS_FILE = "client-seats.json"
#: The measured weights of `weight = "auto"` links.
WEIGHTS_FILE = "auto-weights.json"


def load_states(path: Path) -> dict[str, State]:
    raw = read_json_object(path, "link state file")
    return {k: v for k, v in raw.items() if isinstance(k, str) and v in STATES}


def load_modes(path: Path) -> tuple[str, ...]:
    """The persisted modes (a default policy, a strategy), in the order to apply them."""
    modes = read_json_object(path, "mode file").get("modes")
    if not isinstance(modes, list):
        return ()
    return tuple(mode for mode in modes if isinstance(mode, str))


def save_modes(path: Path, modes: tuple[str, ...]) -> None:
    """Persist `modes` (none: forget them). Errors are the caller's: the operator asked."""
    if modes:
        write_atomic(path, json.dumps({"modes": list(modes)}))
    else:
        path.unlink(missing_ok=True)


def load_seats(path: Path) -> dict[str, dict[str, Seat]]:
    """Per least-loaded policy, each client's seat (link and home) as the last run left it."""
    raw = read_json_object(path, "client seats file")
    seats: dict[str, dict[str, Seat]] = {}
    for policy, clients in raw.items():
        if isinstance(clients, dict):
            seats[policy] = {
                client: Seat(*seat)
                for client, seat in clients.items()
                if isinstance(seat, list) and [type(s) for s in seat] == [str, str]
            }
    return seats


def save_seats(path: Path, seats: Mapping[str, Mapping[str, Seat]]) -> None:
    """Best effort, like the link states: a restart then seats clients afresh."""
    data = {p: {c: [s.link, s.home] for c, s in clients.items()} for p, clients in seats.items()}
    _save(path, data, "client seats")


def load_weights(path: Path) -> dict[str, int]:
    """The measured weight of each auto link as the last run left it (1-1000)."""
    raw = read_json_object(path, "auto weights file")
    return {k: v for k, v in raw.items() if type(v) is int and 1 <= v <= WEIGHT_MAX}


def save_weights(path: Path, weights: Mapping[str, int]) -> None:
    """Best effort: a restart then starts from the initial weights."""
    _save(path, weights, "auto weights")


def save_states(path: Path, states: Mapping[str, State]) -> None:
    """Best effort: a state file that cannot be written (disk full, read-only, out of file
    descriptors) is logged, and the daemon goes on; a restart then starts from probes."""
    _save(path, states, "link states")


def _save(path: Path, data: Mapping[str, object], what: str) -> None:
    """Write `data` as JSON; an error is logged, never raised (what a restart resumes from
    is a convenience, not a condition for running)."""
    try:
        write_atomic(path, json.dumps(data, sort_keys=True))
    except OSError as exc:
        log.error("could not save %s to %s: %s", what, path, exc)
