"""Licence and training data of OpenCLIP pretrained weights, as their publishers state them.

Rules live in ``data/openclip.yaml`` (regular expressions over the pretrained tag and model name, each
with its source). A pair no licence rule covers gets no licence and a reason, never a guess.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

import yaml


@dataclass(frozen=True)
class Dataset:
    """One training dataset of an OpenCLIP pair."""

    name: str  # "LAION-2B (en)"
    hub_id: str | None = None  # "laion/laion2B-en" where a source names the Hub dataset
    url: str | None = None  # "https://laion.ai/laion-400-open-dataset"
    note: str = ""  # "the ~2B English-caption subset of LAION-5B"


@dataclass(frozen=True)
class OpenClipRelease:
    """What the publisher of an OpenCLIP pair's weights states about them."""

    model: str  # "ViT-B-16-SigLIP"
    pretrained: str  # "webli"
    license: str | None  # Hub licence id: "apache-2.0", "mit", "other"; None when none is stated
    license_name: str | None  # "cc-by-nc" (with license "other")
    license_link: str | None  # the licence text's URL (with license "other")
    license_stated: str  # the publisher's words: "Models are licensed under the Apache 2 license."
    license_source: str | None  # "openclip-pretrained" (a hubkit.recipes.sources() id)
    license_note: str  # how a detail not in the statement was found (a licence version or name); often ""
    missing_reason: str  # why there is no licence; "" when there is one
    family: str  # "SigLIP (WebLI)"; "" when no licence rule matched
    datasets: tuple[Dataset, ...]  # training data, in order
    datasets_source: str | None  # "openclip-pretrained" / "tag"
    staged: str  # staged training (resolutions, samples) where stated, else why not
    staged_source: str | None  # "dfn5b-378-card-copy"; None when nothing is stated


@functools.cache
def _rules() -> dict[str, Any]:
    text = resources.files("hubkit.recipes").joinpath("data", "openclip.yaml").read_text(encoding="utf-8")
    data: dict[str, Any] = yaml.safe_load(text)
    return data


def _matches(rule: dict[str, Any], model: str, pretrained: str) -> bool:
    for field, value in (("pretrained", pretrained), ("model", model)):
        pattern = rule.get(field)
        if pattern is not None and re.fullmatch(pattern, value) is None:
            return False
    return True


def openclip_release(model: str, pretrained: str) -> OpenClipRelease:
    """Return the licence and training data the publisher states for an OpenCLIP pair.

    Args:
        model: OpenCLIP model name (``ViT-B-16-SigLIP``).
        pretrained: its pretrained tag (``webli``).

    Returns:
        The release facts; ``license`` is None with a ``missing_reason`` when no statement is known.

    Example:
        >>> openclip_release("ViT-B-16-SigLIP", "webli").license
        'apache-2.0'
    """
    rules = _rules()
    licence = next((r for r in rules["licenses"] if _matches(r, model, pretrained)), None)
    missing = ""
    if licence is None:
        reason = next((r for r in rules["missing"] if _matches(r, model, pretrained)), None)
        missing = reason["reason"] if reason else rules["default_missing"]
    data = next((r for r in rules["datasets"] if _matches(r, model, pretrained)), None)
    datasets = tuple(
        Dataset(name=d["name"], hub_id=d.get("hub_id"), url=d.get("url"), note=d.get("note", ""))
        for d in (data["datasets"] if data else ())
    )
    staged = rules["staged"].get(f"{model}/{pretrained}") or {"value": rules["staged_note"], "source": None}
    return OpenClipRelease(
        model=model,
        pretrained=pretrained,
        license=licence["license"] if licence else None,
        license_name=licence.get("license_name") if licence else None,
        license_link=licence.get("license_link") if licence else None,
        license_stated=licence["stated"] if licence else "",
        license_source=licence["source"] if licence else None,
        license_note=licence.get("note", "") if licence else "",
        missing_reason=missing,
        family=licence["family"] if licence else "",
        datasets=datasets,
        datasets_source=data["source"] if data else None,
        staged=staged["value"],
        staged_source=staged["source"],
    )
