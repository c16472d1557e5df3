"""Turn one training checkpoint into the files timm / OpenCLIP load from the Hub as they are.

timm → ``model.safetensors`` + ``config.json`` (written by timm's own ``save_config_for_hf``, so
``timm.create_model("hf-hub:ORG/NAME@REV", pretrained=True)`` works); OpenCLIP → ``open_clip_model.safetensors``
+ ``open_clip_config.json`` (``model_cfg`` + ``preprocess_cfg``, the layout of open_clip's ``push_to_hf_hub``).

Memory: the checkpoint is memory-mapped, only the published state dict is touched, and the safetensors file
is streamed tensor by tensor while it is hashed, so peak memory stays near one state dict. The architecture
is built on the ``meta`` device (no memory) to check every key and shape before anything is written.
"""

from __future__ import annotations

import json
import re
import struct
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hubkit import __version__
from hubkit.errors import CheckpointError
from hubkit.hashing import HashingWriter, write_bytes_hashed
from hubkit.runs.files import inside
from hubkit.runs.model import CheckpointInfo, ConvertedCheckpoint, TrainingRun, WeightsKind, WrittenFile

if TYPE_CHECKING:
    from hubkit.runs.safeload import Preloaded, SourceHash

# File names the ecosystems load (source: timm/models/_hub.py HF_SAFE_WEIGHTS_NAME, open_clip/constants.py).
TIMM_WEIGHTS, TIMM_CONFIG = "model.safetensors", "config.json"
OPENCLIP_WEIGHTS, OPENCLIP_CONFIG = "open_clip_model.safetensors", "open_clip_config.json"
# Prefixes wrappers add to state dict keys (DistributedDataParallel, torch.compile).
WRAPPER_PREFIXES = ("module.", "_orig_mod.")
# pretrained_cfg entries that describe timm's registry weights for the architecture, not these weights.
REGISTRY_ONLY_KEYS = ("tag", "license", "paper_ids", "paper_name", "notes", "origin_url", "hf_hub_id")
# torch dtype name -> safetensors dtype (source: safetensors format spec, https://github.com/huggingface/safetensors)
SAFETENSORS_DTYPES: dict[str, str] = {
    "float64": "F64", "float32": "F32", "float16": "F16", "bfloat16": "BF16",
    "int64": "I64", "int32": "I32", "int16": "I16", "int8": "I8", "uint8": "U8", "bool": "BOOL",
    "uint16": "U16", "uint32": "U32", "uint64": "U64",
    "float8_e4m3fn": "F8_E4M3", "float8_e5m2": "F8_E5M2",
}  # fmt: skip


def _strip_prefixes(state: dict[str, Any]) -> dict[str, Any]:
    for prefix in WRAPPER_PREFIXES:
        if state and all(k.startswith(prefix) for k in state):
            state = {k[len(prefix) :]: v for k, v in state.items()}
    return state


def _pick_state_dict(
    run: TrainingRun, ckpt: dict[str, Any], file: Path, weights: WeightsKind | None
) -> tuple[dict[str, Any], WeightsKind]:
    import torch

    if weights not in (None, "raw", "ema"):
        raise CheckpointError(
            f"weights must be 'raw' or 'ema', not {weights!r}", hint="Use --weights raw|ema."
        )
    has_ema = isinstance(ckpt.get("state_dict_ema"), dict)
    kind: WeightsKind = weights or ("ema" if run.hyperparams.ema else "raw")
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
    state = ckpt.get(key)
    if not isinstance(state, dict) or not state:
        raise CheckpointError(
            f"{file} has no '{key}' (keys: {', '.join(sorted(map(str, ckpt))[:8])})",
            hint="Expected a timm CheckpointSaver / open_clip_train checkpoint.",
        )
    bad = [k for k, v in state.items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)]
    if bad:
        raise CheckpointError(
            f"{file}: '{key}' holds non-tensor entries ({bad[:3]})", hint="Re-save the weights."
        )
    return _strip_prefixes(state), kind


