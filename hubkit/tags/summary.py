"""Render a decoded tag as readable text or as a JSON-ready dict (pure; used by ``hubkit decode``)."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from hubkit.tags.model import Fact, ModelTag
from hubkit.tags.vocab import load


def to_dict(tag: ModelTag) -> dict[str, Any]:
    """Return the full structure (``dataclasses.asdict``, field order) plus ``fully_decoded``.

    Example:
        >>> to_dict(decode("resnet50.a1_in1k"))["recipes"][0]["optimizer"]
        'LAMB'
    """
    data = dataclasses.asdict(tag)
    data["fully_decoded"] = tag.fully_decoded
    return data


def to_json(tag: ModelTag) -> str:
    """Return :func:`to_dict` as indented JSON with a stable key order."""
    return json.dumps(to_dict(tag), indent=2, ensure_ascii=False)


def _fact(f: Fact | None, unit: str = "") -> str | None:
    if f is None:
        return None
    value = f"{f.value:,}" if isinstance(f.value, int) and not isinstance(f.value, bool) else str(f.value)
    via = f"from '{f.token}'" if f.token else f.kind
    return f"{value}{unit} ({via}; {f.source})"


def summary(tag: ModelTag) -> str:
    """Return a readable multi-line summary of a decoded tag.

    Example:
        >>> print(summary(decode("resnet50.a1_in1k")).splitlines()[0])
        resnet50.a1_in1k  [timm]
    """
    a = tag.architecture
    lines = [f"{tag.raw}  [{tag.form}]"]
    arch = [str(a.family.value)] + [
        f"{k} {f.value}"
        for k, f in (
            ("variant", a.variant),
            ("patch", a.patch_size),
            ("window", a.window),
            ("input", a.input_size),
        )
        if f is not None
    ]
    lines.append(f"  architecture: {', '.join(arch)}  ({a.family.source or 'no family rule'})")
    lines += [f"  name part:    {e.token} = {e.value}" for e in a.extras]
    rows = [
        ("origin", _fact(tag.origin)),
        ("train res", _fact(tag.train_resolution, " px")),
        ("eval res", _fact(tag.eval_resolution, " px")),
        ("epochs", _fact(tag.epochs)),
        ("samples seen", _fact(tag.samples_seen)),
        ("global batch", _fact(tag.global_batch_size)),
    ]
    lines += [f"  {k + ':':13} {v}" for k, v in rows if v]
    lines += [
        f"  paradigm:     {p.value} ({p.token or 'architecture family'}; {p.source})" for p in tag.paradigm
    ]
    for step in tag.lineage:
        hub = (
            f", Hub: {step.hub_id}{'' if step.hub_id_is_real else ' (conventional name)'}"
            if step.hub_id
            else ""
        )
        lines.append(f"  dataset:      {step.stage:8} {step.name} (from '{step.token}'{hub})")
    for r in tag.recipes:
        parts = [
            f"{k} {v}"
            for k, v in (
                ("optimizer", r.optimizer),
                ("loss", r.loss),
                ("schedule", r.lr_schedule),
                ("augmentation", r.augmentation),
                ("EMA", r.ema),
                ("grad clip", r.grad_clip),
            )
            if v
        ]
        lines.append(f"  recipe:       {r.name} (from '{r.token}'; {r.source})")
        lines += [f"                - {p}" for p in parts + ([r.notes] if r.notes else [])]
    lines += [f"  detail:       {d.value} (from '{d.token}')" for d in tag.details]
    if tag.tokens:
        lines.append("  tokens:")
        width = max(len(t.token) for t in tag.tokens)
        lines += [f"    {t.token:{width}}  {t.role:17} {t.meaning}" for t in tag.tokens]
    lines += [f"  registry:     {f.field} = {f.value}" for f in tag.registry]
    lines += [
        f"  CONFLICT:     {c.field}: tag {c.decoded.value} vs registry {c.registry.value} ({c.note})"
        for c in tag.conflicts
    ]
    lines += [f"  ambiguous:    {a_}" for a_ in tag.ambiguous]
    if tag.unknown_tokens:
        lines.append(f"  UNKNOWN:      {', '.join(tag.unknown_tokens)} (no vocabulary entry; not guessed)")
    papers = load().papers
    lines += [f"  paper:        {p} {papers[p].title}" for p in tag.papers if p in papers]
    return "\n".join(lines)
