"""MMPreTrain's layer groups and ``frozen_stages`` lock, for the training dynamics (``hubkit.dynamics``).

Groups follow the units a backbone's ``frozen_stages`` freezes (sources: mmpretrain/models/backbones,
``_freeze_stages`` of resnet.py: stem ``conv1``/``norm1`` or ``stem``, then ``layer1``..``layerK``;
vision_transformer.py: ``patch_embed``/``cls_token``/``pos_embed``/``pre_norm``, ``layers.0``..``K-1``,
the final norm when K is every layer; convnext.py: ``downsample_layers.i`` with ``stages.i``): backbone stem,
each stage, the rest of the backbone, then neck and head. The lock is MMPreTrain's own: the backbone's
``_freeze_stages`` is run on a meta-device copy with the recorded ``frozen_stages``, and its
``requires_grad`` / eval-mode flags are read back (as OpenCLIP's ``lock()`` is, in ``open_clip.py``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

    from hubkit.dynamics.locks import LockPlan
    from hubkit.dynamics.model import Grouping
    from hubkit.runs.model import Hyperparams

# Backbone stage containers: (state-dict key pattern, stage style); the first index is the stage.
STAGES: tuple[tuple[str, str], ...] = (
    (r"^backbone\.layer(\d+)\.", "resnet"),
    (r"^backbone\.layers\.(\d+)\.", "vit"),
    (r"^backbone\.(?:stages|downsample_layers)\.(\d+)\.", "convnext"),
)


def stage_style(keys: Sequence[str]) -> str | None:
    """The backbone's stage naming (``resnet``, ``vit``, ``convnext``), or None when none is recognised.

    Example:
        >>> stage_style(["backbone.layer1.0.conv1.weight"])
        'resnet'
    """
    for pattern, style in STAGES:
        if any(re.match(pattern, k) for k in keys):
            return style
    return None


def _group_name(key: str, pattern: str | None, style: str | None, seen_stage: bool) -> str:
    match = re.match(pattern, key) if pattern else None
    if match:
        index = int(match.group(1))
        return f"backbone.layer{index}" if style == "resnet" else f"backbone.stages.{index}"
    if key.startswith("backbone."):
        return "backbone.post" if seen_stage else "backbone.stem"
    return key.split(".", 1)[0]


def _rank(order: list[str], name: str) -> tuple[int, int]:
    """stem, stages by index, post, then the rest (neck, head) in key order."""
    if name == "backbone.stem":
        return (0, 0)
    if name == "backbone.post":
        return (2, 0)
    found = re.search(r"(\d+)$", name)
    if name.startswith("backbone.") and found:
        return (1, int(found.group(1)))
    return (3, order.index(name))


def layer_groups(model: torch.nn.Module) -> Grouping:
    """Groups of an MMPreTrain classifier: backbone stem, each stage, the rest of the backbone; neck; head.

    Parameters and persistent buffers (BatchNorm running statistics) are told apart by the model itself.

    Example:
        >>> [g.name for g in layer_groups(get_model("resnet18_8xb32_in1k", device="meta")).groups]
        ['backbone.stem', 'backbone.layer1', 'backbone.layer2', 'backbone.layer3', 'backbone.layer4', 'head']
    """
    from hubkit.dynamics.groups import split_keys, state_keys, unique
    from hubkit.dynamics.model import Grouping, LayerGroup

    keys, params = state_keys(model)
    style = stage_style(keys)
    pattern = next((p for p, s in STAGES if s == style), None)
    order: list[str] = []
    members: dict[str, list[str]] = {}
    seen_stage = False
    for key in keys:
        name = _group_name(key, pattern, style, seen_stage)
        seen_stage = seen_stage or (pattern is not None and re.match(pattern, key) is not None)
        if name not in members:
            order.append(name)
            members[name] = []
        members[name].append(key)
    groups = []
    for name in sorted(order, key=lambda n: _rank(order, n)):
        p, b = split_keys(members[name], params)
        groups.append(LayerGroup(name, p, b))
    return Grouping(f"mmpretrain backbone stages ({style or 'no stages found'})", unique(groups))


def lock_settings(hyperparams: Hyperparams) -> tuple[str, ...]:
    """``("frozen_stages=K",)`` when the config freezes anything (K ≥ 0; -1, the default, freezes nothing)."""
    stages = hyperparams.frozen_stages
    return (f"frozen_stages={stages}",) if stages is not None and stages >= 0 else ()


def _owner(key: str) -> str:
    return key.rsplit(".", 1)[0] if "." in key else ""


def lock_plan(model: torch.nn.Module, hyperparams: Hyperparams) -> LockPlan:
    """What the backbone's own ``_freeze_stages`` freezes with the recorded ``frozen_stages``.

    Run on a copy: every parameter trainable and every module in train mode first (the model may have
    been built from a config that froze stages already), then ``frozen_stages`` set and ``_freeze_stages``
    called as the backbone's ``__init__`` does, then ``train()`` as MMEngine's loop does (ResNet, ConvNeXt
    and Swin freeze again there). A frozen parameter's BatchNorm statistics count as frozen unless a module
    of it that holds buffers is left in train mode.

    Example:
        >>> lock_plan(model, Hyperparams(frozen_stages=1)).settings
        ('frozen_stages=1',)
    """
    import copy

    from hubkit.dynamics.locks import LockPlan, parameter_names

    settings = lock_settings(hyperparams)
    backbone = getattr(model, "backbone", None)
    freeze = getattr(backbone, "_freeze_stages", None)
    if not settings or backbone is None or freeze is None or not hasattr(backbone, "frozen_stages"):
        return LockPlan(settings=settings)  # no backbone that freezes stages: nothing to run
    locked: Any = copy.deepcopy(model)
    names = parameter_names(locked)
    for param in locked.parameters():
        param.requires_grad = True
    locked.train()
    locked.backbone.frozen_stages = hyperparams.frozen_stages
    locked.backbone._freeze_stages()
    locked.train()
    moving = {
        name for name, m in locked.named_modules() if m.training and next(m.buffers(False), None) is not None
    }
    reason = f"{settings[0]} ({type(locked.backbone).__name__}._freeze_stages)"
    frozen: dict[str, str] = {}
    bn: set[str] = set()
    for param in locked.parameters():
        name = names.get(id(param))
        if param.requires_grad or name is None:
            continue
        frozen[name] = reason
        if _owner(name) not in moving:
            bn.add(name)
    return LockPlan(frozen, frozenset(bn), settings)
