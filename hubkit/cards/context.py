"""What a model card says, as data: frozen dataclasses only, no I/O and no rendering.

One :class:`CardContext` serves every card hubkit writes:

- a *tag card* (``hubkit card resnet50.a1_in1k``): facts decoded from the tag, read from the installed
  timm / OpenCLIP registry, and statistics computed by hubkit;
- a *run card* (the ``main`` revision of a published training run): the same, plus ``run``, ``results``,
  ``epoch_table``, ``curve_image``, ``revisions`` and ``verification``;
- a *checkpoint card* (a branch holding an intermediate epoch): a run card with ``checkpoint`` set, so
  that the card says plainly "epoch N of M — an intermediate checkpoint, not the final model".

Every optional part is ``None`` or an empty tuple when nothing true is known, and the templates render a
section only when its part is present. Statements carry a :class:`Sourced` provenance so that a card can
say where each one comes from. ``dataclasses.asdict(context)`` is JSON-ready (``hubkit card --json``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from hubkit.layout import MetricCheck  # a recorded metric next to its re-measured value (verification.json)

# Where a statement comes from. "tag": decoded from the pretrained tag; "registry": the installed
# timm / OpenCLIP pretrained config; "run": recorded in the training run dir; "computed": measured by
# hubkit itself (parameter counts, GMACs); "verification": measured after publishing.
# "published": the framework's published results table (timm results-imagenet.csv); "publisher": what the
# weights' publisher states (licence, training data).
SourceKind = Literal["tag", "registry", "run", "computed", "verification", "published", "publisher"]
PipelineTag = Literal["image-classification", "zero-shot-image-classification", "image-feature-extraction"]


@dataclass(frozen=True)
class Link:
    """A titled link (paper, source repository, docs page)."""

    title: str  # "ResNet strikes back: An improved training procedure in timm"
    url: str  # "https://arxiv.org/abs/2110.00476"


@dataclass(frozen=True)
class Sourced:
    """One statement with its provenance, e.g. a training detail or an image size."""

    label: str  # "Optimizer"
    value: str  # "LAMB"
    kind: SourceKind  # "tag"
    source: str = ""  # "arXiv:2110.00476" / "timm:pretrained_cfg" / "args.yaml"; "" when self-evident
    source_url: str | None = None  # "https://arxiv.org/abs/2110.00476" when the source has one


@dataclass(frozen=True)
class PaperRef:
    """A paper the card cites (title + link in the details, BibTeX in the citation section)."""

    id: str  # "arXiv:2110.00476"
    title: str  # "ResNet strikes back: An improved training procedure in timm"
    url: str  # "https://arxiv.org/abs/2110.00476"
    bibtex: str = ""  # "@article{wightman2021resnet, ...}"; "" when none is recorded


@dataclass(frozen=True)
class DatasetRow:
    """One step of the training-data lineage, pretraining first."""

    stage: str  # "pretrain" | "finetune" | "train"
    name: str  # "ImageNet-22k"
    hub_id: str | None = None  # "timm/imagenet-22k-wds"-style Hub dataset id when one is known to exist
    samples: str | None = None  # "142M images"
    kind: SourceKind = "tag"  # how hubkit knows this step
    source: str = ""  # "timm:hparams"


@dataclass(frozen=True)
class ModelStats:
    """Size and cost of the model at one input resolution, computed by hubkit (never downloaded)."""

    params_m: float  # 25.557032 (millions of parameters)
    gmacs: float | None  # 4.11 (billions of multiply-accumulates for one image)
    activations_m: float | None  # 11.11 (millions of output elements of conv / matmul layers)
    image_size: tuple[int, int]  # (224, 224) the resolution gmacs / activations refer to
    method: str  # "timm model on the meta device, torch dispatch counting (fvcore conventions)"
    tower: str = ""  # "" for a whole model; "image" / "text" for one OpenCLIP tower
    text_gmacs: float | None = None  # OpenCLIP: text-tower GMACs for one context (77 tokens)
    image_params_m: float | None = None  # OpenCLIP: parameters of the image tower alone
    source: str = ""  # "" (computed by hubkit); else where the numbers come from ("MMPreTrain metafile …")
    cost_label: str = ""  # "" ("GMACs"); else the name the source gives the cost ("GFLOPs (metafile)")


@dataclass(frozen=True)
class Usage:
    """How the usage section loads the model."""

    library: str  # "timm": the framework's name (hubkit.frameworks), which picks the usage partial
    model_ref: str  # "hf-hub:org/name@rev", "resnet50.a1_in1k" (timm) or "ViT-B-32" (OpenCLIP)
    pretrained: str | None = None  # OpenCLIP pretrained name when loading from the OpenCLIP registry
    repo_id: str | None = None  # "org/name" when the card is for a Hub repo
    revision: str | None = None  # "epoch-12" when the card is for a non-default revision
    has_classifier: bool = True  # False for backbones without a head (DINOv2): no classification example
    num_classes: int | None = None  # 1000
    features_only: bool = False  # True when timm builds this model with features_only=True (feature maps)
    input_size: tuple[int, int] | None = None  # (224, 224) used by the feature-map example


@dataclass(frozen=True)
class Metric:
    """A named number (a checkpoint's or a revision's metrics)."""

    name: str  # "top1"
    value: float  # 76.54


@dataclass(frozen=True)
class ResultRow:
    """One evaluation result; becomes a ``model-index`` entry (``huggingface_hub.EvalResult``)."""

    task_type: str  # "image-classification"
    dataset_name: str  # "ImageNet-1k (validation)"
    dataset_type: str  # "imagenet-1k" (Hub dataset id or a short type name)
    metric_type: str  # "accuracy"
    metric_name: str  # "Top-1 accuracy"
    value: float  # 76.54
    split: str | None = None  # "validation"
    kind: SourceKind = "run"  # "run" (recorded in the run) or "verification" (re-measured)
    source: str = ""  # "summary.csv epoch 12"


@dataclass(frozen=True)
class Hyperparameter:
    """One recorded training setting: a normalised one ("Learning rate") or a raw argument ("lr")."""

    name: str  # "Learning rate" (normalised) / "lr" (as the run wrote it)
    value: str  # "0.001" (machine-local paths already made relative to the run dir)
    source: str = "args.yaml"  # the run file it was read from, with the argument: "args.yaml `lr`"


@dataclass(frozen=True)
class RunFacts:
    """What a training run recorded (filled by the runs / publish work)."""

    name: str  # "20240101-120000-resnet18-224" (the run dir's name only, never an absolute path)
    framework: str  # "timm" (hubkit.frameworks name)
    hyperparameters: tuple[Hyperparameter, ...] = ()  # normalised settings (optimizer, lr, ...), None skipped
    arguments: tuple[Hyperparameter, ...] = ()  # every argument the run recorded, in its order
    arguments_file: str = ""  # "args.yaml" / "params.txt": where ``arguments`` come from
    epochs: int | None = None  # 100 (planned epochs)
    dataset: str | None = None  # "sklearn digits"
    train_command: str | None = None  # "python train.py --model resnet18 ..." (tokens redacted)


@dataclass(frozen=True)
class CheckpointFacts:
    """Which checkpoint a card describes; set for branch cards of intermediate epochs."""

    epoch: int  # 13: epochs completed, 1-based (timm's summary.csv row "epoch 12" is the 13th epoch)
    of_epochs: int | None  # 100 (planned epochs), None when unknown
    is_final: bool  # False for an intermediate checkpoint
    weights: Literal["ema", "raw"] = "raw"  # which weights of the checkpoint were published
    metrics: tuple[Metric, ...] = ()  # (Metric("top1", 71.2), ...)
    file: str | None = None  # "checkpoint-12.pth.tar" (file name only)
    main_revision: str = "main"  # where the final model lives, linked from a branch card
    framework_epoch: int | None = None  # 12: the framework's own number (timm counts from 0); None: same


@dataclass(frozen=True)
class RevisionRow:
    """One published revision in the revisions table of a run card."""

    revision: str  # "epoch-12"
    commit: str  # "3f2a9c1" (short commit id)
    epoch: int | None  # 13: epochs completed at this revision's checkpoint
    metrics: tuple[Metric, ...] = ()  # (Metric("top1", 71.2),)
    load_line: str = ""  # 'timm.create_model("hf-hub:org/name@epoch-12", pretrained=True)'
    note: str = ""  # "best top-1", "final", "EMA weights"
    framework_epoch: int | None = None  # 12: the framework's own epoch number when it differs (timm)


@dataclass(frozen=True)
class DynamicsGroupRow:
    """One layer group in a run card's "Training dynamics" section."""

    group: str  # "layer1" / "visual.blocks.0"
    expected: str  # "frozen" | "trains" (from the run's lock settings)
    observed: str  # "frozen" | "changed, up to 0.031" (largest ‖Δw‖/‖w‖ between revisions)
    buffers: str = ""  # "frozen" | "moved" | "" (no buffers): BatchNorm running statistics
    mismatch: bool = False  # the run says frozen, the parameters changed
    buffers_mismatch: bool = False  # the run says frozen, the BatchNorm statistics moved


