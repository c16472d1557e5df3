"""`make setup`'s disk check (scripts/check_disk.py): a fresh install stops before pip when it cannot fit."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "check_disk.py"


def _run(need_gib: float, where: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), "--need-gib", str(need_gib), str(where)],
        capture_output=True,
        text=True,
        check=False,
    )


def test_enough_space_passes_silently(tmp_path: Path) -> None:
    free_gib = shutil.disk_usage(tmp_path).free / 2**30
    done = _run(free_gib / 2, tmp_path)
    assert done.returncode == 0
    assert done.stderr == ""


def test_too_little_space_fails_with_what_and_what_to_do(tmp_path: Path) -> None:
    free_gib = shutil.disk_usage(tmp_path).free / 2**30
    done = _run(free_gib * 4 + 1, tmp_path)
    assert done.returncode == 1
    assert "GiB free" in done.stderr and str(tmp_path) in done.stderr
    assert "hint: free some disk space" in done.stderr


def test_makefile_checks_before_creating_the_venv() -> None:
    makefile = (SCRIPT.parents[1] / "Makefile").read_text()
    recipe = makefile.split("$(STAMP): pyproject.toml constraints.txt\n", 1)[1]
    assert recipe.index("scripts/check_disk.py") < recipe.index("-m venv")
