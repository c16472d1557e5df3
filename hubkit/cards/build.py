"""Build a :class:`CardContext` from a decoded tag (and, for run cards, from run pieces).

Only statements hubkit can back are put in the context: decoded tag facts (with the vocabulary source
they came from), values from the installed timm / OpenCLIP registry, statistics computed by hubkit, and
whatever a training run recorded. Unknown tag tokens become an honest note, never a guess.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, cast

from hubkit import frameworks
from hubkit.cards import tagfacts
from hubkit.cards.context import (
    CardContext,
    CheckpointFacts,
    DatasetRow,
    DynamicsFacts,
    EpochTable,
    Link,
    ModelStats,
    PipelineTag,
    ResultRow,
    RevisionRow,
    RunFacts,
    Sourced,
    VerificationFacts,
)
from hubkit.cards.registry import RegistryInfo

if TYPE_CHECKING:
    from hubkit.tags.model import ModelTag


def _decode(tag: str | ModelTag, enrich: bool) -> ModelTag:
    from hubkit import tags

    decoded = tags.decode(tag) if isinstance(tag, str) else tag
    if enrich:
        decoded = tagfacts.try_enrich(decoded)
    return decoded


_MODEL_TYPES: dict[str, str] = {
    "image-classification": "Image classification / feature backbone",
    "image-feature-extraction": "Image feature backbone (no classifier head)",
    "zero-shot-image-classification": "Contrastive image-text model (CLIP): zero-shot classification, image and text embeddings",
}


def _summary(decoded: ModelTag, pipeline: PipelineTag, lineage: tuple[DatasetRow, ...]) -> str:
    family = tagfacts.family(decoded)
    noun = {
        "image-classification": "image classification model",
        "image-feature-extraction": "image feature backbone",
        "zero-shot-image-classification": "CLIP image-text model",
    }[pipeline]
    if family and "CLIP" in family:
        noun = noun.replace("CLIP ", "")
    what = f"{family} {noun}" if family else noun
    article = "An" if what[0].lower() in "aeiou" else "A"
    first = f"{article} {what} (`{decoded.architecture.name}`)"
    clauses: list[str] = []
    verbs = {"pretrain": "pretrained on", "finetune": "fine-tuned on", "train": "trained on"}
    for step in lineage:
        clauses.append(f"{verbs.get(step.stage, 'trained on')} {step.name}")
    how = tagfacts.training_phrase(decoded)
    sentence = first
    if clauses:
        sentence += ", " + ", then ".join(clauses)
    if how:
        sentence += f", {how}"
    return sentence + "."


def _sources(decoded: ModelTag, reg: RegistryInfo | None) -> tuple[Link, ...]:
    links: list[Link] = []
    if reg is None:
        return ()
    if reg.origin_url:
        links.append(Link(frameworks.by_tag_form(decoded.form).origin_title, reg.origin_url))
    if reg.hf_hub_id:
        links.append(
            Link(f"Reference weights on the Hub: {reg.hf_hub_id}", f"https://huggingface.co/{reg.hf_hub_id}")
        )
    return tuple(links)


def _image_sizes(decoded: ModelTag, reg: RegistryInfo | None) -> tuple[Sourced, ...]:
    sizes: list[Sourced] = []
    train = decoded.train_resolution
    if train is not None:
        sizes.append(Sourced("Train", f"{train.value} x {train.value}", train.kind, train.source))
    elif reg and reg.input_size:
        sizes.append(Sourced("Train", "{} x {}".format(*reg.input_size), "registry", reg.name))
    test = decoded.eval_resolution
    if test is not None:
        sizes.append(Sourced("Test", f"{test.value} x {test.value}", test.kind, test.source))
    elif reg and reg.test_input_size:
        sizes.append(Sourced("Test", "{} x {}".format(*reg.test_input_size), "registry", reg.name))
    return tuple(sizes)


def _stats(decoded: ModelTag) -> ModelStats | None:
    try:
        return frameworks.by_tag_form(decoded.form).tag_stats(decoded)
    except Exception:  # a model that cannot run on the meta device: the card omits the numbers
        return None


def context_from_tag(
    tag: str | ModelTag,
    *,
    repo_id: str | None = None,
    revision: str | None = None,
    enrich: bool = True,
    compute_stats: bool = True,
) -> CardContext:
    """Build the card context for a timm tag or an OpenCLIP pair, offline.

    Args:
        tag: ``"resnet50.a1_in1k"``, ``"ViT-B-32/laion2b_s34b_b79k"`` or an already decoded ModelTag.
        repo_id: the Hub repo the card is for (usage code loads from it); None for a tag-only card.
        revision: the revision the card is for (usage code pins it).
        enrich: also use the installed timm / OpenCLIP registry (license, sizes, Hub ids, base model).
        compute_stats: compute params / GMACs / activations on the meta device.

    Returns:
        A frozen :class:`CardContext`.

    Raises:
        TagError: the tag cannot be decoded.

    Example:
        >>> context_from_tag("resnet50.a1_in1k").pipeline_tag
        'image-classification'
    """
    decoded = _decode(tag, enrich)
    framework = frameworks.by_tag_form(decoded.form)
    reg = framework.tag_registry(decoded) if enrich else None
    pipeline = cast(PipelineTag, framework.tag_pipeline(decoded, reg))
    lineage = tagfacts.lineage(decoded)
    base = framework.tag_base_model(decoded, lineage) if enrich else None
    library = framework.name
    title = framework.tag_title(decoded)
    return CardContext(
        title=repo_id.split("/")[-1] if repo_id else title,
        tag=title,
        architecture=decoded.architecture.name,
        library=library,
        pipeline_tag=pipeline,
        summary=_summary(decoded, pipeline, lineage),
        model_type=_MODEL_TYPES[pipeline],
        family=tagfacts.family(decoded) or "",
        usage=framework.tag_usage(decoded, reg, repo_id, revision),
        repo_id=repo_id,
        revision=revision,
        license=reg.license if reg else None,
        hub_tags=(library, pipeline),
        base_model=base.value if base else None,
        base_model_source=base,
        architecture_notes=tagfacts.architecture_notes(decoded),
        stats=_stats(decoded) if compute_stats else None,
        image_sizes=_image_sizes(decoded, reg),
        lineage=lineage,
        papers=tagfacts.papers(decoded, reg.paper_ids if reg else ()),
        sources=_sources(decoded, reg),
        training=tagfacts.training(decoded),
        notes=tagfacts.notes(decoded),
    )


def with_run(
    context: CardContext,
    *,
    run: RunFacts | None = None,
    checkpoint: CheckpointFacts | None = None,
    results: tuple[ResultRow, ...] = (),
    epoch_table: EpochTable | None = None,
    curve_image: str | None = None,
    revisions: tuple[RevisionRow, ...] = (),
    verification: VerificationFacts | None = None,
    dynamics: DynamicsFacts | None = None,
    **changes: Any,
) -> CardContext:
    """Return ``context`` with run-based parts added (the publish step's entry point).

    Args:
        context: usually from :func:`context_from_tag` for the run's model.
        run, checkpoint, results, epoch_table, curve_image, revisions, verification, dynamics: see
            :class:`CardContext`; parts left at their default keep the value ``context`` had.
        changes: other CardContext fields to replace (``summary=...``, ``title=...``).

    Returns:
        A new frozen CardContext.

    Example:
        >>> ctx = with_run(context_from_tag("test_resnet.r160_in1k"), curve_image="curves.png")
        >>> ctx.curve_image
        'curves.png'
    """
    parts: dict[str, Any] = {
        "run": run,
        "checkpoint": checkpoint,
        "results": results,
        "epoch_table": epoch_table,
        "curve_image": curve_image,
        "revisions": revisions,
        "verification": verification,
        "dynamics": dynamics,
    }
    updates = {k: v for k, v in parts.items() if v not in (None, ())}
    updates.update(changes)
    return dataclasses.replace(context, **updates)
