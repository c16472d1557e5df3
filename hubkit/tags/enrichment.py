"""Enrich a decoded tag with what the installed timm / OpenCLIP registries know (license, sizes, ids).

This module imports timm or open_clip (and so torch) inside :func:`enrich`; importing
:mod:`hubkit.tags` never loads it. Registry facts carry ``kind="registry"`` and never overwrite decoded
ones: where the two disagree, a :class:`Conflict` is recorded and both stay visible.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from hubkit.errors import TagError
from hubkit.tags.model import Conflict, Fact, FactValue, ModelTag

_TIMM_FIELDS = (
    "license", "paper_ids", "input_size", "test_input_size", "crop_pct", "test_crop_pct", "num_classes",
    "mean", "std", "interpolation", "hf_hub_id", "origin_url",
)  # fmt: skip
_OPENCLIP_FIELDS = ("hf_hub", "url", "mean", "std", "interpolation", "resize_mode", "quick_gelu")


def _value(raw: Any) -> FactValue:
    if isinstance(raw, list | tuple):
        return tuple(raw)
    if raw is None or isinstance(raw, str | int | float | bool):
        return raw
    return str(raw)


def _timm_cfg(tag: ModelTag) -> dict[str, Any]:
    from timm.models import get_pretrained_cfg  # heavy: imports torch

    try:
        cfg = get_pretrained_cfg(tag.raw)
    except RuntimeError:  # timm raises for a known architecture with an unknown tag
        cfg = None
    if cfg is None:
        raise TagError(
            f"the installed timm has no pretrained config for {tag.raw!r}",
            hint="check the name with timm.list_pretrained(), or decode without --enrich",
        )
    return dict(cfg.to_dict())


def _openclip_cfg(tag: ModelTag) -> dict[str, Any]:
    import open_clip  # heavy: imports torch

    cfg = open_clip.get_pretrained_cfg(tag.architecture.name, tag.pretrained) if tag.pretrained else {}
    if not cfg:
        raise TagError(
            f"the installed OpenCLIP registry has no pretrained weights {tag.raw!r}",
            hint="check the pair with open_clip.list_pretrained(), or decode without --enrich",
        )
    return dict(cfg)


def _conflicts(tag: ModelTag, facts: dict[str, Fact]) -> list[Conflict]:
    out: list[Conflict] = []
    size = facts.get("input_size")
    if size is None or not isinstance(size.value, tuple):
        return out
    size_px = size.value[-1]
    if tag.train_resolution is not None and tag.train_resolution.value != size_px:
        out.append(
            Conflict(
                "train_resolution",
                tag.train_resolution,
                size,
                "the tag's resolution differs from the config's default input size",
            )
        )
    arch_size = tag.architecture.input_size
    if arch_size is not None and arch_size.value != size_px:
        out.append(
            Conflict(
                "architecture.input_size",
                arch_size,
                size,
                "the name encodes a different input "
                "size than the pretrained config (often a fine-tune at another resolution)",
            )
        )
    return out


def enrich(tag: ModelTag) -> ModelTag:
    """Add facts from the installed timm pretrained config or OpenCLIP registry to a decoded tag.

    Args:
        tag: a :class:`ModelTag` from :func:`hubkit.tags.decode`.

    Returns:
        A new :class:`ModelTag` with ``registry`` facts, registry paper ids added to ``papers``,
        ``eval_resolution`` from ``test_input_size`` when the tag did not give one, and ``conflicts``.

    Raises:
        TagError: the registry does not know the tag.

    Example:
        >>> enrich(decode("resnet50.a1_in1k")).eval_resolution.value
        288
    """
    if tag.form == "mmpretrain":  # its registry is the metafiles of the installed wheel (no torch)
        from hubkit.tags.mmpretrain_metafile import enrich_mmpretrain

        return enrich_mmpretrain(tag)
    timm_form = tag.form == "timm"
    cfg = _timm_cfg(tag) if timm_form else _openclip_cfg(tag)
    source = "registry:timm" if timm_form else "registry:openclip"
    fields = _TIMM_FIELDS if timm_form else _OPENCLIP_FIELDS
    facts = {
        name: Fact(_value(cfg[name]), None, "registry", source, name)
        for name in fields
        if cfg.get(name) not in (None, "", ())
    }
    papers = list(tag.papers)
    paper_ids = facts.get("paper_ids")
    if paper_ids is not None:
        ids = paper_ids.value if isinstance(paper_ids.value, tuple) else str(paper_ids.value).split(",")
        papers += [str(p).strip() for p in ids if str(p).strip() and str(p).strip() not in papers]
    eval_res = tag.eval_resolution
    test_size = facts.get("test_input_size")
    if eval_res is None and test_size is not None and isinstance(test_size.value, tuple):
        eval_res = Fact(test_size.value[-1], None, "registry", source, "eval_resolution")
    return dataclasses.replace(
        tag,
        registry=tag.registry + tuple(facts.values()),
        conflicts=tag.conflicts + tuple(_conflicts(tag, facts)),
        papers=tuple(papers),
        eval_resolution=eval_res,
    )
