"""Main's "Training dynamics": how the published revisions' weights moved, as a picture and card facts.

The analysis (``hubkit.dynamics``) reads the published checkpoints of the run again, in the background
while the revisions are uploaded and verified, in one pass: the checkpoints are walked in order, in small
windows, and each revision's pair with the one before it is told as soon as both are measured (a
revision's ``hubkit.json`` figures need only its pair); the whole report (main's picture and card section)
comes at the end of the same pass. The picture names the run, never a local path, so the same run gives
the same bytes.
"""

from __future__ import annotations

import dataclasses
import math
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hubkit.layout import TRAINING_DYNAMICS

if TYPE_CHECKING:
    from hubkit.cards.context import DynamicsFacts
    from hubkit.dynamics.model import DynamicsReport
    from hubkit.layout import DynamicsRecord
    from hubkit.runs.model import TrainingRun


def prepare() -> None:
    """Import what :func:`analyse_published` needs, on the calling thread.

    The analysis runs in a thread while verification forks DataLoader workers; a fork during an import
    in another thread leaves that module's lock held in the child. Everything heavy is imported here first.
    """
    import hubkit.dynamics.analyse
    import hubkit.dynamics.check
    import hubkit.dynamics.groups
    import hubkit.dynamics.locks
    import hubkit.dynamics.measure
    import hubkit.dynamics.weights
    import hubkit.runs.select  # noqa: F401


def analyse_published(
    run: TrainingRun,
    revisions: Sequence[tuple[str, int]],
    weights: str | None,
    imported: threading.Event | None = None,
    on_pair: Callable[[str, DynamicsReport], None] | None = None,
    load: Callable[[Path], dict[str, Any]] | None = None,
) -> DynamicsReport | None:
    """The dynamics of the checkpoints of ``revisions`` (``(name, epoch)``), labelled by revision name.

    Returns None with fewer than two revisions (nothing moved between them). ``imported`` is set once the
    model is built, after which the analysis imports nothing more (a fork is safe from then on).
    ``on_pair`` is told, in epoch order, each revision's name and the report of it and the revision before
    it, as soon as that pair is measured (before the whole report). ``load`` loads a checkpoint file
    (default: hubkit's safe loader; a publish passes the checkpoints its preflight loaded).

    Example:
        >>> analyse_published(run, [("epoch-000", 0), ("epoch-004", 4)], None).checkpoints[1].label
        'epoch-004'
    """
    import torch

    from hubkit.dynamics.analyse import analyse_run, run_meta_model

    names = {epoch: name for name, epoch in revisions}
    if len(names) < 2:
        if imported is not None:
            imported.set()
        return None
    # One intra-op thread for this (background) thread only: OpenMP's thread count is per calling thread,
    # and a second team spinning beside the conversion and upload threads slowed a publish down by half.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        try:
            model = run_meta_model(run)  # the framework library's imports happen here
        finally:
            if imported is not None:
                imported.set()
        spec = "epochs:" + ",".join(str(e) for e in sorted(names))

        def pair_done(index: int, pair: DynamicsReport) -> None:
            later = pair.checkpoints[-1].epoch
            if on_pair is not None and later in names:
                on_pair(names[later], _labelled(pair, run.name, names))

        report = analyse_run(
            run,
            select=spec,
            weights=weights,
            model=model,
            on_pair=pair_done if on_pair else None,
            load=load,
        )
    finally:
        torch.set_num_threads(threads)
    return _labelled(report, run.name, names)


def _labelled(report: DynamicsReport, subject: str, names: dict[int, str]) -> DynamicsReport:
    """``report`` about ``subject``, its checkpoints labelled by revision name."""
    refs = tuple(
        dataclasses.replace(ref, label=names[ref.epoch]) if ref.epoch in names else ref
        for ref in report.checkpoints
    )
    return dataclasses.replace(report, subject=subject, checkpoints=refs)


def revision_record(report: DynamicsReport | None, revision: str) -> DynamicsRecord | None:
    """``hubkit.json``'s figures for ``revision``: its change from the previous revision of ``report``.

    Example:
        >>> revision_record(report, "epoch-004").unchanged_share
        0.62
    """
    from hubkit.layout import DynamicsRecord

    if report is None:
        return None
    labels = [ref.label for ref in report.checkpoints]
    if revision not in labels or labels.index(revision) == 0:
        return None
    i = labels.index(revision)
    changes: dict[str, float | None] = {}
    frozen, moved = [], []
    for group in report.groups:
        if group.params is not None:
            step = group.params.steps[i]
            value = step.rel_change_prev
            changes[group.name] = value if value is not None and math.isfinite(value) else None
            if step.unchanged_tensors == 1.0:
                frozen.append(group.name)
        if group.buffers is not None and group.buffers.steps[i].unchanged_tensors != 1.0:
            moved.append(group.name)
    return DynamicsRecord(
        previous=labels[i - 1],
        scheme=report.scheme,
        unchanged_share=report.unchanged_share()[i],
        rel_change=changes,
        frozen_groups=tuple(frozen),
        buffers_moved=tuple(moved),
    )


def main_files(report: DynamicsReport) -> tuple[bytes, DynamicsFacts]:
    """Main's picture (PNG bytes) and the facts of its card section.

    Example:
        >>> png, facts = main_files(report)
        >>> facts.image
        'training_dynamics.png'
    """
    from hubkit.cards.context import DynamicsFacts, DynamicsGroupRow
    from hubkit.dynamics.plot import render_dynamics

    rows = []
    for group in report.groups:
        series = group.params or group.buffers
        if series is None:
            continue
        expected = group.expected is not None and group.expected.frozen
        observed = "frozen" if series.frozen else f"changed, up to {series.max_rel_change:.2g}"
        buffers = "" if group.buffers is None else ("frozen" if group.buffers.frozen else "moved")
        moved = expected and group.buffers is not None and group.buffers.changed
        rows.append(
            DynamicsGroupRow(
                group.name,
                "frozen" if expected else "trains",
                observed,
                buffers,
                expected and series.changed,
                moved,
            )
        )
    unchanged = tuple(
        (ref.label, share)
        for ref, share in zip(report.checkpoints, report.unchanged_share(), strict=True)
        if share is not None
    )
    facts = DynamicsFacts(
        image=TRAINING_DYNAMICS,
        scheme=report.scheme,
        lock_settings=" ".join(report.lock_settings),
        groups=tuple(rows),
        unchanged=unchanged,
        mismatches=tuple(f.message for f in report.findings if f.failed),
    )
    return render_dynamics(report), facts
