"""Layer groups as each framework itself groups layers: one function per framework.

- timm: the model's own ``group_matcher`` (coarse: stem, each stage, head; fine: each block), applied
  with timm's ``group_with_matcher`` — the grouping timm uses for layer-wise LR decay and OpenCLIP for
  ``TimmModel.lock``.
- OpenCLIP: the groups its ``lock()`` code unlocks one by one (read from the installed open_clip:
  ``VisionTransformer.lock``: embeddings + ``ln_pre``, each block, last block + ``ln_post``, ``proj``;
  ``lock_text_tower``: embeddings, each block, last block + ``ln_final``, projection; ``TimmModel.lock``:
  the trunk's fine ``group_matcher`` groups; ``ModifiedResNet``: its stages), for both towers.
- MMPreTrain: backbone stem / stages / neck / head by key prefix (no mmpretrain import needed).

Each function takes the model built on the ``meta`` device (no memory) or, for MMPreTrain, the keys,
and returns a :class:`Grouping` whose groups split the state dict's parameters and persistent buffers.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from hubkit.dynamics.model import Grouping, LayerGroup

if TYPE_CHECKING:
    import torch

# MMPreTrain backbones' stage containers: (key pattern, stage style). Sources: mmpretrain/models/backbones
# resnet.py (``layer1``..``layer4``, stem ``conv1``/``norm1`` or ``stem``), vision_transformer.py
# (``layers.N``, stem ``patch_embed``/``cls_token``/``pos_embed``/``pre_norm``, final ``ln1``),
# convnext.py (``downsample_layers.N`` + ``stages.N``; ``downsample_layers.0`` is the stem).
MMPRETRAIN_STAGES: tuple[tuple[str, str], ...] = (
    (r"^backbone\.layer(\d+)\.", "resnet"),
    (r"^backbone\.layers\.(\d+)\.", "vit"),
    (r"^backbone\.(?:stages|downsample_layers)\.(\d+)\.", "convnext"),
)
# Buffer names of normalisation layers (MMPreTrain keys are grouped without building the model).
BUFFER_SUFFIXES = (".running_mean", ".running_var", ".num_batches_tracked")


def _state_keys(model: torch.nn.Module) -> tuple[list[str], set[str]]:
    """State-dict keys in order, and which of them are parameters."""
    keys = list(model.state_dict().keys())
    params = {name for name, _ in model.named_parameters()}
    return keys, params


def _split(keys: Iterable[str], params: set[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    keys = list(keys)
    return tuple(k for k in keys if k in params), tuple(k for k in keys if k not in params)


def _module(key: str) -> list[str]:
    return key.split(".")[:-1] or [key]


def _label(keys: Sequence[str], others: Iterable[str] = ()) -> str:
    """A group's name from its keys: per top-level module, the shortest module path that holds its keys
    and no key of another group (``layer2``, ``blocks.5``), joined with ``+`` (``conv1+bn1``)."""
    other_modules = [_module(k) for k in others]
    tops: dict[str, list[list[str]]] = {}
    for key in keys:
        path = _module(key)
        tops.setdefault(path[0], []).append(path)
    names = []
    for paths in tops.values():
        common: list[str] = []
        for column in zip(*paths, strict=False):
            if len(set(column)) != 1:
                break
            common.append(column[0])
        depth = 1
        while depth < len(common) and any(o[:depth] == common[:depth] for o in other_modules):
            depth += 1
        names.append(".".join(common[:depth]))
    return "+".join(names)


def _unique(groups: list[LayerGroup]) -> tuple[LayerGroup, ...]:
    seen: dict[str, int] = {}
    out = []
    for group in groups:
        n = seen.get(group.name, 0)
        seen[group.name] = n + 1
        name = group.name if n == 0 else f"{group.name}#{n + 1}"
        out.append(LayerGroup(name, group.params, group.buffers, group.tower))
    return tuple(out)


def _matcher_groups(
    keys: Sequence[str], params: set[str], matcher: Any, *, prefix: str = "", tower: str | None = None
) -> list[LayerGroup]:
    """Group ``keys`` with timm's ``group_with_matcher`` (unmatched keys: timm's last group, the head)."""
    from timm.models._manipulate import group_with_matcher

    stripped = [k[len(prefix) :] for k in keys]
    grouped = group_with_matcher(((k, None) for k in stripped), matcher)
    groups = []
    for lid in sorted(grouped):
        members = [prefix + k for k in grouped[lid]]
        p, b = _split(members, params)
        others = [k for other, names in grouped.items() if other != lid for k in names]
        groups.append(LayerGroup(prefix + _label(grouped[lid], others), p, b, tower))
    return groups


def groups_timm(model: torch.nn.Module, *, fine: bool = False) -> Grouping:
    """Groups of a timm model from its ``group_matcher`` (coarse by default: stem, stages, head).

    Args:
        model: the timm model (build it on the ``meta`` device: only names are used).
        fine: one group per block instead of per stage.

    Example:
        >>> [g.name for g in groups_timm(meta_resnet).groups]
        ['conv1+bn1', 'layer1', 'layer2', 'layer3', 'layer4', 'fc']
    """
    keys, params = _state_keys(model)
    matcher = model.group_matcher(coarse=not fine)  # type: ignore[operator]
    scheme = f"timm group_matcher ({'fine' if fine else 'coarse'})"
    return Grouping(scheme, _unique(_matcher_groups(keys, params, matcher)))


def _tensor_names(model: torch.nn.Module, keys: set[str]) -> dict[int, str]:
    """id(tensor) -> state-dict key, for the tensors the state dict holds."""
    names: dict[int, str] = {}
    for name, tensor in [*model.named_parameters(), *model.named_buffers()]:
        if name in keys:
            names[id(tensor)] = name
    return names


def _members(objects: Iterable[Any], names: dict[int, str]) -> list[str]:
    """State-dict keys of parameters / modules, as open_clip's lock() collects them."""
    import torch

    out: list[str] = []
    for obj in objects:
        if obj is None:
            continue
        tensors = [obj] if isinstance(obj, torch.Tensor) else [*obj.parameters(), *obj.buffers()]
        out.extend(names[id(t)] for t in tensors if id(t) in names)
    return out


