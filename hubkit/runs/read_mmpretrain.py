"""Reader for MMEngine / MMPreTrain work_dirs (what ``tools/train.py --work-dir`` leaves behind).

A work_dir holds the resolved config dump ``<config-stem>.py``, ``epoch_N.pth`` (N = completed epochs, from
1), ``best_<metric>_epoch_N.pth``, ``last_checkpoint`` (one line: the absolute path of the newest checkpoint
on the machine that trained) and one ``<YYYYMMDD_HHMMSS>/`` folder per start, with ``vis_data/scalars.json``
(JSON lines: train rows keyed by iteration ``step``, validation rows by ``step`` = epoch) and
``vis_data/config.py``. A resumed run has several start folders: they are merged in time order, a later
start's row for an epoch replacing an earlier one. The config is read without executing it
(:mod:`hubkit.runs.mmconfig`). Absolute paths recorded on another machine (``work_dir``, ``data_root``,
``last_checkpoint``) are re-rooted onto where the work_dir is now.
"""

from __future__ import annotations

import json
import re
from pathlib import Path, PurePosixPath
from typing import Any

from hubkit.errors import RunDirError, RunFileError
from hubkit.runs.files import MAX_ARGS_BYTES, MAX_METRICS_BYTES, inside, read_text
from hubkit.runs.mmconfig import read_config
from hubkit.runs.model import CheckpointInfo, EpochMetrics, EvalTransform, Hyperparams, TrainingRun

_START = re.compile(r"^\d{8}_\d{6}$")  # MMEngine's per-start timestamp folder
_EPOCH = re.compile(r"^epoch_(\d+)\.pth$")
_BEST = re.compile(r"^best_(.+)_epoch_(\d+)\.pth$")
# MMEngine's CheckpointHook rule inference for save_best (mmengine/hooks/checkpoint_hook.py): metric names
# with these parts are better when greater; "loss" when less.
_GREATER = ("acc", "top", "ar@", "auc", "precision", "map", "mdice", "miou", "macc", "aacc")
# param_scheduler type -> Hyperparams.schedule (MMEngine's scheduler classes)
_SCHEDULES = {
    "CosineAnnealingLR": "cosine",
    "CosineAnnealingParamScheduler": "cosine",
    "CosineRestartLR": "cosine_restart",
    "MultiStepLR": "step",
    "StepLR": "step",
    "ExponentialLR": "exponential",
    "PolyLR": "poly",
    "LinearLR": "linear",
    "ConstantLR": "const",
    "OneCycleLR": "onecycle",
}


def is_mmengine_work_dir(path: Path) -> bool:
    """True when ``path`` looks like an MMEngine work_dir (a start folder or MMEngine checkpoints).

    Example:
        >>> is_mmengine_work_dir(Path("work_dirs/digits"))
        True
    """
    if (path / "last_checkpoint").is_file() or any(path.glob("epoch_*.pth")):
        return True
    return any(p.is_dir() and _START.match(p.name) and (p / "vis_data").is_dir() for p in path.iterdir())


def _starts(work_dir: Path) -> list[Path]:
    return sorted(p for p in work_dir.iterdir() if p.is_dir() and _START.match(p.name))


def _config_path(work_dir: Path, starts: list[Path]) -> Path:
    dumps = sorted(p for p in work_dir.glob("*.py") if p.is_file())
    if len(dumps) == 1:
        return dumps[0]
    for start in reversed(starts):  # the newest start's own copy of the resolved config
        candidate = start / "vis_data" / "config.py"
        if candidate.is_file():
            return candidate
    if dumps:
        raise RunDirError(
            f"{work_dir} holds several configs ({', '.join(p.name for p in dumps)}) and no <timestamp>/vis_data/"
            "config.py says which one trained",
            hint="Remove the configs that do not belong to this run.",
        )
    raise RunDirError(
        f"{work_dir} has no config dump (<config>.py) and no <timestamp>/vis_data/config.py",
        hint="Pass the work_dir MMEngine wrote (tools/train.py --work-dir); it dumps the resolved config there.",
    )


