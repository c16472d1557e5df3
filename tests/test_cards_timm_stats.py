"""``hubkit card`` on 32 timm tags across families follows timm's published conventions: stats equal
timm's newest benchmark table (tests/data/timm_published_stats.csv, its source named there) to its
rounding, front-matter datasets list the whole lineage (pretraining included), and the Results section
holds exactly timm's published results for the tag."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from hubkit.cards import context_from_tag, render_card
from hubkit.cards.frontmatter import card_data
from hubkit.recipes import results_for
from hubkit.tags import decode

TABLE = Path(__file__).parent / "data" / "timm_published_stats.csv"
ROWS = list(csv.DictReader(line for line in TABLE.read_text().splitlines() if not line.startswith("#")))
# Rows where hubkit's count departs from timm's table, with what is known; kept so a change shows up.
KNOWN_DIFFERENCES = {
    # NF-Net: 4.30 vs timm's 4.36 GMACs (params and activations equal); the ops fvcore counts on top of
    # hubkit's (weight standardisation, scaled activations?) were not identified.
    "nfnet_l0.ra2_in1k",
}


@pytest.mark.slow  # builds 33 models on the meta device and renders their cards
def test_cards_follow_timms_published_stats_datasets_and_results() -> None:
    wrong = []
    for row in ROWS:
        tag = row["tag"]
        context = context_from_tag(tag)
        stats = context.stats
        assert stats is not None and stats.image_size == (int(row["img_size"]),) * 2, tag
        mine = (round(stats.params_m, 2), round(stats.gmacs or 0, 2), round(stats.activations_m or 0, 2))
        theirs = (float(row["params_m"]), float(row["gmacs"]), float(row["activations_m"]))
        if (mine != theirs) != (tag in KNOWN_DIFFERENCES):
            wrong.append(f"{tag}: hubkit {mine} vs timm {theirs}")
        # every dataset of the lineage is in the front matter (pretraining included)
        datasets = card_data(context).datasets or []
        lineage = decode(tag).lineage
        assert len(datasets) == len({step.token for step in lineage}), (tag, datasets)
        # the Results section is timm's results table for the tag, row for row
        published = context.published_results
        expected = [(r.img_size, r.top1, r.top5) for r in results_for(tag)]
        assert published is not None and [(r.img_size, r.top1, r.top5) for r in published.rows] == expected
        text = render_card(context)
        for size, top1, _ in expected:
            assert f"| {size} x {size} |" in text and f"{top1:g}" in text, tag
    assert not wrong, "\n".join(wrong)
    assert len(ROWS) - len(KNOWN_DIFFERENCES) >= 30
