"""Turn a :class:`~hubkit.recipes.model.Recipe` into something a user runs: a trainer config or a command line.

timm: a YAML file for ``train.py --config`` (train.py hands the mapping to ``parser.set_defaults``, so the
keys are its argument names), every line commented with its source; ``--format args`` gives the same as a
command line. OpenCLIP: ``open_clip_train`` has no config file, so the YAML is for reading and the command
line is what runs. Scaling to another batch size or GPU count follows the rule the source gives and says so.
"""

from __future__ import annotations

import math
import shlex
from dataclasses import dataclass
from typing import Any

import yaml

from hubkit.errors import RecipeError
from hubkit.recipes.catalog import trainers
from hubkit.recipes.model import Recipe, Result, Sourced


@dataclass(frozen=True)
class Scaled:
    """The recipe's arguments for one batch size and GPU count."""

    args: dict[str, Sourced]  # the arguments to emit (lr / grad_accum_steps changed when scaled)
    gpus: int  # 8 (processes the batch is split over)
    global_batch: int | None  # 2048; None when neither the source nor the user gives a batch
    notes: tuple[str, ...]  # ("scaled: lr 0.005 -> 0.0025 (sqrt of 512/2048; rule: timm-train)",)


def scale(recipe: Recipe, *, batch_size: int | None = None, gpus: int | None = None) -> Scaled:
    """Fit the recipe to a per-process batch size and a GPU count with the source's scaling rule.

    Args:
        recipe: from :func:`hubkit.recipes.recipe_for`.
        batch_size: batch per process (timm's and OpenCLIP's ``--batch-size``); default: the reference
            global batch split over ``gpus``.
        gpus: processes; default: the source's GPU count, else 1.

    Returns:
        The arguments to emit and notes that say what was scaled and by which rule.

    Raises:
        RecipeError: a value is not positive, or the reference batch does not split over ``gpus``.

    Example:
        >>> scale(recipe_for("resnet50.a1_in1k"), batch_size=256, gpus=2).args["lr"].value
        0.0025
    """
    for name, value in (("--batch-size", batch_size), ("--gpus", gpus)):
        if value is not None and value < 1:
            raise RecipeError(
                f"{name} must be a positive integer, got {value}", hint=f"pass {name} 1 or more"
            )
    args = dict(recipe.args)
    reference = recipe.reference_global_batch
    processes = gpus or recipe.reference_gpus or 1
    notes: list[str] = []
    if batch_size is None:
        if reference is not None:
            if reference % processes:
                raise RecipeError(
                    f"the reference global batch {reference} does not split evenly over {processes} processes",
                    hint="pass --batch-size (per process) as well",
                )
            batch_size = reference // processes
            args["batch_size"] = Sourced(
                batch_size, recipe.sources[0].id, f"global batch {reference} over {processes} process(es)"
            )
        elif "batch_size" in args:
            batch_size = int(args["batch_size"].value)
    else:
        args["batch_size"] = Sourced(batch_size, "user", "--batch-size")
    new_global = batch_size * processes if batch_size is not None else None
    if reference is not None and new_global is not None and new_global != reference:
        notes.extend(_rescale(recipe, args, reference, new_global))
    return Scaled(args=args, gpus=processes, global_batch=new_global or reference, notes=tuple(notes))


def _rescale(recipe: Recipe, args: dict[str, Sourced], reference: int, new: int) -> list[str]:
    rule = recipe.scaling
    ratio = new / reference
    if rule is None or rule.rule == "none":
        return [f"not scaled: no source gives a scaling rule; lr is the one published for batch {reference}"]
    if rule.rule == "accumulate":
        steps = reference / new
        if steps < 1 or steps != int(steps):
            raise RecipeError(
                f"{recipe.name} keeps the batch at {reference} through gradient accumulation; "
                f"{reference} is not a whole multiple of {new}",
                hint=f"choose --batch-size x --gpus dividing {reference}",
            )
        args["grad_accum_steps"] = Sourced(int(steps), rule.source, f"{reference} / ({new} per step)")
        return [
            f"scaled: grad_accum_steps {int(steps)} keeps the global batch at {reference} (rule: {rule.source})"
        ]
    if "lr" not in args or args["lr"].value is None:
        return [f"not scaled: the learning rate is unknown (global batch {new} vs reference {reference})"]
    factor = ratio if rule.rule == "linear" else math.sqrt(ratio)
    old = float(args["lr"].value)
    value = float(f"{old * factor:.6g}")
    how = f"{rule.rule} rule, x{factor:.4g} for global batch {new} vs {reference}"
    args["lr"] = Sourced(value, rule.source, f"scaled from {old:g} ({how})")
    return [f"scaled: lr {old:g} -> {value:g} ({how}; rule: {rule.source})"]


