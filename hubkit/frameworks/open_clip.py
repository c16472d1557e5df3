"""OpenCLIP: ``open_clip_train`` log folders, ``open_clip_model.safetensors`` + ``open_clip_config.json``.

Sources: open_clip_train ``params.py`` / ``main.py`` (arguments, ``results.jsonl``, checkpoints),
``open_clip/factory.py`` and ``push_to_hf_hub.py`` (the release layout), https://github.com/mlfoundations/open_clip.
The run dir reader is :mod:`hubkit.runs.read_openclip`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path, PurePath
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from hubkit.errors import CheckpointError, TagError
from hubkit.frameworks.base import Framework, quiet_root_warnings

if TYPE_CHECKING:
    import torch

    from hubkit.cards.context import ModelStats, Sourced, Usage
    from hubkit.cards.registry import RegistryInfo
    from hubkit.dynamics.locks import LockPlan
    from hubkit.dynamics.model import Grouping
    from hubkit.runs.model import Hyperparams, TrainingRun
    from hubkit.tags.model import ModelTag
    from hubkit.verify.datasets import EvalData
    from hubkit.verify.evaluate import EvalOutcome
    from hubkit.verify.loaded import LoadedModel
    from hubkit.verify.options import VerifyOptions

# Card rows whose run arguments are not in the reader's HPARAM_KEYS table (source: open_clip_train params.py).
_EXTRA_KEYS: dict[str, tuple[str, ...]] = {
    "momentum": ("beta1",),
    "locked_towers": ("lock_image", "lock_text"),
    "unlocked_groups": ("lock_image_unlocked_groups", "lock_text_unlocked_layers"),
}
_DATASET_KINDS = {"csv": "CSV image-text pairs", "webdataset": "webdataset image-text pairs"}
_DATA_PHRASES = {"csv": "image-text pairs from a CSV file", "webdataset": "webdataset image-text shards"}


def _hyperparam_keys() -> dict[str, tuple[str, ...]]:
    from hubkit.runs.read_openclip import HPARAM_KEYS

    return {**{name: (key,) for name, key in HPARAM_KEYS.items()}, **_EXTRA_KEYS}


def release_config(run: TrainingRun) -> bytes:
    """``open_clip_config.json``: ``model_cfg`` + ``preprocess_cfg``, the layout of open_clip's ``push_to_hf_hub``."""
    t = run.eval_transform
    raw = run.hyperparams.raw
    preprocess: dict[str, Any] = {
        "mean": list(t.mean) if t and t.mean else None,
        "std": list(t.std) if t and t.std else None,
    }
    vision = (run.model_config or {}).get("vision_cfg", {})
    interpolation = raw.get("image_interpolation") or vision.get("image_interpolation")
    resize_mode = raw.get("image_resize_mode") or vision.get("image_resize_mode")
    if interpolation:
        preprocess["interpolation"] = interpolation
    if resize_mode:
        preprocess["resize_mode"] = resize_mode
    config = {"model_cfg": run.model_config, "preprocess_cfg": preprocess}
    return (json.dumps(config, indent=2) + "\n").encode("utf-8")


