"""timm: ``train.py`` run dirs, ``model.safetensors`` + ``config.json`` releases, ``timm.create_model`` loading.

Sources: timm ``train.py`` (arguments, ``summary.csv``, ``CheckpointSaver``), ``timm/models/_hub.py``
(``save_config_for_hf``, ``HF_SAFE_WEIGHTS_NAME``), https://github.com/huggingface/pytorch-image-models.
The run dir reader is :mod:`hubkit.runs.read_timm`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from hubkit.errors import TagError, VerificationError
from hubkit.frameworks.base import Framework

if TYPE_CHECKING:
    import torch

    from hubkit.cards.context import DatasetRow, ModelStats, Sourced, Usage
    from hubkit.cards.registry import RegistryInfo
    from hubkit.dynamics.locks import LockPlan
    from hubkit.dynamics.model import Grouping, LayerGroup
    from hubkit.runs.model import Hyperparams, TrainingRun
    from hubkit.tags.model import ModelTag
    from hubkit.verify.datasets import EvalData
    from hubkit.verify.evaluate import EvalOutcome
    from hubkit.verify.loaded import LoadedModel
    from hubkit.verify.options import VerifyOptions

# pretrained_cfg entries that describe timm's registry weights for the architecture, not these weights.
# args.yaml names a timm run records its lock under (source: examples/timm_digits/train.py --lock,
# --lock-unlocked-groups, --lock-freeze-bn-stats; timm train.py has no freezing option, these mirror the
# arguments of open_clip's TimmModel.lock).
LOCK_ARGS: dict[str, str] = {
    "lock": "freeze the model except its last groups (timm group_matcher groups, as TimmModel.lock)",
    "lock_unlocked_groups": "number of last groups left trainable (0: the whole model is frozen)",
    "lock_freeze_bn_stats": "BatchNorm layers of frozen groups kept in eval mode (statistics frozen)",
}
REGISTRY_ONLY_KEYS = ("tag", "license", "paper_ids", "paper_name", "notes", "origin_url", "hf_hub_id")
# Card rows whose run arguments are not in the reader's HPARAM_KEYS table (source: timm train.py).
_EXTRA_KEYS: dict[str, tuple[str, ...]] = {
    "ema": ("model_ema",),
    "precision": ("amp", "amp_dtype"),
    "pretrained": ("pretrained", "initial_checkpoint"),
}


def _hyperparam_keys() -> dict[str, tuple[str, ...]]:
    from hubkit.runs.read_timm import HPARAM_KEYS

    return {**{name: (key,) for name, key in HPARAM_KEYS.items()}, **_EXTRA_KEYS}


def _uses_momentum(optimizer: str | None) -> bool:
    # timm's optimizer names that take a momentum argument (timm.optim create_optimizer_v2).
    name = (optimizer or "").lower()
    return any(word in name for word in ("sgd", "momentum", "nesterov", "rmsprop", "lars"))


def label_names(val_data: str | None, num_classes: int | None) -> list[str] | None:
    """Class folder names of an image-folder val split, in timm's (natural) sort order."""
    if not val_data or not num_classes or not Path(val_data).is_dir():
        return None
    names = [p.name for p in Path(val_data).iterdir() if p.is_dir()]

    def natural(text: str) -> list[Any]:
        return [int(s) if s.isdigit() else s for s in re.split(r"(\d+)", text.lower())]

    return sorted(names, key=natural) if len(names) == num_classes else None


def model_kwargs(run: TrainingRun) -> dict[str, Any]:
    """The ``timm.create_model`` keyword arguments train.py gave the model (``model_kwargs``, in_chans, gp)."""
    args = run.hyperparams.raw
    kwargs: dict[str, Any] = dict(args.get("model_kwargs") or {})
    if args.get("in_chans"):
        kwargs["in_chans"] = args["in_chans"]
    if args.get("gp"):
        kwargs["global_pool"] = args["gp"]
    return kwargs


