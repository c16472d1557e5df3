"""Params / GMACs / activations computed by hubkit agree with timm's own published statistics.

Reference figures: timm's ``results/benchmark-infer-amp-nchw-pt291-cu128-4090.csv`` (columns
param_count, infer_gmacs, infer_macts, produced by timm's benchmark.py with fvcore), at the same
resolution. They agree to the two decimals timm prints.
"""

from __future__ import annotations

import json

import pytest

from hubkit.cards.stats import openclip_stats, timm_stats

# model, resolution: (params M, GMACs, activations M) from timm's benchmark table
TIMM_TABLE = {
    ("resnet50", 224): (25.56, 4.11, 11.11),
    ("vit_base_patch16_224", 224): (86.57, 17.58, 23.90),
    ("convnext_small", 224): (50.22, 8.71, 21.56),
    ("convnext_small", 384): (50.22, 25.58, 63.37),
    ("tf_efficientnet_b5", 456): (30.39, 10.46, 98.86),
    ("swin_base_patch4_window7_224", 224): (87.77, 15.47, 36.63),
    ("eva02_large_patch14_448", 448): (305.08, 362.33, 689.95),
    ("vit_small_patch14_dinov2", 518): (22.06, 46.76, 198.79),
}


@pytest.mark.parametrize(("model", "size"), list(TIMM_TABLE))
def test_stats_match_timm_benchmark_table(model: str, size: int) -> None:
    params, gmacs, acts = TIMM_TABLE[(model, size)]
    stats = timm_stats(model, (size, size))
    assert round(stats.params_m, 2) == pytest.approx(params, abs=0.006)
    assert stats.gmacs is not None and stats.activations_m is not None
    assert round(stats.gmacs, 2) == pytest.approx(gmacs, abs=0.011)
    assert round(stats.activations_m, 2) == pytest.approx(acts, abs=0.011)
    assert stats.image_size == (size, size)


def test_model_card_figures_for_resnet50() -> None:
    # timm's resnet50.a1_in1k model card: Params (M) 25.6, GMACs 4.1, Activations (M) 11.1, at 224.
    stats = timm_stats("resnet50.a1_in1k")
    assert (f"{stats.params_m:.1f}", f"{stats.gmacs:.1f}", f"{stats.activations_m:.1f}") == (
        "25.6",
        "4.1",
        "11.1",
    )
    assert stats.image_size == (224, 224)


def test_params_equal_a_real_cpu_model() -> None:
    import timm

    model = timm.create_model("resnet50", pretrained=False)
    assert timm_stats("resnet50").params_m * 1e6 == sum(p.numel() for p in model.parameters())


def test_default_resolution_comes_from_the_pretrained_config() -> None:
    assert timm_stats("convnext_small.in12k_ft_in1k_384").image_size == (384, 384)
    assert timm_stats("tf_efficientnet_b5.ns_jft_in1k").image_size == (456, 456)


def test_results_are_cached_per_model_and_size(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUBKIT_HOME", str(tmp_path / "hubkit"))  # hubkit.paths: the stats cache lives there
    first = timm_stats("test_resnet")
    cache = tmp_path / "hubkit" / "model-stats.json"
    entries = json.loads(cache.read_text())["entries"]
    assert len(entries) == 1 and next(iter(entries)).startswith("timm:test_resnet:160x160:")
    # a cached entry is what comes back (prove it by editing the cache)
    key = next(iter(entries))
    entries[key]["gmacs"] = 123.0
    cache.write_text(json.dumps({"version": 1, "entries": entries}))
    assert timm_stats("test_resnet").gmacs == 123.0
    assert first.gmacs != 123.0


def test_openclip_towers_match_openclip_model_profile() -> None:
    # OpenCLIP docs/model_profile.csv, ViT-B-32: mparams 151.28, image_mparams 87.85, image_gflops 8.82,
    # text_gflops 5.96. OpenCLIP counts 2 FLOPs per multiply-accumulate, hubkit reports MACs: halve them.
    stats = openclip_stats("ViT-B-32")
    assert round(stats.params_m, 2) == 151.28
    assert stats.image_params_m is not None and round(stats.image_params_m, 2) == 87.85
    # (within 0.02: OpenCLIP's profiler and timm's count layer norms slightly differently)
    assert stats.gmacs is not None and 2 * stats.gmacs == pytest.approx(8.82, abs=0.02)
    assert stats.text_gmacs is not None and 2 * stats.text_gmacs == pytest.approx(5.96, abs=0.02)
    assert stats.tower == "image" and stats.image_size == (224, 224)


def test_timm_stats_follow_a_runs_resolution_and_head() -> None:
    import timm

    ten = timm_stats("test_resnet", (32, 32), num_classes=10)
    model = timm.create_model("test_resnet", pretrained=False, num_classes=10)
    assert ten.params_m == pytest.approx(sum(p.numel() for p in model.parameters()) / 1e6)
    default = timm_stats("test_resnet", (32, 32))
    assert default.params_m > ten.params_m  # the default head has more classes
    assert ten.gmacs is not None and ten.gmacs < timm_stats("test_resnet", (64, 64), num_classes=10).gmacs  # type: ignore[operator]


def test_openclip_stats_of_a_config_outside_the_registry() -> None:
    config = {
        "embed_dim": 32,
        "vision_cfg": {"image_size": 32, "layers": 1, "width": 64, "head_width": 32, "patch_size": 8},
        "text_cfg": {"context_length": 16, "vocab_size": 100, "width": 32, "heads": 2, "layers": 1},
    }
    stats = openclip_stats("not-in-the-registry", config)
    assert stats.image_size == (32, 32) and stats.tower == "image"
    assert stats.image_params_m is not None and 0 < stats.image_params_m < stats.params_m
