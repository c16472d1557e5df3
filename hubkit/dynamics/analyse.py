"""Analyse a training run dir or a published repo: checkpoints → groups → measures → checks → report.

Framework knowledge (how to build the meta model, group layers and read lock settings) is looked up in
the small tables below, one entry per framework, never by comparing names in the flow.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hubkit.dynamics.check import flag_jumps, frozen_findings
from hubkit.dynamics.groups import groups_open_clip, groups_timm
from hubkit.dynamics.locks import LockPlan, lock_plan_open_clip, lock_plan_timm
from hubkit.dynamics.measure import measure
from hubkit.dynamics.model import CheckpointRef, DynamicsReport, GroupDynamics, Grouping
from hubkit.dynamics.weights import CheckpointWeights, SafetensorsWeights, WeightSource
from hubkit.errors import InputError

if TYPE_CHECKING:
    import torch

    from hubkit.runs.model import Hyperparams, TrainingRun


@dataclass(frozen=True)
class FrameworkDynamics:
    """What the analysis needs from one framework (moves into hubkit/frameworks once that layer exists)."""

    groups: Callable[[Any, bool], Grouping]  # (meta model, fine) -> groups
    lock_plan: Callable[[Any, Hyperparams], LockPlan]  # (meta model, hyperparams) -> what the run froze


def _timm_groups(model: Any, fine: bool) -> Grouping:
    return groups_timm(model, fine=fine)


def _open_clip_groups(model: Any, fine: bool) -> Grouping:
    return groups_open_clip(model)


FRAMEWORKS: dict[str, FrameworkDynamics] = {
    "timm": FrameworkDynamics(_timm_groups, lock_plan_timm),
    "open_clip": FrameworkDynamics(_open_clip_groups, lock_plan_open_clip),
}


def _framework(name: str) -> FrameworkDynamics:
    try:
        return FRAMEWORKS[name]
    except KeyError:
        raise InputError(
            f"no training-dynamics support for framework {name!r}",
            hint=f"supported: {', '.join(FRAMEWORKS)}",
        ) from None


def _run_meta_model(run: TrainingRun) -> torch.nn.Module:
    """The run's model on the meta device, built as conversion builds it."""
    from hubkit.runs import convert

    if run.model_config is None:
        return convert._timm_meta_model(run)
    with tempfile.TemporaryDirectory(prefix="hubkit-dynamics-") as tmp:
        (Path(tmp) / convert.OPENCLIP_CONFIG).write_bytes(convert._openclip_config(run))
        return convert._openclip_meta_model(run, Path(tmp))


def build_report(
    subject: str,
    framework: str,
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
        >>> report = build_report("runs/x", "timm", "resnet50", meta, run.hyperparams, refs, sources)
    """
    fw = _framework(framework)
    grouping = fw.groups(model, fine)
    plan = fw.lock_plan(model, hyperparams)
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
        framework=framework,
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
    selection = select_checkpoints(run, select)
    kind = weights or ("ema" if run.hyperparams.ema else "raw")
    if kind not in ("raw", "ema"):
        raise InputError(f"weights must be 'raw' or 'ema', not {kind!r}", hint="Use --weights raw|ema.")
    model = _run_meta_model(run)
    refs = [
        CheckpointRef(f"epoch {item.epoch}", item.epoch, item.checkpoint.path.name)
        for item in selection.items
    ]
    sources: list[WeightSource] = []
    try:
        for item in selection.items:
            sources.append(CheckpointWeights(item.checkpoint.path, kind))
    except BaseException:
        for source in sources:
            source.close()
        raise
    return build_report(
        str(run.path), run.framework, run.architecture, model, run.hyperparams, refs, sources, fine=fine
    )


def _hub_meta_model(library: str, snapshot: Path) -> torch.nn.Module:
    import torch

    from hubkit.runs.convert import _openclip_meta_model

    if library == "open_clip":
        return _openclip_meta_model(None, snapshot)  # type: ignore[arg-type]
    import timm

    config = json.loads((snapshot / "config.json").read_text(encoding="utf-8"))
    kwargs = {"num_classes": config.get("num_classes"), **config.get("model_args", {})}
    with torch.device("meta"):
        return timm.create_model(config["architecture"], pretrained=False, **kwargs)


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
    from hubkit.publish.naming import STAGING_PREFIX
    from hubkit.runs.model import Hyperparams
    from hubkit.runs.read_openclip import _hyperparams as openclip_hyperparams
    from hubkit.verify.loader import LIBRARY_FILES, detect_library, download_revision
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
        record_path = snapshot / "hubkit.json"
        record = json.loads(record_path.read_text(encoding="utf-8")) if record_path.is_file() else {}
        found.append((record.get("epoch"), name, snapshot, record))
    if not revisions:
        found.sort(key=lambda item: (item[0] is None, item[0] if item[0] is not None else 0, item[1]))
    _, last_name, last_snapshot, last_record = found[-1]
    library = detect_library(last_snapshot, repo_id, last_name)
    weights_file = LIBRARY_FILES[library][1]
    raw = dict(last_record.get("hyperparameters") or {})
    hyperparams = (
        openclip_hyperparams({"model": "", **raw}) if library == "open_clip" else Hyperparams(raw=raw)
    )
    model = _hub_meta_model(library, last_snapshot)
    refs = [CheckpointRef(name, epoch, f"{repo_id}@{name}") for epoch, name, _, _ in found]
    sources: list[WeightSource] = [
        SafetensorsWeights(snapshot / weights_file, name=name) for _, name, snapshot, _ in found
    ]
    architecture = (last_record.get("run") or {}).get("architecture") or ""
    return build_report(repo_id, library, architecture, model, hyperparams, refs, sources, fine=fine)
