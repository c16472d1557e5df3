"""Verify published revisions: fresh download, reload through timm / open_clip, integrity, quick-eval.

Data flow: :func:`load_revision` (loader.py, hubenv.py) → :func:`check_files` and, with the source run,
the tensor and logits checks (integrity.py, checks.py, sources.py) → quick-eval (datasets.py,
evaluate.py) → :class:`RevisionResult` (result.py) → text, ``verification.json`` and card data (report.py).
:func:`verify_revision` (verifier.py) runs the whole flow for one revision and never raises for a failed
check. Importing this package does not import torch.
"""

from __future__ import annotations

from hubkit.verify.loader import LoadedModel, load_revision
from hubkit.verify.result import IntegrityReport, MetricCheck, RevisionResult
from hubkit.verify.verifier import VerifyOptions, list_revisions, verify_revision, verify_revisions

__all__ = [
    "IntegrityReport",
    "LoadedModel",
    "MetricCheck",
    "RevisionResult",
    "VerifyOptions",
    "list_revisions",
    "load_revision",
    "verify_revision",
    "verify_revisions",
]
