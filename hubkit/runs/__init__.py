"""Training runs: read timm / OpenCLIP run dirs, pick key checkpoints, convert them safely.

Data flow: run dir → :func:`read_run` → :class:`TrainingRun` → :func:`select_checkpoints` →
:class:`Selection` → :func:`convert_checkpoint` (one checkpoint at a time) → :class:`ConvertedCheckpoint`.

Importing this package is cheap: torch, timm and open_clip are imported inside the functions that use them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from hubkit.hashing import sha256_bytes, sha256_file
from hubkit.runs.model import (
    CheckpointInfo,
    ConvertedCheckpoint,
    EpochMetrics,
    EvalTransform,
    Hyperparams,
    SelectedCheckpoint,
    Selection,
    TrainingRun,
    WeightsKind,
    WrittenFile,
)
from hubkit.runs.select import DEFAULT_SELECT, SELECT_FORMS, select_checkpoints

if TYPE_CHECKING:
    from hubkit.runs.safeload import Preloaded, SourceHash

__all__ = [
    "DEFAULT_SELECT",
    "SELECT_FORMS",
    "CheckpointInfo",
    "ConvertedCheckpoint",
    "EpochMetrics",
    "EvalTransform",
    "Hyperparams",
    "SelectedCheckpoint",
    "Selection",
    "TrainingRun",
    "WrittenFile",
    "convert_checkpoint",
    "load_checkpoint",
    "read_run",
    "select_checkpoints",
    "sha256_bytes",
    "sha256_file",
]


def read_run(path: str | Path, *, model_config: str | Path | None = None) -> TrainingRun:
    """Read a timm or OpenCLIP run dir (auto-detected) into a :class:`TrainingRun`.

    Args:
        path: the run dir (timm: the folder with ``args.yaml``; OpenCLIP: ``logs/<name>`` with ``params.txt``).
        model_config: OpenCLIP only: the model config JSON the run was trained with, when the model is not
            in OpenCLIP's registry (found automatically when it lies in the run dir as ``<model>.json``).

    Returns:
        The run, with hyperparameters, per-epoch metrics and the checkpoints found.

    Example:
        >>> run = read_run("runs/timm-digits")
        >>> run.framework, run.architecture, [c.epoch for c in run.checkpoints]
        ('timm', 'test_resnet', [0, 1, 2, 3, 4])
    """
    from hubkit.runs.reader import read_run as _read_run

    return _read_run(path, model_config=model_config)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a training checkpoint safely (``weights_only=True`` plus a small allowlist, memory-mapped).

    Args:
        path: a ``.pth.tar`` / ``.pt`` checkpoint.

    Returns:
        The checkpoint dict (tensors are memory-mapped from the file).

    Raises:
        UnsafeCheckpointError: the pickle asks for a global outside the allowlist (nothing was run).
        CheckpointError: the file is truncated, corrupt or not a checkpoint dict.

    Example:
        >>> sorted(load_checkpoint("runs/timm-digits/last.pth.tar"))[:3]
        ['arch', 'args', 'epoch']
    """
    from hubkit.runs.safeload import load_checkpoint as _load

    return _load(path)


def convert_checkpoint(
    run: TrainingRun,
    checkpoint: CheckpointInfo,
    out_dir: str | Path,
    *,
    weights: WeightsKind | None = None,
    source_hash: SourceHash | None = None,
    preloaded: Preloaded | None = None,
) -> ConvertedCheckpoint:
    """Write one checkpoint as the files timm / OpenCLIP load from the Hub as they are.

    timm: ``model.safetensors`` + ``config.json``; OpenCLIP: ``open_clip_model.safetensors`` +
    ``open_clip_config.json``. Weights only, ``module.`` prefixes removed, checked against the architecture.

    Args:
        run: the run the checkpoint belongs to (from :func:`read_run`).
        checkpoint: one of ``run.checkpoints``.
        out_dir: folder to write into (created; existing files of the same names are replaced).
        weights: ``"ema"`` or ``"raw"``; default: ``"ema"`` when the run trained with EMA (its metrics are
            the EMA model's), else ``"raw"``.
        source_hash: the checkpoint's :func:`hubkit.runs.safeload.hash_checkpoint`, when it was hashed
            ahead (in a thread); the file must be unchanged since.
        preloaded: the checkpoint's :func:`hubkit.runs.safeload.preload`, when it was safe-loaded ahead
            (publishing checks every checkpoint first); it is not unpickled again.

    Returns:
        What was written (files with sizes and sha256), the source sha256, weights kind and epoch.

    Example:
        >>> done = convert_checkpoint(run, run.checkpoints[-1], "out/last")
        >>> [f.path.name for f in done.files], done.weights
        (['model.safetensors', 'config.json'], 'ema')
    """
    from hubkit.runs.convert import convert_checkpoint as _convert

    return _convert(run, checkpoint, out_dir, weights=weights, source_hash=source_hash, preloaded=preloaded)
