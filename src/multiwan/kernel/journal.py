"""Remembers the sysctl values found before multiwan first changed them, so `flush` can put
them back exactly. Kept in the state directory (default /run/multiwan: gone at reboot, as are
the sysctls themselves)."""

import json
import os
from pathlib import Path

DEFAULT_STATE_DIR = Path(os.environ.get("MULTIWAN_STATE_DIR", "/run/multiwan"))


class SysctlJournal:
    """Original values by key; a key is recorded once, at its first change."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / "sysctl-originals.json"

    def load(self) -> dict[str, str]:
        try:
            data: dict[str, str] = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        return data

    def record(self, originals: dict[str, str]) -> None:
        """Add values for keys not yet recorded (earlier records are the true originals)."""
        known = self.load()
        merged = {**originals, **known}
        if merged != known:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps(merged, indent=1, sort_keys=True))
            tmp.replace(self.path)

    def forget(self, keys: set[str]) -> None:
        known = self.load()
        remaining = {k: v for k, v in known.items() if k not in keys}
        if not remaining:
            self.path.unlink(missing_ok=True)
        elif remaining != known:
            self.path.write_text(json.dumps(remaining, indent=1, sort_keys=True))
