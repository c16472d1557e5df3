"""The outcome of verifying one revision, and its ``verification.json`` form.

The file's shape is :class:`hubkit.layout.VerificationRecord` (with :class:`MetricCheck` and
:class:`IntegrityReport`, defined there and re-exported here); :meth:`RevisionResult.to_record` turns a
result into it. Wall-clock timings sit under the single key ``"timings"`` so that a caller wanting stable
bytes can leave them out (the publish flow does).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hubkit.layout import IntegrityReport, MetricCheck, VerificationRecord
from hubkit.verify.device import DeviceInfo

__all__ = ["IntegrityReport", "MetricCheck", "RevisionResult"]


@dataclass(frozen=True)
class RevisionResult:
    """Everything found out about one revision. ``passed`` is False as soon as one failure is listed."""

    repo_id: str  # "org/resnet-digits"
    revision: str  # "epoch-3"
    commit: str | None  # "3f2a9c1e…" (None when the download itself failed)
    library: str | None  # "timm" | "open_clip" | None (not loaded)
    failures: tuple[str, ...] = ()  # ("top1 97.2 differs from summary.csv eval_top1 99.0 by 1.8 > 0.5",)
    device: DeviceInfo | None = None
    versions: dict[str, str] = field(default_factory=dict)  # {"torch": "2.14.1", "timm": "1.0.31", ...}
    epoch: int | None = None  # 3 (from hubkit.json)
    weights: str | None = None  # "ema" | "raw" (from hubkit.json)
    eval_data: str | None = None  # "val (run args data_dir)" — names only, never absolute paths
    num_samples: int | None = None  # 360
    metrics: dict[str, float] = field(default_factory=dict)  # {"top1": 97.2, "top5": 100.0, "loss": 0.1}
    checks: tuple[MetricCheck, ...] = ()
    integrity: IntegrityReport | None = None
    notes: tuple[str, ...] = ()  # ("--limit 64: metrics reported but not checked",)
    timings: dict[str, float] = field(default_factory=dict)  # {"download_s": .., "load_s": .., "eval_s": ..}

    @property
    def passed(self) -> bool:
        return not self.failures

    def to_record(self, *, timings: bool = True) -> VerificationRecord:
        """The ``verification.json`` record; ``timings=False`` leaves the wall-clock timings out.

        Example:
            >>> result.to_record(timings=False).timings is None
            True
        """
        return VerificationRecord(
            repo_id=self.repo_id,
            revision=self.revision,
            commit=self.commit,
            library=self.library,
            passed=self.passed,
            failures=self.failures,
            epoch=self.epoch,
            weights=self.weights,
            device=self.device.to_dict() if self.device else None,
            versions=dict(self.versions),
            eval_data=self.eval_data,
            num_samples=self.num_samples,
            metrics=dict(self.metrics),
            checks=self.checks,
            integrity=self.integrity,
            notes=self.notes,
            timings=dict(self.timings) if timings else None,
        )

    def to_dict(self) -> dict[str, Any]:
        """The ``verification.json`` object, timings included (the ``--json`` output).

        Example:
            >>> result.to_dict()["passed"]
            True
        """
        return self.to_record().to_dict()

    def to_json(self) -> str:
        """``verification.json`` text: sorted keys, two-space indent, tokens redacted.

        Example:
            >>> json.loads(result.to_json())["revision"]
            'epoch-3'
        """
        return self.to_record().to_json().decode("utf-8")
