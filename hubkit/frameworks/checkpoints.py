"""Weights out of a ``CheckpointSaver``-style checkpoint: ``{"epoch": N, "state_dict": …, "state_dict_ema": …}``.

timm's ``CheckpointSaver`` and ``open_clip_train`` both save that shape (source: timm/utils/checkpoint_saver.py,
open_clip_train/main.py); it is the default of :meth:`hubkit.frameworks.base.Framework.checkpoint_weights`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hubkit.errors import CheckpointError

if TYPE_CHECKING:
    import torch

    from hubkit.runs.model import CheckpointInfo, WeightsKind

# Prefixes wrappers add to state dict keys (DistributedDataParallel, torch.compile).
WRAPPER_PREFIXES = ("module.", "_orig_mod.")


def strip_prefixes(state: dict[str, Any]) -> dict[str, Any]:
    """``state`` without a wrapper prefix that every key carries.

    Example:
        >>> strip_prefixes({"module.w": 1})
        {'w': 1}
    """
    for prefix in WRAPPER_PREFIXES:
        if state and all(k.startswith(prefix) for k in state):
            state = {k[len(prefix) :]: v for k, v in state.items()}
    return state


def check_epoch(loaded: Mapping[str, Any], checkpoint: CheckpointInfo, file: Path) -> int:
    """The checkpoint's epoch, checked against the run dir's listing of it.

    Example:
        >>> check_epoch({"epoch": 3}, run.checkpoint(3), Path("checkpoint-3.pth.tar"))  # doctest: +SKIP
        3
    """
    epoch = loaded.get("epoch")
    if not isinstance(epoch, int) or isinstance(epoch, bool):
        raise CheckpointError(
            f"{file} has no integer 'epoch'", hint="Expected a training checkpoint with its epoch."
        )
    version = loaded.get("version")
    legacy = isinstance(version, int) and version < 2 and epoch == checkpoint.epoch + 1
    if epoch != checkpoint.epoch and not legacy:  # timm checkpoint version < 2 stored epoch + 1
        raise CheckpointError(
            f"{file} holds epoch {epoch}, but the run dir lists it as epoch {checkpoint.epoch}",
            hint="The file was renamed or overwritten; read the run dir again or pick another epoch.",
        )
    return checkpoint.epoch


def saver_weights(
    checkpoint: CheckpointInfo,
    loaded: dict[str, Any],
    file: Path,
    weights: WeightsKind | None,
    *,
    default: WeightsKind,
    ema: bool,
    trainer: str,
) -> tuple[dict[str, Any], WeightsKind, int]:
    """``(state dict, weights kind, epoch)`` of a CheckpointSaver-style checkpoint (see the module doc).

    Args:
        checkpoint: the run dir's listing of the file.
        loaded: the safely loaded checkpoint dict.
        file: its path (named in errors).
        weights: ``"ema"`` / ``"raw"`` as asked for; None: ``default``.
        default: the weights the run's metrics were measured on.
        ema: whether the trainer can keep EMA weights at all.
        trainer: who wrote the checkpoint, for messages ("OpenCLIP").
    """
    import torch

    if weights not in (None, "raw", "ema"):
        raise CheckpointError(
            f"weights must be 'raw' or 'ema', not {weights!r}", hint="Use --weights raw|ema."
        )
    if weights == "ema" and not ema:
        raise CheckpointError(
            f"{file}: {trainer} keeps no EMA weights", hint="Use --weights raw (the default)."
        )
    epoch = check_epoch(loaded, checkpoint, file)
    has_ema = isinstance(loaded.get("state_dict_ema"), dict)
    kind: WeightsKind = weights or default
    if kind == "ema" and not has_ema:
        why = (
            "EMA weights were asked for"
            if weights
            else "the run trained with EMA (its metrics are the EMA model's)"
        )
        raise CheckpointError(
            f"{file} has no 'state_dict_ema', but {why}",
            hint="Publish the raw weights with --weights raw (their metrics were not recorded when EMA was on).",
        )
    key = "state_dict_ema" if kind == "ema" else "state_dict"
    state = loaded.get(key)
    if not isinstance(state, dict) or not state:
        raise CheckpointError(
            f"{file} has no '{key}' (keys: {', '.join(sorted(map(str, loaded))[:8])})",
            hint=f"Expected a {trainer} training checkpoint.",
        )
    bad = [k for k, v in state.items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)]
    if bad:
        raise CheckpointError(
            f"{file}: '{key}' holds non-tensor entries ({bad[:3]})", hint="Re-save the weights."
        )
    return strip_prefixes(state), kind, epoch


def saver_state_dict(loaded: Mapping[str, Any], weights: str) -> dict[str, torch.Tensor]:
    """The tensors a revision should hold: the checkpoint's EMA or raw state dict, ``module.`` removed.

    A bare state dict (every value a tensor) is its own raw weights.

    Example:
        >>> sorted(saver_state_dict({"state_dict": {"module.w": t}}, "raw"))  # doctest: +SKIP
        ['w']
    """
    import torch

    key = "state_dict_ema" if weights == "ema" else "state_dict"
    state = loaded.get(key)
    if state is None and key == "state_dict" and all(isinstance(v, torch.Tensor) for v in loaded.values()):
        state = loaded
    if not isinstance(state, Mapping):
        raise KeyError(f"the checkpoint has no {key!r} (keys: {sorted(loaded)[:8]})")
    prefix = "module."
    return {
        (name[len(prefix) :] if name.startswith(prefix) else name): tensor
        for name, tensor in state.items()
        if isinstance(tensor, torch.Tensor)
    }
