"""Turn one training checkpoint into the files its framework's loader reads from the Hub as they are.

The framework (:mod:`hubkit.frameworks`) says which weights of the checkpoint to publish, the two file
names (timm: ``model.safetensors`` + ``config.json``; OpenCLIP: ``open_clip_model.safetensors`` +
``open_clip_config.json``) and how to build the config and the model; this module writes and checks them.

Memory: the checkpoint is memory-mapped, only the published state dict is touched, and the safetensors file
is streamed tensor by tensor while it is hashed, so peak memory stays near one state dict. The architecture
is built on the ``meta`` device (no memory) to check every key and shape before anything is written.
"""

from __future__ import annotations

import json
import struct
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hubkit import __version__, frameworks
from hubkit.errors import CheckpointError
from hubkit.hashing import HashingWriter, write_bytes_hashed
from hubkit.runs.files import inside
from hubkit.runs.model import CheckpointInfo, ConvertedCheckpoint, TrainingRun, WeightsKind, WrittenFile

if TYPE_CHECKING:
    from hubkit.runs.safeload import Preloaded, SourceHash

# torch dtype name -> safetensors dtype (source: safetensors format spec, https://github.com/huggingface/safetensors)
SAFETENSORS_DTYPES: dict[str, str] = {
    "float64": "F64", "float32": "F32", "float16": "F16", "bfloat16": "BF16",
    "int64": "I64", "int32": "I32", "int16": "I16", "int8": "I8", "uint8": "U8", "bool": "BOOL",
    "uint16": "U16", "uint32": "U32", "uint64": "U64",
    "float8_e4m3fn": "F8_E4M3", "float8_e5m2": "F8_E5M2",
}  # fmt: skip


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


# What the architecture alone decides (config bytes, expected key -> shape), per process. Building the meta
# model costs about as much as converting a resnet50 checkpoint, and it is the same for every checkpoint of
# a run. Keyed by everything the model and the config are built from.
_ARCH_MEMO: dict[str, tuple[bytes, dict[str, tuple[int, ...]]]] = {}
_ARCH_MEMO_SIZE = 8
_ARCH_LOCK = threading.Lock()


def _architecture(run: TrainingRun) -> tuple[bytes, dict[str, tuple[int, ...]]]:
    """``(config file bytes, expected state-dict shapes)`` of ``run``'s model, built once per process."""
    framework = frameworks.get(run.framework)
    key = framework.architecture_key(run)
    with _ARCH_LOCK:
        known = _ARCH_MEMO.get(key)
    if known is not None:
        return known
    with tempfile.TemporaryDirectory(prefix="hubkit-arch-") as tmp:
        # the model libraries read / write their config through a folder: a scratch one keeps out/ untouched
        config_bytes, model = frameworks.build_architecture(run, Path(tmp))
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
    framework = frameworks.get(run.framework)
    state, kind, epoch = framework.checkpoint_weights(run, checkpoint, ckpt, file, weights)
    extras = framework.release_extras(run, ckpt, state)
    extra_metadata = framework.weights_metadata(run, ckpt)
    del ckpt  # drop references to the optimizer state and the other state dict

    weights_name, config_name = framework.weights_file, framework.config_file
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
        **extra_metadata,
    }
    num_parameters = sum(int(t.numel()) for t in state.values())
    size, weights_sha = write_safetensors(out / weights_name, state, metadata)
    del state
    config_sha = write_bytes_hashed(out / config_name, config_bytes)
    files = (
        WrittenFile(path=out / weights_name, size=size, sha256=weights_sha),
        WrittenFile(path=out / config_name, size=len(config_bytes), sha256=config_sha),
        *(
            WrittenFile(path=out / name, size=len(data), sha256=write_bytes_hashed(out / name, data))
            for name, data in extras.items()
        ),
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
