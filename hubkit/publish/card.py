"""The cards of a published run: the same context and templates as ``hubkit card``, plus the run's facts.

A branch card describes one checkpoint ("epoch N of M — an intermediate checkpoint"); the ``main`` card
describes the run (training details, per-epoch table, curves, every published revision). Both start from
:func:`hubkit.cards.context_from_tag` for the run's architecture (decoded knowledge with its provenance
when the architecture is known) and add the run through :func:`hubkit.cards.with_run`. Nothing here may
depend on the time or on the endpoint: cards are committed and must compare equal on re-runs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from hubkit import frameworks

if TYPE_CHECKING:
    from hubkit.cards.context import (
        CardContext,
        DynamicsFacts,
        EpochTable,
        PipelineTag,
        ReferenceDifference,
        RunFacts,
        VerificationFacts,
    )
    from hubkit.runs import SelectedCheckpoint, TrainingRun

MAIN_TEMPLATE = "model_card.md.j2"
CHECKPOINT_TEMPLATE = "checkpoint_card.md.j2"


def base_context(
    run: TrainingRun,
    repo_id: str,
    template_dir: Path | None = None,
    *,
    license: str | None = None,
    reference: str | None = None,
) -> CardContext:
    """The card context of the run's model, before any revision-specific part.

    Only the architecture is decoded (its family, papers); nothing from the registry's reference weights
    (their license, image size, Hub id) is used: the run's own records say what these weights are.

    Args:
        run: the training run.
        repo_id: the repo the card is for.
        template_dir: unused (kept for callers); templates are chosen when rendering.
        license: the Hub license id given with ``hubkit publish --license``; None: the card says none was given.
        reference: a pretrained tag (``hubkit publish --reference``): the card lists where the run's
            recorded hyperparameters differ from that tag's recipe.

    Example:
        >>> base_context(run, "local/timm-digits").library  # doctest: +SKIP
        'timm'
    """
    from hubkit.cards import context_from_tag, runfacts, with_run

    decoded = frameworks.get(run.framework).decode_architecture(run.architecture)
    if decoded is None:
        context = _minimal_context(run, repo_id)
    else:
        context = context_from_tag(decoded, repo_id=repo_id, enrich=False, compute_stats=False)
    size, _ = runfacts.image_size(run)
    usage = dataclasses.replace(
        context.usage,
        num_classes=run.num_classes,
        has_classifier=context.usage.has_classifier and run.num_classes != 0,
        input_size=size,
    )
    return with_run(
        context,
        run=_run_facts(run),
        epoch_table=_epoch_table(run),
        summary=runfacts.summary(run),
        license=license,
        usage=usage,
        stats=runfacts.stats(run),
        image_sizes=runfacts.image_sizes(run),
        sources=runfacts.sources(run),
        reference_difference=_reference_difference(run, reference) if reference else None,
    )


def _reference_difference(run: TrainingRun, reference: str) -> ReferenceDifference:
    """Where the run's recorded hyperparameters differ from the recipe of ``reference`` (hubkit.recipes)."""
    from hubkit.cards.context import Link, ReferenceDifference
    from hubkit.recipes import diff_hyperparams, recipe_for

    recipe = recipe_for(reference)
    rows = tuple(
        (d.name, "not recorded" if d.run is None else str(d.run), d.reference_text, d.source)
        for d in diff_hyperparams(run.hyperparams, recipe)
    )
    return ReferenceDifference(
        reference=recipe.tag,
        recipe=recipe.name,
        rows=rows,
        not_compared=tuple(recipe.unknown),
        sources=tuple(Link(f"{s.id}: {s.cite}", s.url) for s in recipe.sources),
    )


def _minimal_context(run: TrainingRun, repo_id: str) -> CardContext:
    """A context for an architecture hubkit cannot decode (custom OpenCLIP configs, new timm models)."""
    from hubkit.cards.context import CardContext

    framework = frameworks.get(run.framework)
    return CardContext(
        title=repo_id.split("/")[-1],
        tag=run.architecture,
        architecture=run.architecture,
        library=framework.name,
        pipeline_tag=cast("PipelineTag", framework.pipeline_tag),
        summary=f"{run.architecture} trained with {framework.display_name} (run {run.name}).",
        model_type=framework.model_type,
        family="",
        usage=framework.minimal_usage(repo_id),
        repo_id=repo_id,
        hub_tags=(framework.name, framework.pipeline_tag),
        notes=(
            f"{run.architecture} is not an architecture hubkit can decode; details come from the run only.",
        ),
    )


