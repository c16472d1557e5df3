"""Model cards: a frozen :class:`CardContext`, Jinja templates, and ``huggingface_hub`` front matter.

Data flow: tag (or run pieces) -> :func:`context_from_tag` / :func:`with_run` -> :class:`CardContext`
-> :func:`render_card` (templates in ``hubkit.templates``, overridable) -> README.md.

Importing this package imports neither torch nor timm; building a context does (lazily).

Example:
    >>> from hubkit.cards import context_from_tag, render_card
    >>> text = render_card(context_from_tag("resnet50.a1_in1k"))
"""

from __future__ import annotations

from hubkit.cards.build import context_from_tag, with_run
from hubkit.cards.context import (
    CardContext,
    CheckpointFacts,
    DatasetRow,
    EpochTable,
    Hyperparameter,
    Link,
    Metric,
    MetricCheck,
    ModelStats,
    PaperRef,
    ResultRow,
    RevisionRow,
    RunFacts,
    Sourced,
    Usage,
    VerificationFacts,
)
from hubkit.cards.render import CHECKPOINT_TEMPLATE, DEFAULT_TEMPLATE, render_card, write_card

__all__ = [
    "CHECKPOINT_TEMPLATE",
    "DEFAULT_TEMPLATE",
    "CardContext",
    "CheckpointFacts",
    "DatasetRow",
    "EpochTable",
    "Hyperparameter",
    "Link",
    "Metric",
    "MetricCheck",
    "ModelStats",
    "PaperRef",
    "ResultRow",
    "RevisionRow",
    "RunFacts",
    "Sourced",
    "Usage",
    "VerificationFacts",
    "context_from_tag",
    "render_card",
    "with_run",
    "write_card",
]
