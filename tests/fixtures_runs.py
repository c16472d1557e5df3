"""Fixtures that build small, real training runs with the examples' own code (timm and open_clip_train).

Session-scoped and deterministic (fixed seeds, fixed data split), so every test area can share them:

- ``timm_run_dir``: a timm ``train.py``-shaped run, ``test_resnet`` on digits at 32 px, 5 epochs, EMA on
  (its summary.csv metrics are the EMA model's), every epoch kept (``checkpoint-0..4``), hard-linked
  ``last.pth.tar`` / ``model_best.pth.tar``. A few seconds.
- ``openclip_run_dir``: an ``open_clip_train`` run of a tiny ViT CLIP on digit captions, 3 epochs,
  ``epoch_1..3.pt`` + ``epoch_latest.pt`` + ``results.jsonl``, model config JSON in the run dir. ~20 s.
- ``timm_run_factory``: ``build(**options) -> Path`` for variants (``ema=False``, ``checkpoint_hist=2`` for
  missing epochs, ``epochs=N``, ``model="test_vit"``, a fine-tune ``initial_checkpoint=PATH`` with
  ``lock=N`` and ``freeze_bn_stats=True``...); equal options share one build per session.
- ``openclip_run_factory``: the same for OpenCLIP (``lock_text=True``, ``lock_image=True``,
  ``lock_image_unlocked_groups=N``, ``epochs=N``).
- :func:`copy_run`: a writable copy of a run dir (without its data/), to damage in one test.

Never modify the session run dirs themselves: copy them first.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
TIMM_DEFAULTS: dict[str, Any] = {
    "epochs": 5,
    "max_per_class": 24,
    "batch_size": 32,
    "ema": True,
    "checkpoint_hist": 10,
    "model": "test_resnet",
    "initial_checkpoint": None,  # fine-tune from this checkpoint (timm's load_checkpoint)
    "lock": None,  # N: --lock --lock-unlocked-groups N (freeze all but the last N group_matcher groups)
    "freeze_bn_stats": False,  # with lock: --lock-freeze-bn-stats
}
OPENCLIP_DEFAULTS: dict[str, Any] = {
    "epochs": 3,
    "max_per_class": 16,
    "batch_size": 32,
    "lock_text": False,
    "lock_image": False,
    "lock_image_unlocked_groups": 0,
}


def _load_example(relpath: str, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / relpath)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def build_timm_run(out: Path, **options: Any) -> Path:
    """Train the timm digits example into ``out`` (in this process: no second torch start-up)."""
    opts = {**TIMM_DEFAULTS, **options}
    argv = [
        "--output", str(out),
        "--epochs", str(opts["epochs"]),
        "--max-per-class", str(opts["max_per_class"]),
        "--batch-size", str(opts["batch_size"]),
        "--checkpoint-hist", str(opts["checkpoint_hist"]),
        "--model", opts["model"],
        "--warmup-epochs", "0",
        "--model-ema" if opts["ema"] else "--no-model-ema",
    ]  # fmt: skip
    if opts["initial_checkpoint"]:
        argv += ["--initial-checkpoint", str(opts["initial_checkpoint"])]
    if opts["lock"] is not None:
        argv += ["--lock", "--lock-unlocked-groups", str(opts["lock"])]
        argv += ["--lock-freeze-bn-stats"] if opts["freeze_bn_stats"] else []
    if opts["model"].startswith("test_vit"):
        argv += ["--model-kwargs", "img_size=32"]  # ViTs fix their input size at creation
    module = _load_example("timm_digits/train.py", "hubkit_example_timm_digits")
    import torch

    # One thread: the runs are tiny, and on a busy 2-core CI machine spinning OpenMP threads cost 10x.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        result: Path = module.main(argv)
    finally:
        torch.set_num_threads(threads)
    return result


def build_openclip_run(out: Path, **options: Any) -> Path:
    """Run the OpenCLIP digits example (open_clip_train in a subprocess) into ``out``."""
    opts = {**OPENCLIP_DEFAULTS, **options}
    argv = [
        sys.executable, str(EXAMPLES / "openclip_digits" / "train.py"),
        "--output", str(out),
        "--epochs", str(opts["epochs"]),
        "--max-per-class", str(opts["max_per_class"]),
        "--batch-size", str(opts["batch_size"]),
    ]  # fmt: skip
    if opts["lock_text"]:
        argv.append("--lock-text")
    if opts["lock_image"]:
        argv.append("--lock-image")
        if opts["lock_image_unlocked_groups"]:
            argv += ["--lock-image-unlocked-groups", str(opts["lock_image_unlocked_groups"])]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(argv, capture_output=True, text=True, check=False, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"OpenCLIP example failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return out


def copy_run(run_dir: Path, dest: Path) -> Path:
    """Copy a run dir without its data/ folder; hard links become separate files (as after a plain copy).

    Example:
        >>> broken = copy_run(timm_run_dir, tmp_path / "run")
    """
    shutil.copytree(run_dir, dest, ignore=shutil.ignore_patterns("data"))
    return dest


def _factory(
    tmp_path_factory: pytest.TempPathFactory, prefix: str, build: Callable[..., Path]
) -> Callable[..., Path]:
    cache: dict[tuple[tuple[str, Any], ...], Path] = {}

    def make(**options: Any) -> Path:
        key = tuple(sorted(options.items()))
        if key not in cache:
            out = tmp_path_factory.mktemp(prefix) / "run"
            cache[key] = build(out, **options)
        return cache[key]

    return make


@pytest.fixture(scope="session")
def timm_run_factory(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """``build(**options) -> run dir`` for timm variants; see the module docstring for options."""
    return _factory(tmp_path_factory, "timm-run", build_timm_run)


@pytest.fixture(scope="session")
def openclip_run_factory(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """``build(**options) -> run dir`` for OpenCLIP variants (lock_text, lock_image, epochs, ...)."""
    return _factory(tmp_path_factory, "openclip-run", build_openclip_run)


@pytest.fixture(scope="session")
def timm_run_dir(timm_run_factory: Callable[..., Path]) -> Path:
    """A real timm run dir: test_resnet on digits, 5 epochs, EMA on, checkpoint-0..4 + last + model_best."""
    return timm_run_factory()


@pytest.fixture(scope="session")
def openclip_run_dir(openclip_run_factory: Callable[..., Path]) -> Path:
    """A real open_clip_train run dir: tiny ViT CLIP, 3 epochs, epoch_1..3.pt + epoch_latest.pt."""
    return openclip_run_factory()
