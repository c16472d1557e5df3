"""Analyse a training run dir or a published repo: checkpoints → groups → measures → checks → report.

Framework knowledge (the meta model, layer groups, lock settings, which weights) comes from the run's or
revision's framework object (``hubkit.frameworks``).
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hubkit import frameworks
from hubkit.dynamics.check import flag_jumps, frozen_findings
from hubkit.dynamics.measure import measure
from hubkit.dynamics.model import CheckpointRef, DynamicsReport, GroupDynamics
from hubkit.dynamics.weights import CheckpointWeights, SafetensorsWeights, WeightSource
from hubkit.errors import InputError

if TYPE_CHECKING:
    import torch

    from hubkit.frameworks import Framework
    from hubkit.runs.model import Hyperparams, TrainingRun


def _run_meta_model(framework: Framework, run: TrainingRun) -> torch.nn.Module:
    """The run's model on the meta device, as conversion builds it."""
    with tempfile.TemporaryDirectory(prefix="hubkit-dynamics-") as tmp:
        return framework.architecture(run, Path(tmp))[1]


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
) -> DynamicsReport:
    """Group, measure, check: the report for checkpoints ``sources`` (oldest first) of one model.

    Example:
        >>> report = build_report("runs/x", frameworks.get("timm"), "resnet50", meta, hyperparams, refs, sources)
    """
    grouping = framework.layer_groups(model, fine=fine)
    plan = framework.lock_plan(model, hyperparams)
    expectations = plan.expectations(grouping)
    try:
        measured = measure(sources, grouping)
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
    path: str | Path,
    *,
    select: str = "all",
    weights: str | None = None,
    fine: bool = False,
    model_config: str | Path | None = None,
) -> DynamicsReport:
    """Training dynamics of a timm / OpenCLIP run dir, read from its memory-mapped checkpoints.

    Args:
        path: the run dir.
        select: which checkpoints (``all`` by default; any ``hubkit publish --select`` spec).
        weights: ``raw`` or ``ema`` (default: the weights hubkit publishes for the run).
        fine: timm runs: one group per block instead of per stage.
        model_config: OpenCLIP model config JSON, when the run dir does not hold it.

    Returns:
        The report: per group and checkpoint measures, frozen groups expected vs observed, findings.

    Example:
        >>> report = analyse_run("runs/openclip-locked")
        >>> report.frozen_observed
        ('visual.embed', 'visual.blocks.0')
    """
    from hubkit.runs import read_run, select_checkpoints

    run = read_run(path, model_config=model_config)
    framework = frameworks.get(run.framework)
    selection = select_checkpoints(run, select)
    kind = weights or framework.default_weights(run)
    if kind not in ("raw", "ema"):
        raise InputError(f"weights must be 'raw' or 'ema', not {kind!r}", hint="Use --weights raw|ema.")
    model = _run_meta_model(framework, run)
    refs = [
        CheckpointRef(f"epoch {item.epoch}", item.epoch, item.checkpoint.path.name)
        for item in selection.items
    ]
    sources: list[WeightSource] = []
    try:
        for item in selection.items:
            sources.append(CheckpointWeights(item.checkpoint.path, kind, framework))
    except BaseException:
        for source in sources:
            source.close()
        raise
    return build_report(
        str(run.path), framework, run.architecture, model, run.hyperparams, refs, sources, fine=fine
    )


def analyse_repo(
    repo_id: str,
    revisions: Sequence[str] = (),
    *,
    endpoint: str | None,
    token: str | None,
    cache_dir: Path,
    fine: bool = False,
) -> DynamicsReport:
    """Training dynamics of a published repo, from each revision's safetensors (no run needed).

    Args:
        repo_id: ``org/name``.
        revisions: revisions to compare (default: every branch but ``main`` and staging branches, ordered
            by the epoch their ``hubkit.json`` records).
        endpoint / token: the Hub.
        cache_dir: where revisions are downloaded.
        fine: timm repos: one group per block.

    Example:
        >>> analyse_repo("local/timm-digits", endpoint=url, token=None, cache_dir=tmp).checkpoints[0].label
        'epoch-000'
    """
    from hubkit.layout import HUBKIT_JSON, HubkitRecord
    from hubkit.publish.naming import STAGING_PREFIX
    from hubkit.verify.loader import download_revision
    from hubkit.verify.verifier import list_revisions

    names = list(revisions) or [
        r for r in list_revisions(repo_id, endpoint=endpoint, token=token)
        if r != "main" and not r.startswith(STAGING_PREFIX)
    ]  # fmt: skip
    if not names:
        raise InputError(
            f"{repo_id} has no revision besides main to compare",
            hint="publish several checkpoints (hubkit publish --select) or name revisions with --revision",
        )
    found = []
    for name in names:
        snapshot = download_revision(repo_id, name, endpoint=endpoint, token=token, cache_dir=cache_dir)
        record_path = snapshot / HUBKIT_JSON
        record = HubkitRecord.from_json(record_path.read_bytes()) if record_path.is_file() else None
        found.append((record.epoch if record else None, name, snapshot, record))
    if not revisions:
        found.sort(key=lambda item: (item[0] is None, item[0] if item[0] is not None else 0, item[1]))
    _, last_name, last_snapshot, last_record = found[-1]
    framework = frameworks.detect_revision(last_snapshot)
    if framework is None:
        raise InputError(
            f"{repo_id}@{last_name} is not a release of any framework hubkit knows "
            f"(files: {sorted(p.name for p in last_snapshot.iterdir())})",
            hint=f"known frameworks: {', '.join(frameworks.names())}",
        )
    hyperparams = framework.record_hyperparams(last_record.hyperparameters if last_record else {})
    model = framework.revision_model(last_snapshot)
    refs = [CheckpointRef(name, epoch, f"{repo_id}@{name}") for epoch, name, _, _ in found]
    sources: list[WeightSource] = [
        SafetensorsWeights(snapshot / framework.weights_file, name=name) for _, name, snapshot, _ in found
    ]
    architecture = last_record.run.architecture if last_record else ""
    return build_report(repo_id, framework, architecture, model, hyperparams, refs, sources, fine=fine)
