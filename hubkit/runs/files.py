"""Careful access to the files of a run dir: stay inside it, refuse huge or malformed files, parse values,
merge checkpoint files and their aliases.

Shared by the run-dir readers of every framework. Every error names the file and says what to do.
"""

from __future__ import annotations

import ast
import math
from pathlib import Path
from typing import Any

from hubkit.errors import RunDirError, RunFileError
from hubkit.runs.model import CheckpointInfo, EpochMetrics

# Size limits: an args file of a real run is a few KiB; the metrics files grow with epochs.
MAX_ARGS_BYTES = 1 * 1024 * 1024  # args.yaml / params.txt / model config JSON
MAX_METRICS_BYTES = 64 * 1024 * 1024  # summary.csv / results.jsonl


def inside(run_dir: Path, path: Path) -> Path:
    """Return ``path`` if it (after following symlinks) stays inside ``run_dir``; else raise RunDirError.

    Example:
        >>> inside(Path("runs/x"), Path("runs/x/last.pth.tar"))
        PosixPath('runs/x/last.pth.tar')
    """
    root = run_dir.resolve()
    target = path.resolve()
    if target != root and root not in target.parents:
        raise RunDirError(
            f"{path} is a symlink to {target}, outside the run dir {run_dir}",
            hint="hubkit only reads files inside the run dir; copy the file into it instead of linking.",
        )
    return path


def read_text(run_dir: Path, path: Path, *, limit: int, what: str) -> str:
    """Read a UTF-8 text file of the run dir, refusing links outside it, huge and undecodable files.

    Example:
        >>> read_text(run_dir, run_dir / "args.yaml", limit=MAX_ARGS_BYTES, what="timm args")[:6]
        'aa: nu'
    """
    inside(run_dir, path)
    size = path.stat().st_size
    if size > limit:
        raise RunFileError(
            f"{path} is {size:,} bytes, more than the {limit:,} bytes a {what} file can be",
            hint="This does not look like a file written by the training script; check the run dir.",
        )
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise RunFileError(
            f"{path} is not UTF-8 text (byte {exc.start})",
            hint=f"Expected the {what} file the training script writes.",
        ) from None


def literal(text: str) -> Any:
    """Parse a value as written by ``str()`` of a Python object (params.txt); strings stay strings.

    Example:
        >>> literal("[0.5, 0.5]"), literal("None"), literal("adamw")
        ([0.5, 0.5], None, 'adamw')
    """
    stripped = text.strip()
    try:
        return ast.literal_eval(stripped)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return stripped


def finite(value: Any, *, path: Path, where: str) -> float:
    """Return ``value`` as a finite float, or raise RunFileError naming the file and place.

    Example:
        >>> finite("0.5", path=Path("summary.csv"), where="row 2, eval_top1")
        0.5
    """
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise RunFileError(
            f"{path}: {where} is {value!r}, not a number",
            hint="The metrics file is damaged; fix or remove that row.",
        ) from None
    if not math.isfinite(number):
        raise RunFileError(
            f"{path}: {where} is {number} (not finite): the run diverged or the log is damaged",
            hint="Remove the rows from that epoch on (and their checkpoints) to publish the epochs before it.",
        )
    return number


def as_float(value: Any) -> float | None:
    """A float for numbers, None for anything else (bools excluded)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    return None


def as_int(value: Any) -> int | None:
    """An int for whole numbers, None for anything else (bools excluded)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def as_str(value: Any) -> str | None:
    """A non-empty string, else None."""
    if isinstance(value, str) and value.strip():
        return value
    return None


def typed_args(
    args: dict[str, Any], keys: dict[str, str], *, ints: set[str], strs: set[str]
) -> dict[str, Any]:
    """Read the recorded arguments named by ``keys`` (common name -> run key), typed by common name.

    Names in ``ints`` become ints, in ``strs`` strings, every other one a float; unreadable values None.

    Example:
        >>> typed_args({"lr": "0.1", "epochs": "3"}, {"lr": "lr", "epochs": "epochs"}, ints={"epochs"}, strs=set())
        {'lr': 0.1, 'epochs': 3}
    """
    convert = {**dict.fromkeys(ints, as_int), **dict.fromkeys(strs, as_str)}
    return {name: convert.get(name, as_float)(args.get(key)) for name, key in keys.items()}


def as_floats(value: Any) -> tuple[float, ...] | None:
    """A tuple of floats for a non-empty list/tuple of numbers, else None."""
    if isinstance(value, list | tuple) and value and all(as_float(v) is not None for v in value):
        return tuple(float(v) for v in value)
    return None


def _peek_epoch(path: Path) -> int | None:
    """The 'epoch' stored in a checkpoint (memory-mapped, allowlisted); None if it cannot be read."""
    from hubkit.errors import HubkitError
    from hubkit.runs.safeload import peek_epoch

    try:
        return peek_epoch(path)
    except HubkitError:
        return None


def find_checkpoints(
    run_dir: Path,
    files: list[Path],
    numbered: dict[int, Path],
    aliases: dict[str, int | None],
    epochs: tuple[EpochMetrics, ...],
    notes: list[str],
) -> tuple[CheckpointInfo, ...]:
    """Merge numbered checkpoints and alias files (last/best/latest) into one CheckpointInfo per epoch.

    ``aliases`` maps an alias file name to the epoch it should hold when it is not a hard link (inferred
    from the metrics); the epoch stored in the file wins when it can be read.
    """
    metrics = {m.epoch: m for m in epochs}
    by_epoch: dict[int, dict[str, Any]] = {
        epoch: {"path": path, "aliases": [], "source": "name"} for epoch, path in numbered.items()
    }
    inode_to_epoch = {(p.stat().st_dev, p.stat().st_ino): e for e, p in numbered.items()}
    for alias_path in files:
        name = alias_path.name
        if name not in aliases:
            continue
        stat = alias_path.stat()
        linked = inode_to_epoch.get((stat.st_dev, stat.st_ino))
        if linked is not None:
            by_epoch[linked]["aliases"].append(name)
            continue
        epoch = _peek_epoch(alias_path)
        source = "file"
        if epoch is None:
            epoch, source = aliases[name], "inferred"
            notes.append(f"{name}: epoch could not be read from the file; assumed {epoch} from the metrics")
        if epoch is None:
            continue
        if epoch in by_epoch:
            by_epoch[epoch]["aliases"].append(name)
        else:
            by_epoch[epoch] = {"path": alias_path, "aliases": [], "source": source}
    return tuple(
        CheckpointInfo(
            epoch=epoch,
            path=entry["path"],
            size=entry["path"].stat().st_size,
            metrics=metrics.get(epoch),
            aliases=tuple(sorted(entry["aliases"])),
            epoch_source=entry["source"],
        )
        for epoch, entry in sorted(by_epoch.items())
    )
