"""Exact decodes of the tags named in the issue."""

from __future__ import annotations

from hubkit.tags import decode, decode_openclip, paper, papers_for


def _lineage(tag: str) -> list[tuple[str, str]]:
    return [(s.stage, s.name) for s in decode(tag).lineage]


def test_resnet50_a1() -> None:
    tag = decode("resnet50.a1_in1k")
    assert (tag.form, tag.architecture.family.value, tag.architecture.variant.value) == (
        "timm",
        "ResNet",
        "50",
    )
    (recipe,) = tag.recipes
    assert recipe.name == "ResNet Strikes Back A1"
    assert (recipe.optimizer, recipe.loss, recipe.lr_schedule) == (
        "LAMB",
        "BCE (binary cross-entropy)",
        "cosine with warmup",
    )
    assert recipe.source == "arXiv:2110.00476"
    assert _lineage("resnet50.a1_in1k") == [("train", "ImageNet-1k")]
    step = tag.lineage[0]
    assert (step.hub_id, step.hub_id_is_real, step.token) == ("ILSVRC/imagenet-1k", True, "in1k")
    assert tag.epochs.value == 600 and tag.epochs.token == "a1"
    assert [p.value for p in tag.paradigm] == ["supervised"]


def test_beit_lineage() -> None:
    tag = decode("beit_base_patch16_224.in22k_ft_in22k_in1k")
    arch = tag.architecture
    assert (arch.family.value, arch.variant.value, arch.patch_size.value, arch.input_size.value) == (
        "BEiT",
        "base",
        16,
        224,
    )
    assert _lineage(tag.raw) == [
        ("pretrain", "ImageNet-22k"),
        ("finetune", "ImageNet-22k"),
        ("finetune", "ImageNet-1k"),
    ]
    assert tag.paradigm[0].value == "masked image modeling (self-supervised)"
    assert tag.paradigm[0].token is None  # implied by the family, not read from a token
    assert tag.papers[0] == "arXiv:2106.08254"


def test_clip_vit_finetuned() -> None:
    tag = decode("vit_base_patch16_clip_224.laion2b_ft_in12k_in1k")
    assert tag.architecture.family.value == "ViT (CLIP)"
    assert _lineage(tag.raw) == [
        ("pretrain", "LAION-2B (English)"),
        ("finetune", "ImageNet-12k"),
        ("finetune", "ImageNet-1k"),
    ]
    assert [p.value for p in tag.paradigm] == ["contrastive image-text", "supervised"]


def test_convnext_resolution_suffix() -> None:
    tag = decode("convnext_small.in12k_ft_in1k_384")
    assert (tag.architecture.family.value, tag.architecture.variant.value) == ("ConvNeXt", "small")
    assert tag.train_resolution.value == 384 and tag.train_resolution.token == "384"
    assert _lineage(tag.raw) == [("pretrain", "ImageNet-12k"), ("finetune", "ImageNet-1k")]


def test_mobilenetv4_ix() -> None:
    tag = decode("mobilenetv4_hybrid_large.ix_e600_r384_in1k")
    assert (tag.architecture.family.value, tag.architecture.variant.value) == ("MobileNetV4", "hybrid_large")
    assert (tag.epochs.value, tag.epochs.token) == (600, "e600")
    assert (tag.train_resolution.value, tag.train_resolution.token) == (384, "r384")
    assert _lineage(tag.raw) == [("train", "ImageNet-1k")]
    assert [r.token for r in tag.recipes] == ["ix"] and "MobileNetV4" in tag.recipes[0].name
    assert [t.role for t in tag.tokens] == ["recipe", "epochs", "train_resolution", "dataset"]


def test_deit_distilled_port() -> None:
    tag = decode("deit_small_distilled_patch16_224.fb_in1k")
    assert tag.architecture.family.value == "DeiT"
    assert [e.token for e in tag.architecture.extras] == ["distilled"]
    assert tag.origin.token == "fb" and "Facebook" in str(tag.origin.value)


def test_eva02_mim() -> None:
    tag = decode("eva02_large_patch14_448.mim_m38m_ft_in22k_in1k")
    assert (
        tag.architecture.family.value,
        tag.architecture.patch_size.value,
        tag.architecture.input_size.value,
    ) == ("EVA-02", 14, 448)
    assert tag.paradigm[0].token == "mim"
    assert _lineage(tag.raw) == [
        ("pretrain", "Merged-38M"),
        ("finetune", "ImageNet-22k"),
        ("finetune", "ImageNet-1k"),
    ]


def test_swsl_and_noisy_student() -> None:
    tag = decode("resnext101_32x16d.fb_swsl_ig1b_ft_in1k")
    assert tag.architecture.family.value == "ResNeXt"
    assert _lineage(tag.raw) == [("pretrain", "Instagram-1B"), ("finetune", "ImageNet-1k")]
    assert tag.paradigm[0].source == "arXiv:1905.00546"
    ns = decode("tf_efficientnet_b5.ns_jft_in1k")
    assert (ns.architecture.family.value, ns.architecture.variant.value) == ("EfficientNet", "b5")
    assert ns.recipes[0].name == "Noisy Student" and ns.recipes[0].source == "arXiv:1911.04252"
    assert [s.name for s in ns.lineage] == ["JFT-300M", "ImageNet-1k"]


def test_openclip_pairs() -> None:
    tag = decode("ViT-B-32/laion2b_s34b_b79k")
    assert tag == decode_openclip("ViT-B-32", "laion2b_s34b_b79k") == decode("ViT-B-32", "laion2b_s34b_b79k")
    assert (tag.form, tag.architecture.family.value, tag.architecture.variant.value) == (
        "openclip",
        "ViT (CLIP)",
        "Base",
    )
    assert tag.architecture.patch_size.value == 32
    assert [s.name for s in tag.lineage] == ["LAION-2B (English)"]
    assert (tag.samples_seen.value, tag.samples_seen.token) == (34_000_000_000, "s34b")
    assert (tag.global_batch_size.value, tag.global_batch_size.token) == (79_000, "b79k")
    dc = decode("ViT-L-14/datacomp_xl_s13b_b90k")
    assert [s.token for s in dc.lineage] == ["datacomp_xl"] and dc.samples_seen.value == 13_000_000_000
    cx = decode("convnext_base_w/laion2b_s13b_b82k_augreg")
    assert cx.architecture.family.value == "ConvNeXt" and cx.recipes[0].token == "augreg_openclip"
    oa = decode("ViT-B-32/openai")
    assert oa.origin.value == "OpenAI (CLIP release)" and oa.lineage[0].name.startswith("WIT-400M")
    assert decode("ViT-B-32/laion400m_e32").epochs.value == 32


def test_reverse_finetune_and_unnamed_finetune() -> None:
    tag = decode("coca_ViT-L-14/mscoco_finetuned_laion2b_s13b_b90k")
    assert [(s.stage, s.token) for s in tag.lineage] == [("pretrain", "laion2b"), ("finetune", "mscoco")]
    soup = decode("convnext_large_d_320/laion2b_s29b_b131k_ft_soup")
    assert any(a.startswith("ft:") for a in soup.ambiguous)


def test_papers_lookup() -> None:
    p = paper("arXiv:2110.00476")
    assert p.url == "https://arxiv.org/abs/2110.00476" and "ResNet strikes back" in p.title
    assert paper("2106.10270").id == "arXiv:2106.10270"
    assert "@article" in p.bibtex and "Wightman" in p.bibtex and "2021" in p.bibtex
    assert [x.id for x in papers_for(decode("resnet50.a1_in1k"))] == ["arXiv:1512.03385", "arXiv:2110.00476"]
