"""What a reference recipe and a published result are: frozen dataclasses only, no parsing and no I/O.

Flow: a tag (``resnet50.a1_in1k``) → :func:`hubkit.recipes.recipe_for` → :class:`Recipe` (numbers from the
recipe table, each a :class:`Sourced` value with the source it was read from) → rendered by
:mod:`hubkit.recipes.render` as a config for the trainer, or compared with a run by :mod:`hubkit.recipes.diff`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Trainer = Literal["timm", "open_clip"]
ScalingRule = Literal["linear", "sqrt", "accumulate", "none"]


@dataclass(frozen=True)
class Source:
    """Where numbers come from: a paper table, a documentation page or a file at a commit."""

    id: str  # "rsb-t1"
    cite: str  # "Wightman, Touvron, Jégou (2021), ResNet strikes back ..., Table 1"
    url: str  # "https://arxiv.org/abs/2110.00476"
    note: str = ""  # how it was read ("transcribed from ...")
    short: str = ""  # "timm results-imagenet.csv @ 4e5207c7": a name short enough for a card; "" = id


@dataclass(frozen=True)
class Sourced:
    """One value with the source it was read from."""

    value: Any  # 0.005, "lamb", True, None (the source says: off), [0.42, 0.9]
    source: str  # "rsb-t1" (a Source id)
    note: str = ""  # "LR 5e-3 at batch 2048" — the source's own wording where it helps


@dataclass(frozen=True)
class Scaling:
    """How the learning rate follows the global batch size, as the source gives it."""

    rule: ScalingRule  # "linear" | "sqrt" | "accumulate" (keep the batch via gradient accumulation) | "none"
    source: str  # "timm-train"
    note: str = ""  # "timm's train.py scales LAMB learning rates by the square root of the batch ratio"


@dataclass(frozen=True)
class Recipe:
    """A reference recipe resolved for one tag (variant overrides and tag facts applied)."""

    key: str  # "rsb_a1" (entry of recipes.yaml)
    name: str  # "ResNet Strikes Back A1"
    tag: str  # "resnet50.a1_in1k" / "ViT-B-32/laion2b_s34b_b79k"
    model: str  # "resnet50" (the trainer's --model)
    trainer: Trainer  # "timm" | "open_clip"
    args: dict[str, Sourced]  # trainer argument name -> value, in the table's order
    facts: dict[str, Sourced]  # statements with no trainer argument: {"test_img_size": Sourced(224, ...)}
    stated: dict[str, str]  # used but without a value: {"aug_repeats": "Repeated Aug ✓; count not given"}
    unknown: dict[str, str]  # no value in any source: {"opt_eps": "Table 1 gives no LAMB epsilon"}
    reference_global_batch: int | None  # 2048 (the batch the lr was published for); None when not given
    reference_gpus: int | None  # 8 when the source states it
    scaling: Scaling | None  # None when no source gives a rule
    sources: tuple[Source, ...]  # every source the values above cite, in first-use order


@dataclass(frozen=True)
class Result:
    """One published ImageNet-1k evaluation of a pretrained tag."""

    model: str  # "resnet50.a1_in1k"
    img_size: int  # 224 (evaluation resolution)
    top1: float  # 80.382
    top5: float  # 94.598
    crop_pct: float  # 0.95
    interpolation: str  # "bicubic"
    source: str = "timm-results"  # Source id of the table it came from