def _check_epoch(ckpt: dict[str, Any], checkpoint: CheckpointInfo, file: Path) -> int:
    epoch = ckpt.get("epoch")
    if not isinstance(epoch, int) or isinstance(epoch, bool):
        raise CheckpointError(
            f"{file} has no integer 'epoch'", hint="Expected a training checkpoint with its epoch."
        )
    legacy = isinstance(ckpt.get("version"), int) and ckpt["version"] < 2 and epoch == checkpoint.epoch + 1
    if epoch != checkpoint.epoch and not legacy:  # timm checkpoint version < 2 stored epoch + 1
        raise CheckpointError(
            f"{file} holds epoch {epoch}, but the run dir lists it as epoch {checkpoint.epoch}",
            hint="The file was renamed or overwritten; read the run dir again or pick another epoch.",
        )
    return checkpoint.epoch


def _check_shapes(file: Path, arch: str, expected: dict[str, tuple[int, ...]], state: dict[str, Any]) -> None:
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = [
        f"{k}: {tuple(state[k].shape)} vs {expected[k]}"
        for k in sorted(set(expected) & set(state))
        if tuple(state[k].shape) != expected[k]
    ]
    if missing or unexpected or wrong:
        parts = []
        if missing:
            parts.append(f"missing {len(missing)} ({', '.join(missing[:3])})")
        if unexpected:
            parts.append(f"unexpected {len(unexpected)} ({', '.join(unexpected[:3])})")
        if wrong:
            parts.append(f"shape mismatch {len(wrong)} ({'; '.join(wrong[:3])})")
        raise CheckpointError(
            f"{file} does not fit architecture {arch}: {', '.join(parts)}",
            hint="Check that args / params name the architecture and class count the run trained.",
        )


def _label_names(val_data: str | None, num_classes: int | None) -> list[str] | None:
    """Class folder names of an image-folder val split, in timm's (natural) sort order."""
    if not val_data or not num_classes or not Path(val_data).is_dir():
        return None
    names = [p.name for p in Path(val_data).iterdir() if p.is_dir()]

    def natural(text: str) -> list[Any]:
        return [int(s) if s.isdigit() else s for s in re.split(r"(\d+)", text.lower())]

    return sorted(names, key=natural) if len(names) == num_classes else None


def _timm_model_kwargs(run: TrainingRun) -> dict[str, Any]:
    args = run.hyperparams.raw
    kwargs: dict[str, Any] = dict(args.get("model_kwargs") or {})
    if args.get("in_chans"):
        kwargs["in_chans"] = args["in_chans"]
    if args.get("gp"):
        kwargs["global_pool"] = args["gp"]
    return kwargs


def _timm_meta_model(run: TrainingRun) -> Any:
    import timm
    import torch

    kwargs = _timm_model_kwargs(run)
    with torch.device("meta"):
        return timm.create_model(run.architecture, pretrained=False, num_classes=run.num_classes, **kwargs)


def _timm_config(run: TrainingRun, model: Any, out: Path, labels: list[str] | None) -> bytes:
    from timm.models._hub import save_config_for_hf

    t = run.eval_transform
    data_config = {
        k: v
        for k, v in {
            "input_size": t.input_size if t else None,
            "crop_pct": t.crop_pct if t else None,
            "crop_mode": t.crop_mode if t else None,
            "interpolation": t.interpolation if t else None,
            "mean": t.mean if t else None,
            "std": t.std if t else None,
        }.items()
        if v is not None
    }
    model_config: dict[str, Any] = {}
    if labels:
        model_config["label_names"] = labels
    tmp = out / f".{TIMM_CONFIG}.timm"
    save_config_for_hf(model, str(tmp), model_config=model_config, data_config=data_config)
    config = json.loads(tmp.read_text(encoding="utf-8"))
    tmp.unlink()
    for key in REGISTRY_ONLY_KEYS:
        config.get("pretrained_cfg", {}).pop(key, None)
    return (json.dumps(config, indent=2) + "\n").encode("utf-8")


