"""What a training-dynamics analysis produces: frozen dataclasses only, no computation and no I/O.

Flow: a run dir or a published repo gives an ordered list of checkpoints; :mod:`hubkit.dynamics.groups`
splits the state dict into :class:`LayerGroup` s the way the framework itself groups layers;
:mod:`hubkit.dynamics.measure` streams every tensor once and fills one :class:`Step` per group, kind
(parameters / buffers) and checkpoint; :mod:`hubkit.dynamics.check` compares the frozen groups observed
with the ones the run's lock settings imply and flags jumps; the whole is a :class:`DynamicsReport`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Kind = Literal["params", "buffers"]
FindingKind = Literal["changed", "buffers_moved", "unclaimed_frozen"]
REPORT_FORMAT = 1


@dataclass(frozen=True)
class LayerGroup:
    """A set of state-dict keys the framework treats as one unit (a stage, a block, a tower's embeddings)."""

    name: str  # "layer2" / "visual.blocks.0" / "text.embeddings"
    params: tuple[str, ...]  # ("layer2.0.conv1.weight", ...): keys of parameters
    buffers: tuple[str, ...] = ()  # ("layer2.0.bn1.running_mean", ...): keys of persistent buffers
    tower: str | None = None  # "image" | "text" (OpenCLIP), None for single-tower models


@dataclass(frozen=True)
class Grouping:
    """How a state dict was split into groups, and by whose rule."""

    scheme: str  # "timm group_matcher (coarse)" / "open_clip lock() groups"
    groups: tuple[LayerGroup, ...]  # in model order (stem first, head last)

    def group_of(self) -> dict[str, tuple[int, Kind]]:
        """Map each key to ``(group index, "params" | "buffers")``.

        Example:
            >>> Grouping("x", (LayerGroup("a", ("w",), ("b",)),)).group_of()
            {'w': (0, 'params'), 'b': (0, 'buffers')}
        """
        index: dict[str, tuple[int, Kind]] = {}
        for i, group in enumerate(self.groups):
            for key in group.params:
                index[key] = (i, "params")
            for key in group.buffers:
                index[key] = (i, "buffers")
        return index


@dataclass(frozen=True)
class CheckpointRef:
    """One analysed checkpoint."""

    label: str  # "epoch 3" / "epoch-003"
    epoch: int | None  # 3 (framework numbering); None when unknown
    source: str  # "checkpoint-3.pth.tar" / "local/timm-digits@epoch-003"


@dataclass(frozen=True)
class Step:
    """Measures of one kind of tensors (parameters or buffers) of one group at one checkpoint.

    Norms are over the floating-point tensors of the group (integer buffers such as BatchNorm's
    ``num_batches_tracked`` only count towards "unchanged"); all sums are accumulated in float64.
    """

    rel_change_prev: float | None  # 0.012: ‖w_i − w_{i−1}‖ / ‖w_{i−1}‖; None at the first checkpoint
    rel_change_first: float | None  # 0.31: ‖w_i − w_0‖ / ‖w_0‖; None when ‖w_0‖ = 0
    dist_final: float  # 1.7: ‖w_i − w_final‖
    rel_dist_final: float | None  # 0.05: ‖w_i − w_final‖ / ‖w_final‖; None when ‖w_final‖ = 0
    cos_final: float | None  # 0.998: cosine similarity to the final weights; None when a norm is 0
    norm: float  # 23.4: ‖w_i‖
    unchanged_tensors: float | None  # 0.25: share of tensors bitwise equal to the previous checkpoint's
    unchanged_bytes: float | None  # 0.01: share of bytes in tensors bitwise equal to the previous ones
    nan: int  # 0: NaN values at this checkpoint
    inf: int  # 0: ±Inf values at this checkpoint
    jump: str | None = None  # "‖Δw‖/‖w‖ per epoch 0.41 is 12× the group's median so far (0.034)"


@dataclass(frozen=True)
class KindSeries:
    """Parameters or buffers of one group across the checkpoints."""

    kind: Kind  # "params" | "buffers"
    tensors: int  # 12: tensors of this kind in the group
    numel: int  # 295_936: elements
    nbytes: int  # 1_183_744: bytes per checkpoint
    steps: tuple[Step, ...]  # one per checkpoint, in order
    keys: tuple[str, ...] = ()  # ("layer2.0.conv1.weight", ...): the state-dict keys measured

    @property
    def frozen(self) -> bool:
        """Bitwise unchanged across every analysed checkpoint (needs two checkpoints or more).

        Example:
            >>> series.frozen
            True
        """
        later = self.steps[1:]
        return bool(later) and all(s.unchanged_tensors == 1.0 for s in later)

    @property
    def changed(self) -> bool:
        """Some tensor differs bitwise from the previous checkpoint at some checkpoint (False with one)."""
        return any(s.unchanged_tensors != 1.0 for s in self.steps[1:])

    @property
    def max_rel_change(self) -> float:
        """The largest ‖Δw‖/‖w‖ from one checkpoint to the next (0 when frozen)."""
        values = [s.rel_change_prev for s in self.steps[1:] if s.rel_change_prev is not None]
        finite = [v for v in values if math.isfinite(v)]
        return max(finite, default=0.0)


@dataclass(frozen=True)
class Expectation:
    """What the run's own lock settings say about one group."""

    frozen: bool  # True: the settings freeze every parameter of the group
    buffers_frozen: bool  # True: its BatchNorm statistics should not move either (freeze_bn_stats on)
    reason: str  # "--lock-image with --lock-image-unlocked-groups 1 (open_clip VisionTransformer.lock)"


@dataclass(frozen=True)
class GroupDynamics:
    """One group: its measures and what was expected of it."""

    name: str  # "visual.blocks.0"
    tower: str | None  # "image" | "text" | None
    params: KindSeries | None  # None when the group holds no parameters
    buffers: KindSeries | None  # None when the group holds no buffers
    expected: Expectation | None = None  # None: the run's settings say nothing about this group

    @property
    def frozen(self) -> bool:
        """The group's parameters never changed (a group of buffers only: its buffers never changed)."""
        series = self.params or self.buffers
        return series is not None and series.frozen


@dataclass(frozen=True)
class Finding:
    """A frozen-group check result worth telling."""

    group: str  # "layer1"
    kind: FindingKind  # "changed" | "buffers_moved" | "unclaimed_frozen"
    failed: bool  # True: a mismatch with the run's claims (a failed check)
    message: str  # "group 'layer1' is locked by --lock-image, but its parameters changed (…)"


@dataclass(frozen=True)
class DynamicsReport:
    """Training dynamics of one run or published repo."""

    subject: str  # "runs/timm-digits" / "local/timm-digits"
    framework: str  # "timm" | "open_clip" | "mmpretrain"
    architecture: str  # "test_resnet"
    scheme: str  # "timm group_matcher (coarse)"
    checkpoints: tuple[CheckpointRef, ...]  # in order
    groups: tuple[GroupDynamics, ...]  # in model order
    findings: tuple[Finding, ...]  # frozen-group checks and notes
    lock_settings: tuple[str, ...]  # ("--lock-image", "--lock-image-unlocked-groups 1"); () when none
    bytes_read: int  # 980_000_000: tensor bytes read, all checkpoints together
    seconds: float = 0.0  # wall time of the measurement
    notes: tuple[str, ...] = field(default=())  # ("3 keys in no group: logit_scale",)

    @property
    def passed(self) -> bool:
        """No group contradicts the run's lock settings."""
        return not any(f.failed for f in self.findings)

    @property
    def frozen_observed(self) -> tuple[str, ...]:
        """Groups whose parameters never changed."""
        return tuple(g.name for g in self.groups if g.frozen)

    @property
    def frozen_expected(self) -> tuple[str, ...]:
        """Groups the run's lock settings freeze."""
        return tuple(g.name for g in self.groups if g.expected is not None and g.expected.frozen)

    def unchanged_share(self) -> tuple[float | None, ...]:
        """Per checkpoint, the share of all weight bytes bitwise unchanged from the previous checkpoint.

        Example:
            >>> report.unchanged_share()
            (None, 0.62, 0.62)
        """
        shares: list[float | None] = [None]
        for i in range(1, len(self.checkpoints)):
            same = total = 0.0
            for group in self.groups:
                for series in (group.params, group.buffers):
                    if series is None:
                        continue
                    step = series.steps[i]
                    total += series.nbytes
                    same += (step.unchanged_bytes or 0.0) * series.nbytes
            shares.append(same / total if total else None)
        return tuple(shares)

    def to_json(self) -> dict[str, Any]:
        """The report as plain JSON data (NaN and infinities become null).

        Example:
            >>> report.to_json()["frozen"]["observed"]
            ['stem', 'layer1']
        """
        data = _clean(asdict(self))
        data["format"] = REPORT_FORMAT
        data["passed"] = self.passed
        data["frozen"] = {"observed": list(self.frozen_observed), "expected": list(self.frozen_expected)}
        data["unchanged_share"] = list(self.unchanged_share())
        return data


def _clean(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
