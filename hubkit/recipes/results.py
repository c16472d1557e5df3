"""Published ImageNet-1k results of timm tags, read from the table shipped with hubkit.

The table is timm's ``results/results-imagenet.csv`` reduced to the columns hubkit uses (model, img_size,
top1, top5, crop_pct, interpolation); its source and commit are ``timm-results`` in ``data/sources.yaml``.
A tag evaluated at several resolutions (its train and its test size) has one row per resolution.
"""

from __future__ import annotations

import csv
import functools
from importlib import resources

from hubkit.recipes.model import Result

RESULTS_FILE = "results-imagenet.csv"


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
