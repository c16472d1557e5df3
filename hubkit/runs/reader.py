"""Detect which framework wrote a run dir and read it (see :func:`hubkit.runs.read_run`)."""

from __future__ import annotations

from pathlib import Path

from hubkit.errors import RunDirError
from hubkit.runs.model import TrainingRun
from hubkit.runs.read_mmpretrain import is_mmengine_work_dir, read_mmpretrain_run
from hubkit.runs.read_openclip import is_openclip_run, read_openclip_run
from hubkit.runs.read_timm import is_timm_run, read_timm_run

# Layouts hubkit reads: (framework, marker file, what the folder holds). Source: timm train.py and
# open_clip_train/main.py output folders.
LAYOUTS: tuple[tuple[str, str, str], ...] = (
    ("timm", "args.yaml", "args.yaml, summary.csv, checkpoint-N.pth.tar / last.pth.tar / model_best.pth.tar"),
    ("open_clip", "params.txt", "params.txt, out.log, checkpoints/epoch_N.pt and checkpoints/results.jsonl"),
    (
        "mmpretrain",
        "last_checkpoint",
        "<config>.py, epoch_N.pth, last_checkpoint, <timestamp>/vis_data/scalars.json",
    ),
)


def read_run(path: str | Path, *, model_config: str | Path | None = None) -> TrainingRun:
    """Read a timm or OpenCLIP run dir; see :func:`hubkit.runs.read_run` for the full description.

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
    if is_timm_run(run_dir) and is_openclip_run(run_dir):
        raise RunDirError(
            f"{run_dir} has both args.yaml (timm) and params.txt (OpenCLIP)",
            hint="Keep each run in its own folder.",
        )
    if is_timm_run(run_dir):
        return read_timm_run(run_dir)
    if is_openclip_run(run_dir):
        return read_openclip_run(
            run_dir, model_config=Path(model_config) if model_config is not None else None
        )
    if is_mmengine_work_dir(run_dir):
        return read_mmpretrain_run(run_dir)
    expected = "; ".join(f"{fw}: {what}" for fw, _, what in LAYOUTS)
    below = sorted(
        str(p.parent) for marker in ("args.yaml", "params.txt") for p in run_dir.glob(f"*/{marker}")
    )
    hint = f"Expected {expected}."
    if below:
        hint += f" Run dirs found one level down: {', '.join(below[:5])}."
    empty = not any(run_dir.iterdir())
    raise RunDirError(
        f"{run_dir} is {'empty' if empty else 'not a timm or OpenCLIP run dir'} (no args.yaml or params.txt)",
        hint=hint,
    )
