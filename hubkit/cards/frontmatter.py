"""The card's YAML front matter, produced by ``huggingface_hub.ModelCardData`` (never written by hand).

``ModelCardData.to_yaml()`` owns the YAML (quoting, key order, the ``model-index`` layout); hubkit only
decides which fields a card has.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hubkit.cards.context import CardContext

if TYPE_CHECKING:
    from huggingface_hub import EvalResult, ModelCardData


def card_data(context: CardContext) -> ModelCardData:
    """Build the :class:`huggingface_hub.ModelCardData` of a card.

    Args:
        context: the card context.

    Returns:
        Card data with license, library_name, tags, datasets (Hub ids known to exist), base_model,
        pipeline_tag and, when results are known, ``eval_results`` (the ``model-index``).

    Example:
        >>> card_data(context_from_tag("resnet50.a1_in1k")).library_name
        'timm'
    """
    from huggingface_hub import EvalResult, ModelCardData

    # timm's naming and order (final dataset, then pretraining) when the tag gives a lineage; else Hub ids
    hub_ids = [row.hub_id for row in context.lineage if row.hub_id]
    datasets = list(dict.fromkeys(context.card_datasets or hub_ids))
    eval_results = [
        EvalResult(
            task_type=row.task_type,
            dataset_type=row.dataset_type,
            dataset_name=row.dataset_name,
            dataset_split=row.split,
            metric_type=row.metric_type,
            metric_name=row.metric_name,
            metric_value=row.value,
            verified=False,  # "verified" on the Hub means evaluated by the Hub itself, never by us
        )
        for row in context.results
    ]
    if not eval_results and context.run is None:
        eval_results = _published_eval_results(context)
    extra: dict[str, Any] = {"license_name": context.license_name, "license_link": context.license_link}
    return ModelCardData(
        license=context.license,
        **{k: v for k, v in extra.items() if v},
        library_name=context.library,
        tags=list(context.hub_tags) or None,
        datasets=datasets or None,
        base_model=context.base_model,
        pipeline_tag=context.pipeline_tag,
        model_name=context.model_index_name if eval_results else None,
        eval_results=eval_results or None,
    )


def _published_eval_results(context: CardContext) -> list[EvalResult]:
    """model-index entries of the reference weights' published results: top-1 / top-5 per resolution."""
    from huggingface_hub import EvalResult

    entries = []
    zero_shot = context.published_zero_shot
    if zero_shot is not None:
        entries.append(
            EvalResult(
                task_type="zero-shot-image-classification",
                dataset_type="imagenet-1k",
                dataset_name="ImageNet-1k",
                dataset_split="validation",
                metric_type="accuracy",
                metric_name="Zero-shot top-1 accuracy",
                metric_value=zero_shot.imagenet1k_top1,
                source_name=zero_shot.source,
                source_url=zero_shot.source_url,
            )
        )
    published = context.published_results
    if published is None:
        return entries
    for row in published.rows:
        for name, value in (("Top-1", row.top1), ("Top-5", row.top5)):
            entries.append(
                EvalResult(
                    task_type="image-classification",
                    dataset_type="imagenet-1k",
                    dataset_name="ImageNet-1k",
                    dataset_split="validation",
                    dataset_config=f"{row.img_size}px",
                    metric_type="accuracy",
                    metric_name=f"{name} accuracy ({row.img_size} px, crop {row.crop_pct:g})",
                    metric_value=value,
                    source_name=published.source,
                    source_url=published.source_url,
                )
            )
    return entries


def compose(context: CardContext, body: str) -> str:
    """Join front matter and a rendered Markdown body into README text.

    Example:
        >>> compose(ctx, "# Title\\n").startswith("---\\n")
        True
    """
    yaml_text = card_data(context).to_yaml()
    return f"---\n{yaml_text}\n---\n\n{body.lstrip()}"