def _run_facts(run: TrainingRun) -> RunFacts:
    from hubkit.cards import runfacts
    from hubkit.cards.context import RunFacts

    return RunFacts(
        name=run.name,
        framework=run.framework,
        hyperparameters=runfacts.hyperparameters(run),
        arguments=runfacts.arguments(run),
        arguments_file=run.args_file.name,
        epochs=run.hyperparams.epochs,
        dataset=runfacts.dataset(run, "train")[0],
    )


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
    from hubkit.cards import runfacts
    from hubkit.cards.context import ResultRow

    framework = frameworks.get(run.framework)
    rows = []
    for name, (metric_type, human) in framework.result_metrics.items():
        if name in values:
            dataset, dataset_type = framework.result_datasets.get(name) or runfacts.dataset(run)
            rows.append(
                ResultRow(
                    task_type=framework.pipeline_tag,
                    dataset_name=dataset,
                    dataset_type=dataset_type,
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
    """The card's "Verification" section from a ``verification.json`` (None when there is none).

    Example:
        >>> verification_facts(None) is None
        True
    """
    import math

    from hubkit.cards.context import VerificationFacts
    from hubkit.layout import VerificationRecord

    if not data:
        return None
    record = VerificationRecord.from_json(data)
    dataset = record.eval_data or ""
    if record.num_samples:
        dataset = f"{dataset}, {record.num_samples} images".lstrip(", ")
    return VerificationFacts(
        passed=record.passed,
        revision=record.revision,
        commit=(record.commit or "")[:7],
        checks=tuple(c for c in record.checks if c.checked and math.isfinite(c.measured)),
        dataset=dataset,
        notes=record.notes,
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
    from hubkit.cards import runfacts, with_run
    from hubkit.cards.context import CheckpointFacts

    last = run.checkpoints[-1].epoch if run.checkpoints else item.epoch
    # Cards count epochs completed; timm numbers its checkpoints from 0, OpenCLIP from 1.
    completed = frameworks.get(run.framework).completed_epochs(item.epoch)
    facts = CheckpointFacts(
        epoch=completed,
        of_epochs=run.hyperparams.epochs,
        is_final=item.epoch == last,
        weights="ema" if weights == "ema" else "raw",
        metrics=_metrics(metrics),
        file=item.checkpoint.path.name,
        main_revision=main_revision or "main",
        framework_epoch=item.epoch,
    )
    context = _for_revision(base, run, revision)
    context = with_run(
        context,
        checkpoint=facts,
        summary=runfacts.summary(run, completed=completed, weights=facts.weights, metrics=metrics),
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
    weights: str | None = None,
    dynamics: DynamicsFacts | None = None,
) -> bytes:
    """README of ``main``: the run card with its revisions table.

    Args:
        rows: ``(revision, commit, epoch, metrics, note)`` per published revision, ascending epoch
            (the framework's epoch numbers; the card shows epochs completed).
        weights: ``"ema"`` / ``"raw"``: which weights main holds (None: the summary does not say).
        dynamics: the "Training dynamics" section (None: the card has none).
    """
    from hubkit.cards import runfacts, with_run
    from hubkit.cards.context import RevisionRow

    framework = frameworks.get(run.framework)
    revisions = tuple(
        RevisionRow(
            revision=rev,
            commit=commit[:7],
            epoch=framework.completed_epochs(epoch),
            metrics=_metrics(values),
            load_line=framework.load_line(base.repo_id or "", rev),
            note=note,
            framework_epoch=epoch,
        )
        for rev, commit, epoch, values, note in rows
    )
    context = with_run(
        base,
        summary=runfacts.summary(
            run,
            completed=framework.completed_epochs(item.epoch),
            weights=weights,
            metrics=metrics,
        ),
        results=_results(run, metrics, item.epoch),
        curve_image=curve_image,
        revisions=revisions,
        verification=verification_facts(verification),
        dynamics=dynamics,
    )
    return _render(context, MAIN_TEMPLATE, template_dir)


def _for_revision(context: CardContext, run: TrainingRun, revision: str) -> CardContext:
    usage = context.usage
    ref = frameworks.get(run.framework).usage_ref(context.repo_id or "", revision)
    return dataclasses.replace(
        context, revision=revision, usage=dataclasses.replace(usage, model_ref=ref, revision=revision)
    )


def _render(context: CardContext, template: str, template_dir: Path | None) -> bytes:
    from hubkit.cards import render_card

    text = render_card(context, template_dir=template_dir, template=template)
    return text.encode("utf-8") if isinstance(text, str) else bytes(text)
