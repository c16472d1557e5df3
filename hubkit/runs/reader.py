"""Detect which framework wrote a run dir and read it (see :func:`hubkit.runs.read_run`).

Each framework recognises and reads its own run dirs (:meth:`hubkit.frameworks.Framework.is_run_dir`,
``read_run``); this module only says what to do when none or several of them do.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from hubkit import frameworks
from hubkit.errors import RunDirError
from hubkit.runs.model import TrainingRun


def read_run(path: str | Path, *, model_config: str | Path | None = None) -> TrainingRun:
    """Read a run dir of any registered framework; see :func:`hubkit.runs.read_run` for the full description.

    Example:
        >>> read_run("runs/timm-digits").framework
        'timm'
    """
    run_dir = Path(path)
    if not run_dir.exists():
        raise RunDirError(
            f"run dir {run_dir} does not exist", hint="Check the path to the training output folder."
        )
    if not run_dir.is_dir():
        raise RunDirError(
            f"{run_dir} is a file, not a run dir", hint="Pass the folder the training script wrote."
        )
    found = frameworks.detect_run(run_dir)
    if len(found) > 1:
        markers = " and ".join(f"{f.run_marker} ({f.display_name})" for f in found)
        raise RunDirError(f"{run_dir} has both {markers}", hint="Keep each run in its own folder.")
    if found:
        return found[0].read_run(
            run_dir, model_config=Path(model_config) if model_config is not None else None
        )
    known = frameworks.all_frameworks()
    expected = "; ".join(f"{f.name}: {f.run_layout}" for f in known)
    below = sorted(str(p.parent) for f in known for p in run_dir.glob(f"*/{f.run_marker}"))
    hint = f"Expected {expected}."
    if below:
        hint += f" Run dirs found one level down: {', '.join(below[:5])}."
    empty = not any(run_dir.iterdir())
    names = _either(f.display_name for f in known)
    markers = _either(f.run_marker for f in known)
    raise RunDirError(
        f"{run_dir} is {'empty' if empty else f'not a {names} run dir'} (no {markers})",
        hint=hint,
    )


def _either(words: Iterable[str]) -> str:
    """``a or b`` / ``a, b or c``."""
    items = list(words)
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} or {items[-1]}"
