"""A third framework that exists only in the test suite: a 2-layer MLP on sklearn's 8x8 digits.

It has its own run-dir format and its own release files, and it reaches hubkit only through the documented
protocol (``docs/frameworks.md``): a :class:`hubkit.frameworks.Framework` subclass given to
``hubkit.frameworks.register()``. No hubkit module knows about it.

Run dir (written by :func:`train_toy_run`)::

    toyrun.json      {"name", "architecture": "toy_mlp", "hidden", "num_classes", "epochs", "lr", ...}
    metrics.jsonl    {"epoch": 1, "train_loss": .., "val_loss": .., "val_acc": ..}  (epochs count from 1)
    ckpt_1.pt ...    plain state dicts (torch.save(model.state_dict()))
    val.npz          the held-out digits the run evaluated on (x: float32 [N, 64], y: int64 [N])
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

import torch
from torch import nn

from hubkit.errors import CheckpointError, RunFileError
from hubkit.frameworks import Framework
from hubkit.runs import CheckpointInfo, EpochMetrics, EvalTransform, Hyperparams, TrainingRun

TEMPLATES = Path(__file__).parent / "toy_templates"
_CKPT_PREFIX, _CKPT_SUFFIX = "ckpt_", ".pt"


class ToyMLP(nn.Module):
    """Flattened 8x8 image -> hidden -> class logits."""

    def __init__(self, in_features: int = 64, hidden: int = 32, num_classes: int = 10) -> None:
        super().__init__()
        self.fc1 = nn.Linear(in_features, hidden)
        self.fc2 = nn.Linear(hidden, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(torch.relu(self.fc1(x.flatten(1))))


def _model_config(run: TrainingRun) -> dict[str, Any]:
    raw = run.hyperparams.raw
    return {
        "architecture": run.architecture,
        "in_features": 64,
        "hidden": raw["hidden"],
        "num_classes": run.num_classes,
    }


def _build(config: Mapping[str, Any]) -> ToyMLP:
    return ToyMLP(int(config["in_features"]), int(config["hidden"]), int(config["num_classes"]))


class ToyFramework(Framework):
    """The toy trainer below, as hubkit sees it."""

    name = "toy"
    display_name = "ToyTrainer"
    link = ("ToyTrainer (hubkit test suite)", "https://example.org/toy-trainer")
    distribution = ""  # nothing installed to record
    run_marker = "toyrun.json"
    run_layout = "toyrun.json, metrics.jsonl, ckpt_N.pt"
    epoch_base = 1
    weights_file = "toy_model.safetensors"
    config_file = "toy_config.json"
    supports_ema = False
    pipeline_tag = "image-classification"
    model_type = "Toy MLP classifier"
    usage_partial = "partials/usage_toy.md.j2"
    template_dir = TEMPLATES
    load_imports = "from toy_framework import load_toy"
    hyperparam_keys = MappingProxyType(
        {
            "optimizer": ("optimizer",),
            "lr": ("lr",),
            "epochs": ("epochs",),
            "batch_size": ("batch_size",),
            "seed": ("seed",),
        }
    )
    recorded_metrics = MappingProxyType({"top1": ("val_acc", 100.0, True), "loss": ("val_loss", 1.0, False)})
    result_metrics = MappingProxyType({"val_acc": ("accuracy", "Validation accuracy")})

    def metric_phrase(self, metrics: Mapping[str, float]) -> str | None:
        return f"validation accuracy {100 * metrics['val_acc']:.2f} %" if "val_acc" in metrics else None

    def read_run(self, path: Path, *, model_config: Path | None = None) -> TrainingRun:
        args = json.loads((path / self.run_marker).read_text())
        if args.get("architecture") != "toy_mlp":
            raise RunFileError(
                f"{path / self.run_marker} is not a toy run", hint="Train with train_toy_run()."
            )
        rows = [json.loads(line) for line in (path / "metrics.jsonl").read_text().splitlines() if line]
        epochs = tuple(
            EpochMetrics(int(r["epoch"]), {k: float(v) for k, v in r.items() if k != "epoch"}) for r in rows
        )
        by_epoch = {m.epoch: m for m in epochs}
        files = sorted(
            path.glob(f"{_CKPT_PREFIX}*{_CKPT_SUFFIX}"), key=lambda p: int(p.stem[len(_CKPT_PREFIX) :])
        )
        checkpoints = tuple(
            CheckpointInfo(
                epoch=(epoch := int(f.stem[len(_CKPT_PREFIX) :])),
                path=f,
                size=f.stat().st_size,
                metrics=by_epoch.get(epoch),
            )
            for f in files
        )
        hyper = Hyperparams(
            optimizer=args["optimizer"],
            lr=args["lr"],
            epochs=args["epochs"],
            batch_size=args["batch_size"],
            seed=args["seed"],
            raw=dict(args),
        )
        return TrainingRun(
            framework=self.name,
            path=path,
            name=args["name"],
            architecture=args["architecture"],
            num_classes=args["num_classes"],
            hyperparams=hyper,
            epochs=epochs,
            checkpoints=checkpoints,
            primary_metric="val_acc",
            higher_is_better=True,
            args_file=path / self.run_marker,
            metrics_file=path / "metrics.jsonl",
            train_data="sklearn digits",
            val_data=str(path / args["val_data"]),
            dataset="sklearn-digits",
            eval_transform_source=EvalTransform(input_size=(1, 8, 8), source="args"),
        )

    def checkpoint_weights(
        self, run: TrainingRun, checkpoint: CheckpointInfo, loaded: dict[str, Any], file: Path, weights: Any
    ) -> tuple[dict[str, Any], Any, int]:
        if weights == "ema":
            raise CheckpointError(f"{file}: the toy trainer keeps no EMA weights", hint="Use --weights raw.")
        if not loaded or not all(isinstance(v, torch.Tensor) for v in loaded.values()):
            raise CheckpointError(
                f"{file} is not a state dict", hint="The toy trainer saves model.state_dict()."
            )
        return dict(loaded), "raw", checkpoint.epoch  # the epoch is in the file name only

    def architecture_key(self, run: TrainingRun) -> str:
        return json.dumps([self.name, _model_config(run)], sort_keys=True)

    def architecture(self, run: TrainingRun, scratch: Path) -> tuple[bytes, torch.nn.Module]:
        config = _model_config(run)
        with torch.device("meta"):
            model = _build(config)
        return (json.dumps(config, indent=2, sort_keys=True) + "\n").encode(), model

    def build_source_model(
        self, run: TrainingRun, device: torch.device, state: Mapping[str, torch.Tensor] | None = None
    ) -> torch.nn.Module:
        model = _build(_model_config(run)).to(device)
        if state is not None:
            model.load_state_dict(state, strict=True)
        return model.eval()

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
        return load_toy(snapshot, device), None, None

    def eval_data_candidates(self, hyperparameters: Mapping[str, Any]) -> list[str]:
        return [str(hyperparameters["val_data"])] if hyperparameters.get("val_data") else []

    def quick_eval(
        self,
        loaded: Any,
        data: Any,
        run: TrainingRun | None,
        record: Mapping[str, Any],
        options: Any,
        device: torch.device,
    ) -> tuple[Any, int]:
        import numpy as np

        from hubkit.verify.evaluate import evaluate_classifier

        arrays = np.load(data.path)
        dataset = torch.utils.data.TensorDataset(torch.from_numpy(arrays["x"]), torch.from_numpy(arrays["y"]))
        loader = torch.utils.data.DataLoader(dataset, batch_size=options.batch_size or 128)
        return evaluate_classifier(loaded.model, loader, device), len(dataset)

    def synthetic_batch(self, loaded: Any, device: torch.device, size: int) -> Any:
        return torch.randn((size, 64), generator=torch.Generator().manual_seed(0)).to(device)

    def load_line(self, repo_id: str, revision: str | None) -> str:
        pinned = "" if revision in (None, "main") else f', revision="{revision}"'
        return f'load_toy(huggingface_hub.snapshot_download("{repo_id}"{pinned}))'


def load_toy(snapshot: str | Path, device: str | torch.device = "cpu") -> ToyMLP:
    """Load a published toy revision from its downloaded folder (what a user of the toy trainer would do)."""
    from safetensors.torch import load_file

    folder = Path(snapshot)
    model = _build(json.loads((folder / ToyFramework.config_file).read_text()))
    model.load_state_dict(load_file(str(folder / ToyFramework.weights_file)), strict=True)
    return model.to(device).eval()


def train_toy_run(out: Path, *, epochs: int = 3, hidden: int = 32, seed: int = 0) -> Path:
    """Train the MLP on sklearn's digits for ``epochs`` epochs, writing the toy run-dir format into ``out``."""
    import numpy as np
    from sklearn.datasets import load_digits

    out.mkdir(parents=True, exist_ok=True)
    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)
    y = digits.target.astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(x))
    val, train = order[:360], order[360:]
    np.savez(out / "val.npz", x=x[val], y=y[val])
    args: dict[str, Any] = {
        "name": out.name,
        "architecture": "toy_mlp",
        "hidden": hidden,
        "num_classes": 10,
        "epochs": epochs,
        "lr": 0.1,
        "batch_size": 64,
        "seed": seed,
        "optimizer": "sgd",
        "val_data": "val.npz",
    }
    (out / "toyrun.json").write_text(json.dumps(args, indent=2))
    torch.manual_seed(seed)
    model = ToyMLP(64, hidden, 10)
    optimizer = torch.optim.SGD(model.parameters(), lr=args["lr"], momentum=0.9)
    xt, yt = torch.from_numpy(x[train]), torch.from_numpy(y[train])
    xv, yv = torch.from_numpy(x[val]), torch.from_numpy(y[val])
    with (out / "metrics.jsonl").open("w") as log:
        for epoch in range(1, epochs + 1):
            model.train()
            losses = []
            for start in range(0, len(xt), args["batch_size"]):
                batch = slice(start, start + args["batch_size"])
                loss = nn.functional.cross_entropy(model(xt[batch]), yt[batch])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                losses.append(loss.item())
            model.eval()
            with torch.no_grad():
                logits = model(xv)
            row = {
                "epoch": epoch,
                "train_loss": sum(losses) / len(losses),
                "val_loss": float(nn.functional.cross_entropy(logits, yv)),
                "val_acc": float((logits.argmax(1) == yv).float().mean()),
            }
            log.write(json.dumps(row) + "\n")
            torch.save(model.state_dict(), out / f"{_CKPT_PREFIX}{epoch}{_CKPT_SUFFIX}")
    return out