def _reroot(recorded: str | None, old_root: str | None, new_root: Path) -> str | None:
    """Map an absolute path of the training machine onto this one, relative to the old work_dir's parent."""
    if not recorded or old_root is None or Path(recorded).exists():
        return recorded
    old_parent = PurePosixPath(old_root).parent
    rec = PurePosixPath(recorded)
    try:
        return str(new_root.parent / rec.relative_to(old_parent))
    except ValueError:
        return recorded


def _scalars(
    work_dir: Path, starts: list[Path]
) -> tuple[Path | None, dict[int, dict[str, float]], dict[int, int]]:
    """Merge every start's scalars.json: per epoch, validation values + mean train loss + last lr."""
    per_epoch: dict[int, dict[str, float]] = {}
    last_file: Path | None = None
    iters_per_epoch: dict[int, int] = {}
    for start in starts:
        path = start / "vis_data" / "scalars.json"
        if not path.is_file():
            continue
        last_file = path
        text = read_text(work_dir, path, limit=MAX_METRICS_BYTES, what="MMEngine scalars.json")
        losses: dict[int, list[float]] = {}
        val: dict[int, dict[str, float]] = {}
        lrs: dict[int, float] = {}
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                raise RunFileError(
                    f"{path} line {number} is not JSON",
                    hint="scalars.json is written by MMEngine's LocalVisBackend.",
                ) from None
            if not isinstance(row, dict):
                continue
            if "epoch" in row and "iter" in row:  # a train row (step = iteration)
                epoch = int(row["epoch"])
                iters_per_epoch[epoch] = max(iters_per_epoch.get(epoch, 0), int(row["iter"]))
                if isinstance(row.get("loss"), int | float):
                    losses.setdefault(epoch, []).append(float(row["loss"]))
                if isinstance(row.get("lr"), int | float):
                    lrs[epoch] = float(row["lr"])
            elif "step" in row:  # a validation row: step = epoch
                values = {k: float(v) for k, v in row.items() if "/" in k and isinstance(v, int | float)}
                if values:
                    val[int(row["step"])] = values
        for epoch in sorted(set(val) | set(losses)):  # a later start replaces an earlier one's epoch
            merged = dict(val.get(epoch, {}))
            if epoch in losses:
                merged["train_loss"] = sum(losses[epoch]) / len(losses[epoch])
            if epoch in lrs:
                merged["lr"] = lrs[epoch]
            per_epoch[epoch] = merged
    return last_file, per_epoch, iters_per_epoch


def _primary(cfg: dict[str, Any], metrics: dict[int, dict[str, float]]) -> tuple[str, bool]:
    hook = (cfg.get("default_hooks") or {}).get("checkpoint") or {}
    best = hook.get("save_best")
    rule = hook.get("rule")
    names = [k for values in metrics.values() for k in values if "/" in k]
    name = best if isinstance(best, str) and best != "auto" else (names[0] if names else "accuracy/top1")
    if rule in ("greater", "less"):
        return name, rule == "greater"
    low = name.lower()
    return name, "loss" not in low and any(part in low for part in _GREATER)


def _checkpoints(
    work_dir: Path, metrics: dict[int, EpochMetrics], notes: list[str]
) -> tuple[CheckpointInfo, ...]:
    found: dict[int, Path] = {}
    aliases: dict[int, list[str]] = {}
    for path in sorted(work_dir.glob("*.pth")):
        inside(work_dir, path)
        if m := _EPOCH.match(path.name):
            found[int(m.group(1))] = path
    for path in sorted(work_dir.glob("best_*.pth")):
        if m := _BEST.match(path.name):
            epoch = int(m.group(2))
            if epoch in found:
                aliases.setdefault(epoch, []).append(path.name)
            else:
                found[epoch] = path
    last = work_dir / "last_checkpoint"
    if last.is_file():
        recorded = read_text(work_dir, last, limit=4096, what="MMEngine last_checkpoint").strip()
        name = PurePosixPath(recorded).name
        target = work_dir / name
        if target.is_file() and (m := _EPOCH.match(name)):
            aliases.setdefault(int(m.group(1)), []).append("last_checkpoint")
            if str(PurePosixPath(recorded).parent) != str(work_dir.resolve()):
                notes.append(f"last_checkpoint recorded {recorded}; read as {target} (work_dir moved)")
        else:
            notes.append(f"last_checkpoint names {recorded}, which is not in the work_dir")
    return tuple(
        CheckpointInfo(
            epoch=epoch,
            path=path,
            size=path.stat().st_size,
            metrics=metrics.get(epoch),
            aliases=tuple(aliases.get(epoch, ())),
        )
        for epoch, path in sorted(found.items())
    )


