"""The shipped recipe data files and the table of sources they cite (``data/sources.yaml``).

Kept apart from :mod:`hubkit.recipes.catalog` (which decodes tags) so that light readers, such as the
card registry's OpenCLIP licence lookup, import neither the tag decoder nor anything that reaches back.
"""

from __future__ import annotations

import functools
from importlib import resources
from typing import Any

import yaml

from hubkit.errors import RecipeError
from hubkit.recipes.model import Source


def load_data(name: str) -> dict[str, Any]:
    """Read one YAML mapping shipped in ``hubkit/recipes/data/``.

    Raises:
        RecipeError: the file is not a mapping (a broken install).

    Example:
        >>> sorted(load_data("trainers.yaml"))
        ['open_clip', 'timm']
    """
    text = resources.files("hubkit.recipes").joinpath("data", name).read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise RecipeError(f"hubkit/recipes/data/{name} is not a mapping", hint="Reinstall hubkit.")
    return data


@functools.cache
def sources() -> dict[str, Source]:
    """Every source the recipe tables cite, by id.

    Example:
        >>> sources()["rsb-t1"].url
        'https://arxiv.org/abs/2110.00476'
    """
    return {
        key: Source(
            id=key,
            cite=entry["cite"],
            url=entry["url"],
            note=entry.get("note", ""),
            short=entry.get("short", ""),
        )
        for key, entry in load_data("sources.yaml").items()
    }
