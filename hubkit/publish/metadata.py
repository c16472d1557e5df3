"""``hubkit.json``: the machine-readable record committed with every revision.

The record's shape and bytes are :class:`hubkit.layout.HubkitRecord`'s; this module gathers the facts.
It holds only facts that are the same on every re-run of the same command (no time stamps, no durations,
no absolute local paths of the source checkpoint), serialised with sorted keys, so that the committed bytes
compare equal between runs and hubkit can detect "nothing to do" by hash.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import metadata as importlib_metadata
from typing import Any

from hubkit import __version__
from hubkit.layout import DynamicsRecord, FileRecord, HubkitRecord, RunRecord, SourceRecord

# The distributions whose versions matter for loading the weights again, besides the framework's own
# (``hubkit.frameworks.Framework.distribution``).
LOADING_DISTRIBUTIONS: tuple[str, ...] = ("torch", "safetensors", "huggingface_hub")
# Metric columns that are bookkeeping, not results.
NON_METRIC_KEYS = frozenset({"epoch", "lr", "step"})


def framework_versions(framework: str) -> dict[str, str]:
    """Installed versions of the libraries a revision was produced with (read without importing them).

    Example:
        >>> sorted(framework_versions("timm"))
        ['huggingface_hub', 'safetensors', 'timm', 'torch']
    """
    from hubkit import frameworks

    own = frameworks.get(framework).distribution
    versions: dict[str, str] = {}
    for dist in (*LOADING_DISTRIBUTIONS, *((own,) if own else ())):
        try:
            versions[dist] = importlib_metadata.version(dist)
        except importlib_metadata.PackageNotFoundError:
            versions[dist] = "not installed"
    return versions


def split_metrics(values: Mapping[str, float]) -> tuple[dict[str, float], float | None, int | None]:
    """Split a metrics row into (results, lr, step); non-finite values are dropped.

    Example:
        >>> split_metrics({"eval_top1": 90.0, "lr": 0.1, "epoch": 3})
        ({'eval_top1': 90.0}, 0.1, None)
    """
    results = {k: float(v) for k, v in values.items() if k not in NON_METRIC_KEYS and _finite(v)}
    lr = values.get("lr")
    step = values.get("step")
    return (
        dict(sorted(results.items())),
        float(lr) if lr is not None and _finite(lr) else None,
        int(step) if step is not None and _finite(step) else None,
    )


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(frozen=True)
class RevisionFacts:
    """The facts about one published checkpoint that go into ``hubkit.json``."""

    revision: str  # "epoch-004"
    run_name: str  # "timm-digits"
    framework: str  # "timm" | "open_clip"
    architecture: str  # "test_resnet"
    epoch: int  # 4 (the framework's own numbering)
    epochs: int | None  # 10 (planned epochs of the run)
    epoch_base: int  # 0 for timm (first epoch is 0), 1 for OpenCLIP
    metrics: Mapping[str, float]  # {"eval_top1": 91.2, "eval_loss": 0.3}
    lr: float | None  # 0.00041
    step: int | None  # 1250, when the run records it
    weights: str  # "ema" | "raw"
    source_file: str  # "checkpoint-4.pth.tar" (file name only: local paths differ between machines)
    source_sha256: str  # hex digest of the source checkpoint
    source_size: int  # bytes of the source checkpoint
    files: Mapping[str, tuple[int, str]]  # {"model.safetensors": (size, sha256), "config.json": (...)}
    hyperparameters: Mapping[str, Any]  # the run's recorded arguments
    primary_metric: str  # "eval_top1"
    num_parameters: int | None = None  # 11_689_512
    dynamics: DynamicsRecord | None = None  # how the weights moved since the previous published revision


def hubkit_json(facts: RevisionFacts) -> bytes:
    """Serialise ``facts`` as the deterministic ``hubkit.json`` bytes (:class:`hubkit.layout.HubkitRecord`).

    Example:
        >>> json.loads(hubkit_json(facts))["epoch"]  # doctest: +SKIP
        4
    """
    return record_of(facts).to_json()


def record_of(facts: RevisionFacts) -> HubkitRecord:
    """The ``hubkit.json`` record of ``facts`` (library versions read from the installed distributions).

    Example:
        >>> record_of(facts).run.framework  # doctest: +SKIP
        'timm'
    """
    return HubkitRecord(
        revision=facts.revision,
        run=RunRecord(
            name=facts.run_name,
            framework=facts.framework,
            architecture=facts.architecture,
            epochs=facts.epochs,
            epoch_base=facts.epoch_base,
            primary_metric=facts.primary_metric,
        ),
        epoch=facts.epoch,
        weights=facts.weights,
        hubkit_version=__version__,
        source=SourceRecord(file=facts.source_file, sha256=facts.source_sha256, size=facts.source_size),
        files={path: FileRecord(size=size, sha256=sha) for path, (size, sha) in sorted(facts.files.items())},
        metrics=dict(facts.metrics),
        lr=facts.lr,
        step=facts.step,
        num_parameters=facts.num_parameters,
        hyperparameters=_jsonable(facts.hyperparameters),
        framework_versions=framework_versions(facts.framework),
        dynamics=facts.dynamics,
    )


def _jsonable(value: Any) -> Any:
    """Turn recorded arguments into plain JSON (paths and odd types become strings, NaN becomes None)."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, bool | int | str):
        return value
    return str(value)
