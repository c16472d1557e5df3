"""Decode OpenCLIP (model, pretrained) pairs: ``ViT-B-32`` + ``laion2b_s34b_b79k``.

Pure (no torch, no open_clip). The model name is read against the OpenCLIP family rules and name words of
``architectures.yaml``; the pretrained name by :mod:`hubkit.tags.reader` with the OpenCLIP meanings
(``s34b`` samples seen, ``b79k`` global batch size, ``e32`` epochs).
"""

from __future__ import annotations

import re

from hubkit.errors import TagError
from hubkit.tags.model import Architecture, Fact, ModelTag
from hubkit.tags.timm_decoder import (
    _HINT,
    _shown,
    architecture_of,
    assemble,
    family_fact,
    family_of,
    implied_pretrain,
    validate,
)
from hubkit.tags.vocab import FamilyRule, Vocab, load

_SOURCE = "openclip:pretrained"
_NUM = re.compile(r"^\d+$")
_SEPARATORS = re.compile(r"[-_]")
_SIZE_PART = re.compile(r"^(?:RN)?(?P<n>\d+)(?:x(?P<x>\d+))?$")


def decode_openclip_architecture(model: str, vocab: Vocab, rule: FamilyRule | None = None) -> Architecture:
    """Read an OpenCLIP model name (``ViT-L-14-336``, ``convnext_base_w``, ``RN50x4``).

    Args:
        model: the OpenCLIP model config name.
        vocab: the loaded vocabulary.

    Returns:
        The architecture; for ViTs the letter size (B/L/H/g/bigG/SO400M), patch size and resolution.

    Example:
        >>> decode_openclip_architecture("ViT-L-14-336", load()).input_size.value
        336
    """
    rule = rule or family_of(model, vocab, "openclip")
    family = family_fact(model, rule)
    words: dict[str, dict[str, str]] = vocab.arch_words["_openclip"]
    sizes: dict[str, str] = vocab.arch_words["_openclip_sizes"]
    parts = _SEPARATORS.split(model)
    variant = patch = size = None
    extras: list[Fact] = []
    for i, part in enumerate(parts):
        if part in sizes and variant is None and i > 0:
            variant = Fact(sizes[part], part, "tag", "openclip:models", "variant")
        elif _NUM.match(part) and i > 0:
            n = int(part)
            if n < 64 and patch is None and family.value not in ("ResNet (CLIP)", "ConvNeXt"):
                patch = Fact(n, part, "tag", "openclip:models", "patch_size")
            elif n >= 64:
                size = Fact(n, part, "tag", "openclip:models", "input_size")
        elif (m := _SIZE_PART.match(part)) and family.value == "ResNet (CLIP)":
            label = f"ResNet-{m['n']}" + (f" x{m['x']} compute scaling" if m["x"] else "")
            variant = Fact(label, part, "tag", "arXiv:2103.00020", "variant")
        elif part.lower() in words:
            w = words[part.lower()]
            if w["kind"] == "size" and variant is None:
                variant = Fact(w["meaning"], part, "tag", w["source"], "variant")
            elif w["kind"] != "size":
                extras.append(Fact(w["meaning"], part, "tag", w["source"], w["kind"]))
    return Architecture(model, family, variant, patch, None, size, tuple(extras))


def decode_openclip(model: str, pretrained: str) -> ModelTag:
    """Decode an OpenCLIP (model, pretrained) pair.

    Args:
        model: ``"ViT-B-32"``.
        pretrained: ``"laion2b_s34b_b79k"`` (may be ``""`` for the architecture alone).

    Returns:
        The decoded :class:`ModelTag` with ``form="openclip"``.

    Raises:
        TagError: either part is malformed.

    Example:
        >>> decode_openclip("ViT-B-32", "laion2b_s34b_b79k").samples_seen.value
        34000000000
    """
    model = validate(model)
    if "/" in model or "." in model:
        raise TagError(f"OpenCLIP model name {_shown(model)} must not contain '/' or '.'", hint=_HINT)
    pretrained = pretrained.strip() if isinstance(pretrained, str) else pretrained
    if pretrained:
        pretrained = validate(pretrained)
        if "/" in pretrained or "." in pretrained or "-" in pretrained:
            raise TagError(
                f"OpenCLIP pretrained name {_shown(pretrained)} must be letters, digits and '_'", hint=_HINT
            )
    vocab = load()
    raw = f"{model}/{pretrained}" if pretrained else model
    rule, arch = architecture_of(model, "openclip", vocab, decode_openclip_architecture)
    return assemble(raw, "openclip", arch, pretrained, vocab, implied_pretrain(rule))
