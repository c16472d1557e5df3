"""Fixtures that train small, real MMPreTrain runs with MMPreTrain's own runner (``tools/train.py``).

- ``mmpretrain_work_dir``: ResNet-18 at 32 px on the digits (15 images per class), 3 epochs, stopped after
  epoch 2 and resumed, so the work_dir has two ``<timestamp>/`` starts; ``epoch_1..3.pth``,
  ``best_accuracy_top1_epoch_N.pth``, ``last_checkpoint``. Built once per session (two runner starts).
- ``mmpretrain_run_factory``: ``build(**options) -> work_dir`` for variants (``ema=True``, ``epochs=N``,
  ``resume_at=None``, ``frozen_stages=1``); equal options share one build.

Never modify the session work_dirs: copy them first (:func:`copy_work_dir`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "mmpretrain_digits" / "train.py"
DEFAULTS: dict[str, Any] = {"epochs": 3, "resume_at": 2, "max_per_class": 15, "batch_size": 16}


def build_mmpretrain_run(out: Path, **options: Any) -> Path:
    """Run the MMPreTrain digits example into ``out``; return its work_dir."""
    pytest.importorskip("mmpretrain")
    opts = {**DEFAULTS, **options}
    argv = [sys.executable, str(EXAMPLE), "--output", str(out)]
    for key, value in opts.items():
        flag = "--" + key.replace("_", "-")
        if value is True:
            argv.append(flag)
        elif value not in (None, False):
            argv += [flag, str(value)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(argv, capture_output=True, text=True, check=False, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"MMPreTrain example failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return out / "work_dir"


def copy_work_dir(work_dir: Path, dest: Path) -> Path:
    """Copy a work_dir (and its data beside it, as ``dest/../data``) to damage or move in one test."""
    shutil.copytree(work_dir, dest)
    return dest


@pytest.fixture(scope="session")
def mmpretrain_run_factory(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """``build(**options) -> work_dir`` for MMPreTrain variants; see the module docstring."""
    cache: dict[tuple[tuple[str, Any], ...], Path] = {}

    def make(**options: Any) -> Path:
        key = tuple(sorted(options.items()))
        if key not in cache:
            cache[key] = build_mmpretrain_run(tmp_path_factory.mktemp("mmpretrain-run"), **options)
        return cache[key]

    return make


@pytest.fixture(scope="session")
def mmpretrain_work_dir(mmpretrain_run_factory: Callable[..., Path]) -> Path:
    """A real MMPreTrain work_dir: ResNet-18 on digits, 3 epochs, resumed after epoch 2 (two starts)."""
    return mmpretrain_run_factory()
