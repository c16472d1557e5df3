"""Adapters from the tag decoder's ``ModelTag`` to the card's plain, sourced statements.

Kept apart from ``build.py`` so that changes in ``hubkit.tags`` touch one small module. Reads only public
fields of :mod:`hubkit.tags.model` (with ``getattr`` defaults where the decoder is still growing).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hubkit.cards.context import DatasetRow, PaperRef, Sourced

if TYPE_CHECKING:
    from hubkit.tags.model import Fact, ModelTag

# Labels for decoded fields, in the order the training section lists them.
_LABELS: dict[str, str] = {
    "paradigm": "Training paradigm",
    "origin": "Weights origin",
    "epochs": "Epochs",
    "samples_seen": "Samples seen",
    "global_batch_size": "Global batch size",
}
_RECIPE_FIELDS: tuple[tuple[str, str], ...] = (
    ("optimizer", "Optimizer"),
    ("loss", "Loss"),
    ("lr_schedule", "LR schedule"),
    ("augmentation", "Augmentation"),
    ("ema", "EMA"),
    ("grad_clip", "Gradient clipping"),
    ("epochs", "Epochs"),
    ("resolution", "Train resolution"),
)


def try_enrich(decoded: ModelTag) -> ModelTag:
    """Apply ``hubkit.tags.enrich`` (adds registry facts and conflicts) when it applies.

    A tag the installed registry does not list (a custom model) keeps its decoded facts only: the
    card then says less, and nothing false.
    """
    from hubkit.errors import TagError

    try:
        from hubkit.tags import enrich
    except ImportError:
        return decoded
    try:
        result: ModelTag = enrich(decoded)
    except TagError:
        return decoded
    return result


def source_url(source: str) -> str | None:
    """URL of a source id (``"arXiv:2110.00476"``, ``"timm:hparams"``), when hubkit's tables know it."""
    if not source:
        return None
    from hubkit import tags

    try:
        return str(tags.reference(source).url) or None
    except (KeyError, LookupError):
        if source.startswith("arXiv:"):
            return f"https://arxiv.org/abs/{source.removeprefix('arXiv:')}"
        return None


