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
    override_families: frozenset[str]  # families some token gives its own meaning (``by_family``)
    patterns: tuple[Pattern, ...]
    datasets: dict[str, dict[str, Any]]
    recipes: dict[str, Recipe]
    timm_families: tuple[FamilyRule, ...]
    openclip_families: tuple[FamilyRule, ...]
    timm_family_index: FamilyIndex  # the timm rules as alternations bucketed by first character
    openclip_family_index: FamilyIndex
    families: dict[
        str, tuple[FamilyRule, ...]
    ]  # tag form ("timm", "openclip") -> its rules (architectures.yaml)
    family_indexes: dict[str, FamilyIndex]  # tag form -> its rules' index
    arch_words: dict[str, dict[str, Any]]  # size words / name parts ("base", "distilled", "clip")
    papers: dict[str, Paper]
    references: dict[str, Reference]


def _read(name: str) -> Any:
    text = resources.files("hubkit.tags").joinpath(name).read_text(encoding="utf-8")
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load(text, Loader=loader)


@dataclass(frozen=True)
class FamilyIndex:
    """Family rules as alternations (group ``rN`` = rule N), one per first character of a name.

    A name is only tried against the rules that can match its first character, in rule order, so the
    first matching rule still wins; rules whose first character isn't a plain literal are in every bucket.
    """

    by_first: dict[str, re.Pattern[str]]
    other: re.Pattern[str]  # for names whose first character no literal-start rule begins with

    def match(self, name: str) -> re.Match[str] | None:
        return self.by_first.get(name[:1], self.other).match(name)


def _scan(pattern: str) -> tuple[list[str], int]:
    """Split ``pattern`` at its top-level ``|`` up to the ``)`` closing the group it starts in.

    Returns the branches and the index of that ``)`` (``len(pattern)`` when the pattern ends first).
    """
    out, depth, in_class, start, i = [], 0, False, 0, 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            i += 1
        elif in_class:
            in_class = c != "]"
        elif c == "[":
            in_class = True
        elif c == "(":
            depth += 1
        elif c == ")":
            if depth == 0:
                break
            depth -= 1
        elif c == "|" and depth == 0:
            out.append(pattern[start:i])
            start = i + 1
        i += 1
    out.append(pattern[start:i])
    return out, i


def _first_chars(pattern: str) -> frozenset[str] | None:
    """The characters a match of ``pattern`` can start with, or None when that isn't plain to see.

    Understood: literal characters, optional ones (``g?mixer``) and non-capturing groups, optional or
    not (``(?:tf_|gc_)?efficientnet``). Anything else (classes, escapes, ``*``) answers None.
    """
    chars: set[str] = set()
    branches, _ = _scan(pattern)
    for branch in branches:
        first = _branch_first(branch)
        if first is None:
            return None
        chars |= first
    return frozenset(chars)


def _branch_first(branch: str) -> frozenset[str] | None:
    if branch.startswith("(?:"):
        inner, close = _scan(branch[3:])
        head, rest = _first_chars("|".join(inner)), branch[3 + close + 1 :]
    elif branch[:1] and branch[:1].isascii() and (branch[:1].isalnum() or branch[:1] in "_-"):
        head, rest = frozenset(branch[:1]), branch[1:]
    else:
        return None  # empty, a class, an escape, a capturing group …
    quantifier = rest[:1]
    if head is None or quantifier in ("*", "{"):
        return None
    if quantifier == "?":  # the head may be skipped: what follows can start the match too
        tail = _branch_first(rest[1:])
        return None if tail is None else head | tail
    return head


def _alternation(rules: list[tuple[int, FamilyRule]]) -> re.Pattern[str]:
    # One alternation in rule order: the first rule that matches wins, in a single C-level scan.
    return re.compile("|".join(f"(?P<r{i}>{r.regex.pattern})" for i, r in rules))


def _family_index(rules: tuple[FamilyRule, ...]) -> FamilyIndex:
    firsts = [_first_chars(r.regex.pattern) for r in rules]
    letters = sorted(set().union(*(f for f in firsts if f is not None)))
    by_first = {
        c: _alternation(
            [(i, r) for i, (r, f) in enumerate(zip(rules, firsts, strict=True)) if f is None or c in f]
        )
        for c in letters
    }
    return FamilyIndex(
        by_first,
        _alternation([(i, r) for i, (r, f) in enumerate(zip(rules, firsts, strict=True)) if f is None]),
    )


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
    # architectures.yaml: a list of family rules per tag form (the decoders' "timm", "openclip"), and "words"
    families = {form: _families(rules) for form, rules in arch.items() if isinstance(rules, list)}
    indexes = {form: _family_index(rules) for form, rules in families.items()}
    return Vocab(
        tokens=tokens,
        phrase_len=_phrase_lengths(tokens),
        override_families=frozenset(f for entry in tokens.values() for f in entry.get("by_family", {})),
        patterns=patterns,
        datasets=ds,
        recipes=recipes,
        timm_families=families["timm"],
        openclip_families=families["openclip"],
        timm_family_index=indexes["timm"],
        openclip_family_index=indexes["openclip"],
        families=families,
        family_indexes=indexes,
        arch_words=arch["words"],
        papers=papers,
        references=references,
    )