# Pipeline steps every run has (loading, fixed resizing, packing): not augmentations.
_DETERMINISTIC = (
    "LoadImageFromFile",
    "PackInputs",
    "Resize",
    "ResizeEdge",
    "CenterCrop",
    "ToTensor",
    "Normalize",
)


def _types(pipeline: Any) -> list[str]:
    return [str(step.get("type")) for step in pipeline or () if isinstance(step, dict) and step.get("type")]


def hyperparams(cfg: dict[str, Any]) -> Hyperparams:
    """The common hyperparameters of a resolved MMEngine config (everything else stays in ``raw``).

    Example:
        >>> hyperparams(read_config("work_dirs/digits/digits_resnet18.py")).optimizer
        'sgd'
    """
    wrapper = cfg.get("optim_wrapper") or {}
    opt = wrapper.get("optimizer") or {}
    schedulers = cfg.get("param_scheduler") or []
    schedulers = [schedulers] if isinstance(schedulers, dict) else list(schedulers)
    main = [
        s
        for s in schedulers
        if isinstance(s, dict) and not (s.get("type") == "LinearLR" and s.get("end", 1e9) <= 10)
    ]
    warmup = [s for s in schedulers if isinstance(s, dict) and s not in main]
    train_loader = cfg.get("train_dataloader") or {}
    train_pipeline = (train_loader.get("dataset") or {}).get("pipeline") or cfg.get("train_pipeline")
    model = cfg.get("model") or {}
    backbone = model.get("backbone") or {}
    head = model.get("head") or {}
    loss = head.get("loss") or {}
    augments = (model.get("train_cfg") or {}).get("augments") or []
    augments = [augments] if isinstance(augments, dict) else augments
    by_type = {a.get("type"): a for a in augments if isinstance(a, dict)}
    ema_hooks = [
        h for h in cfg.get("custom_hooks") or [] if isinstance(h, dict) and h.get("type") == "EMAHook"
    ]
    momentum = opt.get("momentum")
    if momentum is None and isinstance(opt.get("betas"), list | tuple):
        momentum = opt["betas"][0]
    clip = wrapper.get("clip_grad") or {}
    warm_end = warmup[0].get("end") if warmup else None
    return Hyperparams(
        optimizer=str(opt["type"]).lower() if opt.get("type") else None,
        lr=opt.get("lr"),
        schedule=_SCHEDULES.get(str(main[-1].get("type")), str(main[-1].get("type")).lower())
        if main
        else None,
        warmup_epochs=float(warm_end) if warm_end is not None and warmup[0].get("by_epoch", True) else None,
        epochs=(cfg.get("train_cfg") or {}).get("max_epochs"),
        batch_size=train_loader.get("batch_size"),
        weight_decay=opt.get("weight_decay"),
        momentum=momentum,
        grad_clip=clip.get("max_norm") if isinstance(clip, dict) else None,
        seed=(cfg.get("randomness") or {}).get("seed"),
        label_smoothing=loss.get("label_smooth_val"),
        mixup=(by_type.get("Mixup") or {}).get("alpha"),
        cutmix=(by_type.get("CutMix") or {}).get("alpha"),
        augmentation=", ".join(t for t in _types(train_pipeline) if t not in _DETERMINISTIC) or None,
        drop_path_rate=backbone.get("drop_path_rate"),
        ema=bool(ema_hooks),
        ema_decay=1 - float(ema_hooks[0].get("momentum", 0.0002)) if ema_hooks else None,
        precision="amp" if wrapper.get("type") == "AmpOptimWrapper" else "fp32",
        frozen_stages=backbone.get("frozen_stages"),
        pretrained=cfg.get("load_from") or (backbone.get("init_cfg") or {}).get("checkpoint"),
        raw=cfg,
    )


