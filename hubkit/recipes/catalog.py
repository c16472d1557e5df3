"""Find the reference recipe of a tag in the shipped recipe table (``data/recipes.yaml``).

Matching, first hit wins: an entry listing the full tag; then one listing the architecture and the
pretrained tag; then one listing a recipe token the tag decodes to (``a1`` in ``resnet50.a1_in1k``).
Facts the tag itself states (epochs ``e600``, train resolution ``r384``) fill ``epochs`` / ``img_size`` when
the recipe has no value for them. Nothing else is ever filled in: what no source gives stays unknown.
"""

from __future__ import annotations

import functools
from typing import Any

from hubkit.errors import RecipeError
from hubkit.recipes.model import Recipe, Scaling, Sourced
from hubkit.recipes.openclip import openclip_release
from hubkit.recipes.results import openclip_results_for
from hubkit.recipes.sources import load_data, sources
from hubkit.tags import decode
from hubkit.tags.model import ModelTag


@functools.cache
def _recipes() -> dict[str, dict[str, Any]]:
    return load_data("recipes.yaml")


@functools.cache
def trainers() -> dict[str, dict[str, Any]]:
    """What differs between trainers (command line, config file, tag-filled arguments), by trainer key.

    Example:
        >>> trainers()["timm"]["command"]
        'python train.py'
    """
    return load_data("trainers.yaml")


@functools.cache
def _augreg() -> dict[str, str]:
    return {str(k): str(v) for k, v in load_data("augreg.yaml").items()}


def recipe_keys() -> tuple[str, ...]:
    """The keys of every recipe in the table, in table order.

    Example:
        >>> recipe_keys()[:3]
        ('rsb_a1', 'rsb_a2', 'rsb_a3')
    """
    return tuple(_recipes())


def _match(tag: ModelTag) -> str | None:
    # a timm tag is listed as written, an OpenCLIP pair as MODEL/PRETRAINED (either form may be given)
    keys = {tag.raw, f"{tag.architecture.name}/{tag.pretrained}"}
    tokens = {r.token for r in tag.recipes}
    table = _recipes()
    for name, entry in table.items():
        if keys & set(entry.get("match", {}).get("tags", ())):
            return name
    for name, entry in table.items():
        match = entry.get("match", {})
        if tag.architecture.name in match.get("architectures", ()) and tag.pretrained in match.get(
            "pretrained", ()
        ):
            return name
    for name, entry in table.items():
        if tokens & set(entry.get("match", {}).get("recipes", ())):
            return name
    for name, entry in table.items():  # a whole naming scheme's fallback (OpenCLIP pairs)
        if tag.form in entry.get("match", {}).get("forms", ()):
            return name
    return None


def _sourced(raw: Any, default: str) -> Sourced:
    if isinstance(raw, dict) and "value" in raw:
        return Sourced(value=raw["value"], source=raw.get("source", default), note=raw.get("note", ""))
    return Sourced(value=raw, source=default)


def _augreg_facts(tag: str) -> dict[str, Sourced]:
    """The hyperparameters an AugReg checkpoint name encodes (B_16-i21k-300ep-lr_0.001-aug_medium1-...)."""
    name = _augreg().get(tag)
    if name is None:
        return {}
    pretrain, _, finetune = name.partition("--")
    facts: dict[str, Sourced] = {"checkpoint": Sourced(name, "augreg-ckpt")}
    words = {"lr": "learning rate", "wd": "weight decay", "do": "dropout", "sd": "stochastic depth"}
    for part in pretrain.split("-")[1:]:
        if part in ("i21k", "i1k"):
            facts["pretrain_dataset"] = Sourced(
                {"i21k": "ImageNet-21k", "i1k": "ImageNet-1k"}[part], "augreg-ckpt"
            )
        elif part.endswith("ep"):
            facts["pretrain_epochs"] = Sourced(int(part[:-2]), "augreg-ckpt")
        elif part.startswith("aug_"):
            facts["pretrain_augmentation"] = Sourced(part[4:], "augreg-ckpt", "AugReg level name")
        elif "_" in part and part.split("_")[0] in words:
            word, _, value = part.partition("_")
            facts[f"pretrain_{word}"] = Sourced(float(value), "augreg-ckpt", words[word])
    for part in finetune.split("-") if finetune else ():
        if part.startswith("steps_"):
            steps = part[6:]
            facts["finetune_steps"] = Sourced(
                int(steps[:-1]) * 1000 if steps.endswith("k") else int(steps), "augreg-ckpt"
            )
        elif part.startswith("lr_"):
            facts["finetune_lr"] = Sourced(float(part[3:]), "augreg-ckpt")
        elif part.startswith("res_"):
            facts["finetune_resolution"] = Sourced(int(part[4:]), "augreg-ckpt")
        elif part:
            facts["finetune_dataset"] = Sourced(part, "augreg-ckpt")
    return facts


