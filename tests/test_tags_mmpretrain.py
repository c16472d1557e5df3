"""MMPreTrain names: the whole installed zoo decodes with no unknown token; documented examples exactly."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hubkit.errors import TagError
from hubkit.tags import ModelTag, decode, reference
from hubkit.tags.mmpretrain_decoder import (
    _NAME,
    clear_cache,
    decode_mmpretrain,
    load,
    looks_like_mmpretrain,
    validate,
)
from hubkit.tags.mmpretrain_metafile import enrich_mmpretrain, zoo


@pytest.fixture(scope="module")
def zoo_names() -> list[str]:
    return list(zoo())


@pytest.mark.slow
def test_metafile_zoo_is_list_models() -> None:
    mmpretrain = pytest.importorskip("mmpretrain")
    assert sorted(zoo()) == sorted(mmpretrain.list_models())


def test_every_zoo_name_decodes_with_no_unknown_token(zoo_names: list[str]) -> None:
    clear_cache()
    partial = {n: d.unknown_tokens for n in zoo_names if (d := decode(n)).unknown_tokens}
    print(f"decoded {len(zoo_names)} MMPreTrain zoo names, {len(partial)} with unknown tokens")
    assert len(zoo_names) == 548  # mmpretrain 1.2.0, pinned in constraints.txt
    assert partial == {}
    assert all(
        decode(n).form == "mmpretrain" and decode(n).architecture.family.value != "unknown" for n in zoo_names
    )


def test_every_token_is_read_exactly_once(zoo_names: list[str]) -> None:
    for name in zoo_names:
        tag = decode_mmpretrain(name)
        pieces = [t.token for t in tag.tokens if t.role not in ("family", "variant", "patch_size", "window")]
        assert "".join(t.token for t in tag.tokens).replace("-", "") == name.replace("_", "").replace(
            "-", ""
        ), name
        assert pieces  # every name has tokens after its backbone, or an algorithm


def test_warm_and_cold_decodes_are_equal(zoo_names: list[str]) -> None:
    clear_cache()
    cold = [decode_mmpretrain(n) for n in zoo_names]
    assert [decode_mmpretrain(n) for n in zoo_names] == cold


def test_every_source_resolves() -> None:
    vocab = load()
    tables = [vocab.algorithms, vocab.tokens, *(dict(w) for w in [vocab.words])]
    sources = {e["source"] for t in tables for e in t.values() if "source" in e}
    sources |= {f.source for f in vocab.families.values()} | {r.source for r in vocab.numbers}
    for source in sorted(sources):
        assert reference(source).url.startswith("https://"), source


# The convention page's examples and the issue's, decoded field by field.
def test_rsb_example() -> None:
    tag = decode("resnet50_8xb256-rsb-a1-600e_in1k")
    assert (tag.architecture.family.value, tag.architecture.variant.value) == ("ResNet", "50")
    assert tag.global_batch_size.value == 2048
    assert {(f.field, f.value) for f in tag.details} >= {("gpus", 8), ("per_gpu_batch_size", 256)}
    assert [r.name for r in tag.recipes] == ["ResNet Strikes Back A1"]
    assert tag.epochs.value == 600 and tag.epochs.token == "600e"
    assert [(s.stage, s.name) for s in tag.lineage] == [("train", "ImageNet-1k")]
    assert [p.value for p in tag.paradigm] == ["supervised"]


def test_vit_mae_recipe_example() -> None:
    tag = decode("vit-base-p16_32xb128-mae_in1k")
    arch = tag.architecture
    assert (arch.family.value, arch.variant.value, arch.patch_size.value) == (
        "Vision Transformer",
        "base",
        16,
    )
    assert tag.global_batch_size.value == 4096
    assert [p.value for p in tag.paradigm] == ["supervised"]  # MAE's supervised recipe, not MAE pretraining
    assert ("recipe", "the supervised ViT training recipe of the MAE paper (from scratch)") in {
        (f.field, f.value) for f in tag.details
    }


def test_convnext_v2_fcmae_example() -> None:
    tag = decode("convnext-v2-huge_fcmae-in21k-pre_3rdparty_in1k-512px")
    assert (tag.architecture.family.value, tag.architecture.variant.value) == ("ConvNeXt V2", "huge")
    assert [(s.stage, s.token) for s in tag.lineage] == [("pretrain", "in21k"), ("finetune", "in1k")]
    assert tag.paradigm[0].value.startswith("fully convolutional masked autoencoder")
    assert ("pretrain_method", "FCMAE") in {(f.field, f.value) for f in tag.details}
    assert tag.origin is not None and tag.origin.token == "3rdparty"
    assert tag.train_resolution.value == 512


def test_mae_algorithm_example() -> None:
    tag = decode("mae_vit-base-p16_8xb512-amp-coslr-300e_in1k")
    assert tag.architecture.name == "vit-base-p16"
    assert [t.role for t in tag.tokens][:1] == ["algorithm"]
    assert [p.value for p in tag.paradigm] == ["masked image modeling (self-supervised)"]
    details = {(f.field, f.value) for f in tag.details}
    assert {
        ("algorithm", "MAE"),
        ("precision", "automatic mixed precision"),
        ("lr_schedule", "cosine annealing"),
    } <= details
    assert tag.epochs.value == 300 and tag.global_batch_size.value == 4096


def test_pretrained_only_release_names_its_pretraining_data() -> None:
    tag = decode("vit-base-p14_eva02-pre_in21k")
    assert [(s.stage, s.token) for s in tag.lineage] == [("pretrain", "in21k")]
    fine = decode("resnet50_spark-pre_300e_in1k")
    assert [(s.stage, s.token) for s in fine.lineage] == [("finetune", "in1k")]
    assert fine.epochs.value == 300


def test_unknown_tokens_are_reported_not_guessed() -> None:
    tag = decode("resnet50_8xb32-zz9-coslr_in1k")
    assert tag.unknown_tokens == ("zz9",)
    assert not tag.fully_decoded
    assert ("zz9", "unknown") in {(t.token, t.role) for t in tag.tokens}
    odd = decode("foonet-base_8xb32_in1k")
    assert odd.architecture.family.value == "unknown" and "foonet-base" in odd.unknown_tokens


def test_enrich_adds_metafile_facts() -> None:
    tag = enrich_mmpretrain(decode("resnet50_8xb32_in1k"))
    facts = {f.field: f.value for f in tag.registry}
    assert facts["flops"] == zoo()["resnet50_8xb32_in1k"].flops == 4_120_000_000
    assert facts["Top 1 Accuracy (ImageNet-1k)"] == 76.55
    assert all(f.kind == "registry" for f in tag.registry)
    with pytest.raises(TagError, match="no model"):
        enrich_mmpretrain(decode("resnet50_8xb32-coslr_in1k"))


def test_detection_keeps_timm_and_openclip_names_apart(zoo_names: list[str]) -> None:
    timm = pytest.importorskip("timm")
    open_clip = pytest.importorskip("open_clip")
    assert all(looks_like_mmpretrain(n) for n in zoo_names)
    assert not [n for n in timm.list_pretrained() if looks_like_mmpretrain(n)]
    assert not [n for n in timm.list_models() if looks_like_mmpretrain(n)]
    clip = [m for m, _ in open_clip.list_pretrained()] + [p for _, p in open_clip.list_pretrained()]
    assert not [n for n in clip if looks_like_mmpretrain(n)]


@pytest.mark.slow
def test_every_config_of_the_wheel_decodes() -> None:
    mmpretrain = pytest.importorskip("mmpretrain")
    from pathlib import Path

    configs = Path(mmpretrain.__file__).parent / ".mim" / "configs"
    # default_runtime.py is a shared runtime file, not a model config
    stems = sorted(
        {p.stem for p in configs.glob("*/*.py") if not p.stem.startswith("_")} - {"default_runtime"}
    )
    partial = {s: d.unknown_tokens for s in stems if (d := decode(s)).unknown_tokens}
    print(f"decoded {len(stems)} config names of the wheel, {len(partial)} with unknown tokens")
    assert partial == {}


def test_config_names_keep_their_case_and_decode_as_the_zoo_name() -> None:
    tag = decode("repvgg-A0_8xb32_in1k")  # the wheel's config file name
    assert tag.raw == "repvgg-A0_8xb32_in1k" and tag.form == "mmpretrain"
    assert dataclasses.replace(tag, raw="repvgg-a0_8xb32_in1k") == decode("repvgg-a0_8xb32_in1k")


@pytest.mark.parametrize(
    ("bad", "says"),
    [
        ("resnet50_8xb32__in1k", "empty part"),
        ("resnet50_8xb32-_in1k", "empty part"),
        ("resnet50_8xb32_in1k-", "empty part"),
        ("resnet50_8xb32_іn1k", "U+0456"),
        ("resnet50_8xb32 in1k", "' '"),
        ("x" * 300 + "_in1k", "characters long"),
    ],
)
def test_bad_input_is_a_tag_error(bad: str, says: str) -> None:
    with pytest.raises(TagError) as err:
        decode_mmpretrain(bad)
    assert says in str(err.value) and err.value.hint
    assert len(str(err.value)) < 400


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=120) | st.text(alphabet="abc019-_. xA", max_size=40))
def test_any_text_decodes_or_is_a_tag_error(text: str) -> None:
    try:
        tag = decode_mmpretrain(text)
    except TagError as err:
        assert err.hint
        return
    assert isinstance(tag, ModelTag) and tag.raw == text.strip()
    assert dataclasses.asdict(tag)  # JSON-ready structure, no crash


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="abc019-_.", max_size=30))
def test_validation_fast_path_agrees(text: str) -> None:
    ok = bool(_NAME.fullmatch(text))
    try:
        validate(text)
        accepted = True
    except TagError:
        accepted = False
    assert accepted == ok