class OpenClipFramework(Framework):
    """OpenCLIP: contrastive image-text models trained with ``open_clip_train``."""

    name = "open_clip"
    display_name = "OpenCLIP"
    link = ("OpenCLIP", "https://github.com/mlfoundations/open_clip")
    distribution = "open_clip_torch"
    tag_form = "openclip"
    run_marker = "params.txt"
    run_layout = "params.txt, out.log, checkpoints/epoch_N.pt and checkpoints/results.jsonl"
    epoch_base = 1
    weights_file = "open_clip_model.safetensors"
    config_file = "open_clip_config.json"
    supports_ema = False
    pipeline_tag = "zero-shot-image-classification"
    model_type = "Contrastive image-text model"
    has_classifier = False
    usage_partial = "partials/usage_open_clip.md.j2"
    load_imports = "import open_clip, huggingface_hub"
    origin_title = "OpenCLIP"
    hyperparam_keys = _hyperparam_keys()
    # Source: open_clip_train's evaluate() writes recalls as fractions and clip_val_loss (results.jsonl).
    # Losses are reported next to their recorded value but not checked: the tolerance is in points.
    recorded_metrics = MappingProxyType(
        {
            "image_to_text_R@1": ("image_to_text_R@1", 100.0, True),
            "image_to_text_R@5": ("image_to_text_R@5", 100.0, True),
            "image_to_text_R@10": ("image_to_text_R@10", 100.0, False),
            "text_to_image_R@1": ("text_to_image_R@1", 100.0, True),
            "text_to_image_R@5": ("text_to_image_R@5", 100.0, True),
            "text_to_image_R@10": ("text_to_image_R@10", 100.0, False),
            "clip_val_loss": ("clip_val_loss", 1.0, False),
            "zeroshot_top1": ("imagenet-zeroshot-val-top1", 100.0, False),
        }
    )

    # Source: open_clip_train's results.jsonl keys. Its zero-shot metric is measured on ImageNet's validation
    # set (open_clip_train --imagenet-val), not on the run's own validation data.
    result_metrics = MappingProxyType(
        {
            "imagenet-zeroshot-val-top1": ("accuracy", "Zero-shot top-1 accuracy"),
            "image_to_text_R@1": ("recall", "Image-to-text R@1"),
            "text_to_image_R@1": ("recall", "Text-to-image R@1"),
        }
    )
    result_datasets = MappingProxyType(
        {"imagenet-zeroshot-val-top1": ("ImageNet-1k (validation)", "imagenet-1k")}
    )

    # --- run dir ----------------------------------------------------------------------------------------
    def read_run(self, path: Path, *, model_config: Path | None = None) -> TrainingRun:
        from hubkit.runs.read_openclip import read_openclip_run

        return read_openclip_run(path, model_config=model_config)

    # --- release ----------------------------------------------------------------------------------------
    def architecture_key(self, run: TrainingRun) -> str:
        if run.model_config is None:
            raise CheckpointError(
                f"{run.path} has no OpenCLIP model config", hint="Pass --model-config FILE."
            )
        return json.dumps([self.name, run.architecture, release_config(run).decode("utf-8")])

    def architecture(self, run: TrainingRun, scratch: Path) -> tuple[bytes, torch.nn.Module]:
        import open_clip
        import torch

        config = release_config(run)
        (scratch / self.config_file).write_bytes(config)
        # open_clip warns that the folder has no weights yet: true, and expected, for a shapes-only model.
        with quiet_root_warnings(), torch.device("meta"):
            model = open_clip.create_model(
                f"local-dir:{scratch}",
                load_weights=False,
                pretrained_text=False,
                pretrained_image=False,
                device="meta",
            )
        return config, model

    def layer_groups(self, model: torch.nn.Module, *, fine: bool = False) -> Grouping:
        """The groups open_clip's ``lock()`` code unlocks one by one, for both towers.

        Read from the installed open_clip: ``VisionTransformer.lock`` (embeddings + ``ln_pre``, each block,
        last block + ``ln_post``, ``proj``), ``lock_text_tower`` (embeddings, each block, last block +
        ``ln_final``, projection), ``TimmModel.lock`` (the trunk's fine ``group_matcher`` groups; the head
        stays trainable), ``ModifiedResNet`` (stem convolutions, stages, attention pool).
        """
        from hubkit.dynamics.groups import groups_from_plan

        return groups_from_plan(model, [*_visual_plan(model), *_text_plan(model)], "open_clip lock() groups")

    def lock_settings(self, hyperparams: Hyperparams) -> tuple[str, ...]:
        from hubkit.dynamics.locks import truthy

        settings: list[str] = []
        for tower in hyperparams.locked_towers:
            unlocked = hyperparams.unlocked_groups.get(tower, 0)
            if tower == "image":
                settings += ["--lock-image"] + (
                    [f"--lock-image-unlocked-groups {unlocked}"] if unlocked else []
                )
                bn = truthy(hyperparams.raw.get("lock_image_freeze_bn_stats"))
                settings += ["--lock-image-freeze-bn-stats"] if bn else []
            else:
                settings += ["--lock-text"] + (
                    [f"--lock-text-unlocked-layers {unlocked}"] if unlocked else []
                )
        return tuple(settings)

    def lock_plan(self, model: torch.nn.Module, hyperparams: Hyperparams) -> LockPlan:
        """What ``--lock-image*`` / ``--lock-text*`` froze: open_clip's own lock calls, run on a copy."""
        import copy

        from hubkit.dynamics.locks import LockPlan, parameter_names, truthy

        raw = hyperparams.raw
        frozen: dict[str, str] = {}
        bn: set[str] = set()
        settings: list[str] = []
        for tower in hyperparams.locked_towers:
            locked: Any = copy.deepcopy(model)
            names = parameter_names(locked)
            unlocked = hyperparams.unlocked_groups.get(tower, 0)
            if tower == "image":
                freeze_bn = truthy(raw.get("lock_image_freeze_bn_stats"))
                # freeze_bn_stats swaps BatchNorm modules; only requires_grad is read here
                locked.lock_image_tower(unlocked_groups=unlocked, freeze_bn_stats=False)
                parts = ["--lock-image"] + ([f"--lock-image-unlocked-groups {unlocked}"] if unlocked else [])
                parts += ["--lock-image-freeze-bn-stats"] if freeze_bn else []
            else:
                freeze_bn = True  # text towers hold no BatchNorm
                locked.lock_text_tower(unlocked_layers=unlocked, freeze_layer_norm=True)
                parts = ["--lock-text"] + ([f"--lock-text-unlocked-layers {unlocked}"] if unlocked else [])
            settings.extend(parts)
            reason = " ".join(parts)
            for param in locked.parameters():
                name = names.get(id(param))
                if not param.requires_grad and name is not None and name not in frozen:
                    frozen[name] = reason
                    if freeze_bn:
                        bn.add(name)
        return LockPlan(frozen, frozenset(bn), tuple(settings))

    def revision_model(self, snapshot: Path) -> torch.nn.Module:
        import open_clip
        import torch

        with quiet_root_warnings(), torch.device("meta"):
            return open_clip.create_model(
                f"local-dir:{snapshot}",
                load_weights=False,
                pretrained_text=False,
                pretrained_image=False,
                device="meta",
            )

    def record_hyperparams(self, recorded: Mapping[str, Any]) -> Hyperparams:
        from hubkit.runs.read_openclip import parse_hyperparams

        return parse_hyperparams({"model": "", **recorded})

    def build_source_model(
        self, run: TrainingRun, device: torch.device, state: Mapping[str, torch.Tensor] | None = None
    ) -> torch.nn.Module:
        import tempfile

        import open_clip

        raw = run.hyperparams.raw
        force = {
            "force_quick_gelu": bool(raw.get("force_quick_gelu")),
            "force_custom_text": bool(raw.get("force_custom_text")),
        }
        with quiet_root_warnings():
            if run.model_config:
                with tempfile.TemporaryDirectory(prefix="hubkit-source-model-") as tmp:
                    Path(tmp, self.config_file).write_text(json.dumps({"model_cfg": run.model_config}))
                    model = open_clip.create_model(
                        f"local-dir:{tmp}", load_weights=False, device=device, **force
                    )
            else:
                model = open_clip.create_model(run.architecture, device=device, **force)
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
        """From the downloaded snapshot (``local-dir:``): open_clip's ``hf-hub:`` loader has no revision
        argument; the weights go straight to the device with ``open_clip.load_checkpoint(device=...)``."""
        import open_clip

        name = f"local-dir:{snapshot}"
        # open_clip warns "initialized randomly" because the weights are loaded on the next line; hide that.
        with quiet_root_warnings():
            model, _, transform = open_clip.create_model_and_transforms(
                name, load_weights=False, device=device
            )
        open_clip.load_checkpoint(model, str(snapshot / self.weights_file), strict=True, device=str(device))
        return model, transform, open_clip.get_tokenizer(name)

    def eval_data_candidates(self, hyperparameters: Mapping[str, Any]) -> list[str]:
        return [str(hyperparameters["val_data"])] if hyperparameters.get("val_data") else []

    def quick_eval(
        self,
        loaded: LoadedModel,
        data: EvalData,
        run: TrainingRun | None,
        record: Mapping[str, Any],
        options: VerifyOptions,
        device: torch.device,
    ) -> tuple[EvalOutcome, int]:
        """Zero-shot top-1 on an image folder, or retrieval recall and ``clip_val_loss`` on a caption CSV."""
        from hubkit.verify import datasets, evaluate
        from hubkit.verify.options import DEFAULT_BATCH_SIZE
        from hubkit.verify.verifier import run_arg

        batch_size = options.batch_size or DEFAULT_BATCH_SIZE
        if data.kind == "image-folder":
            dataset = datasets.image_folder_dataset(data.path, loaded.transform)
            loader = datasets.make_loader(
                dataset, batch_size=batch_size, workers=options.workers, device=device, limit=options.limit
            )
            names = list(options.class_names or datasets.class_names(dataset))
            outcome = evaluate.evaluate_zero_shot(
                loaded.model, loaded.tokenizer, loader, names, device, options.zero_shot_templates
            )
            return outcome, len(dataset)  # type: ignore[arg-type]
        # clip_val_loss is averaged per batch: use the run's batch size so that it is comparable.
        run_batch = run_arg(run, record, "batch_size")
        if options.batch_size is None and isinstance(run_batch, int) and run_batch > 0:
            batch_size = run_batch
        csv_dataset = datasets.CaptionCsvDataset(data, loaded.transform, loaded.tokenizer)
        loader = datasets.make_loader(
            csv_dataset,  # type: ignore[arg-type]
            batch_size=batch_size,
            workers=options.workers,
            device=device,
            limit=options.limit,
        )
        return evaluate.evaluate_retrieval(loaded.model, loader, device), len(csv_dataset)

    def synthetic_batch(self, loaded: LoadedModel, device: torch.device, size: int) -> Any:
        import torch

        generator = torch.Generator().manual_seed(0)
        image_size = loaded.model.visual.image_size
        hw = image_size if isinstance(image_size, tuple) else (image_size, image_size)
        images = torch.randn((size, 3, *hw), generator=generator).to(device)
        texts = loaded.tokenizer([f"sample {i}" for i in range(size)]).to(device)
        return images, texts

    # --- cards ------------------------------------------------------------------------------------------
    def usage_ref(self, repo_id: str, revision: str | None) -> str:
        return f"hf-hub:{repo_id}"  # open_clip's hf-hub: schema cannot pin a revision

    def load_line(self, repo_id: str, revision: str | None) -> str:
        if revision in (None, "main"):
            return f'open_clip.create_model_and_transforms("hf-hub:{repo_id}")'
        # OpenCLIP's hf-hub: schema cannot pin a revision; a downloaded snapshot can.
        return (
            f'open_clip.create_model_and_transforms("local-dir:" + '
            f'huggingface_hub.snapshot_download("{repo_id}", revision="{revision}"))'
        )

    def metric_phrase(self, metrics: Mapping[str, float]) -> str | None:
        if "imagenet-zeroshot-val-top1" in metrics:  # open_clip logs fractions
            return f"zero-shot ImageNet top-1 {100 * metrics['imagenet-zeroshot-val-top1']:.2f} %"
        if "clip_val_loss" in metrics:
            return f"validation loss {metrics['clip_val_loss']:.3f}"
        return None

    def image_size(self, run: TrainingRun) -> tuple[tuple[int, int] | None, Sourced | None]:
        import os

        from hubkit.cards.context import Sourced
        from hubkit.cards.runfacts import local_value, size_of

        raw = run.hyperparams.raw
        forced = size_of(raw.get("force_image_size"))
        if forced:
            return forced, Sourced(
                "Train and evaluation",
                "{} x {}".format(*forced),
                "run",
                f"{run.args_file.name} `force_image_size`",
            )
        size = size_of(((run.model_config or {}).get("vision_cfg") or {}).get("image_size"))
        if size is None:
            return None, None
        text = "{} x {}".format(*size)
        if run.model_config_path is not None:
            path = run.model_config_path
            outside = str(local_value(os.path.abspath(path), run.path)).endswith("(local path)")
            source = f"{path.name} `vision_cfg.image_size`" + (
                " (given with --model-config)" if outside else ""
            )
            return size, Sourced("Train and evaluation", text, "run", source)
        return size, Sourced("Train and evaluation", text, "registry", f"open_clip:{run.architecture} config")

    def run_stats(self, run: TrainingRun) -> ModelStats | None:
        from hubkit.cards import stats as counting

        return counting.openclip_stats(run.architecture, run.model_config)

    def dataset(self, run: TrainingRun, split: str = "val") -> tuple[str, str]:
        """The CSV / shard file of that split and its ``--dataset-type``, never a local path."""
        from hubkit.cards.runfacts import last_part

        kind = str(run.dataset or "").strip() or "data"
        val = last_part(run.val_data if split == "val" else run.train_data, run)
        label = _DATASET_KINDS.get(kind, kind)
        return (f"{PurePath(val).name} ({label})" if val else label), kind

    def data_phrase(self, run: TrainingRun) -> str:
        from hubkit.cards.runfacts import last_part

        folder = last_part(run.train_data, run)
        kind = _DATA_PHRASES.get(str(run.dataset or ""), "image-text pairs")
        return f"on {kind}" + (f" (`{folder}`)" if folder else "")

    # --- tag cards --------------------------------------------------------------------------------------
    registry_fields = ("hf_hub", "url", "mean", "std", "interpolation", "resize_mode", "quick_gelu")

    def registry_config(self, decoded: ModelTag) -> dict[str, Any]:
        import open_clip  # heavy: imports torch

        arch, pretrained = decoded.architecture.name, decoded.pretrained
        cfg = open_clip.get_pretrained_cfg(arch, pretrained) if pretrained else {}
        if not cfg:
            raise TagError(
                f"the installed OpenCLIP registry has no pretrained weights {decoded.raw!r}",
                hint="check the pair with open_clip.list_pretrained(), or decode without --enrich",
            )
        return dict(cfg)

    def tag_title(self, decoded: ModelTag) -> str:
        return f"{decoded.architecture.name}/{decoded.pretrained}".rstrip("/")

    def tag_registry(self, decoded: ModelTag) -> RegistryInfo | None:
        from hubkit.cards.registry import openclip_registry

        return openclip_registry(decoded.architecture.name, decoded.pretrained)

    def tag_pipeline(self, decoded: ModelTag, registry: RegistryInfo | None) -> str:
        return self.pipeline_tag

    def tag_usage(
        self, decoded: ModelTag, registry: RegistryInfo | None, repo_id: str | None, revision: str | None
    ) -> Usage:
        from hubkit.cards.context import Usage

        return Usage(
            self.name,
            f"hf-hub:{repo_id}" if repo_id else decoded.architecture.name,
            pretrained=None if repo_id else decoded.pretrained or None,
            repo_id=repo_id,
            revision=revision,
            has_classifier=False,
            input_size=registry.input_size if registry else None,
        )

    def tag_stats(self, decoded: ModelTag) -> ModelStats | None:
        from hubkit.cards import stats

        return stats.openclip_stats(decoded.architecture.name)


