"""Pick the device a verification runs on and describe it (and the library versions) for the report.

``--device auto`` means CUDA when torch sees one, otherwise CPU. The description goes into
``verification.json`` so a reader knows which hardware and which library versions produced the numbers.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from importlib import metadata
from typing import TYPE_CHECKING, Any

from hubkit.errors import InputError

if TYPE_CHECKING:
    import torch

DEVICE_CHOICES = ("auto", "cuda", "cpu")
_DEVICE_RE = re.compile(r"auto|cpu|cuda(:[0-9]{1,2})?")

# Distributions whose versions a verification report records (distribution, key in the report), around
# those of the frameworks (each framework's ``distribution``, keyed by its name).
VERSIONED_BEFORE: tuple[tuple[str, str], ...] = (("hubkit", "hubkit"), ("torch", "torch"))
VERSIONED_AFTER: tuple[tuple[str, str], ...] = (
    ("huggingface_hub", "huggingface_hub"),
    ("safetensors", "safetensors"),
)


@dataclass(frozen=True)
class DeviceInfo:
    """Where a verification ran."""

    type: str  # "cuda" or "cpu"
    name: str  # "NVIDIA H100 80GB HBM3" or the CPU model / "x86_64 CPU"
    memory_gib: float | None  # total device memory, e.g. 79.2; None for CPU
    dtype: str  # compute dtype, e.g. "float32"
    index: int | None = None  # CUDA device index, e.g. 0; None for CPU

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def resolve_device(spec: str = "auto") -> torch.device:
    """Turn ``auto`` / ``cuda`` / ``cpu`` (or ``cuda:1``) into a ``torch.device``.

    Args:
        spec: ``auto`` picks CUDA when available, otherwise CPU.

    Returns:
        The device; asking for CUDA on a machine without it raises :class:`InputError`.

    Example:
        >>> resolve_device("cpu")
        device(type='cpu')
    """
    import torch

    spec = check_device_spec(spec, available=True)
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(spec)


def check_device_spec(spec: str | None, *, available: bool = False) -> str:
    """Check a ``--device`` value and return it normalised (``auto``, ``cpu``, ``cuda`` or ``cuda:N``).

    Args:
        spec: the value as given; None means ``auto``.
        available: also check that a CUDA device asked for exists here (imports torch only then).

    Raises:
        InputError: an unknown device, or CUDA asked for on a machine without it.

    Example:
        >>> check_device_spec(" CPU ")
        'cpu'
    """
    text = (spec or "auto").strip().lower()
    if not _DEVICE_RE.fullmatch(text):
        raise InputError(
            f"unknown device {spec!r}",
            hint=f"use one of: {', '.join(DEVICE_CHOICES)} (or cuda:N for the N-th GPU)",
        )
    if available and text.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise InputError(
                f"--device {text} was asked for, but torch sees no CUDA device on this machine",
                hint="use --device auto (falls back to CPU) or --device cpu",
            )
    return text


def describe_device(device: torch.device, dtype: torch.dtype | None = None) -> DeviceInfo:
    """Describe ``device`` for the report (name, memory, compute dtype).

    Example:
        >>> describe_device(resolve_device("cpu")).type
        'cpu'
    """
    import platform

    import torch

    dtype_name = str(dtype or torch.float32).removeprefix("torch.")
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        props = torch.cuda.get_device_properties(index)
        return DeviceInfo("cuda", props.name, round(props.total_memory / 2**30, 1), dtype_name, index)
    name = platform.processor() or platform.machine() or "cpu"
    return DeviceInfo("cpu", f"{name} CPU ({torch.get_num_threads()} threads)", None, dtype_name)


def library_versions() -> dict[str, str]:
    """Versions of the libraries that load and evaluate a revision, keyed by short name.

    Example:
        >>> sorted(library_versions())[:2]
        ['huggingface_hub', 'hubkit']
    """
    from hubkit import frameworks

    versions = {}
    known = tuple((f.distribution, f.name) for f in frameworks.all_frameworks() if f.distribution)
    for dist, key in (*VERSIONED_BEFORE, *known, *VERSIONED_AFTER):
        try:
            versions[key] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[key] = "not installed"
    return versions


def synchronize(device: torch.device) -> None:
    """Wait for queued CUDA work so that timings measure it (no-op on CPU)."""
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)
