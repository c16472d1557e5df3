"""The protocol every framework implements: class attributes for its facts, methods for what it does.

A framework is one subclass of :class:`Framework` in one module (``hubkit/frameworks/timm.py``,
``open_clip.py``, or a module outside hubkit registered at run time / through an entry point, see
``docs/frameworks.md``). The rest of hubkit asks this object and never compares framework names.

Methods that every framework must provide raise ``NotImplementedError`` here; the others have a default
that fits a framework whose checkpoints are ``{"epoch": N, "state_dict": {...}}`` dicts (timm's
``CheckpointSaver`` and ``open_clip_train`` both write that shape) and whose models take one tensor.
Heavy libraries are imported inside the methods that need them, never at module level.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    import torch

    from hubkit.cards.context import DatasetRow, ModelStats, ResultRow, Sourced, Usage
    from hubkit.cards.registry import RegistryInfo
    from hubkit.dynamics.locks import LockPlan
    from hubkit.dynamics.model import Grouping
    from hubkit.runs.model import CheckpointInfo, Hyperparams, TrainingRun, WeightsKind
    from hubkit.tags.model import ModelTag
    from hubkit.verify.datasets import EvalData
    from hubkit.verify.evaluate import EvalOutcome
    from hubkit.verify.loaded import LoadedModel
    from hubkit.verify.options import VerifyOptions


class Framework:
    """One training framework: how its runs look, what it releases, how its releases load and evaluate."""

    # --- identity ---------------------------------------------------------------------------------------
    name: ClassVar[str] = ""  # "open_clip": its one name (TrainingRun.framework, hubkit.json, Hub tag)
    display_name: ClassVar[str] = ""  # "OpenCLIP": how prose names it
    link: ClassVar[tuple[str, str]] = ("", "")  # ("OpenCLIP", "https://github.com/mlfoundations/open_clip")
    distribution: ClassVar[str] = ""  # "open_clip_torch": the PyPI distribution whose version is recorded
    tag_form: ClassVar[str | None] = None  # "openclip": the tag decoder's form; None: no pretrained tags
    # --- run dir ----------------------------------------------------------------------------------------
    run_marker: ClassVar[str] = ""  # "params.txt": the file that marks a run dir of this framework
    run_layout: ClassVar[str] = ""  # "params.txt, checkpoints/epoch_N.pt, …": told when no run dir is found
    epoch_base: ClassVar[int] = 1  # number of the first epoch in file names and logs (timm 0, OpenCLIP 1)
    # --- release ----------------------------------------------------------------------------------------
    weights_file: ClassVar[str] = "model.safetensors"  # the safetensors file the library's Hub loader reads
    config_file: ClassVar[str] = "config.json"  # the config next to it; also how a revision is recognised
    # files a revision carries besides those two (written by release_extras; MMPreTrain: config.py, model.pth);
    # a revision is recognised by config_file and these, the framework asking for the most files first
    extra_files: ClassVar[tuple[str, ...]] = ()
    supports_ema: ClassVar[bool] = True  # checkpoints may hold ``state_dict_ema`` (OpenCLIP: False)
    # (inert stand-in, dotted name the pickle writes) its checkpoints need beyond hubkit's allowlist; every
    # safe load allows them (hubkit.runs.safeload). Stand-ins only, never a real callable (MMEngine's
    # HistoryBuffer / getattr statistics: hubkit.runs.mmengine_safe).
    pickle_stand_ins: ClassVar[tuple[tuple[Any, str], ...]] = ()
    # --- cards ------------------------------------------------------------------------------------------
    pipeline_tag: ClassVar[str] = "image-classification"  # Hub pipeline tag of a run's model
    model_type: ClassVar[str] = "Image classification"  # "Model type" line of a card it cannot decode
    has_classifier: ClassVar[bool] = True  # the model has a class head (usage shows classification)
    usage_partial: ClassVar[str] = ""  # "partials/usage_timm.md.j2": the card's usage section
    template_dir: ClassVar[Path | None] = None  # extra folder searched for ``usage_partial`` (outside hubkit)
    load_imports: ClassVar[str] = ""  # "import timm": what ``load_line`` needs, for the printed one-liner
    # recorded metric -> (model-index metric type, human name): the card's results, in this order
    result_metrics: ClassVar[Mapping[str, tuple[str, str]]] = {}
    # recorded metric -> (dataset name, dataset type) when it was measured on other data than the run's
    result_datasets: ClassVar[Mapping[str, tuple[str, str]]] = {}
    # card row (Hyperparams field) -> run arguments it is read from, e.g. {"lr": ("lr",), "ema": ("model_ema",)}
    hyperparam_keys: ClassVar[Mapping[str, tuple[str, ...]]] = {}
    # --- verification -----------------------------------------------------------------------------------
    # measured metric -> (recorded metric, factor to the measured unit, checked against the tolerance?)
    recorded_metrics: ClassVar[Mapping[str, tuple[str, float, bool]]] = {}
    # said when the run's metrics are its EMA model's ("timm train.py records the EMA model's metrics …")
    ema_metrics_note: ClassVar[str | None] = None
    ema_flag: ClassVar[str] = ""  # "--model-ema": the training option that keeps (and evaluates) EMA weights

    def __repr__(self) -> str:
        return f"<framework {self.name}>"

    # --- run dir ----------------------------------------------------------------------------------------
    def is_run_dir(self, path: Path) -> bool:
        """Whether ``path`` is a run dir of this framework (default: it holds :attr:`run_marker`)."""
        return bool(self.run_marker) and (path / self.run_marker).is_file()

    def read_run(self, path: Path, *, model_config: Path | None = None) -> TrainingRun:
        """Read the run dir into a :class:`hubkit.runs.TrainingRun` whose ``framework`` is :attr:`name`."""
        raise NotImplementedError

    def completed_epochs(self, epoch: int) -> int:
        """Epochs completed at the checkpoint the framework numbers ``epoch`` (timm 3 -> 4, OpenCLIP 3 -> 3)."""
        return epoch + 1 - self.epoch_base

    def epochs_phrase(self, epoch: int) -> str:
        """How far training was, as cards and summaries word it: ``after 4 epochs (timm epoch 3)``."""
        done = self.completed_epochs(epoch)
        text = f"after {done} epoch{'s' if done != 1 else ''}"
        return text if done == epoch else f"{text} ({self.name} epoch {epoch})"

    # --- release ----------------------------------------------------------------------------------------
    def default_weights(self, run: TrainingRun) -> WeightsKind:
        """The weights published when none are asked for: those the run's metrics were measured on."""
        return "ema" if self.supports_ema and run.hyperparams.ema else "raw"

    def checkpoint_weights(
        self,
        run: TrainingRun,
        checkpoint: CheckpointInfo,
        loaded: dict[str, Any],
        file: Path,
        weights: WeightsKind | None,
    ) -> tuple[dict[str, Any], WeightsKind, int]:
        """``(state dict to publish, weights kind, epoch)`` of a safely loaded checkpoint dict.

        Raises :class:`hubkit.errors.CheckpointError` naming the file when it does not hold what is asked.
        """
        from hubkit.frameworks import checkpoints

        return checkpoints.saver_weights(
            checkpoint,
            loaded,
            file,
            weights,
            default=self.default_weights(run),
            ema=self.supports_ema,
            trainer=self.display_name,
        )

    def weights_metadata(self, run: TrainingRun, loaded: Mapping[str, Any]) -> dict[str, str]:
        """Extra ``__metadata__`` entries of the published safetensors file (default: none)."""
        return {}

    def release_extras(
        self, run: TrainingRun, loaded: Mapping[str, Any], state: Mapping[str, Any]
    ) -> dict[str, bytes]:
        """Files a revision carries besides :attr:`weights_file` and :attr:`config_file` (name -> bytes)."""
        return {}

    def source_state_dict(self, loaded: Mapping[str, Any], weights: str) -> dict[str, torch.Tensor]:
        """The tensors a revision holding ``weights`` of this checkpoint should hold (for bitwise checks)."""
        from hubkit.frameworks import checkpoints

        return checkpoints.saver_state_dict(loaded, weights)

    def architecture_key(self, run: TrainingRun) -> str:
        """A string naming everything :meth:`architecture` builds from (memoised per process under it)."""
        raise NotImplementedError

    def architecture(self, run: TrainingRun, scratch: Path) -> tuple[bytes, torch.nn.Module]:
        """``(config file bytes, the model on the meta device)`` of the run; ``scratch`` is an empty folder."""
        raise NotImplementedError

    def build_source_model(
        self, run: TrainingRun, device: torch.device, state: Mapping[str, torch.Tensor] | None = None
    ) -> torch.nn.Module:
        """A model built from the run's own arguments (not the published config), eval mode, on ``device``."""
        raise NotImplementedError

    # --- training dynamics ------------------------------------------------------------------------------
    def layer_groups(self, model: torch.nn.Module, *, fine: bool = False) -> Grouping:
        """The model's layer groups as the framework itself groups layers (default: top-level modules).

        ``model`` is built on the ``meta`` device (:meth:`architecture`, :meth:`revision_model`); ``fine``
        asks for smaller groups where the framework has them.
        """
        from hubkit.dynamics.groups import groups_by_module

        return groups_by_module(model)

    def lock_settings(self, hyperparams: Hyperparams) -> tuple[str, ...]:
        """The run's recorded lock settings as options (``("--lock-text",)``); () when it locks nothing.

        Cheap (no model): callers skip everything else for a run that locks nothing.
        """
        return ()

    def lock_plan(self, model: torch.nn.Module, hyperparams: Hyperparams) -> LockPlan:
        """Which parameters the run's recorded lock settings freeze (default: none, the run locks nothing)."""
        from hubkit.dynamics.locks import LockPlan

        return LockPlan()

    def revision_model(self, snapshot: Path) -> torch.nn.Module:
        """The model of a downloaded revision (its config file), on the ``meta`` device."""
        raise NotImplementedError

    def record_hyperparams(self, recorded: Mapping[str, Any]) -> Hyperparams:
        """Hyperparams from the arguments a revision's ``hubkit.json`` records (default: ``raw`` only)."""
        from hubkit.runs.model import Hyperparams

        return Hyperparams(raw=dict(recorded))

    # --- a downloaded revision --------------------------------------------------------------------------
    def is_revision(self, snapshot: Path) -> bool:
        """Whether a downloaded snapshot is a release of this framework (default: it has :attr:`config_file`
        and every one of :attr:`extra_files`)."""
        return all((snapshot / name).is_file() for name in (self.config_file, *self.extra_files))

    def load(
        self,
        repo_id: str,
        revision: str,
        snapshot: Path,
        *,
        endpoint: str | None,
        token: str | None,
        cache: Path,
        device: torch.device,
    ) -> tuple[Any, Any, Any]:
        """``(model, eval transform, tokenizer or None)`` of a downloaded revision, through the library."""
        raise NotImplementedError

    def eval_data_candidates(self, hyperparameters: Mapping[str, Any]) -> list[str]:
        """Validation data paths named by the arguments recorded in ``hubkit.json`` (most likely first)."""
        return []

    def quick_eval(
        self,
        loaded: LoadedModel,
        data: EvalData,
        run: TrainingRun | None,
        record: Mapping[str, Any],
        options: VerifyOptions,
        device: torch.device,
    ) -> tuple[EvalOutcome, int]:
        """Evaluate the reloaded model on ``data``; return the outcome and the data set's size."""
        raise NotImplementedError

    def synthetic_batch(self, loaded: LoadedModel, device: torch.device, size: int) -> Any:
        """A seeded random input batch (a tensor or a tuple of tensors) for the logits comparison."""
        raise NotImplementedError

    # --- cards ------------------------------------------------------------------------------------------
    def usage_ref(self, repo_id: str, revision: str | None) -> str:
        """What the usage section loads: ``hf-hub:org/name@rev`` (pinned when the library can pin)."""
        return f"hf-hub:{repo_id}" + (f"@{revision}" if revision else "")

    def load_line(self, repo_id: str, revision: str | None) -> str:
        """One line of Python that loads exactly ``revision`` (``main`` when None) after :attr:`load_imports`."""
        raise NotImplementedError

    def show_hyperparameter(self, field: str, hyperparams: Hyperparams) -> bool:
        """Whether a card lists the (recorded) Hyperparams ``field`` for this framework's runs.

        Default: EMA only when the framework keeps EMA weights, locked towers only when its runs record them.
        """
        if field == "ema":
            return self.supports_ema
        if field == "locked_towers":
            return field in self.hyperparam_keys
        return True

    def metric_phrase(self, metrics: Mapping[str, float]) -> str | None:
        """How the card's summary states a checkpoint's recorded result (None: it does not)."""
        return None

    def image_size(self, run: TrainingRun) -> tuple[tuple[int, int] | None, Sourced | None]:
        """The resolution the run trained at and where that is recorded (default: its eval transform)."""
        from hubkit.cards.context import Sourced

        transform = run.eval_transform
        if transform is None or transform.input_size is None:
            return None, None
        size = (transform.input_size[1], transform.input_size[2])
        return size, Sourced("Train and evaluation", "{} x {}".format(*size), "run", run.args_file.name)

    def image_sizes(self, run: TrainingRun) -> tuple[Sourced, ...]:
        """The card's "Image size" list."""
        _, train = self.image_size(run)
        return () if train is None else (train,)

    def run_stats(self, run: TrainingRun) -> ModelStats | None:
        """Params / GMACs / activations of the run's model (None: the card omits them)."""
        return None

    def dataset(self, run: TrainingRun, split: str = "val") -> tuple[str, str]:
        """``(name, type)`` of the data the run evaluated on (``"val"``) or trained on (``"train"``)."""
        name = str(run.dataset or "").strip() or "data"
        return name, name

    def data_phrase(self, run: TrainingRun) -> str:
        """How the card's summary says what the run trained on: ``on an image folder of 10 classes``."""
        classes = f" ({run.num_classes} classes)" if run.num_classes else ""
        return f"on {self.dataset(run, 'train')[0]}{classes}"

    # --- tag cards (frameworks with a ``tag_form``; ``decoded`` is a hubkit.tags.ModelTag) -------------
    origin_title: ClassVar[str] = "Original source"  # title of the registry's origin_url link on a tag card
    registry_fields: ClassVar[tuple[str, ...]] = ()  # pretrained-config entries ``--enrich`` adds to a tag

    def registry_config(self, decoded: ModelTag) -> dict[str, Any]:
        """The installed registry's pretrained config of a decoded tag (raises TagError when it has none)."""
        raise NotImplementedError(f"{self.display_name or self.name} has no pretrained registry")

    def decode_architecture(self, name: str) -> ModelTag | None:
        """The architecture name decoded as a tag of this framework's form (None: it is not one).

        A run card starts from it (family, papers); a framework without tags gets a card from its run only.
        """
        if self.tag_form is None:
            return None
        from hubkit.errors import TagError
        from hubkit.tags.dispatch import decode

        try:
            decoded = decode(name)
        except TagError:
            return None
        return decoded if decoded.form == self.tag_form else None

    def tag_title(self, decoded: ModelTag) -> str:
        """How a tag card names the tag: ``resnet50.a1_in1k`` / ``ViT-B-32/laion2b_s34b_b79k``."""
        return str(decoded.raw)

    def tag_registry(self, decoded: ModelTag) -> RegistryInfo | None:
        """What the installed library's registry says about the tag's weights (None: nothing)."""
        return None

    def tag_pipeline(self, decoded: ModelTag, registry: RegistryInfo | None) -> str:
        """The Hub pipeline tag of the tag's weights."""
        return self.pipeline_tag

    def tag_base_model(self, decoded: ModelTag, lineage: tuple[DatasetRow, ...]) -> Sourced | None:
        """The Hub id of the weights the tag's weights were fine-tuned from, when the registry lists them."""
        return None

    def tag_usage(
        self, decoded: ModelTag, registry: RegistryInfo | None, repo_id: str | None, revision: str | None
    ) -> Usage:
        """The usage section of a tag card (loading from ``repo_id`` when given, else from the registry)."""
        raise NotImplementedError(f"{self.display_name or self.name} has no pretrained tags")

    def tag_stats(self, decoded: ModelTag) -> ModelStats | None:
        """Params / GMACs / activations of the tag's architecture (None: the card omits them)."""
        return None

    def tag_results(self, decoded: ModelTag) -> tuple[ResultRow, ...]:
        """Published evaluation results of the tag's weights, as the registry lists them (the card's
        ``model-index``); none by default."""
        return ()

    def minimal_usage(self, repo_id: str) -> Usage:
        """The usage section of a run card whose architecture hubkit cannot decode."""
        from hubkit.cards.context import Usage

        return Usage(
            self.name, self.usage_ref(repo_id, None), repo_id=repo_id, has_classifier=self.has_classifier
        )


@contextmanager
def quiet_root_warnings() -> Iterator[None]:
    """Silence root-logger warnings for a block (open_clip logs expected warnings through the root logger).

    Example:
        >>> with quiet_root_warnings():
        ...     logging.warning("not shown")  # doctest: +SKIP
    """
    import logging

    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        yield
    finally:
        logging.disable(previous)
