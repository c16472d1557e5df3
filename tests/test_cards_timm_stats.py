"""Card stats follow timm's published convention: params / GMACs / activations equal timm's newest
benchmark table (tests/data/timm_published_stats.csv, its source named there) to its rounding."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

TABLE = Path(__file__).parent / "data" / "timm_published_stats.csv"
ROWS = list(csv.DictReader(line for line in TABLE.read_text().splitlines() if not line.startswith("#")))
# Rows where hubkit's count departs from timm's table, with what is known; kept so a change shows up.
KNOWN_DIFFERENCES = {
    # NF-Net: 4.30 vs timm's 4.36 GMACs (params and activations equal); the ops fvcore counts on top of
    # hubkit's (weight standardisation, scaled activations?) were not identified.
    "nfnet_l0.ra2_in1k",
}


@pytest.mark.slow  # builds 32 models on the meta device
def test_stats_equal_timms_published_table() -> None:
    from hubkit.cards.stats import timm_stats

    wrong = []
    for row in ROWS:
        stats = timm_stats(row["tag"])
        assert stats.image_size == (int(row["img_size"]),) * 2, row["tag"]
        mine = (round(stats.params_m, 2), round(stats.gmacs, 2), round(stats.activations_m, 2))
        theirs = (float(row["params_m"]), float(row["gmacs"]), float(row["activations_m"]))
        if (mine != theirs) != (row["tag"] in KNOWN_DIFFERENCES):
            wrong.append(f"{row['tag']}: hubkit {mine} vs timm {theirs}")
    assert not wrong, "\n".join(wrong)
    assert len(ROWS) - len(KNOWN_DIFFERENCES) >= 30