@dataclass(frozen=True)
class DynamicsFacts:
    """How the weights moved between the published revisions (``hubkit.dynamics``)."""

    image: str  # "training_dynamics.png" (path inside the repo)
    scheme: str  # "timm group_matcher (coarse)": whose grouping
    lock_settings: str  # "--lock-image --lock-image-unlocked-groups 1"; "" when the run locks nothing
    groups: tuple[DynamicsGroupRow, ...]  # in model order
    unchanged: tuple[
        tuple[str, float], ...
    ]  # (("epoch-003", 0.62),): share of bytes unchanged from the previous
    mismatches: tuple[str, ...] = ()  # ("group 'layer1' is frozen by --lock …, but …",)


@dataclass(frozen=True)
class EpochTable:
    """Per-epoch results (summary.csv / results.jsonl) as a small table."""

    columns: tuple[str, ...]  # ("epoch", "train_loss", "eval_top1")
    rows: tuple[tuple[str, ...], ...]  # (("0", "2.31", "10.4"), ...) already formatted
    source: str = "summary.csv"  # the run file it comes from


@dataclass(frozen=True)
class VerificationFacts:
    """The outcome of ``hubkit verify`` for the revision this card describes."""

    passed: bool  # True
    revision: str  # "main"
    commit: str  # "3f2a9c1"
    checks: tuple[MetricCheck, ...] = ()  # the checked ones (recorded and tolerance set)
    dataset: str = ""  # "sklearn digits, 360 held-out images"
    notes: tuple[str, ...] = ()  # "weights reloaded with safetensors, no pickle"


