"""Which parameters a run's own lock settings freeze: the expected side of the frozen-group check.

Each framework reads its own settings (``Framework.lock_plan``): OpenCLIP calls open_clip's own
``lock_image_tower`` / ``lock_text_tower`` on a meta-device copy of the model with the run's
``--lock-image*`` / ``--lock-text*`` (``Hyperparams.locked_towers`` / ``unlocked_groups``); timm reads a
recorded ``--lock`` (``hubkit.frameworks.timm.LOCK_ARGS``). MMPreTrain's ``frozen_stages`` is here
(:func:`lock_plan_mmpretrain`) until it has a framework module.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hubkit.dynamics.model import Expectation, Grouping

if TYPE_CHECKING:
    import torch


# MMPreTrain frozen_stages per stage style (source: mmpretrain/models/backbones resnet.py _freeze_stages:
# >= 0 freezes the stem, then layer1..layerK; vision_transformer.py: K > 0 freezes patch_embed, cls_token,
# pos_embed, pre_norm and layers 0..K-1, K = num_layers also the final norm; convnext.py: stages and
# downsample_layers 0..K-1). Frozen stages are kept in eval mode, so their BatchNorm statistics freeze too.
MMPRETRAIN_FROZEN: dict[str, str] = {
    "resnet": "frozen_stages=K freezes the stem and layer1..layerK (K=0: the stem only)",
    "vit": "frozen_stages=K freezes the embeddings and layers 0..K-1 (K = all layers: the final norm too)",
    "convnext": "frozen_stages=K freezes stages and downsample layers 0..K-1",
}


@dataclass(frozen=True)
class LockPlan:
    """The parameters a run's settings freeze, with why."""

    frozen: Mapping[str, str] = field(default_factory=dict)  # param key -> "--lock-image (…)"
    bn_stats_frozen: frozenset[str] = frozenset()  # param keys whose group's BatchNorm statistics freeze
    settings: tuple[str, ...] = ()  # ("--lock-image", "--lock-image-unlocked-groups 1"); () when none

    def expectations(self, grouping: Grouping) -> tuple[Expectation, ...]:
        """One expectation per group: frozen when the settings freeze every parameter of it.

        Example:
            >>> [e.frozen for e in plan.expectations(grouping)]
            [True, True, False]
        """
        out = []
        for group in grouping.groups:
            keys = group.params
            frozen = bool(keys) and all(k in self.frozen for k in keys)
            if frozen:
                reasons = sorted({self.frozen[k] for k in keys})
                bn = all(k in self.bn_stats_frozen for k in keys)
                out.append(Expectation(True, bn, "; ".join(reasons)))
            else:
                why = "not frozen by the run's lock settings" if self.settings else "the run locks nothing"
                out.append(Expectation(False, False, why))
        return tuple(out)


def truthy(value: Any) -> bool:
    """A recorded flag's truth (args.yaml / params.txt / hubkit.json spell them in several ways).

    Example:
        >>> truthy("False"), truthy(1)
        (False, True)
    """
    return value not in (None, False, 0, "", "False", "false", "None")


def as_int(value: Any) -> int:
    """A recorded count, 0 when absent or not a number."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def parameter_names(model: torch.nn.Module) -> dict[int, str]:
    """id(parameter) -> state-dict key, for the parameters the state dict holds."""
    keys = set(model.state_dict().keys())
    return {id(p): n for n, p in model.named_parameters() if n in keys}


def lock_plan_mmpretrain(grouping: Grouping, frozen_stages: int, style: str | None) -> LockPlan:
    """What MMPreTrain's ``frozen_stages`` freezes, for a grouping from ``groups_mmpretrain``.

    Example:
        >>> sorted(set(lock_plan_mmpretrain(grouping, 1, "resnet").frozen.values()))
        ['frozen_stages=1 (mmpretrain resnet)']
    """
    if frozen_stages < 0 or style is None or (style != "resnet" and frozen_stages == 0):
        return LockPlan()
    stage_names = [
        g.name for g in grouping.groups if g.name.startswith(("backbone.layer", "backbone.stages"))
    ]
    stages = sorted(int(n.rsplit("layer", 1)[-1].rsplit(".", 1)[-1]) for n in stage_names)
    if style == "resnet":
        chosen = {"backbone.stem", *(f"backbone.layer{i}" for i in range(1, frozen_stages + 1))}
    elif style == "vit":
        chosen = {"backbone.stem", *(f"backbone.stages.{i}" for i in range(frozen_stages))}
        if stages and frozen_stages >= len(stages):
            chosen.add("backbone.post")
    else:
        chosen = {f"backbone.stages.{i}" for i in range(frozen_stages)}
    reason = f"frozen_stages={frozen_stages} (mmpretrain {style})"
    frozen = {k: reason for g in grouping.groups if g.name in chosen for k in g.params}
    return LockPlan(frozen, frozenset(frozen), (f"frozen_stages={frozen_stages}",))
