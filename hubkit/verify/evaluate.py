"""Quick-eval loops: timm classification and OpenCLIP zero-shot / retrieval, batched on one device.

Metrics are computed the way the training scripts computed the numbers they recorded, so the two can be
compared: timm ``train.py``'s ``validate`` (mean cross-entropy, top-1/top-5 in percent) and
open_clip_train's ``evaluate`` (per-batch symmetric contrastive loss weighted by batch size, and
``get_clip_metrics`` over all features, imported from open_clip_train itself). Counters stay on the
device during the loop; one synchronisation at the end turns them into numbers.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

# Prompt templates for zero-shot on an arbitrary image folder; "{}" is the class (folder) name.
# Source: the single-template baseline of the CLIP paper (Radford et al. 2021, section 3.1.4).
DEFAULT_ZERO_SHOT_TEMPLATES: tuple[str, ...] = ("a photo of a {}.",)


@dataclass(frozen=True)
class EvalOutcome:
    """Numbers from one quick-eval pass."""

    metrics: dict[str, float]  # {"top1": 97.5, "top5": 100.0, "loss": 0.08}
    num_samples: int  # 360
    first_batch: Any = field(
        default=None, repr=False, compare=False
    )  # inputs of batch 0, for the logits check


def _topk_correct(logits: torch.Tensor, target: torch.Tensor, ks: Sequence[int]) -> torch.Tensor:
    """Number of samples whose target is among the top-k predictions, one count per k."""
    import torch

    top = logits.topk(max(ks), dim=1).indices
    hits = top.eq(target.view(-1, 1))
    return torch.stack([hits[:, :k].any(dim=1).sum() for k in ks])


def evaluate_classifier(model: torch.nn.Module, loader: Iterable[Any], device: torch.device) -> EvalOutcome:
    """Top-1/top-5 accuracy (percent) and mean cross-entropy of a classifier over ``loader``.

    Args:
        model: a timm classifier already on ``device`` and in eval mode.
        loader: yields ``(images, targets)`` batches.
        device: where to run.

    Returns:
        ``EvalOutcome`` with ``top1``, ``top5`` (top-k with k = min(5, classes)), ``loss``.

    Example:
        >>> evaluate_classifier(model, loader, torch.device("cpu")).metrics["top1"]
        97.5
    """
    import torch
    import torch.nn.functional as F

    first = None
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    correct: torch.Tensor | None = None
    count = 0
    ks: list[int] = []
    with torch.inference_mode():
        for images, targets in loader:
            images = images.to(device, non_blocking=True)
            targets = targets.to(device, non_blocking=True)
            if first is None:
                first = images
            logits = model(images)
            if not ks:
                ks = sorted({1, min(5, logits.shape[1])})
                correct = torch.zeros(len(ks), dtype=torch.int64, device=device)
            loss_sum += F.cross_entropy(logits.float(), targets, reduction="sum").double()
            correct += _topk_correct(logits, targets, ks)  # type: ignore[operator]
            count += targets.shape[0]
    if count == 0 or correct is None:
        return EvalOutcome({}, 0, None)
    hits = (correct.double() * 100.0 / count).tolist()
    metrics = {"top1": hits[0], "top5": hits[-1], "loss": float(loss_sum.item() / count)}
    return EvalOutcome(metrics, count, first)


def evaluate_retrieval(model: torch.nn.Module, loader: Iterable[Any], device: torch.device) -> EvalOutcome:
    """Image↔text retrieval metrics and ``clip_val_loss`` as open_clip_train's ``evaluate`` computes them.

    The loss is averaged per batch (weighted by batch size), so it matches the recorded value only with
    the run's own batch size; recall metrics do not depend on batching.

    Example:
        >>> evaluate_retrieval(model, csv_loader, device).metrics["image_to_text_R@1"]  # points
        82.0
    """
    import torch
    import torch.nn.functional as F
    from open_clip_train.train import get_clip_metrics

    first = None
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    image_feats, text_feats = [], []
    count = 0
    logit_scale = None
    with torch.inference_mode():
        for images, texts in loader:
            images = images.to(device, non_blocking=True)
            texts = texts.to(device, non_blocking=True)
            if first is None:
                first = (images, texts)
            out = _clip_forward(model, images, texts)
            image_features, text_features = out["image_features"], out["text_features"]
            logit_scale = out["logit_scale"].mean()
            logits = logit_scale * image_features @ text_features.t()
            labels = torch.arange(images.shape[0], device=device)
            loss = (F.cross_entropy(logits, labels) + F.cross_entropy(logits.t(), labels)) / 2
            loss_sum += loss.double() * images.shape[0]
            image_feats.append(image_features)
            text_feats.append(text_features)
            count += images.shape[0]
    if count == 0 or logit_scale is None:
        return EvalOutcome({}, 0, None)
    metrics = get_clip_metrics(
        image_features=torch.cat(image_feats).cpu(),
        text_features=torch.cat(text_feats).cpu(),
        logit_scale=logit_scale.cpu(),
    )
    # Recalls in percent points like every other accuracy hubkit reports (open_clip_train: fractions).
    metrics = {name: float(value) * (100.0 if "_R@" in name else 1.0) for name, value in metrics.items()}
    metrics["clip_val_loss"] = float(loss_sum.item() / count)
    return EvalOutcome(metrics, count, first)


def evaluate_zero_shot(
    model: torch.nn.Module,
    tokenizer: Any,
    loader: Iterable[Any],
    classnames: Sequence[str],
    device: torch.device,
    templates: Sequence[str] = DEFAULT_ZERO_SHOT_TEMPLATES,
) -> EvalOutcome:
    """Zero-shot top-1/top-5 (percent) on a labelled image folder, with class-name prompts.

    The classifier weights come from open_clip's ``build_zero_shot_classifier``.

    Example:
        >>> evaluate_zero_shot(model, tokenizer, loader, ["0", "1"], device).metrics["zeroshot_top1"]
        64.0
    """
    import torch
    from open_clip import build_zero_shot_classifier

    with torch.inference_mode():
        classifier = build_zero_shot_classifier(
            model,
            tokenizer=tokenizer,
            classnames=list(classnames),
            templates=[t.format for t in templates],
            num_classes_per_batch=32,
            device=device,
            use_tqdm=False,
        )
    ks = sorted({1, min(5, len(classnames))})
    correct = torch.zeros(len(ks), dtype=torch.int64, device=device)
    count = 0
    first = None
    with torch.inference_mode():
        for images, targets in loader:
            images = images.to(device, non_blocking=True)
            targets = targets.to(device, non_blocking=True)
            if first is None:
                first = images
            features = model.encode_image(images, normalize=True)  # type: ignore[operator]
            correct += _topk_correct(features @ classifier, targets, ks)
            count += targets.shape[0]
    if count == 0:
        return EvalOutcome({}, 0, None)
    hits = (correct.double() * 100.0 / count).tolist()
    return EvalOutcome({"zeroshot_top1": hits[0], "zeroshot_top5": hits[-1]}, count, first)


def _clip_forward(model: torch.nn.Module, images: torch.Tensor, texts: torch.Tensor) -> dict[str, Any]:
    """Call an OpenCLIP model and return its outputs as a dict whatever its ``output_dict`` setting."""
    out = model(images, texts)
    if isinstance(out, dict):
        return out
    image_features, text_features, logit_scale = out[:3]
    return {"image_features": image_features, "text_features": text_features, "logit_scale": logit_scale}
