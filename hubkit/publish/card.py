"""The cards of a published run: the same context and templates as ``hubkit card``, plus the run's facts.

A branch card describes one checkpoint ("epoch N of M — an intermediate checkpoint"); the ``main`` card
describes the run (training details, per-epoch table, curves, every published revision). Both start from
:func:`hubkit.cards.context_from_tag` for the run's architecture (decoded knowledge with its provenance
when the architecture is known) and add the run through :func:`hubkit.cards.with_run`. Nothing here may
depend on the time or on the endpoint: cards are committed and must compare equal on re-runs.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hubkit.errors import TagError
from hubkit.publish.naming import load_line

if TYPE_CHECKING:
    from hubkit.cards.context import CardContext, EpochTable, RunFacts, VerificationFacts
    from hubkit.runs import SelectedCheckpoint, TrainingRun

MAIN_TEMPLATE = "model_card.md.j2"
CHECKPOINT_TEMPLATE = "checkpoint_card.md.j2"
# timm / OpenCLIP metric names -> (model-index metric type, human name). Source: timm train.py summary.csv
# columns and open_clip_train's results.jsonl keys.
METRIC_NAMES: dict[str, tuple[str, str]] = {
    "eval_top1": ("accuracy", "Top-1 accuracy"),
    "eval_top5": ("accuracy", "Top-5 accuracy"),
    "imagenet-zeroshot-val-top1": ("accuracy", "Zero-shot top-1 accuracy"),
    "image_to_text_R@1": ("recall", "Image-to-text R@1"),
    "text_to_image_R@1": ("recall", "Text-to-image R@1"),
}


def base_context(run: TrainingRun, repo_id: str, template_dir: Path | None = None) -> CardContext:
    """The card context of the run's model, before any revision-specific part.

    Example:
        >>> base_context(run, "local/timm-digits").library  # doctest: +SKIP
        'timm'
    """
    from hubkit.cards import context_from_tag, with_run

    try:
        context = context_from_tag(run.architecture, repo_id=repo_id)
    except TagError:
        context = _minimal_context(run, repo_id)
    return with_run(context, run=_run_facts(run), epoch_table=_epoch_table(run))


def _minimal_context(run: TrainingRun, repo_id: str) -> CardContext:
    """A context for an architecture hubkit cannot decode (custom OpenCLIP configs, new timm models)."""
    from hubkit.cards.context import CardContext, Library, PipelineTag, Usage

    library: Library = "open_clip" if run.framework == "open_clip" else "timm"
    pipeline: PipelineTag = (
        "zero-shot-image-classification" if library == "open_clip" else "image-classification"
    )
    return CardContext(
        title=repo_id.split("/")[-1],
        tag=run.architecture,
        architecture=run.architecture,
        library=library,
        pipeline_tag=pipeline,
        summary=f"{run.architecture} trained with {'OpenCLIP' if library == 'open_clip' else 'timm'} "
        f"(run {run.name}).",
        model_type="Contrastive image-text model" if library == "open_clip" else "Image classification",
        family="",
        usage=Usage(library, f"hf-hub:{repo_id}", repo_id=repo_id, has_classifier=library == "timm"),
        repo_id=repo_id,
        hub_tags=(library, pipeline),
        notes=(
            f"{run.architecture} is not an architecture hubkit can decode; details come from the run only.",
        ),
    )


def _run_facts(run: TrainingRun) -> RunFacts:
    from hubkit.cards.context import Hyperparameter, RunFacts

    source = run.args_file.name
    params = tuple(
        Hyperparameter(str(k), json.dumps(v) if not isinstance(v, str) else v, source)
        for k, v in run.hyperparams.raw.items()
        if not _is_local_path_key(str(k))
    )
    return RunFacts(
        name=run.name,
        framework=run.framework,
        hyperparameters=params,
        epochs=run.hyperparams.epochs,
        dataset=run.dataset,
    )


def _is_local_path_key(key: str) -> bool:
    # Output and checkpoint locations differ between machines and say nothing about the model.
    return key in {"output", "resume", "initial_checkpoint", "logs", "checkpoint_path", "experiment"}


def _epoch_table(run: TrainingRun) -> EpochTable | None:
    from hubkit.cards.context import EpochTable

    if not run.epochs:
        return None
    names = sorted({k for m in run.epochs for k in m.values if k != "epoch"})
    rows = tuple((str(m.epoch), *(_fmt(m.values.get(name)) for name in names)) for m in run.epochs)
    return EpochTable(
        columns=("epoch", *names), rows=rows, source=run.metrics_file.name if run.metrics_file else ""
    )


def _fmt(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:.4g}"


def _metrics(values: Mapping[str, float]) -> tuple[Any, ...]:
    from hubkit.cards.context import Metric

    return tuple(Metric(name, float(v)) for name, v in sorted(values.items()))


def _results(run: TrainingRun, values: Mapping[str, float], epoch: int) -> tuple[Any, ...]:
    from hubkit.cards.context import ResultRow

    task = "image-classification" if run.framework == "timm" else "zero-shot-image-classification"
    dataset = run.dataset or "validation split of the run"
    rows = []
    for name, (metric_type, human) in METRIC_NAMES.items():
        if name in values:
            rows.append(
                ResultRow(
                    task_type=task,
                    dataset_name=f"{dataset} (validation)",
                    dataset_type=dataset,
                    metric_type=metric_type,
                    metric_name=human,
                    value=float(values[name]),
                    split="validation",
                    kind="run",
                    source=f"{run.metrics_file.name if run.metrics_file else 'run'} epoch {epoch}",
                )
            )
    return tuple(rows)


def verification_facts(data: bytes | None) -> VerificationFacts | None:
    """The card's "Verified" section from a ``verification.json`` (None when there is none).

    Example:
        >>> verification_facts(None) is None
        True
    """
    from hubkit.cards.context import MetricCheck, VerificationFacts

    if not data:
        return None
    record = json.loads(data)
    checks = tuple(
        MetricCheck(
            name=c["name"],
            recorded=float(c["recorded"]),
            measured=float(c["measured"]),
            tolerance=float(c["tolerance"]),
            ok=bool(c["passed"]),
        )
        for c in record.get("checks", [])
        if c.get("recorded") is not None and c.get("measured") is not None and c.get("tolerance") is not None
    )
    evaluation = record.get("eval") or {}
    dataset = str(evaluation.get("data") or "")
    if evaluation.get("num_samples"):
        dataset = f"{dataset}, {evaluation['num_samples']} images".lstrip(", ")
    return VerificationFacts(
        passed=bool(record.get("passed")),
        revision=str(record.get("revision") or ""),
        commit=str(record.get("commit") or "")[:7],
        checks=checks,
        dataset=dataset,
        notes=tuple(str(n) for n in record.get("notes", [])),
    )


def checkpoint_card(
    base: CardContext,
    run: TrainingRun,
    item: SelectedCheckpoint,
    *,
    revision: str,
    weights: str,
    metrics: Mapping[str, float],
    verification: bytes | None,
    main_revision: str | None,
    template_dir: Path | None,
) -> bytes:
    """README of one checkpoint's branch.

    Example:
        >>> checkpoint_card(base, run, item, revision="epoch-004", weights="ema", metrics={}, verification=None,
        ...                 main_revision="main", template_dir=None)[:3]  # doctest: +SKIP
        b'---'
    """
    from hubkit.cards import with_run
    from hubkit.cards.context import CheckpointFacts

    last = run.checkpoints[-1].epoch if run.checkpoints else item.epoch
    facts = CheckpointFacts(
        # Cards count epochs completed; timm numbers its checkpoints from 0, OpenCLIP from 1.
        epoch=item.epoch + 1 if run.framework == "timm" else item.epoch,
        of_epochs=run.hyperparams.epochs,
        is_final=item.epoch == last,
        weights="ema" if weights == "ema" else "raw",
        metrics=_metrics(metrics),
        file=item.checkpoint.path.name,
        main_revision=main_revision or "main",
    )
    context = _for_revision(base, run, revision)
    context = with_run(
        context,
        checkpoint=facts,
        results=_results(run, metrics, item.epoch),
        verification=verification_facts(verification),
        notes=(*context.notes, *(f"Selected because: {reason}." for reason in item.reasons)),
    )
    return _render(context, CHECKPOINT_TEMPLATE, template_dir)


def main_card(
    base: CardContext,
    run: TrainingRun,
    item: SelectedCheckpoint,
    *,
    metrics: Mapping[str, float],
    rows: Sequence[tuple[str, str, int, Mapping[str, float], str]],
    curve_image: str | None,
    verification: bytes | None,
    template_dir: Path | None,
) -> bytes:
    """README of ``main``: the run card with its revisions table.

    Args:
        rows: ``(revision, commit, epoch, metrics, note)`` per published revision, ascending epoch.
    """
    from hubkit.cards import with_run
    from hubkit.cards.context import RevisionRow

    revisions = tuple(
        RevisionRow(
            revision=rev,
            commit=commit[:7],
            epoch=epoch,
            metrics=_metrics(values),
            load_line=load_line(run.framework, base.repo_id or "", rev),
            note=note,
        )
        for rev, commit, epoch, values, note in rows
    )
    context = with_run(
        base,
        results=_results(run, metrics, item.epoch),
        curve_image=curve_image,
        revisions=revisions,
        verification=verification_facts(verification),
    )
    return _render(context, MAIN_TEMPLATE, template_dir)


def _for_revision(context: CardContext, run: TrainingRun, revision: str) -> CardContext:
    usage = context.usage
    ref = f"hf-hub:{context.repo_id}@{revision}" if run.framework == "timm" else usage.model_ref
    return dataclasses.replace(
        context, revision=revision, usage=dataclasses.replace(usage, model_ref=ref, revision=revision)
    )


def _render(context: CardContext, template: str, template_dir: Path | None) -> bytes:
    from hubkit.cards import render_card

    text = render_card(context, template_dir=template_dir, template=template)
    return text.encode("utf-8") if isinstance(text, str) else bytes(text)
