"""Training dynamics across checkpoints: per layer-group change, frozen groups checked against lock settings.

Data flow: run dir (or published repo) → checkpoints (memory-mapped, or safetensors) → layer groups from
the framework itself (:mod:`hubkit.dynamics.groups`) → measures streamed tensor by tensor
(:mod:`hubkit.dynamics.measure`) → frozen groups expected vs observed, jumps (:mod:`hubkit.dynamics.check`)
→ :class:`DynamicsReport` (JSON, table, picture).

Importing this package is cheap: torch, timm, open_clip and matplotlib are imported where they are used.
"""

from __future__ import annotations

from hubkit.dynamics.analyse import analyse_run, build_report
from hubkit.dynamics.model import (
    CheckpointRef,
    DynamicsReport,
    Expectation,
    Finding,
    GroupDynamics,
    Grouping,
    KindSeries,
    LayerGroup,
    Step,
)
from hubkit.dynamics.published import analyse_repo

__all__ = [
    "CheckpointRef",
    "DynamicsReport",
    "Expectation",
    "Finding",
    "GroupDynamics",
    "Grouping",
    "KindSeries",
    "LayerGroup",
    "Step",
    "analyse_repo",
    "analyse_run",
    "build_report",
]
