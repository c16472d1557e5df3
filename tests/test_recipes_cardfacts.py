"""Card facts from the recipe data: Results rows with train/test roles, model-index, timm-style datasets."""

from __future__ import annotations

import pytest

from hubkit.recipes.cardfacts import card_dataset_names, card_papers, results_section
from hubkit.tags import decode


def test_results_section_labels_train_and_test_resolution() -> None:
    section = results_section("mobilenetv4_hybrid_large.ix_e600_r384_in1k", train_size=384, test_size=448)
    assert section is not None
    assert [(r.result.img_size, r.result.top1, r.role) for r in section.rows] == [
        (384, 83.996, "train resolution"),
        (448, 84.352, "test resolution"),
    ]
    assert section.test_gain == 0.356 and section.source.id == "timm-results"
    same = results_section("resnet50.a1_in1k", train_size=224, test_size=224)
    assert same is not None and same.test_size is None and same.test_gain is None
    assert [r.role for r in same.rows] == ["train and test resolution", ""]
    assert results_section("resnet50.untrained_tag") is None


@pytest.mark.parametrize(
    ("tag", "names"),
    [
        ("resnet50.a1_in1k", ("imagenet-1k",)),
        ("beit_base_patch16_224.in22k_ft_in22k_in1k", ("imagenet-1k", "imagenet-22k")),
        ("convnext_base.fb_in22k_ft_in1k", ("imagenet-1k", "imagenet-22k")),
        ("vit_base_patch16_clip_224.laion2b_ft_in12k_in1k", ("imagenet-1k", "laion-2b", "imagenet-12k")),
        ("eva02_large_patch14_448.mim_m38m_ft_in22k_in1k", ("imagenet-1k", "merged-38m", "imagenet-22k")),
        ("ViT-B-32/laion2b_s34b_b79k", ("laion-2b",)),
    ],
)
def test_card_datasets_follow_timm_order_and_naming(tag: str, names: tuple[str, ...]) -> None:
    assert card_dataset_names(decode(tag)) == names


@pytest.mark.parametrize(
    ("tag", "papers"),
    [
        ("beit_base_patch16_224.in22k_ft_in22k_in1k", ("arXiv:2106.08254", "arXiv:2010.11929")),
        ("eva02_base_patch14_448.mim_in22k_ft_in22k_in1k", ("arXiv:2303.11331", "arXiv:2303.15389")),
        ("eva_giant_patch14_224.clip_ft_in1k", ("arXiv:2303.15389",)),
        ("resnet50.a1_in1k", ("arXiv:1512.03385", "arXiv:2110.00476")),
    ],
)
def test_card_papers_as_timm_cites_them(tag: str, papers: tuple[str, ...]) -> None:
    assert card_papers(decode(tag))[: len(papers)] == papers
