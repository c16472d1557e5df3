"""Reader for timm ``train.py`` output: ``args.yaml``, ``summary.csv`` and ``*.pth.tar`` checkpoints.

timm's CheckpointSaver keeps the best ``--checkpoint-hist`` epochs by the eval metric as
``checkpoint-N.pth.tar`` (N = 0-based epoch, so epochs can be missing), writes ``last.pth.tar`` every epoch
and ``model_best.pth.tar`` on improvement, both usually hard links to a numbered checkpoint.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from hubkit.errors import RunDirError, RunFileError
from hubkit.runs.files import (
    MAX_ARGS_BYTES,
    MAX_METRICS_BYTES,
    as_float,
    as_floats,
    as_int,
    as_str,
    find_checkpoints,
    finite,
    inside,
    read_text,
    typed_args,
)
from hubkit.runs.model import EpochMetrics, EvalTransform, Hyperparams, TrainingRun

# common name -> train.py argument (source: timm train.py argparse, https://github.com/huggingface/pytorch-image-models)
HPARAM_KEYS: dict[str, str] = {
    "optimizer": "opt",
    "lr": "lr",
    "schedule": "sched",
    "warmup_epochs": "warmup_epochs",
    "epochs": "epochs",
    "batch_size": "batch_size",
    "grad_accum_steps": "grad_accum_steps",
    "weight_decay": "weight_decay",
    "momentum": "momentum",
    "grad_clip": "clip_grad",
    "seed": "seed",
    "label_smoothing": "smoothing",
    "mixup": "mixup",
    "cutmix": "cutmix",
    "augmentation": "aa",
    "random_erasing": "reprob",
    "drop_rate": "drop",
    "drop_path_rate": "drop_path",
    "ema_decay": "model_ema_decay",
}
_INT_FIELDS = {"epochs", "batch_size", "grad_accum_steps", "seed"}
_STR_FIELDS = {"optimizer", "schedule", "augmentation"}
_EVAL_SPLITS = ("validation", "val", "valid", "eval", "evaluation")  # timm's eval split synonyms
_NUMBERED = re.compile(r"^checkpoint-(\d+)\.pth\.tar$")
_MILESTONE = re.compile(r"^milestone-(\d+)\.pth\.tar$")  # N = completed epochs → epoch N-1


def is_timm_run(path: Path) -> bool:
    return (path / "args.yaml").is_file()


def _read_args(run_dir: Path) -> dict[str, Any]:
    path = run_dir / "args.yaml"
    text = read_text(run_dir, path, limit=MAX_ARGS_BYTES, what="timm args.yaml")
    try:
        args = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise RunFileError(
            f"{path} is not valid YAML{where}",
            hint="args.yaml is written by timm train.py with yaml.safe_dump; restore the original file.",
        ) from None
    if not isinstance(args, dict) or "model" not in args:
        raise RunFileError(
            f"{path} is not a timm train.py argument file (expected a mapping with at least 'model')",
            hint="Point hubkit at the output folder of timm train.py (args.yaml, summary.csv, *.pth.tar).",
        )
    if not isinstance(args["model"], str) or not args["model"]:
        raise RunFileError(
            f"{path}: 'model' must be a model name, got {args['model']!r}", hint="Fix args.yaml."
        )
    return args


def _read_summary(run_dir: Path) -> tuple[EpochMetrics, ...]:
    path = run_dir / "summary.csv"
    if not path.is_file():
        raise RunDirError(
            f"{run_dir} has args.yaml but no summary.csv, so hubkit cannot tell what each checkpoint scored",
            hint="timm train.py writes summary.csv after the first epoch; wait for it, or copy it into the run dir.",
        )
    text = read_text(run_dir, path, limit=MAX_METRICS_BYTES, what="timm summary.csv")
    reader = csv.reader(io.StringIO(text))
    rows = list(reader)
    if not rows or rows[0][:1] != ["epoch"]:
        raise RunFileError(
            f"{path} is empty or has no 'epoch' header",
            hint="summary.csv is written by timm's update_summary (header: epoch,train_loss,eval_loss,...).",
        )
    header = rows[0]
    by_epoch: dict[int, EpochMetrics] = {}
    for number, row in enumerate(rows[1:], start=2):
        if not row or row == header:  # train.py repeats the header after a resume
            continue
        if row[0] == "epoch":  # a header with other columns: a resumed run that logs more
            header = row
            continue
        if len(row) != len(header):
            raise RunFileError(
                f"{path}: line {number} has {len(row)} values for {len(header)} columns",
                hint="The file was cut or edited; fix or remove that line.",
            )
        try:
            epoch = int(row[0])
        except ValueError:
            raise RunFileError(
                f"{path}: line {number} has epoch {row[0]!r}", hint="Fix or remove that line."
            ) from None
        values = {
            name: finite(value, path=path, where=f"line {number} (epoch {epoch}), {name}")
            for name, value in zip(header[1:], row[1:], strict=True)
            if value != ""
        }
        by_epoch[epoch] = EpochMetrics(epoch=epoch, values=values)  # a resumed epoch replaces the old row
    if not by_epoch:
        raise RunFileError(
            f"{path} has a header but no epochs",
            hint="Wait until training has finished at least one epoch.",
        )
    return tuple(by_epoch[e] for e in sorted(by_epoch))


def _hyperparams(args: dict[str, Any]) -> Hyperparams:
    values = typed_args(args, HPARAM_KEYS, ints=_INT_FIELDS, strs=_STR_FIELDS)
    if args.get("amp"):
        precision = f"amp_{'bf16' if args.get('amp_dtype') == 'bfloat16' else 'fp16'}"
    else:
        precision = "fp32"
    initial = as_str(args.get("initial_checkpoint"))
    pretrained = initial or (args["model"] if args.get("pretrained") else None)
    return Hyperparams(
        **values,
        ema=bool(args.get("model_ema")),
        precision=precision,
        pretrained=pretrained,
        raw=dict(args),
    )


# The args train.py hands to resolve_data_config (source: timm train.py, resolve_data_config(vars(args))).
DATA_ARGS = ("input_size", "img_size", "in_chans", "crop_pct", "crop_mode", "interpolation", "mean", "std")


@dataclass(frozen=True)
class TimmEvalTransform:
    """A timm run's eval preprocessing, resolved when first asked for (``TrainingRun.eval_transform``).

    Reading a run stays free of timm's import (seconds); the registry is consulted only by what needs the
    architecture's defaults (conversion, cards).
    """

    model: str  # "resnet50" (args.yaml model)
    args: tuple[tuple[str, Any], ...]  # (("img_size", 224), ("crop_pct", None), …): DATA_ARGS as recorded

    def __call__(self) -> EvalTransform:
        return _eval_transform({"model": self.model, **dict(self.args)})


def _eval_transform(args: dict[str, Any]) -> EvalTransform:
    """What train.py's resolve_data_config(vars(args), model=model) gives, from args + the model default."""
    from timm.data import resolve_data_config
    from timm.models import get_pretrained_cfg

    cfg = get_pretrained_cfg(args["model"])
    pretrained_cfg = cfg.to_dict() if cfg is not None else {}
    resolved = resolve_data_config(
        {k: args.get(k) for k in DATA_ARGS},
        pretrained_cfg=pretrained_cfg or {"input_size": (3, 224, 224)},
        verbose=False,
    )
    size = resolved.get("input_size")
    return EvalTransform(
        input_size=tuple(int(v) for v in size) if size else None,  # type: ignore[arg-type]
        crop_pct=as_float(resolved.get("crop_pct")),
        crop_mode=as_str(resolved.get("crop_mode")),
        interpolation=as_str(resolved.get("interpolation")),
        mean=as_floats(list(resolved["mean"])) if resolved.get("mean") is not None else None,
        std=as_floats(list(resolved["std"])) if resolved.get("std") is not None else None,
        source="args" if cfg is None else "args+model",
    )


