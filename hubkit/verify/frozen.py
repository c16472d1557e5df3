"""The frozen-group check of ``hubkit verify --run``: the run's lock settings against how its weights moved.

A group the run's settings freeze whose parameters changed, or whose BatchNorm statistics moved, fails
every revision published at or after the checkpoint where it happened (see ``hubkit.dynamics``).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from hubkit.dynamics.analyse import analyse_run
from hubkit.dynamics.check import findings_until

if TYPE_CHECKING:
    from hubkit.dynamics.model import DynamicsReport
    from hubkit.runs.model import TrainingRun
    from hubkit.verify.result import RevisionResult

FAILURE_PREFIX = "frozen groups: "


def frozen_report(run: TrainingRun) -> DynamicsReport:
    """Training dynamics over every checkpoint of ``run`` (the weights its revisions publish).

    Example:
        >>> frozen_report(read_run("runs/timm-ft")).passed
        True
    """
    return analyse_run(run)


def with_frozen_check(result: RevisionResult, report: DynamicsReport) -> RevisionResult:
    """``result`` with the run's frozen-group mismatches up to its epoch added as failures.

    Example:
        >>> with_frozen_check(result, report).failures[-1]
        "frozen groups: group 'layer1' is frozen by --lock (args.yaml), but its BatchNorm ..."
    """
    findings = findings_until(report, result.epoch)
    failures = tuple(FAILURE_PREFIX + f.message for f in findings if f.failed)
    observed = ", ".join(report.frozen_observed) or "none"
    expected = ", ".join(report.frozen_expected) or "none"
    note = f"{FAILURE_PREFIX}observed {observed}; expected {expected} ({report.scheme})"
    return dataclasses.replace(result, failures=result.failures + failures, notes=(*result.notes, note))
