"""Reader for ``open_clip_train`` output: ``logs/<name>/`` with ``params.txt``, ``out.log`` and
``checkpoints/`` (``epoch_N.pt`` with N = completed epochs from 1, ``epoch_latest.pt``, ``results.jsonl``).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

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
    literal,
    read_text,
    typed_args,
)
from hubkit.runs.model import EpochMetrics, EvalTransform, Hyperparams, TrainingRun

# common name -> open_clip_train argument (source: open_clip_train/params.py, https://github.com/mlfoundations/open_clip)
HPARAM_KEYS: dict[str, str] = {
    "optimizer": "opt",
    "lr": "lr",
    "schedule": "lr_scheduler",
    "warmup_steps": "warmup",
    "epochs": "epochs",
    "batch_size": "batch_size",
    "grad_accum_steps": "accum_freq",
    "weight_decay": "wd",
    "grad_clip": "grad_clip_norm",
    "seed": "seed",
    "precision": "precision",
    "pretrained": "pretrained",
}
_INT_FIELDS = {"warmup_steps", "epochs", "batch_size", "grad_accum_steps", "seed"}
_STR_FIELDS = {"optimizer", "schedule", "precision", "pretrained"}
# Primary metric, in order of preference: (results.jsonl key, higher is better). Zero-shot top-1 only exists
# when the run evaluated on ImageNet; otherwise the contrastive validation loss covers both directions.
PRIMARY_METRICS: tuple[tuple[str, bool], ...] = (
    ("imagenet-zeroshot-val-top1", True),
    ("clip_val_loss", False),
)
_EPOCH_FILE = re.compile(r"^epoch_(\d+)\.pt$")
# open_clip's preprocessing defaults (source: open_clip/constants.py OPENAI_DATASET_MEAN/STD, transform.py)
OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)


def is_openclip_run(path: Path) -> bool:
    return (path / "params.txt").is_file()


def _read_params(run_dir: Path) -> dict[str, Any]:
    path = run_dir / "params.txt"
    text = read_text(run_dir, path, limit=MAX_ARGS_BYTES, what="OpenCLIP params.txt")
    params: dict[str, Any] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        name, sep, value = line.partition(": ")
        if not sep and line.endswith(":"):
            name, sep, value = line[:-1], ":", ""
        if not sep or not name.isidentifier():
            raise RunFileError(
                f"{path}: line {number} is not 'name: value' ({line[:60]!r})",
                hint="params.txt is written by open_clip_train (one 'name: value' per line); restore it.",
            )
        params[name] = literal(value)
    if "model" not in params:
        raise RunFileError(
            f"{path} has no 'model' line",
            hint="Point hubkit at an open_clip_train log folder (logs/<name>/ with params.txt).",
        )
    return params


def _read_results(run_dir: Path, notes: list[str]) -> tuple[Path, tuple[EpochMetrics, ...]]:
    path = run_dir / "checkpoints" / "results.jsonl"
    if not path.is_file():
        raise RunDirError(
            f"{run_dir} has no checkpoints/results.jsonl, so hubkit cannot tell what each checkpoint scored",
            hint="Train with --val-data (and/or --imagenet-val) so open_clip_train evaluates each epoch.",
        )
    text = read_text(run_dir, path, limit=MAX_METRICS_BYTES, what="OpenCLIP results.jsonl")
    by_epoch: dict[int, EpochMetrics] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise RunFileError(
                f"{path}: line {number} is not JSON ({exc.msg})",
                hint="The file was cut or edited; fix or remove that line.",
            ) from None
        if not isinstance(row, dict):
            raise RunFileError(f"{path}: line {number} is not a JSON object", hint="Fix or remove that line.")
        epoch = as_int(row.get("epoch"))
        if epoch is None:
            # zero-shot-only evaluation logs no epoch: lines follow completed epochs 1, 2, ...
            epoch = number
            notes.append(f"results.jsonl line {number} has no epoch; taken as epoch {epoch}")
        values = {
            key: finite(value, path=path, where=f"line {number} (epoch {epoch}), {key}")
            for key, value in row.items()
            if key not in ("epoch", "num_samples")
            and not isinstance(value, bool)
            and isinstance(value, int | float)
        }
        merged = dict(by_epoch[epoch].values) if epoch in by_epoch else {}
        merged.update(values)
        by_epoch[epoch] = EpochMetrics(epoch=epoch, values=merged)
    if not by_epoch:
        raise RunFileError(f"{path} holds no results", hint="Wait until the first evaluation has run.")
    return path, tuple(by_epoch[e] for e in sorted(by_epoch))


def _model_config(
    run_dir: Path, params: dict[str, Any], given: Path | None
) -> tuple[dict[str, Any], Path | None]:
    name = str(params["model"])
    path: Path | None = None
    if given is not None:
        path = Path(given)
        if not path.is_file():
            raise RunFileError(f"model config {path} does not exist", hint="Check the --model-config path.")
    else:
        for candidate in (run_dir / f"{name}.json", run_dir.parent / f"{name}.json"):
            if candidate.is_file():
                path = candidate
                break
    if path is not None:
        text = path.read_text(encoding="utf-8") if path.stat().st_size <= MAX_ARGS_BYTES else ""
        if not text:
            raise RunFileError(
                f"model config {path} is empty or larger than {MAX_ARGS_BYTES:,} bytes",
                hint="Check the file.",
            )
        try:
            config = json.loads(text)
        except json.JSONDecodeError as exc:
            raise RunFileError(
                f"model config {path} is not JSON ({exc.msg}, line {exc.lineno})", hint="Fix the file."
            ) from None
    else:
        import open_clip

        config = open_clip.get_model_config(name)
        if config is None:
            raise RunFileError(
                f"OpenCLIP model {name!r} of {run_dir} is neither in OpenCLIP's registry nor in the run dir as {name}.json",
                hint="Pass the model config JSON the run was trained with (--model-config FILE).",
            )
    if not isinstance(config, dict) or not {"embed_dim", "vision_cfg", "text_cfg"} <= set(config):
        where = path if path is not None else f"registry entry {name}"
        raise RunFileError(
            f"{where} is not an OpenCLIP model config (needs embed_dim, vision_cfg, text_cfg)",
            hint="Use the JSON file that was registered with open_clip.add_model_config for training.",
        )
    config = json.loads(json.dumps(config))  # a private copy
    # The same overrides open_clip_train applied when it built the model.
    if params.get("force_quick_gelu"):
        config["quick_gelu"] = True
    if as_int(params.get("force_image_size")) is not None or isinstance(
        params.get("force_image_size"), list | tuple
    ):
        config["vision_cfg"]["image_size"] = params["force_image_size"]
    if as_int(params.get("force_context_length")) is not None:
        config["text_cfg"]["context_length"] = params["force_context_length"]
    if params.get("force_custom_text"):
        config["custom_text"] = True
    return config, path


def parse_hyperparams(params: dict[str, Any]) -> Hyperparams:
    """Hyperparams from params.txt values (also those a revision's hubkit.json records)."""
    values = typed_args(params, HPARAM_KEYS, ints=_INT_FIELDS, strs=_STR_FIELDS)
    if values["optimizer"] is None:
        values["optimizer"] = "adamw"  # open_clip_train's default when --opt is absent (older versions)
    locked = tuple(t for t in ("image", "text") if params.get(f"lock_{t}"))
    unlocked: dict[str, int] = {}
    if params.get("lock_image") and as_int(params.get("lock_image_unlocked_groups")):
        unlocked["image"] = as_int(params["lock_image_unlocked_groups"])  # type: ignore[assignment]
    if params.get("lock_text") and as_int(params.get("lock_text_unlocked_layers")):
        unlocked["text"] = as_int(params["lock_text_unlocked_layers"])  # type: ignore[assignment]
    return Hyperparams(
        **values,
        momentum=as_float(params.get("momentum"))
        if values["optimizer"] == "sgd"
        else as_float(params.get("beta1")),
        locked_towers=locked,
        unlocked_groups=unlocked,
        raw=dict(params),
    )


def _eval_transform(params: dict[str, Any], config: dict[str, Any]) -> EvalTransform:
    vision = config.get("vision_cfg", {})
    size = vision.get("image_size", 224)
    h, w = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
    mean = as_floats(params.get("image_mean")) or as_floats(vision.get("image_mean")) or OPENAI_MEAN
    std = as_floats(params.get("image_std")) or as_floats(vision.get("image_std")) or OPENAI_STD
    return EvalTransform(
        input_size=(3, h, w),
        crop_pct=1.0,  # open_clip resizes the shortest side to image_size and center-crops it
        crop_mode="center",
        interpolation=as_str(params.get("image_interpolation"))
        or as_str(vision.get("image_interpolation"))
        or "bicubic",
        mean=mean,
        std=std,
        source="args+config",
    )


def read_openclip_run(run_dir: Path, *, model_config: Path | None = None) -> TrainingRun:
    """Read an open_clip_train log folder. See :func:`hubkit.runs.read_run`."""
    params = _read_params(run_dir)
    notes: list[str] = []
    ckpt_dir = run_dir / "checkpoints"
    files = sorted(ckpt_dir.glob("*.pt")) if ckpt_dir.is_dir() else []
    if not files:
        raise RunDirError(
            f"{run_dir} has params.txt but no checkpoints/*.pt",
            hint="open_clip_train saves checkpoints/epoch_N.pt when --save-frequency > 0 (and --save-logs is on).",
        )
    metrics_file, epochs = _read_results(run_dir, notes)
    available = {key for m in epochs for key in m.values}
    primary, higher = next(((k, h) for k, h in PRIMARY_METRICS if k in available), (None, True))
    if primary is None:
        raise RunFileError(
            f"{metrics_file} has neither of {', '.join(k for k, _ in PRIMARY_METRICS)}",
            hint="Train with --val-data so open_clip_train logs clip_val_loss and retrieval recall each epoch.",
        )
    for file in files:
        inside(run_dir, file)
    numbered = {int(m.group(1)): f for f in files if (m := _EPOCH_FILE.match(f.name))}
    aliases: dict[str, int | None] = {"epoch_latest.pt": epochs[-1].epoch}
    checkpoints = find_checkpoints(run_dir, files, numbered, aliases, epochs, notes)
    config, config_path = _model_config(run_dir, params, model_config)
    return TrainingRun(
        framework="open_clip",
        path=run_dir,
        name=as_str(params.get("name")) or run_dir.name,
        architecture=str(params["model"]),
        num_classes=None,
        hyperparams=parse_hyperparams(params),
        epochs=epochs,
        checkpoints=checkpoints,
        primary_metric=primary,
        higher_is_better=higher,
        args_file=run_dir / "params.txt",
        metrics_file=metrics_file,
        train_data=as_str(params.get("train_data")),
        val_data=as_str(params.get("val_data")) or as_str(params.get("imagenet_val")),
        dataset=as_str(params.get("dataset_type")),
        eval_transform_source=_eval_transform(params, config),
        model_config=config,
        model_config_path=config_path,
        notes=tuple(notes),
    )