def matcher_groups(
    keys: Sequence[str], params: set[str], matcher: Any, *, prefix: str = "", tower: str | None = None
) -> list[LayerGroup]:
    """Group ``keys`` with timm's ``group_with_matcher`` (unmatched keys: timm's last group, the head)."""
    from timm.models._manipulate import group_with_matcher

    from hubkit.dynamics.groups import label, split_keys
    from hubkit.dynamics.model import LayerGroup

    stripped = [k[len(prefix) :] for k in keys]
    grouped = group_with_matcher(((k, None) for k in stripped), matcher)
    groups = []
    for lid in sorted(grouped):
        members = [prefix + k for k in grouped[lid]]
        p, b = split_keys(members, params)
        others = [k for other, names in grouped.items() if other != lid for k in names]
        groups.append(LayerGroup(prefix + label(grouped[lid], others), p, b, tower))
    return groups


class TimmFramework(Framework):
    """timm (PyTorch Image Models): image classifiers trained with ``train.py``."""

    name = "timm"
    display_name = "timm"
    link = ("timm (PyTorch Image Models)", "https://github.com/huggingface/pytorch-image-models")
    distribution = "timm"
    tag_form = "timm"
    run_marker = "args.yaml"
    run_layout = "args.yaml, summary.csv, checkpoint-N.pth.tar / last.pth.tar / model_best.pth.tar"
    epoch_base = 0
    weights_file = "model.safetensors"
    config_file = "config.json"
    supports_ema = True
    pipeline_tag = "image-classification"
    model_type = "Image classification"
    has_classifier = True
    usage_partial = "partials/usage_timm.md.j2"
    load_imports = "import timm"
    hyperparam_keys = _hyperparam_keys()
    # Sources: timm train.py writes eval_top1/eval_top5 in percent and eval_loss (summary.csv). Losses are
    # reported next to their recorded value but not checked: the tolerance is in points.
    recorded_metrics = MappingProxyType(
        {
            "top1": ("eval_top1", 1.0, True),
            "top5": ("eval_top5", 1.0, True),
            "loss": ("eval_loss", 1.0, False),
        }
    )
    # Source: timm train.py summary.csv columns.
    result_metrics = MappingProxyType(
        {"eval_top1": ("accuracy", "Top-1 accuracy"), "eval_top5": ("accuracy", "Top-5 accuracy")}
    )
    ema_metrics_note = "timm train.py records the EMA model's metrics when --model-ema is on"
    ema_flag = "--model-ema"

    # --- run dir ----------------------------------------------------------------------------------------
    def read_run(self, path: Path, *, model_config: Path | None = None) -> TrainingRun:
        from hubkit.runs.read_timm import read_timm_run

        return read_timm_run(path)

    # --- release ----------------------------------------------------------------------------------------
    def architecture_key(self, run: TrainingRun) -> str:
        labels = label_names(run.val_data, run.num_classes)
        facts = [run.architecture, run.num_classes, model_kwargs(run), repr(run.eval_transform), labels]
        return json.dumps([self.name, *facts], sort_keys=True, default=repr)

    def architecture(self, run: TrainingRun, scratch: Path) -> tuple[bytes, torch.nn.Module]:
        import timm
        import torch
        from timm.models._hub import save_config_for_hf

        with torch.device("meta"):
            model = timm.create_model(
                run.architecture, pretrained=False, num_classes=run.num_classes, **model_kwargs(run)
            )
        t = run.eval_transform
        data_config = {
            k: v
            for k, v in {
                "input_size": t.input_size if t else None,
                "crop_pct": t.crop_pct if t else None,
                "crop_mode": t.crop_mode if t else None,
                "interpolation": t.interpolation if t else None,
                "mean": t.mean if t else None,
                "std": t.std if t else None,
            }.items()
            if v is not None
        }
        model_config: dict[str, Any] = {}
        labels = label_names(run.val_data, run.num_classes)
        if labels:
            model_config["label_names"] = labels
        tmp = scratch / f".{self.config_file}.timm"
        save_config_for_hf(model, str(tmp), model_config=model_config, data_config=data_config)
        config = json.loads(tmp.read_text(encoding="utf-8"))
        tmp.unlink()
        for key in REGISTRY_ONLY_KEYS:
            config.get("pretrained_cfg", {}).pop(key, None)
        return (json.dumps(config, indent=2) + "\n").encode("utf-8"), model

    def layer_groups(self, model: torch.nn.Module, *, fine: bool = False) -> Grouping:
        """timm's own grouping: the model's ``group_matcher`` (coarse: stem, stages, head; fine: blocks)."""
        from hubkit.dynamics.groups import state_keys, unique
        from hubkit.dynamics.model import Grouping

        keys, params = state_keys(model)
        groups = matcher_groups(keys, params, model.group_matcher(coarse=not fine))  # type: ignore[operator]
        return Grouping(f"timm group_matcher ({'fine' if fine else 'coarse'})", unique(groups))

    def lock_settings(self, hyperparams: Hyperparams) -> tuple[str, ...]:
        from hubkit.dynamics.locks import as_int, truthy

        raw = hyperparams.raw
        if not truthy(raw.get("lock")):
            return ()
        unlocked = as_int(raw.get("lock_unlocked_groups"))
        settings = ("--lock",) + ((f"--lock-unlocked-groups {unlocked}",) if unlocked else ())
        return settings + (("--lock-freeze-bn-stats",) if truthy(raw.get("lock_freeze_bn_stats")) else ())

    def lock_plan(self, model: torch.nn.Module, hyperparams: Hyperparams) -> LockPlan:
        """A recorded ``--lock`` (:data:`LOCK_ARGS`): every ``group_matcher`` group but the last N frozen."""
        from timm.models import group_parameters

        from hubkit.dynamics.locks import LockPlan, as_int

        settings = self.lock_settings(hyperparams)
        if not settings:
            return LockPlan()
        unlocked = as_int(hyperparams.raw.get("lock_unlocked_groups"))
        groups = group_parameters(model, model.group_matcher())  # type: ignore[operator]
        last_frozen = max(groups) - unlocked
        reason = f"{' '.join(settings)} (args.yaml)"
        frozen = {name: reason for lid, names in groups.items() if lid <= last_frozen for name in names}
        freeze_bn = "--lock-freeze-bn-stats" in settings
        return LockPlan(frozen, frozenset(frozen) if freeze_bn else frozenset(), settings)

    def revision_model(self, snapshot: Path) -> torch.nn.Module:
        import timm
        import torch

        config = json.loads((snapshot / self.config_file).read_text(encoding="utf-8"))
        kwargs = {"num_classes": config.get("num_classes"), **config.get("model_args", {})}
        with torch.device("meta"):
            return timm.create_model(config["architecture"], pretrained=False, **kwargs)

    def build_source_model(
        self, run: TrainingRun, device: torch.device, state: Mapping[str, torch.Tensor] | None = None
    ) -> torch.nn.Module:
        import itertools

        import timm
        import torch

        raw = run.hyperparams.raw
        # The train.py arguments that shape the network at eval time (drop rates do not).
        kwargs: dict[str, Any] = {"num_classes": run.num_classes}
        for arg, kwarg in (("in_chans", "in_chans"), ("gp", "global_pool"), ("bn_eps", "bn_eps")):
            if raw.get(arg) is not None:
                kwargs[kwarg] = raw[arg]
        if isinstance(raw.get("model_kwargs"), Mapping):
            kwargs.update(raw["model_kwargs"])
        if state is not None:
            # On the meta device the model takes the source tensors as they are: no random initialization,
            # which for a resnet50 on CPU costs about as much as the forwards the check runs.
            with torch.device("meta"):
                model = timm.create_model(run.architecture, pretrained=False, **kwargs)
            model.load_state_dict({k: v.to(device) for k, v in state.items()}, strict=True, assign=True)
            tensors = itertools.chain(model.parameters(), model.buffers())
            if not any(t.is_meta for t in tensors):
                return model.eval()
        with torch.device(device):
            model = timm.create_model(run.architecture, pretrained=False, **kwargs)
        model = model.to(device)
        if state is not None:
            model.load_state_dict(state, strict=True)
        return model.eval()

    # --- a downloaded revision --------------------------------------------------------------------------
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
        """``timm.create_model("hf-hub:ORG/NAME@REV", pretrained=True)``, as a user loads it.

        timm resolves ``config.json`` and ``model.safetensors`` itself, through
        :func:`hubkit.verify.hubenv.hub_session` so that its endpoint-less ``hf_hub_download`` calls reach
        the Hub being verified; the model is built directly on the device.
        """
        from hubkit.hub.client import with_retries

        # timm asks the Hub again (HEAD per file): a transient 5xx there is retried, not a failed load.
        loaded = with_retries(
            _load_timm,
            repo_id,
            revision,
            endpoint,
            token,
            cache,
            device,
            what=f"loading {repo_id}@{revision}",
        )
        _check_same_commit(cache, repo_id, revision, snapshot.name)
        return loaded

    def eval_data_candidates(self, hyperparameters: Mapping[str, Any]) -> list[str]:
        if not hyperparameters.get("data_dir"):
            return []
        split = str(hyperparameters.get("val_split") or "validation")
        return [str(Path(str(hyperparameters["data_dir"])) / split)]

    def quick_eval(
        self,
        loaded: LoadedModel,
        data: EvalData,
        run: TrainingRun | None,
        record: Mapping[str, Any],
        options: VerifyOptions,
        device: torch.device,
    ) -> tuple[EvalOutcome, int]:
        """Top-1 / top-5 / loss on an image folder, as train.py's ``validate`` computes them."""
        from hubkit.verify import datasets, evaluate
        from hubkit.verify.options import DEFAULT_BATCH_SIZE

        if data.kind != "image-folder":
            raise VerificationError(f"timm quick-eval needs an image folder, got the file {data.path}")
        dataset = datasets.image_folder_dataset(data.path, loaded.transform)
        loader = datasets.make_loader(
            dataset,
            batch_size=options.batch_size or DEFAULT_BATCH_SIZE,
            workers=options.workers,
            device=device,
            limit=options.limit,
        )
        return evaluate.evaluate_classifier(loaded.model, loader, device), len(dataset)  # type: ignore[arg-type]

    def synthetic_batch(self, loaded: LoadedModel, device: torch.device, size: int) -> Any:
        import torch

        generator = torch.Generator().manual_seed(0)
        shape = tuple(loaded.model.pretrained_cfg.get("input_size", (3, 224, 224)))
        return torch.randn((size, *shape), generator=generator).to(device)

    # --- cards ------------------------------------------------------------------------------------------
    def load_line(self, repo_id: str, revision: str | None) -> str:
        pinned = revision not in (None, "main")
        return (
            f'timm.create_model("hf-hub:{repo_id}{"@" + str(revision) if pinned else ""}", pretrained=True)'
        )

    def show_hyperparameter(self, field: str, hyperparams: Hyperparams) -> bool:
        if field == "momentum":  # timm records --momentum for every run; only SGD-like optimizers use it
            return _uses_momentum(hyperparams.optimizer)
        return super().show_hyperparameter(field, hyperparams)

    def metric_phrase(self, metrics: Mapping[str, float]) -> str | None:
        if "eval_top1" in metrics:
            return f"validation top-1 {metrics['eval_top1']:.2f} %"
        return None

    def image_size(self, run: TrainingRun) -> tuple[tuple[int, int] | None, Sourced | None]:
        from hubkit.cards.context import Sourced
        from hubkit.cards.runfacts import size_of

        raw = run.hyperparams.raw
        for key in ("input_size", "img_size"):
            size = size_of(raw.get(key))
            if size:
                return size, Sourced("Train", "{} x {}".format(*size), "run", f"{run.args_file.name} `{key}`")
        transform = run.eval_transform
        if transform and transform.input_size:
            size = (transform.input_size[1], transform.input_size[2])
            return size, Sourced(
                "Train", "{} x {}".format(*size), "registry", f"timm default of {run.architecture}"
            )
        return None, None

    def image_sizes(self, run: TrainingRun) -> tuple[Sourced, ...]:
        """Train, evaluation and crop: train.py evaluates at the input size it trains at, with ``crop_pct``
        from the run's arguments or else the architecture's default; both are said."""
        from hubkit.cards.context import Sourced

        size, train = self.image_size(run)
        if train is None or size is None:
            return ()
        rows = [train, Sourced("Evaluation", train.value, train.kind, train.source)]
        crop = run.eval_transform.crop_pct if run.eval_transform else None
        if crop is not None:
            recorded = run.hyperparams.raw.get("crop_pct") is not None
            rows.append(
                Sourced(
                    "Evaluation crop",
                    f"crop_pct {crop:g}: resize to 1/{crop:g} of the size, then center crop",
                    "run" if recorded else "registry",
                    f"{run.args_file.name} `crop_pct`" if recorded else f"timm default of {run.architecture}",
                )
            )
        return tuple(rows)

    def run_stats(self, run: TrainingRun) -> ModelStats | None:
        from hubkit.cards import stats as counting

        size, _ = self.image_size(run)
        return counting.timm_stats(run.architecture, size, num_classes=run.num_classes)

    def dataset(self, run: TrainingRun, split: str = "val") -> tuple[str, str]:
        """The run's ``--dataset`` when it gave one; else the data folder's name (one folder, both splits)."""
        from hubkit.cards.runfacts import last_part

        named = str(run.hyperparams.raw.get("dataset") or "").strip()
        if named:
            return named, named
        folder = last_part(run.train_data, run)
        name = Path(folder).name if folder else None
        return (f"{name} (image folder)" if name else "image folder"), "imagefolder"

    def data_phrase(self, run: TrainingRun) -> str:
        from hubkit.cards.runfacts import last_part

        named = str(run.hyperparams.raw.get("dataset") or "").strip()
        if named:
            return f"on `{named}`" + (f" ({run.num_classes} classes)" if run.num_classes else "")
        classes = f" of {run.num_classes} classes" if run.num_classes else ""
        folder = last_part(run.train_data, run)
        return f"on an image folder{classes}" + (f" (`{folder}`)" if folder else "")

    # --- tag cards --------------------------------------------------------------------------------------
    registry_fields = (
        "license", "paper_ids", "input_size", "test_input_size", "crop_pct", "test_crop_pct", "num_classes",
        "mean", "std", "interpolation", "hf_hub_id", "origin_url",
    )  # fmt: skip

    def registry_config(self, decoded: ModelTag) -> dict[str, Any]:
        from timm.models import get_pretrained_cfg  # heavy: imports torch

        try:
            cfg = get_pretrained_cfg(decoded.raw)
        except RuntimeError:  # timm raises for a known architecture with an unknown tag
            cfg = None
        if cfg is None:
            raise TagError(
                f"the installed timm has no pretrained config for {decoded.raw!r}",
                hint="check the name with timm.list_pretrained(), or decode without --enrich",
            )
        return dict(cfg.to_dict())

    def tag_registry(self, decoded: ModelTag) -> RegistryInfo | None:
        from hubkit.cards.registry import timm_registry

        arch = decoded.architecture.name
        return timm_registry(f"{arch}.{decoded.pretrained}" if decoded.pretrained else arch)

    def tag_pipeline(self, decoded: ModelTag, registry: RegistryInfo | None) -> str:
        if registry is not None and registry.num_classes == 0:
            return "image-feature-extraction"
        return self.pipeline_tag

    def tag_base_model(self, decoded: ModelTag, lineage: tuple[DatasetRow, ...]) -> Sourced | None:
        """The parent tag is the pretrained tag up to (not including) its last dataset token, without a
        trailing ``_ft``: ``in12k_ft_in1k_384`` -> ``in12k``, ``laion2b_ft_in12k_in1k`` -> ``laion2b_ft_in12k``.
        It is used only when timm's registry lists those weights; otherwise no base_model is claimed."""
        from hubkit.cards import tagfacts
        from hubkit.cards.context import Sourced
        from hubkit.cards.registry import timm_tag_exists

        if len(lineage) < 2 or not decoded.pretrained:
            return None
        last = tagfacts.lineage_token(decoded, -1)
        cut = decoded.pretrained.rfind(f"_{last}") if last else -1
        if cut <= 0:
            return None
        parent = decoded.pretrained[:cut].removesuffix("_ft")
        hub_id = timm_tag_exists(f"{decoded.architecture.name}.{parent}")
        if hub_id is None:
            return None
        return Sourced("Fine-tuned from", hub_id, "registry", f"timm:{decoded.architecture.name}.{parent}")

    def tag_usage(
        self, decoded: ModelTag, registry: RegistryInfo | None, repo_id: str | None, revision: str | None
    ) -> Usage:
        from hubkit.cards.context import Usage

        num_classes = registry.num_classes if registry else None
        pinned = f"@{revision}" if revision else ""
        ref = f"hf-hub:{repo_id}{pinned}" if repo_id else decoded.raw
        return Usage(
            self.name,
            ref,
            repo_id=repo_id,
            revision=revision,
            has_classifier=num_classes != 0,
            num_classes=num_classes,
            features_only=_supports_features_only(decoded.architecture.name),
            input_size=registry.input_size if registry else None,
        )

    def tag_stats(self, decoded: ModelTag) -> ModelStats | None:
        from hubkit.cards import stats

        arch = decoded.architecture.name
        return stats.timm_stats(f"{arch}.{decoded.pretrained}" if decoded.pretrained else arch)


