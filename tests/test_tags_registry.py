"""Every pretrained tag of the pinned timm and OpenCLIP decodes with zero unknown tokens."""

from __future__ import annotations

import pytest

from hubkit.tags import decode, decode_openclip, enrich


@pytest.fixture(scope="module")
def timm_tags() -> list[str]:
    timm = pytest.importorskip("timm")
    return list(timm.list_pretrained())


@pytest.fixture(scope="module")
def openclip_pairs() -> list[tuple[str, str]]:
    open_clip = pytest.importorskip("open_clip")
    return list(open_clip.list_pretrained())


def test_every_timm_tag_decodes_fully(timm_tags: list[str]) -> None:
    failures = {}
    for name in timm_tags:
        tag = decode(name)
        if not tag.fully_decoded:
            failures[name] = (tag.unknown_tokens, tag.architecture.family.value)
        # every token of the pretrained tag is accounted for exactly once, in order
        assert "_".join(t.token for t in tag.tokens) == tag.pretrained, name
        assert tag.origin is None or tag.origin.value, name  # an override's "origin: null" is no origin
    print(f"decoded {len(timm_tags)} timm tags, {len(failures)} with unknowns")
    assert len(timm_tags) >= 1800
    assert failures == {}


def test_every_openclip_pair_decodes_fully(openclip_pairs: list[tuple[str, str]]) -> None:
    failures = {}
    for model, pretrained in openclip_pairs:
        tag = decode_openclip(model, pretrained)
        if not tag.fully_decoded:
            failures[f"{model}/{pretrained}"] = (tag.unknown_tokens, tag.architecture.family.value)
        assert "_".join(t.token for t in tag.tokens) == pretrained
        assert tag.origin is None or tag.origin.value, pretrained
    print(f"decoded {len(openclip_pairs)} OpenCLIP pairs, {len(failures)} with unknowns")
    assert len(openclip_pairs) >= 190
    assert failures == {}


def test_remembered_readings_decode_exactly_like_cold_ones(
    timm_tags: list[str], openclip_pairs: list[tuple[str, str]]
) -> None:
    # The decoder remembers architectures and tag readings across calls; a warm decode must equal one
    # made with nothing remembered, for every registry tag (family overrides, implied pretraining …).
    from hubkit.tags.timm_decoder import clear_caches

    names = [*timm_tags, *(f"{m}/{p}" for m, p in openclip_pairs)]
    warm = [decode(n) for n in names]  # second pass below reuses what this one remembered
    warm = [decode(n) for n in names]
    cold = []
    for n in names:
        clear_caches()
        cold.append(decode(n))
    assert warm == cold


def test_every_timm_tag_has_a_training_dataset_or_release(timm_tags: list[str]) -> None:
    # A tag that names neither data, origin, paradigm nor detail would mean the vocabulary is hollow.
    empty = [
        n
        for n in timm_tags
        if not (lambda t: t.lineage or t.origin or t.paradigm or t.details or t.recipes)(decode(n))
    ]
    assert empty == []


def test_enriched_timm_tags_never_conflict_on_train_resolution(timm_tags: list[str]) -> None:
    conflicts = []
    for name in timm_tags:
        tag = enrich(decode(name))
        conflicts += [(name, c.field) for c in tag.conflicts]
    assert conflicts == []


@pytest.mark.parametrize("first", ["vit_base_patch16_224.augreg_in21k", "convnext_base.augreg_in21k"])
def test_family_meanings_survive_a_shared_reading(first: str) -> None:
    # "augreg" means the ViT AugReg recipe, but for ConvNeXt the OpenCLIP one: whichever family reads the
    # tag first, the other must still get its own meaning.
    decode(first)
    assert decode("vit_base_patch16_224.augreg_in21k").recipes[0].token == "augreg"
    assert decode("convnext_base.augreg_in21k").recipes[0].token == "augreg_openclip"
