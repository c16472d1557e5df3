"""Reference recipes as numbers with their sources, and published results of pretrained tags.

Data flow: tag → :func:`recipe_for` → :class:`Recipe` (values from ``data/recipes.yaml``, each citing
``data/sources.yaml``) → :func:`scale` → :func:`render_yaml` / :func:`render_args`; a run's
``Hyperparams`` → :func:`diff_hyperparams` → :func:`render_table`. :func:`results_for` gives timm's published
ImageNet-1k top-1/top-5 of a tag at each evaluated resolution; :func:`openclip_release` gives the licence
and training data an OpenCLIP pair's publisher states.

Importing this package is cheap: no torch, timm or open_clip.
"""

from __future__ import annotations

from hubkit.recipes.catalog import recipe_for, recipe_keys
from hubkit.recipes.diff import Difference, diff_hyperparams, render_table
from hubkit.recipes.model import Recipe, Result, Scaling, Source, Sourced
from hubkit.recipes.openclip import OpenClipRelease, openclip_release
from hubkit.recipes.render import Scaled, render_args, render_yaml, scale
from hubkit.recipes.results import result_tags, results_for
from hubkit.recipes.sources import sources

__all__ = [
    "Difference",
    "OpenClipRelease",
    "Recipe",
    "Result",
    "Scaled",
    "Scaling",
    "Source",
    "Sourced",
    "diff_hyperparams",
    "openclip_release",
    "recipe_for",
    "recipe_keys",
    "render_args",
    "render_table",
    "render_yaml",
    "result_tags",
    "results_for",
    "scale",
    "sources",
]
