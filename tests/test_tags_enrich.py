"""Enrichment from the installed timm / OpenCLIP registries: provenance 'registry', conflicts recorded."""

from __future__ import annotations

import dataclasses

import pytest
from click.testing import CliRunner

from hubkit.cli import cli
from hubkit.errors import TagError
from hubkit.tags import Fact, decode, enrich

pytest.importorskip("timm")


def test_timm_enrich_adds_registry_facts() -> None:
    tag = enrich(decode("resnet50.a1_in1k"))
    facts = {f.field: f for f in tag.registry}
    assert {f.kind for f in tag.registry} == {"registry"} and {f.token for f in tag.registry} == {None}
    assert facts["license"].value == "apache-2.0"
    assert facts["input_size"].value == (3, 224, 224)
    assert facts["num_classes"].value == 1000
    assert facts["hf_hub_id"].value == "timm/resnet50.a1_in1k"
    assert tag.eval_resolution == Fact(288, None, "registry", "registry:timm", "eval_resolution")
    assert tag.conflicts == ()
    # decoded facts are untouched
    assert tag.recipes == decode("resnet50.a1_in1k").recipes


def test_conflict_is_recorded_not_resolved() -> None:
    decoded = decode("resnet50.a1_in1k")
    claimed = dataclasses.replace(
        decoded, train_resolution=Fact(320, "r320", "tag", "timm:models", "train_resolution")
    )
    tag = enrich(claimed)
    (conflict,) = tag.conflicts
    assert conflict.field == "train_resolution"
    assert conflict.decoded.value == 320 and conflict.registry.value == (3, 224, 224)
    assert tag.train_resolution.value == 320  # the decoded value stays; the conflict says so


def test_openclip_enrich() -> None:
    pytest.importorskip("open_clip")
    tag = enrich(decode("ViT-B-32/laion2b_s34b_b79k"))
    facts = {f.field: f.value for f in tag.registry}
    assert facts["hf_hub"] == "laion/CLIP-ViT-B-32-laion2B-s34B-b79K/"
    assert {f.source for f in tag.registry} == {"registry:openclip"}


def test_unknown_to_registry_is_a_tag_error() -> None:
    with pytest.raises(TagError, match="no pretrained config"):
        enrich(decode("resnet50.qqq_zzz"))


def test_cli_enrich_flag() -> None:
    result = CliRunner().invoke(cli, ["decode", "resnet50.a1_in1k", "--enrich"])
    assert result.exit_code == 0
    assert "  registry:     license = apache-2.0" in result.output
    assert "  eval res:     288 px (registry; registry:timm)" in result.output
