"""Decode timm pretrained tags and OpenCLIP (model, pretrained) pairs into frozen dataclasses.

Importing this package imports neither torch nor timm: decoding is pure and reads only the YAML
vocabulary shipped beside it. :func:`enrich` (which does import timm / open_clip) is loaded lazily.

Example:
    >>> from hubkit.tags import decode
    >>> decode("resnet50.a1_in1k").recipes[0].name
    'ResNet Strikes Back A1'
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hubkit.errors import TagError
from hubkit.tags.dispatch import decode
from hubkit.tags.model import (
    Architecture,
    Conflict,
    DatasetStep,
    Fact,
    ModelTag,
    Paper,
    Recipe,
    Reference,
    TokenReading,
)
from hubkit.tags.openclip_decoder import decode_openclip
from hubkit.tags.timm_decoder import decode_timm
from hubkit.tags.vocab import load

if TYPE_CHECKING:
    from hubkit.tags.enrichment import enrich

__all__ = [
    "Architecture",
    "Conflict",
    "DatasetStep",
    "Fact",
    "ModelTag",
    "Paper",
    "Recipe",
    "Reference",
    "TagError",
    "TokenReading",
    "decode",
    "decode_openclip",
    "decode_timm",
    "enrich",
    "paper",
    "papers_for",
    "reference",
]


def paper(paper_id: str) -> Paper:
    """Look up a paper by id (``"arXiv:2110.00476"``; a bare ``"2110.00476"`` works too).

    Args:
        paper_id: the id as timm's pretrained cfg ``paper_ids`` or a :class:`Fact` source writes it.

    Returns:
        The :class:`Paper` with title, arXiv URL and BibTeX.

    Raises:
        KeyError: hubkit's papers table has no such paper.

    Example:
        >>> paper("arXiv:2110.00476").url
        'https://arxiv.org/abs/2110.00476'
    """
    papers = load().papers
    key = paper_id if paper_id in papers else f"arXiv:{paper_id.removeprefix('arxiv:')}"
    if key not in papers:
        raise KeyError(f"no paper {paper_id!r} in hubkit's papers table")
    return papers[key]


def reference(source_id: str) -> Paper | Reference:
    """Resolve any source id a :class:`Fact` carries (a paper id or a docs/source reference id).

    Example:
        >>> reference("timm:hparams").url.startswith("https://")
        True
    """
    refs = load().references
    if source_id in refs:
        return refs[source_id]
    return paper(source_id)


def papers_for(tag: ModelTag) -> tuple[Paper, ...]:
    """Return the papers a decoded tag refers to (architecture, recipes, datasets), in order.

    Example:
        >>> [p.id for p in papers_for(decode("resnet50.a1_in1k"))][:2]
        ['arXiv:1512.03385', 'arXiv:2110.00476']
    """
    papers = load().papers
    return tuple(papers[p] for p in tag.papers if p in papers)


def __getattr__(name: str) -> Any:
    # enrich imports timm (and so torch): load it only when asked for. (The module is "enrichment", not
    # "enrich", so that importing it never shadows this function on the package.)
    if name == "enrich":
        from hubkit.tags.enrichment import enrich

        return enrich
    raise AttributeError(name)
