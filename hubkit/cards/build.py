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
    PublishedResult,
    PublishedResults,
    PublishedZeroShot,
    ResultRow,
    RevisionRow,
    RunFacts,
    Sourced,
    VerificationFacts,
)
from hubkit.cards.registry import RegistryInfo
from hubkit.recipes.cardfacts import card_dataset_names, card_papers

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
    if reg and reg.crop_pct is not None:  # the eval crop timm's registry gives, at each size
        crop = f"{reg.crop_pct:g}"
        if reg.test_crop_pct is not None and reg.test_input_size and reg.test_crop_pct != reg.crop_pct:
            crop += f" at the train size, {reg.test_crop_pct:g} at the test size"
        sizes.append(Sourced("Eval crop", crop, "registry", reg.name))
    return tuple(sizes)


def _sizes(decoded: ModelTag, reg: RegistryInfo | None) -> tuple[int | None, int | None]:
    """The train and test resolutions as numbers (tag first, then the registry), for the results rows."""
    train = decoded.train_resolution.value if decoded.train_resolution else None
    if train is None and reg and reg.input_size:
        train = reg.input_size[0]
    test = decoded.eval_resolution.value if decoded.eval_resolution else None
    if test is None and reg and reg.test_input_size:
        test = reg.test_input_size[0]
    as_int = [int(v) if isinstance(v, int | float) else None for v in (train, test)]
    return as_int[0], as_int[1] if as_int[1] is not None else as_int[0]


def _published(decoded: ModelTag, reg: RegistryInfo | None) -> PublishedResults | None:
    """The reference weights' ImageNet-1k results from the library's published table (hubkit.recipes)."""
    from hubkit.recipes.cardfacts import results_section

    train, test = _sizes(decoded, reg)
    section = results_section(decoded.raw, train_size=train, test_size=test)
    if section is None:
        return None
    rows = tuple(
        PublishedResult(r.result.img_size, r.result.crop_pct, r.result.top1, r.result.top5, r.role)
        for r in section.rows
    )
    return PublishedResults(
        rows=rows,
        source=section.source.short or section.source.id,
        source_url=section.source.url,
        train_size=section.train_size,
        test_size=section.test_size,
        test_gain=section.test_gain,
    )


def _zero_shot(decoded: ModelTag) -> PublishedZeroShot | None:
    """OpenCLIP's published zero-shot results of the pair (hubkit.recipes data); None for other tags."""
    from hubkit.recipes.results import openclip_results_for
    from hubkit.recipes.sources import sources

    found = openclip_results_for(decoded.architecture.name, decoded.pretrained)
    if found is None:
        return None
    source = sources()[found.source]
    return PublishedZeroShot(found.imagenet1k_top1, found.average_38, source.short or source.id, source.url)


def _staged(decoded: ModelTag) -> tuple[Sourced, ...]:
    """Staged training (resolutions, samples at each) where the weights' publisher states it."""
    from hubkit.recipes.openclip import openclip_release
    from hubkit.recipes.sources import sources

    release = openclip_release(decoded.architecture.name, decoded.pretrained)
    if release.staged_source is None:
        return ()
    source = sources()[release.staged_source]
    return (Sourced("Staged training", release.staged, "publisher", source.id, source.url),)


def _licence_source(reg: RegistryInfo | None) -> Sourced | None:
    if reg is None or reg.license_source is None:
        return None
    source_id, url = reg.license_source
    return Sourced("License", reg.license_stated, "publisher", source_id, url)


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
        license_name=reg.license_name if reg else None,
        license_link=reg.license_link if reg else None,
        license_source=_licence_source(reg),
        card_datasets=card_dataset_names(decoded),
        hub_tags=(library, pipeline),
        base_model=base.value if base else None,
        base_model_source=base,
        architecture_notes=tagfacts.architecture_notes(decoded),
        stats=_stats(decoded) if compute_stats else None,
        image_sizes=_image_sizes(decoded, reg),
        lineage=lineage,
        papers=tagfacts.papers(
            dataclasses.replace(decoded, papers=card_papers(decoded)), reg.paper_ids if reg else ()
        ),
        sources=_sources(decoded, reg),
        published_results=_published(decoded, reg) if enrich else None,
        published_zero_shot=_zero_shot(decoded) if enrich else None,
        training=tagfacts.training(decoded) + (_staged(decoded) if enrich else ()),
        notes=tagfacts.notes(decoded),
        results=framework.tag_results(decoded) if enrich else (),
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