def _text(value: Any) -> str:
    if isinstance(value, tuple | list):
        return ", ".join(_text(v) for v in value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def count_words(value: Any) -> str:
    """``34_000_000_000`` -> ``"34 billion"``, ``12_800_000`` -> ``"12.8 million"``; smaller ints with commas."""
    if not isinstance(value, int) or isinstance(value, bool):
        return _text(value)
    for scale, word in ((1_000_000_000, "billion"), (1_000_000, "million")):
        if value >= scale:
            return f"{value / scale:g} {word}"
    return f"{value:,}"


def _sourced(label: str, fact: Fact) -> Sourced:
    return Sourced(label, _text(fact.value), fact.kind, fact.source, source_url(fact.source))


def family(decoded: ModelTag) -> str | None:
    """The architecture family name (``"ResNet"``), or None when the decoder does not know it."""
    value = decoded.architecture.family.value
    return None if value in (None, "", "unknown") else str(value)


def lineage(decoded: ModelTag) -> tuple[DatasetRow, ...]:
    """The dataset lineage as card rows; only Hub dataset ids known to exist are kept."""
    rows = []
    for step in decoded.lineage:
        hub_id = step.hub_id if getattr(step, "hub_id_is_real", False) else None
        samples = getattr(step, "size", None) or getattr(step, "samples", None)
        rows.append(DatasetRow(step.stage, step.name, hub_id, samples, "tag", step.source))
    return tuple(rows)


def lineage_token(decoded: ModelTag, index: int) -> str | None:
    """The tag token of one lineage step (``-1``: the last), or None."""
    try:
        return decoded.lineage[index].token
    except IndexError:
        return None


def training_phrase(decoded: ModelTag) -> str:
    """How the model was trained, as a phrase for the summary (``"with the ... recipe"``)."""
    parts: list[str] = []
    if decoded.recipes:
        names = " and ".join(r.name for r in decoded.recipes)
        noun = (
            ""
            if names.lower().endswith(("recipe", "recipes"))
            else " recipes"
            if len(decoded.recipes) > 1
            else " recipe"
        )
        parts.append(f"with the {names}{noun}")
    if decoded.samples_seen is not None:
        parts.append(f"seeing {count_words(decoded.samples_seen.value)} samples")
    if decoded.global_batch_size is not None:
        parts.append(f"at a global batch size of {_text(decoded.global_batch_size.value)}")
    return " ".join(parts)


def architecture_notes(decoded: ModelTag) -> tuple[Sourced, ...]:
    """What the architecture name encodes beyond the family: variant, patch / window size, extras."""
    arch = decoded.architecture
    items = [
        _sourced(label, fact)
        for label, fact in (
            ("Variant", arch.variant),
            ("Patch size", arch.patch_size),
            ("Window size", arch.window),
        )
        if fact is not None
    ]
    items.extend(_sourced("Detail", fact) for fact in arch.extras)
    return tuple(items)


def training(decoded: ModelTag) -> tuple[Sourced, ...]:
    """Training details, each with its provenance: recipe fields, then decoded facts and details."""
    items: list[Sourced] = []
    for recipe in decoded.recipes:
        url = source_url(recipe.source)
        items.append(Sourced("Recipe", recipe.name, "tag", recipe.source, url))
        for attr, label in _RECIPE_FIELDS:
            value = getattr(recipe, attr, None)
            if value not in (None, ""):
                items.append(Sourced(label, _text(value), "tag", recipe.source, url))
        if recipe.notes:
            items.append(Sourced("Recipe notes", recipe.notes, "tag", recipe.source, url))
    if decoded.paradigm:
        first = decoded.paradigm[0]
        value = ", ".join(_text(f.value) for f in decoded.paradigm)
        items.append(Sourced(_LABELS["paradigm"], value, first.kind, first.source, source_url(first.source)))
    for name in ("origin", "epochs", "samples_seen", "global_batch_size"):
        fact = getattr(decoded, name)
        if fact is None:
            continue
        item = _sourced(_LABELS[name], fact)
        if name == "samples_seen":
            item = Sourced(item.label, count_words(fact.value), item.kind, item.source, item.source_url)
        if not any(i.label == item.label and i.value == item.value for i in items):
            items.append(item)
    # decoded.registry (enrich's facts) is not repeated here: sizes, license, ids and preprocessing have
    # their own places in the card, read through hubkit.cards.registry.
    for fact in decoded.details:
        label = fact.field.replace("_", " ").capitalize() if fact.field else "Detail"
        items.append(_sourced(label, fact))
    return tuple(items)


def papers(decoded: ModelTag, registry_ids: tuple[str, ...] = ()) -> tuple[PaperRef, ...]:
    """Papers of the decoded tag and the registry's ``paper_ids``, de-duplicated, decoder first."""
    from hubkit import tags

    refs: list[PaperRef] = []
    for pid in dict.fromkeys((*decoded.papers, *registry_ids)):
        try:
            paper = tags.paper(pid)
        except KeyError:
            url = source_url(pid) or ""
            refs.append(PaperRef(pid, pid, url))
            continue
        refs.append(PaperRef(paper.id, paper.title, paper.url, getattr(paper, "bibtex", "") or ""))
    return tuple(refs)


def notes(decoded: ModelTag) -> tuple[str, ...]:
    """Honest caveats: tokens hubkit could not read, ambiguities and decoded-vs-registry conflicts."""
    out: list[str] = []
    if decoded.unknown_tokens:
        listed = ", ".join(f"`{t}`" for t in decoded.unknown_tokens)
        out.append(
            f"hubkit's tag vocabulary does not know the token(s) {listed} of `{decoded.raw}`; "
            "what they say about the training is not stated in this card."
        )
    out.extend(f"Ambiguous tag token: {a}" for a in decoded.ambiguous)
    for c in decoded.conflicts:
        text = (
            f"{c.field}: the tag says {_text(c.decoded.value)}, "
            f"the installed registry says {_text(c.registry.value)}"
        )
        out.append(f"{text} ({c.note})" if c.note else text)
    return tuple(out)
