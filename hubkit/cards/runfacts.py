"""What a training run tells its card: facts recorded in the run win over registry defaults.

A run card describes *these* weights, not the reference weights of the architecture in timm's or OpenCLIP's
registry: image size, parameter counts (a 10-class head has fewer parameters than ImageNet's), the usage
snippet's number of classes, the hyperparameters and the summary all come from the run. Registry facts about
other weights (their license, their Hub id, their training recipe) never appear on a run card.

Nothing here may print a machine-local absolute path: cards are published, and must compare equal when the
same run is published from another machine. :func:`local_value` turns such paths into run-relative ones.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Any

from hubkit import frameworks
from hubkit.cards.context import Hyperparameter, Link, ModelStats, Sourced

if TYPE_CHECKING:
    from hubkit.runs import TrainingRun

# Hyperparams field -> card label, in the order a card lists them. Source: hubkit.runs.model.Hyperparams.
HYPERPARAM_LABELS: dict[str, str] = {
    "optimizer": "Optimizer",
    "lr": "Learning rate",
    "schedule": "LR schedule",
    "warmup_epochs": "Warmup epochs",
    "warmup_steps": "Warmup steps",
    "epochs": "Epochs",
    "batch_size": "Batch size (per process)",
    "grad_accum_steps": "Gradient accumulation steps",
    "weight_decay": "Weight decay",
    "momentum": "Momentum / beta1",
    "grad_clip": "Gradient clipping",
    "label_smoothing": "Label smoothing",
    "mixup": "Mixup alpha",
    "cutmix": "CutMix alpha",
    "augmentation": "Auto-augmentation",
    "random_erasing": "Random erasing probability",
    "drop_rate": "Dropout",
    "drop_path_rate": "Drop path (stochastic depth)",
    "ema": "EMA of weights",
    "ema_decay": "EMA decay",
    "precision": "Precision",
    "locked_towers": "Locked (frozen) towers",
    "unlocked_groups": "Unlocked groups / layers of locked towers",
    "pretrained": "Started from",
    "seed": "Seed",
}
_OFF_WHEN_ZERO = {"mixup", "cutmix", "random_erasing", "label_smoothing", "drop_rate", "drop_path_rate"}
# Run arguments that only say where files were on the training machine.
_MACHINE_KEYS = {"output", "resume", "logs", "checkpoint_path", "log_path", "tensorboard_path"}


def local_value(value: Any, run_dir: Path) -> Any:
    """``value`` with machine-local absolute paths made relative to the run dir, else cut to their last part.

    Args:
        value: a recorded argument (strings and lists of strings are rewritten, anything else is returned).
        run_dir: the run dir the paths may lie in.

    Returns:
        The value, with ``/work/runs/x/data`` -> ``data`` (inside ``/work/runs/x``) and
        ``/datasets/imagenet/train`` -> ``train (local path)``.

    Example:
        >>> local_value("/srv/run/data/val", Path("/srv/run"))
        'data/val'
    """
    if isinstance(value, list | tuple):
        return [local_value(v, run_dir) for v in value]
    if not isinstance(value, str) or not _is_absolute(value):
        return value
    path = PurePath(os.path.expanduser(value))
    for root in dict.fromkeys((Path(run_dir), Path(os.path.abspath(run_dir)), _resolved(run_dir))):
        try:
            inside = path.relative_to(root)
        except ValueError:
            continue
        return inside.as_posix() or "."
    return f"{path.name or value} (local path)"


def _resolved(path: Path) -> Path:
    try:
        return path.resolve()
    except OSError:
        return path


def _is_absolute(text: str) -> bool:
    return text.startswith(("/", "~", "\\\\")) or (len(text) > 2 and text[1] == ":" and text[2] in "/\\")


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, str):
        return value
    return json.dumps(value)


def hyperparameters(run: TrainingRun) -> tuple[Hyperparameter, ...]:
    """The run's normalised hyperparameters as card rows, each with the argument it was read from.

    Settings the run did not record (None) are left out, as are EMA settings of a run without EMA.

    Example:
        >>> hyperparameters(run)[0]  # doctest: +SKIP
        Hyperparameter(name='Optimizer', value='adamw', source='args.yaml `opt`')
    """
    hp = run.hyperparams
    framework = frameworks.get(run.framework)
    keys = framework.hyperparam_keys
    rows: list[Hyperparameter] = []
    for field, label in HYPERPARAM_LABELS.items():
        value = getattr(hp, field)
        if not framework.show_hyperparameter(field, hp):
            continue
        if field == "ema_decay" and not hp.ema:
            continue
        if field == "locked_towers":
            value = ", ".join(value) if value else "none"
        elif field == "unlocked_groups":
            if not value:
                continue
            value = ", ".join(f"{tower}: {n}" for tower, n in sorted(value.items()))
        if value is None or value == "":
            continue
        text = _text(local_value(value, run.path))
        if field in _OFF_WHEN_ZERO and value == 0:
            text = "0 (off)"
        named = keys.get(field, ())
        recorded = [k for k in named if k in hp.raw] or list(named)
        where = ", ".join(f"`{k}`" for k in recorded)
        if field == "momentum":
            label = "Adam beta1" if "beta1" in recorded else "Momentum"
        rows.append(Hyperparameter(label, text, f"{run.args_file.name} {where}".strip()))
    return tuple(rows)


def arguments(run: TrainingRun) -> tuple[Hyperparameter, ...]:
    """Every argument the run recorded, in its order, with local paths rewritten (:func:`local_value`).

    Example:
        >>> arguments(run)[0].source  # doctest: +SKIP
        'args.yaml'
    """
    source = run.args_file.name
    rows = []
    for key, value in run.hyperparams.raw.items():
        if str(key) in _MACHINE_KEYS:
            continue
        shown = local_value(value, run.path)
        text = shown if isinstance(shown, str) else json.dumps(shown)
        rows.append(Hyperparameter(str(key), text if text != "" else '""', source))
    return tuple(rows)


def size_of(value: Any) -> tuple[int, int] | None:
    """``(height, width)`` of a recorded image size (``224``, ``[224, 224]``, ``[3, 224, 224]``), else None.

    Example:
        >>> size_of([3, 32, 32])
        (32, 32)
    """
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return (value, value)
    if isinstance(value, list | tuple) and len(value) in (2, 3) and all(isinstance(v, int) for v in value):
        return (int(value[-2]), int(value[-1]))
    return None


def image_size(run: TrainingRun) -> tuple[tuple[int, int] | None, Sourced | None]:
    """The resolution the run trained at and where that is recorded (None, None when unknown).

    Example:
        >>> image_size(run)  # doctest: +SKIP
        ((32, 32), Sourced(label='Train', value='32 x 32', kind='run', source='args.yaml `img_size`'))
    """
    return frameworks.get(run.framework).image_size(run)


def image_sizes(run: TrainingRun) -> tuple[Sourced, ...]:
    """Train / evaluation sizes for the card's "Image size" list, each with its provenance.

    Example:
        >>> [s.label for s in image_sizes(run)]  # doctest: +SKIP
        ['Train', 'Evaluation', 'Evaluation crop']
    """
    return frameworks.get(run.framework).image_sizes(run)


def stats(run: TrainingRun) -> ModelStats | None:
    """Params / GMACs / activations of the run's model at its resolution, with its number of classes.

    Example:
        >>> stats(run).image_size  # doctest: +SKIP
        (32, 32)
    """
    try:
        return frameworks.get(run.framework).run_stats(run)
    except Exception:  # a model that cannot run on the meta device: the card omits the numbers
        return None


def sources(run: TrainingRun) -> tuple[Link, ...]:
    """The library that defines the architecture (never registry reference weights)."""
    title, url = frameworks.get(run.framework).link
    return (Link(f"{title}, which defines `{run.architecture}`", url),)


def last_part(value: str | None, run: TrainingRun) -> str | None:
    """A recorded data path as a card may show it: run-relative, or its last part (never a local path).

    Example:
        >>> last_part("/datasets/imagenet/train/", run)  # doctest: +SKIP
        'train'
    """
    if not value:
        return None
    shown = str(local_value(value, run.path)).removesuffix(" (local path)")
    return shown.rstrip("/") or None


def dataset(run: TrainingRun, split: str = "val") -> tuple[str, str]:
    """``(name, type)`` of the data the run evaluated on (``split="val"``) or trained on (``"train"``).

    The run's dataset name when it gave one; else the data folder's name (timm: one folder holds both
    splits; OpenCLIP: the CSV / shard file of that split), never a local path.

    Example:
        >>> dataset(run)  # doctest: +SKIP
        ('data (image folder)', 'imagefolder')
    """
    return frameworks.get(run.framework).dataset(run, split)


def summary(
    run: TrainingRun,
    *,
    completed: int | None = None,
    weights: str | None = None,
    metrics: Mapping[str, float] | None = None,
) -> str:
    """The card's opening sentence, composed from facts of the run (each clause only when known).

    Args:
        run: the training run.
        completed: epochs completed at the checkpoint this revision holds (None: a run-level summary).
        weights: ``"ema"`` / ``"raw"``: which weights of that checkpoint were published.
        metrics: that checkpoint's recorded metrics.

    Example:
        >>> summary(run, completed=4, weights="ema", metrics={"eval_top1": 96.98})  # doctest: +SKIP
        '`test_resnet` trained with timm for 4 epochs on an image folder of 10 classes (`data`); this
        revision holds the EMA weights after 4 epochs (validation top-1 96.98 %).'
    """
    hp = run.hyperparams
    planned = hp.epochs
    framework = frameworks.get(run.framework)
    done = framework.completed_epochs(run.epochs[-1].epoch) if run.epochs else None
    text = f"`{run.architecture}` trained with {framework.display_name}"
    if planned and done is not None and done < planned:
        text += f" for {done} of {planned} planned epochs"
    elif planned:
        text += f" for {planned} epoch{'s' if planned != 1 else ''}"
    text += " " + framework.data_phrase(run)
    if hp.pretrained:
        start = local_value(hp.pretrained, run.path)
        text += f", starting from `{start}`"
    if hp.locked_towers:
        towers = " and ".join(hp.locked_towers)
        text += f", with the {towers} tower{'s' if len(hp.locked_towers) > 1 else ''} locked"
    if completed is not None:
        kind = {"ema": "the EMA weights", "raw": "the raw training weights"}.get(weights or "", "the weights")
        of = f" of {planned}" if planned and planned != completed else ""
        text += f"; this revision holds {kind} after {completed}{of} epoch{'s' if completed != 1 else ''}"
        phrase = framework.metric_phrase(metrics or {})
        if phrase:
            text += f" ({phrase})"
    return text + "."
