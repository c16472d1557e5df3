"""Decode timm names: ``architecture.tag`` (``resnet50.a1_in1k``) into a :class:`ModelTag`.

Pure (no torch, no timm): the name is validated, the architecture part is read against the family rules
and name words of ``architectures.yaml``, the tag part by :mod:`hubkit.tags.reader`.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from hubkit.errors import TagError
from hubkit.tags import reader
from hubkit.tags.model import Architecture, Fact, ModelTag
from hubkit.tags.reader import Form, read_tag
from hubkit.tags.vocab import FamilyRule, Vocab, load

MAX_LEN = 200  # the longest timm name is < 80 characters; anything far longer is not a tag
_ALLOWED = re.compile(r"[A-Za-z0-9_.\-/]+")
_HINT = "pass a timm name like resnet50.a1_in1k or an OpenCLIP pair like ViT-B-32/laion2b_s34b_b79k"
_PATCH = re.compile(r"^(?:patch|p)(?P<n>\d+)$")
_WINDOW = re.compile(r"^window(?P<n>\d+)(?:to\d+)?$")
_RES = re.compile(r"^(?P<n>[1-9]\d{2,3})(?:to(?P<m>\d+))?$")
_NAME_SOURCE = "timm:models"
_FAMILY_WORD = re.compile(r"^[a-z]+(?:v\d+)?")  # "resnet" of "resnet50", "mobilenetv4" of "mobilenetv4"
_PARTS = re.compile(r"[./]")
ArchReader = Callable[[str, Vocab, FamilyRule | None], Architecture]
# Exactly the well-formed tags: at most one '.' or '/' between parts, tokens joined by single '_'. Valid
# input (nearly all of it) passes with this one match; anything else takes the checks that explain why.
_WELL_FORMED = re.compile(r"[A-Za-z0-9\-]+(?:_[A-Za-z0-9\-]+)*(?:[./][A-Za-z0-9\-]+(?:_[A-Za-z0-9\-]+)*)?")


def _shown(text: str) -> str:
    return repr(text if len(text) <= 60 else text[:57] + "...")


def validate(text: object) -> str:
    """Check that ``text`` is a well-formed tag string; return it stripped of surrounding spaces.

    Args:
        text: what the user gave.

    Returns:
        The stripped tag.

    Raises:
        TagError: empty, too long, non-ASCII / control characters, empty parts (``..``, ``a.``, ``_x``).

    Example:
        >>> validate("  resnet50.a1_in1k ")
        'resnet50.a1_in1k'
    """
    if not isinstance(text, str):
        raise TagError(f"a tag must be a string, got {type(text).__name__}", hint=_HINT)
    tag = text.strip()
    if len(tag) <= MAX_LEN and _WELL_FORMED.fullmatch(tag):
        return tag
    return _explain_invalid(tag)


def _explain_invalid(tag: str) -> str:
    """Say what is wrong with a stripped tag the fast check refused (returns it if nothing is)."""
    if not tag:
        raise TagError("the tag is empty", hint=_HINT)
    if len(tag) > MAX_LEN:
        raise TagError(f"the tag is {len(tag)} characters long (at most {MAX_LEN})", hint=_HINT)
    if not _ALLOWED.fullmatch(tag):
        bad = next(c for c in tag if not _ALLOWED.fullmatch(c))
        raise TagError(
            f"tag {_shown(tag)} contains {bad!r} (U+{ord(bad):04X}) at position {tag.index(bad)}; "
            "tags use only ASCII letters, digits, '_', '-', '.' and '/'",
            hint="retype the tag (look-alike unicode characters often come from copy-paste)",
        )
    for sep in (".", "/"):
        if tag.count(sep) > 1:
            raise TagError(f"tag {_shown(tag)} has more than one {sep!r}", hint=_HINT)
        if sep in tag and any(not part for part in tag.split(sep)):
            raise TagError(f"tag {_shown(tag)} has an empty part around {sep!r}", hint=_HINT)
    if "." in tag and "/" in tag:
        raise TagError(f"tag {_shown(tag)} mixes the timm '.' and OpenCLIP '/' forms", hint=_HINT)
    # An empty token is a doubled '_' or a '_' at either end of a part (parts are split on '.' and '/').
    if "__" in tag or any(part[:1] == "_" or part[-1:] == "_" for part in _PARTS.split(tag)):
        raise TagError(
            f"tag {_shown(tag)} has an empty token (a doubled, leading or trailing '_')", hint=_HINT
        )
    return tag


def family_of(name: str, vocab: Vocab, form: Form) -> FamilyRule | None:
    """Return the first family rule of ``form`` matching ``name`` (None when no rule does)."""
    m = vocab.family_indexes[form].match(name)
    if m is None or m.lastgroup is None:
        return None
    return vocab.families[form][int(m.lastgroup[1:])]


def family_fact(name: str, rule: FamilyRule | None) -> Fact:
    """The architecture family of ``name`` as a Fact (value ``"unknown"`` when no rule matched)."""
    if rule is None:
        return Fact("unknown", None, "tag", "", "family")
    return Fact(rule.family, name, "tag", rule.source, "family")


def implied_pretrain(rule: FamilyRule | None) -> Fact | None:
    """The paradigm a family's pretraining implies (BEiT: masked image modeling), as a Fact."""
    if rule is None or not rule.pretrain_paradigm:
        return None
    return Fact(rule.pretrain_paradigm, None, "tag", rule.source, "paradigm")