def _val_data(run_dir: Path, args: dict[str, Any]) -> str | None:
    data_dir = as_str(args.get("data_dir")) or as_str(args.get("data"))
    if data_dir is None:
        return None
    root = Path(data_dir)
    if not root.is_absolute() and not root.exists() and (run_dir / root).exists():
        root = run_dir / root
    split = as_str(args.get("val_split")) or "validation"
    for name in (split, *_EVAL_SPLITS):
        if (root / name).is_dir():
            return str(root / name)
    return str(root / split)


def read_timm_run(run_dir: Path) -> TrainingRun:
    """Read a timm train.py output folder. See :func:`hubkit.runs.read_run`."""
    args = _read_args(run_dir)
    epochs = _read_summary(run_dir)
    notes: list[str] = []
    eval_metric = as_str(args.get("eval_metric")) or "top1"
    primary = f"eval_{eval_metric}"
    if not any(primary in m.values for m in epochs):
        raise RunFileError(
            f"{run_dir / 'summary.csv'} has no {primary!r} column (args.yaml eval_metric is {eval_metric!r})",
            hint="The run never evaluated; hubkit needs eval metrics to rank and describe checkpoints.",
        )
    higher = eval_metric != "loss"  # train.py: decreasing = eval_metric == 'loss'

    files = sorted(p for p in run_dir.iterdir() if p.name.endswith(".pth.tar"))
    for file in files:
        inside(run_dir, file)
    numbered: dict[int, Path] = {}
    for file in files:
        if m := _NUMBERED.match(file.name):
            numbered[int(m.group(1))] = file
    for file in files:
        m = _MILESTONE.match(file.name)
        if m and int(m.group(1)) - 1 not in numbered:
            numbered[int(m.group(1)) - 1] = file
    if not files:
        raise RunDirError(
            f"{run_dir} has args.yaml and summary.csv but no *.pth.tar checkpoints",
            hint="timm train.py saves checkpoint-N.pth.tar / last.pth.tar in its output folder; were they moved?",
        )
    best = _best(epochs, primary, higher)
    aliases = {"last.pth.tar": epochs[-1].epoch, "model_best.pth.tar": best}
    checkpoints = find_checkpoints(run_dir, files, numbered, aliases, epochs, notes)

    num_classes = as_int(args.get("num_classes"))
    if num_classes is None:
        from timm.models import get_pretrained_cfg

        cfg = get_pretrained_cfg(args["model"])
        num_classes = cfg.num_classes if cfg is not None else None
        notes.append(f"num_classes not in args.yaml; using the {args['model']} default ({num_classes})")
    return TrainingRun(
        framework="timm",
        path=run_dir,
        name=as_str(args.get("experiment")) or run_dir.name,
        architecture=args["model"],
        num_classes=num_classes,
        hyperparams=_hyperparams(args),
        epochs=epochs,
        checkpoints=checkpoints,
        primary_metric=primary,
        higher_is_better=higher,
        args_file=run_dir / "args.yaml",
        metrics_file=run_dir / "summary.csv",
        train_data=as_str(args.get("data_dir")) or as_str(args.get("data")),
        val_data=_val_data(run_dir, args),
        dataset=as_str(args.get("dataset")) or "folder",
        eval_transform_source=TimmEvalTransform(args["model"], tuple((k, args.get(k)) for k in DATA_ARGS)),
        notes=tuple(notes),
    )


def _best(epochs: tuple[EpochMetrics, ...], metric: str, higher: bool) -> int | None:
    valid = [(m.get(metric), m.epoch) for m in epochs if m.get(metric) is not None]
    if not valid:
        return None
    sign = -1.0 if higher else 1.0
    return min(valid, key=lambda ve: (sign * ve[0], ve[1]))[1]  # type: ignore[operator]