def _block_groups(
    tower: str, prefix: str, head: list[Any], blocks: Sequence[Any], tail: list[Any], last: list[Any]
) -> list[tuple[str, str, list[Any]]]:
    """lock()'s sequence: embeddings, each block but the last, last block + final norm, projection."""
    out = [(f"{prefix}.embed", tower, head)]
    for i, block in enumerate(blocks[:-1]):
        out.append((f"{prefix}.blocks.{i}", tower, [block]))
    if blocks:
        out.append((f"{prefix}.blocks.{len(blocks) - 1}+norm", tower, [blocks[-1], *tail]))
    out.append((f"{prefix}.proj", tower, last))
    return out


def _visual_plan(model: torch.nn.Module, keys: list[str], params: set[str]) -> list[Any]:
    visual: Any = model.visual
    if hasattr(visual, "trunk"):  # open_clip TimmModel: lock() groups the trunk with its fine matcher
        trunk_keys = [k for k in keys if k.startswith("visual.trunk.")]
        groups = _matcher_groups(
            trunk_keys, params, visual.trunk.group_matcher(), prefix="visual.trunk.", tower="image"
        )
        return [*groups, ("visual.head", "image", [getattr(visual, "head", None)])]
    blocks = getattr(getattr(visual, "transformer", None), "resblocks", None)
    if blocks is not None and hasattr(visual, "conv1"):  # open_clip VisionTransformer
        head = [visual.conv1, visual.class_embedding, visual.positional_embedding, visual.ln_pre]
        return _block_groups("image", "visual", head, list(blocks), [visual.ln_post], [visual.proj])
    if hasattr(visual, "attnpool"):  # open_clip ModifiedResNet: stem convs, layer1-4, attention pool
        stem = [getattr(visual, n, None) for n in ("conv1", "bn1", "conv2", "bn2", "conv3", "bn3")]
        stages = [
            (f"visual.{n}", "image", [getattr(visual, n)]) for n in ("layer1", "layer2", "layer3", "layer4")
        ]
        return [("visual.stem", "image", stem), *stages, ("visual.attnpool", "image", [visual.attnpool])]
    return [(f"visual.{name}", "image", [child]) for name, child in visual.named_children()]


def _text_plan(model: torch.nn.Module) -> list[Any]:
    text = model.text if hasattr(model, "text") else model  # as open_clip's lock_text_tower looks
    prefix = "text" if hasattr(model, "text") else ""
    blocks = getattr(getattr(text, "transformer", None), "resblocks", None)
    if blocks is None:
        return [("text", "text", [text])] if prefix else []
    head = [getattr(text, n, None) for n in ("token_embedding", "positional_embedding", "cls_emb")]
    tail = [getattr(text, "ln_final", None)]
    return _block_groups("text", "text", head, list(blocks), tail, [getattr(text, "text_projection", None)])