def _supports_features_only(architecture: str) -> bool:
    """Whether timm can build ``architecture`` with ``features_only=True`` (tried on the meta device)."""
    import timm
    import torch

    try:
        with torch.device("meta"):
            timm.create_model(architecture, pretrained=False, features_only=True)
    except Exception:  # timm raises RuntimeError / TypeError / NotImplementedError for unsupported models
        return False
    return True


def _load_timm(
    repo_id: str, revision: str, endpoint: str | None, token: str | None, cache: Path, device: torch.device
) -> tuple[Any, Any, None]:
    import timm
    import torch
    from timm.data import create_transform, resolve_data_config

    from hubkit.verify.hubenv import hub_session

    # Built under the device context: parameters are created on the device, and timm copies the weights
    # it read from model.safetensors straight into them.
    with hub_session(endpoint, token, cache), torch.device(device):
        model = timm.create_model(f"hf-hub:{repo_id}@{revision}", pretrained=True, cache_dir=str(cache))
    model = model.to(device)
    data_config = resolve_data_config({}, model=model)
    return model, create_transform(**data_config, is_training=False), None


_COMMIT_RE = re.compile(r"^[0-9a-f]{40}$")


def _check_same_commit(cache: Path, repo_id: str, revision: str, commit: str) -> None:
    """Fail when the branch moved between the download and timm's own resolution of it."""
    if _COMMIT_RE.match(revision):
        return
    ref = cache / f"models--{repo_id.replace('/', '--')}" / "refs" / revision
    if ref.is_file() and ref.read_text().strip() != commit:
        raise VerificationError(
            f"{repo_id}@{revision} moved to {ref.read_text().strip()[:12]} while commit {commit[:12]} was verified",
            hint="re-run the verification once publishing to this revision has finished",
        )