def _eval_transform(cfg: dict[str, Any]) -> EvalTransform:
    pre = cfg.get("data_preprocessor") or (cfg.get("model") or {}).get("data_preprocessor") or {}
    val = (
        ((cfg.get("val_dataloader") or {}).get("dataset") or {}).get("pipeline")
        or cfg.get("test_pipeline")
        or []
    )
    size: int | None = None
    for step in val:
        if not isinstance(step, dict):
            continue
        for key in ("crop_size", "scale"):
            value = step.get(key)
            if isinstance(value, int):
                size = value
            elif isinstance(value, list | tuple) and value and all(isinstance(v, int) for v in value):
                size = int(value[-1])
    mean, std = pre.get("mean"), pre.get("std")
    return EvalTransform(
        input_size=(3, size, size) if size else None,
        mean=tuple(float(v) for v in mean) if mean else None,
        std=tuple(float(v) for v in std) if std else None,
        source="config",
    )


def _data_path(cfg: dict[str, Any], loader: str, old_root: str | None, work_dir: Path) -> str | None:
    dataset = (cfg.get(loader) or {}).get("dataset") or {}
    root, prefix = dataset.get("data_root"), dataset.get("data_prefix")
    if isinstance(prefix, dict):
        prefix = prefix.get("img_path") or prefix.get("img")
    if root is None and prefix is None:
        return None
    joined = str(PurePosixPath(root or "") / (prefix or "")) if prefix else str(root)
    return _reroot(joined, old_root, work_dir)


def read_mmpretrain_run(work_dir: Path) -> TrainingRun:
    """Read an MMEngine / MMPreTrain work_dir (see the module docstring).

    Example:
        >>> run = read_mmpretrain_run(Path("work_dirs/digits"))
        >>> run.framework, [c.epoch for c in run.checkpoints], run.primary_metric
        ('mmpretrain', [1, 2, 3, 4, 5], 'accuracy/top1')
    """
    starts = _starts(work_dir)
    config_path = _config_path(work_dir, starts)
    read_text(
        work_dir, config_path, limit=MAX_ARGS_BYTES, what="MMEngine config"
    )  # size / link / UTF-8 checks
    cfg = read_config(config_path)
    notes: list[str] = []
    old_root = cfg.get("work_dir")
    if isinstance(old_root, str) and Path(old_root).resolve() != work_dir.resolve():
        notes.append(f"the work_dir was trained at {old_root}; paths re-rooted onto {work_dir}")
    if len(starts) > 1:
        notes.append(f"{len(starts)} starts merged ({', '.join(p.name for p in starts)}): a resumed run")
    metrics_file, per_epoch, _ = _scalars(work_dir, starts)
    epochs = tuple(EpochMetrics(epoch, values) for epoch, values in sorted(per_epoch.items()))
    by_epoch = {m.epoch: m for m in epochs}
    primary, higher = _primary(cfg, per_epoch)
    model = cfg.get("model") or {}
    backbone = model.get("backbone") or {}
    # MMPreTrain's own spelling of a backbone in model names: type + depth ("resnet18"), else type-arch
    arch = str(backbone.get("type", "unknown")).lower()
    if backbone.get("depth") is not None:
        arch += str(backbone["depth"])
    elif isinstance(backbone.get("arch"), str):
        arch += f"-{backbone['arch']}"
    head = model.get("head") or {}
    return TrainingRun(
        framework="mmpretrain",
        path=work_dir,
        name=config_path.stem if config_path.parent == work_dir else work_dir.name,
        architecture=arch,
        num_classes=head.get("num_classes"),
        hyperparams=hyperparams(cfg),
        epochs=epochs,
        checkpoints=_checkpoints(work_dir, by_epoch, notes),
        primary_metric=primary,
        higher_is_better=higher,
        args_file=config_path,
        metrics_file=metrics_file,
        train_data=_data_path(cfg, "train_dataloader", old_root, work_dir),
        val_data=_data_path(cfg, "val_dataloader", old_root, work_dir),
        dataset=((cfg.get("train_dataloader") or {}).get("dataset") or {}).get("type"),
        eval_transform_source=_eval_transform(cfg),
        model_config=cfg,
        model_config_path=config_path,
        notes=tuple(notes),
    )
