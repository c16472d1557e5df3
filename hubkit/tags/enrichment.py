"""Enrich a decoded tag with what the installed timm / OpenCLIP registries know (license, sizes, ids).

This module imports timm or open_clip (and so torch) inside :func:`enrich`; importing
:mod:`hubkit.tags` never loads it. Registry facts carry ``kind="registry"`` and never overwrite decoded
ones: where the two disagree, a :class:`Conflict` is recorded and both stay visible.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from hubkit.tags.model import Conflict, Fact, FactValue, ModelTag


def _value(raw: Any) -> FactValue:
    if isinstance(raw, list | tuple):
        return tuple(raw)
    if raw is None or isinstance(raw, str | int | float | bool):
        return raw
    return str(raw)


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
    from hubkit import frameworks

    framework = frameworks.by_tag_form(tag.form)
    cfg = framework.registry_config(tag)
    source = f"registry:{tag.form}"
    facts = {
        name: Fact(_value(cfg[name]), None, "registry", source, name)
        for name in framework.registry_fields
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