def _value(value: Any) -> str:
    # yaml.safe_dump renders the value (quoting, floats, lists); one flow-style item per line.
    text: str = yaml.safe_dump([value], default_flow_style=True, width=1_000_000).strip()
    return text[1:-1]


def _plain(value: Any) -> str:
    return value if isinstance(value, str) else _value(value)


def _comment(item: Sourced) -> str:
    return f"{item.source}: {item.note}" if item.note else item.source


def render_yaml(recipe: Recipe, scaled: Scaled, results: tuple[Result, ...] = ()) -> str:
    """Render the recipe as a YAML config, one argument per line, each commented with its source.

    Example:
        >>> print(render_yaml(r, scale(r)).splitlines()[5])
        epochs: 600  # rsb-t1
    """
    trainer = trainers()[recipe.trainer]
    command, data = trainer["command"], trainer["data_arg"]
    lines = [f"# hubkit recipe {recipe.tag}: {recipe.name}"]
    if trainer["config_file"]:
        lines.append(f"# use: {command} --config THIS.yaml {data}  (keys are the trainer's argument names)")
    else:
        lines.append(f"# {command} takes no config file: `hubkit recipe ... --format args` gives the command")
    batch = f"{scaled.global_batch} global" if scaled.global_batch else "unknown global batch"
    lines.append(
        f"# batch: {batch} over {scaled.gpus} process(es); reference {recipe.reference_global_batch or 'not given'}"
    )
    if recipe.scaling is not None:
        rule = recipe.scaling
        lines.append(
            f"# lr vs batch size: {rule.rule} ({rule.source}: {rule.note})"
            if rule.note
            else f"# lr vs batch size: {rule.rule} ({rule.source})"
        )
    lines += [f"# {note}" for note in scaled.notes]
    lines.append(f"model: {_value(recipe.model)}  # the tag's architecture")
    first = [n for n in ("batch_size", "grad_accum_steps") if n in scaled.args]
    ordered = first + [n for n in scaled.args if n not in first]
    lines += [f"{n}: {_value(scaled.args[n].value)}  # {_comment(scaled.args[n])}" for n in ordered]
    if recipe.facts:
        lines.append("# Not trainer arguments:")
        lines += [
            f"#   {name}: {_plain(item.value)}  ({_comment(item)})" for name, item in recipe.facts.items()
        ]
    lines += _results_lines(recipe, scaled, results)
    if recipe.stated:
        lines.append(
            "# Used by the source without a value (the trainer's default applies unless you set it):"
        )
        lines += [f"#   {name}: {why}" for name, why in recipe.stated.items()]
    if recipe.unknown:
        lines.append("# Unknown (no source gives a value; hubkit does not fill these in):")
        lines += [f"#   {name}: {why}" for name, why in recipe.unknown.items()]
    lines.append("# Sources:")
    for source in recipe.sources:
        lines.append(f"#   {source.id}: {source.cite} <{source.url}>")
        if source.note:
            lines.append(f"#     ({source.note})")
    return "\n".join(lines) + "\n"


def _results_lines(recipe: Recipe, scaled: Scaled, results: tuple[Result, ...]) -> list[str]:
    if not results:
        return []
    train = scaled.args.get("img_size")
    test = recipe.facts.get("test_img_size")
    lines = [f"# ImageNet-1k results ({results[0].source}):"]
    for r in results:
        role = []
        if train is not None and r.img_size == train.value:
            role.append("train resolution")
        if test is not None and r.img_size == test.value:
            role.append("test resolution")
        label = f" [{', '.join(role)}]" if role else ""
        lines.append(
            f"#   at {r.img_size} px (crop {r.crop_pct:g}){label}: top-1 {r.top1:.3f}, top-5 {r.top5:.3f}"
        )
    by_size = {r.img_size: r for r in results}
    if train is not None and test is not None and train.value != test.value:
        low, high = by_size.get(train.value), by_size.get(test.value)
        if low is not None and high is not None:
            lines.append(
                f"#   tested at {test.value} px instead of the train size {train.value} px: "
                f"{high.top1 - low.top1:+.3f} top-1"
            )
    return lines


def render_args(recipe: Recipe, scaled: Scaled) -> str:
    """Render the recipe as one command line for its trainer (flags for true booleans, nothing for null).

    Example:
        >>> render_args(r, scale(r)).split()[:4]
        ['python', 'train.py', '--data-dir', '/path/to/imagenet']
    """
    trainer = trainers()[recipe.trainer]
    parts = [trainer["command"], trainer["data_arg"], "--model", shlex.quote(recipe.model)]
    for name, item in scaled.args.items():
        flag = "--" + name.replace("_", "-")
        value = item.value
        if value is None or value is False:
            continue
        if value is True:
            parts.append(flag)
        elif isinstance(value, list):
            parts += [flag, *(shlex.quote(str(v)) for v in value)]
        else:
            parts += [flag, shlex.quote(str(value))]
    return " ".join(parts) + "\n"
