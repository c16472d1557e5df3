"""MMPreTrain zoo facts for tag cards (``hubkit card NAME``): the installed metafile's entry of a decoded name.

Helpers of :class:`hubkit.frameworks.mmpretrain.MMPretrainFramework` (its ``registry_config``, ``tag_registry``,
``tag_stats`` and ``tag_results``), kept apart so that the framework module stays small.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hubkit.cards.context import ModelStats, ResultRow
    from hubkit.cards.registry import RegistryInfo
    from hubkit.tags.model import ModelTag


def registry_config(decoded: ModelTag) -> dict[str, Any]:
    """The installed zoo's metafile entry of the name (FLOPs, params, results, paper …)."""
    from hubkit.tags.mmpretrain_metafile import arxiv_id, zoo_model

    model = zoo_model(decoded.raw)
    paper = arxiv_id(model.paper_url)
    return {
        "collection": model.collection,
        "flops": model.flops,
        "params": model.params,
        "training_data": model.training_data,
        "batch_size": model.batch_size,
        "epochs": model.epochs,
        "config": model.config,
        "weights": model.weights,
        "converted_from": model.converted_from,
        "converted_code": model.converted_code,
        "paper_title": model.paper_title,
        "paper_url": model.paper_url,
        "paper_ids": (paper,) if paper else None,
        "license": model.license,
        "origin_url": model.converted_code,
        "top1": model.top1,
        "top5": model.top5,
        "results": tuple(
            f"{r.dataset}: " + ", ".join(f"{k} {v:g}" for k, v in r.metrics) for r in model.results
        ),
    }


def tag_registry(decoded: ModelTag) -> RegistryInfo | None:
    """License (per upstream release), paper and converted-from source from the installed metafile."""
    from hubkit.cards.registry import RegistryInfo
    from hubkit.errors import TagError
    from hubkit.tags.mmpretrain_metafile import arxiv_id, zoo_model

    try:
        model = zoo_model(decoded.raw)
    except TagError:
        return None
    paper = arxiv_id(model.paper_url)
    return RegistryInfo(
        name=f"mmpretrain:{model.metafile}",
        license=model.license,
        origin_url=model.converted_code,
        paper_ids=(paper,) if paper else (),
    )


def tag_stats(decoded: ModelTag) -> ModelStats | None:
    """Params and FLOPs as the metafile states them (MMPreTrain's counts), at the name's resolution."""
    from hubkit.cards.context import ModelStats
    from hubkit.errors import TagError
    from hubkit.tags.mmpretrain_metafile import zoo_model

    try:
        model = zoo_model(decoded.raw)
    except TagError:
        return None
    if model.params is None:
        return None
    res = decoded.train_resolution.value if decoded.train_resolution else 224
    side = res if isinstance(res, int) else 224
    return ModelStats(
        params_m=model.params / 1e6,
        gmacs=model.flops / 1e9 if model.flops is not None else None,
        activations_m=None,
        image_size=(side, side),
        method="MMPreTrain metafile",
        source=f"from the MMPreTrain metafile `{model.metafile}`",
        cost_label="GFLOPs (as MMPreTrain counts them)",
    )


def tag_results(decoded: ModelTag) -> tuple[ResultRow, ...]:
    """The metafile's Results (Top-1 / Top-5 … per dataset) as model-index rows."""
    from hubkit.cards.context import ResultRow
    from hubkit.errors import TagError
    from hubkit.tags.mmpretrain_metafile import zoo_model

    try:
        model = zoo_model(decoded.raw)
    except TagError:
        return ()
    names = {"Top 1 Accuracy": "Top-1 accuracy", "Top 5 Accuracy": "Top-5 accuracy"}
    return tuple(
        ResultRow(
            task_type=result.task.lower().replace(" ", "-") or "image-classification",
            dataset_name=result.dataset,
            dataset_type=result.dataset.lower(),
            metric_type="accuracy" if "Accuracy" in key else key.lower().replace(" ", "-"),
            metric_name=names.get(key, key),
            value=value,
            kind="registry",
            source=f"`{model.metafile}`",
        )
        for result in model.results
        for key, value in result.metrics
    )
