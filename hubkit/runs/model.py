"""What a training run dir turns into: frozen dataclasses only, no parsing and no I/O.

Flow: a run dir (timm ``train.py`` or OpenCLIP ``open_clip_train`` output) is read by
:func:`hubkit.runs.read_run` into a :class:`TrainingRun`; :func:`hubkit.runs.select_checkpoints` picks
epochs from it into a :class:`Selection`; :func:`hubkit.runs.convert_checkpoint` turns one
:class:`CheckpointInfo` into Hub-loadable files and returns a :class:`ConvertedCheckpoint`.

Epoch numbers are always the ones the framework itself writes, never renumbered:
timm counts from 0 (``checkpoint-0.pth.tar`` and the ``epoch`` column of ``summary.csv`` for the first
epoch), OpenCLIP counts completed epochs from 1 (``epoch_1.pt``, ``"epoch": 1`` in ``results.jsonl``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

WeightsKind = Literal["raw", "ema"]


@dataclass(frozen=True)
class EpochMetrics:
    """The metrics recorded for one epoch (one row of summary.csv / one line of results.jsonl)."""

    epoch: int  # 3 (framework numbering, see module docstring)
    values: dict[str, float]  # {"train_loss": 0.41, "eval_loss": 0.35, "eval_top1": 91.2, "lr": 0.001}

    def get(self, name: str) -> float | None:
        """Return metric ``name`` for this epoch, or None when it was not recorded.

        Example:
            >>> EpochMetrics(0, {"eval_top1": 50.0}).get("eval_top1")
            50.0
        """
        return self.values.get(name)


@dataclass(frozen=True)
class Hyperparams:
    """Training hyperparameters under common names, with everything the run recorded kept in ``raw``.

    A field is None (or empty) when the run did not record it or it does not apply to the framework.
    """

    # --- optimisation
    optimizer: str | None = None  # "adamw", "sgd", "lamb" (lower-case, as timm/OpenCLIP name it)
    lr: float | None = None  # 0.001 (base learning rate as given on the command line)
    schedule: str | None = None  # "cosine", "step", "const"
    warmup_epochs: float | None = None  # 5 (timm --warmup-epochs)
    warmup_steps: int | None = None  # 10000 (OpenCLIP --warmup, counted in steps)
    epochs: int | None = None  # 300 (planned number of epochs)
    batch_size: int | None = None  # 128 (per process, as given)
    grad_accum_steps: int | None = None  # 1
    weight_decay: float | None = None  # 0.05
    momentum: float | None = None  # 0.9 (SGD momentum / beta1 where recorded)
    grad_clip: float | None = None  # 1.0 (clip value/norm), None when off
    seed: int | None = None  # 42
    # --- regularisation and augmentation
    label_smoothing: float | None = None  # 0.1
    mixup: float | None = None  # 0.8 (mixup alpha; 0 = off)
    cutmix: float | None = None  # 1.0 (cutmix alpha; 0 = off)
    augmentation: str | None = None  # "rand-m9-mstd0.5-inc1" (timm --aa)
    random_erasing: float | None = None  # 0.25 (timm --reprob)
    drop_rate: float | None = None  # 0.0
    drop_path_rate: float | None = None  # 0.1
    # --- model averaging, numerics, frozen parts
    ema: bool = False  # True when an EMA copy of the weights was kept (timm --model-ema)
    ema_decay: float | None = None  # 0.9998
    precision: str | None = None  # "amp", "amp_bf16", "fp32"
    locked_towers: tuple[str, ...] = ()  # ("text",) — OpenCLIP --lock-text / --lock-image
    unlocked_groups: dict[str, int] = field(
        default_factory=dict
    )  # {"image": 2} (--lock-image-unlocked-groups)
    # --- where training started from
    pretrained: str | None = (
        None  # "laion2b_s34b_b79k", "timm/resnet50.a1_in1k", or an initial checkpoint path
    )
    # --- everything as recorded (args.yaml / params.txt), values parsed to bool/int/float/None where obvious
    raw: dict[str, Any] = field(default_factory=dict)  # {"opt": "adamw", "lr": 0.001, "model_ema": True, ...}


@dataclass(frozen=True)
class EvalTransform:
    """The eval-time preprocessing a run recorded (or its architecture's defaults)."""

    input_size: tuple[int, int, int] | None = None  # (3, 224, 224)
    crop_pct: float | None = None  # 0.875
    crop_mode: str | None = None  # "center"
    interpolation: str | None = None  # "bicubic"
    mean: tuple[float, ...] | None = None  # (0.485, 0.456, 0.406)
    std: tuple[float, ...] | None = None  # (0.229, 0.224, 0.225)
    source: str = "args"  # "args" (recorded by the run) | "model" (architecture default) | "config"


@dataclass(frozen=True)
class CheckpointInfo:
    """One checkpoint of a run (one epoch; alias files holding the same epoch are listed, not repeated)."""

    epoch: int  # 7 (framework numbering)
    path: Path  # Path("runs/x/checkpoint-7.pth.tar") — the file to read
    size: int  # 94_372_215 (bytes on disk)
    metrics: EpochMetrics | None  # the metrics row of this epoch; None when the run logged none for it
    aliases: tuple[str, ...] = ()  # ("last.pth.tar", "model_best.pth.tar") — other names for the same epoch
    epoch_source: str = (
        "name"  # "name" (from the file name) | "hardlink" | "inferred" (last/best from metrics)
    )


@dataclass(frozen=True)
class TrainingRun:
    """Everything hubkit knows about one training run dir."""

    framework: str  # "timm": the name of the framework that wrote it (hubkit.frameworks.get(name))
    path: Path  # Path("runs/timm-digits") — the run dir
    name: str  # "timm-digits" (OpenCLIP --name, else the run dir's name)
    architecture: str  # "resnet50" (timm --model) / "ViT-B-32" (OpenCLIP --model)
    num_classes: int | None  # 1000; None for OpenCLIP (contrastive, no class head)
    hyperparams: Hyperparams  # normalised + raw
    epochs: tuple[EpochMetrics, ...]  # every metrics row, ascending epoch
    checkpoints: tuple[CheckpointInfo, ...]  # every checkpoint found, ascending epoch
    primary_metric: (
        str  # "eval_top1" (timm eval_metric) / "val_loss" or "imagenet-zeroshot-val-top1" (OpenCLIP)
    )
    higher_is_better: bool  # True for accuracy/recall, False for losses
    args_file: Path  # Path("runs/x/args.yaml") / Path("runs/x/params.txt")
    metrics_file: Path | None = None  # Path("runs/x/summary.csv") / ".../checkpoints/results.jsonl"
    train_data: str | None = None  # "/data/imagenet/train" or a CSV/webdataset spec, as recorded
    val_data: str | None = None  # "/data/digits/val" — where the validation split is, as recorded
    dataset: str | None = None  # "torch/cifar10" (timm --dataset) / "csv" (OpenCLIP --dataset-type)
    # EvalTransform(...) as recorded, or a function resolving it on first use of ``eval_transform`` (a timm
    # run's architecture defaults come from timm's registry, whose import costs seconds)
    eval_transform_source: EvalTransform | Callable[[], EvalTransform | None] | None = None
    model_config: dict[str, Any] | None = None  # OpenCLIP model cfg ({"embed_dim": 64, "vision_cfg": ...})
    model_config_path: Path | None = None  # Path("runs/x/model.json") when given / found
    notes: tuple[str, ...] = ()  # ("last.pth.tar epoch inferred from summary.csv",) — things worth telling

    @functools.cached_property
    def eval_transform(self) -> EvalTransform | None:
        """The recorded or architecture-default eval preprocessing (looked up once, on first use).

        Example:
            >>> run.eval_transform.input_size
            (3, 224, 224)
        """
        source = self.eval_transform_source
        return source() if callable(source) else source

    def checkpoint(self, epoch: int) -> CheckpointInfo | None:
        """Return the checkpoint of ``epoch``, or None when the run has none for it.

        Example:
            >>> run.checkpoint(3).path.name
            'checkpoint-3.pth.tar'
        """
        return next((c for c in self.checkpoints if c.epoch == epoch), None)

    def metrics(self, epoch: int) -> EpochMetrics | None:
        """Return the metrics row of ``epoch``, or None when none was recorded.

        Example:
            >>> run.metrics(3).get("eval_top1")
            88.5
        """
        return next((m for m in self.epochs if m.epoch == epoch), None)

    def best_epoch(self) -> int | None:
        """Return the epoch whose primary metric is best (earliest on ties), or None without metrics.

        Example:
            >>> run.best_epoch()
            4
        """
        scored = [(m.get(self.primary_metric), m.epoch) for m in self.epochs]
        valid = [(v, e) for v, e in scored if v is not None]
        if not valid:
            return None
        if self.higher_is_better:
            return min(valid, key=lambda ve: (-ve[0], ve[1]))[1]
        return min(valid, key=lambda ve: (ve[0], ve[1]))[1]


@dataclass(frozen=True)
class SelectedCheckpoint:
    """One checkpoint chosen by a selection, with why it was chosen."""

    checkpoint: CheckpointInfo  # the chosen checkpoint
    reasons: tuple[str, ...]  # ("first epoch", "best eval_top1 = 93.10", "largest change: +12.3 (early)")

    @property
    def epoch(self) -> int:
        return self.checkpoint.epoch


@dataclass(frozen=True)
class Selection:
    """The result of :func:`hubkit.runs.select_checkpoints`: chosen checkpoints in ascending epoch."""

    spec: str  # "key:6" (normalised spec string)
    items: tuple[SelectedCheckpoint, ...]  # ascending epoch, no duplicates
    missing: tuple[int, ...] = ()  # epochs the spec asked for that have no checkpoint (e.g. epochs:1,5,99)

    @property
    def epochs(self) -> tuple[int, ...]:
        return tuple(item.epoch for item in self.items)


@dataclass(frozen=True)
class WrittenFile:
    """One file written by a conversion."""

    path: Path  # Path("out/model.safetensors")
    size: int  # 94_300_112 (bytes)
    sha256: str  # "9f86d08...": hex digest of the bytes written


@dataclass(frozen=True)
class ConvertedCheckpoint:
    """What :func:`hubkit.runs.convert_checkpoint` wrote for one checkpoint."""

    out_dir: Path  # Path("out/epoch-7")
    files: tuple[WrittenFile, ...]  # model.safetensors + config.json (timm) / open_clip_* (OpenCLIP)
    source: Path  # Path("runs/x/checkpoint-7.pth.tar")
    source_sha256: str  # hex digest of the source checkpoint file
    weights: WeightsKind  # "ema" | "raw"
    epoch: int  # 7 (as stored inside the checkpoint)
    framework: str  # "timm" (hubkit.frameworks name)
    architecture: str  # "resnet50" / "ViT-B-32"
    num_parameters: int  # 25_557_032 (elements in the written state dict)
    weights_file: str  # "model.safetensors" / "open_clip_model.safetensors"
    config_file: str  # "config.json" / "open_clip_config.json"
