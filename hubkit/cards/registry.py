"""The few registry values a card needs, read from the installed timm / OpenCLIP pretrained configs.

Pure lookups in tables that ship with the installed libraries: nothing is downloaded, no model is
built. The tag decoder's ``enrich()`` adds registry *facts* to a ``ModelTag``; the card also needs a
handful of plain values (license, class count, Hub ids, sizes) to choose sections and write usage code,
and reads them here so that it works whether or not a tag was enriched.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RegistryInfo:
    """Values from a pretrained config; every field ``None`` when the registry does not say."""

    name: str  # "timm:resnet50.a1_in1k" / "open_clip:ViT-B-32/laion2b_s34b_b79k"
    license: str | None = None  # "apache-2.0"
    num_classes: int | None = None  # 1000; 0 for a backbone without classifier
    input_size: tuple[int, int] | None = None  # (224, 224)
    test_input_size: tuple[int, int] | None = None  # (288, 288)
    hf_hub_id: str | None = None  # "timm/resnet50.a1_in1k" / "laion/CLIP-ViT-B-32-laion2B-s34B-b79K"
    origin_url: str | None = None  # "https://github.com/huggingface/pytorch-image-models"
    paper_ids: tuple[str, ...] = ()  # ("arXiv:2110.00476",)
    crop_pct: float | None = None  # 0.95
    test_crop_pct: float | None = None  # 1.0 (the crop at test_input_size)
    interpolation: str | None = None  # "bicubic"
    license_name: str | None = None  # "apple-sample-code-license" (with license "other")
    license_link: str | None = None  # URL of the licence text (with license "other")
    license_stated: str = ""  # '"Models are licensed under ..."' the publisher's words (quoted), and any note
    license_source: tuple[str, str] | None = None  # (source id, URL) of that statement; None: the registry


def _hw(size: object) -> tuple[int, int] | None:
    if isinstance(size, tuple | list) and len(size) == 3:
        return (int(size[1]), int(size[2]))
    return None


def timm_registry(name: str) -> RegistryInfo | None:
    """Read the timm pretrained config of ``name`` (``"resnet50.a1_in1k"`` or a bare architecture).

    Args:
        name: a timm model name, with or without pretrained tag.

    Returns:
        The :class:`RegistryInfo`, or ``None`` when timm has no config for that name.

    Example:
        >>> timm_registry("resnet50.a1_in1k").test_input_size
        (288, 288)
    """
    from timm.models import get_pretrained_cfg, is_model

    architecture = name.partition(".")[0]
    if not is_model(architecture):
        return None
    cfg = get_pretrained_cfg(name, allow_unregistered=False)
    if cfg is None:
        return None
    raw_ids = cfg.paper_ids or ""
    # timm writes paper_ids as "arXiv:a,arXiv:b" (a string) in most configs, as a tuple in a few
    id_list = raw_ids.split(",") if isinstance(raw_ids, str) else list(raw_ids)
    papers = tuple(p.strip() for p in id_list if p.strip())
    return RegistryInfo(
        name=f"timm:{name}",
        license=cfg.license or None,
        num_classes=cfg.num_classes,
        input_size=_hw(cfg.input_size),
        test_input_size=_hw(cfg.test_input_size),
        hf_hub_id=cfg.hf_hub_id or None,
        origin_url=cfg.origin_url or None,
        paper_ids=papers,
        crop_pct=cfg.crop_pct,
        test_crop_pct=cfg.test_crop_pct,
        interpolation=cfg.interpolation or None,
    )


def timm_tag_exists(name: str) -> str | None:
    """Return the Hub id of timm's pretrained weights ``name`` (``"convnext_small.in12k"``), or None.

    Example:
        >>> timm_tag_exists("convnext_small.in12k")
        'timm/convnext_small.in12k'
    """
    import timm

    if name not in timm.list_pretrained(name):
        return None
    info = timm_registry(name)
    return info.hf_hub_id if info else None


def openclip_registry(model: str, pretrained: str) -> RegistryInfo | None:
    """Read OpenCLIP's pretrained config for ``(model, pretrained)``; None when it has none.

    Example:
        >>> openclip_registry("ViT-B-32", "laion2b_s34b_b79k").hf_hub_id
        'laion/CLIP-ViT-B-32-laion2B-s34B-b79K'
    """
    import open_clip

    config = open_clip.get_model_config(model)
    if config is None:
        return None
    size = config.get("vision_cfg", {}).get("image_size")
    image_size = (int(size), int(size)) if isinstance(size, int) else None
    cfg = open_clip.get_pretrained_cfg(model, pretrained) if pretrained else {}
    hub = (cfg.get("hf_hub") or "").strip("/") or None
    info = RegistryInfo(
        name=f"open_clip:{model}/{pretrained}" if pretrained else f"open_clip:{model}",
        license=cfg.get("license") or None,
        input_size=image_size,
        hf_hub_id=hub,
        origin_url="https://github.com/mlfoundations/open_clip",
        paper_ids=(),
        interpolation=cfg.get("interpolation"),
    )
    return info if info.license or not pretrained else _with_publisher_licence(info, model, pretrained)


def _with_publisher_licence(info: RegistryInfo, model: str, pretrained: str) -> RegistryInfo:
    """The licence the weights' publisher states (hubkit.recipes data, with its source), when any."""
    from dataclasses import replace

    from hubkit.recipes.openclip import openclip_release
    from hubkit.recipes.sources import sources

    release = openclip_release(model, pretrained)
    if release.license is None or release.license_source is None:
        return info
    source = sources()[release.license_source]
    return replace(
        info,
        license=release.license,
        license_name=release.license_name,
        license_link=release.license_link,
        license_stated=f'"{release.license_stated}"'
        + (f" ({release.license_note})" if release.license_note else ""),
        license_source=(source.id, source.url),
    )
