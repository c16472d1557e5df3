"""The data a decoded tag turns into: frozen dataclasses only, no parsing and no I/O.

A card can say *where* each statement comes from: every decoded value is a :class:`Fact` that carries
the tag token it was read from, the kind of provenance (``"tag"``: decoded from the name, ``"registry"``:
read from the installed timm / OpenCLIP pretrained config, ``"run"``: read from a training run dir) and
a source id. Source ids are either paper ids (``"arXiv:2110.00476"``, look up with
:func:`hubkit.tags.paper`) or reference ids (``"timm:hparams"``, look up with :func:`hubkit.tags.reference`).

``dataclasses.asdict(tag)`` gives a JSON-ready structure with a stable key order (field order below).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

ProvenanceKind = Literal["tag", "registry", "run"]
FactValue = str | int | float | bool | tuple[str, ...] | tuple[int, ...] | tuple[float, ...] | None


@dataclass(frozen=True)
class Fact:
    """One decoded statement about a model, with where it came from."""

    value: FactValue  # "ImageNet-1k", 384, ("LAMB",), 34_000_000_000
    token: str | None  # "in1k", "r384", "s34b"; None when not read from the tag (registry / run)
    kind: ProvenanceKind  # "tag" | "registry" | "run"
    source: str  # "timm:hparams", "arXiv:2110.00476", "timm:pretrained_cfg" — see reference()/paper()
    field: str = ""  # what the value is: "dataset", "epochs", "input_size" …


@dataclass(frozen=True)
class Paper:
    """A paper a recipe, architecture or dataset refers to."""

    id: str  # "arXiv:2110.00476" (the form timm's pretrained cfg ``paper_ids`` uses)
    title: str  # "ResNet strikes back: An improved training procedure in timm"
    url: str  # "https://arxiv.org/abs/2110.00476"
    bibtex: str  # "@article{wightman2021resnet, ...}"; "" when none is recorded


@dataclass(frozen=True)
class Reference:
    """A non-paper source of meaning (docs page, model source file, model card)."""

    id: str  # "timm:hparams"
    title: str  # "timm documentation: training hparams / recipes"
    url: str  # "https://huggingface.co/docs/timm/..."


@dataclass(frozen=True)
class Architecture:
    """What the architecture name (the part before the dot) encodes."""

    name: str  # "beit_base_patch16_224", "ViT-B-32"
    family: Fact  # value "BEiT"
    variant: Fact | None = None  # value "base" (size / depth / width: "50", "b5", "small", "hybrid_large")
    patch_size: Fact | None = None  # value 16 (from "patch16" or OpenCLIP "-32")
    window: Fact | None = None  # value 7 (Swin "window7")
    input_size: Fact | None = None  # value 224 (resolution the name encodes)
    extras: tuple[Fact, ...] = ()  # other decoded parts: "distilled", "clip", "tf_" port prefix …


@dataclass(frozen=True)
class DatasetStep:
    """One dataset in the training lineage, in order (pretraining first, final fine-tune last)."""

    stage: Literal[
        "pretrain", "finetune", "train"
    ]  # "pretrain" (before _ft_), "finetune" (after), "train" (no _ft_)
    name: str  # "ImageNet-22k"
    token: str  # "in22k"
    hub_id: str | None  # "ILSVRC/imagenet-21k"-style id a card's ``datasets:`` would use; None if none
    hub_id_is_real: bool  # True when ``hub_id`` is a dataset repo known to exist on the Hub
    source: str  # "timm:hparams" / paper id for the dataset
    size: str | None = None  # "1.28M images, 1000 classes" — size note where the vocabulary has one


@dataclass(frozen=True)
class Recipe:
    """A named training recipe (timm hparams families, paper recipes)."""

    token: str  # "a1"
    name: str  # "ResNet Strikes Back A1"
    source: str  # "arXiv:2110.00476"
    optimizer: str | None = None  # "LAMB"
    loss: str | None = None  # "BCE"
    lr_schedule: str | None = None  # "cosine with warmup"
    augmentation: str | None = None  # "RandAugment (rand-m7-mstd0.5-inc1), Mixup 0.2, CutMix 1.0"
    ema: str | None = None  # "no" / "yes, decay 0.9999"
    grad_clip: str | None = None  # "no"
    epochs: int | None = None  # 600
    resolution: int | None = None  # train resolution the recipe defines
    notes: str = ""  # free text from the source


@dataclass(frozen=True)
class TokenReading:
    """How one token of the pretrained tag was read (every token appears exactly once)."""

    token: str  # "a1", "in1k", "ft"
    role: str  # "recipe" | "dataset" | "origin" | "paradigm" | "resolution" | "epochs" | "separator" |
    #             "samples_seen" | "batch_size" | "detail" | "unknown" | "ambiguous"
    meaning: str  # "ResNet Strikes Back A1 recipe"
    source: str  # "arXiv:2110.00476"; "" for unknown tokens


@dataclass(frozen=True)
class Conflict:
    """A registry fact that disagrees with a decoded one; neither silently wins."""

    field: str  # "input_size"
    decoded: Fact  # from the tag
    registry: Fact  # from the installed timm / OpenCLIP config
    note: str = ""  # "tag says train 384, cfg test_input_size 448 is the eval size"


@dataclass(frozen=True)
class ModelTag:
    """Everything hubkit knows about a timm tag or OpenCLIP (model, pretrained) pair."""

    raw: str  # "resnet50.a1_in1k" or "ViT-B-32/laion2b_s34b_b79k" as given
    form: Literal["timm", "openclip", "mmpretrain"]  # which naming scheme was decoded
    architecture: Architecture
    pretrained: str  # "a1_in1k" / "laion2b_s34b_b79k" ("" for a bare architecture)
    origin: Fact | None = None  # value "timm" / "fb" (Facebook/Meta weights ported) …
    paradigm: tuple[Fact, ...] = ()  # values "supervised", "MIM self-supervised", "contrastive image-text"
    lineage: tuple[DatasetStep, ...] = ()  # pretrain -> fine-tune order
    train_resolution: Fact | None = None  # value 384 (from "_384" / "r384")
    eval_resolution: Fact | None = None  # value 448 (registry test_input_size, or a tag that says so)
    epochs: Fact | None = None  # value 600 ("e600")
    samples_seen: Fact | None = None  # value 34_000_000_000 ("s34b")
    global_batch_size: Fact | None = None  # value 79_000 ("b79k")
    recipes: tuple[Recipe, ...] = ()  # decoded recipe families in tag order
    details: tuple[Fact, ...] = ()  # other decoded statements ("augreg" variant, "distilled" …)
    tokens: tuple[TokenReading, ...] = ()  # every pretrained-tag token, in order
    unknown_tokens: tuple[str, ...] = ()  # tokens with no vocabulary entry — never guessed
    ambiguous: tuple[str, ...] = ()  # "token: why" for tokens whose meaning depends on context
    registry: tuple[Fact, ...] = ()  # facts added by enrich() (kind "registry")
    conflicts: tuple[Conflict, ...] = ()  # decoded vs registry disagreements
    papers: tuple[str, ...] = field(default=())  # paper ids relevant to this model, e.g. "arXiv:2110.00476"

    @property
    def fully_decoded(self) -> bool:
        """True when every token of the tag and the architecture family were understood."""
        return not self.unknown_tokens and self.architecture.family.value != "unknown"
