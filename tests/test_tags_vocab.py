"""Walk every vocabulary entry: each has a meaning and a source that resolves, and decodes on its own."""

from __future__ import annotations

import re

import pytest

from hubkit.tags import decode, paper, reference
from hubkit.tags.reader import read_tokens
from hubkit.tags.vocab import FamilyRule, _first_chars, load

VOCAB = load()


def _resolves(source: str) -> bool:
    try:
        reference(source)
    except KeyError:
        return False
    return True


@pytest.mark.parametrize("token", sorted(VOCAB.tokens))
def test_token_entry(token: str) -> None:
    entry = VOCAB.tokens[token]
    assert entry["meaning"].strip() and _resolves(entry["source"]), token
    facets = {"dataset", "recipe", "origin", "paradigm", "detail", "separator", "sets"}
    assert facets & set(entry), f"{token} states nothing"
    if "dataset" in entry:
        assert entry["dataset"] in VOCAB.datasets
    if "recipe" in entry:
        assert entry["recipe"] in VOCAB.recipes
    for over in list(entry.get("by_form", {}).values()) + list(entry.get("by_family", {}).values()):
        assert over.get("recipe") is None or over["recipe"] in VOCAB.recipes
    # the token read on its own is understood (no unknowns) in the timm form
    reading = read_tokens(token, VOCAB, "timm", "")
    assert reading.unknown == [] and "_".join(t.token for t in reading.tokens) == token


@pytest.mark.parametrize("key", sorted(VOCAB.datasets))
def test_dataset_entry(key: str) -> None:
    ds = VOCAB.datasets[key]
    assert ds["name"] and _resolves(ds["source"])
    assert isinstance(ds["hub_id_is_real"], bool)
    if ds["hub_id_is_real"]:
        assert re.fullmatch(r"[\w.-]+/[\w.-]+", ds["hub_id"]), key


@pytest.mark.parametrize("key", sorted(VOCAB.recipes))
def test_recipe_entry(key: str) -> None:
    recipe = VOCAB.recipes[key]
    assert recipe.name and _resolves(recipe.source)
    assert recipe.token == key


def test_every_recipe_and_dataset_is_reachable_from_a_token() -> None:
    named = {e.get("recipe") for e in VOCAB.tokens.values()}
    named |= {
        o.get("recipe")
        for e in VOCAB.tokens.values()
        for o in [*e.get("by_form", {}).values(), *e.get("by_family", {}).values()]
    }
    assert set(VOCAB.recipes) <= named
    assert set(VOCAB.datasets) <= {e.get("dataset") for e in VOCAB.tokens.values()}


@pytest.mark.parametrize("pid", sorted(VOCAB.papers))
def test_paper_entry(pid: str) -> None:
    p = paper(pid)
    number = pid.removeprefix("arXiv:")
    assert re.fullmatch(r"\d{4}\.\d{5}|\d{4}\.\d{4}", number)
    assert p.url == f"https://arxiv.org/abs/{number}" and p.title
    if p.bibtex:
        assert p.bibtex.startswith("@") and p.title in p.bibtex and f"arXiv:{number}" in p.bibtex
        assert f"year={{20{number[:2]}}}" in p.bibtex


def test_every_cited_source_resolves() -> None:
    sources = {e["source"] for e in VOCAB.tokens.values()}
    sources |= {r.source for r in VOCAB.timm_families + VOCAB.openclip_families}
    sources |= {p.source for p in VOCAB.patterns}
    sources |= {w["source"] for w in VOCAB.arch_words["_openclip"].values()}
    assert sorted(s for s in sources if not _resolves(s)) == []
    assert all(r.url.startswith("https://") for r in VOCAB.references.values())


def test_family_rules_match_their_own_examples() -> None:
    # first-match order matters: specific rules must shadow general ones
    assert decode("convnextv2_tiny").architecture.family.value == "ConvNeXt V2"
    assert decode("eva02_base_patch14_224").architecture.family.value == "EVA-02"
    assert decode("deit3_base_patch16_224").architecture.family.value == "DeiT III"
    assert decode("swinv2_tiny_window8_256").architecture.window.value == 8
    assert decode("swin_base_patch4_window7_224").architecture.family.value == "Swin"
    assert decode("regnety_160").architecture.input_size is None  # 160 is a RegNet size, not pixels
    assert decode("vit_base_patch14_dinov2").architecture.family.value == "DINOv2 ViT"


@pytest.mark.parametrize(
    ("pattern", "firsts"),
    [
        ("resnet", "r"),
        ("halo|eca_halonext|sehalonet", "ehs"),
        ("g?mixer_", "gm"),
        ("(?:tf_|gc_)?efficientnetv2", "egt"),
        ("(?:legacy_)?se(?:resnet|net)", "ls"),
        ("ViT-[\\w-]*SigLIP", "V"),
        ("(?:x|y)resnet", "xy"),
        ("\\d+net", None),  # an escape first: may start with anything
        ("[ab]net", None),
        ("a*b", None),
        ("(?:a|)b", None),  # an empty branch inside the group
    ],
)
def test_first_characters_of_family_rules(pattern: str, firsts: str | None) -> None:
    assert _first_chars(pattern) == (None if firsts is None else frozenset(firsts))


def _first_rule(name: str, rules: tuple[FamilyRule, ...]) -> int | None:
    return next((i for i, r in enumerate(rules) if r.regex.match(name)), None)


def _names() -> list[str]:
    timm = pytest.importorskip("timm")
    open_clip = pytest.importorskip("open_clip")
    timm_names = sorted({n.partition(".")[0] for n in timm.list_models(pretrained=False)})
    return [*timm_names, *{m for m, _ in open_clip.list_pretrained()}, "", "zzz", "0net", "Vit-b", "_x"]


def test_family_index_picks_the_first_matching_rule_for_every_known_name() -> None:
    # The bucketed index must give what trying every rule in order gives, for all timm architectures.
    for name in _names():
        for rules, index in (
            (VOCAB.timm_families, VOCAB.timm_family_index),
            (VOCAB.openclip_families, VOCAB.openclip_family_index),
        ):
            m = index.match(name)
            got = int(m.lastgroup[1:]) if m is not None and m.lastgroup else None
            assert got == _first_rule(name, rules), name