def _publisher_facts(model: str, pretrained: str) -> dict[str, Sourced]:
    """Licence, training data and staged training as the weights' publisher states them."""
    release = openclip_release(model, pretrained)
    facts: dict[str, Sourced] = {}
    if release.license is not None:
        name = f" ({release.license_name})" if release.license_name else ""
        facts["license"] = Sourced(
            f"{release.license}{name}", release.license_source or "", release.license_stated
        )
    else:
        facts["license"] = Sourced("not stated", "openclip-pretrained", release.missing_reason)
    if release.datasets:
        names = ", ".join(d.name for d in release.datasets)
        facts["training_data"] = Sourced(names, release.datasets_source or "tag")
    facts["staged_training"] = Sourced(release.staged, release.staged_source or "openclip-pretrained")
    zero_shot = openclip_results_for(model, pretrained)
    if zero_shot is not None:
        value = f"{zero_shot.imagenet1k_top1:.2f} (mean over 38 datasets {zero_shot.average_38:.2f})"
        facts["imagenet1k_zero_shot_top1"] = Sourced(value, zero_shot.source)
    return facts


def recipe_for(tag: str, pretrained: str | None = None) -> Recipe:
    """Return the reference recipe of a timm tag or an OpenCLIP pair, with every value's source.

    Args:
        tag: ``resnet50.a1_in1k``, or an OpenCLIP model (``ViT-B-32``) with ``pretrained``, or
            ``ViT-B-32/laion400m_e32``.
        pretrained: the OpenCLIP pretrained tag when ``tag`` is a bare model name.

    Returns:
        The :class:`Recipe`: trainer arguments, facts, stated-without-value and unknown fields.

    Raises:
        RecipeError: no recipe in the table applies to the tag.
        TagError: the tag cannot be decoded.

    Example:
        >>> recipe_for("resnet50.a1_in1k").args["lr"].value
        0.005
    """
    decoded = decode(tag, pretrained)
    key = _match(decoded)
    if key is None:
        raise RecipeError(
            f"no reference recipe is known for {decoded.raw!r}",
            hint="`hubkit recipe --list` shows the recipes hubkit has numbers for; "
            "`hubkit decode TAG` shows what the tag itself says about its training",
        )
    entry = _recipes()[key]
    default = entry["source"]
    args = {name: _sourced(raw, default) for name, raw in (entry.get("args") or {}).items()}
    variant = decoded.architecture.variant.value if decoded.architecture.variant else None
    for name, raw in ((entry.get("variants") or {}).get(str(variant)) or {}).items():
        args[name] = _sourced(raw, default)
    unknown = dict(entry.get("unknown") or {})
    trainer = entry.get("trainer", "timm")
    behaviour = trainers()[trainer]
    if behaviour["tag_fills"]:  # the tag's own statements, where the recipe has none
        for fact, arg in (
            (decoded.epochs, behaviour["epochs_arg"]),
            (decoded.train_resolution, behaviour["resolution_arg"]),
        ):
            if fact is not None and arg not in args:
                args[arg] = Sourced(fact.value, "tag", f"'{fact.token}'")
    for name in args:
        unknown.pop(name, None)
    facts = {name: _sourced(raw, default) for name, raw in (entry.get("facts") or {}).items()}
    for fact in (decoded.samples_seen, decoded.global_batch_size):
        if fact is not None:
            name = "samples_seen" if fact is decoded.samples_seen else "global_batch_from_tag"
            facts.setdefault(name, Sourced(fact.value, "tag", f"'{fact.token}'"))
    facts.update(_augreg_facts(decoded.raw))
    if behaviour["publisher_facts"]:
        facts.update(_publisher_facts(decoded.architecture.name, decoded.pretrained))
    resolution = facts.get("finetune_resolution")
    if resolution is not None and "img_size" not in args:
        args["img_size"] = Sourced(resolution.value, resolution.source, "the fine-tune resolution")
    scaling = entry.get("scaling")
    reference = entry.get("reference") or {}
    used = [default] + [v.source for v in (*args.values(), *facts.values())]
    if scaling:
        used.append(scaling["source"])
    known = sources()
    ordered = tuple(known[s] for s in dict.fromkeys(used) if s in known)
    return Recipe(
        key=key,
        name=entry["name"],
        tag=decoded.raw,
        model=decoded.architecture.name,
        trainer=trainer,
        args=args,
        facts=facts,
        stated=dict(entry.get("stated") or {}),
        unknown=unknown,
        reference_global_batch=reference.get("global_batch"),
        reference_gpus=reference.get("gpus"),
        scaling=Scaling(rule=scaling["rule"], source=scaling["source"], note=scaling.get("note", ""))
        if scaling
        else None,
        sources=ordered,
    )