def _openclip_config(run: TrainingRun) -> bytes:
    t = run.eval_transform
    raw = run.hyperparams.raw
    preprocess: dict[str, Any] = {
        "mean": list(t.mean) if t and t.mean else None,
        "std": list(t.std) if t and t.std else None,
    }
    vision = (run.model_config or {}).get("vision_cfg", {})
    interpolation = raw.get("image_interpolation") or vision.get("image_interpolation")
    resize_mode = raw.get("image_resize_mode") or vision.get("image_resize_mode")
    if interpolation:
        preprocess["interpolation"] = interpolation
    if resize_mode:
        preprocess["resize_mode"] = resize_mode
    config = {"model_cfg": run.model_config, "preprocess_cfg": preprocess}
    return (json.dumps(config, indent=2) + "\n").encode("utf-8")


def _openclip_meta_model(run: TrainingRun, config_dir: Path) -> Any:
    import logging

    import open_clip
    import torch

    # open_clip warns that the folder has no weights yet: true, and expected, for a shapes-only model.
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        with torch.device("meta"):
            return open_clip.create_model(
                f"local-dir:{config_dir}",
                load_weights=False,
                pretrained_text=False,
                pretrained_image=False,
                device="meta",
            )
    finally:
        logging.disable(previous)


# What the architecture alone decides (config bytes, expected key -> shape), per process. Building the meta
# model costs about as much as converting a resnet50 checkpoint, and it is the same for every checkpoint of
# a run. Keyed by everything the model and the config are built from.
_ARCH_MEMO: dict[str, tuple[bytes, dict[str, tuple[int, ...]]]] = {}
_ARCH_MEMO_SIZE = 8
_ARCH_LOCK = threading.Lock()


def _architecture(run: TrainingRun) -> tuple[bytes, dict[str, tuple[int, ...]]]:
    """``(config file bytes, expected state-dict shapes)`` of ``run``'s model, built once per process."""
    if run.framework == "timm":
        labels = _label_names(run.val_data, run.num_classes)
        facts = [run.architecture, run.num_classes, _timm_model_kwargs(run), repr(run.eval_transform), labels]
        key = json.dumps(["timm", *facts], sort_keys=True, default=repr)
    else:
        if run.model_config is None:
            raise CheckpointError(
                f"{run.path} has no OpenCLIP model config", hint="Pass --model-config FILE."
            )
        config_bytes = _openclip_config(run)
        key = json.dumps(["open_clip", run.architecture, config_bytes.decode("utf-8")])
    with _ARCH_LOCK:
        known = _ARCH_MEMO.get(key)
    if known is not None:
        return known
    with tempfile.TemporaryDirectory(prefix="hubkit-arch-") as tmp:
        # the model libraries read / write their config through a folder: a scratch one keeps out/ untouched
        if run.framework == "timm":
            model = _timm_meta_model(run)
            config_bytes = _timm_config(run, model, Path(tmp), labels)
        else:
            (Path(tmp) / OPENCLIP_CONFIG).write_bytes(config_bytes)
            model = _openclip_meta_model(run, Path(tmp))
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    del model
    with _ARCH_LOCK:
        while len(_ARCH_MEMO) >= _ARCH_MEMO_SIZE:
            _ARCH_MEMO.pop(next(iter(_ARCH_MEMO)))
        _ARCH_MEMO[key] = (config_bytes, shapes)
    return config_bytes, shapes


def prepare(run: TrainingRun) -> None:
    """Do ahead what every conversion of ``run`` shares: import the model library, build the meta model.

    Conversions of the run then start at once. Errors are not raised here; the conversion that needs the
    architecture raises them with its checkpoint named.
    """
    try:
        _architecture(run)
    except Exception:  # the conversion that needs it reports the error, with its checkpoint named
        return


