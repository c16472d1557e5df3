"""How to verify: the settings shared by every revision of one ``hubkit verify`` call.

Its own module so that the verification steps (checks.py, the framework objects) can name the options
without importing :mod:`hubkit.verify.verifier`, which imports them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hubkit.verify.evaluate import DEFAULT_ZERO_SHOT_TEMPLATES

DEFAULT_BATCH_SIZE = 64
DEFAULT_TOLERANCE = 0.5  # percent points


@dataclass(frozen=True)
class VerifyOptions:
    """How to verify (shared by every revision of one call)."""

    eval_data: str | Path | None = None  # image folder or CSV; None: the run's own validation data
    device: str = "auto"  # "auto" | "cuda" | "cpu"
    batch_size: int | None = None  # None: 64 (OpenCLIP retrieval: the run's batch size, for clip_val_loss)
    limit: int | None = None  # evaluate an evenly spread subset of N samples (metrics then not checked)
    tolerance: float = DEFAULT_TOLERANCE  # largest accepted |measured − recorded|, percent points
    workers: int = 2  # DataLoader workers (0–2)
    logits_tolerance: float = 1e-4  # published vs source model outputs on one batch
    zero_shot_templates: tuple[str, ...] = DEFAULT_ZERO_SHOT_TEMPLATES  # "{}" is the class name
    class_names: tuple[str, ...] | None = None  # zero-shot names in label order; None: the folder names
