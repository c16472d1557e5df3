"""Analyse a training run dir: checkpoints → groups → measures → checks → report (published repos:
:mod:`hubkit.dynamics.published`).

Framework knowledge (the meta model, layer groups, lock settings, which weights) comes from the run's or
revision's framework object (``hubkit.frameworks``).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hubkit import frameworks
from hubkit.dynamics.check import flag_jumps, frozen_findings
from hubkit.dynamics.measure import Measured, measure
from hubkit.dynamics.model import CheckpointRef, DynamicsReport, GroupDynamics
from hubkit.dynamics.weights import CheckpointWeights, WeightSource
from hubkit.errors import InputError

if TYPE_CHECKING:
    import torch

    from hubkit.dynamics.locks import LockPlan
    from hubkit.frameworks import Framework
    from hubkit.runs.model import Hyperparams, TrainingRun

# Told each consecutive pair's report as soon as it is measured: (index of the later checkpoint, report of
# the two checkpoints). See :func:`build_report`.
PairCallback = Callable[[int, DynamicsReport], None]


def run_meta_model(run: TrainingRun) -> torch.nn.Module:
    """The run's model on the meta device, as conversion builds it (imports the framework's library).

    Example:
        >>> type(run_meta_model(read_run("runs/timm-digits"))).__name__
        'ResNet'
    """
    with tempfile.TemporaryDirectory(prefix="hubkit-dynamics-") as tmp:
        return frameworks.build_architecture(run, Path(tmp))[1]


def run_lock_plan(run: TrainingRun) -> LockPlan:
    """What the run's recorded lock settings freeze (no checkpoint is read).

    Example:
        >>> run_lock_plan(read_run("runs/openclip-lit")).settings
        ('--lock-image', '--lock-image-unlocked-groups 1')
    """
    from hubkit.dynamics.locks import LockPlan

    framework = frameworks.get(run.framework)
    if not framework.lock_settings(run.hyperparams):
        return LockPlan()  # no model to build
    return framework.lock_plan(run_meta_model(run), run.hyperparams)


def build_report(
    subject: str,
    framework: Framework,
    architecture: str,
    model: Any,
    hyperparams: Hyperparams,
    refs: Sequence[CheckpointRef],
    sources: Sequence[WeightSource],
    *,
    fine: bool = False,
    on_pair: PairCallback | None = None,
) -> DynamicsReport:
    """Group, measure, check: the report for checkpoints ``sources`` (oldest first) of one model.

    With ``on_pair``, each consecutive pair of checkpoints is told, in order, as soon as both are measured:
    its report (two checkpoints; measures and lock settings, no expectations or findings) comes from the
    same pass as the whole report, which then walks the checkpoints in small windows (each also reads the
    checkpoint before it, the first and the final one) instead of all at once.

    Example:
        >>> report = build_report("runs/x", frameworks.get("timm"), "resnet50", meta, hyperparams, refs, sources)
    """
    grouping = framework.layer_groups(model, fine=fine)
    plan = framework.lock_plan(model, hyperparams)
    expectations = plan.expectations(grouping)

    def pair_report(i: int, pair: Measured) -> DynamicsReport:
        return DynamicsReport(
            subject=subject,
            framework=framework.name,
            architecture=architecture,
            scheme=grouping.scheme,
            checkpoints=tuple(refs[i - 1 : i + 1]),
            groups=tuple(
                GroupDynamics(group.name, group.tower, params, buffers, None)
                for group, (params, buffers) in zip(grouping.groups, pair.series, strict=True)
            ),
            findings=(),
            lock_settings=plan.settings,
            bytes_read=pair.bytes_read,
            seconds=pair.seconds,
        )

    tell = None
    if on_pair is not None:
        told = on_pair

        def tell(i: int, pair: Measured) -> None:
            told(i, pair_report(i, pair))

    try:
        measured = measure(sources, grouping, on_checkpoint=tell)
    finally:
        for source in sources:
            source.close()
    groups = []
    for group, (params, buffers), expected in zip(
        grouping.groups, measured.series, expectations, strict=True
    ):
        groups.append(
            GroupDynamics(
                name=group.name,
                tower=group.tower,
                params=flag_jumps(params, refs) if params is not None else None,
                buffers=flag_jumps(buffers, refs) if buffers is not None else None,
                expected=expected,
            )
        )
    notes = []
    if measured.ungrouped:
        shown = ", ".join(measured.ungrouped[:5])
        notes.append(f"{len(measured.ungrouped)} tensors in no group (not measured): {shown}")
    return DynamicsReport(
        subject=subject,
        framework=framework.name,
        architecture=architecture,
        scheme=grouping.scheme,
        checkpoints=tuple(refs),
        groups=tuple(groups),
        findings=frozen_findings(groups),
        lock_settings=plan.settings,
        bytes_read=measured.bytes_read,
        seconds=measured.seconds,
        notes=tuple(notes),
    )


def analyse_run(
    path: str | Path | TrainingRun,
    *,
    select: str = "all",
    weights: str | None = None,
    fine: bool = False,
    model_config: str | Path | None = None,
    model: torch.nn.Module | None = None,
    on_pair: PairCallback | None = None,
    load: Callable[[Path], dict[str, Any]] | None = None,
) -> DynamicsReport:
    """Training dynamics of a run dir, read from its memory-mapped checkpoints.

    Args:
        path: the run dir (or the run, already read).
        select: which checkpoints (``all`` by default; any ``hubkit publish --select`` spec).
        weights: ``raw`` or ``ema`` (default: the weights hubkit publishes for the run).
        fine: timm runs: one group per block instead of per stage.
        model_config: OpenCLIP model config JSON, when the run dir does not hold it.
        model: the run's model on the meta device, when the caller built it already (:func:`run_meta_model`).
        on_pair: told each consecutive pair's report first, as soon as it is measured (:func:`build_report`).
        load: loads a checkpoint file (default: hubkit's safe loader; :class:`CheckpointWeights`).

    Returns:
        The report: per group and checkpoint measures, frozen groups expected vs observed, findings.

    Example:
        >>> report = analyse_run("runs/openclip-locked")
        >>> report.frozen_observed
        ('visual.embed', 'visual.blocks.0')
    """
    from hubkit.runs import TrainingRun, read_run, select_checkpoints

    run = path if isinstance(path, TrainingRun) else read_run(path, model_config=model_config)
    framework = frameworks.get(run.framework)
    selection = select_checkpoints(run, select)
    kind = weights or framework.default_weights(run)
    if kind not in ("raw", "ema"):
        raise InputError(f"weights must be 'raw' or 'ema', not {kind!r}", hint="Use --weights raw|ema.")
    model = model if model is not None else run_meta_model(run)
    refs = [
        CheckpointRef(f"epoch {item.epoch}", item.epoch, item.checkpoint.path.name)
        for item in selection.items
    ]
    sources: list[WeightSource] = []
    try:
        for item in selection.items:
            sources.append(CheckpointWeights(item.checkpoint.path, kind, framework, load=load))
    except BaseException:
        for source in sources:
            source.close()
        raise
    return build_report(
        str(run.path),
        framework,
        run.architecture,
        model,
        run.hyperparams,
        refs,
        sources,
        fine=fine,
        on_pair=on_pair,
    )
