"""The card's YAML front matter, produced by ``huggingface_hub.ModelCardData`` (never written by hand).

``ModelCardData.to_yaml()`` owns the YAML (quoting, key order, the ``model-index`` layout); hubkit only
decides which fields a card has.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hubkit.cards.context import CardContext

if TYPE_CHECKING:
    from huggingface_hub import ModelCardData


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

    datasets = list(dict.fromkeys(row.hub_id for row in context.lineage if row.hub_id))
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
    return ModelCardData(
        license=context.license,
        library_name=context.library,
        tags=list(context.hub_tags) or None,
        datasets=datasets or None,
        base_model=context.base_model,
        pipeline_tag=context.pipeline_tag,
        model_name=context.model_index_name if eval_results else None,
        eval_results=eval_results or None,
    )


def compose(context: CardContext, body: str) -> str:
    """Join front matter and a rendered Markdown body into README text.

    Example:
        >>> compose(ctx, "# Title\\n").startswith("---\\n")
        True
    """
    yaml_text = card_data(context).to_yaml()
    return f"---\n{yaml_text}\n---\n\n{body.lstrip()}"
