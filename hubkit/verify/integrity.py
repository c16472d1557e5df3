"""Compare a published revision with the checkpoint it was converted from.

Without the run, :func:`check_files` compares the downloaded bytes with the Hub's own listing (LFS
sha256 / git blob id) and with the sha256 that ``hubkit.json`` recorded at conversion time. With the
source run at hand, three more checks, each cheap next to the evaluation:

1. every tensor in the published safetensors file equals the source checkpoint's, bit for bit (compared
   as raw integers, so NaN payloads and ``-0.0`` count too), with the same names, shapes and dtypes;
2. the reloaded model holds exactly the file's tensors (the library's loader did not re-initialise or
   reshape anything);
3. the reloaded model and a model built from the run's own arguments with the source weights give the
   same logits on one fixed batch (catches a config that builds a different network around the same
   tensors, e.g. another pooling or head).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hubkit.hashing import file_digests

if TYPE_CHECKING:
    import torch

MAX_LISTED = 20  # mismatches listed by name; the rest are counted
_INT_VIEW = {1: "uint8", 2: "int16", 4: "int32", 8: "int64"}


def bitwise_equal(a: torch.Tensor, b: torch.Tensor) -> bool:
    """True when ``a`` and ``b`` have the same dtype, shape and bytes.

    Example:
        >>> bitwise_equal(torch.tensor([0.0]), torch.tensor([-0.0]))
        False
    """
    import torch

    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    if b.device != a.device:
        b = b.to(a.device)
    if a.dtype == torch.bool or a.element_size() not in _INT_VIEW or a.is_complex():
        return bool(torch.equal(a, b))
    view = getattr(torch, _INT_VIEW[a.element_size()])
    return bool(torch.equal(a.contiguous().view(view), b.contiguous().view(view)))


def compare_state_dicts(
    published: Mapping[str, torch.Tensor], source: Mapping[str, torch.Tensor], *, label: str = "source"
) -> tuple[int, tuple[str, ...]]:
    """Compare two state dicts name by name; return (tensors compared, mismatch descriptions).

    Args:
        published: tensors as published (e.g. ``safetensors.torch.load_file(..., device=...)``).
        source: tensors they should equal.
        label: how ``source`` is named in messages (``"source checkpoint (EMA)"``).

    Example:
        >>> compare_state_dicts({"w": torch.ones(2)}, {"w": torch.zeros(2)})
        (1, ('w: values differ from the source (max |diff| 1)',))
    """
    problems: list[str] = []
    missing = sorted(set(source) - set(published))
    extra = sorted(set(published) - set(source))
    if missing:
        problems.append(f"{len(missing)} tensor(s) of the {label} are missing: {', '.join(missing[:5])}")
    if extra:
        problems.append(f"{len(extra)} tensor(s) are not in the {label}: {', '.join(extra[:5])}")
    compared = 0
    differing: list[str] = []
    for name in sorted(set(source) & set(published)):
        compared += 1
        a, b = published[name], source[name]
        if a.dtype != b.dtype or a.shape != b.shape:
            differing.append(f"{name}: {a.dtype}{tuple(a.shape)} vs {b.dtype}{tuple(b.shape)} in the {label}")
        elif not bitwise_equal(a, b):
            differing.append(f"{name}: values differ from the {label} (max |diff| {_max_diff(a, b):.3g})")
    problems.extend(differing[:MAX_LISTED])
    if len(differing) > MAX_LISTED:
        problems.append(f"… and {len(differing) - MAX_LISTED} more differing tensors")
    return compared, tuple(problems)


def loaded_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The model's persistent state (what ``load_state_dict`` filled), detached."""
    return {name: tensor.detach() for name, tensor in model.state_dict().items()}


def logits_max_abs_diff(outputs_a: Any, outputs_b: Any) -> float:
    """Largest absolute difference between two model outputs (tensors, tuples or dicts of tensors).

    Example:
        >>> logits_max_abs_diff(torch.ones(2, 3), torch.ones(2, 3))
        0.0
    """

    pairs: list[tuple[torch.Tensor, torch.Tensor]] = []
    _collect(outputs_a, outputs_b, pairs)
    if not pairs:
        return float("nan")
    worst = 0.0
    for a, b in pairs:
        if a.shape != b.shape:
            return float("inf")
        worst = max(worst, _max_diff(a.float(), b.float()))
    return worst


def _collect(a: Any, b: Any, out: list[tuple[Any, Any]]) -> None:
    import torch

    if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor):
        if a.is_floating_point():
            out.append((a, b))
    elif isinstance(a, Mapping) and isinstance(b, Mapping):
        for key in sorted(set(a) & set(b)):
            _collect(a[key], b[key], out)
    elif isinstance(a, tuple | list) and isinstance(b, tuple | list):
        for x, y in zip(a, b, strict=False):
            _collect(x, y, out)


def _max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    if not (a.is_floating_point() or a.is_complex()):
        a, b = a.long(), b.to(a.device).long()
    return float((a - b.to(a.device)).abs().max().item()) if a.numel() else 0.0


def check_files(snapshot: Path, hub_files: Sequence[Any], record: Mapping[str, Any] | None) -> list[str]:
    """Compare the downloaded bytes with the Hub's listing and with the ``files`` that hubkit.json records.

    Args:
        snapshot: the downloaded revision folder.
        hub_files: ``RepoFile`` entries of the revision (``HfApi.list_repo_tree(..., recursive=True)``):
            each LFS file must hash to its ``lfs.sha256``, each regular file to its git ``blob_id``.
        record: ``hubkit.json``; its ``files`` map gives the sha256 and size written at conversion time.

    Returns:
        One message per file that differs (empty when all match).

    Example:
        >>> check_files(snapshot, api.list_repo_tree(repo, revision=commit, recursive=True), record)
        []
    """
    problems: list[str] = []
    digests: dict[str, tuple[str, str]] = {}

    def digest(rel: str) -> tuple[str, str] | None:
        path = snapshot / rel
        if not path.is_file():
            return None
        if rel not in digests:
            digests[rel] = file_digests(path)
        return digests[rel]

    for entry in hub_files:
        rel = getattr(entry, "path", None)
        if rel is None or not hasattr(entry, "blob_id"):
            continue  # a folder
        got = digest(rel)
        if got is None:
            problems.append(f"{rel} is listed by the Hub but was not downloaded")
            continue
        lfs = getattr(entry, "lfs", None)
        expected, actual, kind = (
            (lfs.sha256, got[0], "sha256") if lfs else (entry.blob_id, got[1], "git blob id")
        )
        if expected != actual:
            problems.append(
                f"{rel}: downloaded bytes do not match the Hub's {kind} ({actual[:12]} != {expected[:12]})"
            )
    files = record.get("files") if record else None
    if isinstance(files, Mapping):
        for rel, meta in sorted(files.items()):
            want = meta.get("sha256") if isinstance(meta, Mapping) else None
            if not want:
                continue
            got = digest(rel)
            if got is None:
                problems.append(f"{rel} is listed in hubkit.json but is not in the revision")
            elif got[0] != want:
                problems.append(
                    f"{rel}: sha256 {got[0][:12]} differs from the {want[:12]} hubkit.json recorded at conversion"
                )
    return problems
