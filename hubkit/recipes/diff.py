"""Compare the hyperparameters a run recorded with a reference recipe.

The run's own record (``args.yaml`` / ``params.txt``, kept in ``Hyperparams.raw``) is looked up under the
recipe's argument names first; names the run records differently are found through the common
:class:`~hubkit.runs.Hyperparams` fields (table below). Only arguments the reference gives a value for are
compared; what the reference leaves unknown is listed as such, never as a difference.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from hubkit.recipes.model import Recipe, Sourced
from hubkit.runs.model import Hyperparams

# trainer argument -> Hyperparams field, for runs whose raw record uses other names
COMMON_FIELDS: dict[str, str] = {
    "opt": "optimizer",
    "lr": "lr",
    "sched": "schedule",
    "warmup_epochs": "warmup_epochs",
    "warmup": "warmup_steps",
    "epochs": "epochs",
    "batch_size": "batch_size",
    "grad_accum_steps": "grad_accum_steps",
    "weight_decay": "weight_decay",
    "wd": "weight_decay",
    "clip_grad": "grad_clip",
    "smoothing": "label_smoothing",
    "mixup": "mixup",
    "cutmix": "cutmix",
    "aa": "augmentation",
    "reprob": "random_erasing",
    "drop": "drop_rate",
    "drop_path": "drop_path_rate",
    "model_ema": "ema",
    "model_ema_decay": "ema_decay",
}


@dataclass(frozen=True)
class Difference:
    """One argument where the run and the reference disagree (or the run did not record it)."""

    name: str  # "lr"
    run: Any  # 0.001; None when the run did not record it
    reference: Any  # 0.005
    source: str  # "rsb-t1" (where the reference value comes from)
    note: str = ""  # "LR 5e-3 at batch 2048"
    scope: str = ""  # "global" when the reference is a global batch (a run records its per-process batch)

    @property
    def reference_text(self) -> str:
        """The reference value as a table shows it.

        Example:
            >>> Difference("batch_size", 256, 2048, "rsb-t1", scope="global").reference_text
            '2048 (global)'
        """
        return f"{self.reference} ({self.scope})" if self.scope else str(self.reference)


def _run_value(hyperparams: Hyperparams, name: str) -> tuple[bool, Any]:
    if name in hyperparams.raw:
        return True, hyperparams.raw[name]
    field = COMMON_FIELDS.get(name)
    if field is not None:
        value = getattr(hyperparams, field)
        return value is not None, value
    return False, None


def _same(run: Any, reference: Any) -> bool:
    if isinstance(reference, bool) or isinstance(run, bool):
        return bool(run) == bool(reference)
    if reference is None or run is None:
        return reference in (None, 0, 0.0, "") and run in (None, 0, 0.0, "")
    if isinstance(reference, int | float) and isinstance(run, int | float):
        return math.isclose(float(run), float(reference), rel_tol=1e-9, abs_tol=1e-12)
    if isinstance(reference, list | tuple) and isinstance(run, list | tuple):
        return len(run) == len(reference) and all(_same(a, b) for a, b in zip(run, reference, strict=True))
    return str(run).strip().lower() == str(reference).strip().lower()


def diff_hyperparams(hyperparams: Hyperparams, recipe: Recipe) -> tuple[Difference, ...]:
    """Return every recipe argument whose value the run does not share, in the recipe's order.

    Args:
        hyperparams: a run's hyperparameters (``hubkit.runs.read_run(path).hyperparams``).
        recipe: the reference (:func:`hubkit.recipes.recipe_for`), unscaled: batch size and lr are
            compared as published.

    Returns:
        The differences; a run that did not record an argument shows ``run=None``.

    Example:
        >>> [d.name for d in diff_hyperparams(run.hyperparams, recipe_for("resnet50.a1_in1k"))][:3]
        ['epochs', 'img_size', 'opt']
    """
    found: list[Difference] = []
    args = dict(recipe.args)
    global_batch = "batch_size" not in args and recipe.reference_global_batch is not None
    if global_batch:
        note = "the reference global batch; the run records its per-process batch"
        args["batch_size"] = Sourced(recipe.reference_global_batch, recipe.sources[0].id, note)
    for name, item in args.items():
        recorded, value = _run_value(hyperparams, name)
        if recorded and _same(value, item.value):
            continue
        scope = "global" if global_batch and name == "batch_size" else ""
        found.append(Difference(name, value if recorded else None, item.value, item.source, item.note, scope))
    return tuple(found)


def render_table(differences: tuple[Difference, ...], recipe: Recipe) -> str:
    """Render differences as a Markdown table (the run card and ``hubkit recipe --diff`` use it).

    Example:
        >>> print(render_table(diffs, recipe).splitlines()[0])
        | argument | this run | resnet50.a1_in1k (ResNet Strikes Back A1) | source |
    """
    header = f"| argument | this run | {recipe.tag} ({recipe.name}) | source |"
    lines = [header, "| --- | --- | --- | --- |"]
    for d in differences:
        run = "not recorded" if d.run is None else f"`{d.run}`"
        scope = f" ({d.scope})" if d.scope else ""
        lines.append(f"| `{d.name}` | {run} | `{d.reference}`{scope} | {d.source} |")
    if recipe.unknown:
        names = ", ".join(f"`{n}`" for n in recipe.unknown)
        lines.append("")
        lines.append(f"Not compared (the reference gives no value): {names}.")
    return "\n".join(lines) + "\n"
