"""scripts/install and scripts/uninstall, into a temporary root (never the machine's own /opt,
/usr/local, /etc or systemd): the installed command works from its own venv, the unit passes
systemd's analyzer, the config survives an upgrade and an uninstall, and --purge removes it."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.lab

REPO = Path(__file__).resolve().parents[2]
LINK = "../../../opt/multiwan/bin/multiwan"


def _run(*argv: str | Path) -> subprocess.CompletedProcess[str]:
    """Run without the caller's PYTHONPATH: the installed command must stand on its own."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run(
        [str(a) for a in argv], capture_output=True, text=True, timeout=300, env=env
    )


def _install(root: Path) -> None:
    done = _run(REPO / "scripts/install", "--root", root)
    assert done.returncode == 0, done.stdout + done.stderr


def test_install_verify_check_upgrade_uninstall(tmp_path: Path) -> None:
    root = tmp_path / "root"
    _install(root)
    command = root / "usr/local/bin/multiwan"
    assert os.readlink(command) == LINK
    config = root / "etc/multiwan/multiwan.toml"
    example = REPO / "src/multiwan/examples/multiwan.toml"
    assert config.read_text() == example.read_text()

    # The installed command runs from its own venv (not this test's) on the installed example.
    checked = _run(command, "-c", config, "check")
    assert checked.returncode == 0, checked.stderr
    assert f"{config}: OK (3 links" in checked.stdout
    python = root / "opt/multiwan/bin/python"
    where = _run(python, "-c", "import multiwan; print(multiwan.__file__)")
    assert where.stdout.startswith(f"{root}/opt/multiwan/lib/"), where

    share = root / "usr/local/share"
    for installed, shipped in (
        ("man/man1/multiwan.1", "multiwan.1"),
        ("multiwan/multiwan.schema.json", "multiwan.schema.json"),
    ):
        assert (share / installed).read_text() == (REPO / "docs" / shipped).read_text()
    for script, marker in (
        ("bash-completion/completions/multiwan", "_MULTIWAN_COMPLETE=bash_complete"),
        ("zsh/site-functions/_multiwan", "#compdef multiwan"),
        ("fish/vendor_completions.d/multiwan.fish", "_MULTIWAN_COMPLETE=fish_complete"),
    ):
        assert marker in (share / script).read_text(), script

    # systemd's analyzer on the installed unit, its command paths pointed into the root
    # (the analyzer checks that ExecStart's program exists and is executable).
    unit = (root / "etc/systemd/system/multiwan.service").read_text()
    assert "ExecStart=/usr/local/bin/multiwan run" in unit
    analyzer = shutil.which("systemd-analyze")
    assert analyzer, "scripts/bootstrap installs systemd for its analyzer"
    staged = tmp_path / "multiwan.service"
    staged.write_text(unit.replace("/usr/local/bin/multiwan", str(command)))
    verified = _run(analyzer, "verify", "--man=no", staged)
    assert (verified.returncode, verified.stderr) == (0, "")

    # An upgrade (install again) keeps the operator's config.
    config.write_text(example.read_text() + "\n# edited\n")
    _install(root)
    assert config.read_text().endswith("# edited\n")

    assert _run(REPO / "scripts/uninstall", "--root", root).returncode == 0
    assert not command.is_symlink()
    assert not (root / "opt/multiwan").exists()
    assert not (root / "etc/systemd/system/multiwan.service").exists()
    assert list(share.rglob("*multiwan*")) == []
    assert config.read_text().endswith("# edited\n")
    assert _run(REPO / "scripts/uninstall", "--root", root, "--purge").returncode == 0
    assert not (root / "etc/multiwan").exists()
