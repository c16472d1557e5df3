"""The integrity step of a verification, when the source run is at hand (see :mod:`.integrity`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hubkit import frameworks
from hubkit.errors import HubkitError
from hubkit.verify.integrity import compare_state_dicts, loaded_state, logits_max_abs_diff
from hubkit.verify.result import IntegrityReport
from hubkit.verify.sources import build_source_model

if TYPE_CHECKING:
    import torch

    from hubkit.runs import TrainingRun
    from hubkit.verify.loader import LoadedModel
    from hubkit.verify.options import VerifyOptions

SYNTHETIC_BATCH = 4  # images in the fixed batch when no evaluation batch is available
LOGITS_BATCH = 4  # eval samples compared by two extra forwards (another network shows on one)


def check_integrity(
    loaded: LoadedModel,
    run: TrainingRun,
    record: dict[str, Any],
    weights: str,
    first_batch: Any,
    device: torch.device,
    options: VerifyOptions,
) -> tuple[IntegrityReport | None, list[str]]:
    """Compare the revision with its source checkpoint; return the report and the failure reasons.

    Example:
        >>> report, failures = check_integrity(loaded, run, record, "ema", batch, device, options)
        >>> report.tensors_compared, failures
        (62, [])
    """
    import torch
    from safetensors.torch import load_file

    from hubkit.runs import load_checkpoint

    epoch = record.get("epoch")
    if not isinstance(epoch, int):
        return None, ["hubkit.json names no epoch, so its source checkpoint in --run cannot be found"]
    info = run.checkpoint(epoch)
    if info is None:
        return None, [f"the run {run.name} has no checkpoint of epoch {epoch} to compare with"]
    failures: list[str] = []
    notes: list[str] = []
    framework = frameworks.get(run.framework)
    if framework.ema_metrics_note and run.hyperparams.ema:
        notes.append(framework.ema_metrics_note)
        if weights == "raw":
            failures.append(
                f"the revision holds the raw weights of epoch {epoch}, but the run recorded the metrics of its "
                f"EMA weights ({framework.name} {framework.ema_flag}): publish the EMA weights"
            )
    try:
        source = framework.source_state_dict(load_checkpoint(info.path), weights)
    except (HubkitError, KeyError) as exc:
        return None, [*failures, f"cannot read the {weights} weights of {info.path.name}: {exc}"]
    label = f"source checkpoint {info.path.name} ({weights})"
    published = load_file(str(loaded.weights_path), device=str(device))
    compared, mismatches = compare_state_dicts(published, source, label=label)
    _, loaded_mismatches = compare_state_dicts(loaded_state(loaded.model), published, label="published file")
    if mismatches:
        failures.append(f"{loaded.weights_file} differs from the {label}: {'; '.join(mismatches[:3])}")
    if loaded_mismatches:
        failures.append(
            f"the model {loaded.library} loaded differs from {loaded.weights_file}: {'; '.join(loaded_mismatches[:3])}"
        )

    diff = None
    try:
        source_model = build_source_model(run, device, state=source)
        batch = _head(first_batch) if first_batch is not None else _synthetic_batch(loaded, device)
        with torch.inference_mode():
            diff = logits_max_abs_diff(_forward(loaded.model, batch), _forward(source_model, batch))
        del source_model
    except Exception as exc:  # building/running the source model is part of the check
        failures.append(f"could not compare logits with a model built from the run's arguments: {exc}")
    if diff is not None and not diff <= options.logits_tolerance:
        failures.append(
            f"outputs on a fixed batch differ from the source model's by {diff:.3g} "
            f"(> {options.logits_tolerance:g}): the published config builds a different network"
        )
    report = IntegrityReport(
        weights=weights,
        source=info.path.name,
        tensors_compared=compared,
        mismatches=mismatches,
        loaded_mismatches=loaded_mismatches,
        logits_max_abs_diff=diff,
        logits_tolerance=options.logits_tolerance,
        notes=tuple(notes),
    )
    return report, failures


def _head(batch: Any) -> Any:
    """The first LOGITS_BATCH samples of a batch (a tensor, or a tuple of tensors for OpenCLIP)."""
    if isinstance(batch, tuple):
        return tuple(part[:LOGITS_BATCH] for part in batch)
    return batch[:LOGITS_BATCH]


def _forward(model: torch.nn.Module, batch: Any) -> Any:
    if isinstance(batch, tuple):
        return model(*batch)
    return model(batch)


def _synthetic_batch(loaded: LoadedModel, device: torch.device) -> Any:
    """A seeded random batch of the model's input size (used only when nothing was evaluated)."""
    return frameworks.get(loaded.library).synthetic_batch(loaded, device, SYNTHETIC_BATCH)
