"""Frozen groups checked against the run's lock settings, and jumps flagged: pure functions over measures.

A group the settings freeze whose parameters changed, or whose buffers (BatchNorm running statistics)
moved, is a failed check naming the group. A group that never changed although nothing froze it is told,
not failed. A jump is a step whose change per epoch is far outside the group's own history so far,
NaN/Inf values appearing, or a group that starts moving after being bitwise frozen.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import statistics
from collections.abc import Sequence

from hubkit.dynamics.model import (
    CheckpointRef,
    DynamicsReport,
    Expectation,
    Finding,
    GroupDynamics,
    KindSeries,
    Step,
)

JUMP_FACTOR = 10.0  # a step's change per epoch this many times the group's median so far is a jump
JUMP_FLOOR = 1e-4  # ... and at least this large (‖Δw‖/‖w‖), so that noise on a near-frozen group is not


def frozen_findings(groups: Sequence[GroupDynamics]) -> tuple[Finding, ...]:
    """Compare observed frozen groups with expected ones; one finding per group worth telling.

    Example:
        >>> [f.message for f in frozen_findings(report.groups) if f.failed]
        ["group 'layer1' is frozen by --lock (...), but its BatchNorm buffers moved ..."]
    """
    findings = []
    for group in groups:
        expected = group.expected
        if expected is not None and expected.frozen:
            if group.params is not None and group.params.changed:
                findings.append(Finding(group.name, "changed", True, _changed(group, expected.reason)))
            elif group.buffers is not None and group.buffers.changed:
                findings.append(Finding(group.name, "buffers_moved", True, _buffers_moved(group, expected)))
        elif group.frozen and group.params is not None:
            why = expected.reason if expected is not None else "the run records no lock settings"
            findings.append(
                Finding(
                    group.name,
                    "unclaimed_frozen",
                    False,
                    f"group '{group.name}' never changed although {why}",
                )
            )
    return tuple(findings)


def _moved(series: KindSeries) -> str:
    moved = max(
        (round((1 - (s.unchanged_tensors or 0.0)) * series.tensors) for s in series.steps[1:]), default=0
    )
    return f"‖Δ‖/‖w‖ up to {series.max_rel_change:.3g}, {moved} of {series.tensors} tensors"


def _changed(group: GroupDynamics, reason: str) -> str:
    assert group.params is not None
    return f"group '{group.name}' is frozen by {reason}, but its parameters changed ({_moved(group.params)})"


def _buffers_moved(group: GroupDynamics, expected: Expectation) -> str:
    assert group.buffers is not None
    why = (
        "although BatchNorm statistics were to be frozen"
        if expected.buffers_frozen
        else "freeze_bn_stats was off, so train mode kept updating them"
    )
    return (
        f"group '{group.name}' is frozen by {expected.reason}, but its BatchNorm running statistics moved "
        f"({_moved(group.buffers)}): {why}"
    )


def _gaps(checkpoints: Sequence[CheckpointRef]) -> list[float]:
    gaps = [1.0]
    for before, after in itertools.pairwise(checkpoints):
        if before.epoch is not None and after.epoch is not None and after.epoch > before.epoch:
            gaps.append(float(after.epoch - before.epoch))
        else:
            gaps.append(1.0)
    return gaps


def _jump(steps: Sequence[Step], i: int, gaps: Sequence[float]) -> str | None:
    step, before = steps[i], steps[i - 1]
    if (step.nan or step.inf) and not (before.nan or before.inf):
        return f"NaN/Inf appeared: {step.nan} NaN and {step.inf} Inf values"
    if i >= 2 and step.unchanged_tensors != 1.0 and all(s.unchanged_tensors == 1.0 for s in steps[1:i]):
        return f"started changing after being bitwise frozen over {i} checkpoints"
    change = step.rel_change_prev
    if change is None or not math.isfinite(change) or change < JUMP_FLOOR or i < 2:
        return None
    history = [
        s.rel_change_prev / g
        for s, g in zip(steps[1:i], gaps[1:i], strict=True)
        if s.rel_change_prev is not None and math.isfinite(s.rel_change_prev) and s.rel_change_prev > 0
    ]
    if not history:
        return None
    median = statistics.median(history)
    rate = change / gaps[i]
    if rate > JUMP_FACTOR * median:
        return (
            f"‖Δw‖/‖w‖ {change:.3g} ({rate:.3g} per epoch) is {rate / median:.0f}× "
            f"the group's median so far ({median:.3g} per epoch)"
        )
    return None


def flag_jumps(series: KindSeries, checkpoints: Sequence[CheckpointRef]) -> KindSeries:
    """Return ``series`` with :attr:`Step.jump` set where a step is far outside the group's history.

    Example:
        >>> flag_jumps(series, report.checkpoints).steps[3].jump
        '‖Δw‖/‖w‖ 0.41 (0.41 per epoch) is 12× the group's median so far (0.034 per epoch)'
    """
    gaps = _gaps(checkpoints)
    steps = list(series.steps)
    for i in range(1, len(steps)):
        reason = _jump(series.steps, i, gaps)
        if reason:
            steps[i] = dataclasses.replace(steps[i], jump=reason)
    return dataclasses.replace(series, steps=tuple(steps))


def findings_until(report: DynamicsReport, epoch: int | None) -> tuple[Finding, ...]:
    """The frozen-group findings of ``report`` counting only checkpoints up to ``epoch`` (all when None).

    A revision published at epoch 3 answers for the run up to epoch 3: a lock that broke later is the
    later revisions' failure.

    Example:
        >>> [f.group for f in findings_until(report, 3) if f.failed]
        ['layer1']
    """
    keep = [
        i
        for i, ref in enumerate(report.checkpoints)
        if epoch is None or ref.epoch is None or ref.epoch <= epoch
    ]

    def cut(series: KindSeries | None) -> KindSeries | None:
        if series is None:
            return None
        return dataclasses.replace(series, steps=tuple(series.steps[i] for i in keep))

    groups = [dataclasses.replace(g, params=cut(g.params), buffers=cut(g.buffers)) for g in report.groups]
    return frozen_findings(groups)