def write_safetensors(path: Path, tensors: dict[str, Any], metadata: dict[str, str]) -> tuple[int, str]:
    """Stream ``tensors`` into a safetensors file, hashing the bytes as they are written.

    Unlike ``safetensors.torch.save_file`` this never holds a serialized copy of the tensors, so memory stays
    at the (memory-mapped) tensors themselves; the format is safetensors' own: u64 header length, JSON
    header (dtype, shape, data offsets, ``__metadata__``) padded to 8 bytes, then the raw little-endian data.

    Returns:
        ``(size in bytes, sha256 hex)``.

    Example:
        >>> write_safetensors(Path("out/model.safetensors"), {"w": torch.ones(2)}, {"format": "pt"})[0]
        80
    """
    import torch

    order = sorted(tensors, key=lambda k: (-tensors[k].element_size(), k))  # largest alignment first
    header: dict[str, Any] = {"__metadata__": metadata}
    offset = 0
    for name in order:
        t = tensors[name]
        dtype = SAFETENSORS_DTYPES.get(str(t.dtype).removeprefix("torch."))
        if dtype is None:
            raise CheckpointError(
                f"tensor {name} has dtype {t.dtype}, which safetensors cannot store", hint="Cast it."
            )
        nbytes = t.numel() * t.element_size()
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    blob = json.dumps(header, separators=(",", ":")).encode("utf-8")
    blob += b" " * (-len(blob) % 8)
    with HashingWriter(path) as out:
        out.write(struct.pack("<Q", len(blob)))
        out.write(blob)
        for name in order:
            t = tensors[name].detach().contiguous()
            if t.numel() == 0:
                continue
            data = memoryview(t.reshape(-1).view(torch.uint8).numpy())
            out.write(data)
            del t, data
    return 8 + len(blob) + offset, out.hexdigest()


def _unshare(state: dict[str, Any]) -> dict[str, Any]:
    """safetensors refuses tensors that share memory (tied weights): give each its own copy."""
    seen: set[tuple[int, int]] = set()
    out = {}
    for name, t in state.items():
        key = (t.untyped_storage().data_ptr(), t.storage_offset()) if t.numel() else (id(t), 0)
        if t.numel() and key in seen:
            t = t.clone()
        elif t.numel():
            seen.add(key)
        out[name] = t
    return out


def convert_checkpoint(
    run: TrainingRun,
    checkpoint: CheckpointInfo,
    out_dir: str | Path,
    *,
    weights: WeightsKind | None = None,
    source_hash: SourceHash | None = None,
    preloaded: Preloaded | None = None,
) -> ConvertedCheckpoint:
    """Write ``checkpoint`` of ``run`` as Hub-loadable files; see :func:`hubkit.runs.convert_checkpoint`.

    Example:
        >>> convert_checkpoint(run, run.checkpoints[-1], "out/last").weights_file
        'model.safetensors'
    """
    from hubkit.runs.safeload import load_checkpoint_with_sha256

    file = inside(run.path, checkpoint.path)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ckpt, source_sha = load_checkpoint_with_sha256(file, known=source_hash, preloaded=preloaded)
    if run.framework == "open_clip" and weights == "ema":
        raise CheckpointError(
            f"{file}: open_clip_train keeps no EMA weights", hint="Use --weights raw (the default)."
        )
    epoch = _check_epoch(ckpt, checkpoint, file)
    state, kind = _pick_state_dict(run, ckpt, file, weights)
    del ckpt  # drop references to the optimizer state and the other state dict

    if run.framework == "timm":
        weights_name, config_name = TIMM_WEIGHTS, TIMM_CONFIG
    else:
        weights_name, config_name = OPENCLIP_WEIGHTS, OPENCLIP_CONFIG
    config_bytes, shapes = _architecture(run)
    _check_shapes(file, run.architecture, shapes, state)

    state = _unshare(state)
    metadata = {
        "format": "pt",
        "framework": run.framework,
        "architecture": run.architecture,
        "epoch": str(epoch),
        "weights": kind,
        "source_file": file.name,
        "source_sha256": source_sha,
        "run_name": run.name,
        "converted_by": f"hubkit {__version__}",
    }
    num_parameters = sum(int(t.numel()) for t in state.values())
    size, weights_sha = write_safetensors(out / weights_name, state, metadata)
    del state
    config_sha = write_bytes_hashed(out / config_name, config_bytes)
    files = (
        WrittenFile(path=out / weights_name, size=size, sha256=weights_sha),
        WrittenFile(path=out / config_name, size=len(config_bytes), sha256=config_sha),
    )
    return ConvertedCheckpoint(
        out_dir=out,
        files=files,
        source=file,
        source_sha256=source_sha,
        weights=kind,
        epoch=epoch,
        framework=run.framework,
        architecture=run.architecture,
        num_parameters=num_parameters,
        weights_file=weights_name,
        config_file=config_name,
    )