def groups_open_clip(model: torch.nn.Module) -> Grouping:
    """Groups of an OpenCLIP model as its ``lock()`` code unlocks them, for both towers.

    Keys of a tower outside lock()'s groups go to ``visual.other`` / ``text.other``; the rest of the
    model (``logit_scale``, ``logit_bias``) to ``logit_scale``.

    Example:
        >>> [g.name for g in groups_open_clip(meta_clip).groups][:3]
        ['visual.embed', 'visual.blocks.0', 'visual.blocks.1+norm']
    """
    keys, params = _state_keys(model)
    key_set = set(keys)
    names = _tensor_names(model, key_set)
    groups: list[LayerGroup] = []
    taken: set[str] = set()
    for item in [*_visual_plan(model, keys, params), *_text_plan(model)]:
        if isinstance(item, LayerGroup):
            members = [*item.params, *item.buffers]
            name, tower = item.name, item.tower
        else:
            name, tower, objects = item
            members = [k for k in _members(objects, names) if k not in taken]
        if not members:
            continue
        taken.update(members)
        ordered = [k for k in keys if k in set(members)]
        p, b = _split(ordered, params)
        groups.append(LayerGroup(name, p, b, tower))
    for tower, prefix in (("image", "visual."), ("text", "text.")):
        rest = [k for k in keys if k.startswith(prefix) and k not in taken]
        if rest:
            taken.update(rest)
            p, b = _split(rest, params)
            groups.append(LayerGroup(f"{prefix}other", p, b, tower))
    rest = [k for k in keys if k not in taken]
    if rest:
        p, b = _split(rest, params)
        groups.append(LayerGroup(_label(rest, taken), p, b, None))
    return Grouping("open_clip lock() groups", _unique(groups))


def mmpretrain_stage_style(keys: Iterable[str]) -> str | None:
    """The backbone's stage naming (``resnet``, ``vit``, ``convnext``), or None when none is recognised.

    Example:
        >>> mmpretrain_stage_style(["backbone.layer1.0.conv1.weight"])
        'resnet'
    """
    keys = list(keys)
    for pattern, style in MMPRETRAIN_STAGES:
        if any(re.match(pattern, k) for k in keys):
            return style
    return None


def groups_mmpretrain(keys: Sequence[str]) -> Grouping:
    """Groups of an MMPreTrain ``ImageClassifier`` state dict: backbone stem, stages, rest; neck; head.

    Parameters and buffers are told apart by name (BatchNorm's ``running_mean``, ``running_var``,
    ``num_batches_tracked``), since no model is built.

    Example:
        >>> [g.name for g in groups_mmpretrain(keys).groups]
        ['backbone.stem', 'backbone.layer1', 'backbone.layer2', 'backbone.post', 'neck', 'head']
    """
    keys = list(keys)
    style = mmpretrain_stage_style(keys)
    pattern = next((p for p, s in MMPRETRAIN_STAGES if s == style), None)
    order: list[str] = []
    members: dict[str, list[str]] = {}
    seen_stage = False
    for key in keys:
        match = re.match(pattern, key) if pattern else None
        if match:
            seen_stage = True
            index = int(match.group(1))
            name = f"backbone.layer{index}" if style == "resnet" else f"backbone.stages.{index}"
        elif key.startswith("backbone."):
            name = "backbone.post" if seen_stage else "backbone.stem"
        else:
            name = key.split(".", 1)[0]
        if name not in members:
            order.append(name)
            members[name] = []
        members[name].append(key)
    groups = []
    for name in _mm_order(order):
        p = tuple(k for k in members[name] if not k.endswith(BUFFER_SUFFIXES))
        b = tuple(k for k in members[name] if k.endswith(BUFFER_SUFFIXES))
        if p or b:
            groups.append(LayerGroup(name, p, b))
    return Grouping(f"mmpretrain backbone stages ({style or 'no stages found'})", tuple(groups))


def _mm_order(order: list[str]) -> list[str]:
    """stem, stages by index, post, then the rest in key order."""

    def rank(name: str) -> tuple[int, int]:
        if name == "backbone.stem":
            return (0, 0)
        found = re.search(r"(\d+)$", name)
        if name.startswith("backbone.") and found and name != "backbone.post":
            return (1, int(found.group(1)))
        if name == "backbone.post":
            return (2, 0)
        return (3, order.index(name))

    return sorted(order, key=rank)
