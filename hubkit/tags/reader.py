"""Read the tokens of a pretrained tag (``a1_in1k``, ``laion2b_s34b_b79k``) against the vocabulary.

Shared by the timm and OpenCLIP decoders. Pure: strings in, dataclass parts out. Multi-token phrases
(``datacomp_xl``, ``qwen3_5_0_8b``) are matched greedily, longest first; numeric tokens (``r384``,
``e600``, ``s34b``) through the regex patterns; anything else is reported as unknown, never guessed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from hubkit.tags.model import DatasetStep, Fact, Recipe, TokenReading
from hubkit.tags.vocab import Vocab

Form = Literal["timm", "openclip"]
Stage = Literal["pretrain", "finetune", "train"]
_SCALE = {"": 1, "k": 1_000, "m": 1_000_000, "b": 1_000_000_000}


@dataclass
class Reading:
    """Mutable accumulator while reading one tag; the decoders turn it into a frozen ModelTag."""

    tokens: list[TokenReading] = field(default_factory=list)
    origin: Fact | None = None
    paradigm: list[Fact] = field(default_factory=list)
    lineage: list[DatasetStep] = field(default_factory=list)
    recipes: list[Recipe] = field(default_factory=list)
    details: list[Fact] = field(default_factory=list)
    numbers: dict[str, Fact] = field(default_factory=dict)  # train_resolution, epochs, samples_seen …
    unknown: list[str] = field(default_factory=list)
    ambiguous: list[str] = field(default_factory=list)
    papers: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class TagReading:
    """The frozen result of reading one pretrained tag: what :func:`read_tag` shares between decodes."""

    origin: Fact | None
    paradigm: tuple[Fact, ...]
    lineage: tuple[DatasetStep, ...]
    train_resolution: Fact | None
    eval_resolution: Fact | None
    epochs: Fact | None
    samples_seen: Fact | None
    global_batch_size: Fact | None
    recipes: tuple[Recipe, ...]
    details: tuple[Fact, ...]
    tokens: tuple[TokenReading, ...]
    unknown: tuple[str, ...]
    ambiguous: tuple[str, ...]
    papers: tuple[str, ...]


# Registries reuse few pretrained tags across many architectures (1,826 timm names, 319 distinct tags):
# reading each (tag, form, family-with-overrides, implied pretraining) once is safe because the result is
# frozen. Bounded so junk input cannot grow it without limit.
_READ_CACHE: dict[tuple[str, str, str, Fact | None], TagReading] = {}
_READ_CACHE_MAX = 8192


def read_tag(
    pretrained: str, vocab: Vocab, form: Form, family: str, family_pretrain: Fact | None = None
) -> TagReading:
    """Like :func:`read_tokens`, but frozen and remembered (the same tag reads the same every time).

    Example:
        >>> read_tag("a1_in1k", load(), "timm", "ResNet").epochs.value
        600
    """
    # Only families that some token overrides change a reading; every other family shares one entry.
    key = (pretrained, form, family if family in vocab.override_families else "", family_pretrain)
    hit = _READ_CACHE.get(key)
    if hit is not None:
        return hit
    r = read_tokens(pretrained, vocab, form, family, family_pretrain)
    reading = TagReading(
        r.origin,
        tuple(r.paradigm),
        tuple(r.lineage),
        r.numbers.get("train_resolution"),
        r.numbers.get("eval_resolution"),
        r.numbers.get("epochs"),
        r.numbers.get("samples_seen"),
        r.numbers.get("global_batch_size"),
        tuple(r.recipes),
        tuple(r.details),
        tuple(r.tokens),
        tuple(r.unknown),
        tuple(r.ambiguous),
        tuple(r.papers),
    )
    if len(_READ_CACHE) >= _READ_CACHE_MAX:
        _READ_CACHE.clear()
    _READ_CACHE[key] = reading
    return reading


def clear_cache() -> None:
    """Forget remembered readings (benchmarks call this to time cold decoding)."""
    _READ_CACHE.clear()


def _entry_for(entry: dict[str, Any], form: Form, family: str) -> dict[str, Any]:
    """Apply per-form / per-family overrides (a token can mean different things in OpenCLIP)."""
    over = entry.get("by_form", {}).get(form) or entry.get("by_family", {}).get(family)
    if over:
        merged = {k: v for k, v in entry.items() if k not in ("by_form", "by_family")}
        merged.update(over)
        return merged
    return entry


def _add_paper(reading: Reading, source: str) -> None:
    if source.startswith("arXiv:") and source not in reading.papers:
        reading.papers.append(source)


def read_tokens(
    pretrained: str, vocab: Vocab, form: Form, family: str, family_pretrain: Fact | None = None
) -> Reading:
    """Read every token of ``pretrained`` (the part after the dot / the OpenCLIP pretrained name).

    Args:
        pretrained: ``"a1_in1k"``; may be empty.
        vocab: the loaded vocabulary.
        form: ``"timm"`` or ``"openclip"`` (selects per-form meanings and numeric patterns).
        family: the architecture family (selects per-family meanings).
        family_pretrain: the paradigm the family's pretraining stage implies (BEiT: masked image
            modeling), used for datasets before ``ft`` when no token names a paradigm there.

    Returns:
        A :class:`Reading` with every token accounted for.

    Example:
        >>> read_tokens("a1_in1k", load(), "timm", "ResNet").recipes[0].name
        'ResNet Strikes Back A1'
    """
    r = Reading()
    parts = pretrained.split("_") if pretrained else []
    # (dataset step, stage marker) collected first; stages are fixed once separators are known.
    pending: list[tuple[str, dict[str, Any], str, int]] = []  # (token, dataset entry, source, segment)
    segment, reverse = 0, False
    paradigm_segments: set[int] = set()
    i, n = 0, len(parts)
    while i < n:
        entry, key = None, parts[i]
        # Only tokens that start a multi-token phrase ("datacomp", "qwen3") pay for the phrase search.
        for length in range(min(vocab.phrase_len.get(key, 1), n - i), 0, -1):
            phrase = "_".join(parts[i : i + length]) if length > 1 else key
            if phrase in vocab.tokens:
                entry, key = _entry_for(vocab.tokens[phrase], form, family), phrase
                i += length
                break
        if entry is None:
            i += 1
            if not (key[-1].isdigit() or key[-1] in "bekmp") or not _read_number(key, vocab, form, r):
                r.unknown.append(key)
                r.tokens.append(TokenReading(key, "unknown", "no vocabulary entry", ""))
            continue
        source = entry["source"]
        _add_paper(r, source)
        role = "detail"
        if "separator" in entry:
            role = "separator"
            if entry["separator"] == "finetuned_from":
                reverse = True
            segment += 1
        if "dataset" in entry:
            role = "dataset"
            ds = vocab.datasets[entry["dataset"]]
            pending.append((key, ds, ds.get("source", source), segment))
        if "recipe" in entry:
            role = "recipe"
            recipe = vocab.recipes[entry["recipe"]]
            r.recipes.append(recipe)
            _add_paper(r, recipe.source)
            if recipe.epochs is not None and "epochs" not in r.numbers:
                r.numbers["epochs"] = Fact(recipe.epochs, key, "tag", recipe.source, "epochs")
        if "paradigm" in entry:
            role = "paradigm" if role == "detail" else role
            paradigm_segments.add(segment)
            r.paradigm.append(Fact(entry["paradigm"], key, "tag", source, "paradigm"))
        if entry.get("origin") is not None:  # an override may say "no origin here" (origin: null)
            role = "origin" if role == "detail" else role
            fact = Fact(entry["origin"], key, "tag", source, "origin")
            if r.origin is None:
                r.origin = fact
            else:
                r.details.append(Fact(entry["origin"], key, "tag", source, "also from"))
        if "detail" in entry:
            r.details.append(Fact(entry["detail"], key, "tag", source, entry.get("field", "detail")))
        for name, value in entry.get("sets", {}).items():
            r.numbers.setdefault(name, Fact(value, key, "tag", source, name))
        if "ambiguous" in entry:
            r.ambiguous.append(f"{key}: {entry['ambiguous']}")
        r.tokens.append(TokenReading(key, role, entry["meaning"], source))
    before_ft = any(seg == 0 for *_, seg in pending)
    if (
        family_pretrain is not None
        and segment > 0
        and not reverse
        and 0 not in paradigm_segments
        and before_ft
    ):
        r.paradigm.insert(0, family_pretrain)
        paradigm_segments.add(0)
    if segment > 0 and pending and all(seg == 0 for *_, seg in pending) and not reverse:
        r.ambiguous.append("ft: the fine-tuning dataset is not named in the tag")
    _fix_lineage(r, pending, segment, reverse, paradigm_segments)
    return r


def _fix_lineage(
    r: Reading,
    pending: list[tuple[str, dict[str, Any], str, int]],
    segments: int,
    reverse: bool,
    explicit: set[int],
) -> None:
    """Turn collected datasets into ordered stages: before ``ft`` pretrain, after it fine-tune."""
    steps: list[tuple[int, DatasetStep]] = []
    for token, ds, source, seg in pending:
        stage: Stage
        if segments == 0:
            stage = "train"
        elif reverse:  # "mscoco_finetuned_laion2b": what precedes was fine-tuned from what follows
            stage = "finetune" if seg == 0 else "pretrain"
        else:
            stage = "pretrain" if seg == 0 else "finetune"
        step = DatasetStep(
            stage, ds["name"], token, ds.get("hub_id"), bool(ds.get("hub_id_is_real")), source, ds.get("size")
        )
        steps.append((0 if stage == "pretrain" else 1, step))
        # A dataset implies a paradigm (in1k: supervised) only where no token of its segment said one.
        if ds.get("paradigm") and seg not in explicit:
            fact = Fact(ds["paradigm"], token, "tag", source, "paradigm")
            if fact.value not in {p.value for p in r.paradigm}:
                r.paradigm.append(fact)
    # Stable sort keeps tag order inside a stage and puts pretraining first (matters only for reverse).
    r.lineage = [s for _, s in sorted(steps, key=lambda x: x[0])] if reverse else [s for _, s in steps]


def _read_number(token: str, vocab: Vocab, form: Form, r: Reading) -> bool:
    for p in vocab.patterns:
        if form not in p.forms:
            continue
        m = p.regex.match(token)
        if m is None:
            continue
        value = int(m.group("n")) * _SCALE[(m.groupdict().get("unit") or "").lower()]
        if p.field in r.numbers:
            r.ambiguous.append(f"{token}: a second {p.field} in one tag (kept {r.numbers[p.field].value})")
        else:
            r.numbers[p.field] = Fact(value, token, "tag", p.source, p.field)
        r.tokens.append(TokenReading(token, p.field, p.meaning.format(value=value), p.source))
        return True
    return False
