"""Load the tag vocabulary (YAML tables shipped beside this module) once, and precompile it.

The tables are data, one entry per token, each with a meaning and a source id:

- ``tokens.yaml``: pretrained-tag tokens and phrases (``a1``, ``in1k``, ``laion2b``, ``datacomp_xl``, ``ft``),
  plus regex ``patterns`` for numeric tokens (``r384``, ``e600``, ``s34b``, ``b79k``, ``384``).
- ``datasets.yaml``: canonical dataset names and Hub dataset ids.
- ``recipes.yaml``: training recipe families (optimizer, loss, schedule, augmentation …).
- ``architectures.yaml``: architecture family rules for timm and OpenCLIP model names.
- ``papers.yaml``: papers (title, arXiv URL, BibTeX) and other references (docs, source files).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

import yaml

from hubkit.tags.model import Paper, Recipe, Reference

_FILES = ("tokens.yaml", "datasets.yaml", "recipes.yaml", "architectures.yaml", "papers.yaml")


@dataclass(frozen=True)
class Pattern:
    """A numeric token rule: ``regex`` -> ``field`` with ``value = int(group) * scale``."""

    regex: re.Pattern[str]
    field: str  # "train_resolution", "epochs", "samples_seen", "global_batch_size"
    meaning: str  # "trained at {value} px"
    source: str
    forms: tuple[str, ...]  # ("timm", "openclip"): where the rule applies


@dataclass(frozen=True)
class FamilyRule:
    """Architecture-name rule: names matching ``regex`` belong to ``family``."""

    regex: re.Pattern[str]
    family: str  # "ResNet"
    source: str  # "arXiv:1512.03385"
    pretrain_paradigm: str | None = None  # "masked image modeling (self-supervised)" for BEiT pretraining


@dataclass(frozen=True)
class Vocab:
    """The whole vocabulary, precompiled (built once per process by :func:`load`)."""

    tokens: dict[str, dict[str, Any]]  # token or phrase ("datacomp_xl") -> entry
    phrase_len: dict[str, int]  # first token of a phrase -> longest phrase starting with it ("datacomp": 2)
    patterns: tuple[Pattern, ...]
    datasets: dict[str, dict[str, Any]]
    recipes: dict[str, Recipe]
    timm_families: tuple[FamilyRule, ...]
    openclip_families: tuple[FamilyRule, ...]
    timm_family_regex: re.Pattern[str]  # all timm rules as one alternation (group rN = rule N)
    openclip_family_regex: re.Pattern[str]
    arch_words: dict[str, dict[str, Any]]  # size words / name parts ("base", "distilled", "clip")
    papers: dict[str, Paper]
    references: dict[str, Reference]


def _read(name: str) -> Any:
    text = resources.files("hubkit.tags").joinpath(name).read_text(encoding="utf-8")
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load(text, Loader=loader)


def _alternation(rules: tuple[FamilyRule, ...]) -> re.Pattern[str]:
    # One alternation in rule order: the first rule that matches wins, in a single C-level scan.
    return re.compile("|".join(f"(?P<r{i}>{r.regex.pattern})" for i, r in enumerate(rules)))


def _families(rows: list[dict[str, Any]]) -> tuple[FamilyRule, ...]:
    return tuple(
        FamilyRule(re.compile(r["match"]), r["family"], r["source"], r.get("pretrain_paradigm")) for r in rows
    )


def _phrase_lengths(tokens: dict[str, Any]) -> dict[str, int]:
    out: dict[str, int] = {}
    for key in tokens:
        first, _, rest = key.partition("_")
        if rest:
            out[first] = max(out.get(first, 1), key.count("_") + 1)
    return out


@functools.cache
def load() -> Vocab:
    """Return the precompiled vocabulary (cached: the YAML is parsed once per process).

    Returns:
        The :class:`Vocab` with every table.

    Example:
        >>> load().datasets["in1k"]["name"]
        'ImageNet-1k'
    """
    tok, ds, rec, arch, pap = (_read(n) for n in _FILES)
    tokens: dict[str, dict[str, Any]] = dict(tok["tokens"])
    patterns = tuple(
        Pattern(
            re.compile(p["regex"]),
            p["field"],
            p["meaning"],
            p["source"],
            tuple(p.get("forms", ("timm", "openclip"))),
        )
        for p in tok["patterns"]
    )
    recipes = {
        key: Recipe(token=key, **{k: v for k, v in entry.items() if k not in {"papers"}})
        for key, entry in rec.items()
    }
    papers = {
        pid: Paper(id=pid, title=p["title"], url=p["url"], bibtex=p.get("bibtex", "").strip())
        for pid, p in pap["papers"].items()
    }
    references = {
        rid: Reference(id=rid, title=r["title"], url=r["url"]) for rid, r in pap["references"].items()
    }
    timm_families, openclip_families = _families(arch["timm"]), _families(arch["openclip"])
    return Vocab(
        tokens=tokens,
        phrase_len=_phrase_lengths(tokens),
        patterns=patterns,
        datasets=ds,
        recipes=recipes,
        timm_families=timm_families,
        openclip_families=openclip_families,
        timm_family_regex=_alternation(timm_families),
        openclip_family_regex=_alternation(openclip_families),
        arch_words=arch["words"],
        papers=papers,
        references=references,
    )