@dataclass(frozen=True)
class PublishedResult:
    """One evaluated resolution in a published results table of the reference weights."""

    img_size: int  # 448
    crop_pct: float  # 1.0
    top1: float  # 84.352
    top5: float  # 96.888
    role: str = ""  # "train resolution" / "test resolution" / "train and test resolution" / ""


@dataclass(frozen=True)
class PublishedResults:
    """ImageNet-1k results of the reference weights as their library publishes them (tag cards)."""

    rows: tuple[PublishedResult, ...]  # ascending resolution
    source: str  # "timm results/results-imagenet.csv (commit 4e5207c7)"
    source_url: str  # the table's URL at that commit
    train_size: int | None = None  # 384
    test_size: int | None = None  # 448, when it differs from the train size
    test_gain: float | None = None  # +0.356 top-1 at the test size over the train size


@dataclass(frozen=True)
class PublishedZeroShot:
    """Zero-shot results of OpenCLIP weights as OpenCLIP publishes them (tag cards)."""

    imagenet1k_top1: float  # 66.56 (percent)
    average_38: float  # 56.94 (percent, mean over the 38 datasets of the DataComp suite)
    source: str  # "open_clip openclip_results.csv @ v3.3.0"
    source_url: str  # the table's URL at that version


@dataclass(frozen=True)
class ReferenceDifference:
    """Where a run's recorded hyperparameters differ from a reference recipe (publish --reference)."""

    reference: str  # "resnet50.a1_in1k"
    recipe: str  # "ResNet Strikes Back A1"
    rows: tuple[tuple[str, str, str, str], ...]  # (argument, this run, reference, source id)
    not_compared: tuple[str, ...] = ()  # arguments the reference gives no value for
    sources: tuple[Link, ...] = ()  # the reference's sources


