"""Golden cards for tags across families: the rendered README must match tests/golden/cards/ exactly.

Update after an intended change with ``make update-goldens`` (or
``pytest tests/test_cards_golden.py --update-goldens``), then review the diff.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from huggingface_hub import ModelCard
from test_cards_lint import markdown_problems

from hubkit.cards import context_from_tag, render_card
from hubkit.cards.frontmatter import card_data

GOLDEN_DIR = Path(__file__).parent / "golden" / "cards"

TAGS = [
    "resnet50.a1_in1k",  # ResNet, ResNet Strikes Back recipe
    "vit_base_patch16_224.augreg2_in21k_ft_in1k",  # ViT AugReg
    "vit_base_patch16_clip_224.laion2b_ft_in12k_in1k",  # CLIP-pretrained ViT, two fine-tunes
    "beit_base_patch16_224.in22k_ft_in22k_in1k",  # BEiT
    "eva02_large_patch14_448.mim_m38m_ft_in22k_in1k",  # EVA-02, MIM pretraining
    "convnext_small.in12k_ft_in1k_384",  # ConvNeXt, ImageNet-12k
    "tf_efficientnet_b5.ns_jft_in1k",  # EfficientNet Noisy Student
    "deit_small_distilled_patch16_224.fb_in1k",  # DeiT distilled
    "swin_base_patch4_window7_224.ms_in22k_ft_in1k",  # Swin
    "mobilenetv4_hybrid_large.ix_e600_r384_in1k",  # MobileNetV4
    "vit_small_patch14_dinov2.lvd142m",  # DINOv2 backbone, no classifier
    "ViT-B-32/laion2b_s34b_b79k",  # OpenCLIP pair
]


def golden_path(tag: str) -> Path:
    return GOLDEN_DIR / f"{tag.replace('/', '__')}.md"


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[object, str]]:
    """Render each tag once for the module (contexts + text).

    Module-scoped fixtures run before the per-test isolation of conftest, so isolate the caches here.
    """
    out = {}
    with pytest.MonkeyPatch.context() as mp:
        home = tmp_path_factory.mktemp("golden-home")
        mp.setenv("XDG_CACHE_HOME", str(home / "cache"))
        mp.setenv("HF_HOME", str(home / "hf"))
        for tag in TAGS:
            context = context_from_tag(tag)
            out[tag] = (context, render_card(context))
    return out


@pytest.mark.parametrize("tag", TAGS)
def test_card_matches_golden(
    tag: str, rendered: dict[str, tuple[object, str]], request: pytest.FixtureRequest
) -> None:
    text = rendered[tag][1]
    path = golden_path(tag)
    if request.config.getoption("--update-goldens"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return
    assert path.exists(), f"no golden file {path}: run `make update-goldens` and review it"
    assert text == path.read_text(encoding="utf-8"), (
        f"card for {tag} differs from {path}; if the change is intended run `make update-goldens` and review the diff"
    )


@pytest.mark.parametrize("tag", TAGS)
def test_card_loads_back_with_metadata_intact(tag: str, rendered: dict[str, tuple[object, str]]) -> None:
    context, text = rendered[tag]
    card = ModelCard(text, ignore_metadata_errors=False)
    expected = card_data(context).to_dict()  # type: ignore[arg-type]
    assert card.data.to_dict() == expected
    assert card.data.library_name in ("timm", "open_clip")
    assert card.data.pipeline_tag in (
        "image-classification",
        "zero-shot-image-classification",
        "image-feature-extraction",
    )
    assert card.text.lstrip().startswith("# ")


@pytest.mark.parametrize("tag", TAGS)
def test_card_passes_markdown_lint(tag: str, rendered: dict[str, tuple[object, str]]) -> None:
    assert markdown_problems(rendered[tag][1]) == []


def test_goldens_hold_no_dates_versions_or_local_paths() -> None:
    import huggingface_hub
    import timm
    import torch

    versions = (timm.__version__, torch.__version__.split("+")[0], huggingface_hub.__version__)
    for tag in TAGS:
        text = golden_path(tag).read_text(encoding="utf-8")
        for needle in ("/home/", "/tmp/", "/work/", "site-packages", *versions):
            assert needle not in text, f"{golden_path(tag)} contains {needle!r}"
        assert not re.search(r"\b20\d\d-\d\d-\d\d\b", text), f"{golden_path(tag)} contains a date"
