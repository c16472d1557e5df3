"""Golden cards for MMPreTrain zoo models: decoder + installed metafile, offline.

Update after an intended change with ``pytest tests/test_cards_mmpretrain.py --update-goldens`` (or
``make update-goldens``), then review the diff. FLOPs, params and Top-1/Top-5 must equal the metafile's.
"""

from __future__ import annotations

import pytest
from huggingface_hub import ModelCard
from test_cards_golden import golden_path
from test_cards_lint import markdown_problems

from hubkit.cards import context_from_tag, render_card
from hubkit.cards.frontmatter import card_data
from hubkit.tags.mmpretrain_metafile import zoo

NAMES = [
    "resnet50_8xb256-rsb-a1-600e_in1k",  # ResNet, ResNet Strikes Back A1
    "vit-base-p16_mae-1600e-pre_8xb128-coslr-100e_in1k",  # ViT, MAE-pretrained then fine-tuned
    "swin-tiny_16xb64_in1k",  # Swin
    "convnext-v2-huge_fcmae-in21k-pre_3rdparty_in1k-512px",  # ConvNeXt-V2 FCMAE (CC-BY-NC upstream)
    "deit-small_4xb256_in1k",  # DeiT
    "efficientnet-b0_3rdparty_8xb32_in1k",  # EfficientNet (converted)
    "mobilenet-v3-small_8xb128_in1k",  # MobileNet-V3
    "beit-base-p16_beit-in21k-pre_3rdparty_in1k",  # BEiT
    "vit-base-p16_clip-openai-pre_3rdparty_in1k",  # CLIP-pretrained ViT
    "mocov3_resnet50_8xb512-amp-coslr-800e_in1k",  # self-supervised, no results
]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[object, str]]:
    out = {}
    with pytest.MonkeyPatch.context() as mp:
        home = tmp_path_factory.mktemp("golden-home")
        mp.setenv("XDG_CACHE_HOME", str(home / "cache"))
        mp.setenv("HF_HOME", str(home / "hf"))
        for name in NAMES:
            context = context_from_tag(name)
            out[name] = (context, render_card(context))
    return out


@pytest.mark.parametrize("name", NAMES)
def test_card_matches_golden(
    name: str, rendered: dict[str, tuple[object, str]], request: pytest.FixtureRequest
) -> None:
    text = rendered[name][1]
    path = golden_path(name)
    if request.config.getoption("--update-goldens"):
        path.write_text(text, encoding="utf-8")
        return
    assert path.exists(), f"no golden file {path}: run `make update-goldens` and review it"
    assert text == path.read_text(encoding="utf-8"), f"card for {name} differs from {path}"


@pytest.mark.parametrize("name", NAMES)
def test_card_numbers_are_the_metafiles(name: str, rendered: dict[str, tuple[object, str]]) -> None:
    context, text = rendered[name]
    model = zoo()[name]
    stats = context.stats  # type: ignore[attr-defined]
    assert round(stats.params_m * 1e6) == model.params
    assert round(stats.gmacs * 1e9) == model.flops
    results = {(r.dataset_name, r.metric_name): r.value for r in context.results}  # type: ignore[attr-defined]
    assert results.get((model.results[0].dataset, "Top-1 accuracy") if model.results else None) == model.top1
    assert context.license == model.license  # type: ignore[attr-defined]
    card = ModelCard(text, ignore_metadata_errors=False)
    assert card.data.to_dict() == card_data(context).to_dict()  # type: ignore[arg-type]
    assert card.data.library_name == "mmpretrain"
    assert not markdown_problems(text)


def test_self_supervised_model_has_no_results(rendered: dict[str, tuple[object, str]]) -> None:
    context, text = rendered["mocov3_resnet50_8xb512-amp-coslr-800e_in1k"]
    assert context.results == ()  # type: ignore[attr-defined]
    assert "model-index" not in text and "## Results" not in text
