"""Which parameters a run's own lock settings freeze: the expected side of the frozen-group check.

- OpenCLIP: ``--lock-image`` / ``--lock-image-unlocked-groups N`` / ``--lock-image-freeze-bn-stats``,
  ``--lock-text`` / ``--lock-text-unlocked-layers N`` (params.txt, parsed into
  ``Hyperparams.locked_towers`` / ``unlocked_groups``). The model is built on the ``meta`` device and
  open_clip's own ``lock_image_tower`` / ``lock_text_tower`` are called on it, so the expectation is
  exactly what open_clip_train did; the parameters left with ``requires_grad=False`` are the frozen ones.
- timm: ``train.py`` has no freezing option; runs record their lock in ``args.yaml`` under the names in
  :data:`TIMM_LOCK_ARGS` (hubkit's timm example uses them), with ``TimmModel.lock``'s meaning: freeze the
  model's ``group_matcher`` groups except the last N.
- MMPreTrain: ``model.backbone.frozen_stages`` with each backbone's own meaning (:data:`MMPRETRAIN_FROZEN`).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hubkit.dynamics.model import Expectation, Grouping

if TYPE_CHECKING:
    import torch

    from hubkit.runs.model import Hyperparams

# args.yaml names a timm run records its lock under (source: examples/timm_digits/train.py --lock,
# --lock-unlocked-groups, --lock-freeze-bn-stats, which mirror open_clip's TimmModel.lock arguments).
TIMM_LOCK_ARGS: dict[str, str] = {
    "lock": "freeze the model except its last groups (timm group_matcher, as open_clip TimmModel.lock)",
    "lock_unlocked_groups": "number of last groups left trainable (0: the whole model is frozen)",
    "lock_freeze_bn_stats": "BatchNorm layers of frozen groups kept in eval mode (statistics frozen)",
}
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


def _truthy(value: Any) -> bool:
    return value not in (None, False, 0, "", "False", "false", "None")


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _state_names(model: torch.nn.Module) -> dict[int, str]:
    keys = set(model.state_dict().keys())
    return {id(p): n for n, p in model.named_parameters() if n in keys}


def lock_plan_open_clip(model: torch.nn.Module, hyperparams: Hyperparams) -> LockPlan:
    """What ``--lock-image*`` / ``--lock-text*`` freeze, by calling open_clip's own lock code on a copy.

    Args:
        model: the run's OpenCLIP model on the ``meta`` device (not modified).
        hyperparams: the run's hyperparameters (``locked_towers``, ``unlocked_groups``, ``raw``).

    Example:
        >>> sorted(lock_plan_open_clip(meta_clip, run.hyperparams).settings)
        ['--lock-image', '--lock-image-unlocked-groups 1']
    """
    raw = hyperparams.raw
    frozen: dict[str, str] = {}
    bn: set[str] = set()
    settings: list[str] = []
    for tower in hyperparams.locked_towers:
        copy_ = copy.deepcopy(model)
        names = _state_names(copy_)
        unlocked = hyperparams.unlocked_groups.get(tower, 0)
        if tower == "image":
            freeze_bn = _truthy(raw.get("lock_image_freeze_bn_stats"))
            # BatchNorm freezing swaps modules; only requires_grad matters here, the flag is kept apart
            copy_.lock_image_tower(unlocked_groups=unlocked, freeze_bn_stats=False)  # type: ignore[operator]
            parts = ["--lock-image"] + ([f"--lock-image-unlocked-groups {unlocked}"] if unlocked else [])
            parts += ["--lock-image-freeze-bn-stats"] if freeze_bn else []
            where = "open_clip lock_image_tower"
        else:
            freeze_bn = True  # the text towers have no BatchNorm
            copy_.lock_text_tower(unlocked_layers=unlocked, freeze_layer_norm=True)  # type: ignore[operator]
            parts = ["--lock-text"] + ([f"--lock-text-unlocked-layers {unlocked}"] if unlocked else [])
            where = "open_clip lock_text_tower"
        settings.extend(parts)
        reason = f"{' '.join(parts)} ({where})"
        for param in copy_.parameters():
            if not param.requires_grad and id(param) in names and names[id(param)] not in frozen:
                frozen[names[id(param)]] = reason
                if freeze_bn:
                    bn.add(names[id(param)])
    return LockPlan(frozen, frozenset(bn), tuple(settings))


def lock_plan_timm(model: torch.nn.Module, hyperparams: Hyperparams) -> LockPlan:
    """What a timm run's recorded lock (:data:`TIMM_LOCK_ARGS`) freezes: all but the last N groups.

    Example:
        >>> lock_plan_timm(meta_resnet, run.hyperparams).settings
        ('--lock', '--lock-unlocked-groups 1', '--lock-freeze-bn-stats')
    """
    from timm.models import group_parameters

    raw = hyperparams.raw
    if not _truthy(raw.get("lock")):
        return LockPlan()
    unlocked = _int(raw.get("lock_unlocked_groups"))
    freeze_bn = _truthy(raw.get("lock_freeze_bn_stats"))
    settings = ("--lock",) + ((f"--lock-unlocked-groups {unlocked}",) if unlocked else ())
    settings += ("--lock-freeze-bn-stats",) if freeze_bn else ()
    groups = group_parameters(model, model.group_matcher())  # type: ignore[operator]
    last_frozen = max(groups) - unlocked
    reason = f"{' '.join(settings)} (args.yaml)"
    frozen = {name: reason for lid, names in groups.items() if lid <= last_frozen for name in names}
    return LockPlan(frozen, frozenset(frozen) if freeze_bn else frozenset(), settings)


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
