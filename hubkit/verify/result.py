"""The outcome of verifying one revision: frozen dataclasses and their ``verification.json`` form.

``verification.json`` keeps what a re-run on the same machine and library versions reproduces (metrics,
checks, integrity, device, versions) apart from what it does not: wall-clock timings live under the
single key ``"timings"`` so that a caller wanting stable bytes can drop that key (the publish flow commits
the file as is: its bytes differ between runs because of ``timings``).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from hubkit.secrets import redact
from hubkit.verify.device import DeviceInfo

FORMAT_VERSION = 1
VERIFICATION_JSON = "verification.json"


@dataclass(frozen=True)
class MetricCheck:
    """A re-measured metric next to the value the run recorded for the same epoch."""

    name: str  # "top1" (hubkit's name for what was measured)
    measured: float  # 97.22 (percent points for accuracies and recalls)
    recorded: float | None  # 97.5 (None when the run recorded nothing to compare with)
    tolerance: float | None  # 0.5 (same unit as the values); None: reported, not checked
    source: str = ""  # "summary.csv eval_top1, epoch 3"
    unit: str = "points"  # "points" (percent) | "loss"

    @property
    def delta(self) -> float | None:
        """measured − recorded, or None when nothing was recorded."""
        return None if self.recorded is None else self.measured - self.recorded

    @property
    def checked(self) -> bool:
        return self.recorded is not None and self.tolerance is not None

    @property
    def passed(self) -> bool:
        """True unless the check applies and the difference exceeds the tolerance (or is not a number)."""
        if not self.checked:
            return True
        delta = self.delta
        return delta is not None and math.isfinite(delta) and abs(delta) <= self.tolerance + 1e-9  # type: ignore[operator]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "measured": _num(self.measured),
            "recorded": _num(self.recorded),
            "delta": _num(self.delta),
            "tolerance": self.tolerance,
            "unit": self.unit,
            "checked": self.checked,
            "passed": self.passed,
            "source": self.source,
        }


@dataclass(frozen=True)
class IntegrityReport:
    """Published tensors and logits compared with the source checkpoint."""

    weights: str  # "ema" | "raw": which weights of the source checkpoint the revision says it holds
    source: str  # "checkpoint-3.pth.tar" (file name only)
    tensors_compared: int  # 62
    mismatches: tuple[str, ...] = ()  # ("fc.weight: values differ (max |diff| 0.0132)",)
    loaded_mismatches: tuple[str, ...] = ()  # model state after loading vs the file, same format
    logits_max_abs_diff: float | None = None  # 0.0 (published model vs source model on one fixed batch)
    logits_tolerance: float = 1e-4  # largest |diff| accepted (kernels may differ between two model objects)
    notes: tuple[str, ...] = ()  # ("weights of epoch 3 were recorded with EMA",)

    @property
    def passed(self) -> bool:
        logits_ok = self.logits_max_abs_diff is None or self.logits_max_abs_diff <= self.logits_tolerance
        return not self.mismatches and not self.loaded_mismatches and logits_ok

    def to_dict(self) -> dict[str, Any]:
        return {
            "weights": self.weights,
            "source": self.source,
            "tensors_compared": self.tensors_compared,
            "mismatches": list(self.mismatches),
            "loaded_mismatches": list(self.loaded_mismatches),
            "logits_max_abs_diff": _num(self.logits_max_abs_diff),
            "logits_tolerance": self.logits_tolerance,
            "notes": list(self.notes),
            "passed": self.passed,
        }


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

    def to_dict(self) -> dict[str, Any]:
        """The ``verification.json`` object (timings under their own key; see the module docstring).

        Example:
            >>> result.to_dict()["passed"]
            True
        """
        return {
            "format": FORMAT_VERSION,
            "repo_id": self.repo_id,
            "revision": self.revision,
            "commit": self.commit,
            "library": self.library,
            "passed": self.passed,
            "failures": list(self.failures),
            "epoch": self.epoch,
            "weights": self.weights,
            "device": self.device.to_dict() if self.device else None,
            "versions": dict(self.versions),
            "eval": {"data": self.eval_data, "num_samples": self.num_samples},
            "metrics": {k: _num(v) for k, v in sorted(self.metrics.items())},
            "checks": [c.to_dict() for c in self.checks],
            "integrity": self.integrity.to_dict() if self.integrity else None,
            "notes": list(self.notes),
            "timings": {k: round(v, 4) for k, v in sorted(self.timings.items())},
        }

    def to_json(self) -> str:
        """``verification.json`` text: sorted keys, two-space indent, tokens redacted.

        Example:
            >>> json.loads(result.to_json())["revision"]
            'epoch-3'
        """
        return redact(json.dumps(self.to_dict(), indent=2, sort_keys=True, ensure_ascii=False)) + "\n"


def _num(value: float | None) -> float | None:
    """JSON-safe number: NaN/inf become None (JSON has no NaN), others are rounded to 6 digits."""
    if value is None or not math.isfinite(value):
        return None
    return round(float(value), 6)
