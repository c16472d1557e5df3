"""MMPreTrain's model zoo as data: the metafiles shipped inside the installed mmpretrain wheel.

``mmpretrain/.mim/model-index.yml`` imports one ``configs/<dir>/metafile.yml`` per collection; each lists
models with FLOPs, parameters, training data, batch size, epochs, results (Top-1/Top-5 per dataset), the
config path, the weights URL and, for converted weights, where they came from. This module reads those
YAML files directly (``yaml.safe_load``; mmpretrain is *located*, never imported, so no torch), and turns a
model's entry into registry facts (:func:`enrich_mmpretrain`) and card data (:class:`ZooModel`).

Licenses are not in the metafiles: ``mmpretrain_licenses.yaml`` (beside this module) gives one per
collection whose weights were converted from an upstream release, each with its source; weights trained in
MMPreTrain itself carry MMPreTrain's Apache-2.0.

Example:
    >>> zoo()["resnet50_8xb32_in1k"].top1
    76.55
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.util
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from hubkit.errors import TagError
from hubkit.tags.model import Fact, FactValue, ModelTag

INSTALL_HINT = "install the extra: pip install -c constraints.txt 'hubkit[mmpretrain]'"
SOURCE = "registry:mmpretrain-metafile"
_ARXIV = re.compile(r"arxiv\.org/(?:abs|pdf)/(\d{4}\.\d{4,5})")


@dataclass(frozen=True)
class ZooResult:
    """One row of a model's ``Results``."""

    dataset: str  # "ImageNet-1k"
    task: str  # "Image Classification"
    metrics: tuple[tuple[str, float], ...]  # (("Top 1 Accuracy", 76.55), ("Top 5 Accuracy", 93.06))


@dataclass(frozen=True)
class ZooModel:
    """A model of the MMPreTrain zoo, as its metafile describes it."""

    name: str  # "resnet50_8xb32_in1k"
    collection: str  # "ResNet"
    config: str  # "configs/resnet/resnet50_8xb32_in1k.py" (relative to mmpretrain/.mim)
    weights: str | None  # "https://download.openmmlab.com/.../resnet50_8xb32_in1k_20210831-ea4938fc.pth"
    flops: int | None  # 4_120_000_000
    params: int | None  # 25_560_000
    training_data: tuple[str, ...]  # ("ImageNet-1k",)
    batch_size: int | None  # 256 (total)
    epochs: int | None  # 100
    results: tuple[ZooResult, ...]  # empty for pretrained-only (self-supervised) models
    paper_title: str | None  # "Deep Residual Learning for Image Recognition"
    paper_url: str | None  # "https://openaccess.thecvf.com/..."
    converted_from: (
        str | None
    )  # upstream weights URL ("Converted From: Weights"), None when trained in MMPreTrain
    converted_code: str | None  # upstream code URL
    license: str  # "apache-2.0", "cc-by-nc-4.0", "mit", … (Hub license ids)
    license_source: str  # where the license statement comes from (URL)
    metafile: str  # "configs/resnet/metafile.yml"

    @property
    def top1(self) -> float | None:
        """Top-1 accuracy of the first result that has one."""
        return self.metric("Top 1 Accuracy")

    @property
    def top5(self) -> float | None:
        """Top-5 accuracy of the first result that has one."""
        return self.metric("Top 5 Accuracy")

    def metric(self, name: str) -> float | None:
        for result in self.results:
            for key, value in result.metrics:
                if key == name:
                    return value
        return None


def mim_root() -> Path:
    """The ``.mim`` folder of the installed mmpretrain wheel (located, not imported).

    Raises:
        TagError: mmpretrain is not installed.
    """
    spec = importlib.util.find_spec("mmpretrain")
    if spec is None or spec.origin is None:
        raise TagError(
            "MMPreTrain is not installed, so its model zoo metafiles are not available", hint=INSTALL_HINT
        )
    return Path(spec.origin).parent / ".mim"