def decode_architecture(name: str, vocab: Vocab, rule: FamilyRule | None = None) -> Architecture:
    """Read a timm architecture name (``beit_base_patch16_224``) into an :class:`Architecture`.

    Args:
        name: the part before the dot.
        vocab: the loaded vocabulary.
        rule: the family rule when the caller already looked it up.

    Returns:
        The architecture with family, variant, patch size, window and input size where the name has them.

    Example:
        >>> decode_architecture("beit_base_patch16_224", load()).patch_size.value
        16
    """
    rule = rule or family_of(name, vocab, "timm")
    family = family_fact(name, rule)
    parts = name.split("_")
    patch = window = size = None
    sizes: list[str] = []
    extras: list[Fact] = []
    number_is_size = bool(rule and rule.family in vocab.arch_words.get("_numbers_are_sizes", ()))
    for i, part in enumerate(parts):
        word = vocab.arch_words.get(part)
        if not part[-1].isdigit():
            pass  # patch / window / resolution parts all end in a digit: skip the regexes
        elif m := _PATCH.match(part):
            patch = Fact(int(m["n"]), part, "tag", _NAME_SOURCE, "patch_size")
        elif m := _WINDOW.match(part):
            window = Fact(int(m["n"]), part, "tag", _NAME_SOURCE, "window")
        elif i > 0 and not number_is_size and (m := _RES.match(part)) and _plausible_res(int(m["n"])):
            size = Fact(int(m["m"] or m["n"]), part, "tag", _NAME_SOURCE, "input_size")
        if word is not None and isinstance(word, dict):
            if word["kind"] == "size":
                sizes.append(part)
            else:
                extras.append(Fact(word["meaning"], part, "tag", word["source"], word["kind"]))
    variant = None
    if sizes:
        variant = Fact("_".join(sizes), "_".join(sizes), "tag", _NAME_SOURCE, "variant")
    else:
        rest = [p for p in parts if p not in vocab.arch_words]
        tail = _FAMILY_WORD.sub("", rest[0]) if rest else ""
        rest_variant = tail or (rest[1] if len(rest) > 1 and any(c.isdigit() for c in rest[1]) else "")
        if rest_variant:
            variant = Fact(rest_variant, rest_variant, "tag", _NAME_SOURCE, "variant")
    return Architecture(name, family, variant, patch, window, size, tuple(extras))


def _plausible_res(n: int) -> bool:
    # Resolutions are multiples of 16 or 14 (patch sizes); width multipliers like 100/130/150/200 are not.
    return 96 <= n <= 2048 and (n % 16 == 0 or n % 14 == 0)


def assemble(
    raw: str, form: Form, arch: Architecture, pretrained: str, vocab: Vocab, implied: Fact | None = None
) -> ModelTag:
    """Combine an architecture and its read pretrained tag into a frozen :class:`ModelTag`."""
    r = read_tag(pretrained, vocab, form, str(arch.family.value), implied)
    papers = r.papers
    if arch.family.source.startswith("arXiv:") and arch.family.source not in papers:
        papers = (arch.family.source, *papers)
    return ModelTag(
        raw=raw,
        form=form,
        architecture=arch,
        pretrained=pretrained,
        origin=r.origin,
        paradigm=r.paradigm,
        lineage=r.lineage,
        train_resolution=r.train_resolution,
        eval_resolution=r.eval_resolution,
        epochs=r.epochs,
        samples_seen=r.samples_seen,
        global_batch_size=r.global_batch_size,
        recipes=r.recipes,
        details=r.details,
        tokens=r.tokens,
        unknown_tokens=r.unknown,
        ambiguous=r.ambiguous,
        papers=papers,
    )


def decode_timm(name: str) -> ModelTag:
    """Decode a timm model name with or without a pretrained tag.

    Args:
        name: ``"resnet50.a1_in1k"`` or a bare architecture ``"resnet50"``.

    Returns:
        The decoded :class:`ModelTag`; unknown tokens are listed in ``unknown_tokens``.

    Raises:
        TagError: the name is malformed.

    Example:
        >>> decode_timm("resnet50.a1_in1k").recipes[0].optimizer
        'LAMB'
    """
    return _decode_valid(validate(name))


def _decode_valid(tag: str) -> ModelTag:
    if "/" in tag:
        raise TagError(
            f"{_shown(tag)} is an OpenCLIP pair, not a timm name", hint="use decode() or decode_openclip()"
        )
    arch_name, _, pretrained = tag.partition(".")
    vocab = load()
    rule, arch = architecture_of(arch_name, "timm", vocab)
    return assemble(tag, "timm", arch, pretrained, vocab, implied_pretrain(rule))


def architecture_of(
    name: str, form: Form, vocab: Vocab, read: ArchReader | None = None
) -> tuple[FamilyRule | None, Architecture]:
    """The family rule and architecture of a model name, read by ``read`` once per (form, name).

    ``read`` defaults to :func:`decode_architecture` (timm names); the OpenCLIP decoder passes its own.
    """
    cached = _ARCH_CACHE.get((form, name))
    if cached is None:
        rule = family_of(name, vocab, form)
        arch = (read or decode_architecture)(name, vocab, rule)
        if len(_ARCH_CACHE) >= _ARCH_CACHE_MAX:
            _ARCH_CACHE.clear()
        cached = _ARCH_CACHE[(form, name)] = (rule, arch)
    return cached


# Registries hold several pretrained tags per architecture (1,826 timm tags, 1,151 architectures), and the
# family rules are one long regex alternation: reading each architecture once is the main saving. Both
# values are immutable, so sharing them is safe; the bound keeps junk input from growing the cache.
_ARCH_CACHE: dict[tuple[str, str], tuple[FamilyRule | None, Architecture]] = {}
_ARCH_CACHE_MAX = 8192


def clear_caches() -> None:
    """Forget decoded architectures and tag readings (benchmarks call this to time cold decoding)."""
    _ARCH_CACHE.clear()
    reader.clear_cache()
