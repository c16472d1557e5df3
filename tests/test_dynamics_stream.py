"""A publish's dynamics streamed per revision: each pair is told as soon as it is measured, before the whole
report, and gives the same ``hubkit.json`` figures as the whole report does."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from hubkit.dynamics.model import DynamicsReport
from hubkit.publish.dynamics import analyse_published, revision_record
from hubkit.publish.revfiles import ReleaseFiles
from hubkit.runs import read_run

pytestmark = pytest.mark.slow


def test_pairs_come_first_in_order_and_match_the_whole_report(timm_run_dir: Path) -> None:
    run = read_run(timm_run_dir)
    revisions = [(f"epoch-{e:03d}", e) for e in sorted(c.epoch for c in run.checkpoints)]
    assert len(revisions) >= 3
    told: list[tuple[str, DynamicsReport]] = []
    imported = threading.Event()
    report = analyse_published(run, revisions, None, imported, on_pair=lambda n, r: told.append((n, r)))
    assert report is not None and imported.is_set()
    assert [name for name, _ in told] == [name for name, _ in revisions[1:]]
    for (name, pair), (previous, _) in zip(told, revisions, strict=False):
        assert [ref.label for ref in pair.checkpoints] == [previous, name]
        assert revision_record(pair, name) == revision_record(report, name)
        assert revision_record(pair, name) is not None


def test_revision_figures_wait_for_their_own_pair_only(timm_run_dir: Path) -> None:
    run = read_run(timm_run_dir)
    revisions = [(f"epoch-{e:03d}", e) for e in sorted(c.epoch for c in run.checkpoints)]
    files = ReleaseFiles(
        run, "x/y", template_dir=None, license=None, has_main=True, dry_run=True, revisions=revisions
    )
    second = revisions[1][0]
    # the analysis stopped right after the first pair: that revision's figures are there already
    gate = threading.Event()
    told = threading.Event()
    real = files._pair

    def pair(name: str, report: DynamicsReport) -> None:
        real(name, report)
        told.set()
        gate.wait(timeout=60)

    files._pair = pair  # type: ignore[method-assign]
    background = threading.Thread(target=files.dynamics)
    background.start()
    try:
        assert told.wait(timeout=120)
        figures = files.revision_figures(second)  # returns although the analysis is not done
        assert figures is not None and figures.previous == revisions[0][0]
        assert not files._report.done()
        assert files.revision_figures(revisions[0][0]) is None  # the first revision has nothing before it
    finally:
        gate.set()
        background.join(timeout=120)
    report = files.dynamics()
    assert figures == revision_record(report, second)


def test_revision_figures_run_the_analysis_when_nothing_started_it(timm_run_dir: Path) -> None:
    run = read_run(timm_run_dir)
    revisions = [(f"epoch-{e:03d}", e) for e in sorted(c.epoch for c in run.checkpoints)][:2]
    files = ReleaseFiles(
        run, "x/y", template_dir=None, license=None, has_main=True, dry_run=True, revisions=revisions
    )
    figures = files.revision_figures(revisions[1][0])
    assert figures is not None and figures == revision_record(files.dynamics(), revisions[1][0])
