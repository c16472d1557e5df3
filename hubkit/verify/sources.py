"""What a revision is compared with: the recorded metrics of its epoch and, when the run is at hand,
the source checkpoint's tensors and a model built from the run's own arguments.

The recorded metrics come from the run itself (``summary.csv`` / ``results.jsonl``) when it is given,
otherwise from the ``hubkit.json`` committed with the revision. Metric names differ between frameworks and
hubkit's measurements; each framework's ``recorded_metrics`` maps them, with the unit conversion.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hubkit import frameworks
from hubkit.layout import HUBKIT_JSON

if TYPE_CHECKING:
    import torch

    from hubkit.runs import TrainingRun


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
        return Recorded(epoch if isinstance(epoch, int) else None, dict(values), HUBKIT_JSON)
    return Recorded(epoch if isinstance(epoch, int) else None, {}, "nothing")


def source_state_dict(checkpoint: Mapping[str, Any], weights: str) -> dict[str, torch.Tensor]:
    """The tensors a revision should hold: the checkpoint's EMA or raw state dict, ``module.`` removed.

    This is the ``CheckpointSaver`` layout timm and open_clip_train share; a framework with another
    checkpoint layout says so in :meth:`hubkit.frameworks.Framework.source_state_dict`.

    Example:
        >>> sorted(source_state_dict({"state_dict": {"module.w": t}}, "raw"))
        ['w']
    """
    from hubkit.frameworks.checkpoints import saver_state_dict

    return saver_state_dict(checkpoint, weights)


def build_source_model(
    run: TrainingRun, device: torch.device, state: Mapping[str, torch.Tensor] | None = None
) -> torch.nn.Module:
    """A model built from the run's own arguments (not from the published config), on ``device``.

    With ``state`` (the source checkpoint's weights) the model holds those weights; without it, it keeps
    its random initialization. See :meth:`hubkit.frameworks.Framework.build_source_model`.

    Example:
        >>> build_source_model(run, torch.device("cpu")).num_classes
        10
    """
    return frameworks.get(run.framework).build_source_model(run, device, state)
