"""Remembers the sysctl values found before multiwan first changed them, so `flush` can put
them back exactly. Kept in the state directory (default /run/multiwan: gone at reboot, as are
the sysctls themselves).

The file is trusted no more than it must be: its keys become paths under /proc/sys, so only
`net/ipv4|ipv6/conf/<interface>/<name>` and `net/ipv4|ipv6/fib_multipath_hash_policy`
keys are taken; a corrupt file is moved aside and reported, never a traceback.
"""

import json
import logging
import os
import re
from pathlib import Path

DEFAULT_STATE_DIR = Path(os.environ.get("MULTIWAN_STATE_DIR", "/run/multiwan"))
#: An interface name as the kernel allows it (1-15 bytes, no '/', no whitespace, not . or ..).
#: Also the namespace-wide multipath hash policy (route policies).
SYSCTL_KEY = re.compile(
    r"net/ipv[46]/(conf/(?!\.\.?/)[^/\s:]{1,15}/[a-z0-9_]{1,64}|fib_multipath_hash_policy)",
    re.ASCII,
)

log = logging.getLogger(__name__)


def valid_sysctl_key(key: object) -> bool:
    return isinstance(key, str) and SYSCTL_KEY.fullmatch(key) is not None


def write_atomic(path: Path, text: str) -> None:
    """Replace `path` with `text` through a new temporary file in the same directory,
    created without following links (O_EXCL|O_NOFOLLOW), then renamed over it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(tmp, flags, 0o644)
    try:
        with os.fdopen(fd, "w") as out:
            out.write(text)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def read_json_object(path: Path, what: str) -> dict[str, object]:
    """The JSON object in `path`, {} when there is none. A corrupt file is reported and
    moved aside (`<name>.corrupt`) so the next write starts clean and the operator can look."""
    try:
        data = json.loads(path.read_bytes())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        data = exc
    if isinstance(data, dict):
        return data
    log.error("%s %s is corrupt (%s); moved aside to %s.corrupt, starting empty", what, path,
              data if isinstance(data, Exception) else "not a JSON object", path.name)  # fmt: skip
    try:
        os.replace(path, path.with_name(path.name + ".corrupt"))
    except OSError as exc:
        log.error("could not move %s aside: %s", path, exc)
    return {}


class SysctlJournal:
    """Original values by key; a key is recorded once, at its first change."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / "sysctl-originals.json"

    def load(self) -> dict[str, str]:
        raw = read_json_object(self.path, "sysctl journal")
        bad = sorted(k for k, v in raw.items() if not valid_sysctl_key(k) or not isinstance(v, str))
        if bad:
            log.error("sysctl journal %s: ignoring invalid entries %s (expected "
                      "net/ipv4|ipv6/conf/<interface>/<name> with a text value)",
                      self.path, ", ".join(repr(k) for k in bad)[:500])  # fmt: skip
        return {k: v for k, v in raw.items() if k not in bad and isinstance(v, str)}

    def record(self, originals: dict[str, str]) -> None:
        """Add values for keys not yet recorded (earlier records are the true originals)."""
        known = self.load()
        merged = {**{k: v for k, v in originals.items() if valid_sysctl_key(k)}, **known}
        if merged != known:
            write_atomic(self.path, json.dumps(merged, indent=1, sort_keys=True))

    def forget(self, keys: set[str]) -> None:
        known = self.load()
        remaining = {k: v for k, v in known.items() if k not in keys}
        if not remaining:
            self.path.unlink(missing_ok=True)
        elif remaining != known:
            write_atomic(self.path, json.dumps(remaining, indent=1, sort_keys=True))