@dataclass(frozen=True)
class CardContext:
    """Everything a card template may use. Required fields first; the rest optional.

    Templates must not invent facts: they render a section only when its field is set, and every
    statement they print comes from a field here.
    """

    # --- identity ---------------------------------------------------------------------------
    title: str  # "resnet50.a1_in1k" (the card's H1)
    tag: str  # "resnet50.a1_in1k" / "ViT-B-32/laion2b_s34b_b79k" (what was decoded)
    architecture: str  # "resnet50" / "ViT-B-32"
    library: str  # "timm": the framework's name (hubkit.frameworks); the Hub library_name
    pipeline_tag: PipelineTag  # "image-classification"
    summary: str  # one or two sentences: what the model is, how and on what it was trained
    model_type: str  # "Image classification / feature backbone"
    family: str  # "ResNet"
    usage: Usage
    # --- Hub front matter -------------------------------------------------------------------
    repo_id: str | None = None  # "org/resnet50-digits"
    revision: str | None = None  # "epoch-12"
    license: str | None = None  # "apache-2.0"
    license_name: str | None = None  # "apple-sample-code-license" (with license "other")
    license_link: str | None = None  # the licence text's URL (with license "other")
    license_source: Sourced | None = None  # who states the licence, when not the installed registry
    card_datasets: tuple[str, ...] = ()  # front-matter datasets in timm's naming ("imagenet-1k", ...)
    hub_tags: tuple[str, ...] = ()  # ("image-classification", "timm", "transformers")
    base_model: str | None = None  # "timm/convnext_small.in12k" (Hub id of the weights fine-tuned from)
    base_model_source: Sourced | None = None  # why hubkit believes base_model
    # --- model details ----------------------------------------------------------------------
    architecture_notes: tuple[Sourced, ...] = ()  # variant, patch size, "has a distillation token" …
    stats: ModelStats | None = None
    image_sizes: tuple[Sourced, ...] = ()  # train / test sizes, each with provenance
    lineage: tuple[DatasetRow, ...] = ()  # pretraining first
    papers: tuple[PaperRef, ...] = ()
    sources: tuple[Link, ...] = ()  # original source of weights / code
    published_results: PublishedResults | None = None  # the reference weights' published results
    published_zero_shot: PublishedZeroShot | None = None  # OpenCLIP's published zero-shot results
    # --- training -----------------------------------------------------------------------------
    training: tuple[Sourced, ...] = ()  # recipe, optimizer, loss, schedule, epochs … with provenance
    notes: tuple[str, ...] = ()  # honest caveats: unknown tokens, decoded-vs-registry conflicts
    # --- run-based cards ----------------------------------------------------------------------
    run: RunFacts | None = None
    checkpoint: CheckpointFacts | None = None
    results: tuple[ResultRow, ...] = ()
    epoch_table: EpochTable | None = None
    curve_image: str | None = None  # "training_curves.png" (path inside the repo)
    revisions: tuple[RevisionRow, ...] = ()
    verification: VerificationFacts | None = None
    dynamics: DynamicsFacts | None = None
    reference_difference: ReferenceDifference | None = None  # publish --reference TAG

    @property
    def model_index_name(self) -> str:
        """Name used for the ``model-index`` entry: the repo id when known, else the tag."""
        return self.repo_id or self.title