def _int(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _license(collection: str, converted: bool, table: dict[str, Any]) -> tuple[str, str]:
    if not converted:
        own = table["mmpretrain"]
        return own["license"], own["source"]
    entry = table["upstream"].get(collection)
    if entry is None:
        return "other", "no license recorded for this upstream release: see its converted-from code URL"
    return entry["license"], entry["source"]


def _model(
    entry: dict[str, Any], collections: dict[str, dict[str, Any]], metafile: str, table: dict[str, Any]
) -> ZooModel:
    meta = entry.get("Metadata") or {}
    coll = collections.get(entry.get("In Collection", ""), {})
    paper = coll.get("Paper") or {}
    if isinstance(paper, list):  # a few collections list several papers; the first is the model's
        paper = paper[0] if paper else {}
    shared = coll.get("Metadata") or {}  # a collection's metadata holds what its models share
    data = meta.get("Training Data") or shared.get("Training Data") or ()
    converted = entry.get("Converted From") or {}
    results = tuple(
        ZooResult(
            str(r.get("Dataset", "")),
            str(r.get("Task", "")),
            tuple(
                (str(k), float(v)) for k, v in (r.get("Metrics") or {}).items() if isinstance(v, int | float)
            ),
        )
        for r in entry.get("Results") or ()
    )
    lic, lic_source = _license(entry.get("In Collection", ""), bool(converted), table)
    return ZooModel(
        name=entry["Name"].lower(),  # mmpretrain.list_models() lower-cases ("repvgg-A0_…" -> "repvgg-a0_…")
        collection=entry.get("In Collection", ""),
        config=entry.get("Config", ""),
        weights=entry.get("Weights"),
        flops=_int(meta.get("FLOPs")),
        params=_int(meta.get("Parameters")),
        training_data=(data,) if isinstance(data, str) else tuple(str(d) for d in data),
        batch_size=_int(meta.get("Batch Size", shared.get("Batch Size"))),
        epochs=_int(meta.get("Epochs", shared.get("Epochs"))),
        results=results,
        paper_title=paper.get("Title") if isinstance(paper, dict) else None,
        paper_url=paper.get("URL") if isinstance(paper, dict) else None,
        converted_from=converted.get("Weights"),
        converted_code=converted.get("Code"),
        license=lic,
        license_source=lic_source,
        metafile=metafile,
    )


@functools.cache
def zoo() -> dict[str, ZooModel]:
    """Every model of the installed MMPreTrain zoo, by name, in model-index order.

    Example:
        >>> len(zoo())
        548
    """
    root = mim_root()
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    index = yaml.load((root / "model-index.yml").read_text(encoding="utf-8"), Loader=loader)
    table = yaml.safe_load(
        resources.files("hubkit.tags").joinpath("mmpretrain_licenses.yaml").read_text(encoding="utf-8")
    )
    out: dict[str, ZooModel] = {}
    for rel in index.get("Import", ()):
        data = yaml.load((root / rel).read_text(encoding="utf-8"), Loader=loader) or {}
        collections = {c["Name"]: c for c in data.get("Collections") or ()}
        for entry in data.get("Models") or ():
            model = _model(entry, collections, rel, table)
            out[model.name] = model
    return out


def zoo_model(name: str) -> ZooModel:
    """The metafile entry of ``name``.

    Raises:
        TagError: the installed zoo has no such model.
    """
    models = zoo()
    if name not in models:
        raise TagError(
            f"the installed MMPreTrain zoo has no model {name!r}",
            hint="check the name with mmpretrain.list_models(), or decode without --enrich",
        )
    return models[name]


def _facts(model: ZooModel) -> list[Fact]:
    values: list[tuple[str, FactValue]] = [
        ("collection", model.collection),
        ("flops", model.flops),
        ("params", model.params),
        ("training_data", model.training_data or None),
        ("batch_size", model.batch_size),
        ("epochs", model.epochs),
        ("config", model.config),
        ("weights", model.weights),
        ("converted_from", model.converted_from),
        ("converted_code", model.converted_code),
        ("paper_title", model.paper_title),
        ("paper_url", model.paper_url),
        ("license", model.license),
    ]
    for result in model.results:
        for key, value in result.metrics:
            values.append((f"{key} ({result.dataset})", value))
    return [Fact(v, None, "registry", SOURCE, k) for k, v in values if v not in (None, "", ())]


def arxiv_id(url: str | None) -> str | None:
    """``arXiv:NNNN.NNNNN`` of an arxiv.org URL (None for other URLs).

    Example:
        >>> arxiv_id("https://arxiv.org/abs/2111.06377")
        'arXiv:2111.06377'
    """
    match = _ARXIV.search(url or "")
    return f"arXiv:{match.group(1)}" if match else None


def enrich_mmpretrain(tag: ModelTag) -> ModelTag:
    """Add the installed metafile's facts (FLOPs, params, results, paper, converted-from …) to a decoded name.

    Example:
        >>> {f.field: f.value for f in enrich_mmpretrain(decode("resnet50_8xb32_in1k")).registry}["flops"]
        4120000000
    """
    model = zoo_model(tag.raw)
    papers = list(tag.papers)
    match = _ARXIV.search(model.paper_url or "")
    if match and f"arXiv:{match.group(1)}" not in papers:
        papers.append(f"arXiv:{match.group(1)}")
    return dataclasses.replace(tag, registry=tag.registry + tuple(_facts(model)), papers=tuple(papers))
