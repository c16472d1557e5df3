"""Published ImageNet-1k results of timm tags, read from the table shipped with hubkit.

The table is timm's ``results/results-imagenet.csv`` reduced to the columns hubkit uses (model, img_size,
top1, top5, crop_pct, interpolation); its source and commit are ``timm-results`` in ``data/sources.yaml``.
A tag evaluated at several resolutions (its train and its test size) has one row per resolution.
"""

from __future__ import annotations

import csv
import functools
from dataclasses import dataclass
from importlib import resources

from hubkit.recipes.model import Result

RESULTS_FILE = "results-imagenet.csv"
OPENCLIP_RESULTS_FILE = "openclip-results.csv"


@functools.cache
def _table() -> dict[str, tuple[Result, ...]]:
    text = resources.files("hubkit.recipes").joinpath("data", RESULTS_FILE).read_text(encoding="utf-8")
    rows: dict[str, list[Result]] = {}
    for row in csv.DictReader(text.splitlines()):
        result = Result(
            model=row["model"],
            img_size=int(row["img_size"]),
            top1=float(row["top1"]),
            top5=float(row["top5"]),
            crop_pct=float(row["crop_pct"]),
            interpolation=row["interpolation"],
        )
        rows.setdefault(result.model, []).append(result)
    return {model: tuple(sorted(found, key=lambda r: r.img_size)) for model, found in rows.items()}


def results_for(tag: str) -> tuple[Result, ...]:
    """Return the published ImageNet-1k results of a timm tag, ascending evaluation resolution.

    Args:
        tag: a full timm tag (``mobilenetv4_hybrid_large.ix_e600_r384_in1k``).

    Returns:
        One :class:`Result` per evaluated resolution; empty when timm publishes none for the tag.

    Example:
        >>> [(r.img_size, r.top1) for r in results_for("mobilenetv4_hybrid_large.ix_e600_r384_in1k")]
        [(384, 83.996), (448, 84.352)]
    """
    return _table().get(tag, ())


def result_tags() -> frozenset[str]:
    """Every tag the results table has a row for.

    Example:
        >>> "resnet50.a1_in1k" in result_tags()
        True
    """
    return frozenset(_table())


@dataclass(frozen=True)
class ZeroShotResult:
    """OpenCLIP's published zero-shot result of one pretrained pair."""

    model: str  # "ViT-B-32"
    pretrained: str  # "laion2b_s34b_b79k"
    imagenet1k_top1: float  # 66.56 (percent)
    average_38: float  # 56.94 (percent, mean over the 38 datasets of the DataComp suite)
    source: str = "openclip-results"


@functools.cache
def _openclip_table() -> dict[tuple[str, str], ZeroShotResult]:
    text = (
        resources.files("hubkit.recipes").joinpath("data", OPENCLIP_RESULTS_FILE).read_text(encoding="utf-8")
    )
    table = {}
    for row in csv.DictReader(text.splitlines()):
        result = ZeroShotResult(
            model=row["model"],
            pretrained=row["pretrained"],
            imagenet1k_top1=round(float(row["imagenet1k_zeroshot_top1"]) * 100, 2),
            average_38=round(float(row["average_38_datasets"]) * 100, 2),
        )
        table[(result.model, result.pretrained)] = result
    return table


def openclip_results_for(model: str, pretrained: str) -> ZeroShotResult | None:
    """Return OpenCLIP's published zero-shot ImageNet-1k top-1 (and 38-dataset mean) of a pair, if any.

    Example:
        >>> openclip_results_for("ViT-B-32", "laion2b_s34b_b79k").imagenet1k_top1
        66.56
    """
    return _openclip_table().get((model, pretrained))
