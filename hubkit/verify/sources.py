"""What a revision is compared with: the recorded metrics of its epoch and, when the run is at hand,
the source checkpoint's tensors and a model built from the run's own arguments.

The recorded metrics come from the run itself (``summary.csv`` / ``results.jsonl``) when it is given,
otherwise from the ``hubkit.json`` committed with the revision. Metric names differ between the two
frameworks and hubkit's measurements; :data:`RECORDED_NAMES` maps them, with the unit conversion.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

    from hubkit.runs import TrainingRun

# measured name -> (recorded name, factor to points, checked against the tolerance?).
# Sources: timm train.py writes eval_top1/eval_top5 in percent and eval_loss (summary.csv);
# open_clip_train's evaluate() writes recalls as fractions and clip_val_loss (results.jsonl).
# Losses are reported next to their recorded value but not checked: the tolerance is in points.
RECORDED_NAMES: dict[str, dict[str, tuple[str, float, bool]]] = {
    "timm": {
        "top1": ("eval_top1", 1.0, True),
        "top5": ("eval_top5", 1.0, True),
        "loss": ("eval_loss", 1.0, False),
    },
    "open_clip": {
        "image_to_text_R@1": ("image_to_text_R@1", 100.0, True),
        "image_to_text_R@5": ("image_to_text_R@5", 100.0, True),
        "image_to_text_R@10": ("image_to_text_R@10", 100.0, False),
        "text_to_image_R@1": ("text_to_image_R@1", 100.0, True),
        "text_to_image_R@5": ("text_to_image_R@5", 100.0, True),
        "text_to_image_R@10": ("text_to_image_R@10", 100.0, False),
        "clip_val_loss": ("clip_val_loss", 1.0, False),
        "zeroshot_top1": ("imagenet-zeroshot-val-top1", 100.0, False),
    },
}


@dataclass(frozen=True)
class Recorded:
    """The metrics recorded for the verified epoch, and where they were read."""

    epoch: int | None  # 3
    values: Mapping[str, float]  # {"eval_top1": 97.5, "eval_loss": 0.11}
    source: str  # "summary.csv" / "results.jsonl" / "hubkit.json"


def recorded_metrics(record: Mapping[str, Any] | None, run: TrainingRun | None) -> Recorded:
    """Recorded metrics of the revision's epoch: from the run when given, else from ``hubkit.json``.

    Example:
        >>> recorded_metrics({"epoch": 3, "metrics": {"eval_top1": 97.5}}, None).values
        {'eval_top1': 97.5}
    """
    epoch = record.get("epoch") if record else None
    if run is not None and isinstance(epoch, int):
        row = run.metrics(epoch)
        if row is not None:
            name = run.metrics_file.name if run.metrics_file else "run metrics"
            return Recorded(epoch, dict(row.values), name)
    values = record.get("metrics") if record else None
    if isinstance(values, Mapping):
        return Recorded(epoch if isinstance(epoch, int) else None, dict(values), "hubkit.json")
    return Recorded(epoch if isinstance(epoch, int) else None, {}, "nothing")


def source_state_dict(checkpoint: Mapping[str, Any], weights: str) -> dict[str, torch.Tensor]:
    """The tensors a revision should hold: the checkpoint's EMA or raw state dict, ``module.`` removed.

    timm's ``CheckpointSaver`` stores ``state_dict`` and, with ``--model-ema``, ``state_dict_ema``;
    open_clip_train stores ``state_dict`` (prefixed ``module.`` under DDP).

    Example:
        >>> sorted(source_state_dict({"state_dict": {"module.w": t}}, "raw"))
        ['w']
    """
    import torch

    key = "state_dict_ema" if weights == "ema" else "state_dict"
    state = checkpoint.get(key)
    if (
        state is None
        and key == "state_dict"
        and all(isinstance(v, torch.Tensor) for v in checkpoint.values())
    ):
        state = checkpoint  # a bare state dict
    if not isinstance(state, Mapping):
        raise KeyError(f"the checkpoint has no {key!r} (keys: {sorted(checkpoint)[:8]})")
    prefix = "module."
    return {
        (name[len(prefix) :] if name.startswith(prefix) else name): tensor
        for name, tensor in state.items()
        if isinstance(tensor, torch.Tensor)
    }


def build_source_model(
    run: TrainingRun, device: torch.device, state: Mapping[str, torch.Tensor] | None = None
) -> torch.nn.Module:
    """A model built from the run's own arguments (not from the published config), on ``device``.

    With ``state`` (the source checkpoint's weights) a timm model is built on the meta device and takes
    those tensors as they are: no random initialization, which for a resnet50 on CPU costs about as much
    as the forwards the check runs. Models with buffers that no state dict holds are built the ordinary
    way and then loaded. Without ``state`` the model keeps its random initialization.

    Example:
        >>> build_source_model(run, torch.device("cpu")).num_classes
        10
    """
    import torch

    raw = run.hyperparams.raw
    if run.framework == "timm":
        import timm

        # The train.py arguments that shape the network at eval time (drop rates do not).
        kwargs: dict[str, Any] = {"num_classes": run.num_classes}
        for arg, kwarg in (("in_chans", "in_chans"), ("gp", "global_pool"), ("bn_eps", "bn_eps")):
            if raw.get(arg) is not None:
                kwargs[kwarg] = raw[arg]
        if isinstance(raw.get("model_kwargs"), Mapping):
            kwargs.update(raw["model_kwargs"])
        if state is not None:
            with torch.device("meta"):
                model = timm.create_model(run.architecture, pretrained=False, **kwargs)
            model.load_state_dict({k: v.to(device) for k, v in state.items()}, strict=True, assign=True)
            tensors = itertools.chain(model.parameters(), model.buffers())
            if not any(t.is_meta for t in tensors):
                return model.eval()
        with torch.device(device):
            model = timm.create_model(run.architecture, pretrained=False, **kwargs)
    else:
        model = _open_clip_model(run, device)
    model = model.to(device)
    if state is not None:
        model.load_state_dict(state, strict=True)
    return model.eval()


def _open_clip_model(run: TrainingRun, device: torch.device) -> torch.nn.Module:
    import json
    import tempfile

    import open_clip

    raw = run.hyperparams.raw
    force = {
        "force_quick_gelu": bool(raw.get("force_quick_gelu")),
        "force_custom_text": bool(raw.get("force_custom_text")),
    }
    from hubkit.verify.loader import quiet_root_warnings

    with quiet_root_warnings():
        if run.model_config:
            with tempfile.TemporaryDirectory(prefix="hubkit-source-model-") as tmp:
                Path(tmp, "open_clip_config.json").write_text(json.dumps({"model_cfg": run.model_config}))
                return open_clip.create_model(f"local-dir:{tmp}", load_weights=False, device=device, **force)
        return open_clip.create_model(run.architecture, device=device, **force)
