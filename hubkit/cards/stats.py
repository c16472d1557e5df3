"""Parameters, GMACs and activations of a timm or OpenCLIP model, computed without any weights.

The model is built with ``pretrained=False`` on PyTorch's ``meta`` device (tensors with shapes and no
storage), so even EVA-02 Large at 448 px costs well under a second and no memory, and nothing is ever
downloaded. A ``TorchDispatchMode`` sees every ATen op of one forward pass and counts:

- multiply-accumulates of convolutions and matrix products with ``torch.utils.flop_counter``'s own
  formulas (which count 2 FLOPs per MAC, hence the halving);
- normalisation layers the way fvcore does (batch norm 2 per element with affine, layer / group norm 5
  per element), because timm's published GMACs (``results/benchmark-infer-*.csv``, produced by its
  ``benchmark.py`` with fvcore) include them;
- activations as the output elements of convolutions and matrix products, as fvcore's
  ``ActivationCountAnalysis`` does (timm's "Activations (M)").

With those conventions the numbers agree with timm's tables to two decimals (resnet50 4.11 GMACs /
11.11 M activations, vit_base_patch16_224 17.58 / 23.90, convnext_small 8.71 / 21.56). Results are
cached per (model, resolution, library versions) in a small JSON file in the user cache dir.
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from pathlib import Path
from typing import Any

from hubkit import paths
from hubkit.cards.context import ModelStats

_METHOD = "computed by hubkit: model built on the meta device, ops counted with fvcore's conventions"
_CACHE_VERSION = 1


def _cache_file() -> Path:
    return paths.stats_cache_file()


def _load_cache() -> dict[str, Any]:
    try:
        data = json.loads(_cache_file().read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) and data.get("version") == _CACHE_VERSION else {}


def _store(key: str, stats: ModelStats) -> None:
    if not paths.cache_writes_enabled():  # a dry run leaves the machine as it was
        return
    data = _load_cache() or {"version": _CACHE_VERSION}
    data.setdefault("entries", {})[key] = _to_json(stats)
    path = _cache_file()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
        os.replace(tmp, path)
    except OSError:  # a read-only cache dir only costs recomputation
        pass


def _to_json(stats: ModelStats) -> dict[str, Any]:
    from dataclasses import asdict

    return asdict(stats)


def _from_json(raw: dict[str, Any]) -> ModelStats:
    raw = dict(raw)
    raw["image_size"] = tuple(raw["image_size"])
    return ModelStats(**raw)


def _versions() -> str:
    """``torch2.14.1-timm1.0.31-open_clip3.3.0``: what the counts depend on (torch and each framework's library)."""
    from importlib.metadata import PackageNotFoundError, version

    from hubkit import frameworks

    def installed(dist: str) -> str:
        try:
            return version(dist)
        except PackageNotFoundError:
            return "none"

    parts = [f"torch{installed('torch')}"]
    parts += [f"{f.name}{installed(f.distribution)}" for f in frameworks.all_frameworks() if f.distribution]
    return "-".join(parts)


class _Counter:
    """Counts MACs and activations of the ATen ops run inside ``with counter.mode():``."""

    def __init__(self) -> None:
        self.macs = 0.0
        self.activations = 0

    def mode(self) -> Any:
        import torch
        from torch.utils._python_dispatch import TorchDispatchMode
        from torch.utils.flop_counter import flop_registry

        aten = torch.ops.aten
        batch_norms = {aten._native_batch_norm_legit_no_training, aten.native_batch_norm}
        # (op, index of the affine weight argument): fvcore counts 5 ops per element with affine, else 4
        other_norms = {aten.native_layer_norm: 2, aten.native_group_norm: 1}
        counter = self

        class _Mode(TorchDispatchMode):
            def __torch_dispatch__(self, func, types, args=(), kwargs=None):
                kwargs = kwargs or {}
                out = func(*args, **kwargs)
                packet = func._overloadpacket
                if packet in flop_registry:
                    counter.macs += flop_registry[packet](*args, **kwargs, out_val=out) / 2
                    first = out[0] if isinstance(out, tuple | list) else out
                    counter.activations += first.numel()
                elif packet in batch_norms:
                    counter.macs += args[0].numel() * (2 if args[1] is not None else 1)
                elif packet in other_norms:
                    affine = args[other_norms[packet]] is not None
                    counter.macs += args[0].numel() * (5 if affine else 4)
                return out

        return _Mode()


def _count(fn: Any) -> _Counter:
    import torch

    counter = _Counter()
    with torch.no_grad(), counter.mode():
        fn()
    return counter


def timm_stats(
    architecture: str, image_size: tuple[int, int] | None = None, num_classes: int | None = None
) -> ModelStats:
    """Parameters, GMACs and activations of a timm architecture, computed on the meta device.

    Args:
        architecture: timm model name, with or without a pretrained tag (``"resnet50.a1_in1k"``); the tag
            selects the default input size from the pretrained config.
        image_size: ``(height, width)`` to measure at; default: the config's ``input_size``.
        num_classes: classifier size the model was built with (a run's ``--num-classes``); default: the
            architecture's own (1000 for ImageNet heads). It changes the parameter count.

    Returns:
        A :class:`ModelStats` (cached per model, size and library versions).

    Example:
        >>> round(timm_stats("resnet50").gmacs, 1)
        4.1
    """
    import timm
    import torch
    from timm.models import get_pretrained_cfg

    if image_size is None:
        cfg = get_pretrained_cfg(architecture)
        _, height, width = cfg.input_size if cfg is not None else (3, 224, 224)
        image_size = (int(height), int(width))
    head = "" if num_classes is None else f":classes{num_classes}"
    key = f"timm:{architecture}:{image_size[0]}x{image_size[1]}{head}:{_versions()}"
    cached = _load_cache().get("entries", {}).get(key)
    if cached:
        return _from_json(cached)
    with torch.device("meta"):
        extra: dict[str, Any] = {} if num_classes is None else {"num_classes": num_classes}
        model = timm.create_model(architecture, pretrained=False, **extra)
    model.eval()
    x = torch.empty((1, 3, *image_size), device="meta")
    counter = _count(lambda: model(x))
    stats = ModelStats(
        params_m=sum(p.numel() for p in model.parameters()) / 1e6,
        gmacs=counter.macs / 1e9,
        activations_m=counter.activations / 1e6,
        image_size=image_size,
        method=_METHOD,
    )
    _store(key, stats)
    return stats


def openclip_stats(model_name: str, config: dict[str, Any] | None = None) -> ModelStats:
    """Parameters of the whole CLIP model and GMACs of its image and text towers (meta device).

    Args:
        model_name: an OpenCLIP model config name (``"ViT-B-32"``).
        config: the model config a run trained with (``{"embed_dim": ..., "vision_cfg": ...}``), for
            models not in OpenCLIP's registry or trained with ``--force-image-size``; default: the
            registry's config of ``model_name``.

    Returns:
        A :class:`ModelStats` whose ``gmacs`` / ``activations_m`` are for the image tower at its
        configured size and ``text_gmacs`` for one text of the configured context length.

    Example:
        >>> round(openclip_stats("ViT-B-32").params_m, 1)
        151.3
    """
    import open_clip
    import torch

    digest = ""
    if config is not None:
        import hashlib

        digest = ":" + hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:16]
    key = f"open_clip:{model_name}{digest}:{_versions()}"
    cached = _load_cache().get("entries", {}).get(key)
    if cached:
        return _from_json(cached)
    # open_clip logs "No pretrained weights loaded" on the root logger: true, and expected here.
    logging.disable(logging.WARNING)
    try:
        with warnings.catch_warnings(), torch.device("meta"):
            warnings.simplefilter("ignore")
            model = (
                open_clip.create_model(model_name, pretrained=None, device="meta")
                if config is None
                else _clip_from_config(config)
            )
    finally:
        logging.disable(logging.NOTSET)
    model.eval()
    size = model.visual.image_size
    image_size = (int(size[0]), int(size[1])) if isinstance(size, tuple | list) else (int(size), int(size))
    image = torch.empty((1, 3, *image_size), device="meta")
    text = torch.zeros((1, int(model.context_length)), dtype=torch.long, device="meta")
    image_count = _count(lambda: model.encode_image(image))
    text_count = _count(lambda: model.encode_text(text))
    stats = ModelStats(
        params_m=sum(p.numel() for p in model.parameters()) / 1e6,
        gmacs=image_count.macs / 1e9,
        activations_m=image_count.activations / 1e6,
        image_size=image_size,
        method=_METHOD,
        tower="image",
        text_gmacs=text_count.macs / 1e9,
        image_params_m=sum(p.numel() for p in model.visual.parameters()) / 1e6,
    )
    _store(key, stats)
    return stats


def _clip_from_config(config: dict[str, Any]) -> Any:
    """Build a CLIP from a model config the way open_clip's factory picks the class (CoCa not covered)."""
    from open_clip.model import CLIP, CustomTextCLIP

    cfg = dict(config)
    custom = bool(cfg.pop("custom_text", False)) or "hf_model_name" in cfg.get("text_cfg", {})
    if "multimodal_cfg" in cfg:
        raise ValueError("CoCa configs are not counted")
    return (CustomTextCLIP if custom else CLIP)(**cfg)