def _visual_plan(model: Any) -> list[Any]:
    """The image tower's groups, in the order its ``lock()`` unlocks them from the end."""
    from hubkit.dynamics.groups import block_groups, state_keys
    from hubkit.frameworks.timm import matcher_groups

    visual = model.visual
    if hasattr(visual, "trunk"):  # TimmModel: lock() groups the trunk with its fine group_matcher
        keys, params = state_keys(model)
        trunk = [k for k in keys if k.startswith("visual.trunk.")]
        matcher = visual.trunk.group_matcher()
        groups = matcher_groups(trunk, params, matcher, prefix="visual.trunk.", tower="image")
        return [*groups, ("visual.head", "image", [getattr(visual, "head", None)])]
    blocks = getattr(getattr(visual, "transformer", None), "resblocks", None)
    if blocks is not None and hasattr(visual, "conv1"):  # VisionTransformer
        head = [visual.conv1, visual.class_embedding, visual.positional_embedding, visual.ln_pre]
        return block_groups("image", "visual", head, list(blocks), [visual.ln_post], [visual.proj])
    if hasattr(visual, "attnpool"):  # ModifiedResNet: stem convolutions, layer1-4, attention pool
        stem = [getattr(visual, n, None) for n in ("conv1", "bn1", "conv2", "bn2", "conv3", "bn3")]
        stages = [
            (f"visual.{n}", "image", [getattr(visual, n)]) for n in ("layer1", "layer2", "layer3", "layer4")
        ]
        return [("visual.stem", "image", stem), *stages, ("visual.attnpool", "image", [visual.attnpool])]
    return [(f"visual.{name}", "image", [child]) for name, child in visual.named_children()]


def _text_plan(model: Any) -> list[Any]:
    """The text tower's groups, as open_clip's ``lock_text_tower`` collects them."""
    from hubkit.dynamics.groups import block_groups

    text = model.text if hasattr(model, "text") else model
    blocks = getattr(getattr(text, "transformer", None), "resblocks", None)
    if blocks is None:
        return [("text", "text", [text])] if hasattr(model, "text") else []
    head = [getattr(text, n, None) for n in ("token_embedding", "positional_embedding", "cls_emb")]
    tail = [getattr(text, "ln_final", None)]
    return block_groups("text", "text", head, list(blocks), tail, [getattr(text, "text_projection", None)])
