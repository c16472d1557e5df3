"""MMPreTrain (OpenMMLab): MMEngine work_dirs, releases MMPreTrain's ``get_model`` loads, zoo names and cards.

Sources: MMEngine's ``Runner`` / ``CheckpointHook`` / ``EMAHook`` / ``LocalVisBackend`` (work_dir layout,
checkpoint keys, EMA swap), MMPreTrain's ``tools/model_converters/publish_model.py`` (a release keeps
``meta`` + ``state_dict``), ``mmpretrain.apis.get_model``, https://github.com/open-mmlab/mmpretrain. The work_dir
reader is :mod:`hubkit.runs.read_mmpretrain`, the config reader :mod:`hubkit.runs.mmconfig` (configs are read,
never executed), the safe loading :mod:`hubkit.runs.mmengine_safe`, the name decoder
:mod:`hubkit.tags.mmpretrain_decoder`, the zoo's metafiles :mod:`hubkit.tags.mmpretrain_metafile`.

A revision holds ``model.safetensors`` (class names in its metadata), ``config.json`` (the resolved config as
JSON, parse-only), ``config.py`` (the config dump MMEngine wrote) and ``model.pth`` (``meta`` + ``state_dict``
only, loadable with stock ``torch.load(weights_only=True)``).
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from hubkit.errors import CheckpointError, HubkitError, VerificationError
from hubkit.frameworks import mmpretrain_dynamics
from hubkit.frameworks.base import Framework
from hubkit.runs.mmengine_safe import stand_ins

if TYPE_CHECKING:
    import torch

    from hubkit.cards.context import ModelStats, ResultRow, Sourced, Usage
    from hubkit.cards.registry import RegistryInfo
    from hubkit.dynamics.locks import LockPlan
    from hubkit.dynamics.model import Grouping
    from hubkit.runs.model import CheckpointInfo, Hyperparams, TrainingRun, WeightsKind
    from hubkit.tags.model import ModelTag
    from hubkit.verify.datasets import EvalData
    from hubkit.verify.evaluate import EvalOutcome
    from hubkit.verify.loaded import LoadedModel
    from hubkit.verify.options import VerifyOptions

INSTALL_HINT = "install the extra: pip install -c constraints.txt 'hubkit[mmpretrain]'"
CONFIG_PY = "config.py"
MODEL_PTH = "model.pth"
_EMA_PREFIX = "module."  # EMAHook's ExponentialMovingAverage wraps the model: its keys carry this prefix


def _require() -> None:
    import importlib.util

    if importlib.util.find_spec("mmpretrain") is None:
        raise HubkitError(
            "MMPreTrain is not installed, and this step builds MMPreTrain models", hint=INSTALL_HINT
        )


def _plain(value: Any) -> Any:
    """``value`` with only str / int / float / bool / None inside lists, tuples and dicts (others dropped)."""
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, list | tuple):
        items = [_plain(v) for v in value if _plain(v) is not _DROP]
        return type(value)(items)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items() if _plain(v) is not _DROP}
    return _DROP


_DROP = object()


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def _classes(loaded: Mapping[str, Any]) -> list[str] | None:
    meta = loaded.get("meta")
    classes = (meta.get("dataset_meta") or {}).get("classes") if isinstance(meta, dict) else None
    return [str(c) for c in classes] if isinstance(classes, list | tuple) else None


def _config(cfg: Mapping[str, Any]) -> Any:
    """An ``mmengine.Config`` built from an already-read dict (no file is executed)."""
    from mmengine.config import Config

    return Config(dict(cfg))


def _build(cfg: Mapping[str, Any], device: Any) -> torch.nn.Module:
    import torch
    from mmpretrain.apis import get_model

    with torch.device(device):
        model = get_model(_config(cfg), pretrained=False, device=str(device))
    return model.eval()


def _test_pipeline(cfg: Mapping[str, Any]) -> list[dict[str, Any]]:
    loader = cfg.get("val_dataloader") or cfg.get("test_dataloader") or {}
    pipeline = (loader.get("dataset") or {}).get("pipeline") or cfg.get("test_pipeline") or []
    return [dict(step) for step in pipeline]


class MMPretrainFramework(Framework):
    """MMPreTrain: image classifiers trained by MMEngine's Runner (``tools/train.py``)."""

    name = "mmpretrain"
    display_name = "MMPreTrain"
    link = ("MMPreTrain (OpenMMLab)", "https://github.com/open-mmlab/mmpretrain")
    distribution = "mmpretrain"
    tag_form = "mmpretrain"
    run_marker = "last_checkpoint"
    run_layout = "<config>.py, epoch_N.pth, best_*.pth, last_checkpoint, <timestamp>/vis_data/scalars.json"
    epoch_base = 1
    weights_file = "model.safetensors"
    config_file = "config.json"
    extra_files = (CONFIG_PY, MODEL_PTH)
    supports_ema = True
    pipeline_tag = "image-classification"
    model_type = "Image classification"
    has_classifier = True
    usage_partial = "partials/usage_mmpretrain.md.j2"
    load_imports = "from huggingface_hub import hf_hub_download\nfrom mmpretrain import get_model"
    pickle_stand_ins = stand_ins()
    # Card rows -> where the resolved config holds them (MMEngine config keys).
    hyperparam_keys = MappingProxyType(
        {
            "optimizer": ("optim_wrapper.optimizer.type",),
            "lr": ("optim_wrapper.optimizer.lr",),
            "schedule": ("param_scheduler",),
            "warmup_epochs": ("param_scheduler",),
            "epochs": ("train_cfg.max_epochs",),
            "batch_size": ("train_dataloader.batch_size",),
            "weight_decay": ("optim_wrapper.optimizer.weight_decay",),
            "momentum": ("optim_wrapper.optimizer.momentum",),
            "grad_clip": ("optim_wrapper.clip_grad.max_norm",),
            "seed": ("randomness.seed",),
            "label_smoothing": ("model.head.loss.label_smooth_val",),
            "mixup": ("model.train_cfg.augments",),
            "cutmix": ("model.train_cfg.augments",),
            "augmentation": ("train_dataloader.dataset.pipeline",),
            "drop_path_rate": ("model.backbone.drop_path_rate",),
            "frozen_stages": ("model.backbone.frozen_stages",),
            "ema": ("custom_hooks",),
            "ema_decay": ("custom_hooks",),
            "precision": ("optim_wrapper.type",),
            "pretrained": ("load_from",),
        }
    )
    # Source: MMPreTrain's Accuracy metric logs accuracy/top1 and accuracy/top5 in percent (scalars.json).
    recorded_metrics = MappingProxyType(
        {
            "top1": ("accuracy/top1", 1.0, True),
            "top5": ("accuracy/top5", 1.0, True),
            "loss": ("val_loss", 1.0, False),
        }
    )
    result_metrics = MappingProxyType(
        {"accuracy/top1": ("accuracy", "Top-1 accuracy"), "accuracy/top5": ("accuracy", "Top-5 accuracy")}
    )
    ema_metrics_note = "MMEngine's EMAHook validates, and saves under state_dict, the EMA weights"
    ema_flag = "custom_hooks=[dict(type='EMAHook')]"

    # --- run dir ----------------------------------------------------------------------------------------
    def is_run_dir(self, path: Path) -> bool:
        from hubkit.runs.read_mmpretrain import is_mmengine_work_dir
        from hubkit.runs.read_mmpretrain_zoo import is_zoo_release

        return is_mmengine_work_dir(path) or is_zoo_release(path)

    def read_run(self, path: Path, *, model_config: Path | None = None) -> TrainingRun:
        from hubkit.runs.read_mmpretrain import is_mmengine_work_dir, read_mmpretrain_run
        from hubkit.runs.read_mmpretrain_zoo import read_zoo_release

        return read_mmpretrain_run(path) if is_mmengine_work_dir(path) else read_zoo_release(path)

    # --- release ----------------------------------------------------------------------------------------
    def _check_epoch(self, loaded: Mapping[str, Any], checkpoint: CheckpointInfo, file: Path) -> int:
        meta = loaded.get("meta")
        epoch = meta.get("epoch") if isinstance(meta, dict) else None
        if checkpoint.epoch_source == "metafile":  # a zoo release: the epoch is the metafile's
            return checkpoint.epoch
        if not isinstance(epoch, int) or isinstance(epoch, bool):
            raise CheckpointError(
                f"{file} has no integer meta['epoch']", hint="Expected an MMEngine checkpoint."
            )
        if epoch != checkpoint.epoch:
            raise CheckpointError(
                f"{file} holds epoch {epoch}, but the work_dir lists it as epoch {checkpoint.epoch}",
                hint="The file was renamed or overwritten; read the work_dir again or pick another epoch.",
            )
        return epoch

    def checkpoint_weights(
        self,
        run: TrainingRun,
        checkpoint: CheckpointInfo,
        loaded: dict[str, Any],
        file: Path,
        weights: WeightsKind | None,
    ) -> tuple[dict[str, Any], WeightsKind, int]:
        """MMEngine's ``state_dict``; with EMAHook it holds the EMA weights and ``ema_state_dict`` the raw ones."""
        if weights not in (None, "raw", "ema"):
            raise CheckpointError(
                f"weights must be 'raw' or 'ema', not {weights!r}", hint="Use --weights raw|ema."
            )
        epoch = self._check_epoch(loaded, checkpoint, file)
        kind: WeightsKind = weights or self.default_weights(run)
        has_ema = isinstance(loaded.get("ema_state_dict"), dict)
        if checkpoint.epoch_source == "metafile" and weights is None:
            kind = "raw"  # a zoo release holds one state_dict: the weights that were released
        if kind == "ema" and not has_ema:
            raise CheckpointError(
                f"{file} has no 'ema_state_dict': the run kept no EMA weights", hint="Use --weights raw."
            )
        return self.source_state_dict(loaded, kind), kind, epoch

    def source_state_dict(self, loaded: Mapping[str, Any], weights: str) -> dict[str, torch.Tensor]:
        state = loaded.get("state_dict")
        if not isinstance(state, dict):
            raise CheckpointError(
                "the checkpoint has no 'state_dict'", hint="Expected an MMEngine checkpoint."
            )
        ema = loaded.get("ema_state_dict")
        if not isinstance(ema, dict) or weights == "ema":
            return dict(state)  # EMAHook swapped the EMA weights into state_dict before saving
        # raw weights of an EMA run: what EMAHook swapped out, under the wrapper's "module." prefix
        return {k.removeprefix(_EMA_PREFIX): v for k, v in ema.items() if k.startswith(_EMA_PREFIX)}

    def architecture_key(self, run: TrainingRun) -> str:
        cfg = run.model_config or {}
        return json.dumps(
            [self.name, cfg.get("model"), cfg.get("data_preprocessor")], sort_keys=True, default=repr
        )

    def architecture(self, run: TrainingRun, scratch: Path) -> tuple[bytes, torch.nn.Module]:
        _require()
        cfg = run.model_config or {}
        try:
            model = _build(cfg, "meta")
        except (RuntimeError, NotImplementedError):  # some backbones call .item() while building
            model = _build(cfg, "cpu")
        config = json.dumps(_jsonable(cfg), indent=2, sort_keys=False, default=str) + "\n"
        return config.encode("utf-8"), model

    def build_source_model(
        self, run: TrainingRun, device: torch.device, state: Mapping[str, torch.Tensor] | None = None
    ) -> torch.nn.Module:
        _require()
        model = _build(run.model_config or {}, device)
        if state is not None:
            model.load_state_dict(dict(state), strict=True)
        return model.eval()

    def weights_metadata(self, run: TrainingRun, loaded: Mapping[str, Any]) -> dict[str, str]:
        classes = _classes(loaded)
        return {"classes": json.dumps(classes)} if classes else {}

    def release_extras(
        self, run: TrainingRun, loaded: Mapping[str, Any], state: Mapping[str, Any]
    ) -> dict[str, bytes]:
        """``config.py`` (the dump) and ``model.pth``: ``meta`` (plain values only) + ``state_dict``, as
        MMPreTrain's ``publish_model.py`` leaves a checkpoint, loadable with ``weights_only=True``."""
        import torch

        meta = _plain(loaded.get("meta") or {})
        buffer = io.BytesIO()
        torch.save({"meta": meta if isinstance(meta, dict) else {}, "state_dict": dict(state)}, buffer)
        if run.args_file.is_relative_to(run.path):
            config = run.args_file.read_bytes()  # MMEngine's own dump of the resolved config
        else:  # a zoo release: the wheel's config has _base_ chains; publish it resolved, as MMEngine dumps
            config = _config(run.model_config or {}).pretty_text.encode("utf-8")
        return {CONFIG_PY: config, MODEL_PTH: buffer.getvalue()}

    # --- training dynamics ------------------------------------------------------------------------------
    def layer_groups(self, model: torch.nn.Module, *, fine: bool = False) -> Grouping:
        """Backbone stem, stages (the units ``frozen_stages`` freezes), rest of the backbone; neck; head.

        MMPreTrain has no finer grouping of its own: ``fine`` gives the same groups."""
        return mmpretrain_dynamics.layer_groups(model)

    def lock_settings(self, hyperparams: Hyperparams) -> tuple[str, ...]:
        return mmpretrain_dynamics.lock_settings(hyperparams)

    def lock_plan(self, model: torch.nn.Module, hyperparams: Hyperparams) -> LockPlan:
        """The config's ``model.backbone.frozen_stages``, applied by the backbone's own ``_freeze_stages``."""
        return mmpretrain_dynamics.lock_plan(model, hyperparams)

    def revision_model(self, snapshot: Path) -> torch.nn.Module:
        """The model of a downloaded revision's ``config.py`` (read, never executed) on the meta device."""
        _require()
        from hubkit.runs.mmconfig import read_config

        cfg = read_config(snapshot / CONFIG_PY)
        try:
            return _build(cfg, "meta")
        except (RuntimeError, NotImplementedError):  # some backbones call .item() while building
            return _build(cfg, "cpu")

    def record_hyperparams(self, recorded: Mapping[str, Any]) -> Hyperparams:
        """The resolved config ``hubkit.json`` records, read as a work_dir's config is."""
        from hubkit.runs.read_mmpretrain import hyperparams

        return hyperparams(dict(recorded))

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
        """``get_model(config, pretrained=model.pth)`` on the downloaded files, as a user loads them.

        The config is read with hubkit's AST reader (a downloaded ``config.py`` is never executed);
        MMPreTrain then builds the model and loads ``model.pth`` through MMEngine (``weights_only``).
        """
        _require()
        from mmengine.runner import load_checkpoint
        from mmpretrain.apis import get_model

        from hubkit.runs.mmconfig import read_config

        cfg = read_config(snapshot / CONFIG_PY)
        model = get_model(_config(cfg), pretrained=False)
        # what get_model(pretrained=path) does, with MMEngine's loader told to stay silent: its default
        # prints to stdout, which --json output owns
        checkpoint = load_checkpoint(model, str(snapshot / MODEL_PTH), map_location="cpu", logger="silent")
        meta = checkpoint.get("meta") or {}
        if isinstance(meta.get("dataset_meta"), dict):
            model.dataset_meta = meta["dataset_meta"]
        return model.to(device).eval(), _test_pipeline(cfg), None

    def eval_data_candidates(self, hyperparameters: Mapping[str, Any]) -> list[str]:
        dataset = ((hyperparameters.get("val_dataloader") or {}).get("dataset")) or {}
        root, prefix = dataset.get("data_root"), dataset.get("data_prefix")
        if isinstance(prefix, dict):
            prefix = prefix.get("img_path")
        if not root and not prefix:
            return []
        return [str(Path(str(root or "")) / str(prefix or ""))]

    def quick_eval(
        self,
        loaded: LoadedModel,
        data: EvalData,
        run: TrainingRun | None,
        record: Mapping[str, Any],
        options: VerifyOptions,
        device: torch.device,
    ) -> tuple[EvalOutcome, int]:
        """Top-1 / top-5 over an image folder through MMPreTrain's own test pipeline and ``val_step``."""
        from hubkit.verify.evaluate import EvalOutcome

        if data.kind != "image-folder":
            raise VerificationError(f"MMPreTrain quick-eval needs an image folder, got the file {data.path}")
        import torch
        from mmengine.dataset import pseudo_collate
        from mmpretrain.datasets import CustomDataset

        dataset = CustomDataset(data_root=str(data.path), data_prefix="", pipeline=loaded.transform)
        batch_size = options.batch_size or 64
        limit = options.limit or len(dataset)
        indices = list(range(min(limit, len(dataset))))
        correct1 = correct5 = 0
        loss_sum = 0.0
        first = None
        with torch.inference_mode():
            for start in range(0, len(indices), batch_size):
                batch = pseudo_collate([dataset[i] for i in indices[start : start + batch_size]])
                prepared = loaded.model.data_preprocessor(batch, False)
                if first is None:
                    first = prepared["inputs"]
                logits = loaded.model(prepared["inputs"], mode="tensor").float()
                target = (
                    torch.stack([s.gt_label for s in prepared["data_samples"]]).view(-1).to(logits.device)
                )
                k = min(5, logits.shape[1])
                top = logits.topk(k, dim=1).indices
                correct1 += int((top[:, 0] == target).sum())
                correct5 += int((top == target.view(-1, 1)).any(dim=1).sum())
                loss_sum += float(torch.nn.functional.cross_entropy(logits, target, reduction="sum"))
        count = len(indices)
        if count == 0:
            return EvalOutcome({}, 0, None), len(dataset)
        metrics = {
            "top1": 100.0 * correct1 / count,
            "top5": 100.0 * correct5 / count,
            "loss": loss_sum / count,
        }
        return EvalOutcome(metrics, count, first), len(dataset)

    def synthetic_batch(self, loaded: LoadedModel, device: torch.device, size: int) -> Any:
        import torch

        side = 224
        for step in loaded.transform or ():
            for key in ("crop_size", "scale"):
                value = step.get(key)
                if isinstance(value, int):
                    side = value
                elif isinstance(value, list | tuple) and value and isinstance(value[-1], int):
                    side = int(value[-1])
        generator = torch.Generator().manual_seed(0)
        return torch.randn((size, 3, side, side), generator=generator).to(device)

    # --- cards ------------------------------------------------------------------------------------------
    def usage_ref(self, repo_id: str, revision: str | None) -> str:
        return repo_id + (f"@{revision}" if revision else "")

    def load_line(self, repo_id: str, revision: str | None) -> str:
        pinned = "" if revision in (None, "main") else f', revision="{revision}"'
        return (
            f'get_model(hf_hub_download("{repo_id}", "{CONFIG_PY}"{pinned}), '
            f'pretrained=hf_hub_download("{repo_id}", "{MODEL_PTH}"{pinned}))'
        )

    def show_hyperparameter(self, field: str, hyperparams: Hyperparams) -> bool:
        if field == "frozen_stages":  # -1 is MMPreTrain's "nothing frozen" default: not worth a row
            return hyperparams.frozen_stages is not None and hyperparams.frozen_stages >= 0
        return super().show_hyperparameter(field, hyperparams)

    def metric_phrase(self, metrics: Mapping[str, float]) -> str | None:
        if "accuracy/top1" in metrics:
            return f"validation top-1 {metrics['accuracy/top1']:.2f} %"
        return None

    def image_size(self, run: TrainingRun) -> tuple[tuple[int, int] | None, Sourced | None]:
        from hubkit.cards.context import Sourced

        transform = run.eval_transform
        if transform is None or transform.input_size is None:
            return None, None
        size = (transform.input_size[1], transform.input_size[2])
        return size, Sourced(
            "Evaluation", "{} x {}".format(*size), "run", f"{run.args_file.name} test pipeline"
        )

    def dataset(self, run: TrainingRun, split: str = "val") -> tuple[str, str]:
        folder = run.val_data if split == "val" else run.train_data
        name = Path(folder).parent.name if folder else None
        return (f"{name} (image folder)" if name else "image folder"), "imagefolder"

    def data_phrase(self, run: TrainingRun) -> str:
        classes = f" of {run.num_classes} classes" if run.num_classes else ""
        kind = f"`{run.dataset}` " if run.dataset else ""
        return f"on a {kind}image folder{classes}"

    # --- tag cards --------------------------------------------------------------------------------------
    origin_title = "Original release (converted from)"
    registry_fields = (
        "collection", "flops", "params", "training_data", "batch_size", "epochs", "config", "weights",
        "converted_from", "converted_code", "paper_title", "paper_url", "paper_ids", "license", "origin_url",
        "top1", "top5", "results",
    )  # fmt: skip

    def registry_config(self, decoded: ModelTag) -> dict[str, Any]:
        """The installed zoo's metafile entry of the name (FLOPs, params, results, paper …)."""
        from hubkit.frameworks import mmpretrain_zoo

        return mmpretrain_zoo.registry_config(decoded)

    def decode_architecture(self, name: str) -> ModelTag | None:
        """A run's backbone (``resnet18``) read as the backbone part of an MMPreTrain name."""
        from hubkit.errors import TagError
        from hubkit.tags.mmpretrain_decoder import decode_mmpretrain

        try:
            decoded = decode_mmpretrain(name)
        except TagError:
            return None
        return None if decoded.unknown_tokens else decoded

    def tag_pipeline(self, decoded: ModelTag, registry: RegistryInfo | None) -> str:
        """Self-supervised pretraining configs and pretrained-only releases have no classifier."""
        fields = {(f.field, f.value) for f in decoded.details}
        pretrain_only = ("training", "pretrained only (no fine-tuning)") in fields
        if pretrain_only or any(f.field == "algorithm" for f in decoded.details):
            return "image-feature-extraction"
        return self.pipeline_tag

    def tag_registry(self, decoded: ModelTag) -> RegistryInfo | None:
        """License (per upstream release), paper and converted-from source from the installed metafile."""
        from hubkit.frameworks import mmpretrain_zoo

        return mmpretrain_zoo.tag_registry(decoded)

    def tag_stats(self, decoded: ModelTag) -> ModelStats | None:
        """Params and FLOPs as the metafile states them (MMPreTrain's counts), at the name's resolution."""
        from hubkit.frameworks import mmpretrain_zoo

        return mmpretrain_zoo.tag_stats(decoded)

    def tag_results(self, decoded: ModelTag) -> tuple[ResultRow, ...]:
        """The metafile's Results (Top-1 / Top-5 … per dataset) as model-index rows."""
        from hubkit.frameworks import mmpretrain_zoo

        return mmpretrain_zoo.tag_results(decoded)

    def tag_usage(self, decoded: ModelTag, registry: Any, repo_id: str | None, revision: str | None) -> Usage:
        from hubkit.cards.context import Usage

        return Usage(
            self.name,
            self.usage_ref(repo_id, revision) if repo_id else decoded.raw,
            repo_id=repo_id,
            revision=revision,
            has_classifier=True,
        )
