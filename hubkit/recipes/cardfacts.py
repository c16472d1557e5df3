"""What a model card takes from the recipe data: the Results section (its model-index entries are built
in hubkit.cards.frontmatter), the front-matter dataset lineage in timm's naming and the papers timm cites.

timm's own cards list ``datasets:`` as the lower-cased ``Dataset`` of the card followed by its
``Pretrain Dataset`` entries (``timm/models/_hub.py`` ``generate_readme``): ``resnet50.a1_in1k`` →
``[imagenet-1k]``, ``beit_base_patch16_224.in22k_ft_in22k_in1k`` → ``[imagenet-1k, imagenet-22k]``. The
names per dataset token are data (``data/card_datasets.yaml``).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING, Any

import yaml

from hubkit.recipes.model import Result, Source
from hubkit.recipes.results import results_for
from hubkit.recipes.sources import sources

if TYPE_CHECKING:
    from hubkit.tags.model import ModelTag


@dataclass(frozen=True)
class ResultRow:
    """One evaluated resolution of a tag, with its role in training."""

    result: Result  # the published numbers
    role: str  # "train resolution" / "test resolution" / "" (both roles: "train and test resolution")


@dataclass(frozen=True)
class ResultsSection:
    """The published ImageNet-1k results of a tag, as a card shows them."""

    tag: str  # "mobilenetv4_hybrid_large.ix_e600_r384_in1k"
    rows: tuple[ResultRow, ...]  # ascending resolution
    train_size: int | None  # 384 (the registry's input_size)
    test_size: int | None  # 448 (the registry's test_input_size, when it differs)
    test_gain: float | None  # +0.356: top-1 at the test size minus at the train size, when both are published
    source: Source  # timm-results


def results_section(
    tag: str, *, train_size: int | None = None, test_size: int | None = None
) -> ResultsSection | None:
    """Return the Results section of a timm tag, or None when timm publishes no result for it.

    Args:
        tag: the full timm tag.
        train_size: the tag's train resolution (the registry's ``input_size``), to label the rows.
        test_size: the tag's test resolution (the registry's ``test_input_size``), when it differs.

    Example:
        >>> s = results_section("mobilenetv4_hybrid_large.ix_e600_r384_in1k", train_size=384, test_size=448)
        >>> [(r.result.img_size, r.role) for r in s.rows], s.test_gain
        ([(384, 'train resolution'), (448, 'test resolution')], 0.356)
    """
    found = results_for(tag)
    if not found:
        return None
    rows = []
    for result in found:
        roles = []
        if train_size is not None and result.img_size == train_size:
            roles.append("train")
        if test_size is not None and result.img_size == test_size:
            roles.append("test")
        rows.append(ResultRow(result, f"{' and '.join(roles)} resolution" if roles else ""))
    by_size = {r.img_size: r for r in found}
    gain = None
    if train_size is not None and test_size is not None and train_size != test_size:
        low, high = by_size.get(train_size), by_size.get(test_size)
        if low is not None and high is not None:
            gain = round(high.top1 - low.top1, 3)
    return ResultsSection(
        tag=tag,
        rows=tuple(rows),
        train_size=train_size,
        test_size=test_size if test_size != train_size else None,
        test_gain=gain,
        source=sources()[found[0].source],
    )


@functools.cache
def _card_datasets() -> dict[str, Any]:
    text = (
        resources.files("hubkit.recipes").joinpath("data", "card_datasets.yaml").read_text(encoding="utf-8")
    )
    data: dict[str, Any] = yaml.safe_load(text)
    return data


def card_dataset_names(tag: ModelTag) -> tuple[str, ...]:
    """The front-matter ``datasets`` of a tag in timm's naming: the final dataset, then the pretraining ones.

    Args:
        tag: a decoded tag (:func:`hubkit.tags.decode`).

    Returns:
        Lower-case dataset names, each once, in timm's order (``Dataset`` then ``Pretrain Dataset``).

    Example:
        >>> card_dataset_names(decode("vit_base_patch16_clip_224.laion2b_ft_in12k_in1k"))
        ('imagenet-1k', 'laion-2b', 'imagenet-12k')
    """
    names = _card_datasets()["names"]
    final = [s for s in tag.lineage if s.stage in ("train", "finetune")][-1:]
    earlier = [s for s in tag.lineage if s not in final]
    ordered: list[str] = []
    for step in (*final, *earlier):
        name = names.get(step.token) or step.name.split(" (")[0].lower()
        if name not in ordered:
            ordered.append(name)
    return tuple(ordered)


@functools.cache
def _card_papers() -> dict[str, Any]:
    text = resources.files("hubkit.recipes").joinpath("data", "card_papers.yaml").read_text(encoding="utf-8")
    data: dict[str, Any] = yaml.safe_load(text)
    return data


def card_papers(tag: ModelTag) -> tuple[str, ...]:
    """The paper ids a card lists, as timm's own cards cite them (``data/card_papers.yaml``).

    Example:
        >>> card_papers(decode("beit_base_patch16_224.in22k_ft_in22k_in1k"))
        ('arXiv:2106.08254', 'arXiv:2010.11929')
    """
    table = _card_papers()
    exact = table["tags"].get(tag.raw)
    if exact is not None:
        return tuple(exact["only"])
    extra = table["families"].get(str(tag.architecture.family.value), {}).get("add", [])
    return tuple(dict.fromkeys([*tag.papers, *extra]))
