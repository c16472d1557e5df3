"""Building blocks for layer groups; each framework groups its own layers (``Framework.layer_groups``).

- timm (``hubkit/frameworks/timm.py``): the model's ``group_matcher`` through timm's ``group_with_matcher``;
- OpenCLIP (``hubkit/frameworks/open_clip.py``): the groups its ``lock()`` code unlocks, found by tensor
  identity (:func:`groups_from_plan`, :func:`block_groups`);
- MMPreTrain (``hubkit/frameworks/mmpretrain_dynamics.py``): backbone stem / stages / neck / head;
- any other framework: one group per top-level module (:func:`groups_by_module`).

Models are built on the ``meta`` device (no memory); groups split the state dict's parameters and
persistent buffers.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from hubkit.dynamics.model import Grouping, LayerGroup

if TYPE_CHECKING:
    import torch


def state_keys(model: torch.nn.Module) -> tuple[list[str], set[str]]:
    """State-dict keys in order, and which of them are parameters."""
    keys = list(model.state_dict().keys())
    params = {name for name, _ in model.named_parameters()}
    return keys, params


def split_keys(keys: Iterable[str], params: set[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    keys = list(keys)
    return tuple(k for k in keys if k in params), tuple(k for k in keys if k not in params)


def _module(key: str) -> list[str]:
    return key.split(".")[:-1] or [key]


def label(keys: Sequence[str], others: Iterable[str] = ()) -> str:
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


def unique(groups: list[LayerGroup]) -> tuple[LayerGroup, ...]:
    seen: dict[str, int] = {}
    out = []
    for group in groups:
        n = seen.get(group.name, 0)
        seen[group.name] = n + 1
        name = group.name if n == 0 else f"{group.name}#{n + 1}"
        out.append(LayerGroup(name, group.params, group.buffers, group.tower))
    return tuple(out)


def tensor_names(model: torch.nn.Module, keys: set[str]) -> dict[int, str]:
    """id(tensor) -> state-dict key, for the tensors the state dict holds."""
    names: dict[int, str] = {}
    for name, tensor in [*model.named_parameters(), *model.named_buffers()]:
        if name in keys:
            names[id(tensor)] = name
    return names


def members(objects: Iterable[Any], names: dict[int, str]) -> list[str]:
    """State-dict keys of parameters / modules, as open_clip's lock() collects them."""
    import torch

    out: list[str] = []
    for obj in objects:
        if obj is None:
            continue
        tensors = [obj] if isinstance(obj, torch.Tensor) else [*obj.parameters(), *obj.buffers()]
        out.extend(names[id(t)] for t in tensors if id(t) in names)
    return out


def block_groups(
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


def groups_from_plan(model: torch.nn.Module, plan: Sequence[Any], scheme: str) -> Grouping:
    """Groups from a framework's plan: ``LayerGroup`` s, or ``(name, tower, [modules / parameters])`` whose
    tensors are found by identity (as a ``lock()`` that walks modules sees them), in plan order; a key
    already taken stays in its first group. Leftover keys of the towers go to ``visual.other`` /
    ``text.other``, the rest to one last group (``logit_scale``).

    Example:
        >>> groups_from_plan(model, [("visual.proj", "image", [model.visual.proj])], "x").groups[0].params
        ('visual.proj',)
    """
    keys, params = state_keys(model)
    names = tensor_names(model, set(keys))
    groups: list[LayerGroup] = []
    taken: set[str] = set()
    for item in plan:
        if isinstance(item, LayerGroup):
            found = [*item.params, *item.buffers]
            name, tower = item.name, item.tower
        else:
            name, tower, objects = item
            found = [k for k in members(objects, names) if k not in taken]
        if not found:
            continue
        taken.update(found)
        chosen = set(found)
        p, b = split_keys([k for k in keys if k in chosen], params)
        groups.append(LayerGroup(name, p, b, tower))
    for tower, prefix in (("image", "visual."), ("text", "text.")):
        rest = [k for k in keys if k.startswith(prefix) and k not in taken]
        if rest:
            taken.update(rest)
            p, b = split_keys(rest, params)
            groups.append(LayerGroup(f"{prefix}other", p, b, tower))
    rest = [k for k in keys if k not in taken]
    if rest:
        p, b = split_keys(rest, params)
        groups.append(LayerGroup(label(rest, taken), p, b, None))
    return Grouping(scheme, unique(groups))


def groups_by_module(model: torch.nn.Module) -> Grouping:
    """One group per top-level module, in order: the default of a framework without its own grouping.

    Example:
        >>> [g.name for g in groups_by_module(torch.nn.Sequential(torch.nn.Linear(2, 2))).groups]
        ['0']
    """
    return groups_from_plan(model, [(n, None, [m]) for n, m in model.named_children()], "top-level modules")
